"""Limit leases in storage: chunks of a limit's window taken by gateway processes, so that every
process of a machine draws on one count and a quota outlives a restart (`limit_leases`).

A process asks for a chunk when it has admitted all it holds. The chunk is at most what the
sliding window still admits, counting everything leased in the window so far as used, and
shrinks as the window fills: `requests / (8 · processes)` while there is room, then half the
room shared among the processes, and at least one request. So processes take a few dozen
chunks per window whatever the traffic, and what they hold unused when the limit is reached
is a small part of it. What a process holds unused when its window closes, or when it stops,
it gives back, so the previous window's count is what was admitted.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text
from sqlalchemy.orm import Session

from keyward.db.engine import Database

__all__ = ["Lease", "LeaseWanted", "Returned", "chunk", "take_leases"]


@dataclass(frozen=True, slots=True)
class LeaseWanted:
    """A chunk of window `window` of `slot`, a limit of `requests` per `period_ms`, asked for
    `elapsed_ms` into the window by one of `processes` processes."""

    slot: str
    window: int
    period_ms: int
    requests: int
    elapsed_ms: int
    processes: int


@dataclass(frozen=True, slots=True)
class Returned:
    """`count` requests of window `window` of `slot` leased and not admitted: given back."""

    slot: str
    window: int
    count: int


@dataclass(frozen=True, slots=True)
class Lease:
    """What a lease got: `granted` requests to admit (0: the window admits no more now), and
    storage's counts after it, the previous window's and this one's (every process's leases,
    this one's included)."""

    granted: int
    previous: int
    current: int


def chunk(requests: int, room: int, processes: int) -> int:
    """How many of the `room` requests left in a window one of `processes` processes takes."""
    if room <= 0:
        return 0
    share = max(1, min(math.ceil(requests / (8 * processes)), room // (2 * processes)))
    return min(share, room)


def ceiling(requests: int, previous: int, elapsed_ms: int, period_ms: int) -> int:
    """The most this window may count `elapsed_ms` into it, given the previous window's
    count: the sliding window estimate, computed as `limits` computes it."""
    return math.floor(requests - previous * (period_ms - elapsed_ms) / period_ms)


_ENSURE: Final = text(
    "INSERT INTO limit_leases (slot, window_number, leased) VALUES (:slot, :window, 0) "
    "ON CONFLICT (slot, window_number) DO NOTHING"
)
_FORGET_OLD: Final = text("DELETE FROM limit_leases WHERE slot = :slot AND window_number < :window")
_READ: Final = "SELECT leased FROM limit_leases WHERE slot = :slot AND window_number = :window"
_ADD: Final = text(
    "UPDATE limit_leases SET leased = leased + :count "
    "WHERE slot = :slot AND window_number = :window"
)
_GIVE_BACK: Final = text(
    "UPDATE limit_leases SET leased = CASE WHEN leased > :count THEN leased - :count ELSE 0 END "
    "WHERE slot = :slot AND window_number = :window"
)


def take_leases(
    database: Database, wanted: Sequence[LeaseWanted], returned: Sequence[Returned] = ()
) -> list[Lease]:
    """Give back what was `returned`, then lease a chunk of each window `wanted`, in one
    transaction, from any thread; the leases in the order wanted.

    Leasing is atomic across processes: SQLite takes the write lock up front, PostgreSQL locks
    each window's row (in the order of their slots, so two processes never wait on each
    other)."""
    if not wanted and not returned:
        return []
    with database.transaction() as uow:
        session = uow.session
        lock = " FOR UPDATE" if database.dialect == "postgresql" else ""
        for back in sorted(returned, key=lambda r: (r.slot, r.window)):
            if back.count > 0:
                session.execute(
                    _GIVE_BACK, {"slot": back.slot, "window": back.window, "count": back.count}
                )
        leases: dict[int, Lease] = {}
        for index, want in sorted(enumerate(wanted), key=lambda item: item[1].slot):
            leases[index] = _lease(session, want, lock)
        return [leases[index] for index in range(len(wanted))]


def _lease(session: Session, want: LeaseWanted, lock: str) -> Lease:
    key = {"slot": want.slot, "window": want.window}
    if session.execute(_ENSURE, key).rowcount:  # type: ignore[attr-defined]
        # The slot's first lease of this window: windows before the previous one no longer
        # weigh on anything.
        session.execute(_FORGET_OLD, {"slot": want.slot, "window": want.window - 1})
    current = int(session.execute(text(_READ + lock), key).scalar_one())
    previous = session.execute(
        text(_READ), {"slot": want.slot, "window": want.window - 1}
    ).scalar_one_or_none()
    earlier = int(previous or 0)
    room = ceiling(want.requests, earlier, want.elapsed_ms, want.period_ms) - current
    granted = chunk(want.requests, room, want.processes)
    if granted:
        session.execute(_ADD, {**key, "count": granted})
    return Lease(granted, earlier, current + granted)
