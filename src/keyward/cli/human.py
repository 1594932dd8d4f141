"""What the CLI says to a person beyond a table: a new secret set apart with its copy notice,
and a question before a change that cannot be undone."""

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from keyward.cli.context import emit

# The fields that hold a secret shown once, and how a person calls each.
SECRETS = {"key": "Key", "admin_key": "Admin key", "signing_secret": "Signing secret"}

YesOption = Annotated[
    bool,
    typer.Option(
        "--yes", "-y", help="Do not ask for confirmation (it is asked only at a terminal)."
    ),
]


def emit_created(document: BaseModel | dict[str, Any], as_json: bool) -> None:
    """A document carrying a new secret: with `--json` as it is; for people, its fields, then
    each secret on a line of its own between blank lines, under the notice that it is shown
    once, so it can be copied whole and is not lost among the fields."""
    if as_json:
        emit(document, as_json)
        return
    data = document.model_dump(mode="json") if isinstance(document, BaseModel) else dict(document)
    shown = {name: data.pop(name) for name in SECRETS if data.get(name)}
    notice = data.pop("notice", None)
    emit(data, False)
    for name, secret in shown.items():
        typer.echo(f"\n{SECRETS[name]} (shown once, copy it now):\n\n    {secret}\n")
    if notice:
        typer.echo(notice)


def table(rows: list[dict[str, str]]) -> None:
    """Rows of text under their upper-cased column names, every column as wide as it needs."""
    if not rows:
        typer.echo("(none)")
        return
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in rows[0]}
    typer.echo("  ".join(c.upper().ljust(w) for c, w in widths.items()).rstrip())
    for row in rows:
        typer.echo("  ".join(row[c].ljust(w) for c, w in widths.items()).rstrip())


def confirm(question: str | Callable[[], str], yes: bool) -> None:
    """Ask `question` (or what it gives: it is worked out only when asked) before a change that
    cannot be undone when a person is at a terminal (standard input is one), unless `--yes`;
    scripts, whose input is not a terminal, are not asked. Anything but yes changes nothing and
    exits 1. The question goes to standard error, so that `--json` still prints one document on
    standard output."""
    if yes or not sys.stdin.isatty():
        return
    asked = question if isinstance(question, str) else question()
    if not typer.confirm(asked, default=False, err=True):
        sys.stderr.write("Nothing was changed.\n")
        raise typer.Exit(1)
