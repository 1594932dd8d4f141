"""Admin → Audit log: the workspace's events, newest first, filtered by actor, target, action,
outcome and time, and the same events as a CSV file (the audit services decide who reads)."""

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from keyward.core.errors import KeywardError
from keyward.core.ids import looks_like_id
from keyward.domains.audit import export, service
from keyward.domains.audit.schemas import AuditFilter
from keyward.domains.members import service as members
from keyward.domains.pagination import PageRequest
from keyward.portal.context import Member, MemberDep, Portal, PortalDep
from keyward.portal.routes.admin_shared import ADMIN, PAGE_SIZE, require_admin, utc_time
from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

_ACTION = re.compile(r"^[\w.:@-]{1,100}$")
OUTCOMES = ("success", "refused")


@dataclass(slots=True)
class AuditQuery:
    """The filter form as sent, what it means, and what in it cannot be used."""

    actor: str = ""
    target: str = ""
    action: str = ""
    outcome: str = ""
    since: str = ""
    until: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def sent(self) -> dict[str, str]:
        return {
            name: value
            for name, value in (
                ("actor", self.actor),
                ("target", self.target),
                ("action", self.action),
                ("outcome", self.outcome),
                ("since", self.since),
                ("until", self.until),
            )
            if value
        }


def _actor_id(portal: Portal, member: Member, text: str) -> str | None:
    """An actor given by id, or by a member's e-mail address (one the admin may see)."""
    if "@" not in text:
        return text if looks_like_id(text) else None
    with portal.database.transaction(write=False) as uow:
        try:
            found = members.list_members(
                uow, member.signed.actor, PageRequest(10, None), search=text.lower()
            ).data
        except KeywardError:
            return None
    return next((person.id for person in found if person.email == text.lower()), None)


def _filters(
    portal: Portal,
    member: Member,
    actor: str,
    target: str,
    action: str,
    outcome: str,
    since: str,
    until: str,
) -> tuple[AuditQuery, AuditFilter | None]:
    query = AuditQuery(
        actor.strip()[:320],
        target.strip()[:100],
        action.strip()[:100],
        outcome,
        since[:40],
        until[:40],
    )
    actor_id = None
    if query.actor:
        actor_id = _actor_id(portal, member, query.actor)
        if actor_id is None:
            query.errors["actor"] = "Enter a member's e-mail address, or a member or key id."
    if query.target and not looks_like_id(query.target):
        query.errors["target"] = "Enter an id, such as key_… or mem_…."
    if query.action and not _ACTION.match(query.action):
        query.errors["action"] = "Enter an action such as key.revoke."
    if query.outcome and query.outcome not in OUTCOMES:
        query.errors["outcome"] = "Choose one of the outcomes offered."
    since_at, problem = utc_time(query.since)
    if problem:
        query.errors["since"] = problem
    until_at, problem = utc_time(query.until)
    if problem:
        query.errors["until"] = problem
    if query.errors:
        return query, None
    return query, AuditFilter(
        actor=actor_id,
        target=query.target or None,
        action=query.action or None,
        outcome=query.outcome or None,
        since=since_at,
        until=until_at,
    )


def _actor_names(portal: Portal, member: Member, member_ids: set[str | None]) -> dict[str, str]:
    """The e-mail address of each acting member the admin may see (others stay ids)."""
    names: dict[str, str] = {}
    with portal.database.transaction(write=False) as uow:
        for member_id in sorted(i for i in member_ids if i):
            try:
                names[member_id] = members.get_member(uow, member.signed.actor, member_id).email
            except KeywardError:
                continue
    return names


@router.get("/admin/audit", name="admin_audit")
def audit_log(
    portal: PortalDep,
    member: MemberDep,
    actor: str = "",
    target: str = "",
    action: str = "",
    outcome: str = "",
    since: str = "",
    until: str = "",
    cursor: str | None = None,
) -> Response:
    require_admin(member)
    query, filters = _filters(portal, member, actor, target, action, outcome, since, until)
    events = []
    next_cursor = None
    with portal.database.transaction(write=False) as uow:
        listed = service.list_events(
            uow, member.signed.actor, filters or AuditFilter(), PageRequest(PAGE_SIZE, cursor)
        )
    if filters is not None:
        events, next_cursor = listed.data, listed.next_cursor
    actors = _actor_names(portal, member, {e.actor_member_id for e in events} - {None})
    sent = query.sent()
    return portal.pages.render(
        "admin_audit.html",
        200 if filters is not None else 422,
        title="Audit log",
        member=member,
        current=ADMIN,
        query=query,
        events=events,
        cursor=cursor,
        next_cursor=next_cursor,
        outcomes=OUTCOMES,
        actors=actors,
        filtered=bool(sent),
        export_url="/admin/audit/export" + ("?" + urlencode(sent) if sent else ""),
        next_url="/admin/audit?" + urlencode({**sent, "cursor": next_cursor or ""}),
        first_url="/admin/audit" + ("?" + urlencode(sent) if sent else ""),
    )


@router.get("/admin/audit/export", name="admin_audit_export")
def audit_export(
    portal: PortalDep,
    member: MemberDep,
    actor: str = "",
    target: str = "",
    action: str = "",
    outcome: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    require_admin(member)
    _, filters = _filters(portal, member, actor, target, action, outcome, since, until)
    if filters is None:
        return audit_log(portal, member, actor, target, action, outcome, since, until)
    lines = export.csv_export(portal.database, member.signed.actor, filters)
    stamp = portal.database.clock.now().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines,
        media_type=export.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="audit-events-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
