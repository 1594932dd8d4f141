"""SQL for the audit log: insert and filtered, paginated reads. No updates, no deletes."""

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from keyward.db.models import AuditEvent
from keyward.domains.audit.schemas import AuditFilter
from keyward.domains.pagination import PageRequest, paginate


def add(session: Session, event: AuditEvent) -> None:
    session.add(event)
    session.flush()


def list_events(
    session: Session, workspace_id: str, filters: AuditFilter, page: PageRequest
) -> Sequence[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if filters.actor is not None:
        query = query.where(
            or_(
                AuditEvent.actor_member_id == filters.actor,
                AuditEvent.actor_key_id == filters.actor,
            )
        )
    if filters.target is not None:
        query = query.where(AuditEvent.target_id == filters.target)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.outcome is not None:
        query = query.where(AuditEvent.outcome == filters.outcome)
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.occurred_at < filters.until)
    return session.scalars(paginate(query, AuditEvent.id, page)).all()
