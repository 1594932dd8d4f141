"""Limits leased from storage: every process on one database draws on one count, within ten per
cent of the limit and never above it; a quota used up stays used up when a process restarts, and
what a stopping process held unused goes to the next one; on SQLite and PostgreSQL.

Each limiter here is what one gateway process holds; they share a database of the test's own.
"""

import asyncio
import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.verifier.leases import chunk
from keyward.verifier.limits import LeasedRateLimiter, Limit, LimitOutcome, rate_limiter

QUOTA = Limit("acquisition", 100, 3600.0)
PER_SECOND = Limit("acquisition", 20, 1.0)


@pytest.fixture
def database(fresh_url: str, clock: ManualClock) -> Iterator[Database]:
    database = Database.connect(fresh_url, clock=clock)
    yield database
    database.dispose()


async def _round_robin(
    limiters: Sequence[LeasedRateLimiter], limit: Limit, rounds: int
) -> list[list[LimitOutcome]]:
    """`rounds` requests to each limiter in turn, each with a key of its own, one acquisition."""
    outcomes: list[list[LimitOutcome]] = [[] for _ in limiters]
    for _ in range(rounds):
        for n, limiter in enumerate(limiters):
            outcomes[n].append(await limiter.hit([limit], f"key_{n}", "acq_shared"))
    return outcomes


def _admitted(outcomes: list[list[LimitOutcome]]) -> list[int]:
    return [sum(outcome.allowed for outcome in one) for one in outcomes]


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_processes_on_one_database_admit_one_quota_between_them(
    database: Database, processes: int
) -> None:
    async def run() -> list[list[LimitOutcome]]:
        limiters = [LeasedRateLimiter(database, processes=processes) for _ in range(processes)]
        outcomes = await _round_robin(limiters, QUOTA, 300 // processes)
        for limiter in limiters:
            await limiter.close()
        return outcomes

    outcomes = asyncio.run(run())
    admitted = _admitted(outcomes)
    assert 90 <= sum(admitted) <= 100, admitted
    assert all(admitted), "every process admits its share"
    refused = [outcome for one in outcomes for outcome in one if not outcome.allowed]
    assert refused[-1].limit == 100
    assert refused[-1].retry_after is not None
    assert refused[-1].retry_after > 60


def test_a_rate_limit_per_second_is_shared_and_frees_up_as_the_window_slides(
    database: Database, clock: ManualClock
) -> None:
    async def run() -> tuple[list[int], list[int]]:
        limiters = [LeasedRateLimiter(database, processes=2) for _ in range(2)]
        first = _admitted(await _round_robin(limiters, PER_SECOND, 30))
        clock.advance(timedelta(seconds=2))  # the previous window no longer weighs
        second = _admitted(await _round_robin(limiters, PER_SECOND, 30))
        for limiter in limiters:
            await limiter.close()
        return first, second

    first, second = asyncio.run(run())
    assert 18 <= sum(first) <= 20, first
    assert 18 <= sum(second) <= 20, second


def test_an_exhausted_quota_stays_exhausted_after_a_restart(
    database: Database, clock: ManualClock
) -> None:
    async def run() -> tuple[list[int], LimitOutcome, LimitOutcome]:
        before = LeasedRateLimiter(database, processes=2)
        admitted = _admitted(await _round_robin([before], QUOTA, 150))
        await before.close()
        after = LeasedRateLimiter(database, processes=2)
        restarted = await after.hit([QUOTA], "key_0", "acq_shared")
        clock.advance(timedelta(hours=2))
        later = await after.hit([QUOTA], "key_0", "acq_shared")
        await after.close()
        return admitted, restarted, later

    admitted, restarted, later = asyncio.run(run())
    assert admitted == [100]
    assert not restarted.allowed
    assert restarted.retry_after is not None
    assert restarted.retry_after > 60
    assert later.allowed


def test_what_a_stopping_process_held_unused_is_admitted_by_the_next(database: Database) -> None:
    async def run() -> tuple[list[int], list[int]]:
        first = LeasedRateLimiter(database)
        before = _admitted(await _round_robin([first], QUOTA, 30))
        await first.close()
        second = LeasedRateLimiter(database)
        after = _admitted(await _round_robin([second], QUOTA, 100))
        await second.close()
        return before, after

    before, after = asyncio.run(run())
    assert (before, after) == ([30], [70])


def test_a_request_refused_by_one_limit_consumes_nothing_of_the_others(
    database: Database,
) -> None:
    tight = Limit("key", 2, 3600.0)

    async def run() -> list[LimitOutcome]:
        limiter = LeasedRateLimiter(database)
        outcomes = [await limiter.hit([tight, QUOTA], "key_0", "acq_shared") for _ in range(5)]
        outcomes.append(await limiter.hit([QUOTA], "key_1", "acq_shared"))
        await limiter.close()
        return outcomes

    *tight_ones, other_key = asyncio.run(run())
    assert [outcome.allowed for outcome in tight_ones] == [True, True, False, False, False]
    assert tight_ones[2].limit == 2
    assert (other_key.allowed, other_key.remaining) == (True, 97)


def test_storage_without_the_lease_table_lets_requests_through_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database.connect(f"sqlite:///{tmp_path / 'empty.db'}")
    caplog.set_level(logging.WARNING, logger="keyward.verifier.limits")

    async def run() -> list[LimitOutcome]:
        limiter = LeasedRateLimiter(database)
        outcomes = [await limiter.hit([QUOTA], "key_0", "acq_shared") for _ in range(3)]
        await limiter.close()
        return outcomes

    try:
        outcomes = asyncio.run(run())
    finally:
        database.dispose()
    assert all(outcome.allowed and outcome.limit == 0 for outcome in outcomes)
    warnings = [r.getMessage() for r in caplog.records if "rate limits" in r.getMessage()]
    assert len(warnings) == 1
    assert "requests pass uncounted" in warnings[0]


def test_chunks_shrink_as_the_window_fills_and_never_exceed_the_room() -> None:
    assert chunk(100, 100, 1) == 13
    assert chunk(100, 100, 4) == 4
    assert chunk(100, 6, 4) == 1
    assert chunk(100, 0, 4) == 0
    assert chunk(1, 1, 64) == 1
    assert all(chunk(1000, room, 4) <= room for room in range(50))


def test_a_gateway_leases_from_its_database_unless_redis_is_given(database: Database) -> None:
    assert isinstance(rate_limiter(None, database, processes=2), LeasedRateLimiter)
