"""Rate limits and quotas: counting each request against an offering's limits, per key and per
acquisition, in this process or in Redis shared by every gateway.

The algorithm is the sliding-window counter. Time is cut into fixed windows of the limit's
period; for each (scope id, period) two counts are kept, the current window's and the previous
one's, and a request is let through when

    current + previous * (share of the previous window still inside the sliding window) + 1
        ≤ requests.

Memory is constant per active (scope id, period) and entries expire two periods after their
last request, so a quota of P30D costs the same as a rate limit of PT1S. The error bound: the
estimate takes the previous window's requests as evenly spread. Under steady load, including
clients hammering past the limit, admissions are spread evenly by the algorithm itself and any
window of one period admits the limit to within one request. After a quiet spell a client can
burst the whole limit at the end of one window and, as that burst is then weighed down
gradually, use up to the limit again in the next: in the worst case a sliding window admits
twice the limit, as does a fixed window at its boundary. (An exact sliding log would need
memory per request.)

In Redis one Lua script checks and counts every limit of a request in one round trip, atomically,
on the server's clock: any number of gateway processes share one exact count, so together they
admit what one process would. A request is counted against every limit only when all of them let
it through; a refused request consumes nothing.

When Redis cannot be reached the limiter fails open: requests pass uncounted (and without
`RateLimit-*` headers) and a warning is logged once per outage. Limits protect capacity; they
are not authentication, and an outage of Redis should not become an outage of every API. After a
failure Redis is not tried again for `RETRY_AFTER_FAILURE` seconds, so an outage does not add a
connection timeout to every request.

Without Redis, counts are leased from storage (`LeasedRateLimiter`, the default of a gateway):
each process takes chunks of a window from the `limit_leases` table (`leases`) and admits them
without asking again, so every gateway process on one database shares one count, within the
chunks held unused (a few per cent of the limit), and a quota outlives a restart. A process asks
storage once per chunk, not once per request; a window the limit has used up is asked about
again at most once a second. Short windows (per second, per minute) are leased the same way:
a window costs from a few to about a hundred leases (more processes, smaller chunks), whatever
the traffic, and one mechanism keeps every period in one place on SQLite and PostgreSQL alike;
where that is too many round trips, Redis counts without them. When storage cannot be reached
the limiter fails open, as with Redis.
"""

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from keyward.core.clock import Clock, SystemClock
from keyward.db.engine import Database
from keyward.verifier.leases import Lease, LeaseWanted, Returned, take_leases

log = logging.getLogger(__name__)

__all__ = [
    "UNCOUNTED",
    "LeasedRateLimiter",
    "Limit",
    "LimitOutcome",
    "LocalRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "headers",
    "rate_limiter",
]


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `requests` requests in `period` seconds, for each key or each acquisition."""

    scope: str  # "key" | "acquisition"
    requests: int
    period: float


@dataclass(frozen=True, slots=True)
class LimitOutcome:
    """A request's standing against its limits, told by the most constraining one.

    Allowed: the limit with the fewest requests remaining (after this one), and `reset`, the
    seconds until its current window closes. Refused: the limit that frees up last, and
    `retry_after` (= `reset`), the seconds until it would let a request through if nothing else
    is sent meanwhile. `limit` 0 means nothing was counted (no limits, or Redis unreachable).
    """

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: float | None


# How often the in-process limiter sweeps out counts that can no longer matter (seconds).
SWEEP_EVERY = 60.0
# How long Redis, or storage for leases, is left alone after it failed (seconds).
RETRY_AFTER_FAILURE = 1.0
# How long a window leases refused is refused without asking storage again, at most (ms): what
# other processes give back meanwhile is found then.
RECHECK_MS = 1000
# ... and at least, when the sliding window frees a request sooner (ms).
RECHECK_MIN_MS = 10

UNCOUNTED = LimitOutcome(allowed=True, limit=0, remaining=0, reset=0.0, retry_after=None)


class RateLimiter(Protocol):
    async def hit(
        self, limits: Sequence[Limit], key_id: str, acquisition_id: str
    ) -> LimitOutcome: ...

    def hit_now(
        self, limits: Sequence[Limit], key_id: str, acquisition_id: str
    ) -> LimitOutcome | None:
        """`hit`, when it can be done without waiting (counts kept in this process), else None
        and nothing is counted."""

    async def close(self) -> None: ...


def headers(outcome: LimitOutcome) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Limit`, `-Remaining` and `-Reset` (whole seconds, rounded up), and `Retry-After`
    when refused; nothing for an uncounted outcome."""
    if outcome.limit == 0:
        return []
    found = [
        (b"ratelimit-limit", b"%d" % outcome.limit),
        (b"ratelimit-remaining", b"%d" % outcome.remaining),
        (b"ratelimit-reset", b"%d" % math.ceil(outcome.reset)),
    ]
    if outcome.retry_after is not None:
        found.append((b"retry-after", b"%d" % max(1, math.ceil(outcome.retry_after))))
    return found


def _period_ms(limit: Limit) -> int:
    return max(1, round(limit.period * 1000))


def _scope_id(limit: Limit, key_id: str, acquisition_id: str) -> str:
    return acquisition_id if limit.scope == "acquisition" else key_id


@dataclass(frozen=True, slots=True)
class _Count:
    """One limit's counts at `now_ms`: its current and previous window's requests."""

    limit: Limit
    previous: int
    current: int
    elapsed_ms: int  # since the current window opened
    period_ms: int

    def used(self) -> float:
        # In the order the Lua script computes it, so both sides agree to the last bit.
        return self.current + self.previous * (self.period_ms - self.elapsed_ms) / self.period_ms

    def admits_one(self) -> bool:
        return self.used() + 1 <= self.limit.requests

    def remaining(self) -> int:
        return max(0, math.floor(self.limit.requests - self.used()))

    def closes_in(self) -> float:
        return (self.period_ms - self.elapsed_ms) / 1000

    def wait(self) -> float:
        """Seconds until one more request fits, if none is sent meanwhile."""
        room = self.limit.requests - 1
        period = self.period_ms / 1000
        if self.current <= room:
            # The previous window's share shrinks until current + share ≤ room.
            if self.previous == 0:
                return 0.0
            at = period * (1 - (room - self.current) / self.previous)
            return max(0.0, at - self.elapsed_ms / 1000)
        # This window alone is over: wait for it to become the previous one and shrink.
        return self.closes_in() + period * (1 - room / self.current)


def _outcome(counts: Sequence[_Count], allowed: bool) -> LimitOutcome:
    """The outcome told by the most constraining limit; `counts` include this request if
    `allowed`."""
    if allowed:
        tightest = min(counts, key=lambda c: (c.remaining(), -c.closes_in()))
        return LimitOutcome(
            True, tightest.limit.requests, tightest.remaining(), tightest.closes_in(), None
        )
    # Redis decided; should its arithmetic have rounded differently, every limit is a suspect.
    refusing = [c for c in counts if not c.admits_one()] or list(counts)
    slowest = max(refusing, key=lambda c: c.wait())
    wait = slowest.wait()
    return LimitOutcome(False, slowest.limit.requests, 0, wait, wait)


class LocalRateLimiter:
    """Limits counted in this process: exact for one process, on the injected clock.

    Meant for the event loop: `hit` never awaits, so concurrent requests cannot interleave
    inside it. Counts of windows that can no longer matter are swept out now and then.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        # (scope, scope id, period ms) -> [window number, previous count, current count]
        self._windows: dict[tuple[str, str, int], list[int]] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._windows)

    async def hit(self, limits: Sequence[Limit], key_id: str, acquisition_id: str) -> LimitOutcome:
        return self.hit_now(limits, key_id, acquisition_id)

    def hit_now(self, limits: Sequence[Limit], key_id: str, acquisition_id: str) -> LimitOutcome:
        if not limits:
            return UNCOUNTED
        now = self._clock.timestamp()
        if now >= self._next_sweep:
            self._sweep(now)
        now_ms = round(now * 1000)
        entries: list[list[int]] = []
        counts: list[_Count] = []
        for limit in limits:
            period_ms = _period_ms(limit)
            window = now_ms // period_ms
            slot = (limit.scope, _scope_id(limit, key_id, acquisition_id), period_ms)
            entry = self._windows.get(slot)
            if entry is None:
                entry = self._windows[slot] = [window, 0, 0]
            elif entry[0] != window:
                entry[1] = entry[2] if entry[0] == window - 1 else 0
                entry[0], entry[2] = window, 0
            entries.append(entry)
            counts.append(_Count(limit, entry[1], entry[2], now_ms - window * period_ms, period_ms))
        allowed = all(count.admits_one() for count in counts)
        if allowed:
            for entry in entries:
                entry[2] += 1
            counts = [
                _Count(c.limit, c.previous, c.current + 1, c.elapsed_ms, c.period_ms)
                for c in counts
            ]
        return _outcome(counts, allowed)

    def _sweep(self, now: float) -> None:
        now_ms = round(now * 1000)
        stale = [
            slot for slot, (window, _, _) in self._windows.items() if window < now_ms // slot[2] - 1
        ]
        for slot in stale:
            del self._windows[slot]
        self._next_sweep = now + SWEEP_EVERY

    async def close(self) -> None:
        self._windows.clear()


# KEYS: one hash per (scope id, period) with fields w (window number), c (its count) and
# p (the previous window's count). ARGV: requests and period in ms for each key, in order.
# Replies {now ms, allowed 0|1, previous 1, current 1, previous 2, current 2, ...}, the currents
# including this request when it was allowed.
_HIT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local allowed = 1
local windows, previous, current = {}, {}, {}
for i, key in ipairs(KEYS) do
  local requests = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local window = math.floor(now / period)
  local stored = redis.call('HMGET', key, 'w', 'c', 'p')
  local w = tonumber(stored[1])
  local p, c = 0, 0
  if w == window then
    c = tonumber(stored[2]) or 0
    p = tonumber(stored[3]) or 0
  elseif w == window - 1 then
    p = tonumber(stored[2]) or 0
  end
  windows[i], previous[i], current[i] = window, p, c
  local elapsed = now - window * period
  if c + p * (period - elapsed) / period + 1 > requests then
    allowed = 0
  end
end
local reply = {now, allowed}
for i, key in ipairs(KEYS) do
  if allowed == 1 then
    current[i] = current[i] + 1
    redis.call('HSET', key, 'w', windows[i], 'c', current[i], 'p', previous[i])
    redis.call('PEXPIRE', key, 2 * tonumber(ARGV[2 * i]))
  end
  reply[#reply + 1] = previous[i]
  reply[#reply + 1] = current[i]
end
return reply
"""


class RedisRateLimiter:
    """Limits counted in Redis, shared by every process that uses the same server and prefix."""

    def __init__(self, url: str, *, prefix: str = "keyward:limits:", timeout: float = 0.5) -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script = self._redis.register_script(_HIT)
        self._prefix = prefix
        self._paused_until = 0.0
        self._failing = False

    def hit_now(self, limits: Sequence[Limit], key_id: str, acquisition_id: str) -> None:
        """Counting takes a round trip to Redis: always awaited through `hit`."""
        return None

    def _key(self, limit: Limit, key_id: str, acquisition_id: str) -> str:
        # The acquisition in braces puts every counter of one request in one cluster slot.
        scope_id = _scope_id(limit, key_id, acquisition_id)
        return f"{self._prefix}{{{acquisition_id}}}:{limit.scope}:{scope_id}:{_period_ms(limit)}"

    async def hit(self, limits: Sequence[Limit], key_id: str, acquisition_id: str) -> LimitOutcome:
        if not limits or time.monotonic() < self._paused_until:
            return UNCOUNTED
        keys = [self._key(limit, key_id, acquisition_id) for limit in limits]
        args: list[int] = []
        for limit in limits:
            args += (limit.requests, _period_ms(limit))
        try:
            reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as error:
            self._paused_until = time.monotonic() + RETRY_AFTER_FAILURE
            if not self._failing:
                self._failing = True
                log.warning(
                    "Redis cannot be used for rate limits (%s: %s); requests pass uncounted "
                    "until it can",
                    type(error).__name__,
                    error,
                )
            return UNCOUNTED
        if self._failing:
            self._failing = False
            log.warning("Redis is back: rate limits are counted again")
        now_ms, allowed = int(reply[0]), reply[1] == 1
        counts = []
        for i, limit in enumerate(limits):
            period_ms = _period_ms(limit)
            elapsed_ms = now_ms - now_ms // period_ms * period_ms
            previous, current = int(reply[2 + 2 * i]), int(reply[3 + 2 * i])
            counts.append(_Count(limit, previous, current, elapsed_ms, period_ms))
        return _outcome(counts, allowed)

    async def close(self) -> None:
        await self._redis.aclose()


class _Held:
    """What this process holds of one window of one limit, and what storage said last."""

    __slots__ = ("granted", "previous", "recheck_ms", "refused_at", "storage", "used", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.granted = 0  # leased by this process in this window
        self.used = 0  # admitted by this process in this window
        self.previous = 0  # the previous window's count, at the last lease
        self.storage = 0  # this window's count of every process, at the last lease
        self.recheck_ms = 0  # a lease was refused: refuse without asking until then
        self.refused_at = 0  # the limit's requests then: a limit raised since asks again

    def refusing(self, limit: Limit, now_ms: int) -> bool:
        """Whether a lease of `limit` was refused lately enough to refuse without asking."""
        return self.recheck_ms > now_ms and self.refused_at >= limit.requests

    def count(self, limit: Limit, now_ms: int, period_ms: int) -> _Count:
        """The limit's counts as far as this process knows: the others' leases as used."""
        current = self.storage - self.granted + self.used
        return _Count(limit, self.previous, current, now_ms - self.window * period_ms, period_ms)


class LeasedRateLimiter:
    """Limits counted in chunks leased from storage, shared by every process on `database`.

    `hit_now` admits from the chunks this process holds without I/O; when a limit's chunk is
    used up it returns None and `hit` leases the next one in a thread (one lease at a time per
    limit, however many requests wait for it) and decides again. Unused chunks go back to
    storage when their window closes and on `close`.
    """

    def __init__(self, database: Database, *, processes: int = 1) -> None:
        self._database = database
        self._clock: Clock = database.clock
        self._processes = max(1, processes)
        # (scope, scope id, period ms) -> what this process holds of the current window
        self._held: dict[tuple[str, str, int], _Held] = {}
        self._leasing: dict[tuple[str, str, int], asyncio.Future[None]] = {}
        self._returns: list[Returned] = []
        self._next_sweep = 0.0
        self._paused_until = 0.0
        self._failing = False

    def __len__(self) -> int:
        return len(self._held)

    def hit_now(
        self, limits: Sequence[Limit], key_id: str, acquisition_id: str
    ) -> LimitOutcome | None:
        if not limits:
            return UNCOUNTED
        now = self._clock.timestamp()
        if now < self._paused_until:
            return UNCOUNTED
        if now >= self._next_sweep:
            self._sweep(now)
        now_ms = round(now * 1000)
        held: list[_Held] = []
        refused: list[_Count] = []
        unknown = False
        for limit in limits:
            period_ms = _period_ms(limit)
            entry = self._held.get(_slot(limit, key_id, acquisition_id))
            if entry is None or entry.window != now_ms // period_ms:
                unknown = True
            elif entry.used < entry.granted:
                held.append(entry)
            elif entry.refusing(limit, now_ms):
                refused.append(entry.count(limit, now_ms, period_ms))
            else:
                unknown = True
        if refused:
            return _outcome(refused, False)
        if unknown:
            return None
        counts = []
        for limit, entry in zip(limits, held, strict=True):
            entry.used += 1
            counts.append(entry.count(limit, now_ms, _period_ms(limit)))
        return _outcome(counts, True)

    async def hit(self, limits: Sequence[Limit], key_id: str, acquisition_id: str) -> LimitOutcome:
        while True:
            outcome = self.hit_now(limits, key_id, acquisition_id)
            if outcome is not None:
                return outcome
            await self._lease(limits, key_id, acquisition_id)

    async def _lease(self, limits: Sequence[Limit], key_id: str, acquisition_id: str) -> None:
        """Lease a chunk of each limit whose chunk is used up, or wait for the lease already
        under way."""
        now_ms = round(self._clock.timestamp() * 1000)
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[None]] = []
        slots: list[tuple[str, str, int]] = []
        wanted: list[LeaseWanted] = []
        for limit in limits:
            slot = _slot(limit, key_id, acquisition_id)
            under_way = self._leasing.get(slot)
            if under_way is not None:
                waiting.append(under_way)
                continue
            period_ms = slot[2]
            window = now_ms // period_ms
            entry = self._held.get(slot)
            if entry is not None and entry.window == window:
                if entry.used < entry.granted or entry.refusing(limit, now_ms):
                    continue
            else:
                if entry is not None:
                    self._give_back(slot, entry)
                self._held[slot] = _Held(window)
            slots.append(slot)
            wanted.append(
                LeaseWanted(
                    _slot_name(slot),
                    window,
                    period_ms,
                    limit.requests,
                    now_ms - window * period_ms,
                    self._processes,
                )
            )
        if wanted:
            done: asyncio.Future[None] = loop.create_future()
            for slot in slots:
                self._leasing[slot] = done
            returns, self._returns = self._returns, []
            try:
                leases = await loop.run_in_executor(
                    None, take_leases, self._database, wanted, returns
                )
            except (SQLAlchemyError, OSError) as error:
                self._returns = returns + self._returns
                self._fail(error)
            else:
                self._recover()
                self._took(slots, wanted, leases, limits, key_id, acquisition_id)
            finally:
                for slot in slots:
                    del self._leasing[slot]
                done.set_result(None)
        if waiting:
            await asyncio.wait(waiting)

    def _took(
        self,
        slots: list[tuple[str, str, int]],
        wanted: list[LeaseWanted],
        leases: list[Lease],
        limits: Sequence[Limit],
        key_id: str,
        acquisition_id: str,
    ) -> None:
        by_slot = {_slot(limit, key_id, acquisition_id): limit for limit in limits}
        now_ms = round(self._clock.timestamp() * 1000)
        for slot, want, lease in zip(slots, wanted, leases, strict=True):
            entry = self._held.get(slot)
            if entry is None or entry.window != want.window:
                # The window closed while leasing: what was granted goes back.
                self._returns.append(Returned(want.slot, want.window, lease.granted))
                continue
            entry.granted += lease.granted
            entry.previous, entry.storage = lease.previous, lease.current
            if lease.granted:
                entry.recheck_ms = 0
            else:
                limit = by_slot[slot]
                wait_ms = round(entry.count(limit, now_ms, slot[2]).wait() * 1000)
                entry.recheck_ms = now_ms + max(RECHECK_MIN_MS, min(RECHECK_MS, wait_ms))
                entry.refused_at = limit.requests

    def _give_back(self, slot: tuple[str, str, int], entry: _Held) -> None:
        if entry.granted > entry.used:
            self._returns.append(
                Returned(_slot_name(slot), entry.window, entry.granted - entry.used)
            )

    def _fail(self, error: Exception) -> None:
        self._paused_until = self._clock.timestamp() + RETRY_AFTER_FAILURE
        if not self._failing:
            self._failing = True
            log.warning(
                "storage cannot be used for rate limits (%s: %s); requests pass uncounted "
                "until it can",
                type(error).__name__,
                error,
            )

    def _recover(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("storage is back: rate limits are counted again")

    def _sweep(self, now: float) -> None:
        now_ms = round(now * 1000)
        stale = [slot for slot, entry in self._held.items() if entry.window < now_ms // slot[2]]
        for slot in stale:
            if slot not in self._leasing:
                self._give_back(slot, self._held.pop(slot))
        self._next_sweep = now + SWEEP_EVERY

    async def close(self) -> None:
        """Give back every chunk held unused, so that the next process may admit it."""
        for slot, entry in self._held.items():
            self._give_back(slot, entry)
        self._held.clear()
        returns, self._returns = self._returns, []
        if not returns:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, take_leases, self._database, [], returns)
        except (SQLAlchemyError, OSError) as error:
            log.warning(
                "unused rate limit chunks could not be given back (%s: %s)",
                type(error).__name__,
                error,
            )


def _slot(limit: Limit, key_id: str, acquisition_id: str) -> tuple[str, str, int]:
    return (limit.scope, _scope_id(limit, key_id, acquisition_id), _period_ms(limit))


def _slot_name(slot: tuple[str, str, int]) -> str:
    return f"{slot[0]}:{slot[1]}:{slot[2]}"


def rate_limiter(
    redis_url: str | None,
    database: Database | None = None,
    *,
    processes: int = 1,
    clock: Clock | None = None,
) -> RateLimiter:
    """Counting in Redis when a URL is given (gateways share the counts, on Redis's clock), else
    leased from `database` by one of `processes` processes (on the database's clock), else
    in-process on `clock`."""
    if redis_url:
        return RedisRateLimiter(redis_url)
    if database is not None:
        return LeasedRateLimiter(database, processes=processes)
    return LocalRateLimiter(clock)
