"""Portal sign-in: the sessions of signed-in members and the sign-in attempts throttled."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base


class PortalSession(Base):
    """A member signed in to the portal. Only the SHA-256 of the session token is stored."""

    __tablename__ = "portal_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class LoginAttempt(Base):
    """One sign-in attempt: which e-mail address it named (as a SHA-256), from where, whether
    it succeeded. Kept only as long as the throttling window needs it."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_hash", "email_hash", "attempted_at"),
        Index("ix_login_attempts_address", "address", "attempted_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    email_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    address: Mapped[str | None] = mapped_column(String(64))
    succeeded: Mapped[bool]
    attempted_at: Mapped[datetime] = mapped_column(index=True)
