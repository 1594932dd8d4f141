"""Irreversible commands ask first when a person is at a terminal (`--yes` skips the question)
and go ahead as before for scripts: real `keyward` processes on a pseudo-terminal."""

import os
import pty
import select
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from keyward.core.actors import Actor
from keyward.core.errors import NotFound
from keyward.db.engine import Database
from keyward.domains.keys import service as keys
from tests.e2e.processes import KEYWARD, cli, environment
from tests.factories import admin, make_key, make_workspace

QUESTION = b"[y/N]: "


@dataclass
class Asked:
    code: int
    output: str


def at_terminal(url: str, *args: str, answer: str | None = None) -> Asked:
    """Run `keyward ARGS...` with a pseudo-terminal as its input and output; when it asks a
    yes/no question, type `answer` (None: it must not ask)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [KEYWARD, *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=environment(url),
        close_fds=True,
    )
    os.close(terminal)
    output = b""
    answered = False
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                raise AssertionError(f"keyward said nothing more for a minute: {output!r}")
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            output += chunk
            if not answered and output.endswith(QUESTION):
                assert answer is not None, f"asked although it should not: {output!r}"
                os.write(controller, answer.encode() + b"\n")
                answered = True
        code = process.wait(timeout=60)
    finally:
        process.kill()
        os.close(controller)
    return Asked(code, output.decode().replace("\r\n", "\n"))


@pytest.fixture
def database(fresh_url: str) -> Iterator[Database]:
    database = Database.connect(fresh_url)
    yield database
    database.dispose()


def _state(database: Database, actor: Actor, key_id: str) -> str | None:
    """The key's state, None once deleted."""
    with database.transaction(write=False) as uow:
        try:
            return keys.get_key(uow, actor, key_id).state.value
        except NotFound:
            return None


def test_revoke_and_delete_ask_at_a_terminal_and_change_nothing_unless_told_yes(
    fresh_url: str, database: Database
) -> None:
    boss = admin(database, make_workspace(database))
    ci = make_key(database, boss, name="ci")

    declined = at_terminal(fresh_url, "keys", "revoke", ci.id, answer="n")
    assert declined.code == 1
    assert f'Revoke key "ci" ({ci.id})? It stops working for good. [y/N]: n\n' in declined.output
    assert declined.output.endswith("Nothing was changed.\n")
    assert _state(database, boss, ci.id) == "active"

    confirmed = at_terminal(fresh_url, "keys", "delete", ci.id, "--revoke", answer="y")
    assert confirmed.code == 0, confirmed.output
    assert f'Revoke and delete key "ci" ({ci.id})? This cannot be undone. [y/N]: y\n' in (
        confirmed.output
    )
    assert _state(database, boss, ci.id) is None


def test_bulk_delete_asks_at_a_terminal_and_deletes_only_when_told_yes(
    fresh_url: str, database: Database
) -> None:
    boss = admin(database, make_workspace(database))
    first, second = (make_key(database, boss, name=n) for n in ("first", "second"))
    for key in (first, second):
        with database.transaction() as uow:
            keys.revoke_key(uow, boss, key.id, "")
    question = "Delete the revoked keys among these 2? This cannot be undone. [y/N]: "

    declined = at_terminal(fresh_url, "keys", "bulk-delete", first.id, second.id, answer="")
    assert declined.code == 1
    assert f"{question}\n" in declined.output, "no answer is no"
    assert declined.output.endswith("Nothing was changed.\n")
    assert [_state(database, boss, k.id) for k in (first, second)] == ["revoked", "revoked"]

    confirmed = at_terminal(fresh_url, "keys", "bulk-delete", first.id, second.id, answer="y")
    assert confirmed.code == 0, confirmed.output
    assert f"{question}y\n" in confirmed.output
    assert confirmed.output.endswith("2 deleted, 0 skipped\n")
    assert [_state(database, boss, k.id) for k in (first, second)] == [None, None]


def test_yes_skips_the_question_and_scripts_are_not_asked(
    fresh_url: str, database: Database
) -> None:
    boss = admin(database, make_workspace(database))
    old, older, scripted = (make_key(database, boss, name=n) for n in ("old", "older", "cron"))
    for key in (old, older):
        with database.transaction() as uow:
            keys.revoke_key(uow, boss, key.id, "")

    told = at_terminal(fresh_url, "keys", "bulk-delete", old.id, older.id, "--yes")
    assert told.code == 0, told.output
    assert "[y/N]" not in told.output
    assert f'{old.id} "old": deleted\n' in told.output
    assert told.output.endswith("2 deleted, 0 skipped\n")

    # No terminal (a script, a pipe): no question, as before.
    piped = cli(fresh_url, "keys", "revoke", scripted.id, "--json", stdin="")
    assert piped.code == 0, piped.stderr
    assert piped.json()["state"] == "revoked"
    assert piped.stderr == ""
