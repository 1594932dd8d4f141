"""Rate limits and quotas: exact counts in one process, one shared count in Redis across
processes, refused requests that cost nothing, the RateLimit headers, and Redis going away.

Redis is the machine's server (`KEYWARD_TEST_REDIS_URL`, default redis://127.0.0.1:6379/0);
each test counts under a prefix of its own and deletes it afterwards. Without a server the Redis
tests are skipped with a message, except under CI=true where they fail.
"""

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from keyward.core.clock import ManualClock
from keyward.verifier.limits import (
    RETRY_AFTER_FAILURE,
    SWEEP_EVERY,
    UNCOUNTED,
    Limit,
    LimitOutcome,
    LocalRateLimiter,
    RedisRateLimiter,
    headers,
    rate_limiter,
)
from tests.backends import IN_CI
from tests.conftest import START
from tests.e2e.processes import free_port

REDIS_URL = os.environ.get("KEYWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]

PER_SECOND = Limit("key", 5, 1.0)


def redis_unavailable() -> str | None:
    """Why Redis cannot be used, or None when it can."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis at {REDIS_URL} is not reachable ({type(error).__name__})"
    finally:
        client.close()
    return None


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis, deleted afterwards."""
    reason = redis_unavailable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}; CI needs it: start it, do not skip.")
        pytest.skip(f"{reason}; start it (service redis-server start) to run the Redis tests.")
    prefix = f"keyward-test:{os.getpid()}:{secrets.token_hex(4)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        stale = list(client.scan_iter(match=f"{prefix}*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


def hits(
    limiter: LocalRateLimiter | RedisRateLimiter,
    limits: list[Limit],
    times: int,
    key_id: str = "key_a",
    acquisition_id: str = "acq_1",
) -> list[LimitOutcome]:
    async def run() -> list[LimitOutcome]:
        return [await limiter.hit(limits, key_id, acquisition_id) for _ in range(times)]

    return asyncio.run(run())


def test_a_key_gets_its_limit_then_refusals_until_the_window_slides() -> None:
    clock = ManualClock(START)
    limiter = LocalRateLimiter(clock)
    outcomes = hits(limiter, [PER_SECOND], 7)
    assert [o.allowed for o in outcomes] == [True] * 5 + [False] * 2
    assert [o.remaining for o in outcomes] == [4, 3, 2, 1, 0, 0, 0]
    assert {(o.limit, o.reset) for o in outcomes[:5]} == {(5, 1.0)}
    refused = outcomes[-1]
    # The five weigh on the next window too, until 4 of them (80 %) have slid out of it.
    assert refused.retry_after == pytest.approx(1.2)
    assert refused.reset == refused.retry_after

    clock.advance(timedelta(milliseconds=1199))
    assert not hits(limiter, [PER_SECOND], 1)[0].allowed
    clock.advance(timedelta(milliseconds=1))
    assert [o.allowed for o in hits(limiter, [PER_SECOND], 2)] == [True, False]
    clock.advance(timedelta(seconds=2))
    assert [o.allowed for o in hits(limiter, [PER_SECOND], 6)] == [True] * 5 + [False]


def test_under_steady_load_every_window_of_one_period_admits_the_limit() -> None:
    clock = ManualClock(START)
    limiter = LocalRateLimiter(clock)
    limit = Limit("key", 100, 1.0)
    admitted: list[int] = []
    for ms in range(6000):
        clock.set(START + timedelta(milliseconds=ms))
        admitted += [ms for o in hits(limiter, [limit], 3) if o.allowed]
    # After the first window (a burst, as after any quiet spell), any window of one second.
    for begin in range(1000, 5000, 10):
        in_window = sum(1 for ms in admitted if begin <= ms < begin + 1000)
        assert 99 <= in_window <= 101, begin


def test_each_limit_counts_its_own_scope_and_the_tightest_one_tells() -> None:
    limiter = LocalRateLimiter(ManualClock(START))
    limits = [Limit("key", 3, 60.0), Limit("acquisition", 5, 60.0)]
    alice = hits(limiter, limits, 4, key_id="key_alice")
    assert [o.allowed for o in alice] == [True, True, True, False]
    assert [(o.limit, o.remaining) for o in alice[:3]] == [(3, 2), (3, 1), (3, 0)]
    bob = hits(limiter, limits, 3, key_id="key_bob")
    assert [o.allowed for o in bob] == [True, True, False]
    assert [(o.limit, o.remaining) for o in bob] == [(5, 1), (5, 0), (5, 0)]
    other_acquisition = hits(limiter, limits, 1, key_id="key_carol", acquisition_id="acq_2")
    assert other_acquisition[0].allowed


@pytest.mark.parametrize(
    "limits",
    [
        [Limit("key", 2, 60.0), Limit("acquisition", 100, 60.0)],
        [Limit("acquisition", 100, 60.0), Limit("key", 2, 60.0)],
    ],
)
def test_a_refused_request_consumes_nothing(limits: list[Limit]) -> None:
    limiter = LocalRateLimiter(ManualClock(START))
    outcomes = hits(limiter, limits, 12, key_id="key_busy")
    assert sum(o.allowed for o in outcomes) == 2
    probe = hits(limiter, [Limit("acquisition", 100, 60.0)], 1, key_id="key_quiet")[0]
    assert (probe.limit, probe.remaining) == (100, 97)


def test_refused_by_the_slowest_limit_to_free_up() -> None:
    limiter = LocalRateLimiter(ManualClock(START))
    limits = [Limit("key", 1, 1.0), Limit("acquisition", 1, 3600.0)]
    assert [o.allowed for o in hits(limiter, limits, 2)] == [True, False]
    refused = hits(limiter, limits, 1)[0]
    assert refused.limit == 1
    assert refused.retry_after == pytest.approx(2 * 3600.0)


def test_headers_say_limit_remaining_reset_and_when_refused_retry_after() -> None:
    allowed = LimitOutcome(True, limit=10, remaining=3, reset=0.2, retry_after=None)
    assert headers(allowed) == [
        (b"ratelimit-limit", b"10"),
        (b"ratelimit-remaining", b"3"),
        (b"ratelimit-reset", b"1"),
    ]
    refused = LimitOutcome(False, limit=10, remaining=0, reset=41.5, retry_after=41.5)
    assert headers(refused)[-2:] == [(b"ratelimit-reset", b"42"), (b"retry-after", b"42")]
    assert headers(UNCOUNTED) == []


def test_no_limits_count_nothing_and_stale_counts_are_swept() -> None:
    clock = ManualClock(START)
    limiter = LocalRateLimiter(clock)
    assert hits(limiter, [], 3) == [UNCOUNTED] * 3
    assert len(limiter) == 0
    for n in range(50):
        hits(limiter, [PER_SECOND, Limit("acquisition", 10, 86400.0)], 1, key_id=f"key_{n}")
    assert len(limiter) == 51
    clock.advance(timedelta(seconds=SWEEP_EVERY))
    hits(limiter, [PER_SECOND], 1, key_id="key_0")
    # Per-second counts two windows old are gone; the daily quota is still counting.
    assert len(limiter) == 2


def test_the_limiter_is_redis_only_when_a_url_is_given() -> None:
    assert isinstance(rate_limiter(None), LocalRateLimiter)
    shared = rate_limiter(REDIS_URL)
    assert isinstance(shared, RedisRateLimiter)
    asyncio.run(shared.close())


def test_redis_keeps_one_count_for_every_limiter_and_lets_it_expire(redis_prefix: str) -> None:
    limits = [Limit("key", 5, 60.0), Limit("acquisition", 8, 3600.0)]

    async def run() -> tuple[list[LimitOutcome], list[LimitOutcome]]:
        first = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
        second = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
        try:
            a = [await first.hit(limits, "key_a", "acq_1") for _ in range(3)]
            a += [await second.hit(limits, "key_a", "acq_1") for _ in range(3)]
            b = [await second.hit(limits, "key_b", "acq_1") for _ in range(4)]
        finally:
            await first.close()
            await second.close()
        return a, b

    key_a, key_b = asyncio.run(run())
    assert [o.allowed for o in key_a] == [True] * 5 + [False]
    assert [o.remaining for o in key_a[:5]] == [4, 3, 2, 1, 0]
    assert key_a[-1].retry_after is not None
    assert 0 < key_a[-1].retry_after <= 120
    assert [o.allowed for o in key_b] == [True, True, True, False]
    assert (key_b[-1].limit, key_b[-1].remaining) == (8, 0)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        ttls = {
            key.decode().rsplit(":", 1)[-1]: client.pttl(key)
            for key in client.scan_iter(match=f"{redis_prefix}*")
        }
    finally:
        client.close()
    assert set(ttls) == {"60000", "3600000"}
    assert 0 < ttls["60000"] <= 120_000
    assert 0 < ttls["3600000"] <= 7_200_000


HAMMER = """
import asyncio, json, sys, time
from keyward.verifier.limits import Limit, RedisRateLimiter

url, prefix, start, duration, requests = sys.argv[1:6]
start, duration = float(start), float(duration)
limits = [Limit("key", int(requests), 1.0)]

async def main():
    limiter = RedisRateLimiter(url, prefix=prefix)
    accepted, tried, uncounted = [], 0, 0

    async def client():
        nonlocal tried, uncounted
        while time.time() < start + duration:
            outcome = await limiter.hit(limits, "key_shared", "acq_shared")
            tried += 1
            uncounted += outcome.limit == 0
            if outcome.allowed:
                accepted.append(time.time())

    await asyncio.sleep(max(0.0, start - time.time()))
    await asyncio.gather(*(client() for _ in range(4)))
    await limiter.close()
    print(json.dumps({"accepted": accepted, "tried": tried, "uncounted": uncounted}))

asyncio.run(main())
"""


def test_two_processes_hammering_one_key_admit_the_limit_within_ten_percent(
    redis_prefix: str,
) -> None:
    requests, duration = 200, 4.0
    # Late enough for both to have imported keyward (the gateway and its storage) on a busy box.
    start = time.time() + 10.0
    args = [REDIS_URL, redis_prefix, str(start), str(duration), str(requests)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    assert all(r["uncounted"] == 0 for r in results)
    assert all(r["accepted"] for r in results), "both processes must have been admitted"
    accepted = sorted(t for r in results for t in r["accepted"])
    tried = sum(r["tried"] for r in results)
    assert tried >= 3 * len(accepted), "the processes did not push past the limit"
    # Every one-second window after the first (the burst of an idle key) until the end.
    begin = start + 1.5
    while begin + 1.0 <= start + duration:
        in_window = sum(1 for t in accepted if begin <= t < begin + 1.0)
        assert 0.9 * requests <= in_window <= 1.1 * requests, (begin - start, in_window)
        begin += 0.1


def test_an_unreachable_redis_lets_requests_through_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    caplog.set_level(logging.WARNING, logger="keyward.verifier.limits")

    async def run() -> tuple[list[LimitOutcome], float]:
        try:
            first = await limiter.hit([PER_SECOND], "key_a", "acq_1")
            began = time.monotonic()
            paused = [await limiter.hit([PER_SECOND], "key_a", "acq_1") for _ in range(20)]
            return [first, *paused], time.monotonic() - began
        finally:
            await limiter.close()

    outcomes, paused_for = asyncio.run(run())
    assert outcomes == [UNCOUNTED] * 21
    assert headers(outcomes[0]) == []
    # While paused after a failure Redis is not tried, so requests are not slowed down.
    assert paused_for < 0.1
    warnings = [r for r in caplog.records if r.name == "keyward.verifier.limits"]
    assert len(warnings) == 1
    assert "pass uncounted" in warnings[0].getMessage()


class RedisServer:
    """A redis-server of the test's own on a free port, to stop and start again."""

    def __init__(self, port: int) -> None:
        self.url = f"redis://127.0.0.1:{port}/0"
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self._port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def own_redis(redis_prefix: str) -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_when_redis_goes_away_requests_pass_and_counting_resumes_when_it_is_back(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="keyward.verifier.limits")
    limiter = RedisRateLimiter(own_redis.url, timeout=0.2)
    limits = [Limit("key", 2, 60.0)]

    async def hit() -> LimitOutcome:
        return await limiter.hit(limits, "key_a", "acq_1")

    async def run() -> list[LimitOutcome]:
        seen = [await hit(), await hit(), await hit()]
        own_redis.stop()
        seen += [await hit(), await hit()]
        own_redis.start()
        await asyncio.sleep(RETRY_AFTER_FAILURE)
        seen += [await hit(), await hit(), await hit()]
        await limiter.close()
        return seen

    outcomes = asyncio.run(run())
    assert [o.allowed for o in outcomes[:3]] == [True, True, False]
    assert outcomes[3:5] == [UNCOUNTED, UNCOUNTED]
    # The new server starts from nothing (it keeps nothing on disk).
    assert [o.allowed for o in outcomes[5:]] == [True, True, False]
    assert outcomes[5].limit == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "keyward.verifier.limits"]
    assert len(messages) == 2
    assert "pass uncounted" in messages[0]
    assert "back" in messages[1]
