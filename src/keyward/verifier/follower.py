"""Following the change feed: a thread that reads new changes and evicts what they touch.

Polling every `interval` seconds is the portable path (SQLite and PostgreSQL). On PostgreSQL the
follower also LISTENs on the feed's channel, which every transaction that records changes
notifies at commit, and reads the feed as soon as a notification arrives; polling stays the
fallback for lost notifications and while the listen connection is re-established. The thread
also flushes the verifier's buffered usage.

If the feed shows a gap (rows pruned, or a sequence number burnt by a rolled-back transaction)
the follower cannot tell what it missed and clears the whole cache. Storage errors never stop
the thread: it logs and retries, further apart while they last, from its position in the feed,
so every change committed in the meantime is applied before the cache counts as current again.

A gateway's follower also beats its `Heartbeat` from the thread: the position it has applied,
as soon as it advances and at the heartbeat's interval, so that a revocation can be answered
once every gateway applies it.

`catch_up` reads the feed at once, in the caller's thread, for a caller that must decide by
every change committed before it asked (a gateway about to refuse a request); reads never
overlap, so the changes are applied once each and in order.
"""

import logging
import socket
import threading
import time
from collections.abc import Callable

from keyward.db import feed
from keyward.db.engine import Database
from keyward.db.feed import Change
from keyward.verifier.heartbeat import Heartbeat
from keyward.verifier.notifications import FeedNotifications
from keyward.verifier.verifier import Verifier

log = logging.getLogger(__name__)

# Retry delays after failures, doubling from the first to the last (seconds).
RETRY_FIRST = 0.5
RETRY_MAX = 5.0
LISTEN_RETRY_MAX = 30.0

ChangeListener = Callable[[list[Change] | None], None]


class FeedFollower:
    """Keeps one verifier's cache current; `start` runs it in a thread, `poll` reads once.

    `listener`, if given, is called after each poll that applied changes, with those changes,
    or with None when the follower may have missed some (a gap in the feed, or the listener's
    own previous call raised).

    `heartbeat`, if given (or set before `start`), is beaten from the thread.
    """

    def __init__(
        self,
        database: Database,
        verifier: Verifier,
        *,
        interval: float = 0.25,
        usage_interval: float = 5.0,
        listener: ChangeListener | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._database = database
        self._verifier = verifier
        self._now = database.clock.timestamp
        self._interval = interval
        self._usage_interval = usage_interval
        self._listens = database.dialect == "postgresql"
        self._notifications: FeedNotifications | None = None
        self._listen_at = 0.0
        self._listen_delay = RETRY_FIRST
        self._listener = listener
        self._listener_missed = False
        self.heartbeat = heartbeat
        self._reading = threading.Lock()
        self._stop = threading.Event()
        self._interrupt: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        started = self._now()
        with database.transaction(write=False) as uow:
            self.position = feed.bounds(uow.session)[1]
        # POSIX time before the last read that reached the end of the feed: what was committed
        # before it is applied (readiness and metrics tell the feed lag by it).
        self.current_at = started
        # What the verifier cached before this position may predate changes never to be read.
        verifier.clear()
        verifier.confirm_current(started)

    @property
    def listening(self) -> bool:
        """Whether notifications wake this follower now (PostgreSQL, connection up)."""
        return self._notifications is not None

    def poll(self) -> int:
        """Apply the changes committed since the last poll; returns how many.

        A poll that reads to the end of the feed tells the verifier its cache is current.
        """
        with self._reading:
            return self._poll()

    def catch_up(self) -> None:
        """Apply every change committed before this call, reading in the caller's thread.

        Storage errors are raised; what was applied before one stays applied.
        """
        while self.poll() == feed.READ_LIMIT:
            pass

    def _poll(self) -> int:
        started = self._now()
        with self._database.transaction(write=False) as uow:
            changes = feed.read_since(uow.session, self.position)
        missed = False
        if changes:
            first = changes[0].seq
            missed = first is not None and first > self.position + 1
            if missed:
                self._verifier.clear()
            else:
                self._verifier.apply(changes)
            self.position = changes[-1].seq or self.position
        if len(changes) < feed.READ_LIMIT:
            self._verifier.confirm_current(started)
            self.current_at = started
        listener = self._listener
        if listener is not None and (changes or self._listener_missed):
            told = None if missed or self._listener_missed else list(changes)
            # Should the listener raise, the next poll tells it that it missed changes.
            self._listener_missed = True
            listener(told)
            self._listener_missed = False
        return len(changes)

    def start(self) -> None:
        self._interrupt = socket.socketpair()
        self._thread = threading.Thread(
            target=self._run, args=(self._interrupt[0],), name="keyward-feed", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        interrupt, self._interrupt = self._interrupt, None
        if interrupt is not None:
            interrupt[1].send(b"\0")
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if interrupt is not None:
            for end in interrupt:
                end.close()
        try:
            self._verifier.flush_usage()
        except Exception:
            log.exception("could not write buffered key usage on stopping")

    def _run(self, interrupt: socket.socket) -> None:
        failures = 0
        flush_at = time.monotonic() + self._usage_interval
        if self.heartbeat is not None:
            self.heartbeat.beat(self.position)
        try:
            while not self._stop.is_set():
                if (
                    self._listens
                    and self._notifications is None
                    and time.monotonic() >= self._listen_at
                ):
                    # Listening anew: what was notified while not listening is read right away.
                    self._listen(interrupt)
                else:
                    self._wait(self._interval if not failures else self._retry_delay(failures))
                    if self._stop.is_set():
                        break
                try:
                    while self.poll() == feed.READ_LIMIT:
                        pass
                except Exception:
                    failures += 1
                    log.warning(
                        "reading the change feed failed (%d in a row); retrying in %.1f s",
                        failures,
                        self._retry_delay(failures),
                        exc_info=failures == 1,
                    )
                else:
                    if failures:
                        log.warning("read the change feed again after %d failures", failures)
                    failures = 0
                heartbeat = self.heartbeat
                if heartbeat is not None and heartbeat.due(self.position):
                    heartbeat.beat(self.position)
                if time.monotonic() >= flush_at:
                    flush_at = time.monotonic() + self._usage_interval
                    try:
                        self._verifier.flush_usage()
                    except Exception as error:
                        log.warning(
                            "could not write key usage (%s); kept for the next flush", error
                        )
        finally:
            if self._notifications is not None:
                self._notifications.close()
                self._notifications = None

    def _retry_delay(self, failures: int) -> float:
        return min(RETRY_MAX, max(self._interval, RETRY_FIRST * 2.0 ** (failures - 1)))

    def _listen(self, interrupt: socket.socket) -> None:
        try:
            self._notifications = FeedNotifications(self._database.engine, interrupt)
        except Exception:
            log.warning(
                "cannot listen for change-feed notifications; polling, retrying in %.1f s",
                self._listen_delay,
                exc_info=self._listen_delay == RETRY_FIRST,
            )
            self._listen_at = time.monotonic() + self._listen_delay
            self._listen_delay = min(self._listen_delay * 2, LISTEN_RETRY_MAX)
        else:
            self._listen_delay = RETRY_FIRST

    def _wait(self, timeout: float) -> None:
        """Until a notification arrives, `timeout` passes or the follower is stopped."""
        notifications = self._notifications
        if notifications is None:
            self._stop.wait(timeout)
            return
        try:
            notifications.wait(timeout)
        except Exception:
            log.warning(
                "lost the change-feed notification connection; polling until it is back",
                exc_info=True,
            )
            notifications.close()
            self._notifications = None
            self._listen_at = time.monotonic() + self._listen_delay
