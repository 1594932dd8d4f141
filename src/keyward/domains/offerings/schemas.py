"""Offerings as the API takes and shows them."""

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from keyward.domains.fields import Description, Duration, Id, Input, Name, Output, Patch

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class OperationSelection(Input):
    """Some operations only: those tagged with one of `tags` or named in `operation_ids`."""

    tags: Annotated[list[Label], Field(max_length=500)] = Field(default_factory=list)
    operation_ids: Annotated[list[Label], Field(max_length=5000)] = Field(default_factory=list)


class OfferingCreate(Input):
    api_id: Id
    name: Name
    description: Description = ""
    available_until: AwareDatetime | None = Field(
        default=None, description="After this moment the offering cannot be acquired."
    )
    acquisition_period: Duration | None = Field(
        default=None, description="How long an acquisition is valid; null: until ended."
    )
    operations: OperationSelection | None = Field(
        default=None, description="Leave out to offer every operation of the API."
    )


class OfferingUpdate(Patch):
    nullable = frozenset({"available_until", "acquisition_period", "operations"})

    name: Name | None = None
    description: Description | None = None
    available_until: AwareDatetime | None = None
    acquisition_period: Duration | None = None
    operations: OperationSelection | None = None


class OfferingOut(Output):
    id: str
    api_id: str
    name: str
    description: str
    available_until: datetime | None
    acquisition_period: timedelta | None
    operations: OperationSelection | None
    created_at: datetime
    updated_at: datetime
