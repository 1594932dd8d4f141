"""Password links: the single-use links of invitation and password reset e-mails."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base


class PasswordLink(Base):
    """A link that lets a member set their password once, before it expires. Its token is made
    when the e-mail is sent and only its SHA-256 is stored: nothing here opens the link."""

    __tablename__ = "password_links"
    __table_args__ = (
        # Invitations a member sent in the last hour (the rate).
        Index("ix_password_links_creator_created", "created_by", "purpose", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # "invitation" or "reset"
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
