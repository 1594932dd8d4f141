"""`/v1/audit-events`: the workspace's audit log, newest first."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from keyward.api.auth import ActorDep
from keyward.api.routes.common import PageDep, errors
from keyward.api.runtime import DatabaseDep
from keyward.core.ids import ID_REGEX
from keyward.domains.audit import service
from keyward.domains.audit.schemas import AuditEventOut, AuditFilter
from keyward.domains.pagination import Page

router = APIRouter(tags=["audit"])
Text = Annotated[str | None, Query(max_length=100, pattern=r"^[\w.:@-]+$")]


@router.get("/audit-events", name="audit.list", responses=errors())
def list_audit_events(
    actor: ActorDep,
    database: DatabaseDep,
    page: PageDep,
    actor_id: Annotated[
        str | None, Query(alias="actor", pattern=ID_REGEX, description="Member or key id")
    ] = None,
    target: Text = None,
    action: Text = None,
    outcome: Annotated[str | None, Query(pattern="^(success|refused)$")] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="ISO-8601 time with a UTC offset")
    ] = None,
) -> Page[AuditEventOut]:
    filters = AuditFilter(
        actor=actor_id, target=target, action=action, outcome=outcome, since=since
    )
    with database.transaction(write=False) as uow:
        return service.list_events(uow, actor, filters, page)
