"""`keyward offerings ...`: what acquirers can acquire."""

from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting
from keyward.domains.offerings import service
from keyward.domains.offerings.schemas import OfferingCreate
from keyward.domains.pagination import PageRequest

app = typer.Typer(help="Publish APIs as offerings.", no_args_is_help=True)


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
    as_json: JsonFlag = False,
) -> None:
    """Offer an API (all its operations, or those selected by --tag / --operation)."""
    with reporting(as_json):
        selection = (
            {"tags": tag or [], "operation_ids": operation or []} if tag or operation else None
        )
        body = OfferingCreate.model_validate(
            {"api_id": api_id, "name": name, "acquisition_period": period, "operations": selection}
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
