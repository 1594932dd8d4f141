"""`/v1/webhooks`: create (secret once), list, read, delete; bad input; other workspaces."""

import pytest
from fastapi.testclient import TestClient

from keyward.db.engine import Database
from tests.api.error_bodies import assert_error
from tests.factories import actor_for, admin, bearer, make_key, make_member, make_workspace


def test_webhook_endpoint_lifecycle_over_http(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    created = api.post(
        "/v1/webhooks",
        headers=headers,
        json={
            "url": "https://user:pw@hooks.example.com/keyward",
            "events": ["key.revoked", "key.expiring", "key.revoked"],
            "description": "ops channel",
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert body["signing_secret"].startswith("whsec_")
    assert body["url"] == "https://hooks.example.com/keyward", "credentials are not shown"
    assert body["events"] == ["key.expiring", "key.revoked"]
    shown = api.get(f"/v1/webhooks/{body['id']}", headers=headers)
    assert shown.status_code == 200
    assert "signing_secret" not in shown.json()
    assert body["signing_secret"] not in shown.text
    listed = api.get("/v1/webhooks", headers=headers).json()
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert body["signing_secret"] not in str(listed)
    assert api.delete(f"/v1/webhooks/{body['id']}", headers=headers).status_code == 204
    assert_error(api.get(f"/v1/webhooks/{body['id']}", headers=headers), 404, "webhook_not_found")
    assert_error(
        api.delete(f"/v1/webhooks/{body['id']}", headers=headers), 404, "webhook_not_found"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "invalid_url"),
        ({"url": "file:///etc/passwd"}, "invalid_url"),
        ({"url": "https://"}, "invalid_url"),
        ({"url": "https://hooks.example.com:99999/x"}, "invalid_url"),
        ({"url": "not a url"}, "validation_failed"),
        ({"url": ""}, "validation_failed"),
        ({"url": "https://x.example.com/" + "a" * 2000}, "validation_failed"),
        ({"url": "https://x.example.com", "events": ["key.exploded"]}, "validation_failed"),
        ({"url": "https://x.example.com", "events": "key.revoked"}, "validation_failed"),
        ({"url": "https://x.example.com", "description": "a\nb"}, "validation_failed"),
        ({"url": "https://x.example.com", "secret": "mine"}, "validation_failed"),
        ({}, "validation_failed"),
    ],
)
def test_bad_webhook_input_is_refused_with_422(
    api: TestClient, db: Database, body: dict[str, object], code: str
) -> None:
    set_up = make_workspace(db)
    response = api.post("/v1/webhooks", headers=bearer(set_up.admin_key), json=body)
    assert_error(response, 422, code)


def test_malformed_json_is_a_400(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    response = api.post(
        "/v1/webhooks",
        headers={**bearer(set_up.admin_key), "Content-Type": "application/json"},
        content=b'{"url": ',
    )
    assert_error(response, 400)


def test_another_workspaces_endpoint_is_not_found(api: TestClient, db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    created = api.post(
        "/v1/webhooks", headers=bearer(theirs.admin_key), json={"url": "https://t.example.com"}
    ).json()
    headers = bearer(ours.admin_key)
    assert_error(api.get(f"/v1/webhooks/{created['id']}", headers=headers), 404)
    assert_error(api.delete(f"/v1/webhooks/{created['id']}", headers=headers), 404)
    assert api.get("/v1/webhooks", headers=headers).json()["data"] == []
    assert api.get(f"/v1/webhooks/{created['id']}", headers=bearer(theirs.admin_key)).is_success
    assert_error(api.get("/v1/webhooks/not-an-id", headers=headers), 404, "webhook_not_found")


def test_managing_webhooks_needs_the_webhooks_permissions(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    acquirer = make_member(db, admin(db, set_up), roles=["acquirer"])
    key = make_key(
        db,
        actor_for(db, set_up.workspace.id, acquirer.id),
        permissions=["keys:read"],
    )
    headers = bearer(key)
    error = assert_error(
        api.post("/v1/webhooks", headers=headers, json={"url": "https://x.example.com"}), 403
    )
    assert error["details"]["required"] == "webhooks:create"
    assert_error(api.get("/v1/webhooks", headers=headers), 403)
    assert_error(api.get("/v1/webhooks", headers={}), 401)
