"""The rules for reading usage: who may see it, which range, how finely.

Whoever may read a key or an acquisition may read its usage: the acquirer, and the provider of
the API acquired. The usage of an offering or an API adds up every acquirer's traffic, so it is
the provider's to see: it needs the right to change the offering or API (`offerings:update`,
`apis:update`), not the catalogue's `read` every acquirer holds. Anything of another workspace,
or that the caller may not see, is not found.

The range defaults to the last 24 hours by hour, and is cut into at most `MAX_BUCKETS` buckets
aligned to UTC minutes, hours or days. By hour and day, usage is read from the hourly counts the
usage writer keeps per key, acquisition, offering and API (whole hours: an hour that starts in
the range counts whole), which keep the traffic of keys since deleted; by minute, from the
minutes of a key, or of the keys of an acquisition, offering or API that still exist.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement

from keyward.core.actors import Actor
from keyward.core.errors import InvalidInput
from keyward.db.engine import UnitOfWork
from keyward.db.models import Acquisition, Offering
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.apis import service as apis
from keyward.domains.keys import service as keys
from keyward.domains.offerings import service as offerings
from keyward.domains.usage import repository
from keyward.domains.usage.schemas import (
    AcquisitionUsageOut,
    ApiUsageOut,
    Granularity,
    KeyUsageOut,
    OfferingUsageOut,
    StatusCounts,
    UsageBucket,
    UsageOut,
)

DEFAULT_RANGE = timedelta(hours=24)
MAX_BUCKETS = 1500
STEPS = {
    Granularity.MINUTE: timedelta(minutes=1),
    Granularity.HOUR: timedelta(hours=1),
    Granularity.DAY: timedelta(days=1),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_start(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the UTC minute, hour or day `moment` falls in."""
    step = STEPS[granularity]
    return _EPOCH + (moment - _EPOCH) // step * step


def _range(
    now: datetime, since: datetime | None, until: datetime | None, granularity: Granularity
) -> tuple[datetime, datetime, int]:
    """(first bucket start, until, number of buckets) for the range asked for."""
    try:
        until = (until or now).astimezone(UTC)
        since = (since or until - DEFAULT_RANGE).astimezone(UTC)
        if since >= until:
            raise InvalidInput(
                "`since` must be before `until`.",
                code="usage_range_invalid",
                details={"since": since.isoformat(), "until": until.isoformat()},
            )
        start = bucket_start(since, granularity)
        step = STEPS[granularity]
        buckets = -((start - until) // step)
    except OverflowError:
        raise InvalidInput(
            "The range reaches beyond the dates that can be shown.", code="usage_range_invalid"
        ) from None
    if buckets > MAX_BUCKETS:
        raise InvalidInput(
            f"The range has {buckets} {granularity.value}s; at most {MAX_BUCKETS} can be shown "
            "at once: shorten the range or choose a coarser granularity.",
            code="usage_range_too_large",
            details={"buckets": buckets, "max_buckets": MAX_BUCKETS},
        )
    return start, until, buckets


Shown = TypeVar("Shown", bound=UsageOut)


def _shown(
    model: type[Shown],
    counted: Callable[[datetime, datetime], repository.Counted],
    start: datetime,
    until: datetime,
    count: int,
    granularity: Granularity,
    **fields: Any,
) -> Shown:
    """Every bucket of the range with the counts `counted` reads for it, and their totals."""
    step = STEPS[granularity]
    buckets = [UsageBucket(start=start + i * step) for i in range(count)]
    totals = StatusCounts()
    for moment, status_class, responses in counted(start, until):
        buckets[(moment - start) // step].add(status_class, responses)
        totals.add(status_class, responses)
    return model(
        since=start, until=until, granularity=granularity, totals=totals, data=buckets, **fields
    )


def key_usage(
    uow: UnitOfWork,
    actor: Actor,
    key_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    granularity: Granularity = Granularity.HOUR,
) -> KeyUsageOut:
    """The key's responses by status class in [since, until), bucket by bucket (by hour and
    day, the hours that start in the range).

    Counts reach storage in batches, so the last few seconds may not show yet.
    """
    key = keys.get_key(uow, actor, key_id)
    start, until, count = _range(uow.clock.now(), since, until, granularity)
    session, workspace_id = uow.session, actor.workspace_id

    def counted(first: datetime, end: datetime) -> repository.Counted:
        if granularity is Granularity.MINUTE:
            return repository.usage(session, workspace_id, key.id, first, end, granularity)
        return repository.hourly_usage(session, workspace_id, key.id, first, end, granularity)

    return _shown(
        KeyUsageOut,
        counted,
        start,
        until,
        count,
        granularity,
        key_id=key.id,
        last_used_at=key.last_used_at,
    )


def _aggregate(
    model: type[Shown],
    uow: UnitOfWork,
    actor: Actor,
    subject_id: str,
    subject: ColumnElement[bool],
    since: datetime | None,
    until: datetime | None,
    granularity: Granularity,
    **fields: Any,
) -> Shown:
    """The usage of the keys that `subject` (a condition on acquisitions or offerings) picks,
    `subject_id` being what `usage_hours` counts them under."""
    start, until, count = _range(uow.clock.now(), since, until, granularity)
    workspace_id = actor.workspace_id
    session = uow.session

    def counted(first: datetime, end: datetime) -> repository.Counted:
        if granularity is Granularity.MINUTE:
            return repository.minute_usage(session, workspace_id, subject, first, end)
        return repository.hourly_usage(session, workspace_id, subject_id, first, end, granularity)

    return _shown(
        model,
        counted,
        start,
        until,
        count,
        granularity,
        last_used_at=repository.last_used(session, workspace_id, subject),
        **fields,
    )


def acquisition_usage(
    uow: UnitOfWork,
    actor: Actor,
    acquisition_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    granularity: Granularity = Granularity.HOUR,
) -> AcquisitionUsageOut:
    """The responses to the acquisition's keys by status class in [since, until): for whoever
    may read the acquisition (its acquirer, its API's provider)."""
    acquisition, _ = acquisitions.find_acquisition(uow, actor, acquisition_id, "read")
    return _aggregate(
        AcquisitionUsageOut,
        uow,
        actor,
        acquisition.id,
        Acquisition.id == acquisition.id,
        since,
        until,
        granularity,
        acquisition_id=acquisition.id,
    )


def offering_usage(
    uow: UnitOfWork,
    actor: Actor,
    offering_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    granularity: Granularity = Granularity.HOUR,
) -> OfferingUsageOut:
    """The responses to the keys of every acquisition of the offering: for whoever may change
    the offering (its provider); an acquirer who sees it in the catalogue is refused (403)."""
    offering = offerings.find_offering(uow, actor, offering_id, "update")
    return _aggregate(
        OfferingUsageOut,
        uow,
        actor,
        offering.id,
        Offering.id == offering.id,
        since,
        until,
        granularity,
        offering_id=offering.id,
    )


def api_usage(
    uow: UnitOfWork,
    actor: Actor,
    api_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    granularity: Granularity = Granularity.HOUR,
) -> ApiUsageOut:
    """The responses to the keys of every acquisition of every offering of the API: for
    whoever may change the API (its provider); an acquirer who sees it in the catalogue is
    refused (403)."""
    api = apis.find_api(uow, actor, api_id, "update")
    return _aggregate(
        ApiUsageOut,
        uow,
        actor,
        api.id,
        Offering.api_id == api.id,
        since,
        until,
        granularity,
        api_id=api.id,
    )
