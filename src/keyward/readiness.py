"""Whether a keyward process is ready to serve, and the answers of /healthz and /readyz.

Ready means: storage answers within a short deadline, the gateway's catalog is loaded, and the
change feed was read to its end less than `ready_max_feed_lag` seconds ago. Storage is checked
by one thread at a time, at most once a second, so a probe never piles up connections on a
storage that hangs, and a caller that must not block (the gateway's event loop) reads the last
result instead of waiting.
"""

import json
import logging
import threading
import time
from typing import Any, Final

from sqlalchemy import text

from keyward.core.errors import error_body
from keyward.db.engine import Database

log: Final = logging.getLogger("keyward.readiness")

STORAGE_DEADLINE: Final = 1.0
"""Seconds storage has to answer a check before it counts as unreachable."""
CHECK_EVERY: Final = 1.0
"""Seconds between two storage checks, however often readiness is asked."""

ALIVE: Final = {"status": "ok"}
READY: Final = {"status": "ready"}


class StorageCheck:
    """Whether `database` answers `SELECT 1` within `deadline` seconds."""

    def __init__(
        self, database: Database, *, deadline: float = STORAGE_DEADLINE, every: float = CHECK_EVERY
    ) -> None:
        self._database = database
        self._deadline = deadline
        self._every = every
        self._lock = threading.Lock()
        self._reachable = False
        self._checked = False
        self._checked_at = -float("inf")
        self._running: threading.Event | None = None
        self._running_since = 0.0

    def reachable(self, *, wait: bool = False) -> bool:
        """Storage's state by the last check, starting another when the last one is older
        than `every`. With `wait`, waits for a check that runs (at most the deadline); without
        it, never blocks. A check still running past the deadline counts as unreachable; so
        does storage never checked yet."""
        now = time.monotonic()
        with self._lock:
            running = self._running
            if running is None and now - self._checked_at >= self._every:
                running = self._running = threading.Event()
                self._running_since = now
                threading.Thread(
                    target=self._check, args=(running,), name="keyward-storage-check", daemon=True
                ).start()
            since = self._running_since
        if wait and running is not None:
            running.wait(max(0.0, self._deadline - (time.monotonic() - since)))
        with self._lock:
            if self._running is not None and time.monotonic() - since >= self._deadline:
                return False
            return self._checked and self._reachable

    def _check(self, done: threading.Event) -> None:
        try:
            with self._database.transaction(write=False) as uow:
                uow.session.execute(text("SELECT 1"))
        except Exception as error:
            reachable = False
            if self._reachable or not self._checked:
                log.warning("storage did not answer a readiness check: %s", error)
        else:
            reachable = True
        with self._lock:
            self._reachable, self._checked = reachable, True
            self._checked_at = time.monotonic()
            self._running = None
        done.set()


def not_ready(
    *, storage: bool, feed_lag: float | None, max_feed_lag: float, catalog: bool = True
) -> dict[str, str]:
    """What is not ready, each with why (empty: ready). `feed_lag` is None where no feed is
    followed."""
    problems: dict[str, str] = {}
    if not storage:
        problems["storage"] = (
            f"storage did not answer within {STORAGE_DEADLINE:g} s, or failed to answer"
        )
    if not catalog:
        problems["catalog"] = "the catalog of APIs and offerings is not loaded yet"
    if feed_lag is not None and feed_lag > max_feed_lag:
        problems["feed"] = (
            f"the change feed was last read to its end {feed_lag:.1f} s ago "
            f"(KEYWARD_READY_MAX_FEED_LAG is {max_feed_lag:g} s)"
        )
    return problems


def readiness(problems: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """/readyz's status and JSON body: 200 when nothing is wrong, else 503 naming each part
    that is not ready in `details.not_ready`."""
    if not problems:
        return 200, READY
    message = "Not ready to serve: " + "; ".join(problems.values()) + "."
    return 503, error_body("not_ready", message, {"not_ready": sorted(problems), **problems})


def json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
