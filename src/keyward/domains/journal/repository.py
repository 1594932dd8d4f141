"""The reads and writes a restore makes to re-apply the journal."""

from collections.abc import Sequence

from sqlalchemy import delete as delete_rows
from sqlalchemy import select
from sqlalchemy.orm import Session

from keyward.db.models import (
    ApiKey,
    AuditEvent,
    KeyRequest,
    Member,
    MemberPermission,
    MemberRole,
    Workspace,
)

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


def remove_grants(
    session: Session, member_id: str, roles: list[str], permissions: list[str]
) -> int:
    """Take these roles and direct permissions from the member; returns how many it held."""
    removed = 0
    if roles:
        done = session.execute(
            delete_rows(MemberRole).where(
                MemberRole.member_id == member_id, MemberRole.role.in_(roles)
            )
        )
        removed += int(getattr(done, "rowcount", 0) or 0)
    if permissions:
        done = session.execute(
            delete_rows(MemberPermission).where(
                MemberPermission.member_id == member_id,
                MemberPermission.permission.in_(permissions),
            )
        )
        removed += int(getattr(done, "rowcount", 0) or 0)
    session.flush()
    return removed


def active_admins(session: Session, workspace_id: str) -> set[str]:
    """Active members holding the admin role or `*:*` directly."""
    admins = (
        select(MemberRole.member_id)
        .where(MemberRole.role == "admin")
        .union(select(MemberPermission.member_id).where(MemberPermission.permission == "*:*"))
    )
    return set(
        session.scalars(
            select(Member.id).where(
                Member.workspace_id == workspace_id,
                Member.active.is_(True),
                Member.id.in_(admins),
            )
        )
    )


def grants(session: Session, member_id: str) -> tuple[set[str], set[str]]:
    """The member's roles and direct permissions."""
    roles = set(session.scalars(select(MemberRole.role).where(MemberRole.member_id == member_id)))
    permissions = set(
        session.scalars(
            select(MemberPermission.permission).where(MemberPermission.member_id == member_id)
        )
    )
    return roles, permissions
