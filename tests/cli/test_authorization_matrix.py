"""The CLI asks the same ownership rule as the REST API: the personas of the REST matrix act
with `--as` (the other workspace's admin with `--workspace`) through the commands that reach one
resource, and may do exactly what `ALLOWED` says of the route each command stands for. Reading
commands run for every persona; changing ones only where they must be refused, which must leave
the database as it was but its audit log.

The CLI acts as a member with all their rights, so the narrowed key persona has no CLI cell.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.cli import app
from keyward.db.engine import Database
from keyward.verifier import Verifier
from tests.api.test_authorization_matrix import (
    ALLOWED,
    NARROW,
    PERSONAS,
    World,
    _prepare,
    _state,
    _world,
)
from tests.conftest import settings_for


@dataclass(frozen=True)
class Command:
    route: str  # the REST route it stands for in ALLOWED
    args: Callable[[dict[str, str]], list[str]]
    changes: bool = False


COMMANDS = [
    Command("GET /v1/keys/{key_id}", lambda i: ["keys", "show", i["key_id"]]),
    Command("POST /v1/keys/{key_id}/revoke", lambda i: ["keys", "revoke", i["key_id"]], True),
    Command("POST /v1/keys/{key_id}/rotate", lambda i: ["keys", "rotate", i["key_id"]], True),
    Command("POST /v1/keys/{key_id}/renew", lambda i: ["keys", "renew", i["key_id"]], True),
    Command(
        "DELETE /v1/keys/{key_id}", lambda i: ["keys", "delete", i["key_id"], "--revoke"], True
    ),
    Command(
        "GET /v1/acquisitions/{acquisition_id}",
        lambda i: ["acquisitions", "show", i["acquisition_id"]],
    ),
    Command(
        "GET /v1/acquisitions/{acquisition_id}/keys",
        lambda i: ["acquisitions", "keys", i["acquisition_id"]],
    ),
    Command(
        "GET /v1/acquisitions/{acquisition_id}/openapi", lambda i: ["export", i["acquisition_id"]]
    ),
    Command(
        "POST /v1/acquisitions/{acquisition_id}/keys",
        lambda i: ["acquisitions", "create-key", i["acquisition_id"], "--name", "cli"],
        True,
    ),
    Command(
        "POST /v1/acquisitions/{acquisition_id}/reacquire",
        lambda i: ["acquisitions", "reacquire", i["acquisition_id"]],
        True,
    ),
    Command("GET /v1/apis/{api_id}", lambda i: ["apis", "show", i["api_id"]]),
    Command("GET /v1/offerings/{offering_id}", lambda i: ["offerings", "show", i["offering_id"]]),
    Command(
        "GET /v1/acquisitions/{acquisition_id}/connectors",
        lambda i: ["connectors", "list", i["acquisition_id"]],
    ),
    Command(
        "POST /v1/key-requests/{request_id}/approve",
        lambda i: ["requests", "approve", i["request_id"]],
        True,
    ),
    Command(
        "POST /v1/key-requests/{request_id}/cancel",
        lambda i: ["requests", "cancel", i["request_id"]],
        True,
    ),
    Command("GET /v1/members/{member_id}", lambda i: ["members", "show", i["member_id"]]),
    Command(
        "POST /v1/members/{member_id}/invitations",
        lambda i: ["members", "invite", i["member_id"]],
        True,
    ),
    Command(
        "GET /v1/organizations/{organization_id}",
        lambda i: ["organizations", "show", i["organization_id"]],
    ),
]


REFUSALS = frozenset(
    {"permission_denied", "permission_escalation", "not_organization_member", "not_requester"}
)


@pytest.fixture
def committed(fresh_url: str) -> Iterator[tuple[World, dict[str, list[str]], Database]]:
    """The REST matrix's world, committed, and how each persona is named to the CLI: its
    workspace and its member's e-mail."""
    database = Database.connect(fresh_url)
    try:
        world = _world(database)
        runtime = Runtime(settings_for(fresh_url), database, Verifier(database))
        acting = {}
        with TestClient(create_app(runtime, follow_feed=False)) as client:
            _prepare(client, world)
            for persona in PERSONAS:
                me = client.get("/v1/me", headers=world.headers[persona]).json()
                acting[persona] = [
                    "--workspace",
                    me["workspace"]["id"],
                    "--as",
                    me["member"]["email"],
                ]
        yield world, acting, database
    finally:
        database.dispose()


def test_each_persona_may_do_with_the_cli_what_the_matrix_says(
    fresh_url: str, committed: tuple[World, dict[str, list[str]], Database]
) -> None:
    world, acting, database = committed
    runner = CliRunner()
    env = {"KEYWARD_DATABASE_URL": fresh_url, "KEYWARD_SECRET_KEY": "the cli matrix's secret"}
    wrong = []
    for command in COMMANDS:
        for persona in PERSONAS:
            if persona == NARROW:
                continue
            allowed = persona in ALLOWED[command.route]
            if allowed and command.changes:
                continue
            with database.engine.connect() as connection:
                before = _state(connection)
            result = runner.invoke(
                app, [*acting[persona], *command.args(world.ids), "--json"], env=env
            )
            problem = _judge(allowed, result)
            if problem is None and not allowed:
                with database.engine.connect() as connection:
                    if _state(connection) != before:
                        problem = "refused but changed the database"
            if problem is not None:
                wrong.append(f"{' '.join(command.args(world.ids)[:2])} as {persona}: {problem}")
    assert wrong == [], "\n".join(wrong)


def _judge(allowed: bool, result: Any) -> str | None:
    if allowed:
        return None if result.exit_code == 0 else f"refused: {result.stderr[:300]}"
    if result.exit_code == 0:
        return "allowed, but should be refused"
    try:
        code = json.loads(result.stderr)["error"]["code"]
    except ValueError:
        return f"exit {result.exit_code} without an error document: {result.output[:300]}"
    if code not in REFUSALS and not code.endswith("_not_found"):
        return f"refused with {code}"
    return None
