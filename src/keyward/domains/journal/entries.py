"""Which audited actions take access away, and the journal entry each becomes (never a secret).

Every change is audited, so the audit log's one entry point is where the journal learns of
revocations, deletions and deactivations, whichever front end or job made them.
"""

from typing import Any, Final

from keyward.db.models import AuditEvent

# The journal's format version, in every entry.
VERSION: Final = 1
KEY_REVOKE: Final = "key.revoke"
KEY_DELETE: Final = "key.delete"
MEMBER_DEACTIVATE: Final = "member.deactivate"
MEMBER_DELETE: Final = "member.delete"
# Roles or direct permissions taken from a member; those given at the same time are not kept.
MEMBER_RIGHTS_REMOVE: Final = "member.permissions.remove"
ACTIONS: Final = (KEY_REVOKE, KEY_DELETE, MEMBER_DEACTIVATE, MEMBER_DELETE, MEMBER_RIGHTS_REMOVE)


def _removed(change: Any) -> list[str]:
    """What a `{"from": [...], "to": [...]}` change of an audit event took away."""
    if not isinstance(change, dict):
        return []
    before, after = change.get("from") or [], change.get("to") or []
    return sorted(set(map(str, before)) - set(map(str, after)))


def journaled_action(event: AuditEvent) -> str | None:
    """The journal's action for a successful audited change that takes access away, else None."""
    if event.outcome != "success":
        return None
    if event.action == "member.update":
        return MEMBER_DEACTIVATE if event.details.get("active") is False else None
    if event.action == "member.permissions.update":
        details = event.details
        taken = _removed(details.get("roles")) or _removed(details.get("permissions"))
        return MEMBER_RIGHTS_REMOVE if taken else None
    return event.action if event.action in ACTIONS else None


def entry_of(event: AuditEvent) -> dict[str, Any] | None:
    """The journal entry of `event`, or None when it takes no access away. It carries what a
    restore needs to do it again (workspace, action, target, time, reason) and who did it; the
    details it copies have already been scrubbed of anything secret-shaped."""
    action = journaled_action(event)
    if action is None:
        return None
    reason = event.details.get("reason")
    removed = {}
    if action == MEMBER_RIGHTS_REMOVE:
        removed = {
            "roles": _removed(event.details.get("roles")),
            "permissions": _removed(event.details.get("permissions")),
        }
    return {
        "v": VERSION,
        "at": event.occurred_at.isoformat(),
        "workspace_id": event.workspace_id,
        "action": action,
        "target_id": event.target_id,
        "reason": reason if isinstance(reason, str) else None,
        "actor_type": event.actor_type,
        "actor_member_id": event.actor_member_id,
        "audit_event_id": event.id,
        **removed,
    }
