"""Time, injected: the system clock in production, a clock that can travel in tests."""

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

# Bound once: compiled code looks a module's attribute up again at every call.
_time: Final = time.time


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def timestamp(self) -> float:
        """The current time as POSIX seconds; cheaper than `now()` on hot paths."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return _time()


class ManualClock:
    """A clock that stands still until told to move: `advance()` or `set()`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        with self._lock:
            self._now = moment
