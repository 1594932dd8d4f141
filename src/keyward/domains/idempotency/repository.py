"""SQL for idempotency records."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keyward.core.errors import Conflict
from keyward.db.models import IdempotencyRecord


def get(
    session: Session, workspace_id: str, caller_id: str, idempotency_key: str
) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.workspace_id == workspace_id,
            IdempotencyRecord.caller_id == caller_id,
            IdempotencyRecord.idempotency_key == idempotency_key,
        )
    )


def add(session: Session, record: IdempotencyRecord) -> None:
    """Store the record; a concurrent request that stored one first (same caller and key)
    is a 409 `idempotency_key_in_use`."""
    # What the creation itself wrote fails on its own, not as a clash of records.
    session.flush()
    session.add(record)
    try:
        session.flush()
    except IntegrityError as clash:
        raise Conflict(
            "Another request with this Idempotency-Key was being made at the same time; "
            "retry it to receive that request's answer.",
            code="idempotency_key_in_use",
        ) from clash


def delete(session: Session, record: IdempotencyRecord) -> None:
    session.delete(record)
    session.flush()
