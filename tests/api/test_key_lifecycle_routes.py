"""The key lifecycle through the REST API: renew, rotate, revoke, delete, bulk delete, key
requests and the policy that governs them. Each test tries to break one rule."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from tests.api.error_bodies import assert_error
from tests.conftest import START
from tests.factories import (
    actor_for,
    admin,
    bearer,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
    secret,
)

Headers = dict[str, str]
ACQUIRER_KEY_RIGHTS = (
    "acquisitions:*",
    "offerings:read",
    "apis:read",
    "keys:read",
    "keys:create",
    "keys:renew",
    "keys:rotate",
    "keys:revoke",
    "keys:delete",
)
UNKNOWN_KEY = "key_00000000000000000000000000"


@dataclass(frozen=True)
class World:
    """A workspace with an API acquired by an organization whose member is not an approver."""

    workspace_id: str
    admin: Headers
    acquirer: Headers
    acquirer_id: str
    api_id: str
    acquisition_id: str


def _world(api: TestClient, db: Database, **policy: Any) -> World:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    organization = make_organization(db, boss)
    member = make_member(db, boss, roles=["acquirer"], organization_ids=[organization.id])
    key = make_key(
        db,
        actor_for(db, set_up.workspace.id, member.id),
        name="acquirer",
        permissions=ACQUIRER_KEY_RIGHTS,
    )
    world = World(
        workspace_id=set_up.workspace.id,
        admin=bearer(set_up.admin_key),
        acquirer=bearer(key),
        acquirer_id=member.id,
        api_id="",
        acquisition_id="",
    )
    api_id, acquisition_id = _acquired_api(api, db, world)
    world = replace(world, api_id=api_id, acquisition_id=acquisition_id)
    if policy:
        _set_policy(api, world.admin, api_id, **policy)
    return world


def _acquired_api(api: TestClient, db: Database, world: World) -> tuple[str, str]:
    """A new API with an offering, acquired by the acquirer's organization."""
    boss = actor_for(db, world.workspace_id, _admin_member(api, world))
    imported = make_api(db, boss)
    offering = make_offering(db, boss, imported.id, period=None)
    organizations = api.get("/v1/organizations", headers=world.admin).json()["data"]
    acquired = api.post(
        "/v1/acquisitions",
        headers=world.admin,
        json={"offering_id": offering.id, "organization_id": organizations[0]["id"]},
    )
    assert acquired.status_code == 201, acquired.text
    return imported.id, str(acquired.json()["id"])


def _admin_member(api: TestClient, world: World) -> str:
    member_id: str = api.get("/v1/me", headers=world.admin).json()["member"]["id"]
    return member_id


def _set_policy(api: TestClient, headers: Headers, api_id: str, **changes: Any) -> dict[str, Any]:
    """Replace the API's key policy with its current one plus `changes`."""
    policy = api.get(f"/v1/apis/{api_id}/policy", headers=headers).json()
    for location in policy["key_locations"]:
        location.pop("synthetic", None)
    policy.update(changes)
    response = api.put(f"/v1/apis/{api_id}/policy", headers=headers, json=policy)
    assert response.status_code == 200, response.text
    replaced: dict[str, Any] = response.json()
    return replaced


def _acquisition_key(
    api: TestClient, world: World, name: str, acquisition_id: str | None = None, **body: Any
) -> dict[str, Any]:
    """A key of the acquisition created by the acquirer, with its secret."""
    response = api.post(
        f"/v1/acquisitions/{acquisition_id or world.acquisition_id}/keys",
        headers=world.acquirer,
        json={"name": name, **body},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _verify(api: TestClient, checker: Headers, key: str) -> tuple[bool, str]:
    response = api.post("/v1/keys/verify", headers=checker, json={"key": key})
    assert response.status_code == 200, response.text
    return response.json()["valid"], response.json()["code"]


def _key(api: TestClient, headers: Headers, key_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/keys/{key_id}", headers=headers)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _post(api: TestClient, path: str, headers: Headers, body: Any = None) -> Any:
    return api.post(path, headers=headers, json=body)


def _pending(api: TestClient, world: World, key_id: str, action: str) -> dict[str, Any]:
    """Ask, as the acquirer, to renew or revoke a key where the policy wants an approver."""
    response = _post(api, f"/v1/keys/{key_id}/{action}", world.acquirer, {"reason": "please"})
    assert response.status_code == 202, response.text
    request: dict[str, Any] = response.json()
    return request


def _approver_of(
    api: TestClient, db: Database, world: World, api_id: str | None, *, renews: bool = True
) -> Headers:
    """A key of a member with the approver role (and the right to renew any key) whom the
    policy of `api_id` names its approver (None: no API's); with `renews`, the key holds
    that right too."""
    boss = actor_for(db, world.workspace_id, _admin_member(api, world))
    member = make_member(
        db, boss, name="Approver", roles=["approver"], permissions=["keys:renew", "keys:create"]
    )
    if api_id is not None:
        _set_policy(api, world.admin, api_id, approvers=[member.id])
    key = make_key(
        db,
        actor_for(db, world.workspace_id, member.id),
        name="approver",
        permissions=["keys:approve", "keys:read", *(["keys:renew"] if renews else [])],
    )
    return bearer(key)


# Renew


def test_renew_extends_by_the_policy_lifetime_from_now_with_the_same_secret(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    world = _world(api, db, key_lifetime="P30D")
    created = _acquisition_key(api, world, "alice")
    assert _at(created["expires_at"]) == START + timedelta(days=30)
    clock.advance(timedelta(days=10))
    renewed = _post(api, f"/v1/keys/{created['id']}/renew", world.acquirer)
    assert renewed.status_code == 200, renewed.text
    assert _at(renewed.json()["expires_at"]) == START + timedelta(days=40)
    assert "key" not in renewed.json()
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    shorter = _post(api, f"/v1/keys/{created['id']}/renew", world.acquirer, {"expires_in": "P5D"})
    assert shorter.status_code == 200, shorter.text
    assert _at(shorter.json()["expires_at"]) == START + timedelta(days=15)
    longer = _post(api, f"/v1/keys/{created['id']}/renew", world.acquirer, {"expires_in": "P31D"})
    error = assert_error(longer, 422, "lifetime_exceeds_policy")
    assert error["details"]["max_lifetime"] == "P30D"
    assert _at(_key(api, world.admin, created["id"])["expires_at"]) == START + timedelta(days=15)


def test_renew_of_an_account_key_uses_the_lifetime_it_was_created_with(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = make_key(db, admin(db, set_up), expires_in=timedelta(days=7))
    clock.advance(timedelta(days=3))
    renewed = _post(api, f"/v1/keys/{created.id}/renew", headers, {"reason": "still in use"})
    assert renewed.status_code == 200, renewed.text
    assert _at(renewed.json()["expires_at"]) == START + timedelta(days=10)
    longer = _post(api, f"/v1/keys/{created.id}/renew", headers, {"expires_in": "P8D"})
    assert_error(longer, 422, "lifetime_exceeds_policy")


def test_an_expired_key_stops_verifying_and_verifies_again_once_renewed(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = make_key(db, admin(db, set_up), expires_in=timedelta(days=1))
    assert _verify(api, headers, secret(created)) == (True, "valid")
    clock.advance(timedelta(days=2))
    assert _verify(api, headers, secret(created)) == (False, "key_expired")
    assert _key(api, headers, created.id)["state"] == "expired"
    renewed = _post(api, f"/v1/keys/{created.id}/renew", headers)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["state"] == "active"
    assert _at(renewed.json()["expires_at"]) == START + timedelta(days=3)
    assert _verify(api, headers, secret(created)) == (True, "valid")
    assert api.get("/v1/me", headers=bearer(created)).status_code == 200


def test_renew_refuses_never_expiring_revoked_and_unknown_keys(
    api: TestClient, db: Database
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    headers = bearer(ours.admin_key)
    forever = make_key(db, admin(db, ours))
    never = assert_error(_post(api, f"/v1/keys/{forever.id}/renew", headers), 409)
    assert never["code"] == "key_never_expires"
    assert _key(api, headers, forever.id)["expires_at"] is None
    revoked = make_key(db, admin(db, ours), expires_in=timedelta(days=1))
    assert _post(api, f"/v1/keys/{revoked.id}/revoke", headers).status_code == 200
    assert_error(_post(api, f"/v1/keys/{revoked.id}/renew", headers), 409, "key_revoked")
    for key_id in (theirs.admin_key.id, UNKNOWN_KEY, "nonsense", "x" * 300):
        assert_error(_post(api, f"/v1/keys/{key_id}/renew", headers), 404, "key_not_found")
    bodies: list[Any] = [
        {"expires_in": "-P1D"},
        {"expires_in": "soon"},
        {"expires_in": 60},
        [],
        "x",
    ]
    for body in bodies:
        response = _post(api, f"/v1/keys/{revoked.id}/renew", headers, body)
        assert_error(response, 422, "validation_failed")


# Rotate


def test_rotate_gives_a_new_secret_and_the_old_one_works_until_the_grace_ends(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    world = _world(api, db, key_lifetime="P30D")
    created = _acquisition_key(api, world, "alice")
    clock.advance(timedelta(days=1))
    rotated = _post(api, f"/v1/keys/{created['id']}/rotate", world.acquirer, {"grace": "PT1H"})
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = rotated.json()
    assert new["key"]
    assert new["key"] != created["key"]
    for field in ("id", "name", "permissions", "expires_at", "acquisition_id", "kind"):
        assert new[field] == created[field], field
    assert new["start"] == new["key"][:7] + "…"
    assert _at(new["previous_key_expires_at"]) == START + timedelta(days=1, hours=1)
    assert _at(new["rotated_at"]) == START + timedelta(days=1)
    assert "key" not in _key(api, world.admin, created["id"])
    for key in (created["key"], new["key"]):
        verified = api.post("/v1/keys/verify", headers=world.admin, json={"key": key}).json()
        assert (verified["valid"], verified["key_id"]) == (True, created["id"])
    clock.advance(timedelta(minutes=59))
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    clock.advance(timedelta(minutes=2))
    assert _verify(api, world.admin, created["key"]) == (False, "key_rotated")
    assert _verify(api, world.admin, new["key"]) == (True, "valid")


def test_rotate_without_grace_refuses_the_old_secret_at_once(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = make_key(db, admin(db, set_up), expires_in=timedelta(days=30))
    assert _verify(api, headers, secret(created)) == (True, "valid")
    rotated = _post(api, f"/v1/keys/{created.id}/rotate", headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["previous_key_expires_at"] is None
    assert _verify(api, headers, secret(created))[0] is False
    assert api.get("/v1/me", headers=bearer(created)).status_code == 401
    assert api.get("/v1/me", headers=bearer(rotated.json()["key"])).status_code == 200
    explicit = _post(api, f"/v1/keys/{created.id}/rotate", headers, {"grace": "PT0S"})
    assert _verify(api, headers, rotated.json()["key"])[0] is False
    assert _verify(api, headers, explicit.json()["key"]) == (True, "valid")


def test_rotating_again_ends_the_grace_of_the_secret_before(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = make_key(db, admin(db, set_up))
    first = _post(api, f"/v1/keys/{created.id}/rotate", headers, {"grace": "P1D"}).json()
    second = _post(api, f"/v1/keys/{created.id}/rotate", headers, {"grace": "P1D"}).json()
    assert _verify(api, headers, secret(created))[0] is False
    assert _verify(api, headers, first["key"]) == (True, "valid")
    assert _verify(api, headers, second["key"]) == (True, "valid")


def test_rotate_refuses_a_grace_beyond_the_policy_maximum_naming_it(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", max_rotation_grace="PT2H")
    created = _acquisition_key(api, world, "alice")
    path = f"/v1/keys/{created['id']}/rotate"
    refused = _post(api, path, world.acquirer, {"grace": "P1D"})
    assert_error(refused, 422, "grace_too_long")
    assert "PT2H" in refused.json()["error"]["message"]
    assert refused.json()["error"]["details"] == {"max_grace": "PT2H"}
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    rotated = _post(api, path, world.acquirer, {"grace": "PT2H"})
    assert rotated.status_code == 200, rotated.text
    assert _at(rotated.json()["previous_key_expires_at"]) == START + timedelta(hours=2)
    account = make_key(db, actor_for(db, world.workspace_id, _admin_member(api, world)))
    too_long = _post(api, f"/v1/keys/{account.id}/rotate", world.admin, {"grace": "P30D"})
    assert_error(too_long, 422, "grace_too_long")
    assert too_long.json()["error"]["details"] == {"max_grace": "P7D"}


def test_rotate_refuses_revoked_and_expired_keys_and_bad_grace(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    revoked = make_key(db, admin(db, set_up))
    _post(api, f"/v1/keys/{revoked.id}/revoke", headers)
    assert_error(_post(api, f"/v1/keys/{revoked.id}/rotate", headers), 409, "key_revoked")
    expiring = make_key(db, admin(db, set_up), expires_in=timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    assert_error(_post(api, f"/v1/keys/{expiring.id}/rotate", headers), 409, "key_expired")
    assert _verify(api, headers, secret(expiring)) == (False, "key_expired")
    for grace in ("-PT1H", "soon", 3600, None, "P1000Y", "PT"):
        response = _post(api, f"/v1/keys/{expiring.id}/rotate", headers, {"grace": grace})
        assert_error(response, 422, "validation_failed")
    assert_error(_post(api, f"/v1/keys/{UNKNOWN_KEY}/rotate", headers), 404, "key_not_found")


# Revoke


def test_revoking_twice_answers_200_and_changes_nothing(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = make_key(db, admin(db, set_up))
    first = _post(api, f"/v1/keys/{created.id}/revoke", headers, {"reason": "leaked"})
    assert first.status_code == 200, first.text
    clock.advance(timedelta(hours=1))
    again = _post(api, f"/v1/keys/{created.id}/revoke", headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert _verify(api, headers, secret(created)) == (False, "key_revoked")


def test_revocation_needing_approval_is_a_pending_request_and_the_key_keeps_working(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    request = _pending(api, world, created["id"], "revoke")
    assert (request["status"], request["action"]) == ("pending", "revoke")
    assert (request["key_id"], request["api_id"]) == (created["id"], world.api_id)
    assert request["requested_by"] == world.acquirer_id
    assert request["reason"] == "please"
    shown = _key(api, world.admin, created["id"])
    assert (shown["state"], shown["pending_request_id"]) == ("active", request["id"])
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    again = _post(api, f"/v1/keys/{created['id']}/revoke", world.acquirer)
    assert assert_error(again, 409, "key_request_pending")["details"]["request_id"] == request["id"]
    renew = _post(api, f"/v1/keys/{created['id']}/renew", world.acquirer)
    assert_error(renew, 409, "key_request_pending")
    rotated = _post(api, f"/v1/keys/{created['id']}/rotate", world.acquirer)
    assert rotated.status_code == 200, "rotating is not governed by approvals"
    assert _verify(api, world.admin, rotated.json()["key"]) == (True, "valid")


def test_renewal_needing_approval_is_a_pending_request_and_the_expiry_stays(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    world = _world(api, db, key_lifetime="P30D", renewal_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    clock.advance(timedelta(days=5))
    longer = _post(api, f"/v1/keys/{created['id']}/renew", world.acquirer, {"expires_in": "P31D"})
    assert_error(longer, 422, "lifetime_exceeds_policy")
    request = _pending(api, world, created["id"], "renew")
    assert (request["status"], request["action"]) == ("pending", "renew")
    assert _at(_key(api, world.admin, created["id"])["expires_at"]) == START + timedelta(days=30)
    revoked = _post(api, f"/v1/keys/{created['id']}/revoke", world.acquirer)
    assert revoked.status_code == 200, "revocation needs no approval here"
    assert revoked.json()["state"] == "revoked"


def test_an_approver_of_the_api_acts_at_once_where_the_policy_wants_approval(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    world = _world(
        api,
        db,
        key_lifetime="P30D",
        renewal_requires_approval=True,
        revocation_requires_approval=True,
    )
    created = _acquisition_key(api, world, "alice")
    approver = _approver_of(api, db, world, world.api_id)
    clock.advance(timedelta(days=1))
    renewed = _post(api, f"/v1/keys/{created['id']}/renew", approver)
    assert renewed.status_code == 200, renewed.text
    assert _at(renewed.json()["expires_at"]) == START + timedelta(days=31)
    other_api = _approver_of(api, db, world, None)
    elsewhere = _post(api, f"/v1/keys/{created['id']}/renew", other_api)
    assert elsewhere.status_code == 202, "an approver of another API is not one of this API"
    cancelled = _post(api, f"/v1/key-requests/{elsewhere.json()['id']}/cancel", other_api)
    assert cancelled.status_code == 200, cancelled.text
    revoked = _post(api, f"/v1/keys/{created['id']}/revoke", world.admin)
    assert (revoked.status_code, revoked.json()["state"]) == (200, "revoked")
    assert _verify(api, world.admin, created["key"]) == (False, "key_revoked")


# Delete


def test_delete_refuses_an_active_key_and_the_audit_trail_outlives_the_key(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D")
    created = _acquisition_key(api, world, "alice")
    path = f"/v1/keys/{created['id']}"
    assert_error(api.delete(path, headers=world.acquirer), 409, "key_not_revoked")
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    rotated = _post(api, f"{path}/rotate", world.acquirer, {"grace": "PT1H"}).json()
    _post(api, f"{path}/revoke", world.acquirer, {"reason": "done"})
    deleted = api.delete(path, headers=world.acquirer)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_error(api.get(path, headers=world.admin), 404, "key_not_found")
    assert_error(api.delete(path, headers=world.admin), 404, "key_not_found")
    trail = api.get("/v1/audit-events", headers=world.admin, params={"target": created["id"]})
    assert [event["action"] for event in trail.json()["data"]] == [
        "key.delete",
        "key.revoke",
        "key.rotate",
        "key.delete",
        "key.create",
    ]
    for key in (created["key"], rotated["key"]):
        assert key not in trail.text
        assert _verify(api, world.admin, key) == (False, "key_invalid")


def test_delete_with_revoke_true_is_refused_where_revocation_needs_approval(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    path = f"/v1/keys/{created['id']}"
    refused = api.delete(path, headers=world.acquirer, params={"revoke": "true"})
    assert_error(refused, 409, "revocation_requires_approval")
    assert _key(api, world.admin, created["id"])["state"] == "active"
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    by_approver = api.delete(path, headers=world.admin, params={"revoke": "true"})
    assert by_approver.status_code == 204
    assert_error(api.get(path, headers=world.admin), 404, "key_not_found")


def test_delete_refuses_a_key_with_a_pending_request_even_with_revoke_true(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", renewal_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    request = _pending(api, world, created["id"], "renew")
    path = f"/v1/keys/{created['id']}"
    for params in ({}, {"revoke": "true"}):
        refused = api.delete(path, headers=world.admin, params=params)
        error = assert_error(refused, 409, "key_request_pending")
        assert error["details"] == {"key_id": created["id"], "request_id": request["id"]}
    assert _key(api, world.admin, created["id"])["state"] == "active"
    still = api.get(f"/v1/key-requests/{request['id']}", headers=world.admin).json()
    assert still["status"] == "pending"


# Bulk delete


def test_bulk_delete_answers_one_result_per_key_in_order(api: TestClient, db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    headers = bearer(ours.admin_key)
    revoked, active = make_key(db, admin(db, ours)), make_key(db, admin(db, ours))
    _post(api, f"/v1/keys/{revoked.id}/revoke", headers)
    foreign = make_key(db, admin(db, theirs))
    _post(api, f"/v1/keys/{foreign.id}/revoke", bearer(theirs.admin_key))
    ids = [active.id, foreign.id, revoked.id, UNKNOWN_KEY]
    response = _post(api, "/v1/keys/bulk-delete", headers, {"ids": ids})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["deleted"], body["skipped"]) == (1, 3)
    assert [(r["id"], r["result"], r["code"]) for r in body["results"]] == [
        (active.id, "skipped", "key_not_revoked"),
        (foreign.id, "not_found", "key_not_found"),
        (revoked.id, "deleted", None),
        (UNKNOWN_KEY, "not_found", "key_not_found"),
    ]
    assert_error(api.get(f"/v1/keys/{revoked.id}", headers=headers), 404)
    assert _key(api, headers, active.id)["state"] == "active"
    assert _key(api, bearer(theirs.admin_key), foreign.id)["state"] == "revoked"


def test_bulk_delete_deletes_nothing_when_one_key_has_a_pending_request(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    waiting = _acquisition_key(api, world, "waiting")
    revoked = _acquisition_key(api, world, "revoked")
    _post(api, f"/v1/keys/{revoked['id']}/revoke", world.admin)
    request = _pending(api, world, waiting["id"], "revoke")
    response = _post(
        api, "/v1/keys/bulk-delete", world.admin, {"ids": [revoked["id"], waiting["id"]]}
    )
    error = assert_error(response, 409, "key_request_pending")
    assert error["details"]["keys"] == [{"key_id": waiting["id"], "request_id": request["id"]}]
    assert _key(api, world.admin, revoked["id"])["state"] == "revoked"
    assert _key(api, world.admin, waiting["id"])["pending_request_id"] == request["id"]


def test_bulk_delete_refuses_empty_repeated_oversized_and_malformed_lists(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    key_id = set_up.admin_key.id
    many = [f"key_{n:026d}" for n in range(101)]
    bodies: list[Any] = [
        {"ids": []},
        {"ids": [key_id, key_id]},
        {"ids": many},
        {"ids": ["nonsense"]},
        {"ids": key_id},
        {},
    ]
    for body in bodies:
        assert_error(_post(api, "/v1/keys/bulk-delete", headers, body), 422, "validation_failed")
    assert _key(api, headers, key_id)["state"] == "active"
    hundred = _post(api, "/v1/keys/bulk-delete", headers, {"ids": many[:100]})
    assert hundred.status_code == 200, hundred.text
    assert hundred.json()["skipped"] == 100


# Key requests


def test_approving_a_renewal_applies_it_from_the_moment_of_approval(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    world = _world(api, db, key_lifetime="P30D", renewal_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    approver = _approver_of(api, db, world, world.api_id)
    clock.advance(timedelta(days=20))
    asked = _post(
        api,
        f"/v1/keys/{created['id']}/renew",
        world.acquirer,
        {"expires_in": "P10D", "reason": "trip"},
    )
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert request["expires_in"] == "P10D"
    listed = api.get(
        "/v1/key-requests",
        headers=approver,
        params={"status": "pending", "key": created["id"]},
    ).json()["data"]
    assert [r["id"] for r in listed] == [request["id"]]
    # An approver's inbox holds it; the requester, who approves nothing, has no inbox.
    inbox = {"status": "pending", "decidable": "true"}
    decidable = api.get("/v1/key-requests", headers=approver, params=inbox).json()["data"]
    assert [r["id"] for r in decidable] == [request["id"]]
    assert_error(
        api.get("/v1/key-requests", headers=world.acquirer, params=inbox), 403, "permission_denied"
    )
    mine = api.get("/v1/key-requests", headers=world.acquirer, params={"status": "pending"})
    assert [r["id"] for r in mine.json()["data"]] == [request["id"]]
    clock.advance(timedelta(days=1))
    approved = _post(api, f"/v1/key-requests/{request['id']}/approve", approver, {"comment": "ok"})
    assert approved.status_code == 200, approved.text
    decided = approved.json()
    assert (decided["status"], decided["outcome"], decided["comment"]) == (
        "approved",
        "renewed",
        "ok",
    )
    assert decided["decided_by"] is not None
    assert decided["decided_by"] != world.acquirer_id
    shown = _key(api, world.admin, created["id"])
    assert _at(shown["expires_at"]) == START + timedelta(days=31)
    assert shown["pending_request_id"] is None
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    pending = api.get("/v1/key-requests", headers=approver, params={"status": "pending"})
    assert pending.json()["data"] == []
    for action, headers in (("approve", approver), ("reject", approver)):
        again = _post(api, f"/v1/key-requests/{request['id']}/{action}", headers)
        assert assert_error(again, 409, "key_request_not_pending")["details"]["status"] == (
            "approved"
        )
    late = _post(api, f"/v1/key-requests/{request['id']}/cancel", world.acquirer)
    assert_error(late, 409, "key_request_not_pending")
    assert _at(_key(api, world.admin, created["id"])["expires_at"]) == START + timedelta(days=31)


def test_approving_a_revocation_stops_the_key_at_once(api: TestClient, db: Database) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    request = _pending(api, world, created["id"], "revoke")
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    approved = _post(api, f"/v1/key-requests/{request['id']}/approve", world.admin)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["outcome"]) == ("approved", "revoked")
    assert _verify(api, world.admin, created["key"]) == (False, "key_revoked")
    assert _key(api, world.admin, created["id"])["state"] == "revoked"
    deleted = api.delete(f"/v1/keys/{created['id']}", headers=world.acquirer)
    assert deleted.status_code == 204
    kept = api.get(f"/v1/key-requests/{request['id']}", headers=world.admin)
    assert kept.status_code == 200, kept.text
    assert (kept.json()["key_id"], kept.json()["key_name"]) == (None, "alice")


def test_rejecting_leaves_the_key_as_it_was_and_a_new_request_can_follow(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    request = _pending(api, world, created["id"], "revoke")
    rejected = _post(
        api, f"/v1/key-requests/{request['id']}/reject", world.admin, {"comment": "still needed"}
    )
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["comment"]) == ("rejected", "still needed")
    shown = _key(api, world.admin, created["id"])
    assert (shown["state"], shown["pending_request_id"]) == ("active", None)
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    assert_error(
        _post(api, f"/v1/key-requests/{request['id']}/approve", world.admin),
        409,
        "key_request_not_pending",
    )
    assert _verify(api, world.admin, created["key"]) == (True, "valid")
    assert _pending(api, world, created["id"], "revoke")["id"] != request["id"]


def test_nobody_decides_their_own_request_and_only_the_requester_cancels(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", renewal_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    boss = actor_for(db, world.workspace_id, _admin_member(api, world))
    [organization] = api.get("/v1/organizations", headers=world.admin).json()["data"]
    member = make_member(
        db,
        boss,
        roles=["acquirer"],
        permissions=[f"keys:approve@{world.api_id}"],
        organization_ids=[organization["id"]],
    )
    as_member = actor_for(db, world.workspace_id, member.id)
    without_approve = bearer(make_key(db, as_member, permissions=["keys:renew", "keys:read"]))
    with_approve = bearer(make_key(db, as_member, permissions=[f"keys:approve@{world.api_id}"]))
    asked = _post(api, f"/v1/keys/{created['id']}/renew", without_approve)
    assert asked.status_code == 202, "the calling key holds no keys:approve"
    request = asked.json()
    path = f"/v1/key-requests/{request['id']}"
    for action in ("approve", "reject"):
        own = _post(api, f"{path}/{action}", with_approve)
        assert assert_error(own, 403, "own_request")["details"]["request_id"] == request["id"]
    for stranger in (world.admin, world.acquirer):
        assert_error(_post(api, f"{path}/cancel", stranger), 403, "not_requester")
    assert_error(_post(api, f"{path}/approve", world.acquirer), 403, "permission_denied")
    assert api.get(path, headers=world.admin).json()["status"] == "pending"
    cancelled = _post(api, f"{path}/cancel", without_approve)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert _at(_key(api, world.admin, created["id"])["expires_at"]) == START + timedelta(days=30)
    assert_error(_post(api, f"{path}/approve", world.admin), 409, "key_request_not_pending")


def test_a_pending_renewal_is_closed_when_an_approver_revokes_the_key_meanwhile(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    world = _world(api, db, key_lifetime="P30D", renewal_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    request = _pending(api, world, created["id"], "renew")
    revoked = _post(api, f"/v1/keys/{created['id']}/revoke", world.admin, {"reason": "leaked"})
    assert revoked.status_code == 200, revoked.text
    closed = api.get(f"/v1/key-requests/{request['id']}", headers=world.admin).json()
    assert (closed["status"], closed["outcome"]) == ("closed", "key_revoked")
    clock.advance(timedelta(days=1))
    late = _post(api, f"/v1/key-requests/{request['id']}/approve", world.admin)
    assert assert_error(late, 409, "key_request_not_pending")["details"]["status"] == "closed"
    shown = _key(api, world.admin, created["id"])
    assert (shown["state"], _at(shown["expires_at"])) == ("revoked", START + timedelta(days=30))
    assert _verify(api, world.admin, created["key"]) == (False, "key_revoked")
    deleted = api.delete(f"/v1/keys/{created['id']}", headers=world.admin)
    assert deleted.status_code == 204, "a closed request does not block deletion"


def test_approvers_of_one_api_neither_see_nor_decide_requests_on_another(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    other_api, other_acquisition = _acquired_api(api, db, world)
    _set_policy(api, world.admin, other_api, revocation_requires_approval=True)
    ours = _pending(api, world, _acquisition_key(api, world, "ours")["id"], "revoke")
    theirs_key = _acquisition_key(api, world, "theirs", other_acquisition)
    theirs = _pending(api, world, theirs_key["id"], "revoke")
    approver = _approver_of(api, db, world, world.api_id, renews=False)
    listed = api.get("/v1/key-requests", headers=approver, params={"status": "pending"})
    assert [r["id"] for r in listed.json()["data"]] == [ours["id"]]
    everything = api.get("/v1/key-requests", headers=world.admin).json()["data"]
    assert [r["id"] for r in everything] == [theirs["id"], ours["id"]]
    hidden = api.get(f"/v1/key-requests/{theirs['id']}", headers=approver)
    assert_error(hidden, 404, "key_request_not_found")
    for action in ("approve", "reject"):
        response = _post(api, f"/v1/key-requests/{theirs['id']}/{action}", approver)
        assert response.status_code in (403, 404)
        assert_error(response, response.status_code)
    assert _verify(api, world.admin, theirs_key["key"]) == (True, "valid")
    assert api.get(f"/v1/key-requests/{theirs['id']}", headers=world.admin).json()["status"] == (
        "pending"
    )
    approved = _post(api, f"/v1/key-requests/{ours['id']}/approve", approver)
    assert approved.status_code == 200, approved.text


def test_key_requests_of_another_workspace_or_with_bad_ids_are_not_found(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    request = _pending(api, world, created["id"], "revoke")
    stranger = bearer(make_workspace(db).admin_key)
    for request_id in (request["id"], "kreq_00000000000000000000000000", "nonsense", "%00"):
        path = f"/v1/key-requests/{request_id}"
        for headers in (stranger, world.admin):
            if headers is world.admin and request_id == request["id"]:
                continue
            assert_error(api.get(path, headers=headers), 404, "key_request_not_found")
            for action in ("approve", "reject", "cancel"):
                response = _post(api, f"{path}/{action}", headers)
                assert_error(response, 404, "key_request_not_found")
    assert api.get("/v1/key-requests", headers=stranger).json()["data"] == []
    assert api.get(f"/v1/key-requests/{request['id']}", headers=world.admin).json()["status"] == (
        "pending"
    )
    for params in ({"status": "sleeping"}, {"key": "nonsense"}, {"limit": 0}):
        response = api.get("/v1/key-requests", headers=world.admin, params=params)
        assert_error(response, 422, "validation_failed")


def test_key_requests_are_listed_newest_first_a_page_at_a_time(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D", renewal_requires_approval=True)
    made = [
        _pending(api, world, _acquisition_key(api, world, f"k{n}")["id"], "renew") for n in range(3)
    ]
    _post(api, f"/v1/key-requests/{made[0]['id']}/reject", world.admin)
    first = api.get("/v1/key-requests", headers=world.admin, params={"limit": 2}).json()
    assert [r["id"] for r in first["data"]] == [made[2]["id"], made[1]["id"]]
    rest = api.get(
        "/v1/key-requests",
        headers=world.admin,
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert ([r["id"] for r in rest["data"]], rest["next_cursor"]) == ([made[0]["id"]], None)
    pending = api.get("/v1/key-requests", headers=world.admin, params={"status": "pending"})
    assert [r["id"] for r in pending.json()["data"]] == [made[2]["id"], made[1]["id"]]
    rejected = api.get("/v1/key-requests", headers=world.admin, params={"status": "rejected"})
    assert [r["id"] for r in rejected.json()["data"]] == [made[0]["id"]]


# Policy


def test_a_new_lifetime_reaches_existing_keys_only_when_the_provider_applies_it(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    world = _world(api, db, key_lifetime="P30D")
    early = _acquisition_key(api, world, "early")
    revoked = _acquisition_key(api, world, "revoked")
    _post(api, f"/v1/keys/{revoked['id']}/revoke", world.admin)
    clock.advance(timedelta(days=1))
    _set_policy(api, world.admin, world.api_id, key_lifetime="P10D")
    assert _at(_key(api, world.admin, early["id"])["expires_at"]) == START + timedelta(days=30)
    later = _acquisition_key(api, world, "later")
    assert _at(later["expires_at"]) == START + timedelta(days=11)
    clock.advance(timedelta(days=1))
    _set_policy(
        api, world.admin, world.api_id, key_lifetime="P5D", apply_lifetime_to_existing_keys=True
    )
    for key in (early, later):
        assert _at(_key(api, world.admin, key["id"])["expires_at"]) == START + timedelta(days=7)
    assert _at(_key(api, world.admin, revoked["id"])["expires_at"]) == START + timedelta(days=30)
    _set_policy(
        api, world.admin, world.api_id, key_lifetime=None, apply_lifetime_to_existing_keys=True
    )
    assert _key(api, world.admin, early["id"])["expires_at"] is None
    clock.advance(timedelta(days=365))
    assert _verify(api, world.admin, early["key"]) == (True, "valid")
    never = _post(api, f"/v1/keys/{early['id']}/renew", world.acquirer)
    assert_error(never, 409, "key_never_expires")


def test_a_creator_cannot_ask_for_a_longer_lifetime_than_the_policy(
    api: TestClient, db: Database
) -> None:
    world = _world(api, db, key_lifetime="P30D")
    path = f"/v1/acquisitions/{world.acquisition_id}/keys"
    longer = _post(api, path, world.acquirer, {"name": "alice", "expires_in": "P31D"})
    assert assert_error(longer, 422, "lifetime_exceeds_policy")["details"] == {
        "max_lifetime": "P30D"
    }
    listed = api.get(path, headers=world.acquirer).json()["data"]
    assert listed == []
    shorter = _acquisition_key(api, world, "alice", expires_in="P7D")
    assert _at(shorter["expires_at"]) == START + timedelta(days=7)


# What is never shown


def test_no_secret_reaches_an_error_or_the_audit_log(api: TestClient, db: Database) -> None:
    world = _world(api, db, key_lifetime="P30D", revocation_requires_approval=True)
    created = _acquisition_key(api, world, "alice")
    rotated = _post(api, f"/v1/keys/{created['id']}/rotate", world.acquirer, {"grace": "PT1H"})
    secrets = [created["key"], rotated.json()["key"]]
    refusals = [
        _post(api, f"/v1/keys/{secrets[0]}/renew", world.admin),
        api.delete(f"/v1/keys/{created['id']}", headers=world.acquirer),
        api.delete(f"/v1/keys/{created['id']}?revoke=true", headers=world.acquirer),
        _post(api, "/v1/keys/bulk-delete", world.admin, {"ids": secrets}),
        _post(api, f"/v1/key-requests/{secrets[1]}/approve", world.admin),
    ]
    for response in refusals:
        assert 400 <= response.status_code < 500, response.text
        assert_error(response, response.status_code)
        assert not any(s in response.text for s in secrets), response.text
    trail = api.get("/v1/audit-events", headers=world.admin, params={"limit": 200})
    assert trail.status_code == 200
    assert {"key.create", "key.rotate"} <= {e["action"] for e in trail.json()["data"]}
    assert not any(s in trail.text for s in secrets)
