"""`/v1/audit-events`: the workspace's audit log, newest first, as JSON pages or one CSV file."""

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from keyward.api.auth import ActorDep
from keyward.api.routes.common import PageDep, errors
from keyward.api.runtime import DatabaseDep
from keyward.core.ids import ID_REGEX
from keyward.domains.audit import export, service
from keyward.domains.audit.schemas import AuditEventOut, AuditFilter
from keyward.domains.pagination import Page

router = APIRouter(tags=["audit"])
Text = Annotated[str | None, Query(max_length=100, pattern=r"^[\w.:@-]+$")]
Time = Annotated[AwareDatetime | None, Query(description="ISO-8601 time with a UTC offset")]


def wants_csv(request: Request, format: str | None) -> bool:
    """`?format=csv` asks for CSV, as does an Accept header naming text/csv (and not JSON
    first); `?format=json` always answers JSON."""
    if format is not None:
        return format == "csv"
    accepted = [
        part.split(";")[0].strip().lower() for part in request.headers.get("accept", "").split(",")
    ]
    return "text/csv" in accepted and (
        "application/json" not in accepted
        or accepted.index("text/csv") < accepted.index("application/json")
    )


def csv_response(lines: Iterator[str], when: str) -> StreamingResponse:
    return StreamingResponse(
        lines,
        media_type=export.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="audit-events-{when}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/audit-events",
    name="audit.list",
    response_model=Page[AuditEventOut],
    responses={
        **errors(),
        200: {
            "description": "A page of events (JSON), or with `format=csv` or `Accept: text/csv` "
            "every event the filters keep, newest first, as one CSV file (cells that a "
            "spreadsheet would read as a formula start with `'`).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
def list_audit_events(
    request: Request,
    actor: ActorDep,
    database: DatabaseDep,
    page: PageDep,
    actor_id: Annotated[
        str | None, Query(alias="actor", pattern=ID_REGEX, description="Member or key id")
    ] = None,
    target: Text = None,
    action: Text = None,
    outcome: Annotated[str | None, Query(pattern="^(success|refused)$")] = None,
    since: Time = None,
    until: Annotated[
        AwareDatetime | None, Query(description="ISO-8601 time with a UTC offset; excluded")
    ] = None,
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,
) -> Page[AuditEventOut] | StreamingResponse:
    filters = AuditFilter(
        actor=actor_id, target=target, action=action, outcome=outcome, since=since, until=until
    )
    if wants_csv(request, format):
        lines = export.csv_export(database, actor, filters)
        return csv_response(lines, database.clock.now().strftime("%Y%m%dT%H%M%SZ"))
    with database.transaction(write=False) as uow:
        return service.list_events(uow, actor, filters, page)
