"""Usage per key: responses counted by minute and status class in memory, then added to storage
in batches (`key_usage`), so that traffic never waits for a write.

`record` is what the gateway calls once per response, on its event loop: a dict increment under
a lock that is only ever held for an increment or for swapping the dict out, never across I/O.
`flush` takes the buffered counts and adds them to storage in one transaction, as upserts that
add to the rows already there. A flush that fails puts its counts back, to be added by the next
one: nothing is lost and, as the counts leave the buffer only when their transaction commits,
nothing is added twice. Counts of a key deleted meanwhile are dropped (its usage rows go with
it).
"""

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from keyward.core.clock import Clock, SystemClock
from keyward.db.engine import Database
from keyward.db.models import ApiKey

STATUS_CLASSES: Final = ("2xx", "3xx", "4xx", "5xx")

# (workspace id, key id, minute since the epoch, status class)
_Slot = tuple[str, str, int, str]

_LOOKUP_CHUNK: Final = 500


def status_class(status: int) -> str:
    """'2xx' … '5xx'. A 1xx final answer (101 Switching Protocols) is a success: '2xx'."""
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    if status >= 300:
        return "3xx"
    return "2xx"


class UsageRecorder:
    """Responses counted per key, UTC minute and status class, in memory until `flush`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._now = (clock or SystemClock()).timestamp
        self._counts: dict[_Slot, int] = {}
        self._lock = threading.Lock()

    def record(self, key_id: str, workspace_id: str, status: int) -> None:
        """Count one response to a request made with `key_id`. No I/O."""
        if not key_id:
            return
        slot = (workspace_id, key_id, int(self._now() // 60), status_class(status))
        with self._lock:
            self._counts[slot] = self._counts.get(slot, 0) + 1

    def pending(self) -> int:
        """How many responses are counted but not yet stored."""
        with self._lock:
            return sum(self._counts.values())

    def flush(self, database: Database) -> int:
        """Add every buffered count to storage in one transaction; returns the rows written.

        On failure the counts go back into the buffer and the error is raised.
        """
        with self._lock:
            batch, self._counts = self._counts, {}
        if not batch:
            return 0
        try:
            with database.transaction() as uow:
                return _add_usage(uow.session, batch.items())
        except BaseException:
            with self._lock:
                for slot, count in batch.items():
                    self._counts[slot] = self._counts.get(slot, 0) + count
            raise


def _existing(session: Session, key_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(workspace id, key id) of the keys that still exist."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(key_ids), _LOOKUP_CHUNK):
        chunk = key_ids[start : start + _LOOKUP_CHUNK]
        # Rows as they are: a Row is typed as a tuple but is none, which compiled code checks.
        rows: Iterable[Any] = session.execute(
            select(ApiKey.workspace_id, ApiKey.id).where(ApiKey.id.in_(chunk))
        )
        found.update((row[0], row[1]) for row in rows)
    return found


# Statements sent through the driver, in its parameter style: sqlite3's `?`, psycopg's `%s`.
_ADD_USAGE: Final = (
    "INSERT INTO key_usage (workspace_id, key_id, minute, status_class, count) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id, minute, status_class) "
    "DO UPDATE SET count = key_usage.count + excluded.count",
    "INSERT INTO key_usage (workspace_id, key_id, minute, status_class, count) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key_id, minute, status_class) "
    "DO UPDATE SET count = key_usage.count + excluded.count",
)
_RECORD_LAST_USED: Final = (
    "UPDATE api_keys SET last_used_at = ? "
    "WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
    "UPDATE api_keys SET last_used_at = %s "
    "WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)",
)


def _add_usage(session: Session, counts: Iterable[tuple[_Slot, int]]) -> int:
    """Add counts to `key_usage` (upserts on SQLite and PostgreSQL); returns the rows written.

    Counts of keys that no longer exist, or not in the workspace given, are left out. Written
    through the driver, one statement for every row: SQLAlchemy's work per row (a dict, the
    UTC column type, the SQLite date format) cost ten times the writing.
    """
    counts = list(counts)
    existing = _existing(session, sorted({key_id for (_, key_id, _, _), _ in counts}))
    connection = session.connection()
    moment = _moment(connection)
    minutes: dict[int, object] = {}
    rows: list[tuple[str, str, object, str, int]] = []
    for (workspace_id, key_id, minute, status), count in counts:
        if (workspace_id, key_id) in existing:
            at = minutes.get(minute)
            if at is None:
                at = minutes[minute] = moment(minute * 60)
            rows.append((workspace_id, key_id, at, status, count))
    if not rows:
        return 0
    connection.exec_driver_sql(_in_style(connection, _ADD_USAGE), rows)
    return len(rows)


def record_last_used(session: Session, last_used: Sequence[tuple[str, float]]) -> None:
    """Move `last_used_at` forward (never back) for many keys in one statement, through the
    driver: SQLAlchemy's work per row cost more than the update."""
    if not last_used:
        return
    connection = session.connection()
    moment = _moment(connection)
    rows: list[tuple[object, str, object]] = []
    for key_id, at in last_used:
        used_at = moment(at)
        rows.append((used_at, key_id, used_at))
    connection.exec_driver_sql(_in_style(connection, _RECORD_LAST_USED), rows)


def _in_style(connection: Connection, statements: tuple[str, str]) -> str:
    """The statement in the driver's parameter style."""
    return statements[0] if connection.dialect.paramstyle == "qmark" else statements[1]


def _moment(connection: Connection) -> Callable[[float], object]:
    """POSIX seconds as the driver takes a UTC time column: on SQLite the text SQLAlchemy
    stores (no offset, always microseconds: it is compared as text), elsewhere a datetime."""
    if connection.dialect.name == "sqlite":
        return _SqliteMoments().text
    return _aware_moment


class _SqliteMoments:
    """Times as SQLite text; the seconds of a batch are few, so each is formatted once."""

    def __init__(self) -> None:
        self._seconds: dict[int, str] = {}

    def text(self, at: float) -> object:
        second = math.floor(at)
        microseconds = round((at - second) * 1_000_000)  # as datetime rounds them
        if microseconds == 1_000_000:
            second += 1
            microseconds = 0
        formatted = self._seconds.get(second)
        if formatted is None:
            formatted = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._seconds[second] = formatted
        return f"{formatted}.{microseconds:06d}"


def _aware_moment(at: float) -> object:
    return datetime.fromtimestamp(at, UTC)
