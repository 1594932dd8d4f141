"""Restoring without resurrection: re-applying the journal's entries a snapshot predates, and
the restore marks that keep `keyward serve` from serving a restore made without a journal.

Re-applying is idempotent: a key already revoked or gone, a member already inactive or gone,
is left as it is, so an entry applied twice (or journaled by a transaction that then failed to
commit: it names a change someone asked for) never grants anything. Each entry that changes
something is recorded in the change feed and audited as `restore.reapplied`, by the system.
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


def _apply(uow: UnitOfWork, entry: dict[str, Any]) -> bool:
    workspace_id = str(entry["workspace_id"])
    target_id = str(entry["target_id"])
    at = datetime.fromisoformat(str(entry["at"]))
    by = entry.get("actor_member_id")
    action = entry["action"]
    session = uow.session
    if action in (entries.KEY_REVOKE, entries.KEY_DELETE):
        key = repository.key(session, workspace_id, target_id)
        if key is None:
            return False
        changed = _revoke(uow, key, at, by if isinstance(by, str) else None)
        if action == entries.KEY_DELETE:
            repository.delete(session, key)
            uow.record_change(Change(workspace_id, Entity.KEY, target_id))
            changed = True
        return changed
    member = repository.member(session, workspace_id, target_id)
    if member is None:
        return False
    changed = False
    if action == entries.MEMBER_DELETE:
        for key in repository.unrevoked_keys_of(session, workspace_id, member.id):
            _revoke(uow, key, at, None)
        repository.delete(session, member)
        changed = True
    elif member.active:
        member.active = False
        member.updated_at = uow.clock.now()
        session.flush()
        changed = True
    if changed:
        uow.record_change(Change(workspace_id, Entity.MEMBER, target_id))
    return changed


def reapply(uow: UnitOfWork, later: list[dict[str, Any]]) -> Reapplied:
    """Do again what the entries `later` record, in order, in workspaces the database holds."""
    present = set(repository.workspace_ids(uow.session))
    changed = 0
    for entry in later:
        workspace_id = str(entry["workspace_id"])
        if workspace_id not in present or not _apply(uow, entry):
            continue
        changed += 1
        audit.record(
            uow,
            system(workspace_id),
            REAPPLIED,
            target_type="member" if str(entry["action"]).startswith("member.") else "key",
            target_id=str(entry["target_id"]),
            details={
                "action": entry["action"],
                "at": entry["at"],
                "seq": entry.get("seq"),
                "reason": entry.get("reason"),
                "audit_event_id": entry.get("audit_event_id"),
            },
        )
    return Reapplied(len(later), changed)


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


def accept(uow: UnitOfWork, member_id: str | None = None) -> list[str]:
    """Accept a restore made without a journal, in every workspace waiting for it."""
    waiting = unaccepted(uow)
    for workspace_id in waiting:
        audit.record(
            uow,
            system(workspace_id),
            ACCEPTED,
            target_type=RESTORE_TARGET,
            target_id=RESTORE_TARGET,
            details={"accepted_without_journal": True, "by": member_id},
        )
    return waiting
