"""Key usage as the API shows it: totals and buckets of responses by status class."""

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from keyward.domains.fields import Output


class Granularity(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class StatusCounts(Output):
    """Responses by status class. (A 101 upgrade counts as 2xx; a 429 as 4xx.)"""

    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_serialization_defaults_required=True,
    )

    success: int = Field(default=0, alias="2xx", title="2xx", description="Successes.")
    redirection: int = Field(default=0, alias="3xx", title="3xx", description="Redirections.")
    client_error: int = Field(
        default=0, alias="4xx", title="4xx", description="Refusals, rate limiting included."
    )
    server_error: int = Field(
        default=0, alias="5xx", title="5xx", description="Failures, upstream or the gateway's."
    )

    def add(self, status_class: str, count: int) -> None:
        field = _FIELDS[status_class]
        setattr(self, field, getattr(self, field) + count)


_FIELDS = {info.alias: name for name, info in StatusCounts.model_fields.items()}


class UsageBucket(StatusCounts):
    start: datetime = Field(description="Start of the minute, hour or day (UTC).")


class UsageOut(Output):
    """Responses by status class over a range, bucket by bucket."""

    last_used_at: datetime | None = Field(
        description="When a key was last accepted, kept to within a minute: it may trail by "
        "up to a minute plus KEYWARD_USAGE_FLUSH_INTERVAL."
    )
    since: datetime = Field(description="Start of the first bucket.")
    until: datetime = Field(description="End of the range (exclusive).")
    granularity: Granularity
    totals: StatusCounts = Field(description="Every response in the range.")
    data: list[UsageBucket] = Field(
        description="Every bucket of the range, oldest first, with zeros where there was none."
    )


class KeyUsageOut(UsageOut):
    key_id: str


class AcquisitionUsageOut(UsageOut):
    """The responses to every key of the acquisition, deleted keys included (by hour and day;
    by minute, the keys that still exist)."""

    acquisition_id: str


class OfferingUsageOut(UsageOut):
    """The responses to every key of every acquisition of the offering."""

    offering_id: str


class ApiUsageOut(UsageOut):
    """The responses to every key of every acquisition of every offering of the API."""

    api_id: str
