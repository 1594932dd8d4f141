"""`/v1/acquisitions/{id}/connectors`, `/v1/connectors/{id}` and its deliveries."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from keyward.db.engine import Database
from keyward.jobs.worker import Worker
from tests.conftest import settings_for
from tests.factories import (
    admin,
    bearer,
    full_key,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_offering,
    make_party,
    make_workspace,
    secret,
    set_key_policy,
)
from tests.servers import WebhookReceiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


def test_connector_lifecycle_over_http(
    api: TestClient, db: Database, receiver: WebhookReceiver
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    buyer = make_party(db, boss)
    headers = bearer(full_key(db, buyer.actor))
    offering = make_offering(db, boss, make_api(db, boss).id)
    acquisition = make_acquisition(db, boss, offering.id, buyer.organization_id)
    created = api.post(
        f"/v1/acquisitions/{acquisition.id}/connectors",
        headers=headers,
        json={"kind": "webhook", "url": receiver.url, "version": "2.0", "format": "yaml"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["cache-control"] == "no-store"
    assert body["signing_secret"].startswith("whsec_")
    assert body["key"].startswith("kw_")
    connector_id = body["id"]
    shown = api.get(f"/v1/connectors/{connector_id}", headers=headers).json()
    assert "signing_secret" not in shown
    assert "key" not in shown
    assert shown["last_delivery"] is None
    Worker(db, settings_for(db.url)).drain()
    deliveries = api.get(f"/v1/connectors/{connector_id}/deliveries", headers=headers).json()
    assert [d["status"] for d in deliveries["data"]] == ["succeeded"]
    listed = api.get(f"/v1/acquisitions/{acquisition.id}/connectors", headers=headers).json()
    assert listed["data"][0]["last_delivery"]["status"] == "succeeded"
    asked = api.delete(f"/v1/connectors/{connector_id}", headers=headers)
    assert asked.status_code == 409
    assert asked.json()["error"]["code"] == "key_choice_required"
    assert asked.json()["error"]["details"]["key_id"] == body["key_id"]
    assert api.get(f"/v1/connectors/{connector_id}", headers=headers).status_code == 200
    deleted = api.delete(
        f"/v1/connectors/{connector_id}", headers=headers, params={"revoke_key": "true"}
    )
    assert deleted.status_code == 200
    assert (deleted.json()["key_id"], deleted.json()["key_revoked"]) == (body["key_id"], True)
    assert api.get(f"/v1/connectors/{connector_id}", headers=headers).status_code == 404
    key = api.get(f"/v1/keys/{body['key_id']}", headers=headers).json()
    assert key["state"] == "revoked"


def test_connector_input_is_checked(
    api: TestClient, db: Database, receiver: WebhookReceiver
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    buyer = make_party(db, boss)
    actor = buyer.actor
    headers = bearer(full_key(db, actor))
    offering = make_offering(db, boss, make_api(db, boss).id)
    acquisition = make_acquisition(db, boss, offering.id, buyer.organization_id)
    path = f"/v1/acquisitions/{acquisition.id}/connectors"
    for body, code in (
        ({"kind": "webhook", "url": "ftp://example.com/x"}, "invalid_destination"),
        ({"kind": "storage", "url": "file:///etc/passwd"}, "invalid_destination"),
        ({"kind": "storage", "path": "../escape.json"}, "invalid_path"),
        ({"kind": "storage", "path": "x.json", "destination": "bucket"}, "unknown_destination"),
        ({"kind": "storage", "path": "x.json", "storage_options": {}}, "validation_failed"),
        ({"kind": "webhook", "url": receiver.url, "key": "kw_nonsense"}, "key_not_of_acquisition"),
        ({"kind": "webhook", "url": receiver.url, "version": "1.2"}, "validation_failed"),
    ):
        response = api.post(path, headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == code
    own = make_acquisition_key(db, actor, acquisition.id)
    pasted = api.post(
        path, headers=headers, json={"kind": "webhook", "url": receiver.url, "key": secret(own)}
    )
    assert pasted.status_code == 201
    assert (pasted.json()["key_id"], pasted.json()["key"]) == (own.id, None)
    missing = api.post(
        "/v1/acquisitions/acq_00000000000000000000000000/connectors",
        headers=headers,
        json={"kind": "webhook", "url": receiver.url},
    )
    assert missing.status_code == 404


def test_a_2_0_connector_for_a_cookie_key_answers_422_at_creation(
    api: TestClient, db: Database, receiver: WebhookReceiver
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    buyer = make_party(db, boss)
    headers = bearer(full_key(db, buyer.actor))
    served = make_api(db, boss)
    cookie = [{"scheme": "keyward", "in": "cookie", "name": "kw", "role": "key"}]
    set_key_policy(db, boss, served.id, key_locations=cookie)
    acquisition = make_acquisition(
        db, boss, make_offering(db, boss, served.id).id, buyer.organization_id
    )
    path = f"/v1/acquisitions/{acquisition.id}/connectors"
    refused = api.post(
        path, headers=headers, json={"kind": "webhook", "url": receiver.url, "version": "2.0"}
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "cookie_api_key"
    assert "version 3.0" in error["message"]
    assert api.get(path, headers=headers).json()["data"] == []
    keys = api.get("/v1/keys", headers=headers, params={"acquisition": acquisition.id})
    assert keys.json()["data"] == []
