"""The database: engine set-up for SQLite and PostgreSQL, and transactions as units of work."""

import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from keyward.core.clock import Clock, SystemClock
from keyward.core.rates import UNLIMITED, ActionRates
from keyward.db import feed
from keyward.db.feed import Change
from keyward.db.models import ChangeFeedEntry

CommitListener = Callable[[Sequence[Change]], None]


class JournalSink(Protocol):
    """Where what takes access away is also recorded, outside the database."""

    def append(self, entries: Sequence[dict[str, Any]]) -> None:
        """Write `entries` durably, or raise: the transaction is then rolled back."""


# Seconds a new PostgreSQL connection may take, unless the URL sets `connect_timeout` itself.
CONNECT_TIMEOUT = 5
# libpq counts `connect_timeout` in whole seconds and takes less than 2 as 2.
MIN_CONNECT_TIMEOUT = 2
# Milliseconds a SQLite statement waits for another connection's lock.
BUSY_TIMEOUT_MS = 10_000


def normalize_url(url: str) -> str:
    """Accept the URLs people write and pick keyward's drivers (psycopg 3 for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise ValueError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///path or postgresql://..."
        )
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN so that savepoints and BEGIN IMMEDIATE work.
        dbapi_connection.isolation_level = None
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={busy_timeout_ms}",
            "PRAGMA synchronous=NORMAL",
        ):
            dbapi_connection.execute(pragma)

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that upgrades later
        # fails at once with SQLITE_BUSY instead of waiting its turn.
        write = connection.get_execution_options().get("keyward_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class UnitOfWork:
    """One transaction: the session plus the changes it records for the verification feed."""

    def __init__(self, session: Session, clock: Clock, rates: ActionRates = UNLIMITED) -> None:
        self.session = session
        self.clock = clock
        # How fast members may create keys, file requests and invite (the operator's settings).
        self.rates = rates
        self.changes: list[Change] = []
        self.journaled: list[dict[str, Any]] = []
        self._entries: list[ChangeFeedEntry] = []

    def journal(self, entry: dict[str, Any]) -> None:
        """Keep `entry` for the revocation journal, written as this unit of work commits."""
        self.journaled.append(entry)

    def record_change(self, change: Change) -> None:
        self._entries.append(
            feed.append(self.session, change, self.clock.now(), lock=not self.changes)
        )
        self.changes.append(change)

    @property
    def feed_position(self) -> int:
        """The feed position of the last change recorded here, known once flushed (after the
        commit, a follower that has applied it has applied them all); 0 if none was."""
        return max((entry.seq for entry in self._entries if entry.seq is not None), default=0)


class Database:
    """Engine and sessions. Services receive a UnitOfWork; only the caller's boundary commits."""

    def __init__(
        self,
        engine: Engine,
        read: "sessionmaker[Session]",
        write: "sessionmaker[Session]",
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self._read = read
        self._write = write
        self._listeners: list[CommitListener] = []
        # Set by the API, portal and CLI from their settings; none for other callers.
        self.rates: ActionRates = UNLIMITED
        # The revocation journal, when one is configured.
        self.journal: JournalSink | None = None
        # Whether `engine` is this Database's own, made from its URL (not a test's connection).
        self._owns_engine = False

    @classmethod
    def connect(cls, url: str, *, clock: Clock | None = None) -> "Database":
        url = normalize_url(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False})
            _configure_sqlite(engine)
        else:
            if "connect_timeout" not in parsed.query:
                # An unreachable server fails a connection in seconds, not minutes: the verifier
                # then answers from its cache or `verification_unavailable` instead of hanging.
                parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
            engine = create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)
        read = sessionmaker(engine, expire_on_commit=False)
        write = sessionmaker(engine.execution_options(keyward_write=True), expire_on_commit=False)
        database = cls(engine, read, write, clock)
        database._owns_engine = True
        return database

    def for_lookups(self, timeout: float, connections: int) -> "Database":
        """A Database for the reads that decide keys, on connections of its own: waiting for a
        SQLite lock takes at most `timeout` seconds; on PostgreSQL, so does waiting for one of
        its pool of `connections`, and connecting at most `timeout` rounded up to whole seconds
        (2 at least, as libpq counts), or as the URL's `connect_timeout` says if less.

        A Database bound to a test's connection, or an in-memory SQLite one, is its own.
        """
        parsed = self.engine.url
        if not self._owns_engine or parsed.database in (None, "", ":memory:"):
            return self
        if parsed.get_backend_name() == "sqlite":
            # A connection per read: SQLite opens one in a fraction of a millisecond, so there
            # is no pool to wait for, and no idle connection keeps its shared lock meanwhile.
            engine = create_engine(
                parsed, connect_args={"check_same_thread": False}, poolclass=NullPool
            )
            _configure_sqlite(engine, busy_timeout_ms=max(1, math.ceil(timeout * 1000)))
        else:
            seconds = max(MIN_CONNECT_TIMEOUT, math.ceil(timeout))
            if "connect_timeout" in parsed.query:
                seconds = min(seconds, int(str(parsed.query["connect_timeout"])))
            parsed = parsed.update_query_dict({"connect_timeout": str(seconds)})
            engine = create_engine(
                parsed,
                pool_size=connections,
                max_overflow=0,
                pool_timeout=timeout,
                pool_pre_ping=True,
            )
        read = sessionmaker(engine, expire_on_commit=False)
        database = Database(engine, read, read, self.clock)
        database._owns_engine = True
        return database

    @classmethod
    def bound_to(cls, connection: Connection, *, clock: Clock | None = None) -> "Database":
        """A Database whose transactions are savepoints inside `connection`'s transaction.

        Tests use it to run each test in one transaction that is rolled back at the end.
        """
        sessions = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        return cls(connection.engine, sessions, sessions, clock)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call `listener` with the recorded changes after each transaction that commits some."""
        self._listeners.append(listener)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[UnitOfWork]:
        """A unit of work committed when the block ends and rolled back if it raises."""
        session = (self._write if write else self._read)()
        uow = UnitOfWork(session, self.clock, self.rates)
        with session, session.begin():
            yield uow
            if uow.journaled and self.journal is not None:
                self._write_journal(uow)
        if uow.changes:
            for listener in self._listeners:
                listener(uow.changes)

    def _write_journal(self, uow: UnitOfWork) -> None:
        """Write the unit of work's journal entries just before it commits, each stamped with
        the transaction's last change-feed position (a restore re-applies those past its
        snapshot's). Written first so that no crash between the two loses a revocation the
        database holds; a failure to write rolls the whole transaction back."""
        seq: int | None = None
        if uow.changes:
            uow.session.flush()
            seq = feed.bounds(uow.session)[1]
        if self.journal is not None:
            self.journal.append([{**entry, "seq": seq} for entry in uow.journaled])

    def dispose(self) -> None:
        self.engine.dispose()
