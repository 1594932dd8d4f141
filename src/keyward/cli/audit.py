"""`keyward audit list`: read the audit log."""

from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting
from keyward.domains.audit import service
from keyward.domains.audit.schemas import AuditFilter
from keyward.domains.pagination import PageRequest

app = typer.Typer(help="Read the audit log.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    action: Annotated[str | None, typer.Option(help="e.g. key.revoke")] = None,
    target: Annotated[str | None, typer.Option(help="Id of the thing acted upon.")] = None,
    actor_id: Annotated[str | None, typer.Option("--actor", help="Member or key id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: str | None = None,
    as_json: JsonFlag = False,
) -> None:
    """List audit events, newest first."""
    with reporting(as_json):
        database, actor = connect(ctx)
        filters = AuditFilter(actor=actor_id, target=target, action=action)
        with database.transaction(write=False) as uow:
            page = service.list_events(uow, actor, filters, PageRequest(limit, cursor))
    emit(page, as_json)
