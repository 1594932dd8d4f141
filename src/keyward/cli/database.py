"""Reaching the database from the command line: where `KEYWARD_DATABASE_URL` leads, and the
one clear line a person gets when it leads nowhere usable.

Only `keyward init` creates a database; every other command refuses to make one by accident
(a SQLite file under a mistyped path), naming the place it looked.
"""

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from keyward.core.errors import InvalidInput, KeywardError, Unavailable
from keyward.db.engine import Database, normalize_url

SUPPORTED = "sqlite:///path/to/keyward.db or postgresql://user@host:5432/db"


def _parsed(url: str) -> URL:
    try:
        return make_url(normalize_url(url))
    except (ArgumentError, ValueError):
        # The URL itself may carry a password: only its scheme is repeated.
        scheme = url.partition(":")[0] if ":" in url else ""
        raise InvalidInput(
            f"KEYWARD_DATABASE_URL is not a database keyward supports (scheme {scheme!r}): "
            f"use {SUPPORTED}.",
            code="unsupported_database",
        ) from None


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, absolute; None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()


def location(url: str) -> str:
    """Where `url` leads, as a person looks for it: a SQLite database's absolute file, or the
    server's URL without its password."""
    parsed = _parsed(url)
    if parsed.get_backend_name() == "sqlite":
        file = _sqlite_file(parsed)
        return f"SQLite file {file}" if file else "an in-memory SQLite database"
    shown = parsed.set(drivername=parsed.get_backend_name())
    return shown.render_as_string(hide_password=True)


def reach(url: str, *, create: bool = False) -> Database:
    """The database at `url`, connected once to be sure it answers. Without `create` a SQLite
    file that does not exist is refused (`not_initialised`), never made."""
    parsed = _parsed(url)
    where = location(url)
    file = _sqlite_file(parsed)
    if file is not None and not create and not file.is_file():
        raise KeywardError(
            f"There is no keyward database at {where}: run 'keyward init' to create it, or set "
            "KEYWARD_DATABASE_URL to the one you meant.",
            code="not_initialised",
            details={"database": where},
        )
    try:
        database = Database.connect(url)
    except OSError as error:  # the SQLite file's directory could not be made
        raise Unavailable(
            f"Cannot create the database at {where}: {error.strerror or error}.",
            code="database_unavailable",
            details={"database": where},
        ) from None
    try:
        with database.engine.connect():
            pass
    except DBAPIError as error:
        database.dispose()
        reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else ""
        raise Unavailable(
            f"Cannot reach the database at {where}"
            + (f": {reason}" if reason else f" ({type(error.orig).__name__})")
            + ".",
            code="database_unavailable",
            details={"database": where},
        ) from None
    return database
