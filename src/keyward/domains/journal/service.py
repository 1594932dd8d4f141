"""Restoring without resurrection: re-applying the journal's entries a snapshot predates, and
the restore marks that keep `keyward serve` from serving a restore made without a journal.

Re-applying is idempotent: a key already revoked or gone, a member already inactive, gone or
without the rights taken, is left as it is, so an entry applied twice (or journaled by a
transaction that then failed to commit: it names a change someone asked for) never grants
anything. Each entry that changes something is recorded in the change feed and audited as
`restore.reapplied`, by the system. One that would leave a workspace without an active admin
(the admin who replaced them came after the snapshot) is not applied, and audited as refused.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from keyward.core.actors import Actor, Via
from keyward.core.ownership import SYSTEM
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import ApiKey
from keyward.domains.audit import service as audit
from keyward.domains.journal import entries, repository

# Restore events are audited about this target in every workspace, so the newest is one
# index read away.
RESTORE_TARGET: Final = "database"
REAPPLIED: Final = "restore.reapplied"
RESTORED: Final = "restore.completed"
UNJOURNALED: Final = "restore.unjournaled"
ACCEPTED: Final = "restore.accepted"


@dataclass(frozen=True, slots=True)
class Reapplied:
    considered: int
    changed: int
    # Entries not applied because they would leave a workspace without an active admin.
    kept_last_admin: int


def system(workspace_id: str) -> Actor:
    return Actor(workspace_id, None, None, SYSTEM, Via.SYSTEM)


def after_snapshot(
    journal: Iterable[dict[str, Any]], feed_seq: int, taken_at: datetime
) -> list[dict[str, Any]]:
    """The entries a snapshot ending at feed position `feed_seq` does not hold, oldest first:
    those of a later position, and those without one (their transaction recorded no feed
    change) from `taken_at` on."""
    later = []
    for entry in journal:
        if entry.get("v") != entries.VERSION or entry.get("action") not in entries.ACTIONS:
            continue
        seq = entry.get("seq")
        if isinstance(seq, int):
            if seq > feed_seq:
                later.append(entry)
        elif datetime.fromisoformat(str(entry["at"])) >= taken_at:
            later.append(entry)
    return sorted(later, key=lambda e: (str(e["at"]), e.get("seq") or 0))


def _revoke(uow: UnitOfWork, key: ApiKey, at: datetime, by: str | None) -> bool:
    if key.revoked_at is not None:
        return False
    key.revoked_at = at
    key.revoked_by = by
    key.updated_at = uow.clock.now()
    for request in repository.pending_requests(uow.session, key.id):
        request.status = "closed"
        request.outcome = "key_revoked"
        request.decided_at = at
    uow.session.flush()
    uow.record_change(Change(key.workspace_id, Entity.KEY, key.id))
    return True


# What re-applying one entry did.
CHANGED: Final = "changed"
UNCHANGED: Final = "unchanged"
# Refused: it would leave the workspace without an active admin (one made after the snapshot
# is not in the restored database), and nobody could then manage it.
LAST_ADMIN: Final = "last_admin"


def _is_admin(roles: set[str], permissions: set[str]) -> bool:
    return "admin" in roles or "*:*" in permissions


def _apply_to_key(uow: UnitOfWork, entry: dict[str, Any], at: datetime) -> str:
    workspace_id, target_id = str(entry["workspace_id"]), str(entry["target_id"])
    key = repository.key(uow.session, workspace_id, target_id)
    if key is None:
        return UNCHANGED
    by = entry.get("actor_member_id")
    changed = _revoke(uow, key, at, by if isinstance(by, str) else None)
    if entry["action"] == entries.KEY_DELETE:
        repository.delete(uow.session, key)
        uow.record_change(Change(workspace_id, Entity.KEY, target_id))
        changed = True
    return CHANGED if changed else UNCHANGED


def _apply_to_member(uow: UnitOfWork, entry: dict[str, Any], at: datetime) -> str:
    workspace_id, target_id = str(entry["workspace_id"]), str(entry["target_id"])
    session = uow.session
    member = repository.member(session, workspace_id, target_id)
    if member is None:
        return UNCHANGED
    action = entry["action"]
    roles, permissions = repository.grants(session, member.id)
    taken_roles = [str(r) for r in entry.get("roles") or []]
    taken_permissions = [str(p) for p in entry.get("permissions") or []]
    if action == entries.MEMBER_RIGHTS_REMOVE:
        stays_admin = _is_admin(roles - set(taken_roles), permissions - set(taken_permissions))
    else:
        stays_admin = False
    if (
        member.active
        and _is_admin(roles, permissions)
        and not stays_admin
        and repository.active_admins(session, workspace_id) == {member.id}
    ):
        return LAST_ADMIN
    if action == entries.MEMBER_DELETE:
        for key in repository.unrevoked_keys_of(session, workspace_id, member.id):
            _revoke(uow, key, at, None)
        repository.delete(session, member)
    elif action == entries.MEMBER_DEACTIVATE:
        if not member.active:
            return UNCHANGED
        member.active = False
        member.updated_at = uow.clock.now()
        session.flush()
    elif not repository.remove_grants(session, member.id, taken_roles, taken_permissions):
        return UNCHANGED
    uow.record_change(Change(workspace_id, Entity.MEMBER, target_id))
    return CHANGED


def reapply(uow: UnitOfWork, later: list[dict[str, Any]]) -> Reapplied:
    """Do again what the entries `later` record, in order, in workspaces the database holds."""
    present = set(repository.workspace_ids(uow.session))
    changed = refused = 0
    for entry in later:
        workspace_id = str(entry["workspace_id"])
        if workspace_id not in present:
            continue
        at = datetime.fromisoformat(str(entry["at"]))
        action = str(entry["action"])
        on_member = action.startswith("member.")
        done = _apply_to_member(uow, entry, at) if on_member else _apply_to_key(uow, entry, at)
        if done == UNCHANGED:
            continue
        changed += done == CHANGED
        refused += done == LAST_ADMIN
        audit.record(
            uow,
            system(workspace_id),
            REAPPLIED,
            target_type="member" if on_member else "key",
            target_id=str(entry["target_id"]),
            outcome="success" if done == CHANGED else "refused",
            code=None if done == CHANGED else LAST_ADMIN,
            details={
                "action": action,
                "at": entry["at"],
                "seq": entry.get("seq"),
                "reason": entry.get("reason"),
                "roles": entry.get("roles"),
                "permissions": entry.get("permissions"),
                "audit_event_id": entry.get("audit_event_id"),
            },
        )
    return Reapplied(len(later), changed, refused)


def mark_restored(uow: UnitOfWork, details: dict[str, Any], *, journaled: bool) -> None:
    """Audit the restore in every workspace; one made without a journal is `unjournaled`,
    which `keyward serve` refuses to serve until the operator accepts it."""
    for workspace_id in repository.workspace_ids(uow.session):
        audit.record(
            uow,
            system(workspace_id),
            RESTORED if journaled else UNJOURNALED,
            target_type=RESTORE_TARGET,
            target_id=RESTORE_TARGET,
            details=details,
        )


def unaccepted(uow: UnitOfWork) -> list[str]:
    """The workspaces restored without a journal whose restore nobody has accepted yet."""
    return [
        workspace_id
        for workspace_id in repository.workspace_ids(uow.session)
        if repository.newest_action_on(uow.session, workspace_id, RESTORE_TARGET) == UNJOURNALED
    ]


def accept(uow: UnitOfWork) -> list[str]:
    """Accept a restore made without a journal, in every workspace waiting for it."""
    waiting = unaccepted(uow)
    for workspace_id in waiting:
        audit.record(
            uow,
            system(workspace_id),
            ACCEPTED,
            target_type=RESTORE_TARGET,
            target_id=RESTORE_TARGET,
            details={"accepted_without_journal": True},
        )
    return waiting
