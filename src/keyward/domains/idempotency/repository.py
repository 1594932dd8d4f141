"""SQL for idempotency records."""

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    session.add(record)
    session.flush()


def delete(session: Session, record: IdempotencyRecord) -> None:
    session.delete(record)
    session.flush()
