"""Snapshots of the database while keyward serves, and restoring one into an empty database.

A backup file is a tar archive of two members: `backup.json` (what the snapshot is: when it
was taken, its change-feed position, its schema revision, its backend) and the data itself,
`database.sqlite3` (SQLite's online backup API: a consistent copy while writers go on) or
`database.pgdump` (`pg_dump --format=custom`, run on a snapshot exported from the very
transaction that read the feed position, so the two agree).
"""

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import URL

from keyward.core.errors import InvalidInput, KeywardError, Unavailable
from keyward.db.engine import Database

FORMAT = 1
METADATA = "backup.json"
DATA = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
INSTALL_PG_CLIENT = (
    "install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a backup holds: taken at `taken_at`, up to change-feed position `feed_seq`."""

    format: int
    backend: str
    taken_at: str
    feed_seq: int
    revision: str | None


def _feed_end(connection: Connection) -> int:
    return int(
        connection.execute(text("SELECT coalesce(max(seq), 0) FROM change_feed")).scalar_one()
    )


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


def _sqlite_file(database: Database) -> Path:
    name = database.engine.url.database
    if not name or name == ":memory:":
        raise InvalidInput("An in-memory database cannot be backed up or restored.")
    return Path(name)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI for the PostgreSQL tools, and their environment: the password travels in
    PGPASSWORD, never on a command line others can read."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Unavailable(
            f"{name} is not installed, and PostgreSQL backups and restores need it: "
            f"{INSTALL_PG_CLIENT}.",
            code="postgresql_client_missing",
            details={"tool": name},
        )
    return found


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # The tools are found on PATH by name; their arguments are ours, no shell between.
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[0].strip() if lines else f"exit code {done.returncode}"
        raise Unavailable(f"{what} failed: {reason}", code="backup_tool_failed")


def _snapshot_sqlite(database: Database, folder: Path, taken_at: datetime) -> Snapshot:
    copy = folder / DATA["sqlite"]
    source = sqlite3.connect(_sqlite_file(database))
    target = sqlite3.connect(copy)
    try:
        # One step: the copy holds a read transaction throughout, so it is one moment's state.
        source.backup(target)
        feed_seq = int(
            target.execute("SELECT coalesce(max(seq), 0) FROM change_feed").fetchone()[0]
        )
        row = target.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        target.close()
        source.close()
    return Snapshot(FORMAT, "sqlite", taken_at.isoformat(), feed_seq, row[0] if row else None)


def _snapshot_postgresql(database: Database, folder: Path, taken_at: datetime) -> Snapshot:
    pg_dump = _tool("pg_dump")
    uri, env = _libpq(database.engine.url)
    with (
        database.engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        ) as connection,
        connection.begin(),
    ):
        # One snapshot for every statement of this transaction, exported to pg_dump.
        exported = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        feed_seq = _feed_end(connection)
        revision = _revision(connection)
        # The dump sees exactly what this transaction sees while it stays open.
        _run(
            [
                pg_dump,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={exported}",
                f"--file={folder / DATA['postgresql']}",
                f"--dbname={uri}",
            ],
            env,
            "pg_dump",
        )
    return Snapshot(FORMAT, "postgresql", taken_at.isoformat(), feed_seq, revision)


def _archive(folder: Path, snapshot: Snapshot) -> Path:
    """The backup file's content, complete and on disk, in `folder`."""
    partial = folder / "backup.tar"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        with tarfile.open(fileobj=sink, mode="w") as archive:
            described = json.dumps(asdict(snapshot), indent=2).encode()
            member = tarfile.TarInfo(METADATA)
            member.size = len(described)
            member.mode = 0o600
            archive.addfile(member, io.BytesIO(described))
            archive.add(folder / DATA[snapshot.backend], DATA[snapshot.backend])
        sink.flush()
        os.fsync(sink.fileno())
    return partial


def backup(database: Database, file: Path) -> Snapshot:
    """Write a snapshot of `database` to `file` (0600, replaced atomically once complete)."""
    taken_at = database.clock.now()
    file = file.expanduser().resolve()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=file.parent, prefix=".keyward-backup-") as work:
            folder = Path(work)
            if database.dialect == "sqlite":
                snapshot = _snapshot_sqlite(database, folder, taken_at)
            else:
                snapshot = _snapshot_postgresql(database, folder, taken_at)
            os.replace(_archive(folder, snapshot), file)
    except OSError as error:
        raise Unavailable(
            f"Cannot write the backup to {file}: {error.strerror or error}.",
            code="backup_not_written",
        ) from None
    return snapshot


def _not_a_backup(file: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"{file} is not a keyward backup ({why}): give a file made by 'keyward backup'.",
        code="backup_unreadable",
    )


def read_snapshot(file: Path) -> Snapshot:
    """What the backup `file` holds; `backup_unreadable` if it is not one."""
    try:
        with tarfile.open(file, mode="r:") as archive:
            member = archive.extractfile(METADATA)
            if member is None:
                raise _not_a_backup(file, f"no {METADATA}")
            described = json.loads(member.read())
        snapshot = Snapshot(**described)
    except (OSError, tarfile.TarError, KeyError, ValueError, TypeError) as error:
        raise _not_a_backup(file, str(error) or type(error).__name__) from None
    if snapshot.format != FORMAT or snapshot.backend not in DATA:
        raise _not_a_backup(file, f"format {snapshot.format}, backend {snapshot.backend!r}")
    return snapshot


@contextmanager
def _extracted(file: Path, snapshot: Snapshot) -> Iterator[Path]:
    with (
        tempfile.TemporaryDirectory(prefix="keyward-restore-") as work,
        tarfile.open(file, mode="r:") as archive,
    ):
        archive.extract(DATA[snapshot.backend], work, filter="data")
        yield Path(work) / DATA[snapshot.backend]


def holds_data(database: Database) -> bool:
    """Whether `database` holds anything a restore would overwrite: a workspace, or tables
    that are not keyward's schema."""
    with database.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        if "workspaces" in tables:
            return connection.execute(text("SELECT 1 FROM workspaces LIMIT 1")).first() is not None
        return bool(tables - {"alembic_version"})


def restore(database: Database, file: Path, snapshot: Snapshot) -> int:
    """Replace everything in `database` with the snapshot in `file`; returns the restored
    change feed's last position. The schema is left at the snapshot's revision."""
    if snapshot.backend != database.dialect:
        raise InvalidInput(
            f"The backup is of a {snapshot.backend} database and KEYWARD_DATABASE_URL names a "
            f"{database.dialect} one: restore it into a {snapshot.backend} database.",
            code="backup_backend_mismatch",
        )
    database.dispose()
    with _extracted(file, snapshot) as data:
        if snapshot.backend == "sqlite":
            source = sqlite3.connect(data)
            target = sqlite3.connect(_sqlite_file(database))
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
        else:
            pg_restore = _tool("pg_restore")
            uri, env = _libpq(database.engine.url)
            with database.engine.begin() as connection:
                connection.exec_driver_sql("DROP SCHEMA public CASCADE")
                connection.exec_driver_sql("CREATE SCHEMA public")
            _run(
                [
                    pg_restore,
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    f"--dbname={uri}",
                    str(data),
                ],
                env,
                "pg_restore",
            )
    database.dispose()
    with database.engine.connect() as connection:
        try:
            return _feed_end(connection)
        except Exception as error:
            raise KeywardError(
                "The restored database has no change feed: the backup is not of keyward.",
                code="backup_unreadable",
            ) from error
