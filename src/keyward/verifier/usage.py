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

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Executable, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from keyward.core.clock import Clock, SystemClock
from keyward.db.engine import Database
from keyward.db.models import ApiKey, KeyUsage

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")

# (workspace id, key id, minute since the epoch, status class)
_Slot = tuple[str, str, int, str]

_table = cast(Table, KeyUsage.__table__)
_LOOKUP_CHUNK = 500


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


def _add_usage(session: Session, counts: Iterable[tuple[_Slot, int]]) -> int:
    """Add counts to `key_usage` (upserts on SQLite and PostgreSQL); returns the rows written.

    Counts of keys that no longer exist, or not in the workspace given, are left out.
    """
    counts = list(counts)
    existing = _existing(session, sorted({key_id for (_, key_id, _, _), _ in counts}))
    rows: list[dict[str, Any]] = [
        {
            "workspace_id": workspace_id,
            "key_id": key_id,
            "minute": datetime.fromtimestamp(minute * 60, UTC),
            "status_class": status,
            "count": count,
        }
        for (workspace_id, key_id, minute, status), count in counts
        if (workspace_id, key_id) in existing
    ]
    if not rows:
        return 0
    session.execute(_upsert(session.get_bind().dialect.name), rows)
    return len(rows)


def _upsert(dialect: str) -> Executable:
    """INSERT … ON CONFLICT (key, minute, class) DO UPDATE SET count = count + excluded.count."""
    conflict = [_table.c.key_id, _table.c.minute, _table.c.status_class]
    if dialect == "postgresql":
        pg = postgresql.insert(_table)
        return pg.on_conflict_do_update(
            index_elements=conflict, set_={"count": _table.c["count"] + pg.excluded["count"]}
        )
    lite = sqlite.insert(_table)
    return lite.on_conflict_do_update(
        index_elements=conflict, set_={"count": _table.c["count"] + lite.excluded["count"]}
    )
