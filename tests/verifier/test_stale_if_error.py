"""Storage out of reach: cached verdicts for a while, then `verification_unavailable`.

The PostgreSQL tests reach the server through a TCP relay and cut it, as a network failure
would; a second `Database` connected directly plays another process that keeps writing. The
`clock` fixture moves time past the 30 s window. The other tests make every statement fail.
"""

import hashlib
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from keyward.core.clock import ManualClock
from keyward.core.keys import generate_key
from keyward.core.verdicts import UNAVAILABLE, UNKNOWN, KeyCode
from keyward.db import feed
from keyward.db.engine import Database
from keyward.db.models import ApiKey
from keyward.domains.keys import service as keys
from keyward.settings import Settings
from keyward.verifier import FeedFollower, Verifier
from tests.backends import PostgresDatabases
from tests.factories import admin, make_key, make_workspace, secret
from tests.relay import Relay, relay_to
from tests.verifier.support import eventually, storage_down

WINDOW = timedelta(seconds=30)
PAST_THE_WINDOW = WINDOW + timedelta(seconds=1)


@pytest.fixture
def direct_url(postgres: PostgresDatabases) -> str:
    return postgres.create()


@pytest.fixture
def relay(direct_url: str) -> Iterator[Relay]:
    with relay_to(direct_url) as relay:
        yield relay


@pytest.fixture
def writer(direct_url: str, clock: ManualClock) -> Iterator[Database]:
    """Another process, connected to PostgreSQL directly: the cut does not concern it."""
    database = Database.connect(direct_url, clock=clock)
    yield database
    database.dispose()


@pytest.fixture
def reader(relay: Relay, direct_url: str, clock: ManualClock) -> Iterator[Database]:
    """This process, connected through the relay; connections through a cut fail within 2 s."""
    url = make_url(relay.url_for(direct_url)).update_query_dict({"connect_timeout": "2"})
    database = Database.connect(url.render_as_string(hide_password=False), clock=clock)
    yield database
    database.dispose()


@pytest.fixture
def verifier(reader: Database) -> Verifier:
    return Verifier(reader, stale_if_error=WINDOW.total_seconds())


@pytest.fixture
def follower(reader: Database, verifier: Verifier) -> Iterator[FeedFollower]:
    follower = FeedFollower(reader, verifier, interval=0.05)
    follower.start()
    yield follower
    follower.stop()


class Keys:
    """Keys of one new workspace, issued and revoked by its admin through `writer`."""

    def __init__(self, writer: Database) -> None:
        self._writer = writer
        set_up = make_workspace(writer)
        self.workspace_id = set_up.workspace.id
        self._actor = admin(writer, set_up)

    def issue(self) -> str:
        return secret(make_key(self._writer, self._actor))

    def revoke(self, key: str) -> None:
        with self._writer.transaction() as uow:
            key_id = uow.session.scalar(
                select(ApiKey.id).where(ApiKey.hash == hashlib.sha256(key.encode()).digest())
            )
            assert key_id is not None
            keys.revoke_key(uow, self._actor, key_id)


def caught_up(follower: FeedFollower, writer: Database) -> None:
    """Wait until `follower` has applied every change so far (a new workspace evicts keys)."""

    def done() -> bool:
        with writer.transaction(write=False) as uow:
            return follower.position == feed.bounds(uow.session)[1]

    eventually(done)


def test_an_outage_leaves_cached_verdicts_for_the_window_then_valid_keys_are_unavailable(
    writer: Database,
    relay: Relay,
    verifier: Verifier,
    follower: FeedFollower,
    clock: ManualClock,
) -> None:
    issued = Keys(writer)
    good, doomed = issued.issue(), issued.issue()
    caught_up(follower, writer)
    assert verifier.verify(good).valid
    assert verifier.verify(doomed).valid
    issued.revoke(doomed)
    eventually(lambda: verifier.verify(doomed).code is KeyCode.KEY_REVOKED)

    relay.cut()
    assert verifier.verify(good).valid
    assert verifier.verify(good, issued.workspace_id).valid
    assert verifier.verify(doomed).code is KeyCode.KEY_REVOKED
    clock.advance(PAST_THE_WINDOW)
    assert verifier.verify(good) == UNAVAILABLE
    assert verifier.verify(good, issued.workspace_id) == UNAVAILABLE
    assert verifier.peek(good) == UNAVAILABLE, "known down: answered without trying"
    assert verifier.verify(doomed).code is KeyCode.KEY_REVOKED, "a refusal it saw stands"
    assert verifier.peek(doomed) == verifier.verify(doomed)


def test_during_an_outage_a_key_not_in_the_cache_is_unavailable_at_once(
    writer: Database, relay: Relay, verifier: Verifier, follower: FeedFollower
) -> None:
    issued = Keys(writer)
    uncached = issued.issue()
    relay.cut()
    started = time.monotonic()
    assert verifier.verify(uncached) == UNAVAILABLE
    assert verifier.verify(generate_key().secret) == UNAVAILABLE
    assert verifier.verify(uncached, issued.workspace_id) == UNAVAILABLE
    assert time.monotonic() - started < 2.0
    assert verifier.peek(uncached) == UNAVAILABLE
    assert verifier.verify("not a key") == UNKNOWN, "a malformed key needs no storage"


def test_a_key_revoked_during_an_outage_is_refused_once_the_follower_reads_again(
    writer: Database, relay: Relay, verifier: Verifier, follower: FeedFollower
) -> None:
    issued = Keys(writer)
    late = issued.issue()
    caught_up(follower, writer)
    assert verifier.verify(late).valid
    relay.cut()
    issued.revoke(late)
    assert verifier.verify(late).valid, "within the window the cache is believed"
    relay.restore()
    eventually(lambda: verifier.verify(late).code is KeyCode.KEY_REVOKED, within=15)


def test_after_an_outage_past_the_window_everything_recovers_by_itself(
    writer: Database,
    relay: Relay,
    verifier: Verifier,
    follower: FeedFollower,
    clock: ManualClock,
) -> None:
    issued = Keys(writer)
    good, doomed, late, uncached = (issued.issue() for _ in range(4))
    caught_up(follower, writer)
    for key in (good, doomed, late):
        assert verifier.verify(key).valid
    issued.revoke(doomed)
    eventually(lambda: verifier.verify(doomed).code is KeyCode.KEY_REVOKED)

    relay.cut()
    issued.revoke(late)
    clock.advance(PAST_THE_WINDOW)
    assert verifier.verify(good) == UNAVAILABLE
    assert verifier.verify(late) == UNAVAILABLE, "stale and valid: neither yes nor no"
    assert verifier.verify(uncached) == UNAVAILABLE

    relay.restore()
    eventually(lambda: verifier.verify(good).valid, within=15)
    assert verifier.verify(late).code is KeyCode.KEY_REVOKED
    assert verifier.verify(doomed).code is KeyCode.KEY_REVOKED
    assert verifier.verify(uncached).valid
    assert verifier.verify(generate_key().secret) == UNKNOWN
    eventually(lambda: follower.listening, within=15)


@pytest.fixture
def database(fresh_url: str, clock: ManualClock) -> Iterator[Database]:
    database = Database.connect(fresh_url, clock=clock)
    yield database
    database.dispose()


def test_after_a_failed_read_misses_skip_storage_for_a_second(
    database: Database, clock: ManualClock
) -> None:
    verifier = Verifier(database)
    key = Keys(database).issue()
    with storage_down(database) as attempted:
        assert verifier.verify(key) == UNAVAILABLE
        tried = len(attempted)
        assert tried > 0
        assert verifier.verify(key) == UNAVAILABLE
        assert verifier.peek(key) == UNAVAILABLE
        assert len(attempted) == tried
        clock.advance(timedelta(seconds=1))
        assert verifier.peek(key) is None, "time to try storage again"
        assert verifier.verify(key) == UNAVAILABLE
        assert len(attempted) > tried
    clock.advance(timedelta(seconds=1))
    assert verifier.verify(key).valid


def test_without_a_follower_an_entry_vouches_for_itself_for_the_window_after_its_load(
    database: Database, clock: ManualClock
) -> None:
    verifier = Verifier(database, refresh_after=10, stale_if_error=WINDOW.total_seconds())
    issued = Keys(database)
    good, revoked = issued.issue(), issued.issue()
    issued.revoke(revoked)
    assert verifier.verify(good).valid
    assert verifier.verify(revoked).code is KeyCode.KEY_REVOKED
    clock.advance(timedelta(seconds=11))
    with storage_down(database):
        assert verifier.verify(good).valid, "due for a refresh, but loaded 11 s ago"
        clock.advance(WINDOW)
        assert verifier.verify(good) == UNAVAILABLE
        assert verifier.verify(revoked).code is KeyCode.KEY_REVOKED


def test_the_follower_thread_survives_storage_errors_without_spinning(
    database: Database,
) -> None:
    verifier = Verifier(database)
    issued = Keys(database)
    key = issued.issue()
    assert verifier.verify(key).valid
    follower = FeedFollower(database, verifier, interval=0.01)
    follower.start()
    try:
        with storage_down(database) as attempted:
            time.sleep(1.2)
        # Each failed poll fails at its first statement. 0.01 s apart, 1.2 s would be ~100
        # polls; retries back off from 0.5 s.
        assert 1 <= len(attempted) <= 4
        issued.revoke(key)
        eventually(lambda: verifier.verify(key).code is KeyCode.KEY_REVOKED, within=10)
    finally:
        follower.stop()


def test_usage_stays_buffered_when_a_flush_fails(database: Database, clock: ManualClock) -> None:
    verifier = Verifier(database)
    key = Keys(database).issue()
    assert verifier.verify(key).valid
    with storage_down(database), pytest.raises(OperationalError):
        verifier.flush_usage()
    verifier.flush_usage()
    with database.transaction(write=False) as uow:
        used = uow.session.scalar(
            select(ApiKey.last_used_at).where(ApiKey.hash == hashlib.sha256(key.encode()).digest())
        )
    assert used == clock.now()


def test_stale_if_error_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().stale_if_error == 30.0
    monkeypatch.setenv("KEYWARD_STALE_IF_ERROR", "5")
    assert Settings().stale_if_error == 5.0


def test_postgresql_connections_give_up_after_5_seconds_unless_the_url_says() -> None:
    default = Database.connect("postgresql://127.0.0.1:1/keyward")
    chosen = Database.connect("postgresql://127.0.0.1:1/keyward?connect_timeout=2")
    assert default.engine.url.query["connect_timeout"] == "5"
    assert chosen.engine.url.query["connect_timeout"] == "2"
