"""Acquisitions and their keys as the API takes and shows them."""

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, Field

from keyward.domains.fields import Duration, Id, Input, Metadata, Name, Output, Reason


class AcquisitionState(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    EXPIRED = "expired"


class AcquisitionCreate(Input):
    offering_id: Id
    organization_id: Id = Field(description="The acquiring organization (kind acquirer).")
    valid_from: AwareDatetime | None = Field(default=None, description="Default: now.")
    valid_until: AwareDatetime | None = Field(
        default=None, description="Default: valid_from plus the offering's acquisition period."
    )


class AcquisitionOut(Output):
    id: str
    offering_id: str
    api_id: str
    organization_id: str
    state: AcquisitionState
    valid_from: datetime
    valid_until: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class AcquisitionKeyCreate(Input):
    name: Name = Field(description="Who or what uses the key; unique within the acquisition.")
    expires_in: Duration | None = Field(
        default=None,
        description="ISO-8601; at most the API's key lifetime, which is also the default.",
    )
    metadata: Metadata = Field(default_factory=dict)
    reason: Reason = Field(
        default="", description="For the approver, where the API's policy wants one to issue keys."
    )


class ExportVersion(StrEnum):
    V2 = "2.0"
    V3 = "3.0"
