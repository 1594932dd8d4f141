"""`GET /v1/gateways`, and the enforcement receipt of revocations, deletions and renewals: what
the gateways' heartbeats say, as an operator and a revoking member read it."""

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.core.clock import ManualClock
from keyward.db import feed
from keyward.db.engine import Database
from keyward.verifier import Verifier
from keyward.verifier.heartbeat import Heartbeat
from tests.api.error_bodies import assert_error
from tests.conftest import settings_for
from tests.factories import (
    admin,
    bearer,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_workspace,
)

# A position no change of these tests reaches: a gateway beating it has applied them all.
AHEAD = 2**40


@pytest.fixture
def api(db: Database) -> Iterator[TestClient]:
    """The management app over `db`, waiting a short while for lagging gateways."""
    runtime = Runtime(settings_for(db.url, enforcement_wait=0.05), db, Verifier(db))
    with TestClient(create_app(runtime, follow_feed=False)) as client:
        yield client


def _gateway(db: Database, port: int, position: int, interval: float = 1.0) -> Heartbeat:
    heartbeat = Heartbeat(db, address=f"127.0.0.1:{port}", version="9.9.9", interval=interval)
    heartbeat.beat(position)
    return heartbeat


def _position(db: Database) -> int:
    with db.transaction(write=False) as uow:
        return feed.bounds(uow.session)[1]


def test_gateways_are_listed_with_their_position_lag_and_liveness(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    current = _gateway(db, 8081, _position(db))
    stuck = _gateway(db, 8082, _position(db))
    gone = _gateway(db, 8083, _position(db))
    gone.stop()
    clock.advance(timedelta(seconds=3))
    make_key(db, boss)  # one change
    clock.advance(timedelta(seconds=2))
    current.beat(_position(db))
    answer = api.get("/v1/gateways", headers=bearer(set_up.admin_key))
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["feed_position"] == _position(db)
    shown = {gateway["address"]: gateway for gateway in listed["data"]}
    assert set(shown) == {"127.0.0.1:8081", "127.0.0.1:8082"}
    assert shown["127.0.0.1:8081"]["lag"] == {"changes": 0, "seconds": 0}
    assert shown["127.0.0.1:8081"]["applied"] == listed["feed_position"]
    assert shown["127.0.0.1:8082"]["lag"] == {"changes": 1, "seconds": 2}
    assert shown["127.0.0.1:8082"]["applied"] == listed["feed_position"] - 1
    assert all(gateway["live"] for gateway in listed["data"])
    assert shown["127.0.0.1:8082"]["version"] == "9.9.9"
    assert shown["127.0.0.1:8082"]["id"] == stuck.id
    # Silent for ten heartbeats: no longer live, still listed.
    clock.advance(timedelta(seconds=10))
    current.beat(_position(db))
    listed = api.get("/v1/gateways", headers=bearer(set_up.admin_key)).json()
    live = {gateway["address"]: gateway["live"] for gateway in listed["data"]}
    assert live == {"127.0.0.1:8081": True, "127.0.0.1:8082": False}


def test_gateways_are_shown_to_admins_of_any_workspace_and_to_nobody_else(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    other = make_workspace(db)
    _gateway(db, 8081, 0)
    for admin_key in (set_up.admin_key, other.admin_key):
        listed = api.get("/v1/gateways", headers=bearer(admin_key)).json()
        assert [gateway["address"] for gateway in listed["data"]] == ["127.0.0.1:8081"]
    # A key of the admin's, but with no right on the workspace's settings.
    key = make_key(db, admin(db, set_up), name="reader", permissions=["keys:read"])
    assert_error(api.get("/v1/gateways", headers=bearer(key)), 403, "permission_denied")
    assert_error(api.get("/v1/gateways"), 401)


def test_a_revoke_says_when_every_live_gateway_applied_it(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = make_key(db, admin(db, set_up))
    _gateway(db, 8081, AHEAD)
    _gateway(db, 8082, AHEAD)
    answer = api.post(f"/v1/keys/{key.id}/revoke", headers=bearer(set_up.admin_key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "revoked"
    assert answer.json()["enforcement"] == {
        "enforced_at": clock.now().isoformat().replace("+00:00", "Z"),
        "gateways": 2,
        "lagging": [],
    }


def test_a_revoke_names_the_gateways_that_had_not_applied_it(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    key = make_key(db, admin(db, set_up))
    _gateway(db, 8081, AHEAD)
    stuck = _gateway(db, 8082, _position(db))
    answer = api.post(f"/v1/keys/{key.id}/revoke", headers=bearer(set_up.admin_key))
    assert answer.status_code == 200, answer.text
    receipt = answer.json()["enforcement"]
    assert receipt["enforced_at"] is None
    assert receipt["gateways"] == 2
    assert receipt["lagging"] == [
        {
            "id": stuck.id,
            "address": "127.0.0.1:8082",
            "applied": _position(db) - 1,
            "behind": 1,
        }
    ]


def test_with_no_live_gateway_nothing_is_said_to_be_enforced(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = make_key(db, admin(db, set_up))
    _gateway(db, 8081, 0)
    clock.advance(timedelta(seconds=11))  # silent for more than ten heartbeats
    answer = api.post(f"/v1/keys/{key.id}/revoke", headers=bearer(set_up.admin_key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["enforcement"] == {"enforced_at": None, "gateways": 0, "lagging": []}


def test_delete_renew_rotate_and_bulk_delete_carry_the_receipt(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    headers = bearer(set_up.admin_key)
    stuck = _gateway(db, 8082, _position(db))
    expiring = make_key(db, boss, name="expiring", expires_in=timedelta(days=30))
    renewed = api.post(f"/v1/keys/{expiring.id}/renew", headers=headers, json={"expires_in": "P1D"})
    assert renewed.status_code == 200, renewed.text
    assert [g["id"] for g in renewed.json()["enforcement"]["lagging"]] == [stuck.id]
    rotated = api.post(f"/v1/keys/{expiring.id}/rotate", headers=headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["key"]
    assert [g["id"] for g in rotated.json()["enforcement"]["lagging"]] == [stuck.id]
    doomed = make_key(db, boss, name="doomed")
    deleted = api.delete(f"/v1/keys/{doomed.id}", headers=headers, params={"revoke": "true"})
    assert deleted.status_code == 204, deleted.text
    receipt = json.loads(deleted.headers["Keyward-Enforcement"])
    assert receipt["enforced_at"] is None
    assert [g["id"] for g in receipt["lagging"]] == [stuck.id]
    stuck.beat(AHEAD)
    revoked = [make_key(db, boss, name=f"old {n}") for n in range(2)]
    for key in revoked:
        api.post(f"/v1/keys/{key.id}/revoke", headers=headers)
    bulk = api.post("/v1/keys/bulk-delete", headers=headers, json={"ids": [k.id for k in revoked]})
    assert bulk.status_code == 200, bulk.text
    assert bulk.json()["deleted"] == 2
    assert bulk.json()["enforcement"]["gateways"] == 1
    assert bulk.json()["enforcement"]["enforced_at"] is not None


def test_member_deactivation_narrowing_and_deletion_carry_the_receipt(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    headers = bearer(set_up.admin_key)
    stuck = _gateway(db, 8082, _position(db))
    members = [make_member(db, boss, permissions=["keys:read"]) for _ in range(3)]
    deactivated = api.patch(f"/v1/members/{members[0].id}", headers=headers, json={"active": False})
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False
    assert [g["id"] for g in deactivated.json()["enforcement"]["lagging"]] == [stuck.id]
    narrowed = api.put(
        f"/v1/members/{members[1].id}/permissions",
        headers=headers,
        json={"roles": [], "permissions": []},
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["permissions"] == []
    assert narrowed.json()["enforcement"]["enforced_at"] is None
    stuck.beat(AHEAD)
    deleted = api.delete(f"/v1/members/{members[2].id}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    receipt = json.loads(deleted.headers["Keyward-Enforcement"])
    assert receipt["gateways"] == 1
    assert receipt["enforced_at"] is not None


def test_an_offering_changed_or_deleted_carries_the_receipt(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    headers = bearer(set_up.admin_key)
    offering = make_offering(db, boss, make_api(db, boss).id, tags=["pets", "admin"])
    stuck = _gateway(db, 8082, _position(db))
    narrowed = api.patch(
        f"/v1/offerings/{offering.id}",
        headers=headers,
        json={"operations": {"tags": ["pets"], "operation_ids": []}},
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["operations"]["tags"] == ["pets"]
    assert [g["id"] for g in narrowed.json()["enforcement"]["lagging"]] == [stuck.id]
    stuck.beat(AHEAD)
    deleted = api.delete(f"/v1/offerings/{offering.id}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    receipt = json.loads(deleted.headers["Keyward-Enforcement"])
    assert receipt["gateways"] == 1
    assert receipt["enforced_at"] is not None
