"""`keyward gateways list`, and the enforcement receipt commands that revoke, delete or shorten
print: whether every live gateway applied their change before they returned."""

from typing import Annotated, Any

import typer
from pydantic import BaseModel

from keyward.cli.context import JsonFlag, connect, emit, reporting, state
from keyward.cli.human import emit_created, table
from keyward.db.engine import Database, UnitOfWork
from keyward.domains.gateways import service
from keyward.domains.gateways.schemas import Enforcement
from keyward.domains.pagination import DEFAULT_LIMIT, PageRequest

app = typer.Typer(help="The gateway processes serving, and how far each lags the change feed.")


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many at most.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, typer.Option(help="Where the previous page ended.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every gateway process, newest first: address, version, the change-feed position it
    has applied, its lag (changes, seconds), its last heartbeat and whether it is live."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_gateways(uow, actor, PageRequest(limit, cursor))
    if as_json:
        emit(page, as_json)
        return
    table(
        [
            {
                "id": gateway.id,
                "address": gateway.address,
                "version": gateway.version,
                "pid": f"{gateway.pid}@{gateway.hostname}",
                "applied": str(gateway.applied),
                "lag": f"{gateway.lag.changes} ({gateway.lag.seconds:g} s)",
                "last heartbeat": gateway.last_heartbeat_at.isoformat(timespec="seconds"),
                "live": "yes" if gateway.live else "no",
            }
            for gateway in page.data
        ]
    )
    typer.echo(f"feed position: {page.feed_position}")
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})")


def enforcement(ctx: typer.Context, database: Database, uow: UnitOfWork) -> Enforcement:
    """Once `uow` has committed: wait (at most KEYWARD_ENFORCEMENT_WAIT) until every live
    gateway has applied what it recorded, and say whether they did."""
    wait = state(ctx).settings.enforcement_wait
    return service.await_enforcement(database, uow.feed_position, wait)


def describe(receipt: Enforcement) -> str | None:
    """The receipt in a line, for people; None with no live gateway (a CLI used without any
    gateway running has nothing to report)."""
    if receipt.enforced_at is not None:
        plural = "" if receipt.gateways == 1 else "s"
        return f"enforced by {receipt.gateways} gateway{plural}"
    if not receipt.lagging:
        return None
    lagging = ", ".join(
        f"{gateway.id} at {gateway.address} ({gateway.behind} behind)"
        for gateway in receipt.lagging
    )
    return f"not yet enforced by: {lagging}"


def emit_enforced(
    document: BaseModel | dict[str, Any],
    receipt: Enforcement,
    as_json: bool,
    *,
    created: bool = False,
) -> None:
    """`document` with its receipt: a field `enforcement` with `--json`, else a line after it."""
    data = document.model_dump(mode="json") if isinstance(document, BaseModel) else document
    if as_json:
        emit({**data, "enforcement": receipt.model_dump(mode="json")}, as_json)
        return
    data = {name: value for name, value in data.items() if name != "enforcement"}
    if created:
        emit_created(data, False)
    else:
        emit(data, False)
    echo_receipt(receipt)


def echo_receipt(receipt: Enforcement) -> None:
    line = describe(receipt)
    if line is not None:
        typer.echo(line)
