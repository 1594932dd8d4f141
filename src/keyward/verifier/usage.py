"""Usage per key: responses counted by minute and status class in memory, then added to storage
in batches (`key_usage`, and per hour for each key, acquisition, offering and API:
`usage_hours`), so that traffic never waits for a write.

`record` is what the gateway calls once per response, on its event loop: an increment in memory,
without a lock, as the counts are only ever touched on that thread. `take` swaps them out there
too, and `add_usage` adds what was taken to storage in one transaction, on any thread, as upserts
that add to the rows already there. Counts whose transaction fails are put back (`restore`) to
be added by the next one: nothing is lost and, as counts leave the buffer for good only when
their transaction commits, nothing is added twice. Counts of a key deleted meanwhile are dropped
(its usage rows go with it). The hourly counts are added in the same transaction as the minutes
they sum, so the two never disagree.
"""

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from keyward.core.clock import Clock, SystemClock
from keyward.db.engine import Database

STATUS_CLASSES: Final = ("2xx", "3xx", "4xx", "5xx")


def status_class(status: int) -> str:
    """'2xx' … '5xx'. A 1xx final answer (101 Switching Protocols) is a success: '2xx'."""
    return STATUS_CLASSES[_class_index(status)]


def _class_index(status: int) -> int:
    if status >= 500:
        return 3
    if status >= 400:
        return 2
    if status >= 300:
        return 1
    return 0


# Per minute since the epoch, per workspace id, per key id: responses by status class, in the
# order of STATUS_CLASSES. Nested so that counting one response builds no key: each level is
# looked up by an object the caller already holds.
Counts = dict[int, dict[str, dict[str, list[int]]]]


class UsageRecorder:
    """Responses counted per key, UTC minute and status class, in memory until taken.

    `record`, `take`, `restore` and `flush` are called on one thread, the one that counts."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._now = (clock or SystemClock()).timestamp
        self._counts: Counts = {}
        # The counts of the minute counted last, and which minute that is (-1: none).
        self._minute = -1
        self._this_minute: dict[str, dict[str, list[int]]] = {}

    def record(self, key_id: str, workspace_id: str, status: int) -> None:
        """Count one response to a request made with `key_id`. No I/O."""
        if not key_id:
            return
        minute = int(self._now() // 60)
        if minute != self._minute:
            self._minute = minute
            self._this_minute = self._counts.setdefault(minute, {})
        keys = self._this_minute.get(workspace_id)
        if keys is None:
            keys = self._this_minute[workspace_id] = {}
        counts = keys.get(key_id)
        if counts is None:
            counts = keys[key_id] = [0, 0, 0, 0]
        counts[_class_index(status)] += 1

    def pending(self) -> int:
        """How many responses are counted and not yet taken to be stored; from any thread."""
        # One C-level copy per level: counting may go on meanwhile.
        return sum(
            sum(counts)
            for workspaces in list(self._counts.values())
            for keys in list(workspaces.values())
            for counts in list(keys.values())
        )

    def take(self) -> Counts:
        """The counts so far, for `add_usage`; counting starts again from none."""
        taken, self._counts = self._counts, {}
        self._minute = -1
        return taken

    def restore(self, taken: Counts) -> None:
        """Put back counts whose write failed, to be written with the next ones."""
        for minute, workspaces in taken.items():
            for workspace_id, keys in workspaces.items():
                kept = self._counts.setdefault(minute, {}).setdefault(workspace_id, {})
                for key_id, counts in keys.items():
                    into = kept.setdefault(key_id, [0, 0, 0, 0])
                    for index, count in enumerate(counts):
                        into[index] += count

    def flush(self, database: Database) -> int:
        """Take the counts and add them to storage now; returns the rows written.

        On failure the counts are put back and the error is raised.
        """
        taken = self.take()
        try:
            return add_usage(database, taken)
        except BaseException:
            self.restore(taken)
            raise


def add_usage(database: Database, counts: Counts) -> int:
    """Add taken counts to storage in one transaction, from any thread; returns the rows
    written."""
    if not counts:
        return 0
    with database.transaction() as uow:
        return _add_usage(uow.session, counts)


# Rows per statement: within SQLite's 32,766 parameters.
_ROWS_PER_STATEMENT: Final = 2000

# Many rows per statement, bound as one VALUES list: a statement runs in one step of the driver,
# which releases the GIL once for the whole batch rather than once per row. While the event loop
# is busy, every reacquisition waits up to the interpreter's switch interval, so a flush of
# thousands of rows written one by one would take seconds and tax every request meanwhile.
# Counts of keys deleted meanwhile, or not in the workspace given, find no key to join and are
# left out.
# A VALUES list's columns are column1, column2, … on SQLite and PostgreSQL alike. (A CTE could
# name them, but a statement opening with WITH gets no rowcount from sqlite3.)
_ADD_USAGE: Final = (
    "INSERT INTO key_usage (workspace_id, key_id, minute, status_class, count) "
    "SELECT counted.column1, counted.column2, counted.column3, counted.column4, "
    "counted.column5 FROM (VALUES {rows}) AS counted "
    "JOIN api_keys ON api_keys.id = counted.column2 "
    "AND api_keys.workspace_id = counted.column1 "
    # `WHERE true` tells SQLite's parser that ON CONFLICT is not part of the join.
    "WHERE true ON CONFLICT (key_id, minute, status_class) "
    "DO UPDATE SET count = key_usage.count + excluded.count"
)
# The same counts summed per hour (column3) for the key itself and, for a key of an acquisition,
# its acquisition, offering and API: each row joined to its subjects, and summed per subject,
# hour and status class so that no row is upserted twice by one statement (which PostgreSQL
# refuses).
_ADD_USAGE_HOURS: Final = (
    "INSERT INTO usage_hours (workspace_id, subject_id, hour, status_class, count) "
    "SELECT counted.column1, "
    "CASE subject.column1 WHEN 0 THEN api_keys.id WHEN 1 THEN acquisitions.id "
    "WHEN 2 THEN offerings.id ELSE offerings.api_id END, "
    "counted.column3, counted.column4, SUM(counted.column5) "
    "FROM (VALUES {rows}) AS counted "
    "JOIN api_keys ON api_keys.id = counted.column2 "
    "AND api_keys.workspace_id = counted.column1 "
    "LEFT JOIN acquisitions ON acquisitions.id = api_keys.acquisition_id "
    "LEFT JOIN offerings ON offerings.id = acquisitions.offering_id "
    "CROSS JOIN (VALUES (0), (1), (2), (3)) AS subject "
    "WHERE subject.column1 = 0 OR offerings.id IS NOT NULL "
    "GROUP BY 1, 2, 3, 4 ON CONFLICT (subject_id, hour, status_class) "
    "DO UPDATE SET count = usage_hours.count + excluded.count"
)
_RECORD_LAST_USED: Final = (
    "UPDATE api_keys SET last_used_at = used.column2 FROM (VALUES {rows}) AS used "
    "WHERE api_keys.id = used.column1 "
    "AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < used.column2)"
)


def _add_usage(session: Session, counts: Counts) -> int:
    """Add counts to `key_usage`, and their sums per hour to `usage_hours` (upserts on SQLite
    and PostgreSQL); returns the `key_usage` rows written.

    Counts of keys that no longer exist, or not in the workspace given, are left out. Written
    through the driver: SQLAlchemy's work per row (a dict, the UTC column type, the SQLite date
    format) cost ten times the writing.
    """
    connection = session.connection()
    moment = _moment(connection)
    rows: list[tuple[object, ...]] = []
    # Per hour since the epoch, per (workspace id, key id): responses by status class.
    hours: dict[int, dict[tuple[str, str], list[int]]] = {}
    for minute, workspaces in counts.items():
        at = moment(minute * 60)
        hour = hours.setdefault(minute // 60, {})
        for workspace_id, keys in workspaces.items():
            for key_id, by_class in keys.items():
                summed = hour.get((workspace_id, key_id))
                if summed is None:
                    summed = hour[(workspace_id, key_id)] = [0, 0, 0, 0]
                for index in range(4):
                    count = by_class[index]
                    if count:
                        rows.append((workspace_id, key_id, at, STATUS_CLASSES[index], count))
                        summed[index] += count
    hourly: list[tuple[object, ...]] = []
    for hour_number, keys_of_hour in hours.items():
        at = moment(hour_number * 3600)
        for (workspace_id, key_id), by_class in keys_of_hour.items():
            for index in range(4):
                count = by_class[index]
                if count:
                    hourly.append((workspace_id, key_id, at, STATUS_CLASSES[index], count))
    written = _write(connection, _ADD_USAGE, rows)
    _write(connection, _ADD_USAGE_HOURS, hourly)
    return written


def record_last_used(session: Session, last_used: Sequence[tuple[str, float]]) -> None:
    """Move `last_used_at` forward (never back) for many keys, through the driver: SQLAlchemy's
    work per row cost more than the update."""
    connection = session.connection()
    moment = _moment(connection)
    _write(connection, _RECORD_LAST_USED, [(key_id, moment(at)) for key_id, at in last_used])


def _write(connection: Connection, statement: str, rows: Sequence[tuple[object, ...]]) -> int:
    """Run `statement` over `rows`, many rows per VALUES list; returns the rows it changed."""
    if not rows:
        return 0
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    row = "(" + ", ".join([marker] * len(rows[0])) + ")"
    changed = 0
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        text = statement.format(rows=", ".join([row] * len(chunk)))
        parameters = tuple(value for values in chunk for value in values)
        changed += connection.exec_driver_sql(text, parameters).rowcount
    return changed


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
