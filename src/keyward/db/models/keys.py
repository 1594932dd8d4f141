"""API keys (account and acquisition keys share one table) and idempotency records."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base, JSONDocument


class ApiKey(Base):
    """A key. Only the SHA-256 of its secret is stored; `start` is what people see of it."""

    __tablename__ = "api_keys"
    __table_args__ = (
        # Lists read keys newest first, a page at a time: the id last lets a page stop early.
        Index("ix_api_keys_workspace_id_creator", "workspace_id", "creator_member_id", "id"),
        Index("ix_api_keys_workspace_id_acquisition", "workspace_id", "acquisition_id", "id"),
        # Lists by last use (least or most recently used first) and the unused keys sweep.
        Index("ix_api_keys_workspace_id_last_used", "workspace_id", "last_used_at", "id"),
        # Keys a member created, and an acquisition was given, in the last minute (the rate).
        Index("ix_api_keys_creator_created", "creator_member_id", "created_at"),
        Index("ix_api_keys_acquisition_created", "acquisition_id", "created_at"),
        # Names are unique within an acquisition (account keys have none and never collide).
        UniqueConstraint("acquisition_id", "name"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    start: Mapped[str] = mapped_column(String(24))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # After a rotation the old secret keeps working until `previous_hash_expires_at`.
    previous_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    previous_hash_expires_at: Mapped[datetime | None]
    rotated_at: Mapped[datetime | None]
    creator_member_id: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    acquisition_id: Mapped[str | None] = mapped_column(ForeignKey("acquisitions.id"))
    permissions: Mapped[list[str]] = mapped_column(JSONDocument)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDocument)
    expires_at: Mapped[datetime | None]
    # The lifetime the key was issued with (ISO-8601; null: never expires), what renewing an
    # account key extends it by.
    lifetime: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(ID)
    # Issued under a policy that wants an approver: the key exists (its secret was shown once)
    # but verifies only once its issuance request is approved.
    awaiting_approval: Mapped[bool] = mapped_column(server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class KeyRequest(Base):
    """An issuance, renewal or revocation awaiting an approver: pending, then approved,
    rejected, cancelled, or closed (the key changed meanwhile). At most one is pending per key."""

    __tablename__ = "key_requests"
    __table_args__ = (
        Index(
            "ix_key_requests_one_pending",
            "key_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_key_requests_workspace_id_status", "workspace_id", "status", "id"),
        # Requests a member filed in the last hour (the rate).
        Index("ix_key_requests_requester_created", "requested_by", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    # Kept after the key is deleted (the request is history), so no cascade.
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    key_name: Mapped[str] = mapped_column(String(200))
    # Whose business the request is, kept after the key is deleted (acquisitions never are).
    acquisition_id: Mapped[str | None] = mapped_column(ID)
    api_id: Mapped[str | None] = mapped_column(ForeignKey("apis.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    # A renewal may ask for less than the policy's lifetime (ISO-8601).
    expires_in: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(ID)
    decided_by: Mapped[str | None] = mapped_column(ID)
    comment: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """The answer to a creation made with an `Idempotency-Key`, without any secret in it."""

    __tablename__ = "idempotency_records"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    caller_id: Mapped[str] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    response: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(index=True)
