"""Recording and reading audit events. Details pass through a scrubber: no secret gets in."""

import re
from typing import Any

from keyward.core.actors import Actor
from keyward.core.ids import new_id
from keyward.db.engine import UnitOfWork
from keyward.db.models import AuditEvent
from keyward.domains import access
from keyward.domains.audit import repository
from keyward.domains.audit.schemas import AuditEventOut, AuditFilter
from keyward.domains.journal.entries import entry_of as journal_entry
from keyward.domains.pagination import Page, PageRequest, split_page

_SECRET_SHAPED = re.compile(r"[a-z][a-z0-9]{1,11}_[0-9A-Za-z]{38}")
_SECRET_FIELDS = frozenset({"key", "secret", "password", "password_hash", "hash"})
REDACTED = "[redacted]"


def scrub(value: Any) -> Any:
    """Replace anything that looks like a key or sits under a secret-sounding name."""
    if isinstance(value, str):
        return _SECRET_SHAPED.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in _SECRET_FIELDS else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def record(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str = "success",
    code: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    event = AuditEvent(
        id=new_id("evt"),
        workspace_id=actor.workspace_id,
        occurred_at=uow.clock.now(),
        actor_type=actor.via.value,
        actor_key_id=actor.key_id,
        actor_member_id=actor.member_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        code=code,
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:300] or None,
        request_id=actor.request_id,
        details=scrub(details or {}),
    )
    repository.add(uow.session, event)
    # What takes access away is journaled outside the database too (`domains.journal`).
    entry = journal_entry(event)
    if entry is not None:
        uow.journal(entry)


def list_events(
    uow: UnitOfWork, actor: Actor, filters: AuditFilter, page: PageRequest
) -> Page[AuditEventOut]:
    # The log is the workspace's: only a right across the whole workspace reads it.
    access.gate(actor, "audit", "read", workspace_wide=True)
    rows = repository.list_events(uow.session, actor.workspace_id, filters, page)
    kept, cursor = split_page(rows, page, lambda e: e.id)
    return Page[AuditEventOut](
        data=[AuditEventOut.model_validate(e) for e in kept], next_cursor=cursor
    )
