"""Slow storage: a read that decides a key is waited for at most `storage_timeout`, and reads of
uncached keys stay within their bounds (at once, waiting, per second).

PostgreSQL is reached through a TCP relay that adds latency each way, as a slow network does
(PostgreSQL's own statement_timeout cannot bound that); a second `Database` connected directly
plays another process that issues keys. SQLite has no connection to slow down: another process
holds its lock (`locking_mode=EXCLUSIVE`, the one lock that keeps readers out in WAL mode).
"""

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from keyward.core.clock import ManualClock
from keyward.core.keys import generate_key
from keyward.core.verdicts import UNAVAILABLE, UNKNOWN, KeyCode
from keyward.db.engine import Database
from keyward.domains.keys import service as keys
from keyward.verifier import Verifier
from keyward.verifier.lookups import Lookups
from tests.backends import PostgresDatabases, SqliteDatabases
from tests.conftest import settings_for
from tests.factories import admin, make_key, make_workspace, secret
from tests.relay import Relay, relay_to
from tests.verifier.support import eventually

# Each way: a round trip takes twice this, a read several round trips, far beyond the deadline.
LATENCY = 1.5
DEADLINE = 0.5
REFRESH_AFTER = timedelta(seconds=5)
WINDOW = 30.0


@pytest.fixture
def direct_url(postgres: PostgresDatabases) -> str:
    return postgres.create()


@pytest.fixture
def relay(direct_url: str) -> Iterator[Relay]:
    with relay_to(direct_url) as relay:
        yield relay


@pytest.fixture
def writer(direct_url: str, clock: ManualClock) -> Iterator[Database]:
    database = Database.connect(direct_url, clock=clock)
    yield database
    database.dispose()


@pytest.fixture
def reader(relay: Relay, direct_url: str, clock: ManualClock) -> Iterator[Database]:
    database = Database.connect(relay.url_for(direct_url), clock=clock)
    yield database
    database.dispose()


def _verifier(database: Database, **bounds: int) -> Verifier:
    return Verifier(
        database,
        refresh_after=REFRESH_AFTER.total_seconds(),
        stale_if_error=WINDOW,
        storage_timeout=DEADLINE,
        **bounds,
    )


@pytest.fixture
def verifier(reader: Database) -> Iterator[Verifier]:
    verifier = _verifier(reader)
    yield verifier
    verifier.close()


def _issue(writer: Database, count: int) -> list[str]:
    set_up = make_workspace(writer)
    actor = admin(writer, set_up)
    return [secret(make_key(writer, actor)) for _ in range(count)]


def test_slow_storage_answers_cached_keys_from_the_cache_and_others_unavailable(
    writer: Database, relay: Relay, verifier: Verifier, clock: ManualClock
) -> None:
    cached, uncached = _issue(writer, 2)
    eventually(lambda: verifier.verify(cached).valid, within=15)

    relay.slow(to_server=LATENCY, to_client=LATENCY)
    assert verifier.verify(cached).valid
    clock.advance(REFRESH_AFTER)
    assert verifier.verify(cached).valid, "due for a refresh, answered from the cache"
    assert verifier.lookups.in_flight == 1, "while the refresh goes on"
    assert verifier.verify(uncached) == UNAVAILABLE
    assert verifier.verify(uncached, "another workspace") == UNAVAILABLE
    assert verifier.lookups.in_flight == 2, "the read goes on past the deadline"

    relay.slow()
    eventually(lambda: verifier.lookups.in_flight == 0, within=15)
    assert verifier.peek(uncached) is not None, "the late read filled the cache"
    assert verifier.verify(uncached).valid
    assert verifier.verify(cached).valid
    assert verifier.verify(generate_key().secret) == UNKNOWN


def test_past_the_window_slow_storage_makes_a_cached_key_unavailable(
    writer: Database, relay: Relay, verifier: Verifier, clock: ManualClock
) -> None:
    (key,) = _issue(writer, 1)
    eventually(lambda: verifier.verify(key).valid, within=15)
    with relay.slowed(to_server=LATENCY, to_client=LATENCY):
        clock.advance(timedelta(seconds=WINDOW))
        assert verifier.verify(key) == UNAVAILABLE
    eventually(lambda: verifier.lookups.in_flight == 0, within=15)
    assert verifier.verify(key).valid


def test_storage_answering_a_few_bytes_at_a_time_is_slow_storage_too(
    writer: Database, relay: Relay, verifier: Verifier
) -> None:
    cached, uncached = _issue(writer, 2)
    eventually(lambda: verifier.verify(cached).valid, within=15)
    relay.slow(drip_to_client=40)
    assert verifier.verify(cached).valid
    assert verifier.verify(uncached) == UNAVAILABLE
    relay.slow()
    eventually(lambda: verifier.lookups.in_flight == 0, within=15)
    assert verifier.verify(uncached).valid


def test_a_serving_verifier_takes_its_deadline_and_bounds_from_the_settings(
    sqlite: SqliteDatabases,
) -> None:
    url = sqlite.create()
    database = Database.connect(url)
    verifier = Verifier.serving(
        database, settings_for(url, storage_timeout=0.7, lookups_per_second=1)
    )
    try:
        assert verifier.storage_timeout == 0.7
        first, second = generate_key().secret, generate_key().secret
        assert verifier.look_up(first) is not None
        assert verifier.look_up(second) is None, "one lookup a second"
    finally:
        verifier.close()
        database.dispose()


def test_lookups_beyond_concurrency_and_queue_are_refused_at_once(
    writer: Database, relay: Relay, reader: Database
) -> None:
    verifier = _verifier(reader, lookup_concurrency=2, lookup_queue=3)
    unknown = [generate_key().secret for _ in range(8)]
    relay.slow(to_server=LATENCY, to_client=LATENCY)
    try:
        reads = [verifier.look_up(key) for key in unknown]
        assert [read is not None for read in reads] == [True] * 5 + [False] * 3
        assert verifier.lookups.in_flight == 5, "two reading, three waiting, no more"
        assert verifier.lookups.refused == 3
        assert verifier.look_up(unknown[0]) is reads[0], "a key being read shares its read"
        assert verifier.verify(unknown[7]) == UNAVAILABLE, "refused again, not queued"
        assert verifier.lookups.refused == 4

        relay.slow()
        eventually(lambda: verifier.lookups.in_flight == 0, within=15)
        answers = [
            verifier.settle(key, None, read) for key, read in zip(unknown, reads, strict=True)
        ]
        assert answers == [UNKNOWN] * 5 + [UNAVAILABLE] * 3
        assert [verifier.verify(key) for key in unknown] == [UNKNOWN] * 8
    finally:
        verifier.close()


def test_the_lookup_ceiling_refuses_reads_beyond_it_each_second() -> None:
    now = [0.0]
    lookups = Lookups(concurrency=4, queue=4, per_second=2, clock=lambda: now[0])
    try:
        started = [lookups.submit(bytes([n]), lambda: None) for n in range(3)]
        assert [read is not None for read in started] == [True, True, False]
        now[0] = 0.5
        assert lookups.submit(b"a", lambda: None) is not None, "a second's worth refills"
        assert lookups.submit(b"b", lambda: None) is None
        now[0] = 10.0
        later = [lookups.submit(bytes([10 + n]), lambda: None) for n in range(3)]
        assert [read is not None for read in later] == [True, True, False], "no saving up"
        assert lookups.refused == 3
    finally:
        lookups.close()


def test_the_lookup_ceiling_applies_to_a_verifier(sqlite: SqliteDatabases) -> None:
    database = Database.connect(sqlite.create())
    verifier = Verifier(database, storage_timeout=5.0, lookups_per_second=1)
    try:
        first, second = generate_key().secret, generate_key().secret
        assert verifier.look_up(first) is not None
        assert verifier.look_up(second) is None
        assert verifier.settle(second, None, None) == UNAVAILABLE
        eventually(lambda: verifier.lookups.in_flight == 0)
        assert verifier.peek(first) == UNKNOWN, "the read that was allowed was made"
    finally:
        verifier.close()
        database.dispose()


HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA locking_mode=EXCLUSIVE")
connection.execute("BEGIN EXCLUSIVE")
connection.execute("CREATE TABLE IF NOT EXISTS held_by_another_process (x)")
connection.execute("COMMIT")
print("held", flush=True)
sys.stdin.read()
"""


def test_a_sqlite_lock_held_by_another_process_is_waited_for_at_most_the_deadline(
    sqlite: SqliteDatabases, clock: ManualClock
) -> None:
    url = sqlite.create()
    database = Database.connect(url, clock=clock)
    verifier = _verifier(database)
    try:
        cached, uncached = _issue(database, 2)
        eventually(lambda: verifier.verify(cached).valid)
        # In WAL mode nothing keeps a reader out but a process in exclusive locking mode, and
        # that can only lock a database no other connection has open (the verifier's reads
        # open one each): the other connections of this process are closed first.
        database.dispose()
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(make_url(url).database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "held\n"
            assert verifier.verify(cached).valid
            clock.advance(REFRESH_AFTER)
            assert verifier.verify(cached).valid, "due for a refresh, answered from the cache"
            assert verifier.verify(uncached) == UNAVAILABLE
        finally:
            holder.communicate("")
        eventually(lambda: verifier.lookups.in_flight == 0, within=15)
        # Past the moment a failed read keeps misses off storage, if the late read failed.
        clock.advance(timedelta(seconds=1))
        assert verifier.verify(uncached).valid
    finally:
        verifier.close()
        database.dispose()


def test_a_read_begun_before_a_change_is_not_shared_with_requests_after_it(db: Database) -> None:
    """A revocation applied while a read of the key is in flight: the next request reads the
    key again instead of joining the read, which may hold what the revocation replaced."""
    actor = admin(db, make_workspace(db))
    created = make_key(db, actor)
    key = secret(created)
    verifier = Verifier(db, storage_timeout=5.0)
    db.add_commit_listener(verifier.apply)
    read, release = threading.Event(), threading.Event()

    def hold(connection: Connection, *args: Any) -> None:
        # The lookup thread has read the key's row: held there, before it returns.
        if threading.current_thread().name == "keyward-lookup" and not release.is_set():
            read.set()
            release.wait(30)

    event.listen(Engine, "after_cursor_execute", hold)
    try:
        before = verifier.look_up(key)
        assert before is not None
        assert read.wait(30)
        with db.transaction() as uow:
            keys.revoke_key(uow, actor, created.id)
        after = verifier.look_up(key)
    finally:
        release.set()
        event.remove(Engine, "after_cursor_execute", hold)
    try:
        assert after is not None
        assert after is not before
        after.result(30)
        assert verifier.settle(key, None, after).code is KeyCode.KEY_REVOKED
    finally:
        verifier.close()
