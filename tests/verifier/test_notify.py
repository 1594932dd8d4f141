"""On PostgreSQL a commit wakes every follower at once; polling stays the fallback.

Each test has a database of its own; separate `Database` objects (separate pools) stand for
separate processes. The followers poll every 30 s, so a change applied within a fraction of a
second was applied because of the notification, not because of a poll.
"""

import time
from collections.abc import Iterator
from functools import partial

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from keyward.core.verdicts import KeyCode
from keyward.db import feed
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.domains.keys import service as keys
from keyward.verifier import FeedFollower, Verifier
from tests.backends import PostgresDatabases, SqliteDatabases
from tests.factories import admin, make_key, make_workspace, secret
from tests.verifier.support import eventually

LONG_INTERVAL = 30.0
# A follower woken by NOTIFY sees a change long before its 30 s poll would. How fast is the
# propagation benchmark's subject (benchmarks/README.md), not a timed assertion here.
WOKEN_WITHIN = 5.0


@pytest.fixture
def url(postgres: PostgresDatabases) -> str:
    return postgres.create()


@pytest.fixture
def writer(url: str) -> Iterator[Database]:
    database = Database.connect(url)
    yield database
    database.dispose()


@pytest.fixture
def readers(url: str) -> Iterator[list[Database]]:
    databases = [Database.connect(url), Database.connect(url)]
    yield databases
    for database in databases:
        database.dispose()


def caught_up(follower: FeedFollower, writer: Database) -> bool:
    with writer.transaction(write=False) as uow:
        return follower.position == feed.bounds(uow.session)[1]


def settled(follower: FeedFollower, writer: Database, workspace_id: str) -> None:
    """Wait until `follower` listens and has read past its first poll, so it waits for news."""
    eventually(lambda: follower.listening)
    with writer.transaction() as uow:
        uow.record_change(Change(workspace_id, Entity.API, "api_unrelated"))
    eventually(lambda: caught_up(follower, writer))


def record_and_roll_back(database: Database, change: Change) -> None:
    with database.transaction() as uow:
        uow.record_change(change)
        raise RuntimeError("rolled back")


def refused_by_all(verifiers: list[Verifier], key: str) -> bool:
    return not any(verifier.verify(key).valid for verifier in verifiers)


def test_a_commit_that_records_changes_notifies_once_and_a_rollback_never(
    url: str, writer: Database
) -> None:
    set_up = make_workspace(writer)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {feed.CHANNEL}")
        with writer.transaction() as uow:
            for n in range(3):
                uow.record_change(Change(set_up.workspace.id, Entity.MEMBER, f"mem_{n}"))
            assert list(listener.notifies(timeout=0.1)) == [], "nothing before the commit"
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [feed.CHANNEL]
        assert list(listener.notifies(timeout=0.2)) == [], "one notification per transaction"
        with pytest.raises(RuntimeError, match="rolled back"):
            record_and_roll_back(writer, Change(set_up.workspace.id, Entity.MEMBER, "mem_never"))
        assert list(listener.notifies(timeout=0.2)) == []


def test_a_revocation_in_another_process_wakes_a_follower_that_polls_every_30_seconds(
    writer: Database, readers: list[Database]
) -> None:
    set_up = make_workspace(writer)
    reader = readers[0]
    verifier = Verifier(reader)
    follower = FeedFollower(reader, verifier, interval=LONG_INTERVAL)
    key = secret(set_up.admin_key)
    assert verifier.verify(key).valid
    follower.start()
    try:
        settled(follower, writer, set_up.workspace.id)
        with writer.transaction() as uow:
            keys.revoke_key(uow, admin(writer, set_up), set_up.admin_key.id)
        eventually(lambda: verifier.verify(key).code is KeyCode.KEY_REVOKED, WOKEN_WITHIN)
    finally:
        follower.stop()


def test_two_processes_refuse_each_revoked_key_long_before_their_poll(
    writer: Database, readers: list[Database]
) -> None:
    set_up = make_workspace(writer)
    actor = admin(writer, set_up)
    verifiers = [Verifier(reader) for reader in readers]
    followers = [
        FeedFollower(reader, verifier, interval=LONG_INTERVAL)
        for reader, verifier in zip(readers, verifiers, strict=True)
    ]
    for follower in followers:
        follower.start()
    try:
        for follower in followers:
            settled(follower, writer, set_up.workspace.id)
        for _ in range(10):
            created = make_key(writer, actor)
            key = secret(created)
            assert all(verifier.verify(key).valid for verifier in verifiers)
            with writer.transaction() as uow:
                keys.revoke_key(uow, actor, created.id)
            eventually(partial(refused_by_all, verifiers, key), WOKEN_WITHIN)
    finally:
        for follower in followers:
            follower.stop()


def test_a_follower_whose_listen_connection_is_killed_polls_on_and_listens_again(
    writer: Database, readers: list[Database]
) -> None:
    set_up = make_workspace(writer)
    reader = readers[0]
    verifier = Verifier(reader)
    follower = FeedFollower(reader, verifier, interval=0.05)
    key = secret(set_up.admin_key)
    assert verifier.verify(key).valid
    listening = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        f"AND query = 'LISTEN {feed.CHANNEL}' AND pid <> pg_backend_pid()"
    )

    def listen_backends() -> list[int]:
        with writer.engine.connect() as connection:
            return list(connection.execute(listening).scalars())

    follower.start()
    try:
        eventually(lambda: len(listen_backends()) == 1)
        [killed] = listen_backends()
        with writer.engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        eventually(lambda: not follower.listening)
        with writer.transaction() as uow:
            keys.revoke_key(uow, admin(writer, set_up), set_up.admin_key.id)
        assert eventually(lambda: verifier.verify(key).code is KeyCode.KEY_REVOKED) < 1.0
        eventually(lambda: follower.listening and listen_backends() not in ([], [killed]))
    finally:
        follower.stop()


def test_on_sqlite_the_follower_polls_without_listening(sqlite: SqliteDatabases) -> None:
    database = Database.connect(sqlite.create())
    try:
        set_up = make_workspace(database)
        verifier = Verifier(database)
        follower = FeedFollower(database, verifier, interval=0.05)
        key = secret(set_up.admin_key)
        assert verifier.verify(key).valid
        follower.start()
        try:
            with database.transaction() as uow:
                keys.revoke_key(uow, admin(database, set_up), set_up.admin_key.id)
            assert eventually(lambda: verifier.verify(key).code is KeyCode.KEY_REVOKED) < 1.0
            assert not follower.listening
        finally:
            follower.stop()
    finally:
        database.dispose()


def test_stopping_a_follower_that_polls_every_30_seconds_is_prompt(
    readers: list[Database],
) -> None:
    follower = FeedFollower(readers[0], Verifier(readers[0]), interval=LONG_INTERVAL)
    follower.start()
    eventually(lambda: follower.listening)
    started = time.monotonic()
    follower.stop()
    assert time.monotonic() - started < 1.0
    assert not follower.listening
