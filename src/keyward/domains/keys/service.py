"""The rules of API keys: who may create, see, renew, rotate, revoke and delete which key.

A new key's permissions must be covered by the caller's own effective rights, so a key can never
grant more than its creator holds; the verifier intersects with the creator's rights again on
every use, so taking a right away later takes it from the key too.

Where an API's key policy asks for approval, a renewal or revocation becomes a pending key
request (see `requests`) unless the caller is an approver of that API; the key stays as it is
meanwhile, and cannot be renewed again or deleted.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, overload

from pydantic import TypeAdapter

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, InvalidInput, NotFound
from keyward.core.ids import is_id, new_id, quote
from keyward.core.keys import KeyKind, KeyState, generate_key, key_state
from keyward.core.permissions import PermissionSet
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import Api, ApiKey, KeyRequest
from keyward.domains.audit import service as audit
from keyward.domains.fields import Duration
from keyward.domains.idempotency import service as idempotency
from keyward.domains.keys import repository
from keyward.domains.keys.schemas import (
    COPY_NOTICE,
    REPLAY_NOTICE,
    AccountKeyCreate,
    BulkOutcome,
    KeyBulkDeleted,
    KeyBulkItem,
    KeyCreated,
    KeyFilter,
    KeyOut,
    KeyRequestOut,
    KeyUpdate,
    RequestAction,
    RequestStatus,
)
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import key_data, notify
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.domains.workspaces import repository as workspaces

# A rotation's grace when the API's policy names no maximum, and for account keys.
DEFAULT_MAX_GRACE = timedelta(days=7)
ROTATED_NOTICE = (
    "Copy this key now: it is shown only in this response. The key keeps its id, name and "
    "rights; the old secret works until previous_key_expires_at."
)
_durations: TypeAdapter[timedelta] = TypeAdapter(Duration)


def iso_duration(value: timedelta | None) -> str | None:
    return None if value is None else str(_durations.dump_python(value, mode="json"))


def parse_duration(value: str | None) -> timedelta | None:
    return None if value is None else _durations.validate_python(value)


def _out(uow: UnitOfWork, key: ApiKey, pending: str | bool | None = True) -> KeyOut:
    """The key as shown. `pending`: its pending request id if already known, True to look it
    up."""
    if pending is True:
        pending = repository.pending_requests(uow.session, [key.id]).get(key.id)
    return KeyOut(
        id=key.id,
        name=key.name,
        kind=KeyKind(key.kind),
        start=key.start,
        state=key_state(key.revoked_at is not None, key.expires_at, uow.clock.now()),
        creator_member_id=key.creator_member_id,
        acquisition_id=key.acquisition_id,
        permissions=key.permissions,
        metadata=key.meta,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        rotated_at=key.rotated_at,
        previous_key_expires_at=key.previous_hash_expires_at if key.previous_hash else None,
        pending_request_id=pending or None,
        created_at=key.created_at,
        updated_at=key.updated_at,
        last_used_at=key.last_used_at,
    )


def find(uow: UnitOfWork, actor: Actor, key_id: str, *, for_update: bool = False) -> ApiKey:
    """The key of the actor's workspace; locked for the rest of the transaction when it is
    about to change."""
    key = (
        repository.get(uow.session, actor.workspace_id, key_id, for_update=for_update)
        if is_id(key_id, "key")
        else None
    )
    if key is None:
        raise NotFound(f"No key {quote(key_id)} in this workspace.", code="key_not_found")
    return key


def _changed(uow: UnitOfWork, key: ApiKey) -> None:
    uow.record_change(Change(key.workspace_id, Entity.KEY, key.id))


@dataclass(frozen=True, slots=True)
class Policy:
    """What governs a key: its API's key policy, or for an account key its own lifetime."""

    api: Api | None
    lifetime: timedelta | None
    max_grace: timedelta
    renewal_requires_approval: bool
    revocation_requires_approval: bool

    def needs_approval(self, actor: Actor, action: RequestAction) -> bool:
        """Whether `action` waits for an approver. An approver of the API acts at once: they
        would be the one to approve."""
        required = (
            self.renewal_requires_approval
            if action is RequestAction.RENEW
            else self.revocation_requires_approval
        )
        return required and self.api is not None and not actor.can("keys", "approve", self.api.id)


def policy_of(uow: UnitOfWork, key: ApiKey) -> Policy:
    if key.acquisition_id is None:
        lifetime = parse_duration(key.lifetime)
        if lifetime is None and key.expires_at is not None:
            lifetime = key.expires_at - key.created_at
        return Policy(None, lifetime, DEFAULT_MAX_GRACE, False, False)
    api = repository.api_of_acquisition(uow.session, key.acquisition_id)
    if api is None:
        raise NotFound("The key's API no longer exists.", code="api_not_found")
    return Policy(
        api,
        parse_duration(api.key_lifetime),
        parse_duration(api.max_rotation_grace) or DEFAULT_MAX_GRACE,
        api.renewal_requires_approval,
        api.revocation_requires_approval,
    )


def _tell(
    uow: UnitOfWork,
    event: Event,
    key: ApiKey,
    api: Api | None,
    recipients: Sequence[str | None],
    **extra: Any,
) -> None:
    notify(uow, key.workspace_id, event, {**key_data(key, api), **extra}, recipients)


def capped_lifetime(allowed: timedelta | None, asked: timedelta | None) -> timedelta | None:
    """The lifetime a creator asked for, never longer than the policy's."""
    if allowed is None:
        return asked
    if asked is None:
        return allowed
    if asked > allowed:
        raise InvalidInput(
            f"Keys of this API live at most {iso_duration(allowed)}; ask for less or leave "
            "expires_in out.",
            code="lifetime_exceeds_policy",
            details={"max_lifetime": iso_duration(allowed)},
        )
    return asked


def issue_key(
    uow: UnitOfWork,
    actor: Actor,
    *,
    kind: KeyKind,
    name: str,
    permissions: PermissionSet,
    lifetime: timedelta | None,
    metadata: dict[str, Any],
    acquisition_id: str | None = None,
    api: Api | None = None,
) -> KeyCreated:
    """Create a key for the acting member. The secret is in the answer and nowhere else.

    The key's permissions must be covered by the actor's own rights.
    """
    actor.require("keys", "create")
    actor.require_all(permissions, "create this key")
    if actor.member_id is None:
        raise Conflict("Only a member can own a key.", code="key_needs_member")
    workspace = workspaces.get(uow.session, actor.workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace {quote(actor.workspace_id)}.", code="workspace_not_found")
    new = generate_key(workspace.key_prefix)
    now = uow.clock.now()
    expires_at = now + lifetime if lifetime is not None else None
    key = ApiKey(
        id=new_id("key"),
        workspace_id=actor.workspace_id,
        kind=kind.value,
        name=name,
        start=new.start,
        hash=new.hash,
        previous_hash=None,
        previous_hash_expires_at=None,
        rotated_at=None,
        creator_member_id=actor.member_id,
        acquisition_id=acquisition_id,
        permissions=permissions.strings(),
        meta=metadata,
        expires_at=expires_at,
        lifetime=iso_duration(lifetime),
        revoked_at=None,
        revoked_by=None,
        created_at=now,
        updated_at=now,
        last_used_at=None,
    )
    repository.add(uow.session, key)
    _changed(uow, key)
    audit.record(
        uow,
        actor,
        "key.create",
        target_type="key",
        target_id=key.id,
        details={
            "name": key.name,
            "kind": key.kind,
            "acquisition_id": key.acquisition_id,
            "permissions": key.permissions,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
    )
    _tell(uow, Event.KEY_CREATED, key, api, [key.creator_member_id])
    return KeyCreated(
        **_out(uow, key, pending=None).model_dump(), key=new.secret, notice=COPY_NOTICE
    )


def issue_account_key(uow: UnitOfWork, actor: Actor, body: AccountKeyCreate) -> KeyCreated:
    """Create an account key (to call the management API) for the acting member."""
    return issue_key(
        uow,
        actor,
        kind=KeyKind.ACCOUNT,
        name=body.name,
        permissions=PermissionSet.parse(body.permissions),
        lifetime=body.expires_in,
        metadata=body.metadata,
    )


def create_account_key(
    uow: UnitOfWork, actor: Actor, body: AccountKeyCreate, idempotency_key: str | None = None
) -> tuple[KeyCreated, bool]:
    """Like `issue_account_key`, replaying an earlier answer (without the secret) on retries.

    Returns the answer and whether it is a replay.
    """
    if idempotency_key is None:
        return issue_account_key(uow, actor, body), False
    request_hash = idempotency.fingerprint("key.create", body)
    stored = idempotency.replay(uow, actor, idempotency_key, request_hash)
    if stored is not None:
        return KeyCreated(**stored, key=None, notice=REPLAY_NOTICE), True
    created = issue_account_key(uow, actor, body)
    remembered: dict[str, Any] = created.model_dump(mode="json", exclude={"key", "notice"})
    idempotency.remember(uow, actor, idempotency_key, request_hash, remembered)
    return created, False


def get_key(uow: UnitOfWork, actor: Actor, key_id: str) -> KeyOut:
    actor.require("keys", "read", key_id)
    return _out(uow, find(uow, actor, key_id))


def list_keys(uow: UnitOfWork, actor: Actor, filters: KeyFilter, page: PageRequest) -> Page[KeyOut]:
    actor.require("keys", "read")
    rows = repository.list_keys(uow.session, actor.workspace_id, filters, page, uow.clock.now())
    kept, cursor = split_page(rows, page, lambda k: k.id)
    pending = repository.pending_requests(uow.session, [k.id for k in kept])
    return Page[KeyOut](data=[_out(uow, k, pending.get(k.id)) for k in kept], next_cursor=cursor)


def update_key(uow: UnitOfWork, actor: Actor, key_id: str, body: KeyUpdate) -> KeyOut:
    actor.require("keys", "update", key_id)
    key = find(uow, actor, key_id)
    changed: dict[str, Any] = {}
    if body.name is not None and body.name != key.name:
        changed["name"] = {"from": key.name, "to": body.name}
        key.name = body.name
    if body.metadata is not None and body.metadata != key.meta:
        changed["metadata"] = True
        key.meta = body.metadata
    if changed:
        key.updated_at = uow.clock.now()
        uow.session.flush()
        audit.record(uow, actor, "key.update", target_type="key", target_id=key.id, details=changed)
    return _out(uow, key)


def revoke_now(uow: UnitOfWork, actor: Actor, key: ApiKey, reason: str) -> None:
    """Revoke at once; a request still pending on the key is closed, never applied later."""
    now = uow.clock.now()
    key.revoked_at = now
    key.revoked_by = actor.member_id
    key.updated_at = now
    uow.session.flush()
    repository.close_pending(uow.session, key.id, "key_revoked", now)
    _changed(uow, key)
    audit.record(
        uow,
        actor,
        "key.revoke",
        target_type="key",
        target_id=key.id,
        details={"name": key.name, "reason": reason},
    )


def _pending_conflict(key: ApiKey, request_id: str) -> Conflict:
    return Conflict(
        f"Key {key.id} has a pending request ({request_id}); wait for its decision or "
        "cancel it first.",
        code="key_request_pending",
        details={"key_id": key.id, "request_id": request_id},
    )


def pending_request_of(uow: UnitOfWork, key: ApiKey) -> str | None:
    return repository.pending_requests(uow.session, [key.id]).get(key.id)


def _refuse_revoked(key: ApiKey, what: str) -> None:
    if key.revoked_at is not None:
        raise Conflict(
            f"Key {key.id} is revoked; a revoked key cannot be {what}.",
            code="key_revoked",
            details={"key_id": key.id},
        )


def check_renewable(uow: UnitOfWork, key: ApiKey) -> None:
    _refuse_revoked(key, "renewed")
    if key.expires_at is None:
        raise Conflict(
            f"Key {key.id} never expires: there is nothing to renew.",
            code="key_never_expires",
            details={"key_id": key.id},
        )
    pending = pending_request_of(uow, key)
    if pending is not None:
        raise _pending_conflict(key, pending)


def renew_now(
    uow: UnitOfWork, actor: Actor, key: ApiKey, policy: Policy, asked: timedelta | None
) -> None:
    """Valid for the policy's lifetime (or the shorter one asked) from now; same secret."""
    lifetime = capped_lifetime(policy.lifetime, asked)
    now = uow.clock.now()
    before = key.expires_at
    key.expires_at = now + lifetime if lifetime is not None else None
    key.updated_at = now
    uow.session.flush()
    _changed(uow, key)
    audit.record(
        uow,
        actor,
        "key.renew",
        target_type="key",
        target_id=key.id,
        details={
            "name": key.name,
            "expires_at_before": before.isoformat() if before else None,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
    )


def _approval_conflict(key: ApiKey, action: RequestAction) -> Conflict:
    change = "renewal" if action is RequestAction.RENEW else "revocation"
    return Conflict(
        f"This API's policy has an approver decide on every {change} of its keys; ask for it "
        "with a key request instead.",
        code=f"{change}_requires_approval",
        details={"key_id": key.id},
    )


def request_out(request: KeyRequest) -> KeyRequestOut:
    return KeyRequestOut.model_validate(request)


def _open_request(
    uow: UnitOfWork,
    actor: Actor,
    key: ApiKey,
    policy: Policy,
    action: RequestAction,
    reason: str,
    expires_in: timedelta | None = None,
) -> KeyRequestOut:
    """A pending request for an approver; the key stays as it is meanwhile."""
    api = policy.api
    if api is None:  # only an API's policy asks for approval
        raise _approval_conflict(key, action)
    request = KeyRequest(
        id=new_id("kreq"),
        workspace_id=key.workspace_id,
        key_id=key.id,
        key_name=key.name,
        api_id=api.id,
        action=action.value,
        status=RequestStatus.PENDING.value,
        expires_in=iso_duration(expires_in),
        reason=reason,
        requested_by=actor.member_id,
        decided_by=None,
        comment="",
        outcome=None,
        created_at=uow.clock.now(),
        decided_at=None,
    )
    repository.add_request(uow.session, request)
    out = request_out(request)
    audit.record(
        uow,
        actor,
        f"key.{action.value}.request",
        target_type="key",
        target_id=key.id,
        details={"request_id": request.id, "reason": reason},
    )
    event = Event.RENEWAL_REQUESTED if action is RequestAction.RENEW else Event.REVOCATION_REQUESTED
    _tell(
        uow,
        event,
        key,
        api,
        approvers(uow, key.workspace_id, api.id, but=actor.member_id),
        request=out.model_dump(mode="json"),
    )
    return out


def approvers(uow: UnitOfWork, workspace_id: str, api_id: str, *, but: str | None) -> list[str]:
    """Active members holding `keys:approve` on the API, except `but` (the requester)."""
    return [
        member_id
        for member_id, rights in repository.active_member_rights(uow.session, workspace_id)
        if member_id != but and rights.allows("keys", "approve", api_id)
    ]


@overload
def renew_key(
    uow: UnitOfWork,
    actor: Actor,
    key_id: str,
    asked: timedelta | None = ...,
    reason: str = ...,
    *,
    allow_request: Literal[False] = ...,
) -> KeyOut: ...
@overload
def renew_key(
    uow: UnitOfWork,
    actor: Actor,
    key_id: str,
    asked: timedelta | None = ...,
    reason: str = ...,
    *,
    allow_request: bool,
) -> KeyOut | KeyRequestOut: ...
def renew_key(
    uow: UnitOfWork,
    actor: Actor,
    key_id: str,
    asked: timedelta | None = None,
    reason: str = "",
    *,
    allow_request: bool = False,
) -> KeyOut | KeyRequestOut:
    """Renew a key: valid for the policy's lifetime (or the shorter one asked) from now, same
    secret. Where the policy wants an approver, a pending request if `allow_request`, else
    409 `renewal_requires_approval`."""
    actor.require("keys", "renew", key_id)
    key = find(uow, actor, key_id, for_update=True)
    check_renewable(uow, key)
    policy = policy_of(uow, key)
    capped_lifetime(policy.lifetime, asked)
    if policy.needs_approval(actor, RequestAction.RENEW):
        if not allow_request:
            raise _approval_conflict(key, RequestAction.RENEW)
        return _open_request(uow, actor, key, policy, RequestAction.RENEW, reason, asked)
    renew_now(uow, actor, key, policy, asked)
    _tell(uow, Event.KEY_RENEWED, key, policy.api, [key.creator_member_id, actor.member_id])
    return _out(uow, key, pending=None)


def rotate_key(uow: UnitOfWork, actor: Actor, key_id: str, grace: timedelta) -> KeyCreated:
    """A new secret for the same key (id, name, rights, expiry). The old one keeps working for
    `grace`, capped by the policy's maximum; PT0S stops it at once. Only the latest rotation's
    old secret is kept: rotating again ends the grace of the one before."""
    actor.require("keys", "rotate", key_id)
    key = find(uow, actor, key_id, for_update=True)
    # Whoever rotates receives a working secret: like a creator, they must hold what it grants.
    actor.require_all(PermissionSet.parse_stored(key.permissions), "rotate this key")
    _refuse_revoked(key, "rotated")
    now = uow.clock.now()
    if key_state(False, key.expires_at, now) is KeyState.EXPIRED:
        raise Conflict(
            f"Key {key.id} has expired; renew it before rotating it.",
            code="key_expired",
            details={"key_id": key.id},
        )
    policy = policy_of(uow, key)
    grace = min(grace, policy.max_grace)
    workspace = workspaces.get(uow.session, key.workspace_id)
    new = generate_key(workspace.key_prefix if workspace else "kw")
    key.previous_hash = key.hash if grace > timedelta(0) else None
    key.previous_hash_expires_at = now + grace if grace > timedelta(0) else None
    key.hash = new.hash
    key.start = new.start
    key.rotated_at = now
    key.updated_at = now
    uow.session.flush()
    _changed(uow, key)
    valid_until = key.previous_hash_expires_at
    audit.record(
        uow,
        actor,
        "key.rotate",
        target_type="key",
        target_id=key.id,
        details={
            "name": key.name,
            "grace": iso_duration(grace),
            "previous_key_expires_at": valid_until.isoformat() if valid_until else None,
        },
    )
    _tell(
        uow,
        Event.KEY_ROTATED,
        key,
        policy.api,
        [key.creator_member_id, actor.member_id],
        previous_key_expires_at=valid_until.isoformat() if valid_until else None,
    )
    return KeyCreated(**_out(uow, key).model_dump(), key=new.secret, notice=ROTATED_NOTICE)


@overload
def revoke_key(
    uow: UnitOfWork,
    actor: Actor,
    key_id: str,
    reason: str = ...,
    *,
    allow_request: Literal[False] = ...,
) -> KeyOut: ...
@overload
def revoke_key(
    uow: UnitOfWork, actor: Actor, key_id: str, reason: str = ..., *, allow_request: bool
) -> KeyOut | KeyRequestOut: ...
def revoke_key(
    uow: UnitOfWork, actor: Actor, key_id: str, reason: str = "", *, allow_request: bool = False
) -> KeyOut | KeyRequestOut:
    """Stop a key at once and for good; revoking a revoked key changes nothing. Where the
    policy wants an approver, a pending request if `allow_request`, else 409
    `revocation_requires_approval`."""
    actor.require("keys", "revoke", key_id)
    key = find(uow, actor, key_id, for_update=True)
    if key.revoked_at is not None:
        return _out(uow, key, pending=None)
    pending = pending_request_of(uow, key)
    policy = policy_of(uow, key)
    if policy.needs_approval(actor, RequestAction.REVOKE):
        if pending is not None:
            raise _pending_conflict(key, pending)
        if not allow_request:
            raise _approval_conflict(key, RequestAction.REVOKE)
        return _open_request(uow, actor, key, policy, RequestAction.REVOKE, reason)
    revoke_now(uow, actor, key, reason or "requested")
    _tell(
        uow,
        Event.KEY_REVOKED,
        key,
        policy.api,
        [key.creator_member_id, actor.member_id],
        reason=reason,
        closed_request_id=pending,
    )
    return _out(uow, key, pending=None)


def _delete(uow: UnitOfWork, actor: Actor, key: ApiKey) -> None:
    repository.delete(uow.session, key)
    _changed(uow, key)
    audit.record(
        uow, actor, "key.delete", target_type="key", target_id=key.id, details={"name": key.name}
    )


def delete_key(uow: UnitOfWork, actor: Actor, key_id: str, *, revoke: bool = False) -> None:
    """Delete a revoked key (its audit trail stays), never one with a pending request. With
    `revoke`, an active key is revoked and deleted in one step, where revoking it needs no
    approval."""
    actor.require("keys", "delete", key_id)
    key = find(uow, actor, key_id, for_update=True)
    pending = pending_request_of(uow, key)
    if pending is not None:
        raise _pending_conflict(key, pending)
    if key.revoked_at is None:
        if not revoke:
            raise Conflict(
                "Only a revoked key can be deleted: revoke it first, or delete with "
                "?revoke=true to revoke and delete in one step.",
                code="key_not_revoked",
                details={"key_id": key.id},
            )
        actor.require("keys", "revoke", key_id)
        policy = policy_of(uow, key)
        if policy.needs_approval(actor, RequestAction.REVOKE):
            raise Conflict(
                "Revoking this key needs an approver's decision, so it cannot be revoked and "
                "deleted in one step: request its revocation, then delete it once revoked.",
                code="revocation_requires_approval",
                details={"key_id": key.id},
            )
        revoke_now(uow, actor, key, "deleted")
        _tell(uow, Event.KEY_REVOKED, key, policy.api, [key.creator_member_id, actor.member_id])
    _delete(uow, actor, key)


def bulk_delete(uow: UnitOfWork, actor: Actor, key_ids: list[str]) -> KeyBulkDeleted:
    """Delete the revoked keys among `key_ids`, skipping the others, all in this transaction.
    If any of them has a pending request nothing is deleted and the answer names them."""
    if not any(actor.can("keys", "delete", key_id) for key_id in key_ids):
        actor.require("keys", "delete")
    keys = {k.id: k for k in repository.many_for_update(uow.session, actor.workspace_id, key_ids)}
    pending = repository.pending_requests(uow.session, sorted(keys))
    if pending:
        raise Conflict(
            f"{len(pending)} of the keys have a pending request; nothing was deleted.",
            code="key_request_pending",
            details={"keys": [{"key_id": k, "request_id": pending[k]} for k in sorted(pending)]},
        )
    results = []
    for key_id in key_ids:
        key = keys.get(key_id)
        if key is None:
            results.append(
                KeyBulkItem(
                    id=key_id,
                    result=BulkOutcome.NOT_FOUND,
                    code="key_not_found",
                    message="No such key in this workspace.",
                )
            )
        elif key.revoked_at is None:
            results.append(
                KeyBulkItem(
                    id=key_id,
                    result=BulkOutcome.SKIPPED,
                    code="key_not_revoked",
                    message="Only a revoked key can be deleted; this one is not revoked.",
                )
            )
        elif not actor.can("keys", "delete", key_id):
            results.append(
                KeyBulkItem(
                    id=key_id,
                    result=BulkOutcome.SKIPPED,
                    code="permission_denied",
                    message="The caller may not delete this key.",
                )
            )
        else:
            _delete(uow, actor, key)
            results.append(KeyBulkItem(id=key_id, result=BulkOutcome.DELETED))
    deleted = sum(r.result is BulkOutcome.DELETED for r in results)
    return KeyBulkDeleted(deleted=deleted, skipped=len(results) - deleted, results=results)


def apply_lifetime(uow: UnitOfWork, api: Api, lifetime: timedelta | None) -> int:
    """A policy's new lifetime applied to the API's keys in use, as if renewed now; expired
    and revoked keys are left alone (an expired key is renewed by its holder). Returns how
    many keys changed."""
    now = uow.clock.now()
    changed = 0
    for key in repository.unrevoked_keys_of_api(uow.session, api.id):
        if key_state(False, key.expires_at, now) is KeyState.EXPIRED:
            continue
        key.expires_at = now + lifetime if lifetime is not None else None
        key.updated_at = now
        _changed(uow, key)
        changed += 1
    uow.session.flush()
    return changed


def revoke_keys_created_by(uow: UnitOfWork, actor: Actor, member_id: str, reason: str) -> int:
    """Revoke every unrevoked key a member created; returns how many."""
    keys = repository.unrevoked_created_by(uow.session, actor.workspace_id, member_id)
    for key in keys:
        revoke_now(uow, actor, key, reason)
    return len(keys)


def own_key(uow: UnitOfWork, actor: Actor) -> KeyOut | None:
    """The key the actor is calling with; every key may see itself."""
    return _out(uow, find(uow, actor, actor.key_id)) if actor.key_id else None
