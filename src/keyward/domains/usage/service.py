"""The rules for reading key usage: who may see it, which range, how finely.

Whoever may read a key may read its usage; a key of another workspace is not found. The range
defaults to the last 24 hours by hour, and is cut into at most `MAX_BUCKETS` buckets aligned to
UTC minutes, hours or days.
"""

from datetime import UTC, datetime, timedelta

from keyward.core.actors import Actor
from keyward.core.errors import InvalidInput
from keyward.db.engine import UnitOfWork
from keyward.domains.keys import service as keys
from keyward.domains.usage import repository
from keyward.domains.usage.schemas import Granularity, KeyUsageOut, StatusCounts, UsageBucket

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


def key_usage(
    uow: UnitOfWork,
    actor: Actor,
    key_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    granularity: Granularity = Granularity.HOUR,
) -> KeyUsageOut:
    """The key's responses by status class in [since, until), bucket by bucket.

    Counts reach storage in batches, so the last few seconds may not show yet.
    """
    key = keys.get_key(uow, actor, key_id)
    start, until, count = _range(uow.clock.now(), since, until, granularity)
    step = STEPS[granularity]
    buckets = [UsageBucket(start=start + i * step) for i in range(count)]
    totals = StatusCounts()
    for moment, status_class, responses in repository.usage(
        uow.session, actor.workspace_id, key.id, start, until, granularity
    ):
        buckets[(moment - start) // step].add(status_class, responses)
        totals.add(status_class, responses)
    return KeyUsageOut(
        key_id=key.id,
        last_used_at=key.last_used_at,
        since=start,
        until=until,
        granularity=granularity,
        totals=totals,
        data=buckets,
    )
