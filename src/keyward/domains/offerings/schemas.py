"""Offerings as the API takes and shows them."""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from keyward.domains.fields import Description, Duration, Id, Input, Name, Output, Patch
from keyward.domains.gateways.schemas import Enforcement

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]

SHORTEST_PERIOD = timedelta(seconds=1)
LONGEST_PERIOD = timedelta(days=366)
MAX_LIMITS = 8
MAX_REQUESTS = 1_000_000_000


def _limit_period(value: timedelta) -> timedelta:
    if not SHORTEST_PERIOD <= value <= LONGEST_PERIOD:
        raise ValueError("must be from PT1S to P366D")
    return value


class LimitScope(StrEnum):
    KEY = "key"
    ACQUISITION = "acquisition"


class OfferingLimit(Input):
    """At most `requests` requests in any `per` (sliding window), counted per key or per
    acquisition (all its keys together). A short period makes a rate limit, a long one a quota."""

    scope: LimitScope
    requests: int = Field(ge=1, le=MAX_REQUESTS)
    per: Annotated[Duration, AfterValidator(_limit_period)] = Field(
        description="ISO-8601 duration from PT1S to P366D, e.g. PT1S, PT1H, P30D."
    )


Limits = Annotated[
    list[OfferingLimit],
    Field(
        max_length=MAX_LIMITS,
        description="Every limit applies: a request is refused (429) when any one is used up. "
        "At most one limit per scope and period.",
    ),
]


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
    limits: Limits = Field(default_factory=list)


class OfferingUpdate(Patch):
    nullable = frozenset({"available_until", "acquisition_period", "operations"})

    name: Name | None = None
    description: Description | None = None
    available_until: AwareDatetime | None = None
    acquisition_period: Duration | None = None
    operations: OperationSelection | None = None
    limits: Limits | None = Field(default=None, description="Replaces every limit; [] for none.")


class OfferingOut(Output):
    id: str
    api_id: str
    name: str
    description: str
    available_until: datetime | None
    acquisition_period: timedelta | None
    operations: OperationSelection | None
    limits: list[OfferingLimit]
    created_at: datetime
    updated_at: datetime


class OfferingChanged(OfferingOut):
    """An offering after a change, with whether every gateway applied it (operations removed
    and limits lowered take effect only then)."""

    enforcement: Enforcement = Field(
        description="Whether every live gateway applied the change before this answer."
    )
