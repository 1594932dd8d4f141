"""Key requests: renewals and revocations waiting for an approver of the key's API.

A request is decided once. The conditional UPDATE in `repository.settle_request` is what makes
it so: of two approvers deciding at once, or an approval racing a cancellation, one moves the
request on and the other is told it is no longer pending. The key is locked before the request
(as every change of a key does), so an approval and a direct revocation or deletion of the same
key run one after the other; when the key changed meanwhile the request is closed with an
outcome that says why, and nothing is applied.
"""

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, NotFound, PermissionDenied
from keyward.core.ids import is_id, quote
from keyward.core.permissions import WILDCARD
from keyward.db.engine import UnitOfWork
from keyward.db.models import Api, ApiKey, KeyRequest
from keyward.domains.audit import service as audit
from keyward.domains.keys import repository
from keyward.domains.keys.schemas import (
    KeyRequestFilter,
    KeyRequestOut,
    RequestAction,
    RequestStatus,
)
from keyward.domains.keys.service import (
    parse_duration,
    policy_of,
    renew_now,
    request_out,
    revoke_now,
)
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import key_data, notify
from keyward.domains.pagination import Page, PageRequest, split_page


def _approvable_apis(actor: Actor) -> set[str] | None:
    """The APIs whose requests the actor may see as an approver; None: every request (the
    actor may read every key or approve on every API)."""
    if actor.can("keys", "read") or actor.can("keys", "approve"):
        return None
    return {
        p.resource_id
        for p in actor.permissions
        if p.resource in ("keys", WILDCARD)
        and p.action in ("approve", WILDCARD)
        and p.resource_id is not None
    }


def list_requests(
    uow: UnitOfWork, actor: Actor, filters: KeyRequestFilter, page: PageRequest
) -> Page[KeyRequestOut]:
    """Requests the actor may see: all of them with `keys:read` (or `keys:approve` on every
    API), else those on the APIs they approve and those they made. Newest first."""
    rows = repository.list_requests(
        uow.session,
        actor.workspace_id,
        filters,
        page,
        api_ids=_approvable_apis(actor),
        member_id=actor.member_id,
    )
    kept, cursor = split_page(rows, page, lambda r: r.id)
    return Page[KeyRequestOut](data=[request_out(r) for r in kept], next_cursor=cursor)


def _find(uow: UnitOfWork, actor: Actor, request_id: str) -> KeyRequest:
    request = (
        repository.get_request(uow.session, actor.workspace_id, request_id)
        if is_id(request_id, "kreq")
        else None
    )
    if request is None:
        raise NotFound(
            f"No key request {quote(request_id)} in this workspace.", code="key_request_not_found"
        )
    return request


def get_request(uow: UnitOfWork, actor: Actor, request_id: str) -> KeyRequestOut:
    request = _find(uow, actor, request_id)
    visible = _approvable_apis(actor)
    if (
        visible is not None
        and request.api_id not in visible
        and (request.requested_by != actor.member_id)
    ):
        raise NotFound(
            f"No key request {quote(request_id)} in this workspace.", code="key_request_not_found"
        )
    return request_out(request)


def _not_pending(request: KeyRequest) -> Conflict:
    return Conflict(
        f"Key request {request.id} is {request.status}, no longer pending.",
        code="key_request_not_pending",
        details={"request_id": request.id, "status": request.status},
    )


def _check_decider(actor: Actor, request: KeyRequest) -> None:
    actor.require("keys", "approve", request.api_id)
    if request.requested_by is not None and request.requested_by == actor.member_id:
        raise PermissionDenied(
            "Nobody decides on their own request: another approver must, or cancel it.",
            code="own_request",
            details={"request_id": request.id},
        )


def _locked_key(uow: UnitOfWork, request: KeyRequest) -> ApiKey | None:
    if request.key_id is None:
        return None
    return repository.get(uow.session, request.workspace_id, request.key_id, for_update=True)


def _blocked(request: KeyRequest, key: ApiKey | None) -> str | None:
    """Why the request can no longer be applied, if it cannot."""
    if key is None:
        return "key_deleted"
    if key.revoked_at is not None:
        return "key_revoked"
    if request.action == RequestAction.RENEW.value and key.expires_at is None:
        return "key_never_expires"
    return None


def _tell(
    uow: UnitOfWork,
    event: Event,
    request: KeyRequest,
    key: ApiKey,
    api: Api | None,
) -> None:
    out = request_out(request).model_dump(mode="json")
    notify(
        uow,
        request.workspace_id,
        event,
        {**key_data(key, api), "request": out},
        [request.requested_by, key.creator_member_id],
    )


def approve(uow: UnitOfWork, actor: Actor, request_id: str, comment: str) -> KeyRequestOut:
    """Apply the request's renewal or revocation, atomically with deciding it. If the key
    changed meanwhile the request is closed instead, and the outcome says why."""
    request = _find(uow, actor, request_id)
    _check_decider(actor, request)
    key = _locked_key(uow, request)
    now = uow.clock.now()
    if request.status != RequestStatus.PENDING.value:
        raise _not_pending(request)
    blocked = _blocked(request, key)
    if blocked is not None or key is None:
        if not repository.settle_request(
            uow.session,
            request,
            status=RequestStatus.CLOSED.value,
            outcome=blocked,
            decided_by=actor.member_id,
            comment=comment,
            decided_at=now,
        ):
            raise _not_pending(request)
        audit.record(
            uow,
            actor,
            f"key.{request.action}.close",
            target_type="key_request",
            target_id=request.id,
            details={"key_id": request.key_id, "outcome": blocked},
        )
        return request_out(request)
    action = RequestAction(request.action)
    if not repository.settle_request(
        uow.session,
        request,
        status=RequestStatus.APPROVED.value,
        outcome="renewed" if action is RequestAction.RENEW else "revoked",
        decided_by=actor.member_id,
        comment=comment,
        decided_at=now,
    ):
        raise _not_pending(request)
    policy = policy_of(uow, key)
    if action is RequestAction.RENEW:
        # Asked under an earlier policy: no longer than the lifetime the policy allows now.
        asked = parse_duration(request.expires_in)
        if asked is not None and policy.lifetime is not None:
            asked = min(asked, policy.lifetime)
        renew_now(uow, actor, key, policy, asked)
    else:
        revoke_now(uow, actor, key, request.reason or "approved request")
    audit.record(
        uow,
        actor,
        f"key.{action.value}.approve",
        target_type="key_request",
        target_id=request.id,
        details={"key_id": key.id, "comment": comment},
    )
    event = Event.RENEWAL_APPROVED if action is RequestAction.RENEW else Event.KEY_REVOKED
    _tell(uow, event, request, key, policy.api)
    return request_out(request)


def reject(uow: UnitOfWork, actor: Actor, request_id: str, comment: str) -> KeyRequestOut:
    """Refuse the request; the key stays as it is."""
    request = _find(uow, actor, request_id)
    _check_decider(actor, request)
    key = _locked_key(uow, request)
    if not repository.settle_request(
        uow.session,
        request,
        status=RequestStatus.REJECTED.value,
        outcome="rejected",
        decided_by=actor.member_id,
        comment=comment,
        decided_at=uow.clock.now(),
    ):
        raise _not_pending(request)
    audit.record(
        uow,
        actor,
        f"key.{request.action}.reject",
        target_type="key_request",
        target_id=request.id,
        details={"key_id": request.key_id, "comment": comment},
    )
    if key is not None:
        event = (
            Event.RENEWAL_REJECTED
            if request.action == RequestAction.RENEW.value
            else Event.REVOCATION_REJECTED
        )
        _tell(uow, event, request, key, policy_of(uow, key).api)
    return request_out(request)


def cancel(uow: UnitOfWork, actor: Actor, request_id: str) -> KeyRequestOut:
    """The requester withdraws their request."""
    request = _find(uow, actor, request_id)
    if request.requested_by is None or request.requested_by != actor.member_id:
        raise PermissionDenied(
            "Only the member who made a request can cancel it.",
            code="not_requester",
            details={"request_id": request.id},
        )
    if not repository.settle_request(
        uow.session,
        request,
        status=RequestStatus.CANCELLED.value,
        outcome="cancelled",
        decided_at=uow.clock.now(),
    ):
        raise _not_pending(request)
    audit.record(
        uow,
        actor,
        f"key.{request.action}.cancel",
        target_type="key_request",
        target_id=request.id,
        details={"key_id": request.key_id},
    )
    return request_out(request)
