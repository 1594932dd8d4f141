"""Authentication of management calls: where the key goes, what each refusal says."""

from datetime import timedelta

from fastapi.testclient import TestClient

from keyward.core.clock import ManualClock
from keyward.core.keys import generate_key
from keyward.db.engine import Database
from tests.factories import actor_for, admin, bearer, make_key, make_member, make_workspace, secret
from tests.verifier.support import storage_down

CHALLENGES = ['Bearer realm="keyward"', 'ApiKey realm="keyward", in="header", name="X-API-Key"']


def test_a_key_works_as_bearer_token_or_x_api_key(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"authorization": f"bearer {key}"},
        {"X-API-Key": key},
    ):
        response = api.get("/v1/me", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["key"]["id"] == set_up.admin_key.id


def test_a_missing_key_is_a_401_with_challenges(api: TestClient) -> None:
    response = api.get("/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "key_missing"
    assert response.headers.get_list("www-authenticate") == CHALLENGES


def test_an_unknown_or_malformed_key_is_a_401_key_invalid(api: TestClient) -> None:
    for key in (generate_key().secret, "kw_nonsense", "x" * 600):
        response = api.get("/v1/me", headers={"X-API-Key": key})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "key_invalid"
        assert response.headers.get_list("www-authenticate") == CHALLENGES


def test_revoked_and_expired_keys_say_so(api: TestClient, db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    revoked = make_key(db, admin(db, set_up))
    expiring = make_key(db, admin(db, set_up), expires_in=timedelta(hours=1))
    assert (
        api.post(f"/v1/keys/{revoked.id}/revoke", headers=bearer(set_up.admin_key)).status_code
        == 200
    )
    clock.advance(timedelta(hours=1))
    assert api.get("/v1/me", headers=bearer(revoked)).json()["error"]["code"] == "key_revoked"
    assert api.get("/v1/me", headers=bearer(expiring)).json()["error"]["code"] == "key_expired"


def test_two_different_keys_in_one_request_are_refused(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    other = make_key(db, admin(db, set_up))
    headers = {**bearer(set_up.admin_key), "X-API-Key": secret(other)}
    response = api.get("/v1/me", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ambiguous_credentials"
    same = {**bearer(set_up.admin_key), "X-API-Key": secret(set_up.admin_key)}
    assert api.get("/v1/me", headers=same).status_code == 200


def test_me_shows_the_effective_rights_of_key_and_member(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:create", "keys:read"])
    created = make_key(db, actor_for(db, set_up.workspace.id, member.id), permissions=["keys:read"])
    me = api.get("/v1/me", headers=bearer(created)).json()
    assert me["permissions"] == ["keys:read"]
    assert me["member"]["id"] == member.id
    assert me["workspace"]["id"] == set_up.workspace.id
    assert "key" not in me["key"] or me["key"].get("key") is None


def test_a_missing_permission_is_a_403_naming_it_and_is_audited(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    reader = make_key(db, admin(db, set_up), permissions=["keys:read"])
    response = api.post(
        "/v1/organizations", headers=bearer(reader), json={"name": "X", "kind": "provider"}
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert error["details"]["required"] == "organizations:create"
    events = api.get(
        "/v1/audit-events", headers=bearer(set_up.admin_key), params={"outcome": "refused"}
    ).json()["data"]
    assert [(e["action"], e["actor_key_id"], e["code"]) for e in events] == [
        ("organization.create", reader.id, "permission_denied")
    ]


def test_using_a_revoked_key_is_audited_in_its_workspace(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    revoked = make_key(db, admin(db, set_up))
    api.post(f"/v1/keys/{revoked.id}/revoke", headers=bearer(set_up.admin_key))
    api.get("/v1/keys", headers=bearer(revoked))
    events = api.get(
        "/v1/audit-events", headers=bearer(set_up.admin_key), params={"actor": revoked.id}
    ).json()["data"]
    assert [(e["action"], e["outcome"], e["code"]) for e in events] == [
        ("key.list", "refused", "key_revoked")
    ]


def test_a_key_that_cannot_be_confirmed_while_storage_is_down_is_503(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    created = make_key(db, admin(db, set_up))
    with storage_down(db):
        response = api.get("/v1/me", headers=bearer(created))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "verification_unavailable"
    assert response.headers["retry-after"] == "5"
