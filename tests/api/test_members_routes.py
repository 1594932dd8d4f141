"""`/v1/members`, `/v1/members/{id}/permissions` and `/v1/organizations`, with their statuses."""

from fastapi.testclient import TestClient

from keyward.db.engine import Database
from tests.factories import actor_for, admin, bearer, make_key, make_member, make_workspace


def test_member_lifecycle(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = api.post(
        "/v1/members",
        headers=headers,
        json={"email": "kim@example.com", "name": "Kim", "roles": ["auditor"]},
    )
    assert created.status_code == 201, created.text
    member_id = created.json()["id"]
    duplicate = api.post(
        "/v1/members", headers=headers, json={"email": "KIM@example.com", "name": "Kim 2"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "member_exists"
    patched = api.patch(f"/v1/members/{member_id}", headers=headers, json={"name": "Kim Lee"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Kim Lee"
    listed = api.get("/v1/members", headers=headers).json()["data"]
    assert {m["id"] for m in listed} == {member_id, set_up.admin_member_id}
    assert api.delete(f"/v1/members/{member_id}", headers=headers).status_code == 204
    gone = api.get(f"/v1/members/{member_id}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "member_not_found"


def test_member_input_is_validated(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    for body in (
        {"email": "not-an-email", "name": "X"},
        {"email": "x@example.com", "name": "X", "roles": ["emperor"]},
        {"email": "x@example.com", "name": "X", "password": "short"},
        {"email": "x@example.com", "name": "X", "active": True},
    ):
        response = api.post("/v1/members", headers=bearer(set_up.admin_key), json=body)
        assert response.status_code == 422, body
    patched = api.patch(
        f"/v1/members/{set_up.admin_member_id}",
        headers=bearer(set_up.admin_key),
        json={"active": "yes"},
    )
    assert patched.status_code == 422


def test_deleting_yourself_or_the_last_admin_is_a_conflict(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    response = api.delete(f"/v1/members/{set_up.admin_member_id}", headers=bearer(set_up.admin_key))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cannot_delete_self"
    demoted = api.put(
        f"/v1/members/{set_up.admin_member_id}/permissions",
        headers=bearer(set_up.admin_key),
        json={"roles": [], "permissions": ["keys:read"]},
    )
    assert demoted.status_code == 409
    assert demoted.json()["error"]["code"] == "last_admin"


def test_replacing_permissions_narrows_the_members_keys_on_the_next_call(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:create", "keys:read"])
    created = make_key(db, actor_for(db, set_up.workspace.id, member.id), permissions=["keys:read"])
    assert api.get("/v1/keys", headers=bearer(created)).status_code == 200
    replaced = api.put(
        f"/v1/members/{member.id}/permissions",
        headers=bearer(set_up.admin_key),
        json={"roles": [], "permissions": ["keys:create"]},
    )
    assert replaced.status_code == 200
    assert replaced.json()["effective"] == ["keys:create"]
    refused = api.get("/v1/keys", headers=bearer(created))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    shown = api.get(f"/v1/members/{member.id}/permissions", headers=bearer(set_up.admin_key))
    assert shown.json()["permissions"] == ["keys:create"]


def test_deactivating_a_member_stops_their_keys_on_the_next_call(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:create", "keys:read"])
    created = make_key(db, actor_for(db, set_up.workspace.id, member.id))
    api.patch(f"/v1/members/{member.id}", headers=bearer(set_up.admin_key), json={"active": False})
    refused = api.get("/v1/me", headers=bearer(created))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "key_disabled"


def test_organizations_lifecycle(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = api.post(
        "/v1/organizations", headers=headers, json={"name": "Initech", "kind": "acquirer"}
    )
    assert created.status_code == 201
    organization_id = created.json()["id"]
    again = api.post(
        "/v1/organizations", headers=headers, json={"name": "Initech", "kind": "provider"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "organization_exists"
    bad_kind = api.post("/v1/organizations", headers=headers, json={"name": "X", "kind": "other"})
    assert bad_kind.status_code == 422
    member = api.post(
        "/v1/members",
        headers=headers,
        json={"email": "m@example.com", "name": "M", "organization_ids": [organization_id]},
    )
    assert member.json()["organization_ids"] == [organization_id]
    in_org = api.get("/v1/members", headers=headers, params={"organization_id": organization_id})
    assert [m["email"] for m in in_org.json()["data"]] == ["m@example.com"]
    shown = api.get(f"/v1/organizations/{organization_id}", headers=headers).json()
    assert shown["member_count"] == 1
    renamed = api.patch(
        f"/v1/organizations/{organization_id}", headers=headers, json={"name": "Initrode"}
    )
    assert renamed.json()["name"] == "Initrode"
    listed = api.get("/v1/organizations", headers=headers, params={"kind": "acquirer"}).json()
    assert [o["id"] for o in listed["data"]] == [organization_id]
    assert api.delete(f"/v1/organizations/{organization_id}", headers=headers).status_code == 204
    assert api.get(f"/v1/organizations/{organization_id}", headers=headers).status_code == 404


def test_audit_log_is_filtered_and_needs_audit_read(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = make_key(db, admin(db, set_up), permissions=["keys:read"])
    api.post(f"/v1/keys/{created.id}/revoke", headers=headers)
    revokes = api.get("/v1/audit-events", headers=headers, params={"action": "key.revoke"})
    assert [e["target_id"] for e in revokes.json()["data"]] == [created.id]
    event = revokes.json()["data"][0]
    assert event["actor_key_id"] == set_up.admin_key.id
    assert event["request_id"]
    future = api.get("/v1/audit-events", headers=headers, params={"since": "2999-01-01T00:00:00Z"})
    assert future.json()["data"] == []
    other = make_key(db, admin(db, set_up), permissions=["keys:read"])
    assert api.get("/v1/audit-events", headers=bearer(other)).status_code == 403
