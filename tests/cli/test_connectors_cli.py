"""`keyward connectors create|delete` as real processes: a 2.0 connector the API's cookie key
rules out is refused at once, and deleting a connector asks at a terminal what becomes of its
key (revoke it, keep it, or cancel), while a script must say so with --revoke-key/--keep-key."""

import json
import os
import select
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from keyward.core.actors import Actor
from keyward.db.engine import Database
from keyward.verifier import Verifier
from tests.e2e.processes import KEYWARD, cli, environment
from tests.factories import (
    actor_for,
    admin,
    make_acquisition,
    make_api,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
    set_key_policy,
)

HOOK = "http://127.0.0.1:9/hooks/specs"
COOKIE_KEY = [{"scheme": "keyward", "in": "cookie", "name": "kw", "role": "key"}]


@dataclass
class World:
    url: str
    database: Database
    boss: Actor
    acquisition_id: str
    api_id: str


@pytest.fixture
def world(fresh_url: str) -> Iterator[World]:
    """Globex's acquisition of an API, made by Dana, who runs the commands."""
    database = Database.connect(fresh_url)
    set_up = make_workspace(database)
    boss = admin(database, set_up)
    api = make_api(database, boss)
    globex = make_organization(database, boss, name="Globex")
    dana = make_member(
        database,
        boss,
        email="dana@globex.example",
        roles=["acquirer"],
        organization_ids=[globex.id],
    )
    acquirer = actor_for(database, set_up.workspace.id, dana.id)
    offering = make_offering(database, boss, api.id)
    acquisition = make_acquisition(database, acquirer, offering.id, globex.id)
    yield World(fresh_url, database, boss, acquisition.id, api.id)
    database.dispose()


def as_dana(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    done = cli(world.url, "--as", "dana@globex.example", *args)
    return subprocess.CompletedProcess(args, done.code, done.stdout, done.stderr)


def connector(world: World, **options: str) -> dict[str, str]:
    flags = [item for name, value in options.items() for item in (f"--{name}", value)]
    made = as_dana(
        world, "connectors", "create", world.acquisition_id, "--kind", "webhook", "--url", HOOK,
        *flags, "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    created: dict[str, str] = json.loads(made.stdout)
    return created


def on_terminal(world: World, answer: str, *args: str) -> tuple[int, str, str]:
    """Run `keyward --as dana ARGS...` with a terminal for its standard input and error, answer
    its question with `answer`; its exit code, standard output and what the terminal showed."""
    leader, follower = os.openpty()
    process = subprocess.Popen(
        [KEYWARD, "--as", "dana@globex.example", *args],
        env=environment(world.url),
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while b"(revoke, keep, cancel) [cancel]:" not in shown:
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, f"no question asked; the terminal showed {shown!r}"
        shown += os.read(leader, 4096)
    os.write(leader, answer.encode() + b"\n")
    stdout, _ = process.communicate(timeout=60)
    while select.select([leader], [], [], 0)[0]:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process is gone: the terminal is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.returncode, stdout.decode(), shown.decode(errors="replace")


def key_works(world: World, created: dict[str, str]) -> bool:
    return Verifier(world.database).verify(created["key"]).valid


def test_deleting_a_connector_at_a_terminal_asks_whether_to_revoke_its_key(world: World) -> None:
    first, second = connector(world), connector(world)
    code, stdout, shown = on_terminal(world, "cancel", "connectors", "delete", first["id"])
    assert code == 1
    assert f"delivers the key 'connector {first['id']} to 127.0.0.1' ({first['key_id']})" in shown
    assert "Nothing was changed." in shown
    listed = json.loads(as_dana(world, "connectors", "list", world.acquisition_id, "--json").stdout)
    assert [c["id"] for c in listed["data"]] == [second["id"], first["id"]]  # newest first

    code, stdout, _ = on_terminal(world, "revoke", "connectors", "delete", first["id"])
    assert code == 0
    assert f"Connector {first['id']} is deleted" in stdout
    assert "is revoked" in stdout
    assert not key_works(world, first)

    code, stdout, _ = on_terminal(world, "keep", "connectors", "delete", second["id"])
    assert (code, "keeps working" in stdout) == (0, True)
    assert key_works(world, second)


def test_a_script_deleting_a_connector_says_what_becomes_of_its_key(world: World) -> None:
    made = connector(world)
    asked = as_dana(world, "connectors", "delete", made["id"], "--json")
    assert (asked.returncode, asked.stdout) == (1, "")
    error = json.loads(asked.stderr)["error"]
    assert (error["code"], error["details"]["key_id"]) == ("key_choice_required", made["key_id"])
    kept = as_dana(world, "connectors", "delete", made["id"], "--keep-key", "--json")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["key_revoked"] is False
    assert key_works(world, made)


def test_a_2_0_connector_for_a_cookie_key_is_refused_by_the_command(world: World) -> None:
    set_key_policy(world.database, world.boss, world.api_id, key_locations=COOKIE_KEY)
    refused = as_dana(
        world, "connectors", "create", world.acquisition_id, "--kind", "webhook", "--url", HOOK,
        "--version", "2.0", "--json",
    )  # fmt: skip
    assert (refused.returncode, refused.stdout) == (1, "")
    error = json.loads(refused.stderr)["error"]
    assert error["code"] == "cookie_api_key"
    assert "version 3.0" in error["message"]
    listed = json.loads(as_dana(world, "connectors", "list", world.acquisition_id, "--json").stdout)
    assert listed["data"] == []
    assert connector(world, version="3.0")["version"] == "3.0"
