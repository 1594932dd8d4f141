"""The append-only audit log and the change feed gateways tail."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base, JSONDocument


class AuditEvent(Base):
    """Who did what to which target, when, from where, and how it ended. Never a secret.

    Database triggers refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_events"
    # The id last: lists are read newest first, a page at a time, in index order.
    __table_args__ = (
        Index("ix_audit_events_workspace_id", "workspace_id", "id"),
        Index("ix_audit_events_workspace_target", "workspace_id", "target_id", "id"),
        Index("ix_audit_events_workspace_actor", "workspace_id", "actor_member_id", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_key_id: Mapped[str | None] = mapped_column(ID)
    actor_member_id: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(ID)
    outcome: Mapped[str] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(80))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument)


class ChangeFeedEntry(Base):
    """One change that affects verification, numbered in commit order.

    Writers take a transaction-scoped lock before inserting (PostgreSQL advisory lock; SQLite
    serialises writers anyway), so a follower reading `seq > last` never skips a row that commits
    later with a smaller number.
    """

    __tablename__ = "change_feed"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    workspace_id: Mapped[str] = mapped_column(ID)
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
