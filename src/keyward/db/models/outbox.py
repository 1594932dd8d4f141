"""The outbox (work to do after a commit), connectors with their delivery log, and where
notifications go: webhook endpoints, and the reminders already sent."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base, JSONDocument


class OutboxMessage(Base):
    """Something to deliver, written in the transaction of the change that causes it.

    A worker claims a message by setting `locked_until` (its lease) and either finishes it,
    schedules another attempt at `next_attempt_at`, or gives up.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Connector(Base):
    """Where an acquisition's spec is delivered automatically, in which form, with which key."""

    __tablename__ = "connectors"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    acquisition_id: Mapped[str] = mapped_column(ForeignKey("acquisitions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # A webhook's URL; empty for storage, which writes `path` below the operator's `destination`.
    url: Mapped[str] = mapped_column(String(2000))
    destination: Mapped[str | None] = mapped_column(String(40))
    path: Mapped[str | None] = mapped_column(String(1000))
    openapi_version: Mapped[str] = mapped_column(String(10))
    format: Mapped[str] = mapped_column(String(10))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    # Sealed with the server secret: opened only to deliver.
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_signing_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Storage options tenants gave before destinations were the operator's: never used again.
    sealed_options: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Delivery(Base):
    """One attempt to deliver a connector's export."""

    __tablename__ = "connector_deliveries"
    __table_args__ = (Index("ix_connector_deliveries_connector", "connector_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    connector_id: Mapped[str] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(ID)
    api_version: Mapped[int]
    attempt: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """A workspace's receiver of notification webhooks, signed with its own secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500))
    # Event types sent to it; empty: every event.
    events: Mapped[list[str]] = mapped_column(JSONDocument)
    # Sealed with the server secret: opened only to sign.
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    # The secret a rotation replaced, sealed too: it still signs, next to the new one, until
    # `previous_secret_until` (both None when no grace is running or was given).
    previous_sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_until: Mapped[datetime | None]
    active: Mapped[bool]
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SentReminder(Base):
    """A reminder already written to the outbox (`key.expiring:14` for key_…, expiring at …):
    the primary key makes a second sweep, or a second worker, add nothing."""

    __tablename__ = "sent_reminders"
    __table_args__ = (PrimaryKeyConstraint("subject_id", "event", "due_at"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ID)
    event: Mapped[str] = mapped_column(String(60))
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
