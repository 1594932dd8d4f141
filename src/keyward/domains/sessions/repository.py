"""SQL for portal sessions and sign-in attempts."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from keyward.db.models import LoginAttempt, PortalSession


def add(session: Session, row: PortalSession | LoginAttempt) -> None:
    session.add(row)
    session.flush()


def by_token_hash(session: Session, token_hash: bytes) -> PortalSession | None:
    return session.scalar(select(PortalSession).where(PortalSession.token_hash == token_hash))


def delete_session(session: Session, row: PortalSession) -> None:
    session.delete(row)
    session.flush()


def delete_session_by_id(session: Session, workspace_id: str, session_id: str) -> None:
    session.execute(
        delete(PortalSession).where(
            PortalSession.workspace_id == workspace_id, PortalSession.id == session_id
        )
    )


def delete_sessions_of(session: Session, member_id: str) -> int:
    result = session.execute(delete(PortalSession).where(PortalSession.member_id == member_id))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_sessions_before(
    session: Session, *, created_before: datetime, seen_before: datetime
) -> None:
    """Remove the sessions that ended by either timeout."""
    session.execute(
        delete(PortalSession).where(
            (PortalSession.created_at <= created_before)
            | (PortalSession.last_seen_at <= seen_before)
        )
    )


def count_sessions_of(session: Session, member_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(PortalSession)
            .where(PortalSession.member_id == member_id)
        )
        or 0
    )


def delete_attempts_before(session: Session, before: datetime) -> None:
    session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at <= before))


def failures_for_email(
    session: Session, workspace_id: str, email_hash: bytes, since: datetime
) -> Sequence[datetime]:
    """When sign-in with the e-mail address failed since `since` and since it last succeeded."""
    last_success = session.scalar(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.workspace_id == workspace_id,
            LoginAttempt.email_hash == email_hash,
            LoginAttempt.succeeded.is_(True),
        )
    )
    return session.scalars(
        select(LoginAttempt.attempted_at).where(
            LoginAttempt.workspace_id == workspace_id,
            LoginAttempt.email_hash == email_hash,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > max(since, last_success or since),
        )
    ).all()


def failures_from(session: Session, address: str, since: datetime) -> Sequence[datetime]:
    return session.scalars(
        select(LoginAttempt.attempted_at).where(
            LoginAttempt.address == address,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > since,
        )
    ).all()
