"""SQL for the outbox: enqueue, claim with a lease, and settle."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from keyward.db.models import OutboxMessage

PENDING = "pending"
DONE = "done"
FAILED = "failed"


def add(session: Session, message: OutboxMessage) -> None:
    session.add(message)
    session.flush()


def claim(
    session: Session, kinds: Iterable[str], now: datetime, limit: int, lease_until: datetime
) -> Sequence[OutboxMessage]:
    """Due messages of these kinds, leased to the caller until `lease_until`.

    On PostgreSQL rows another worker is claiming are skipped (FOR UPDATE SKIP LOCKED); SQLite
    runs the claim under its single write lock. Either way a message is leased to one worker.
    """
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == PENDING,
            OutboxMessage.kind.in_(list(kinds)),
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    messages = session.scalars(query).all()
    for message in messages:
        message.locked_until = lease_until
        message.attempts += 1
    session.flush()
    return messages


def release(session: Session, message_ids: list[str]) -> None:
    """Give claimed messages back, unattempted: due again at once for the next claim."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(locked_until=None, attempts=OutboxMessage.attempts - 1)
        .execution_options(synchronize_session=False)
    )


def get(session: Session, message_id: str) -> OutboxMessage | None:
    return session.get(OutboxMessage, message_id)


def pending(session: Session, kind: str) -> Sequence[OutboxMessage]:
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == kind, OutboxMessage.status == PENDING)
        .order_by(OutboxMessage.id)
    ).all()


def counts(session: Session) -> tuple[int, int, int]:
    """Messages pending, pending after at least one failed attempt, and given up."""
    retrying = case((OutboxMessage.attempts > 0, 1), else_=0)
    pending_, retried = session.execute(
        select(func.count(), func.coalesce(func.sum(retrying), 0)).where(
            OutboxMessage.status == PENDING
        )
    ).one()
    failed = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == FAILED)
    )
    return int(pending_), int(retried), int(failed or 0)
