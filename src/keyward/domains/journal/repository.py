"""The reads and writes a restore makes to re-apply the journal."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyward.db.models import ApiKey, AuditEvent, KeyRequest, Member, Workspace

PENDING = "pending"


def workspace_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Workspace.id).order_by(Workspace.id)))


def key(session: Session, workspace_id: str, key_id: str) -> ApiKey | None:
    return session.scalar(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    )


def member(session: Session, workspace_id: str, member_id: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.workspace_id == workspace_id, Member.id == member_id)
    )


def unrevoked_keys_of(session: Session, workspace_id: str, member_id: str) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.creator_member_id == member_id,
            ApiKey.revoked_at.is_(None),
        )
    ).all()


def pending_requests(session: Session, key_id: str) -> Sequence[KeyRequest]:
    return session.scalars(
        select(KeyRequest).where(KeyRequest.key_id == key_id, KeyRequest.status == PENDING)
    ).all()


def newest_action_on(session: Session, workspace_id: str, target_id: str) -> str | None:
    """The action of the workspace's newest audit event about `target_id`."""
    return session.scalar(
        select(AuditEvent.action)
        .where(AuditEvent.workspace_id == workspace_id, AuditEvent.target_id == target_id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def delete(session: Session, row: ApiKey | Member) -> None:
    session.delete(row)
    session.flush()
