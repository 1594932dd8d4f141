"""The rules of API keys: creating, showing, renewing, rotating, revoking and deleting them.

Who may act on which key is the ownership rule's (`domains.access`); which change a key's state
allows, and which waits for an approver, is the lifecycle's (`core.lifecycle`). This module
applies what they decide: a new key's permissions must be covered by the caller's own rights, so
a key never grants more than its creator holds (the verifier narrows the creator's standing to
the key's permissions again on every use); a change the policy sends to an approver becomes a
pending key request (`requests`); every change is recorded once, with its feed entry, audit
event and notifications (`record`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal, overload

from pydantic import TypeAdapter

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, Hidden, InvalidInput, NotFound
from keyward.core.ids import new_id
from keyward.core.keys import KeyKind, generate_key, key_state
from keyward.core.lifecycle import Approvals, Change, KeyFacts, Step, plan, plan_issue
from keyward.core.ownership import Outcome, Resource, decide, permits
from keyward.core.permissions import PermissionSet
from keyward.core.sealing import Sealer
from keyward.core.verdicts import UNKNOWN, Verdict
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change as FeedChange
from keyward.db.feed import Entity
from keyward.db.models import Api, ApiKey, KeyRequest
from keyward.db.rights import standings
from keyward.domains import access, rates
from keyward.domains.audit import service as audit
from keyward.domains.connectors.updates import hand_over
from keyward.domains.fields import Duration
from keyward.domains.idempotency import service as idempotency
from keyward.domains.keys import repository
from keyward.domains.keys.schemas import (
    COPY_NOTICE,
    PENDING_NOTICE,
    AccountKeyCreate,
    BulkOutcome,
    KeyBulkDeleted,
    KeyBulkItem,
    KeyCreated,
    KeyFilter,
    KeyOut,
    KeyRequestOut,
    KeySort,
    KeyUpdate,
    RequestStatus,
)
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import key_data, notify
from keyward.domains.pagination import Page, PageRequest, encode_timed_cursor, split_page

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


def key_out(uow: UnitOfWork, key: ApiKey, pending: str | bool | None = True) -> KeyOut:
    """The key as shown. `pending`: its pending request id if already known, True to look it
    up."""
    if pending is True:
        pending = repository.pending_requests(uow.session, [key.id]).get(key.id)
    return KeyOut(
        id=key.id,
        name=key.name,
        kind=KeyKind(key.kind),
        start=key.start,
        state=key_state(
            key.revoked_at is not None,
            key.expires_at,
            uow.clock.now(),
            awaiting_approval=key.awaiting_approval,
        ),
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


def facts(uow: UnitOfWork, key: ApiKey) -> KeyFacts:
    """What the lifecycle needs to know of the key, its pending request included."""
    return KeyFacts(
        key.id,
        key.revoked_at is not None,
        key.expires_at,
        key.awaiting_approval,
        repository.pending_requests(uow.session, [key.id]).get(key.id),
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """What governs a key: its API's key policy, or for an account key its own lifetime."""

    api: Api | None
    lifetime: timedelta | None
    max_grace: timedelta
    approvals: Approvals


def policy_of_api(api: Api) -> Policy:
    return Policy(
        api,
        parse_duration(api.key_lifetime),
        parse_duration(api.max_rotation_grace) or DEFAULT_MAX_GRACE,
        Approvals(
            issuance=api.issuance_requires_approval,
            renewal=api.renewal_requires_approval,
            revocation=api.revocation_requires_approval,
        ),
    )


def policy_of(uow: UnitOfWork, key: ApiKey) -> Policy:
    if key.acquisition_id is None:
        lifetime = parse_duration(key.lifetime)
        if lifetime is None and key.expires_at is not None:
            lifetime = key.expires_at - key.created_at
        return Policy(None, lifetime, DEFAULT_MAX_GRACE, Approvals())
    api = repository.api_of_acquisition(uow.session, key.acquisition_id)
    if api is None:
        raise NotFound("The key's API no longer exists.", code="api_not_found")
    return policy_of_api(api)


def is_approver(actor: Actor, resource: Resource) -> bool:
    """Whether the actor decides the key requests of the resource's API: an approver of the
    API acts at once, being the one who would approve."""
    return permits(actor.standing, replace(resource, kind="keys"), "approve")


def approvers(
    uow: UnitOfWork, workspace_id: str, resource: Resource, *, but: str | None
) -> list[str]:
    """Active members who decide the key requests of the resource's API, except `but` (the
    requester)."""
    subject = replace(resource, kind="keys")
    return [
        member_id
        for member_id, standing in standings(
            uow.session, repository.active_members(uow.session, workspace_id)
        ).items()
        if member_id != but and permits(standing, subject, "approve")
    ]


def record(
    uow: UnitOfWork,
    actor: Actor,
    key: ApiKey,
    action: str,
    details: dict[str, Any] | None = None,
    *,
    event: Event | None = None,
    api: Api | None = None,
    recipients: Iterable[str | None] = (),
    feed: bool = True,
    **extra: Any,
) -> None:
    """Record one change of a key: its change-feed entry (when it may change a verdict), its
    audit event `key.<action>`, and the notification `event` to `recipients` and webhooks."""
    if feed:
        uow.record_change(FeedChange(key.workspace_id, Entity.KEY, key.id))
    audit.record(
        uow,
        actor,
        f"key.{action}",
        target_type="key",
        target_id=key.id,
        details={"name": key.name, **(details or {})},
    )
    if event is not None:
        notify(uow, key.workspace_id, event, {**key_data(key, api), **extra}, list(recipients))


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
    awaiting_approval: bool = False,
) -> tuple[ApiKey, KeyCreated]:
    """Create a key owned by the acting member. The secret is in the answer and nowhere else.

    The actor must hold each of the key's permissions on something: one held on some resources
    only is accepted, and the key then acts on those only (its rights are its own ∩ its
    creator's, at every use), while one held on nothing is refused. A key `awaiting_approval`
    verifies only once its issuance is approved; its lifetime starts then.
    """
    access.gate(actor, "keys", "create")
    actor.require_reached(permissions, "create this key")
    if actor.member_id is None:
        raise Conflict("Only a member can own a key.", code="key_needs_member")
    rates.check_key_creation(uow, actor.member_id, acquisition_id)
    new = generate_key(repository.key_prefix(uow.session, actor.workspace_id))
    now = uow.clock.now()
    expires_at = now + lifetime if lifetime is not None and not awaiting_approval else None
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
        awaiting_approval=awaiting_approval,
        created_at=now,
        updated_at=now,
        last_used_at=None,
    )
    repository.add(uow.session, key)
    record(
        uow,
        actor,
        key,
        "create",
        {
            "kind": key.kind,
            "acquisition_id": key.acquisition_id,
            "permissions": key.permissions,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            "awaiting_approval": awaiting_approval,
        },
        event=None if awaiting_approval else Event.KEY_CREATED,
        api=api,
        recipients=[key.creator_member_id],
    )
    notice = PENDING_NOTICE if awaiting_approval else COPY_NOTICE
    created = KeyCreated(**key_out(uow, key, None).model_dump(), key=new.secret, notice=notice)
    return key, created


def issue_account_key(uow: UnitOfWork, actor: Actor, body: AccountKeyCreate) -> KeyCreated:
    """Create an account key (to call the management API) for the acting member."""
    _, created = issue_key(
        uow,
        actor,
        kind=KeyKind.ACCOUNT,
        name=body.name,
        permissions=PermissionSet.parse(body.permissions),
        lifetime=body.expires_in,
        metadata=body.metadata,
    )
    return created


def create_account_key(
    uow: UnitOfWork, actor: Actor, body: AccountKeyCreate, idempotency_key: str | None = None
) -> tuple[KeyCreated, bool]:
    """Like `issue_account_key`, replaying an earlier answer (without the secret) on retries.

    Returns the answer and whether it is a replay.
    """
    created, _, replayed = idempotency.created_once(
        uow,
        actor,
        idempotency_key,
        idempotency.fingerprint("key.create", body),
        KeyCreated,
        lambda: (issue_account_key(uow, actor, body), 201),
    )
    return created, replayed


def plan_issuance(actor: Actor, acquisition: Resource, api: Api, allow_request: bool) -> Step:
    """Whether a key of the acquisition is made at once or awaiting an approver."""
    return plan_issue(
        policy_of_api(api).approvals,
        approver=is_approver(actor, acquisition),
        allow_request=allow_request,
    )


def verdict_for(actor: Actor, verdict: Verdict) -> Verdict:
    """The verdict on a key as the actor may hear it: a key its `keys:verify` does not reach
    is answered exactly like an unknown key (no role verifies through an approver's reach, so
    the API's approvers are not needed here)."""
    access.gate(actor, "keys", "verify")
    if verdict.key_id is None:
        return verdict
    terms = verdict.acquisition
    resource = (
        Resource("keys", verdict.key_id, owner=verdict.member_id)
        if terms is None
        else replace(terms.resource(), kind="keys", id=verdict.key_id)
    )
    return verdict if permits(actor.standing, resource, "verify") else UNKNOWN


def get_key(uow: UnitOfWork, actor: Actor, key_id: str) -> KeyOut:
    return key_out(uow, access.find(uow, actor, access.KEYS, key_id, "read"))


def own_account_key(uow: UnitOfWork, actor: Actor, key_id: str, action: str) -> KeyOut:
    """One of the actor's own account keys, if the actor may `action` it: what "your account"
    shows. Any other key, whoever may see it, is answered like a key that does not exist."""
    key = access.find(uow, actor, access.KEYS, key_id, action)
    if key.kind != KeyKind.ACCOUNT.value or key.creator_member_id != actor.member_id:
        raise access.KEYS.not_found(key_id, Hidden)
    return key_out(uow, key)


def list_keys(
    uow: UnitOfWork,
    actor: Actor,
    filters: KeyFilter,
    page: PageRequest,
    sort: KeySort = KeySort.NEWEST,
) -> Page[KeyOut]:
    """The keys the actor may see, newest first or in the order `sort` asks; a cursor
    continues only the order it came from."""
    access.gate(actor, "keys", "read")
    rows = repository.list_keys(
        uow.session,
        actor.workspace_id,
        filters,
        page,
        uow.clock.now(),
        visible=access.visible(actor, access.KEYS),
        sort=sort,
    )
    kept, cursor = split_page(rows, page, lambda k: k.id)
    if cursor is not None and sort is not KeySort.NEWEST:
        cursor = encode_timed_cursor(sort.value, kept[-1].last_used_at, kept[-1].id)
    pending = repository.pending_requests(uow.session, [k.id for k in kept])
    return Page[KeyOut](data=[key_out(uow, k, pending.get(k.id)) for k in kept], next_cursor=cursor)


def update_key(uow: UnitOfWork, actor: Actor, key_id: str, body: KeyUpdate) -> KeyOut:
    key = access.find(uow, actor, access.KEYS, key_id, "update", for_update=True)
    changed: dict[str, Any] = {}
    if body.name is not None and body.name != key.name:
        if key.acquisition_id is not None and repository.named(
            uow.session, key.acquisition_id, body.name
        ):
            raise Conflict(
                f"This acquisition already has a key named {body.name!r}.", code="key_name_taken"
            )
        changed["name"] = {"from": key.name, "to": body.name}
        key.name = body.name
    if body.metadata is not None and body.metadata != key.meta:
        changed["metadata"] = True
        key.meta = body.metadata
    if changed:
        key.updated_at = uow.clock.now()
        uow.session.flush()
        record(uow, actor, key, "update", changed, feed=False)
    return key_out(uow, key)


def revoke_now(uow: UnitOfWork, actor: Actor, key: ApiKey, reason: str) -> None:
    """Revoke at once; a request still pending on the key is closed, never applied later."""
    now = uow.clock.now()
    key.revoked_at = now
    key.revoked_by = actor.member_id
    key.updated_at = now
    uow.session.flush()
    repository.close_pending(uow.session, key.id, "key_revoked", now)
    record(uow, actor, key, "revoke", {"reason": reason})


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
    record(
        uow,
        actor,
        key,
        "renew",
        {
            "expires_at_before": before.isoformat() if before else None,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
    )


def request_out(request: KeyRequest) -> KeyRequestOut:
    return KeyRequestOut.model_validate(request)


def open_request(
    uow: UnitOfWork,
    actor: Actor,
    key: ApiKey,
    policy: Policy,
    change: Change,
    reason: str,
    expires_in: timedelta | None = None,
) -> KeyRequestOut:
    """A pending request for an approver of the key's API; the key stays as it is meanwhile."""
    api = policy.api
    if api is None:  # only an API's policy asks for approval
        raise Conflict("Account keys need nobody's approval.", code="no_approval_policy")
    rates.check_key_request(uow, actor.member_id)
    request = KeyRequest(
        id=new_id("kreq"),
        workspace_id=key.workspace_id,
        key_id=key.id,
        key_name=key.name,
        acquisition_id=key.acquisition_id,
        api_id=api.id,
        action=change.value,
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
    event = {
        Change.ISSUE: Event.ISSUANCE_REQUESTED,
        Change.RENEW: Event.RENEWAL_REQUESTED,
        Change.REVOKE: Event.REVOCATION_REQUESTED,
    }[change]
    record(
        uow,
        actor,
        key,
        f"{change.value}.request",
        {"request_id": request.id, "reason": reason},
        event=event,
        api=api,
        recipients=approvers(
            uow, key.workspace_id, access.resource_of(uow, key), but=actor.member_id
        ),
        feed=False,
        request=out.model_dump(mode="json"),
    )
    return out


def _plan(
    uow: UnitOfWork,
    actor: Actor,
    key: ApiKey,
    change: Change,
    policy: Policy,
    *,
    allow_request: bool,
    revoke_first: bool = False,
) -> tuple[Step, KeyFacts]:
    known = facts(uow, key)
    step = plan(
        change,
        known,
        uow.clock.now(),
        policy.approvals,
        approver=is_approver(actor, access.resource_of(uow, key)),
        allow_request=allow_request,
        revoke_first=revoke_first,
    )
    return step, known


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
    key = access.find(uow, actor, access.KEYS, key_id, "renew", for_update=True)
    policy = policy_of(uow, key)
    step, _ = _plan(uow, actor, key, Change.RENEW, policy, allow_request=allow_request)
    capped_lifetime(policy.lifetime, asked)
    if step is Step.REQUEST:
        return open_request(uow, actor, key, policy, Change.RENEW, reason, asked)
    renew_now(uow, actor, key, policy, asked)
    _tell(uow, Event.KEY_RENEWED, key, policy.api, [key.creator_member_id, actor.member_id])
    return key_out(uow, key, None)


def _tell(
    uow: UnitOfWork,
    event: Event,
    key: ApiKey,
    api: Api | None,
    recipients: Sequence[str | None],
    **extra: Any,
) -> None:
    notify(uow, key.workspace_id, event, {**key_data(key, api), **extra}, recipients)


def rotate_key(
    uow: UnitOfWork, actor: Actor, key_id: str, grace: timedelta, *, sealer: Sealer
) -> KeyCreated:
    """A new secret for the same key (id, name, rights, expiry). The old one keeps working for
    `grace`; PT0S stops it at once, and a grace longer than the policy's maximum is refused
    (422 `grace_too_long`, naming the maximum), never shortened. Only the latest rotation's old
    secret is kept: rotating again ends the grace of the one before.

    Only the owner of an account key, and only members of an acquisition's organization for
    its keys, receive the new secret; the connectors that deliver the key get it too (sealed
    with `sealer`) and deliver it again, and the answer's notice names them."""
    key = access.find(
        uow, actor, access.KEYS, key_id, "rotate", for_update=True, receives_secret=True
    )
    # Whoever rotates receives a working secret: like a creator, they must hold what it grants
    # (somewhere: the key acts only where they hold it).
    actor.require_reached(PermissionSet.parse_stored(key.permissions), "rotate this key")
    policy = policy_of(uow, key)
    _plan(uow, actor, key, Change.ROTATE, policy, allow_request=False)
    if grace > policy.max_grace:
        longest = iso_duration(policy.max_grace) or "PT0S"
        raise InvalidInput(
            f"A rotation of this key keeps the old secret working at most {longest} (its "
            "key policy's maximum grace); choose that or less, or PT0S to stop it at once.",
            code="grace_too_long",
            details={"max_grace": longest},
        )
    now = uow.clock.now()
    new = generate_key(repository.key_prefix(uow.session, key.workspace_id))
    key.previous_hash = key.hash if grace > timedelta(0) else None
    key.previous_hash_expires_at = now + grace if grace > timedelta(0) else None
    key.hash = new.hash
    key.start = new.start
    key.rotated_at = now
    key.updated_at = now
    uow.session.flush()
    connectors = hand_over(uow, key.workspace_id, key.id, new.secret, sealer)
    valid_until = key.previous_hash_expires_at
    shown_until = valid_until.isoformat() if valid_until else None
    record(
        uow,
        actor,
        key,
        "rotate",
        {
            "grace": iso_duration(grace),
            "previous_key_expires_at": shown_until,
            "connectors": connectors,
        },
        event=Event.KEY_ROTATED,
        api=policy.api,
        recipients=[key.creator_member_id, actor.member_id],
        previous_key_expires_at=shown_until,
    )
    notice = ROTATED_NOTICE
    if connectors:
        notice += f" Connector(s) {', '.join(connectors)} deliver the new secret again."
    return KeyCreated(**key_out(uow, key).model_dump(), key=new.secret, notice=notice)


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
    key = access.find(uow, actor, access.KEYS, key_id, "revoke", for_update=True)
    policy = policy_of(uow, key)
    step, known = _plan(uow, actor, key, Change.REVOKE, policy, allow_request=allow_request)
    if step is Step.NOTHING:
        return key_out(uow, key, None)
    if step is Step.REQUEST:
        return open_request(uow, actor, key, policy, Change.REVOKE, reason)
    revoke_now(uow, actor, key, reason or "requested")
    _tell(
        uow,
        Event.KEY_REVOKED,
        key,
        policy.api,
        [key.creator_member_id, actor.member_id],
        reason=reason,
        closed_request_id=known.pending_request,
    )
    return key_out(uow, key, None)


def _delete(uow: UnitOfWork, actor: Actor, key: ApiKey) -> None:
    repository.delete(uow.session, key)
    record(uow, actor, key, "delete")


def delete_key(uow: UnitOfWork, actor: Actor, key_id: str, *, revoke: bool = False) -> None:
    """Delete a revoked key (its audit trail stays), never one with a pending request. With
    `revoke`, an active key is revoked and deleted in one step, where revoking it needs no
    approval."""
    key = access.find(uow, actor, access.KEYS, key_id, "delete", for_update=True)
    if revoke and key.revoked_at is None:
        access.find(uow, actor, access.KEYS, key_id, "revoke")
    policy = policy_of(uow, key)
    _plan(uow, actor, key, Change.DELETE, policy, allow_request=False, revoke_first=revoke)
    if key.revoked_at is None:
        revoke_now(uow, actor, key, "deleted")
        _tell(uow, Event.KEY_REVOKED, key, policy.api, [key.creator_member_id, actor.member_id])
    _delete(uow, actor, key)


def bulk_delete(uow: UnitOfWork, actor: Actor, key_ids: list[str]) -> KeyBulkDeleted:
    """Delete the revoked keys among `key_ids`, skipping the others, all in this transaction.
    If any of them has a pending request nothing is deleted and the answer names them. Keys
    the actor may not see are answered like keys that do not exist."""
    access.gate(actor, "keys", "delete")
    found = repository.many_for_update(uow.session, actor.workspace_id, key_ids)
    decisions = {
        key.id: decide(actor.standing, access.resource_of(uow, key), "delete") for key in found
    }
    keys = {key.id: key for key in found if decisions[key.id].outcome is not Outcome.HIDDEN}
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
        elif decisions[key_id].outcome is not Outcome.ALLOWED:
            results.append(
                KeyBulkItem(
                    id=key_id,
                    result=BulkOutcome.SKIPPED,
                    code=decisions[key_id].code,
                    message="The caller may not delete this key.",
                )
            )
        else:
            _delete(uow, actor, key)
            results.append(KeyBulkItem(id=key_id, result=BulkOutcome.DELETED))
    deleted = sum(r.result is BulkOutcome.DELETED for r in results)
    return KeyBulkDeleted(deleted=deleted, skipped=len(results) - deleted, results=results)


def apply_lifetime(uow: UnitOfWork, api: Api, lifetime: timedelta | None) -> int:
    """A policy's new lifetime applied to the API's keys in use, as if renewed now; expired,
    revoked and not yet approved keys are left alone (an expired key is renewed by its holder).
    Returns how many keys changed."""
    now = uow.clock.now()
    changed = 0
    for key in repository.unrevoked_keys_of_api(uow.session, api.id):
        if key.awaiting_approval or (key.expires_at is not None and key.expires_at <= now):
            continue
        key.expires_at = now + lifetime if lifetime is not None else None
        key.updated_at = now
        uow.record_change(FeedChange(key.workspace_id, Entity.KEY, key.id))
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
    if actor.key_id is None:
        return None
    key = access.get(uow, access.KEYS, actor.workspace_id, actor.key_id)
    return key_out(uow, key) if key is not None else None
