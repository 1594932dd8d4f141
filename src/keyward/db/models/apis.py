"""Provider APIs with their immutable spec versions and key policy; offerings; acquisitions."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base, JSONDocument


class Api(Base):
    """An API a provider publishes, with its key policy (one row: the policy is per API)."""

    __tablename__ = "apis"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    provider_organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    upstream_url: Mapped[str] = mapped_column(String(2000))
    # The gateway serves every workspace's APIs, so a mount path is unique across all of them
    # (and no mount lies inside another: the service refuses that).
    mount_path: Mapped[str] = mapped_column(String(200), unique=True)
    # The path of the spec's first server: the gateway serves the spec's paths below it.
    base_path: Mapped[str] = mapped_column(String(500))
    current_version: Mapped[int]
    key_locations: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    key_lifetime: Mapped[str | None] = mapped_column(String(40))
    max_rotation_grace: Mapped[str | None] = mapped_column(String(40))
    renewal_requires_approval: Mapped[bool]
    revocation_requires_approval: Mapped[bool]
    issuance_requires_approval: Mapped[bool] = mapped_column(server_default=false())
    # Origins whose pages may send state-changing requests with a cookie-borne key ("https://
    # host[:port]"); None for APIs stored before it existed, read as none.
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSONDocument, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiApprover(Base):
    """A member the API's key policy names to decide its key requests."""

    __tablename__ = "api_approvers"
    __table_args__ = (Index("ix_api_approvers_member_id", "member_id"),)

    api_id: Mapped[str] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)


class ApiVersion(Base):
    """One upload of an API's spec: the original bytes and its normalised OpenAPI 3 form."""

    __tablename__ = "api_versions"
    __table_args__ = (UniqueConstraint("api_id", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    api_id: Mapped[str] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"))
    number: Mapped[int]
    source_version: Mapped[str] = mapped_column(String(10))
    media_type: Mapped[str] = mapped_column(String(10))
    original: Mapped[bytes] = mapped_column(LargeBinary)
    normalized: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    operation_count: Mapped[int]
    changes: Mapped[dict[str, list[str]]] = mapped_column(JSONDocument)
    # None for versions stored before it was recorded (read from `normalized` then).
    public_operations: Mapped[list[str] | None] = mapped_column(JSONDocument, nullable=True)
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]


class Offering(Base):
    """What acquirers acquire: an API, for how long, optionally only some operations, and the
    rate limits and quotas that apply to each key and each acquisition."""

    __tablename__ = "offerings"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    api_id: Mapped[str] = mapped_column(ForeignKey("apis.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    available_until: Mapped[datetime | None]
    acquisition_period: Mapped[str | None] = mapped_column(String(40))
    operation_tags: Mapped[list[str]] = mapped_column(JSONDocument)
    operation_ids: Mapped[list[str]] = mapped_column(JSONDocument)
    # Rate limits and quotas: [{"scope": "key" | "acquisition", "requests": n, "per": "PT1S"}].
    limits: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, server_default="[]")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Acquisition(Base):
    """An acquirer organization's acquisition of an offering, valid from/until."""

    __tablename__ = "acquisitions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    offering_id: Mapped[str] = mapped_column(ForeignKey("offerings.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
