"""Fixtures shared by the whole suite: backends, rolled-back databases, a clock, an API client.

Every storage, service and route test runs on SQLite and on PostgreSQL (`backend`). `db` is a
migrated database whose changes are rolled back after the test; `fresh_url` is a database of
the test's own whose commits are real, for tests with several connections or processes.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.settings import Settings
from keyward.verifier import Verifier
from tests.backends import PostgresDatabases, SqliteDatabases, require_postgres, throwaway_postgres

BACKENDS = ("sqlite", "postgresql")
SOURCES = Path(__file__).resolve().parents[1] / "src"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test compiled modules older than their sources (`make` rebuilds them)."""
    stale = [
        str(compiled.relative_to(SOURCES))
        for compiled in SOURCES.rglob("*.so")
        if (source := compiled.with_name(compiled.name.split(".")[0] + ".py")).is_file()
        and compiled.stat().st_mtime < source.stat().st_mtime
    ]
    if stale:
        pytest.exit(
            f"compiled modules older than their sources: {', '.join(sorted(stale))}; "
            "run `make pytest` (or `python tools/compile_gateway.py`) to rebuild them",
            returncode=2,
        )


# The tests' receivers and upstreams listen on loopback, over plain HTTP; the tests of the
# egress policy itself say what they refuse.
LOOPBACK = "127.0.0.0/8,::1"


def settings_for(database_url: str, **overrides: object) -> Settings:
    """Settings that keep every file a test makes out of the working tree."""
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "a test server secret of enough length",
        "egress_allow": LOOPBACK,
        "egress_allow_http": True,
        "upstream_allow": LOOPBACK,
        # Most tests share one connection, which deliveries made at once cannot.
        "worker_concurrency": 1,
        # A machine running the whole suite at once can take longer than the default deadline
        # to read a key; the tests of the deadline set their own.
        "storage_timeout": 5.0,
        # Tests make many keys, requests and invitations in a moment; the tests of the
        # management rates set their own.
        "keys_created_per_minute": 0,
        "key_requests_per_hour": 0,
        "invitations_per_hour": 0,
        **overrides,
    }
    return Settings.model_validate(values)


START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    require_postgres()
    with throwaway_postgres() as databases:
        yield databases


@pytest.fixture(scope="session")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _new_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        return postgres.create()
    sqlite: SqliteDatabases = request.getfixturevalue("sqlite")
    return sqlite.create()


@pytest.fixture(scope="session")
def shared_database(backend: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    database = Database.connect(_new_url(backend, request))
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def db(shared_database: Database, clock: ManualClock) -> Iterator[Database]:
    """A migrated database; everything the test writes is rolled back afterwards."""
    with shared_database.engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield Database.bound_to(connection, clock=clock)
        finally:
            transaction.rollback()


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A migrated database of this test's own, for real commits across connections."""
    return _new_url(backend, request)


@pytest.fixture
def verifier(db: Database) -> Verifier:
    return Verifier(db)


@pytest.fixture
def api(db: Database, verifier: Verifier) -> Iterator[TestClient]:
    """The management app over `db`, in-process. Its own commits reach its cache at once."""
    runtime = Runtime(settings_for(db.url), db, verifier)
    with TestClient(create_app(runtime, follow_feed=False)) as client:
        yield client
