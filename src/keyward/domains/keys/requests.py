"""Key requests: issuances, renewals and revocations waiting for an approver of the key's API.

Reading a request needs the right to read its key; approving or rejecting it, the right to
approve for the key's API (and never one's own request); cancelling it, being its requester
while still holding the right that filed it.

A request is decided once. The conditional UPDATE in `repository.settle_request` is what makes
it so: of two approvers deciding at once, or an approval racing a cancellation, one moves the
request on and the other is told it is no longer pending. The key is locked before the request
(as every change of a key does), so an approval and a direct revocation or deletion of the same
key run one after the other; when the key changed meanwhile the request is closed with an
outcome that says why, and nothing is applied.
"""

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, PermissionDenied
from keyward.core.lifecycle import Change, blocked
from keyward.db.engine import UnitOfWork
from keyward.db.models import ApiKey, KeyRequest
from keyward.domains import access
from keyward.domains.audit import service as audit
from keyward.domains.keys import repository
from keyward.domains.keys.schemas import (
    KeyRequestContext,
    KeyRequestFilter,
    KeyRequestOut,
    RequestStatus,
)
from keyward.domains.keys.service import (
    facts,
    parse_duration,
    policy_of,
    record,
    renew_now,
    request_out,
    revoke_now,
)
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import key_data, notify
from keyward.domains.pagination import Page, PageRequest, split_page

# The right that files a request of each kind, which cancelling it needs too.
FILED_WITH = {Change.ISSUE: "create", Change.RENEW: "renew", Change.REVOKE: "revoke"}
APPROVED = {
    Change.ISSUE: (Event.ISSUANCE_APPROVED, "issued"),
    Change.RENEW: (Event.RENEWAL_APPROVED, "renewed"),
    Change.REVOKE: (Event.KEY_REVOKED, "revoked"),
}
REJECTED = {
    Change.ISSUE: Event.ISSUANCE_REJECTED,
    Change.RENEW: Event.RENEWAL_REJECTED,
    Change.REVOKE: Event.REVOCATION_REJECTED,
}


def list_requests(
    uow: UnitOfWork, actor: Actor, filters: KeyRequestFilter, page: PageRequest
) -> Page[KeyRequestOut]:
    """The requests on keys the actor may read (with `filters.decidable`: those the actor may
    approve or reject, their own included, which they may only cancel), newest first."""
    action = "approve" if filters.decidable else "read"
    access.gate(actor, "keys", action)
    rows = repository.list_requests(
        uow.session,
        actor.workspace_id,
        filters,
        page,
        visible=access.visible(actor, access.KEY_REQUESTS, action),
    )
    kept, cursor = split_page(rows, page, lambda r: r.id)
    return Page[KeyRequestOut](data=[request_out(r) for r in kept], next_cursor=cursor)


def contexts(
    uow: UnitOfWork, actor: Actor, listed: list[KeyRequestOut]
) -> dict[str, KeyRequestContext]:
    """What an approver reads beside each request `list_requests` gave the actor: the
    acquisition's organization, who asked, who decided, how long the key is valid now."""
    return repository.request_contexts(uow.session, actor.workspace_id, listed)


def get_request(uow: UnitOfWork, actor: Actor, request_id: str) -> KeyRequestOut:
    return request_out(access.find(uow, actor, access.KEY_REQUESTS, request_id, "read"))


def _not_pending(request: KeyRequest) -> Conflict:
    return Conflict(
        f"Key request {request.id} is {request.status}, no longer pending.",
        code="key_request_not_pending",
        details={"request_id": request.id, "status": request.status},
    )


def _find_to_decide(uow: UnitOfWork, actor: Actor, request_id: str) -> KeyRequest:
    request = access.find(uow, actor, access.KEY_REQUESTS, request_id, "approve")
    if request.requested_by is not None and request.requested_by == actor.member_id:
        raise PermissionDenied(
            "Nobody decides on their own request: another approver must, or cancel it.",
            code="own_request",
            details={"request_id": request.id},
        )
    return request


def _locked_key(uow: UnitOfWork, request: KeyRequest) -> ApiKey | None:
    if request.key_id is None:
        return None
    return repository.get(uow.session, request.workspace_id, request.key_id, for_update=True)


def _settle(
    uow: UnitOfWork,
    actor: Actor,
    request: KeyRequest,
    status: RequestStatus,
    outcome: str | None,
    comment: str = "",
) -> None:
    """Move the pending request on, unless something else already did."""
    if not repository.settle_request(
        uow.session,
        request,
        status=status.value,
        outcome=outcome,
        decided_by=actor.member_id if status is not RequestStatus.CANCELLED else None,
        comment=comment,
        decided_at=uow.clock.now(),
    ):
        raise _not_pending(request)


def _audit(
    uow: UnitOfWork, actor: Actor, request: KeyRequest, verb: str, **details: object
) -> None:
    audit.record(
        uow,
        actor,
        f"key.{request.action}.{verb}",
        target_type="key_request",
        target_id=request.id,
        details={"key_id": request.key_id, **details},
    )


def _tell(uow: UnitOfWork, request: KeyRequest, key: ApiKey, event: Event) -> None:
    """Tell the requester and the key's creator what became of the request."""
    notify(
        uow,
        request.workspace_id,
        event,
        {
            **key_data(key, policy_of(uow, key).api),
            "request": request_out(request).model_dump(mode="json"),
        },
        [request.requested_by, key.creator_member_id],
    )


def approve(uow: UnitOfWork, actor: Actor, request_id: str, comment: str) -> KeyRequestOut:
    """Apply the request's issuance, renewal or revocation, atomically with deciding it. If the
    key changed meanwhile the request is closed instead, and the outcome says why."""
    request = _find_to_decide(uow, actor, request_id)
    key = _locked_key(uow, request)
    if request.status != RequestStatus.PENDING.value:
        raise _not_pending(request)
    change = Change(request.action)
    why_not = blocked(change, facts(uow, key) if key is not None else None)
    if why_not is not None or key is None:
        _settle(uow, actor, request, RequestStatus.CLOSED, why_not, comment)
        _audit(uow, actor, request, "close", outcome=why_not)
        return request_out(request)
    event, outcome = APPROVED[change]
    _settle(uow, actor, request, RequestStatus.APPROVED, outcome, comment)
    policy = policy_of(uow, key)
    if change is Change.ISSUE:
        now = uow.clock.now()
        lifetime = parse_duration(key.lifetime)
        key.awaiting_approval = False
        key.expires_at = now + lifetime if lifetime is not None else None
        key.updated_at = now
        uow.session.flush()
        expires_at = key.expires_at.isoformat() if key.expires_at else None
        record(uow, actor, key, "issue", {"expires_at": expires_at})
    elif change is Change.RENEW:
        # Asked under an earlier policy: no longer than the lifetime the policy allows now.
        asked = parse_duration(request.expires_in)
        if asked is not None and policy.lifetime is not None:
            asked = min(asked, policy.lifetime)
        renew_now(uow, actor, key, policy, asked)
    else:
        revoke_now(uow, actor, key, request.reason or "approved request")
    _audit(uow, actor, request, "approve", comment=comment)
    _tell(uow, request, key, event)
    return request_out(request)


def reject(uow: UnitOfWork, actor: Actor, request_id: str, comment: str) -> KeyRequestOut:
    """Refuse the request: the key stays as it is, but a key awaiting its issuance is revoked
    (it never worked, and never will)."""
    request = _find_to_decide(uow, actor, request_id)
    key = _locked_key(uow, request)
    _settle(uow, actor, request, RequestStatus.REJECTED, "rejected", comment)
    _audit(uow, actor, request, "reject", comment=comment)
    if key is not None:
        if key.awaiting_approval and key.revoked_at is None:
            revoke_now(uow, actor, key, "issuance rejected")
        _tell(uow, request, key, REJECTED[Change(request.action)])
    return request_out(request)


def cancel(uow: UnitOfWork, actor: Actor, request_id: str) -> KeyRequestOut:
    """The requester withdraws their request, holding still the right that filed it; a key
    awaiting its issuance is revoked with it."""
    request = access.find(
        uow,
        actor,
        access.KEY_REQUESTS,
        request_id,
        lambda r: FILED_WITH[Change(r.action)],
    )
    if request.requested_by is None or request.requested_by != actor.member_id:
        raise PermissionDenied(
            "Only the member who made a request can cancel it.",
            code="not_requester",
            details={"request_id": request.id},
        )
    key = _locked_key(uow, request)
    _settle(uow, actor, request, RequestStatus.CANCELLED, "cancelled")
    _audit(uow, actor, request, "cancel")
    if key is not None and key.awaiting_approval and key.revoked_at is None:
        revoke_now(uow, actor, key, "issuance request cancelled")
    return request_out(request)
