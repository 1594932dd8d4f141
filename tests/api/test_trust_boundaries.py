"""The trust boundaries a member of one organization must not cross, each tried as the attack it
was: another organization's acquisitions and keys, another provider's APIs, another member's
account key, key requests beyond a key's rights, approvals beyond one's APIs, renewal approval
sidestepped by a new key. Every refusal leaves the victim's key working as before.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.domains.organizations.schemas import OrganizationKind
from tests.api.error_bodies import assert_error
from tests.factories import (
    PETSTORE_30,
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
    make_party,
    make_workspace,
    secret,
    set_key_policy,
)

Headers = dict[str, str]


@dataclass
class Victims:
    """Provider P's API, acquired by organization A, whose member holds key `key`; and the
    members of provider Q and acquirer B who try to reach them."""

    admin: Headers
    p: Headers
    q: Headers
    a: Headers
    b: Headers
    api_id: str
    offering_id: str
    acquisition_id: str
    key_id: str
    key: str
    b_acquisition_id: str


def _victims(db: Database, **policy: Any) -> Victims:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    p = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    q = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    a, b = make_party(db, boss), make_party(db, boss)
    api = make_api(db, p.actor)
    set_key_policy(db, p.actor, api.id, key_lifetime="P30D", **policy)
    offering = make_offering(db, p.actor, api.id)
    acquisition = make_acquisition(db, a.actor, offering.id, a.organization_id)
    theirs = make_acquisition(db, b.actor, make_offering(db, p.actor, api.id).id, b.organization_id)
    key = make_acquisition_key(db, a.actor, acquisition.id, name="production")
    return Victims(
        admin=bearer(set_up.admin_key),
        p=bearer(full_key(db, p.actor)),
        q=bearer(full_key(db, q.actor)),
        a=bearer(full_key(db, a.actor)),
        b=bearer(full_key(db, b.actor)),
        api_id=api.id,
        offering_id=offering.id,
        acquisition_id=acquisition.id,
        key_id=key.id,
        key=secret(key),
        b_acquisition_id=theirs.id,
    )


def _still_working(api: TestClient, v: Victims) -> dict[str, Any]:
    """The victim's key verifies as before, and is as it was."""
    verified = api.post("/v1/keys/verify", headers=v.admin, json={"key": v.key}).json()
    assert (verified["valid"], verified["key_id"]) == (True, v.key_id)
    shown: dict[str, Any] = api.get(f"/v1/keys/{v.key_id}", headers=v.a).json()
    assert (shown["name"], shown["state"], shown["pending_request_id"]) == (
        "production",
        "active",
        None,
    )
    return shown


def _unknown(response: Any, code: str) -> None:
    assert_error(response, 404, code)


# Organizations are not isolated


def test_another_organization_neither_lists_reads_nor_exports_an_acquisition(
    api: TestClient, db: Database
) -> None:
    v = _victims(db)
    listed = api.get("/v1/acquisitions", headers=v.b).json()["data"]
    assert [x["id"] for x in listed] == [v.b_acquisition_id]
    filtered = api.get("/v1/keys", headers=v.b, params={"acquisition": v.acquisition_id})
    assert filtered.json()["data"] == []
    for path in ("", "/keys", "/openapi", "/connectors"):
        _unknown(api.get(f"/v1/acquisitions/{v.acquisition_id}{path}", headers=v.b),
                 "acquisition_not_found")  # fmt: skip
    _unknown(api.get(f"/v1/keys/{v.key_id}/usage", headers=v.b), "key_not_found")


def test_another_organization_cannot_make_a_key_on_an_acquisition(
    api: TestClient, db: Database
) -> None:
    v = _victims(db)
    made = api.post(f"/v1/acquisitions/{v.acquisition_id}/keys", headers=v.b, json={"name": "x"})
    _unknown(made, "acquisition_not_found")
    listed = api.get(f"/v1/acquisitions/{v.acquisition_id}/keys", headers=v.a).json()["data"]
    assert [k["name"] for k in listed] == ["production"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/revoke", {}),
        ("delete", "?revoke=true", None),
        ("post", "/renew", {"expires_in": "P1D"}),
        ("post", "/rotate", {"grace": "PT0S"}),
        ("patch", "", {"name": "mine now"}),
    ],
)
def test_another_organization_cannot_change_a_key(
    api: TestClient, db: Database, method: str, path: str, body: dict[str, Any] | None
) -> None:
    v = _victims(db)
    before = _still_working(api, v)
    response = api.request(method, f"/v1/keys/{v.key_id}{path}", headers=v.b, json=body)
    _unknown(response, "key_not_found")
    assert _still_working(api, v) == before


def test_another_organization_neither_reacquires_nor_touches_connectors(
    api: TestClient, db: Database
) -> None:
    v = _victims(db)
    hook = {"kind": "webhook", "url": "https://hooks.example.com/a"}
    made = api.post(f"/v1/acquisitions/{v.acquisition_id}/connectors", headers=v.a, json=hook)
    assert made.status_code == 201, made.text
    connector = made.json()["id"]
    _unknown(api.post(f"/v1/acquisitions/{v.acquisition_id}/reacquire", headers=v.b),
             "acquisition_not_found")  # fmt: skip
    _unknown(api.post(f"/v1/acquisitions/{v.acquisition_id}/connectors", headers=v.b, json=hook),
             "acquisition_not_found")  # fmt: skip
    for path in ("", "/deliveries"):
        _unknown(api.get(f"/v1/connectors/{connector}{path}", headers=v.b), "connector_not_found")
    _unknown(api.delete(f"/v1/connectors/{connector}", headers=v.b), "connector_not_found")
    assert api.get(f"/v1/connectors/{connector}", headers=v.a).status_code == 200


def test_another_organization_files_no_request_that_would_block_the_owners(
    api: TestClient, db: Database
) -> None:
    v = _victims(db, revocation_requires_approval=True)
    asked = api.post(f"/v1/keys/{v.key_id}/revoke", headers=v.b, json={"reason": "mine"})
    _unknown(asked, "key_not_found")
    assert api.get("/v1/key-requests", headers=v.admin).json()["data"] == []
    renewed = api.post(f"/v1/keys/{v.key_id}/renew", headers=v.a, json={})
    assert renewed.status_code == 200, renewed.text


# Providers are not isolated


def test_another_provider_cannot_repoint_respecify_or_relimit_an_api(
    api: TestClient, db: Database
) -> None:
    v = _victims(db)
    before = api.get(f"/v1/apis/{v.api_id}", headers=v.p).json()
    policy = api.get(f"/v1/apis/{v.api_id}/policy", headers=v.p).json()
    for location in policy["key_locations"]:
        location.pop("synthetic")
    attacks = [
        ("patch", f"/v1/apis/{v.api_id}", {"upstream_url": "https://evil.example.com"}),
        ("post", f"/v1/apis/{v.api_id}/versions", {"spec": PETSTORE_30}),
        ("put", f"/v1/apis/{v.api_id}/policy", {**policy, "key_lifetime": "P1D"}),
    ]
    for method, path, body in attacks:
        _unknown(api.request(method, path, headers=v.q, json=body), "api_not_found")
    relimit = {"limits": [{"scope": "key", "requests": 1, "per": "P1D"}]}
    _unknown(api.patch(f"/v1/offerings/{v.offering_id}", headers=v.q, json=relimit),
             "offering_not_found")  # fmt: skip
    assert api.get(f"/v1/apis/{v.api_id}", headers=v.p).json() == before
    assert before["upstream_url"] == "https://upstream.example.com/"
    # Acquirers read the catalog, but not where the gateway forwards to.
    assert api.get(f"/v1/apis/{v.api_id}", headers=v.a).json()["upstream_url"] is None


# Account keys cannot be taken over


def test_no_member_rotates_another_members_account_key_into_their_own_hands(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    rights = ["keys:read", "keys:create", "keys:rotate", "apis:read"]
    victim = actor_for(db, set_up.workspace.id, make_member(db, boss, permissions=rights).id)
    thief = actor_for(db, set_up.workspace.id, make_member(db, boss, permissions=rights).id)
    key = make_key(db, victim, permissions=["apis:read"])
    for attacker in (bearer(full_key(db, thief)), bearer(set_up.admin_key)):
        taken = api.post(f"/v1/keys/{key.id}/rotate", headers=attacker, json={"grace": "P1D"})
        assert assert_error(taken, 403, "not_key_owner")["details"]["key_id"] == key.id
    assert api.get("/v1/me", headers=bearer(key)).status_code == 200
    shown = api.get(f"/v1/keys/{key.id}", headers=bearer(set_up.admin_key)).json()
    assert shown["rotated_at"] is None


def test_a_non_admin_cannot_revoke_an_admins_key(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    revoker = make_member(db, boss, permissions=["keys:read", "keys:revoke", "keys:create"])
    attacker = bearer(full_key(db, actor_for(db, set_up.workspace.id, revoker.id)))
    admin_key = set_up.admin_key.id
    refused = api.post(f"/v1/keys/{admin_key}/revoke", headers=attacker, json={})
    assert "*:*" in assert_error(refused, 403, "permission_escalation")["details"]["missing"]
    assert api.get("/v1/me", headers=bearer(set_up.admin_key)).status_code == 200
    # An admin revokes a member's key: they may revoke, they never obtain.
    victim_key = make_key(db, actor_for(db, set_up.workspace.id, revoker.id))
    revoked = api.post(f"/v1/keys/{victim_key.id}/revoke", headers=bearer(set_up.admin_key))
    assert revoked.json()["state"] == "revoked"


# Key requests follow the caller's rights


def test_a_key_narrowed_to_apis_read_neither_lists_nor_cancels_its_members_requests(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    buyer = make_party(db, boss)
    imported = make_api(db, boss)
    set_key_policy(db, boss, imported.id, key_lifetime="P30D", revocation_requires_approval=True)
    acquisition = make_acquisition(
        db, buyer.actor, make_offering(db, boss, imported.id).id, buyer.organization_id
    )
    key = make_acquisition_key(db, buyer.actor, acquisition.id)
    filed = api.post(f"/v1/keys/{key.id}/revoke", headers=bearer(full_key(db, buyer.actor)))
    assert filed.status_code == 202, filed.text
    narrow = bearer(make_key(db, buyer.actor, permissions=["apis:read"]))
    assert_error(api.get("/v1/key-requests", headers=narrow), 403, "permission_denied")
    cancel = api.post(f"/v1/key-requests/{filed.json()['id']}/cancel", headers=narrow)
    _unknown(cancel, "key_request_not_found")
    shown = api.get(f"/v1/key-requests/{filed.json()['id']}", headers=bearer(set_up.admin_key))
    assert shown.json()["status"] == "pending"


# Approvers approve for the APIs that name them


def test_an_approver_not_named_by_an_apis_policy_neither_sees_nor_decides_its_requests(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    named = make_member(db, boss, roles=["approver"])
    other = make_member(db, boss, roles=["approver"])
    buyer = make_party(db, boss)
    imported = make_api(db, boss)
    set_key_policy(
        db,
        boss,
        imported.id,
        key_lifetime="P30D",
        revocation_requires_approval=True,
        approvers=[named.id],
    )
    acquisition = make_acquisition(
        db, buyer.actor, make_offering(db, boss, imported.id).id, buyer.organization_id
    )
    key = make_acquisition_key(db, buyer.actor, acquisition.id)
    filed = api.post(f"/v1/keys/{key.id}/revoke", headers=bearer(full_key(db, buyer.actor)))
    request = filed.json()["id"]
    outsider = bearer(full_key(db, actor_for(db, set_up.workspace.id, other.id)))
    assert api.get("/v1/key-requests", headers=outsider).json()["data"] == []
    _unknown(api.post(f"/v1/key-requests/{request}/approve", headers=outsider),
             "key_request_not_found")  # fmt: skip
    insider = bearer(full_key(db, actor_for(db, set_up.workspace.id, named.id)))
    approved = api.post(f"/v1/key-requests/{request}/approve", headers=insider)
    assert approved.json()["outcome"] == "revoked"


# Renewal approval cannot be sidestepped with a new key


def test_where_renewal_needs_an_approver_a_new_key_waits_for_one_too(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    v = _victims(db)
    policy = api.get(f"/v1/apis/{v.api_id}/policy", headers=v.p).json()
    for location in policy["key_locations"]:
        location.pop("synthetic")
    del policy["issuance_requires_approval"]
    policy["renewal_requires_approval"] = True
    replaced = api.put(f"/v1/apis/{v.api_id}/policy", headers=v.p, json=policy).json()
    assert replaced["issuance_requires_approval"] is True
    clock.advance(timedelta(days=29))
    renewal = api.post(f"/v1/keys/{v.key_id}/renew", headers=v.a, json={})
    assert renewal.status_code == 202
    fresh = api.post(f"/v1/acquisitions/{v.acquisition_id}/keys", headers=v.a,
                     json={"name": "fresh", "reason": "the old one expires"})  # fmt: skip
    assert fresh.status_code == 202, fresh.text
    created = fresh.json()
    assert (created["state"], created["expires_at"]) == ("pending", None)
    assert created["key"]
    assert created["pending_request_id"]
    verified = api.post("/v1/keys/verify", headers=v.admin, json={"key": created["key"]}).json()
    assert (verified["valid"], verified["code"]) == (False, "key_not_approved")
    request = api.get(f"/v1/key-requests/{created['pending_request_id']}", headers=v.p).json()
    assert (request["action"], request["reason"]) == ("issue", "the old one expires")


def test_me_says_where_each_right_reaches(api: TestClient, db: Database) -> None:
    v = _victims(db)
    me = api.get("/v1/me", headers=v.a).json()
    reaches = {grant["reach"]: grant["permissions"] for grant in me["grants"]}
    assert reaches["workspace"] == ["apis:read", "offerings:read"]
    assert "keys:rotate" in reaches["acquirer"]
    assert set(me["permissions"]) >= {"apis:read", "keys:rotate"}
