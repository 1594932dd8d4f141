"""Approvals: the key requests an approver decides, and those decided.

The requests listed are those the key services let the member decide (`decidable`): an approver
of one API never sees another API's requests, and deciding one of those answers exactly like a
request that does not exist. Approving and rejecting are the services' `requests.approve` and
`requests.reject`, the same as `POST /v1/key-requests/{id}/approve|reject`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.db.engine import UnitOfWork
from keyward.domains.keys import requests
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import (
    KeyRequestContext,
    KeyRequestDecision,
    KeyRequestFilter,
    KeyRequestOut,
    RequestAction,
    RequestStatus,
)
from keyward.domains.pagination import PageRequest
from keyward.portal.context import CheckedFormDep, Member, MemberDep, Portal, PortalDep
from keyward.portal.routing import PortalRoute, audit_refusal, redirect
from keyward.portal.wording import span

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 25
ACTIONS = {
    RequestAction.ISSUE: "Issuance",
    RequestAction.RENEW: "Renewal",
    RequestAction.REVOKE: "Revocation",
}
DONE = {
    "approved": "Approved: the change is made, and the requester is told by e-mail.",
    "rejected": "Rejected: the key stays as it was, and the requester is told by e-mail.",
}
_AGE_UNITS = (
    (timedelta(days=1), "day"),
    (timedelta(hours=1), "hour"),
    (timedelta(minutes=1), "minute"),
)


def age(since: datetime, now: datetime) -> str:
    """How long ago, in its largest whole unit: `3 days`, `1 hour`, `less than a minute`."""
    elapsed = now - since
    for unit, name in _AGE_UNITS:
        count = elapsed // unit
        if count:
            return f"{count} {name}{'' if count == 1 else 's'}"
    return "less than a minute"


@dataclass(frozen=True, slots=True)
class Entry:
    """One request as the inbox shows it."""

    request: KeyRequestOut
    context: KeyRequestContext
    action: str
    api_name: str
    current: str
    requested: str
    age: str
    own: bool


def _requested(request: KeyRequestOut, context: KeyRequestContext) -> str:
    """The validity the request asks for, in words."""
    if request.action is RequestAction.REVOKE:
        return "Stops working when approved"
    lifetime = request.expires_in or keys.parse_duration(context.api_key_lifetime)
    if lifetime is None:
        return "Never expires"
    return f"{span(lifetime)} from approval"


def _current(request: KeyRequestOut, context: KeyRequestContext) -> str:
    if request.key_id is None:
        return "The key was deleted"
    if request.action is RequestAction.ISSUE:
        return "Not in use until approved"
    if context.key_expires_at is None:
        return "Never expires"
    return f"Until {context.key_expires_at:%Y-%m-%d %H:%M UTC}"


def _entries(uow: UnitOfWork, member: Member, listed: list[KeyRequestOut]) -> list[Entry]:
    actor = member.signed.actor
    contexts = requests.contexts(uow, actor, listed)
    now = uow.clock.now()
    return [
        Entry(
            request,
            contexts[request.id],
            ACTIONS[request.action],
            contexts[request.id].api_name or request.api_id or "—",
            _current(request, contexts[request.id]),
            _requested(request, contexts[request.id]),
            age(request.created_at, now),
            request.requested_by == actor.member_id,
        )
        for request in listed
    ]


@dataclass(frozen=True, slots=True)
class Problem:
    request_id: str
    message: str


def _page(
    portal: Portal,
    member: Member,
    *,
    cursor: str | None = None,
    decided_cursor: str | None = None,
    notice: str | None = None,
    problem: Problem | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        pending = requests.list_requests(
            uow,
            actor,
            KeyRequestFilter(status=RequestStatus.PENDING, decidable=True),
            PageRequest(PAGE_SIZE, cursor),
        )
        decided = requests.list_requests(
            uow,
            actor,
            KeyRequestFilter(decidable=True, decided=True),
            PageRequest(PAGE_SIZE, decided_cursor),
        )
        pending_entries = _entries(uow, member, pending.data)
        decided_entries = _entries(uow, member, decided.data)
    return portal.pages.render(
        "approvals.html",
        status,
        title="Approvals",
        member=member,
        current="/approvals",
        pending=pending_entries,
        decided=decided_entries,
        cursor=cursor,
        next_cursor=pending.next_cursor,
        decided_cursor=decided_cursor,
        decided_next=decided.next_cursor,
        notice=notice,
        problem=problem,
    )


@router.get("/approvals", name="approvals")
def approvals(
    portal: PortalDep,
    member: MemberDep,
    cursor: str | None = None,
    decided_cursor: str | None = None,
    done: str | None = None,
) -> Response:
    return _page(
        portal,
        member,
        cursor=cursor,
        decided_cursor=decided_cursor,
        notice=DONE.get(done or ""),
    )


def _decide(
    request: Request, portal: Portal, member: Member, request_id: str, comment: str, verb: str
) -> Response:
    try:
        decision = KeyRequestDecision.model_validate({"comment": comment})
    except ValidationError:
        problem = Problem(request_id, "Keep the comment under 2,000 characters.")
        return _page(portal, member, problem=problem, status=422)
    decide = requests.approve if verb == "approved" else requests.reject
    try:
        with portal.database.transaction() as uow:
            decide(uow, member.signed.actor, request_id, decision.comment)
    except KeywardError as error:
        if error.status == 404:
            raise
        if error.audited:
            audit_refusal(request, error)
        return _page(
            portal, member, problem=Problem(request_id, error.message), status=error.status
        )
    return redirect(f"/approvals?done={verb}")


@router.post("/approvals/{request_id}/approve", name="approval_approve")
def approve(
    request: Request, portal: PortalDep, member: MemberDep, request_id: str, form: CheckedFormDep
) -> Response:
    return _decide(request, portal, member, request_id, form.one("comment"), "approved")


@router.post("/approvals/{request_id}/reject", name="approval_reject")
def reject(
    request: Request, portal: PortalDep, member: MemberDep, request_id: str, form: CheckedFormDep
) -> Response:
    return _decide(request, portal, member, request_id, form.one("comment"), "rejected")
