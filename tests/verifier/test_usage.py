"""Usage per key: counted in memory per minute and status class, added to storage in batches
(on SQLite and PostgreSQL), never lost or counted twice, and read back bucket by bucket."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from keyward.core.clock import ManualClock
from keyward.core.errors import InvalidInput, NotFound, PermissionDenied
from keyward.db.engine import Database
from keyward.db.models import ApiKey, KeyUsage
from keyward.domains.keys import service as keys
from keyward.domains.usage import service as usage
from keyward.domains.usage.schemas import Granularity
from keyward.verifier.usage import UsageRecorder, record_last_used, status_class
from tests.conftest import START
from tests.factories import actor_for, admin, make_key, make_member, make_workspace


def stored(db: Database, key_id: str) -> dict[tuple[str, str], int]:
    """{(minute as ISO, status class): count} of a key's usage rows."""
    with db.transaction(write=False) as uow:
        rows = uow.session.scalars(select(KeyUsage).where(KeyUsage.key_id == key_id))
        return {(r.minute.isoformat(), r.status_class): r.count for r in rows}


@contextmanager
def failing_usage_writes(db: Database) -> Iterator[None]:
    """Make the next write to key_usage fail as a lost connection would."""

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO key_usage" in statement:
            event.remove(db.engine, "before_cursor_execute", fail)
            raise ConnectionResetError("the database went away")

    event.listen(db.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        if event.contains(db.engine, "before_cursor_execute", fail):
            event.remove(db.engine, "before_cursor_execute", fail)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(101, "2xx"), (200, "2xx"), (204, "2xx"), (304, "3xx"), (429, "4xx"), (503, "5xx")],
)
def test_status_classes(status: int, expected: str) -> None:
    assert status_class(status) == expected


def test_flush_adds_counts_per_minute_and_status_class(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    key = make_key(db, admin(db, set_up))
    recorder = UsageRecorder(clock)
    for status in (200, 201, 404, 429, 500, 302):
        recorder.record(key.id, set_up.workspace.id, status)
    clock.advance(timedelta(seconds=61))
    recorder.record(key.id, set_up.workspace.id, 200)
    assert recorder.pending() == 7
    assert recorder.flush(db) == 5
    assert recorder.pending() == 0
    assert recorder.flush(db) == 0
    first, second = START.isoformat(), (START + timedelta(minutes=1)).isoformat()
    assert stored(db, key.id) == {
        (first, "2xx"): 2,
        (first, "3xx"): 1,
        (first, "4xx"): 2,
        (first, "5xx"): 1,
        (second, "2xx"): 1,
    }
    # A later flush adds to the rows already there.
    recorder.record(key.id, set_up.workspace.id, 204)
    clock.set(START)
    recorder.record(key.id, set_up.workspace.id, 204)
    assert recorder.flush(db) == 2
    assert stored(db, key.id)[(first, "2xx")] == 3
    assert stored(db, key.id)[(second, "2xx")] == 2


def test_a_flush_larger_than_one_statement_writes_every_row(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = make_key(db, admin(db, set_up))
    recorder = UsageRecorder(clock)
    minutes = 2_345  # rows written in two statements of up to 2,000 rows
    for _ in range(minutes):
        recorder.record(key.id, set_up.workspace.id, 200)
        clock.advance(timedelta(minutes=1))
    assert recorder.flush(db) == minutes
    rows = stored(db, key.id)
    assert len(rows) == minutes
    assert set(rows.values()) == {1}
    assert ((START + timedelta(minutes=minutes - 1)).isoformat(), "2xx") in rows


def test_last_used_moves_forward_for_every_key_of_a_large_batch(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    first, last = make_key(db, actor), make_key(db, actor)
    at = clock.now().timestamp()
    batch = [(first.id, at), *((f"key_gone{n}", at) for n in range(2_500)), (last.id, at)]
    with db.transaction() as uow:
        record_last_used(uow.session, batch)
    with db.transaction() as uow:
        record_last_used(uow.session, [(first.id, at - 60), (last.id, at + 60)])
    with db.transaction(write=False) as uow:
        found = uow.session.execute(
            select(ApiKey.id, ApiKey.last_used_at).where(ApiKey.id.in_([first.id, last.id]))
        )
        used = dict(found.all())
    assert used[first.id] == clock.now(), "never moved back"
    assert used[last.id] == clock.now() + timedelta(minutes=1)


def test_a_failed_flush_keeps_its_counts_for_the_next_one(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    key = make_key(db, admin(db, set_up))
    recorder = UsageRecorder(clock)
    for _ in range(3):
        recorder.record(key.id, set_up.workspace.id, 200)
    with failing_usage_writes(db), pytest.raises(ConnectionResetError):
        recorder.flush(db)
    assert stored(db, key.id) == {}
    recorder.record(key.id, set_up.workspace.id, 200)
    assert recorder.pending() == 4
    recorder.flush(db)
    assert stored(db, key.id) == {(START.isoformat(), "2xx"): 4}
    assert recorder.pending() == 0


def test_counts_are_written_only_for_keys_that_exist_in_their_workspace(
    db: Database, clock: ManualClock
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    actor = admin(db, ours)
    kept, deleted = make_key(db, actor), make_key(db, actor)
    recorder = UsageRecorder(clock)
    recorder.record(kept.id, ours.workspace.id, 200)
    recorder.record(deleted.id, ours.workspace.id, 200)
    recorder.flush(db)
    assert stored(db, deleted.id) == {(START.isoformat(), "2xx"): 1}
    with db.transaction() as uow:
        keys.delete_key(uow, actor, deleted.id, revoke=True)
    # Usage goes with its key; counts still buffered for it are dropped, not retried forever.
    assert stored(db, deleted.id) == {}
    recorder.record(deleted.id, ours.workspace.id, 200)
    recorder.record(kept.id, theirs.workspace.id, 200)
    recorder.record("", ours.workspace.id, 200)
    assert recorder.flush(db) == 0
    assert recorder.pending() == 0
    assert stored(db, kept.id) == {(START.isoformat(), "2xx"): 1}


def test_recording_while_flushing_loses_nothing(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    key_ids = [make_key(db, admin(db, set_up)).id for _ in range(3)]
    recorder = UsageRecorder(clock)
    stop = threading.Event()
    recorded = 0

    def record() -> None:
        nonlocal recorded
        while not stop.is_set():
            recorder.record(key_ids[recorded % 3], set_up.workspace.id, 200 + 100 * (recorded % 4))
            recorded += 1

    recording = threading.Thread(target=record)
    recording.start()
    try:
        for _ in range(5):
            recorder.flush(db)
    finally:
        stop.set()
        recording.join()
    recorder.flush(db)
    total = sum(count for key_id in key_ids for count in stored(db, key_id).values())
    assert total == recorded > 0


def test_usage_is_read_in_buckets_with_zeros_and_totals(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    key = make_key(db, actor)
    recorder = UsageRecorder(clock)
    workspace_id = set_up.workspace.id
    for offset, status in ((0, 200), (0, 200), (1, 404), (59, 500), (60, 200), (125, 302)):
        clock.set(START + timedelta(minutes=offset, seconds=30))
        recorder.record(key.id, workspace_id, status)
    recorder.flush(db)
    clock.set(START + timedelta(hours=3))

    with db.transaction(write=False) as uow:
        hourly = usage.key_usage(uow, actor, key.id)
        minutes = usage.key_usage(
            uow,
            actor,
            key.id,
            since=START + timedelta(seconds=20),
            until=START + timedelta(minutes=2),
            granularity=Granularity.MINUTE,
        )
        daily = usage.key_usage(uow, actor, key.id, granularity=Granularity.DAY)

    assert hourly.key_id == key.id
    assert hourly.granularity is Granularity.HOUR
    assert (hourly.since, hourly.until) == (START - timedelta(hours=21), clock.now())
    assert len(hourly.data) == 24
    by_start = {b.start: b for b in hourly.data}
    first = by_start[START]
    assert (first.success, first.client_error, first.server_error) == (2, 1, 1)
    assert by_start[START + timedelta(hours=1)].success == 1
    assert by_start[START + timedelta(hours=2)].redirection == 1
    assert sum(b.success for b in hourly.data) == hourly.totals.success == 3
    assert hourly.totals.model_dump() == {"2xx": 3, "3xx": 1, "4xx": 1, "5xx": 1}

    assert minutes.since == START
    assert [(b.start, b.success, b.client_error) for b in minutes.data] == [
        (START, 2, 0),
        (START + timedelta(minutes=1), 0, 1),
    ]
    assert [b.start for b in daily.data] == [
        START - timedelta(hours=36),
        START - timedelta(hours=12),
    ]
    assert daily.totals.model_dump(mode="json") == hourly.totals.model_dump(mode="json")


def test_usage_ranges_are_checked(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    key = make_key(db, actor)
    with db.transaction(write=False) as uow:
        with pytest.raises(InvalidInput) as backwards:
            usage.key_usage(uow, actor, key.id, since=START, until=START)
        assert backwards.value.code == "usage_range_invalid"
        with pytest.raises(InvalidInput) as too_many:
            usage.key_usage(
                uow, actor, key.id, since=START - timedelta(days=2), granularity=Granularity.MINUTE
            )
        assert too_many.value.code == "usage_range_too_large"
        assert too_many.value.details["max_buckets"] == usage.MAX_BUCKETS


def test_usage_is_for_those_who_may_read_the_key(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    key = make_key(db, admin(db, ours))
    outsider = make_member(db, admin(db, ours), permissions=["members:read"])
    with db.transaction(write=False) as uow:
        with pytest.raises(PermissionDenied):
            usage.key_usage(uow, actor_for(db, ours.workspace.id, outsider.id), key.id)
        with pytest.raises(NotFound):
            usage.key_usage(uow, admin(db, theirs), key.id)
