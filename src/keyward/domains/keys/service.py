"""The rules of API keys: who may create, see, change, revoke and delete which key.

A new key's permissions must be covered by the caller's own effective rights, so a key can never
grant more than its creator holds; the verifier intersects with the creator's rights again on
every use, so taking a right away later takes it from the key too.
"""

from datetime import datetime
from typing import Any

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, NotFound
from keyward.core.ids import is_id, new_id, quote
from keyward.core.keys import KeyKind, generate_key, key_state
from keyward.core.permissions import PermissionSet
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import ApiKey
from keyward.domains.audit import service as audit
from keyward.domains.idempotency import service as idempotency
from keyward.domains.keys import repository
from keyward.domains.keys.schemas import (
    COPY_NOTICE,
    REPLAY_NOTICE,
    AccountKeyCreate,
    KeyCreated,
    KeyFilter,
    KeyOut,
    KeyUpdate,
)
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.domains.workspaces import repository as workspaces


def _out(uow: UnitOfWork, key: ApiKey) -> KeyOut:
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
        created_at=key.created_at,
        updated_at=key.updated_at,
        last_used_at=key.last_used_at,
    )


def _find(uow: UnitOfWork, actor: Actor, key_id: str) -> ApiKey:
    key = repository.get(uow.session, actor.workspace_id, key_id) if is_id(key_id, "key") else None
    if key is None:
        raise NotFound(f"No key {quote(key_id)} in this workspace.", code="key_not_found")
    return key


def _changed(uow: UnitOfWork, key: ApiKey) -> None:
    uow.record_change(Change(key.workspace_id, Entity.KEY, key.id))


def issue_key(
    uow: UnitOfWork,
    actor: Actor,
    *,
    kind: KeyKind,
    name: str,
    permissions: PermissionSet,
    expires_at: datetime | None,
    metadata: dict[str, Any],
    acquisition_id: str | None = None,
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
    key = ApiKey(
        id=new_id("key"),
        workspace_id=actor.workspace_id,
        kind=kind.value,
        name=name,
        start=new.start,
        hash=new.hash,
        creator_member_id=actor.member_id,
        acquisition_id=acquisition_id,
        permissions=permissions.strings(),
        meta=metadata,
        expires_at=expires_at,
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
    return KeyCreated(**_out(uow, key).model_dump(), key=new.secret, notice=COPY_NOTICE)


def issue_account_key(uow: UnitOfWork, actor: Actor, body: AccountKeyCreate) -> KeyCreated:
    """Create an account key (to call the management API) for the acting member."""
    return issue_key(
        uow,
        actor,
        kind=KeyKind.ACCOUNT,
        name=body.name,
        permissions=PermissionSet.parse(body.permissions),
        expires_at=uow.clock.now() + body.expires_in if body.expires_in is not None else None,
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
    return _out(uow, _find(uow, actor, key_id))


def list_keys(uow: UnitOfWork, actor: Actor, filters: KeyFilter, page: PageRequest) -> Page[KeyOut]:
    actor.require("keys", "read")
    rows = repository.list_keys(uow.session, actor.workspace_id, filters, page, uow.clock.now())
    kept, cursor = split_page(rows, page, lambda k: k.id)
    return Page[KeyOut](data=[_out(uow, k) for k in kept], next_cursor=cursor)


def update_key(uow: UnitOfWork, actor: Actor, key_id: str, body: KeyUpdate) -> KeyOut:
    actor.require("keys", "update", key_id)
    key = _find(uow, actor, key_id)
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


def _revoke(uow: UnitOfWork, actor: Actor, key: ApiKey, reason: str) -> None:
    now = uow.clock.now()
    key.revoked_at = now
    key.revoked_by = actor.member_id
    key.updated_at = now
    uow.session.flush()
    _changed(uow, key)
    audit.record(
        uow,
        actor,
        "key.revoke",
        target_type="key",
        target_id=key.id,
        details={"name": key.name, "reason": reason},
    )


def revoke_key(uow: UnitOfWork, actor: Actor, key_id: str) -> KeyOut:
    """Stop a key at once and for good. Revoking a revoked key changes nothing."""
    actor.require("keys", "revoke", key_id)
    key = _find(uow, actor, key_id)
    if key.revoked_at is None:
        _revoke(uow, actor, key, "requested")
    return _out(uow, key)


def delete_key(uow: UnitOfWork, actor: Actor, key_id: str, *, revoke: bool = False) -> None:
    """Delete a revoked key (its audit trail stays). With `revoke`, revoke it first in one step;
    an acquisition key is always revoked and deleted in one step."""
    actor.require("keys", "delete", key_id)
    key = _find(uow, actor, key_id)
    if key.revoked_at is None:
        if not revoke and key.kind != KeyKind.ACQUISITION:
            raise Conflict(
                "Only a revoked key can be deleted: revoke it first, or delete with "
                "?revoke=true to revoke and delete in one step.",
                code="key_not_revoked",
                details={"key_id": key.id},
            )
        actor.require("keys", "revoke", key_id)
        _revoke(uow, actor, key, "deleted")
    repository.delete(uow.session, key)
    _changed(uow, key)
    audit.record(
        uow, actor, "key.delete", target_type="key", target_id=key.id, details={"name": key.name}
    )


def revoke_keys_created_by(uow: UnitOfWork, actor: Actor, member_id: str, reason: str) -> int:
    """Revoke every unrevoked key a member created; returns how many."""
    keys = repository.unrevoked_created_by(uow.session, actor.workspace_id, member_id)
    for key in keys:
        _revoke(uow, actor, key, reason)
    return len(keys)


def own_key(uow: UnitOfWork, actor: Actor) -> KeyOut | None:
    """The key the actor is calling with; every key may see itself."""
    return _out(uow, _find(uow, actor, actor.key_id)) if actor.key_id else None
