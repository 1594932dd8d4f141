"""Following the change feed: a thread that polls for new changes and evicts what they touch.

Polling is the portable path (SQLite and PostgreSQL). It also flushes the verifier's buffered
usage. If the feed shows a gap (rows pruned, or a sequence number burnt by a rolled-back
transaction) the follower cannot tell what it missed and clears the whole cache.
"""

import logging
import threading

from keyward.db import feed
from keyward.db.engine import Database
from keyward.verifier.verifier import Verifier

log = logging.getLogger(__name__)


class FeedFollower:
    def __init__(
        self,
        database: Database,
        verifier: Verifier,
        *,
        interval: float = 0.25,
        usage_interval: float = 5.0,
    ) -> None:
        self._database = database
        self._verifier = verifier
        self._interval = interval
        self._usage_every = max(1, round(usage_interval / interval))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with database.transaction(write=False) as uow:
            self.position = feed.bounds(uow.session)[1]

    def poll(self) -> int:
        """Apply the changes committed since the last poll; returns how many."""
        with self._database.transaction(write=False) as uow:
            changes = feed.read_since(uow.session, self.position)
        if not changes:
            return 0
        first = changes[0].seq
        if first is not None and first > self.position + 1:
            self._verifier.clear()
        else:
            self._verifier.apply(changes)
        self.position = changes[-1].seq or self.position
        return len(changes)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="keyward-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._verifier.flush_usage()

    def _run(self) -> None:
        rounds = 0
        while not self._stop.wait(self._interval):
            rounds += 1
            try:
                while self.poll() == feed.READ_LIMIT:
                    pass
                if rounds % self._usage_every == 0:
                    self._verifier.flush_usage()
            except Exception:
                log.exception("change feed poll failed; retrying")
