"""Helpers for verifier tests: waiting for a follower, and storage that fails on demand."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
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


@contextmanager
def storage_down(database: Database) -> Iterator[list[str]]:
    """Every statement on `database` fails as a server that cannot be reached makes it fail.

    Yields the statements that were attempted meanwhile.
    """
    attempted: list[str] = []

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        attempted.append(statement)
        raise OperationalError(statement, None, ConnectionRefusedError("storage is down"))

    event.listen(database.engine, "before_cursor_execute", refuse)
    try:
        yield attempted
    finally:
        event.remove(database.engine, "before_cursor_execute", refuse)
