"""Usage of an acquisition, an offering and an API: their keys' responses by status class over
time (`/v1/keys/{id}/usage` is one key's, next to the key)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from keyward.api.auth import ActorDep
from keyward.api.routes.common import errors
from keyward.api.runtime import DatabaseDep
from keyward.domains.usage import service
from keyward.domains.usage.schemas import (
    AcquisitionUsageOut,
    ApiUsageOut,
    Granularity,
    OfferingUsageOut,
)

router = APIRouter(tags=["usage"])


@dataclass(frozen=True, slots=True)
class UsageRange:
    """The parameters of every usage route, as `/v1/keys/{id}/usage` takes them."""

    since: datetime | None
    until: datetime | None
    granularity: Granularity


def usage_range(
    since: Annotated[
        AwareDatetime | None,
        Query(description="Start of the range (RFC 3339); default: 24 hours before `until`."),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="End of the range, exclusive; default: now.")
    ] = None,
    granularity: Annotated[
        Granularity, Query(description="Bucket size; buckets are aligned to UTC.")
    ] = Granularity.HOUR,
) -> UsageRange:
    return UsageRange(since, until, granularity)


RangeDep = Annotated[UsageRange, Depends(usage_range)]
_RANGE_RULES = (
    "The range is cut into at most 1500 buckets: a longer one is refused with 422 "
    "`usage_range_too_large`, and `since` not before `until` with 422 `usage_range_invalid`. "
    "By hour and day, whole hours are counted (an hour starting in the range counts whole) and "
    "the traffic of keys since deleted is kept; by minute, the keys that still exist are read. "
    "Counts are stored in batches, so the last few seconds may be missing."
)


@router.get(
    "/acquisitions/{acquisition_id}/usage",
    name="acquisition.usage",
    responses=errors(403, 404, 422),
    description="How many responses the gateway gave to requests made with the acquisition's "
    "keys, by status class (`2xx`, `3xx`, `4xx`, `5xx`; rate-limited requests are `4xx`), per "
    "minute, hour or day. Needs the right to read the acquisition: its acquirer, or the "
    "provider of the API acquired. " + _RANGE_RULES,
)
def read_acquisition_usage(
    acquisition_id: str, range_: RangeDep, actor: ActorDep, database: DatabaseDep
) -> AcquisitionUsageOut:
    with database.transaction(write=False) as uow:
        return service.acquisition_usage(
            uow,
            actor,
            acquisition_id,
            since=range_.since,
            until=range_.until,
            granularity=range_.granularity,
        )


@router.get(
    "/offerings/{offering_id}/usage",
    name="offering.usage",
    responses=errors(403, 404, 422),
    description="The responses to the keys of every acquisition of the offering, by status "
    "class, per minute, hour or day. It adds up every acquirer's traffic, so it needs the right "
    "to update the offering (its provider): an acquirer who sees the offering in the catalogue "
    "is refused with 403. " + _RANGE_RULES,
)
def read_offering_usage(
    offering_id: str, range_: RangeDep, actor: ActorDep, database: DatabaseDep
) -> OfferingUsageOut:
    with database.transaction(write=False) as uow:
        return service.offering_usage(
            uow,
            actor,
            offering_id,
            since=range_.since,
            until=range_.until,
            granularity=range_.granularity,
        )


@router.get(
    "/apis/{api_id}/usage",
    name="api.usage",
    responses=errors(403, 404, 422),
    description="The responses to the keys of every acquisition of every offering of the API, "
    "by status class, per minute, hour or day. It adds up every acquirer's traffic, so it needs "
    "the right to update the API (its provider): an acquirer who sees the API in the catalogue "
    "is refused with 403. " + _RANGE_RULES,
)
def read_api_usage(
    api_id: str, range_: RangeDep, actor: ActorDep, database: DatabaseDep
) -> ApiUsageOut:
    with database.transaction(write=False) as uow:
        return service.api_usage(
            uow,
            actor,
            api_id,
            since=range_.since,
            until=range_.until,
            granularity=range_.granularity,
        )
