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
ACTIONS: Final = (KEY_REVOKE, KEY_DELETE, MEMBER_DEACTIVATE, MEMBER_DELETE)


def journaled_action(event: AuditEvent) -> str | None:
    """The journal's action for a successful audited change that takes access away, else None."""
    if event.outcome != "success":
        return None
    if event.action == "member.update":
        return MEMBER_DEACTIVATE if event.details.get("active") is False else None
    return event.action if event.action in ACTIONS else None


def entry_of(event: AuditEvent) -> dict[str, Any] | None:
    """The journal entry of `event`, or None when it takes no access away. It carries what a
    restore needs to do it again (workspace, action, target, time, reason) and who did it; the
    details it copies have already been scrubbed of anything secret-shaped."""
    action = journaled_action(event)
    if action is None:
        return None
    reason = event.details.get("reason")
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
    }
