"""The key lifecycle from the command line, as real processes: `keyward keys
renew|rotate|revoke|delete|bulk-delete` and `keyward requests list|approve|reject|cancel`, each
once as it should work and once refused. The world is made with the factories beforehand.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from keyward.db.engine import Database
from tests.e2e.processes import CliResult, cli
from tests.factories import (
    actor_for,
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
    secret,
    set_key_policy,
)

pytestmark = pytest.mark.e2e

UNKNOWN_KEY = "key_00000000000000000000000000"


@pytest.fixture
def database(fresh_url: str) -> Iterator[Database]:
    database = Database.connect(fresh_url)
    yield database
    database.dispose()


def _ok(result: CliResult) -> Any:
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    return result.json()


def _refused(result: CliResult, code: str) -> dict[str, Any]:
    assert result.code == 1, result.stdout
    assert result.stdout == ""
    error: dict[str, Any] = result.error()["error"]
    assert error["code"] == code, error
    return error


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_cli_renews_rotates_revokes_and_deletes_keys(
    fresh_url: str, database: Database
) -> None:
    set_up = make_workspace(database)
    boss = admin(database, set_up)
    monthly = make_key(database, boss, name="monthly", expires_in=timedelta(days=30))
    forever = make_key(database, boss, name="forever")
    spare = make_key(database, boss, name="spare")

    renewed = _ok(
        cli(fresh_url, "keys", "renew", monthly.id, "--expires-in", "P10D", "--reason", "ci",
            "--json")
    )  # fmt: skip
    assert monthly.expires_at is not None
    assert _at(renewed["expires_at"]) < monthly.expires_at - timedelta(days=19)
    assert "key" not in renewed
    longer = cli(fresh_url, "keys", "renew", monthly.id, "--expires-in", "P31D", "--json")
    _refused(longer, "lifetime_exceeds_policy")
    _refused(cli(fresh_url, "keys", "renew", forever.id, "--json"), "key_never_expires")

    rotated = _ok(cli(fresh_url, "keys", "rotate", monthly.id, "--grace", "PT1H", "--json"))
    assert rotated["key"] != secret(monthly)
    assert (rotated["id"], rotated["name"]) == (monthly.id, "monthly")
    assert rotated["expires_at"] == renewed["expires_at"]
    assert _at(rotated["previous_key_expires_at"]) - _at(rotated["rotated_at"]) == timedelta(
        hours=1
    )
    for key in (secret(monthly), rotated["key"]):
        assert _ok(cli(fresh_url, "keys", "verify", key, "--json"))["key_id"] == monthly.id
    negative = cli(fresh_url, "keys", "rotate", monthly.id, "--grace", "-PT1H", "--json")
    _refused(negative, "validation_failed")

    revoked = _ok(cli(fresh_url, "keys", "revoke", monthly.id, "--reason", "done", "--json"))
    assert revoked["state"] == "revoked"
    for key in (secret(monthly), rotated["key"]):
        refused = cli(fresh_url, "keys", "verify", key, "--json")
        assert (refused.code, refused.json()["code"]) == (1, "key_revoked")
    _refused(cli(fresh_url, "keys", "revoke", UNKNOWN_KEY, "--json"), "key_not_found")
    _refused(cli(fresh_url, "keys", "rotate", monthly.id, "--json"), "key_revoked")

    _refused(cli(fresh_url, "keys", "delete", spare.id, "--json"), "key_not_revoked")
    assert _ok(cli(fresh_url, "keys", "delete", spare.id, "--revoke", "--json")) == {
        "id": spare.id,
        "deleted": True,
        # No gateway runs: nothing is said to enforce the deletion.
        "enforcement": {"enforced_at": None, "gateways": 0, "lagging": []},
    }
    _refused(cli(fresh_url, "keys", "show", spare.id, "--json"), "key_not_found")

    repeated = cli(fresh_url, "keys", "bulk-delete", forever.id, forever.id, "--json")
    _refused(repeated, "validation_failed")
    bulk = _ok(cli(fresh_url, "keys", "bulk-delete", monthly.id, forever.id, UNKNOWN_KEY, "--json"))
    assert (bulk["deleted"], bulk["skipped"]) == (1, 2)
    assert [(r["id"], r["result"]) for r in bulk["results"]] == [
        (monthly.id, "deleted"),
        (forever.id, "skipped"),
        (UNKNOWN_KEY, "not_found"),
    ]
    _refused(cli(fresh_url, "keys", "show", monthly.id, "--json"), "key_not_found")
    assert _ok(cli(fresh_url, "keys", "show", forever.id, "--json"))["state"] == "active"
    trail = _ok(cli(fresh_url, "audit", "list", "--target", monthly.id, "--json"))
    assert "key.rotate" in {event["action"] for event in trail["data"]}
    assert secret(monthly) not in str(trail)
    assert rotated["key"] not in str(trail)


@dataclass(frozen=True)
class Governed:
    key_id: str
    key: str
    acquirer: str
    approver: str


def _governed_key(database: Database) -> Governed:
    """An acquisition key, made by an acquirer, of an API whose policy has an approver decide
    every renewal and revocation; and that approver."""
    set_up = make_workspace(database)
    boss = admin(database, set_up)
    imported = make_api(database, boss)
    approver = make_member(database, boss, email="approver@example.com", roles=["approver"])
    set_key_policy(
        database,
        boss,
        imported.id,
        key_lifetime="P30D",
        renewal_requires_approval=True,
        revocation_requires_approval=True,
        approvers=[approver.id],
    )
    organization = make_organization(database, boss)
    acquisition = make_acquisition(
        database, boss, make_offering(database, boss, imported.id).id, organization.id
    )
    acquirer = make_member(
        database,
        boss,
        email="acquirer@example.com",
        roles=["acquirer"],
        organization_ids=[organization.id],
    )
    as_acquirer = actor_for(database, set_up.workspace.id, acquirer.id)
    created = make_acquisition_key(database, as_acquirer, acquisition.id, name="alice")
    return Governed(created.id, secret(created), "acquirer@example.com", "approver@example.com")


def test_two_members_decide_key_requests_from_the_cli(fresh_url: str, database: Database) -> None:
    world = _governed_key(database)

    def acquirer(*args: str) -> CliResult:
        return cli(fresh_url, "--as", world.acquirer, *args)

    def approver(*args: str) -> CliResult:
        return cli(fresh_url, "--as", world.approver, *args)

    before = _ok(approver("keys", "show", world.key_id, "--json"))
    asked = _ok(acquirer("keys", "renew", world.key_id, "--expires-in", "P10D", "--json"))
    assert (asked["status"], asked["action"], asked["expires_in"]) == ("pending", "renew", "P10D")
    _refused(acquirer("keys", "renew", world.key_id, "--json"), "key_request_pending")
    listed = _ok(approver("requests", "list", "--status", "pending", "--key", world.key_id,
                          "--json"))  # fmt: skip
    assert [r["id"] for r in listed["data"]] == [asked["id"]]
    _refused(acquirer("requests", "approve", asked["id"], "--json"), "permission_denied")
    approved = _ok(approver("requests", "approve", asked["id"], "--comment", "ok", "--json"))
    assert (approved["status"], approved["outcome"]) == ("approved", "renewed")
    renewed = _ok(approver("keys", "show", world.key_id, "--json"))
    assert _at(renewed["expires_at"]) < _at(before["expires_at"])
    again = approver("requests", "reject", asked["id"], "--json")
    _refused(again, "key_request_not_pending")
    assert _ok(approver("requests", "list", "--status", "pending", "--json"))["data"] == []

    human = acquirer("keys", "revoke", world.key_id, "--reason", "rotating staff")
    assert human.code == 0, human.stderr
    assert "wants an approver" in human.stdout
    [revocation] = _ok(approver("requests", "list", "--status", "pending", "--json"))["data"]
    assert (revocation["action"], revocation["reason"]) == ("revoke", "rotating staff")
    rejected = _ok(approver("requests", "reject", revocation["id"], "--comment", "no", "--json"))
    assert (rejected["status"], rejected["comment"]) == ("rejected", "no")
    assert _ok(cli(fresh_url, "keys", "verify", world.key, "--json"))["valid"] is True

    third = _ok(acquirer("keys", "revoke", world.key_id, "--json"))
    # Cancelling takes the right that filed the request, which the approver does not hold.
    _refused(approver("requests", "cancel", third["id"], "--json"), "permission_denied")
    _refused(acquirer("keys", "delete", world.key_id, "--revoke", "--json"),
             "key_request_pending")  # fmt: skip
    cancelled = _ok(acquirer("requests", "cancel", third["id"], "--json"))
    assert cancelled["status"] == "cancelled"
    _refused(acquirer("keys", "delete", world.key_id, "--revoke", "--json"),
             "revocation_requires_approval")  # fmt: skip
    assert _ok(approver("keys", "show", world.key_id, "--json"))["state"] == "active"
    assert _ok(cli(fresh_url, "keys", "verify", world.key, "--json"))["valid"] is True

    fourth = _ok(acquirer("keys", "revoke", world.key_id, "--json"))
    assert _ok(approver("requests", "approve", fourth["id"], "--json"))["outcome"] == "revoked"
    refused = cli(fresh_url, "keys", "verify", world.key, "--json")
    assert (refused.code, refused.json()["code"]) == (1, "key_revoked")
    everything = _ok(acquirer("requests", "list", "--json"))["data"]
    assert [r["status"] for r in everything] == ["approved", "cancelled", "rejected", "approved"]
