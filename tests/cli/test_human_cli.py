"""What the CLI prints for people: a new secret set apart, key requests with who asked and why,
bulk deletion per key, acquisitions with their offering, organization and validity, expired
acquisitions' keys, workspaces, members named by e-mail; `--json` on every listing; and a
refusal through the CLI audited once, as through REST."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.cli import app
from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.domains.audit import service as audit
from keyward.domains.audit.schemas import AuditEventOut, AuditFilter
from keyward.domains.keys import service as keys
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.domains.pagination import PageRequest
from keyward.verifier import Verifier
from tests.conftest import settings_for
from tests.factories import (
    actor_for,
    admin,
    bearer,
    full_key,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
    set_key_policy,
)


@dataclass
class World:
    url: str
    database: Database
    admin: Actor
    admin_email: str
    acquirer: Actor
    acquirer_email: str
    organization_id: str
    offering_id: str
    acquisition_id: str
    key_id: str


def _world(url: str, database: Database, *, revocation_requires_approval: bool = False) -> World:
    """A provider's API offered for 30 days, acquired by Globex, whose member Dana made the
    acquisition's key "dana laptop"."""
    set_up = make_workspace(database, name="main")
    boss = admin(database, set_up)
    provider = make_organization(database, boss, name="Acme", kind=OrganizationKind.PROVIDER)
    api = make_api(database, boss, name="Petstore", provider_organization_id=provider.id)
    set_key_policy(
        database, boss, api.id, revocation_requires_approval=revocation_requires_approval
    )
    offering = make_offering(database, boss, api.id, period="P30D")
    globex = make_organization(database, boss, name="Globex")
    dana = make_member(
        database,
        boss,
        email="dana@globex.example",
        name="Dana Acquirer",
        roles=["acquirer"],
        organization_ids=[globex.id],
    )
    acquirer = actor_for(database, set_up.workspace.id, dana.id)
    acquisition = make_acquisition(database, boss, offering.id, globex.id)
    key = make_acquisition_key(database, acquirer, acquisition.id, name="dana laptop")
    admin_email = json.loads(
        CliRunner()
        .invoke(app, ["members", "show", set_up.admin_member_id, "--json"], env=_env(url))
        .stdout
    )["email"]
    return World(
        url,
        database,
        boss,
        admin_email,
        acquirer,
        dana.email,
        globex.id,
        offering.id,
        acquisition.id,
        key.id,
    )


def _env(url: str) -> dict[str, str]:
    return {"KEYWARD_DATABASE_URL": url, "KEYWARD_SECRET_KEY": "the human cli tests' secret"}


@pytest.fixture
def database(fresh_url: str) -> Iterator[Database]:
    database = Database.connect(fresh_url)
    yield database
    database.dispose()


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(url: str, *args: str, stdin: str | None = None) -> Ran:
    """`keyward ARGS...` through its Typer app; standard input is not a terminal."""
    result = CliRunner().invoke(app, list(args), env=_env(url), input=stdin)
    return Ran(result.exit_code, result.stdout, result.stderr)


SECRET = re.compile(r"\bkw_[0-9A-Za-z]{20,}\b")


def test_a_new_secret_stands_apart_under_its_copy_notice(
    fresh_url: str, database: Database
) -> None:
    world = _world(fresh_url, database)
    made = run(fresh_url, "keys", "create", "--name", "ci", "-p", "keys:read")
    assert made.code == 0, made.stderr
    (secret,) = SECRET.findall(made.stdout)
    assert f"Key (shown once, copy it now):\n\n    {secret}\n\n" in made.stdout
    assert re.search(rf"^key\s+{secret}$", made.stdout, re.M) is None, "not among the fields"

    rotated = run(fresh_url, "--as", world.acquirer_email, "keys", "rotate", world.key_id)
    assert rotated.code == 0, rotated.stderr
    (new_secret,) = SECRET.findall(rotated.stdout)
    assert f"Key (shown once, copy it now):\n\n    {new_secret}\n\n" in rotated.stdout
    assert "the old secret works until previous_key_expires_at" in rotated.stdout

    named = run(
        fresh_url,
        "--as",
        world.acquirer_email,
        "acquisitions",
        "create-key",
        world.acquisition_id,
        "--name",
        "ci",
    )
    assert named.code == 0, named.stderr
    assert re.search(r"Key \(shown once, copy it now\):\n\n    kw_\w+\n\n", named.stdout)

    workspace = run(fresh_url, "workspaces", "create", "second", "--admin-email", "a@b.example")
    assert re.search(r"Admin key \(shown once, copy it now\):\n\n    kw_\w+\n", workspace.stdout)

    as_json = run(fresh_url, "keys", "create", "--name", "ci2", "--json").json()
    assert SECRET.fullmatch(str(as_json["key"])), "--json is the document as it was"


def test_requests_list_and_show_say_which_key_who_asked_and_why(
    fresh_url: str, database: Database
) -> None:
    world = _world(fresh_url, database, revocation_requires_approval=True)
    asked = run(
        fresh_url,
        "--as",
        world.acquirer_email,
        "keys",
        "revoke",
        world.key_id,
        "--reason",
        "laptop stolen",
    )
    assert asked.code == 0, asked.stderr
    assert "is pending" in asked.stdout

    listed = run(fresh_url, "requests", "list")
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "ACTION", "STATUS", "KEY", "REQUESTER", "REASON"]
    assert row.startswith("kreq_")
    assert "revoke" in row
    assert "pending" in row
    assert f'"dana laptop" ({world.key_id})' in row
    assert "Dana Acquirer (mem_" in row
    assert row.endswith("laptop stolen")

    request_id = row.split()[0]
    inbox = run(fresh_url, "requests", "list", "--decidable", "--status", "pending", "--json")
    assert [r["id"] for r in inbox.json()["data"]] == [request_id], "the admin may decide it"
    none = run(fresh_url, "--as", world.acquirer_email, "requests", "list", "--decidable")
    assert none.stderr.startswith("error [permission_denied]: "), "the requester approves nothing"
    shown = run(fresh_url, "requests", "show", request_id)
    assert shown.code == 0, shown.stderr
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in shown.stdout.splitlines())
    assert fields["key"] == f'"dana laptop" ({world.key_id})'
    assert fields["api"].startswith("Petstore (api_")
    assert fields["organization"] == f"Globex ({world.organization_id})"
    assert fields["acquisition"].endswith(f" ({world.acquisition_id})")
    assert fields["acquisition"].startswith("Offering ")
    assert fields["requested_by"].startswith("Dana Acquirer (mem_")
    assert fields["reason"] == "laptop stolen"
    assert fields["status"] == "pending"

    as_json = run(fresh_url, "requests", "show", request_id, "--json").json()
    assert (as_json["id"], as_json["reason"]) == (request_id, "laptop stolen")
    listed_json = run(fresh_url, "requests", "list", "--json").json()
    assert [r["id"] for r in listed_json["data"]] == [request_id]

    # While a request is pending nothing is deleted, and each key says why.
    revoked = make_key(database, world.admin, name="old ci")
    with database.transaction() as uow:
        keys.revoke_key(uow, world.admin, revoked.id, "")
    blocked = run(fresh_url, "keys", "bulk-delete", world.key_id, revoked.id)
    assert blocked.code == 1
    assert blocked.stderr.splitlines() == [
        f'{world.key_id} "dana laptop": request {request_id} is pending',
        f'{revoked.id} "old ci": not deleted',
        "error [key_request_pending]: 1 of the keys have a pending request; nothing was deleted.",
    ]
    assert run(fresh_url, "keys", "show", revoked.id).code == 0

    unknown = run(fresh_url, "requests", "show", "kreq_01m94f6s9gxnrdqjd9vt6w6f22", "--json")
    assert unknown.code == 1
    assert json.loads(unknown.stderr)["error"]["code"] == "key_request_not_found"


def test_bulk_delete_prints_one_line_per_key_with_what_became_of_it(
    fresh_url: str, database: Database
) -> None:
    world = _world(fresh_url, database)
    revoked = make_key(database, world.admin, name="old ci")
    with database.transaction() as uow:
        keys.revoke_key(uow, world.admin, revoked.id, "")
    active = make_key(database, world.admin, name="in use")
    unknown = "key_01m94f6s9gxnrdqjd9vt6w6f22"

    done = run(fresh_url, "keys", "bulk-delete", revoked.id, active.id, unknown)
    assert done.code == 0, done.stderr
    assert done.stdout.splitlines() == [
        f'{revoked.id} "old ci": deleted',
        f'{active.id} "in use": skipped: Only a revoked key can be deleted; this one is not '
        "revoked. (key_not_revoked)",
        f"{unknown}: not found: No such key in this workspace. (key_not_found)",
        "1 deleted, 2 skipped",
    ]
    assert run(fresh_url, "keys", "show", revoked.id).code == 1
    assert run(fresh_url, "keys", "show", active.id).code == 0


def test_acquisitions_list_names_offering_organization_and_validity(
    fresh_url: str, database: Database
) -> None:
    world = _world(fresh_url, database)
    listed = run(fresh_url, "acquisitions", "list")
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == [
        "ID",
        "OFFERING",
        "ORGANIZATION",
        "STATE",
        "VALID_FROM",
        "VALID_UNTIL",
    ]
    (acquisition,) = run(fresh_url, "acquisitions", "list", "--json").json()["data"]
    assert row.startswith(world.acquisition_id)
    assert f"({world.offering_id})" in row
    assert "Offering " in row
    assert f"Globex ({world.organization_id})" in row
    until = datetime.fromisoformat(acquisition["valid_until"])
    assert f"{until:%Y-%m-%dT%H:%MZ}" in row
    assert "active" in row
    other = run(
        fresh_url, "acquisitions", "list", "--organization", "org_01m94f6s9gxnrdqjd9vt6w6f22"
    )
    assert other.stdout == "(none)\n"


def test_keys_of_an_expired_acquisition_are_shown_as_expired_with_it(fresh_url: str) -> None:
    # Acquired 40 days ago for 30 days: expired now, its key kept and active in itself.
    past = Database.connect(fresh_url, clock=ManualClock(datetime.now(UTC) - timedelta(days=40)))
    try:
        world = _world(fresh_url, past)
    finally:
        past.dispose()
    for args in (
        ("acquisitions", "keys", world.acquisition_id),
        ("keys", "list", "--kind", "acquisition"),
    ):
        listed = run(fresh_url, *args)
        assert listed.code == 0, listed.stderr
        (row,) = listed.stdout.splitlines()[1:]
        assert world.key_id in row
        assert "expired (acquisition)" in row
    shown = run(fresh_url, "keys", "show", world.key_id)
    assert re.search(r"^state\s+expired \(acquisition\)$", shown.stdout, re.M)
    assert run(fresh_url, "keys", "show", world.key_id, "--json").json()["state"] == "active"
    acquisitions = run(fresh_url, "acquisitions", "list").stdout
    assert " expired " in acquisitions

    assert run(fresh_url, "acquisitions", "reacquire", world.acquisition_id).code == 0
    again = run(fresh_url, "acquisitions", "keys", world.acquisition_id).stdout
    assert "expired" not in again
    assert " active " in again


def test_workspaces_are_listed_and_members_named_by_e_mail(
    fresh_url: str, database: Database
) -> None:
    world = _world(fresh_url, database)
    assert (
        run(fresh_url, "workspaces", "create", "second", "--admin-email", "a@b.example").code == 0
    )
    listed = run(fresh_url, "workspaces", "list")
    assert listed.code == 0, listed.stderr
    header, newest, oldest = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "KEY_PREFIX", "CREATED_AT", "DEFAULT"]
    assert " second " in newest
    assert not newest.endswith("yes")
    assert " main " in oldest
    assert oldest.endswith("yes")
    names = [w["name"] for w in run(fresh_url, "workspaces", "list", "--json").json()["data"]]
    assert names == ["second", "main"]

    email = world.acquirer_email.upper()  # e-mail addresses are matched in any case
    shown = run(fresh_url, "members", "show", email, "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["id"] == world.acquirer.member_id
    granted = run(fresh_url, "members", "grant", email, "-r", "acquirer", "-r", "auditor")
    assert granted.code == 0, granted.stderr
    rights = run(fresh_url, "members", "permissions", email, "--json").json()
    assert sorted(rights["roles"]) == ["acquirer", "auditor"]
    paused = run(fresh_url, "members", "update", email, "--inactive", "--json")
    assert paused.json()["active"] is False
    # An inactive member is still named by their address.
    assert run(fresh_url, "members", "update", email, "--active", "--json").json()["active"]

    # An address names a member only to whom may read them, and never shows their id.
    unknown = run(
        fresh_url, "--as", world.acquirer_email, "members", "show", "x@nowhere.example", "--json"
    )
    assert unknown.code == 1
    error = json.loads(unknown.stderr)["error"]
    assert (error["code"], error["message"]) == (
        "member_not_found",
        "No member 'x@nowhere.example' in this workspace.",
    )
    make_member(database, world.admin, email="guest@globex.example", name="Guest")
    for address in (world.acquirer_email, "x@nowhere.example"):
        guessed = run(fresh_url, "--as", "guest@globex.example", "members", "show", address)
        assert guessed.code == 1
        assert guessed.stderr.startswith("error [permission_denied]: ")
        assert "mem_" not in guessed.stderr
        # Setting a password or inviting by address tells no more than showing.
        for command in (["password", address, "--stdin"], ["invite", address]):
            probed = run(
                fresh_url, "--as", "guest@globex.example", "members", *command, stdin=PASSPHRASE
            )
            assert probed.code == 1
            assert probed.stderr.startswith("error [permission_denied]: "), probed.stderr
            assert "mem_" not in probed.stderr

    # A right bound to a member names them by address too.
    bound = run(
        fresh_url, "members", "grant", "guest@globex.example", "-p", f"members:read@{email}"
    )
    assert bound.code == 0, bound.stderr
    guest = run(fresh_url, "members", "permissions", "guest@globex.example", "--json").json()
    assert guest["permissions"] == [f"members:read@{world.acquirer.member_id}"]
    shown = run(fresh_url, "--as", "guest@globex.example", "members", "show", email, "--json")
    assert shown.json()["id"] == world.acquirer.member_id
    nobody = run(fresh_url, "members", "grant", "guest@globex.example", "-p", "members:read@x@y.z")
    assert nobody.code == 1
    assert nobody.stderr.startswith("error [member_not_found]: No member 'x@y.z'"), nobody.stderr

    deleted = run(fresh_url, "members", "delete", email, "--json")
    assert deleted.code == 0, deleted.stderr
    assert deleted.json() == {
        "id": world.acquirer.member_id,
        "deleted": True,
        "enforcement": {"enforced_at": None, "gateways": 0, "lagging": []},
    }


PASSPHRASE = "a long enough passphrase\n"
LISTING = {"list", "keys", "versions", "deliveries", "permissions", "status"}


def test_every_listing_command_has_json() -> None:
    root = typer.main.get_command(app)
    listings = []
    for group_name, group in getattr(root, "commands", {}).items():
        for name, command in getattr(group, "commands", {}).items():
            if name in LISTING:
                listings.append(f"{group_name} {name}")
                options = {o for p in command.params for o in getattr(p, "opts", [])}
                assert "--json" in options, f"keyward {group_name} {name} has no --json"
    assert {"workspaces list", "requests list", "acquisitions list", "keys list"} <= set(listings)


def _refusals(database: Database, actor: Actor, target: str) -> list[AuditEventOut]:
    with database.transaction(write=False) as uow:
        page = audit.list_events(
            uow, actor, AuditFilter(target=target, outcome="refused"), PageRequest(200)
        )
    return page.data


def test_a_refusal_through_the_cli_is_audited_once_as_through_rest(
    fresh_url: str, database: Database
) -> None:
    world = _world(fresh_url, database)
    admins_key = make_key(database, world.admin, name="admin's own")

    refused = run(
        fresh_url, "--as", world.acquirer_email, "keys", "revoke", admins_key.id, "--json"
    )
    assert refused.code == 1
    assert json.loads(refused.stderr)["error"]["code"] == "key_not_found"
    (event,) = _refusals(database, world.admin, admins_key.id)
    assert (event.action, event.outcome, event.code) == (
        "cli.keys.revoke",
        "refused",
        "key_not_found",
    )
    assert event.actor_member_id == world.acquirer.member_id
    assert event.actor_type != "key"

    runtime = Runtime(settings_for(fresh_url), database, Verifier(database))
    with TestClient(create_app(runtime, follow_feed=False)) as client:
        answer = client.post(
            f"/v1/keys/{admins_key.id}/revoke",
            json={"reason": ""},
            headers=bearer(full_key(database, world.acquirer)),
        )
    assert answer.status_code == 404
    assert len(_refusals(database, world.admin, admins_key.id)) == 2, "one each"
    shown = run(fresh_url, "keys", "show", admins_key.id, "--json").json()
    assert shown["state"] == "active", "the refusal changed nothing"


def test_approvers_and_audit_actors_are_named_by_e_mail_too(
    fresh_url: str, database: Database, tmp_path: Path
) -> None:
    world = _world(fresh_url, database)
    approver = make_member(database, world.admin, email="ada@acme.example", roles=["approver"])
    api_id = run(fresh_url, "acquisitions", "show", world.acquisition_id, "--json").json()["api_id"]
    policy = run(fresh_url, "apis", "policy", api_id, "--json").json()
    for location in policy["key_locations"]:
        location.pop("synthetic", None)
    written = tmp_path / "policy.json"
    written.write_text(json.dumps(policy | {"approvers": ["Ada@Acme.example"]}))

    set_ = run(fresh_url, "apis", "policy", api_id, "--set", str(written), "--json")
    assert set_.code == 0, set_.stderr
    assert set_.json()["approvers"] == [approver.id]
    written.write_text(json.dumps(policy | {"approvers": ["nobody@acme.example"]}))
    unknown = run(fresh_url, "apis", "policy", api_id, "--set", str(written), "--json")
    assert unknown.code == 1
    assert json.loads(unknown.stderr)["error"]["code"] == "member_not_found"
    assert run(fresh_url, "apis", "policy", api_id, "--json").json()["approvers"] == [approver.id]

    by_address = run(fresh_url, "audit", "list", "--actor", world.acquirer_email, "--json").json()
    by_id = run(
        fresh_url, "audit", "list", "--actor", str(world.acquirer.member_id), "--json"
    ).json()
    assert by_address == by_id
    assert {e["action"] for e in by_id["data"]} >= {"key.create"}
