"""What every command shares: settings, the database, the acting member, output and errors.

`--json` prints exactly one JSON document on stdout; a failure prints the error JSON on stderr
and exits 1. Without `--json` the same information is printed for people.
"""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn, cast

import typer
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError

from keyward.cli.database import location, reach
from keyward.core.actors import Actor
from keyward.core.errors import KeywardError
from keyward.db.engine import Database
from keyward.db.migrate import is_current
from keyward.domains.audit.refusals import record_refusal
from keyward.domains.rates import govern
from keyward.domains.workspaces import service as workspaces
from keyward.settings import SecretFileUnusable, Settings


@dataclass
class CliState:
    settings: Settings
    workspace: str | None
    member: str | None


@dataclass(frozen=True)
class Acting:
    """Who a command acts as and what it names, once `connect` found them: what a refusal is
    audited under."""

    database: Database
    actor: Actor
    action: str
    named: list[str]


_acting: ContextVar[Acting | None] = ContextVar("keyward_cli_acting", default=None)


def state(ctx: typer.Context) -> CliState:
    return cast(CliState, ctx.find_root().obj)


def fail(error: KeywardError, as_json: bool) -> NoReturn:
    if as_json:
        sys.stderr.write(json.dumps(error.to_dict()) + "\n")
    else:
        sys.stderr.write(f"error [{error.code}]: {error.message}\n")
        for problem in error.details.get("errors", []):
            sys.stderr.write(f"  - {'.'.join(map(str, problem['loc']))}: {problem['message']}\n")
        for problem in error.details.get("problems", []):  # a spec's, by JSON pointer
            sys.stderr.write(f"  - {problem['pointer'] or '/'}: {problem['message']}\n")
    raise typer.Exit(1)


@contextmanager
def reporting(as_json: bool) -> Iterator[None]:
    """Turn keyward errors, invalid input and an unreachable database into clean exits."""
    try:
        yield
    except KeywardError as error:
        if error.audited:
            _audit_refusal(error)
        fail(error, as_json)
    except ValidationError as error:
        problems = [
            {"loc": list(e["loc"]), "message": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        fail(
            KeywardError(
                "The input is not valid: see details.errors.",
                code="validation_failed",
                details={"errors": problems},
            ),
            as_json,
        )
    except DBAPIError as error:
        fail(
            KeywardError(
                f"The database could not be used ({type(error.orig).__name__}).",
                code="database_unavailable",
            ),
            as_json,
        )
    except SecretFileUnusable as error:
        fail(KeywardError(str(error), code="secret_key_file_unusable"), as_json)


def _audit_refusal(error: KeywardError) -> None:
    """Record a refusal as the API does: the command's transaction was rolled back."""
    acting = _acting.get()
    if acting is not None:
        record_refusal(acting.database, acting.actor, acting.action, error, named=acting.named)


def open_database(settings: Settings) -> Database:
    """The database, refusing to go on unless `keyward init` has made and migrated it; the
    refusal names where it looked."""
    database = reach(settings.database_url)
    with database.engine.connect() as connection:
        current = is_current(connection)
    if not current:
        where = location(settings.database_url)
        raise KeywardError(
            f"The database at {where} is not initialised or not up to date: run 'keyward init'.",
            code="not_initialised",
            details={"database": where},
        )
    govern(database, settings)
    return database


def acting(cli: CliState, database: Database) -> Actor:
    """The member the CLI acts as: `--as`, else the workspace's first active admin."""
    with database.transaction(write=False) as uow:
        try:
            workspace = workspaces.resolve_workspace(uow, cli.workspace)
        except KeywardError as error:
            if error.code != "not_initialised":
                raise
            where = location(database.url)
            raise KeywardError(
                f"The database at {where} has no workspace yet: run 'keyward init'.",
                code="not_initialised",
                details={"database": where},
            ) from None
        return workspaces.admin_actor(uow, workspace.id, cli.member)


def connect(ctx: typer.Context) -> tuple[Database, Actor]:
    """The database and the actor, for commands that act in a workspace."""
    cli = state(ctx)
    _acting.set(None)
    database = open_database(cli.settings)
    actor = acting(cli, database)
    # The action is the command (`cli.keys.revoke`), the target the first id it names.
    named = [
        item
        for value in ctx.params.values()
        for item in (value if isinstance(value, list | tuple) else [value])
        if isinstance(item, str)
    ]
    command = ctx.command_path.split()[1:]
    _acting.set(Acting(database, actor, ".".join(["cli", *command]), named))
    return database, actor


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return json.dumps(value) if value else "-"
    return "-" if value is None else str(value)


def emit(document: BaseModel | dict[str, Any], as_json: bool) -> None:
    data = document.model_dump(mode="json") if isinstance(document, BaseModel) else document
    if as_json:
        typer.echo(json.dumps(data))
        return
    if set(data) == {"data", "next_cursor"}:
        emit_table(data["data"])
        if data["next_cursor"]:
            typer.echo(f"(more: --cursor {data['next_cursor']})")
        return
    width = max((len(k) for k in data), default=0)
    for name, value in data.items():
        typer.echo(f"{name.ljust(width)}  {_plain(value)}")


TABLE_COLUMNS = ("id", "name", "email", "kind", "state", "start", "action", "outcome", "target_id")


def emit_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        typer.echo("(none)")
        return
    columns = [c for c in TABLE_COLUMNS if c in rows[0]] or list(rows[0])
    widths = {c: max(len(c), *(len(_plain(r.get(c))) for r in rows)) for c in columns}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        typer.echo("  ".join(_plain(row.get(c)).ljust(widths[c]) for c in columns).rstrip())


JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")
]
