"""One delivering worker at a time on a SQLite file.

PostgreSQL workers share the outbox safely (FOR UPDATE SKIP LOCKED and leases). SQLite has no
row locks, so workers on one database file take turns: each batch (claim, deliver, settle) runs
under an exclusive lock on `<database file>.worker-lock`. The operating system drops the lock
when its holder exits, so a crashed worker never blocks the others.
"""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from keyward.db.engine import Database


def lock_path(database: Database) -> Path | None:
    """Where workers of `database` take turns; None when they need not (PostgreSQL, or an
    in-memory SQLite database no other process can open)."""
    url = make_url(database.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve().with_name(Path(url.database).name + ".worker-lock")


class TurnLock:
    """An exclusive lock shared by every worker (thread or process) on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path

    @contextmanager
    def turn(self, stop: threading.Event, poll: float = 0.05) -> Iterator[bool]:
        """Hold the lock for the block; yields False (without it) if `stop` is set first."""
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if stop.wait(poll):
                        yield False
                        return
            try:
                yield True
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)
