"""Throw-away databases for the test run: SQLite files and PostgreSQL databases.

PostgreSQL is the machine's server (`KEYWARD_TEST_POSTGRES_URL`, default
postgresql://127.0.0.1:5432/test). A run creates its own databases and drops them at the end.
Without a server the PostgreSQL half is skipped with a message, except under CI=true where a
missing server fails the run.
"""

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from keyward.db.engine import Database
from keyward.db.migrate import upgrade

POSTGRES_SERVER = os.environ.get(
    "KEYWARD_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    engine = create_engine(POSTGRES_SERVER)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return f"PostgreSQL at {POSTGRES_SERVER} is not reachable ({type(error).__name__})"
    finally:
        engine.dispose()
    return None


def require_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason}; CI needs it: start it, do not skip.")
    pytest.skip(f"{reason}; start it to run the PostgreSQL half of the suite.")


class PostgresDatabases:
    """Creates databases named after this run and drops them all at the end."""

    def __init__(self) -> None:
        self.run = f"keyward_test_{os.getpid()}_{secrets.token_hex(3)}"
        self._admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
        self._created: list[str] = []
        self._counter = 0
        self.create(f"{self.run}_template", migrate=True)
        self.template = f"{self.run}_template"

    def _url(self, name: str) -> str:
        return make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)

    def create(self, name: str | None = None, *, migrate: bool = False) -> str:
        """A new database: migrated from scratch, or a copy of the migrated template."""
        if name is None:
            self._counter += 1
            name = f"{self.run}_{self._counter}"
        with self._admin.connect() as connection:
            if migrate:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self._created.append(name)
        url = self._url(name)
        if migrate:
            database = Database.connect(url)
            with database.engine.begin() as connection:
                upgrade(connection)
            database.dispose()
        return url

    def drop_all(self) -> None:
        with self._admin.connect() as connection:
            for name in reversed(self._created):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


class SqliteDatabases:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._counter = 0
        self._template = directory / "template.db"
        database = Database.connect(f"sqlite:///{self._template}")
        with database.engine.begin() as connection:
            upgrade(connection)
        database.dispose()

    def create(self) -> str:
        self._counter += 1
        path = self._directory / f"db{self._counter}.db"
        shutil.copyfile(self._template, path)
        return f"sqlite:///{path}"


@contextmanager
def throwaway_postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()
