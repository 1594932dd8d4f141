"""`keyward offerings ...`: what acquirers can acquire."""

import re
from typing import Annotated, Any

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting
from keyward.core.errors import InvalidInput
from keyward.domains.offerings import service
from keyward.domains.offerings.schemas import OfferingCreate, OfferingUpdate
from keyward.domains.pagination import PageRequest

app = typer.Typer(help="Publish APIs as offerings.", no_args_is_help=True)

_LIMIT = re.compile(r"^(?P<scope>[a-z]+):(?P<requests>\d+)/(?P<per>P\S+)$")

LimitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        help="SCOPE:REQUESTS/PERIOD, e.g. key:10/PT1S or acquisition:100000/P30D; repeat for "
        "several.",
    ),
]


def parse_limit(text: str) -> dict[str, Any]:
    """`key:10/PT1S` as the API's `{"scope": "key", "requests": 10, "per": "PT1S"}`."""
    match = _LIMIT.match(text.strip())
    if match is None:
        raise InvalidInput(
            f"{text!r} is not a limit: write SCOPE:REQUESTS/PERIOD, e.g. key:10/PT1S.",
            code="invalid_limit",
        )
    return {
        "scope": match["scope"],
        "requests": int(match["requests"]),
        "per": match["per"],
    }


@app.command("create")
def create(
    ctx: typer.Context,
    api_id: Annotated[str, typer.Option("--api")],
    name: Annotated[str, typer.Option()],
    period: Annotated[
        str | None, typer.Option(help="How long acquisitions last (ISO-8601, e.g. P1Y).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Offer operations with this tag.")] = None,
    operation: Annotated[
        list[str] | None, typer.Option(help="Offer the operation with this operationId.")
    ] = None,
    limit: LimitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Offer an API (all its operations, or those selected by --tag / --operation)."""
    with reporting(as_json):
        selection = (
            {"tags": tag or [], "operation_ids": operation or []} if tag or operation else None
        )
        body = OfferingCreate.model_validate(
            {
                "api_id": api_id,
                "name": name,
                "acquisition_period": period,
                "operations": selection,
                "limits": [parse_limit(text) for text in limit or []],
            }
        )
        database, actor = connect(ctx)
        with database.transaction() as uow:
            created = service.create_offering(uow, actor, body)
    emit(created, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    api_id: Annotated[str | None, typer.Option("--api")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List offerings, newest first."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_offerings(uow, actor, PageRequest(), api_id=api_id)
    emit(page, as_json)


@app.command("show")
def show(ctx: typer.Context, offering_id: str, as_json: JsonFlag = False) -> None:
    """Show one offering."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            emit(service.get_offering(uow, actor, offering_id), as_json)


@app.command("set-limits")
def set_limits(
    ctx: typer.Context,
    offering_id: str,
    limit: LimitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace an offering's limits with those given (none given: no limits)."""
    with reporting(as_json):
        body = OfferingUpdate.model_validate(
            {"limits": [parse_limit(text) for text in limit or []]}
        )
        database, actor = connect(ctx)
        with database.transaction() as uow:
            updated = service.update_offering(uow, actor, offering_id, body)
    emit(updated, as_json)
