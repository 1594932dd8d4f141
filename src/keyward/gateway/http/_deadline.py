"""A deadline that can move on every chunk of data for the price of one timer handle."""

import asyncio
from collections.abc import Callable
from typing import Final

# Event loops may run a timer up to their clock resolution early.
_EARLY: Final = 0.001


class Deadline:
    """Calls `expire` once the time set last has passed, unless cleared first.

    Moving the deadline later touches no timer: the pending one wakes, finds it early and sleeps
    again. Only a deadline earlier than the pending timer replaces it.
    """

    __slots__ = ("_expire", "_handle", "_handle_when", "_loop", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[], None]) -> None:
        self._loop = loop
        self._expire = expire
        self._when: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when = 0.0

    def after(self, seconds: float) -> None:
        """Expire `seconds` from now."""
        when = self._loop.time() + seconds
        self._when = when
        handle = self._handle
        if handle is None or self._handle_when > when:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(when, self._wake)
            self._handle_when = when

    def clear(self) -> None:
        self._when = None

    def cancel(self) -> None:
        """Clear and release the timer; for a connection that is gone."""
        self._when = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _wake(self) -> None:
        self._handle = None
        when = self._when
        if when is None:
            return
        if self._loop.time() < when - _EARLY:
            self._handle = self._loop.call_at(when, self._wake)
            self._handle_when = when
            return
        self._when = None
        self._expire()
