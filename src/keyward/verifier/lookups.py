"""Reads of uncached keys: bounded in number at once, in waiting, and per second.

Each process reads at most `concurrency` keys from storage at once, keeps at most `queue` more
waiting for a free slot, and starts at most `per_second` reads a second (0: no ceiling). A read
beyond any of these bounds is refused at once (`submit` answers None): the caller answers
`verification_unavailable` instead of queueing without bound behind a slow or flooded storage.
Requests for a key already being read share that read. A read keeps its slot until it returns,
even when every caller stopped waiting for it.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from queue import SimpleQueue
from typing import Final

from keyward.core.verdicts import KeySnapshot

Read = Callable[[], KeySnapshot | None]
"""Reads one key from storage: its snapshot, or None when no key has that secret."""
Pending = Future[KeySnapshot | None]

_THREAD_NAME: Final = "keyward-lookup"


class Lookups:
    """The reads in flight in one process, and the bounds they stay within."""

    def __init__(
        self,
        *,
        concurrency: int,
        queue: int,
        per_second: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = concurrency + queue
        self._concurrency = concurrency
        self._per_second = float(per_second)
        self._clock = clock
        # Daemon threads, started as reads need them: a read hanging on an unreachable server
        # never keeps the process from exiting.
        self._threads: list[threading.Thread] = []
        self._reads: SimpleQueue[tuple[Pending, Read] | None] = SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._pending: dict[bytes, Pending] = {}
        # A bucket of `per_second` reads, refilled continuously.
        self._tokens = self._per_second
        self._filled_at = clock()
        self.refused = 0
        """Reads refused so far because a bound was reached."""

    @property
    def in_flight(self) -> int:
        """Reads running or waiting for a slot."""
        return len(self._pending)

    def submit(self, digest: bytes, read: Read) -> Pending | None:
        """The read `digest` names (the key's, as of a moment the caller chooses): one already
        in flight under that name, a new one started (or queued), or None when a bound is
        reached."""
        with self._lock:
            joined = self._pending.get(digest)
            if joined is not None:
                return joined
            if self._closed or len(self._pending) >= self._capacity or not self._take_token():
                self.refused += 1
                return None
            pending: Pending = Future()
            # Registered before any thread can run the read: it is in flight until it is done.
            pending.add_done_callback(partial(self._done, digest))
            self._pending[digest] = pending
            if len(self._threads) < min(len(self._pending), self._concurrency):
                thread = threading.Thread(target=self._work, name=_THREAD_NAME, daemon=True)
                self._threads.append(thread)
                thread.start()
            self._reads.put((pending, read))
        return pending

    def _take_token(self) -> bool:
        per_second = self._per_second
        if per_second <= 0:
            return True
        now = self._clock()
        self._tokens = min(per_second, self._tokens + (now - self._filled_at) * per_second)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _work(self) -> None:
        while (work := self._reads.get()) is not None:
            pending, read = work
            if not pending.set_running_or_notify_cancel():
                continue
            try:
                pending.set_result(read())
            except BaseException as error:
                pending.set_exception(error)

    def _done(self, digest: bytes, done: Pending) -> None:
        with self._lock:
            if self._pending.get(digest) is done:
                del self._pending[digest]

    def close(self) -> None:
        """Start no more reads; those running finish in their threads, those waiting are
        cancelled."""
        with self._lock:
            self._closed = True
            waiting = list(self._pending.values())
            for _ in self._threads:
                self._reads.put(None)
        for pending in waiting:
            pending.cancel()
