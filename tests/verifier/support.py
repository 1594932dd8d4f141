"""Helpers for verifier tests: waiting for a follower, and storage that fails on demand."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from keyward.db.engine import Database


def eventually(condition: Callable[[], bool], within: float = 5.0) -> float:
    """Seconds until `condition()` held, checked every few milliseconds; fails after `within`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not true within {within} s")
        time.sleep(0.002)
    return time.monotonic() - started


def _storage(url: URL) -> tuple[str, str | None, int | None, str | None]:
    return (url.get_backend_name(), url.host, url.port, url.database)


@contextmanager
def storage_down(database: Database) -> Iterator[list[str]]:
    """Every statement this process sends to the storage `database` reaches fails, as a server
    that cannot be reached makes it fail, on `database`'s engine and on any other engine to the
    same place (such as the verifier's own for its lookups).

    Yields the statements that were attempted meanwhile.
    """
    attempted: list[str] = []
    down = _storage(database.engine.url)

    def refuse(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if _storage(conn.engine.url) != down:
            return
        attempted.append(statement)
        raise OperationalError(statement, None, ConnectionRefusedError("storage is down"))

    event.listen(Engine, "before_cursor_execute", refuse)
    try:
        yield attempted
    finally:
        event.remove(Engine, "before_cursor_execute", refuse)
