"""`keyward audit list`: read the audit log, as a page or as one CSV file."""

import sys
from datetime import datetime
from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting
from keyward.cli.members import member_id
from keyward.core.errors import InvalidInput
from keyward.domains.audit import export, service
from keyward.domains.audit.schemas import AuditFilter
from keyward.domains.pagination import PageRequest

app = typer.Typer(help="Read the audit log.", no_args_is_help=True)


def _aware(value: datetime | None, option: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(
            f"{option} needs a UTC offset, e.g. 2026-01-31T00:00:00+00:00.", code="invalid_time"
        )
    return value


@app.command("list")
def list_(
    ctx: typer.Context,
    action: Annotated[str | None, typer.Option(help="e.g. key.revoke")] = None,
    target: Annotated[str | None, typer.Option(help="Id of the thing acted upon.")] = None,
    actor_id: Annotated[
        str | None, typer.Option("--actor", help="Member id or e-mail address, or key id.")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="success or refused.")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            help="From this time (ISO-8601 with an offset).", formats=["%Y-%m-%dT%H:%M:%S%z"]
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            help="Before this time (ISO-8601 with an offset).", formats=["%Y-%m-%dT%H:%M:%S%z"]
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: str | None = None,
    as_csv: Annotated[
        bool,
        typer.Option("--csv", help="Print every event the filters keep as CSV (no paging)."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List audit events, newest first."""
    with reporting(as_json):
        if outcome is not None and outcome not in ("success", "refused"):
            raise InvalidInput("--outcome is success or refused.", code="invalid_outcome")
        database, actor = connect(ctx)
        if actor_id is not None and "@" in actor_id:
            with database.transaction(write=False) as uow:
                actor_id = member_id(uow, actor, actor_id)
        filters = AuditFilter(
            actor=actor_id,
            target=target,
            action=action,
            outcome=outcome,
            since=_aware(since, "--since"),
            until=_aware(until, "--until"),
        )
        if as_csv:
            for text in export.csv_export(database, actor, filters):
                sys.stdout.write(text)
            return
        with database.transaction(write=False) as uow:
            page = service.list_events(uow, actor, filters, PageRequest(limit, cursor))
    emit(page, as_json)
