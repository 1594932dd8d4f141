"""`/v1/keys`, `/v1/keys/{id}/usage` and `POST /v1/keys/verify`: one test per documented
answer."""

from datetime import timedelta
from functools import partial

from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.core.clock import ManualClock
from keyward.core.keys import generate_key
from keyward.core.verdicts import KeyCode
from keyward.db.engine import Database
from keyward.verifier import Verifier
from keyward.verifier.usage import UsageRecorder
from tests.api.error_bodies import assert_error
from tests.backends import PostgresDatabases
from tests.conftest import START, settings_for
from tests.factories import actor_for, admin, bearer, make_key, make_member, make_workspace, secret
from tests.relay import relay_to
from tests.verifier.support import eventually


def test_create_answers_201_with_the_secret_once_and_no_store(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    response = api.post(
        "/v1/keys",
        headers=bearer(set_up.admin_key),
        json={"name": "ci", "permissions": ["keys:read"], "expires_in": "P30D"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["key"].startswith("kw_")
    assert body["start"] == body["key"][:7] + "…"
    assert "shown only in this response" in body["notice"]
    assert response.headers["cache-control"] == "no-store"
    shown = api.get(f"/v1/keys/{body['id']}", headers=bearer(set_up.admin_key)).json()
    assert "key" not in shown
    assert body["key"] not in response.request.url.path
    assert shown["expires_at"] == body["expires_at"]
    assert shown["permissions"] == ["keys:read"]
    assert api.get("/v1/me", headers=bearer(body["key"])).status_code == 200


def test_create_refuses_an_escalation_with_the_missing_permissions(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    narrow = make_key(db, admin(db, set_up), permissions=["keys:create", "keys:read"])
    response = api.post(
        "/v1/keys", headers=bearer(narrow), json={"name": "wide", "permissions": ["members:*"]}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_escalation"
    assert response.json()["error"]["details"]["missing"] == ["members:*"]


def test_create_refuses_unknown_permissions_and_bad_durations(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    for body in (
        {"name": "x", "permissions": ["keys:fly"]},
        {"name": "x", "permissions": ["nothing"]},
        {"name": "x", "permissions": [], "expires_in": "-P1D"},
        {"name": "x", "permissions": [], "expires_in": "soon"},
        {"name": "", "permissions": []},
    ):
        response = api.post("/v1/keys", headers=bearer(set_up.admin_key), json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_failed"


def test_create_with_an_idempotency_key_replays_without_the_secret(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = {**bearer(set_up.admin_key), "Idempotency-Key": "deploy-42"}
    body = {"name": "deploy", "permissions": ["keys:read"]}
    first = api.post("/v1/keys", headers=headers, json=body)
    again = api.post("/v1/keys", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["key"]
    assert again.json()["key"] is None
    other = api.post("/v1/keys", headers=headers, json={**body, "name": "other"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_list_paginates_and_filters(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    for i in range(3):
        make_key(db, admin(db, set_up), name=f"k{i}")
    first = api.get("/v1/keys", headers=bearer(set_up.admin_key), params={"limit": 2}).json()
    second = api.get(
        "/v1/keys",
        headers=bearer(set_up.admin_key),
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert len(first["data"]) == 2
    assert len(second["data"]) == 2
    assert second["next_cursor"] is None
    assert {k["id"] for k in first["data"]}.isdisjoint({k["id"] for k in second["data"]})
    revoked = api.get(
        "/v1/keys", headers=bearer(set_up.admin_key), params={"state": "revoked"}
    ).json()
    assert revoked["data"] == []


def test_list_filters_keys_unused_for_a_while(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    old = make_key(db, admin(db, set_up), name="old")
    clock.advance(timedelta(days=31))
    new = make_key(db, admin(db, set_up), name="new")
    headers = bearer(set_up.admin_key)
    unused = api.get("/v1/keys", headers=headers, params={"unused_for": "P30D"}).json()
    listed = {k["id"] for k in unused["data"]}
    assert old.id in listed
    assert new.id not in listed
    assert api.get("/v1/keys", headers=headers, params={"unused_for": "P40D"}).json()["data"] == []
    refused = api.get("/v1/keys", headers=headers, params={"unused_for": "30"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "validation_failed"


def test_read_update_and_not_found(api: TestClient, db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    key_id = ours.admin_key.id
    patched = api.patch(
        f"/v1/keys/{key_id}",
        headers=bearer(ours.admin_key),
        json={"name": "renamed", "metadata": {"owner": "ops"}},
    )
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["metadata"]) == ("renamed", {"owner": "ops"})
    for path in (f"/v1/keys/{key_id}", "/v1/keys/key_00000000000000000000000000"):
        response = api.get(path, headers=bearer(theirs.admin_key))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "key_not_found"


def test_revoke_stops_the_key_on_its_very_next_request(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    created = make_key(db, admin(db, set_up))
    assert api.get("/v1/me", headers=bearer(created)).status_code == 200
    response = api.post(f"/v1/keys/{created.id}/revoke", headers=bearer(set_up.admin_key))
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    refused = api.get("/v1/me", headers=bearer(created))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "key_revoked"


def test_delete_needs_revocation_or_revoke_true(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    created = make_key(db, admin(db, set_up))
    path = f"/v1/keys/{created.id}"
    conflict = api.delete(path, headers=bearer(set_up.admin_key))
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "key_not_revoked"
    assert api.get("/v1/me", headers=bearer(created)).status_code == 200
    deleted = api.delete(path, headers=bearer(set_up.admin_key), params={"revoke": "true"})
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.get(path, headers=bearer(set_up.admin_key)).status_code == 404
    assert api.get("/v1/me", headers=bearer(created)).json()["error"]["code"] == "key_invalid"
    trail = api.get(
        "/v1/audit-events", headers=bearer(set_up.admin_key), params={"target": created.id}
    ).json()["data"]
    assert [(e["action"], e["outcome"]) for e in trail] == [
        ("key.delete", "success"),
        ("key.revoke", "success"),
        ("key.delete", "refused"),
        ("key.create", "success"),
    ]


def test_verify_answers_validity_with_a_stable_code(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    checker = make_key(db, admin(db, set_up), permissions=["keys:verify"])
    consumer = make_key(db, admin(db, set_up), permissions=["keys:read"])
    valid = api.post("/v1/keys/verify", headers=bearer(checker), json={"key": secret(consumer)})
    assert valid.status_code == 200
    assert valid.json()["valid"] is True
    assert valid.json()["code"] == "valid"
    assert valid.json()["key_id"] == consumer.id
    assert valid.json()["permissions"] == ["keys:read"]
    lacking = api.post(
        "/v1/keys/verify",
        headers=bearer(checker),
        json={"key": secret(consumer), "permissions": ["members:read"]},
    ).json()
    assert (lacking["valid"], lacking["code"]) == (False, "insufficient_rights")


def test_verify_answers_a_foreign_key_exactly_like_an_unknown_one(
    api: TestClient, db: Database
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    foreign = api.post(
        "/v1/keys/verify", headers=bearer(ours.admin_key), json={"key": secret(theirs.admin_key)}
    )
    unknown = api.post(
        "/v1/keys/verify", headers=bearer(ours.admin_key), json={"key": generate_key().secret}
    )
    assert foreign.status_code == unknown.status_code == 200
    assert foreign.json() == unknown.json()
    assert foreign.json()["code"] == "key_invalid"
    assert foreign.json()["key_id"] is None


def test_verify_answers_503_with_retry_after_while_storage_is_out_of_reach(
    postgres: PostgresDatabases,
) -> None:
    """PostgreSQL is reached through a TCP relay, cut as a network failure would cut it."""
    direct_url = postgres.create()
    writer = Database.connect(direct_url)
    set_up = make_workspace(writer)
    unconfirmed = secret(make_key(writer, admin(writer, set_up)))
    writer.dispose()
    with relay_to(direct_url) as relay:
        through = make_url(relay.url_for(direct_url)).update_query_dict({"connect_timeout": "2"})
        database = Database.connect(through.render_as_string(hide_password=False))
        runtime = Runtime(settings_for(direct_url), database, Verifier(database))
        try:
            with TestClient(create_app(runtime, follow_feed=False)) as api:
                verify = partial(
                    api.post,
                    "/v1/keys/verify",
                    headers=bearer(set_up.admin_key),
                    json={"key": unconfirmed},
                )
                me = api.get("/v1/me", headers=bearer(set_up.admin_key))
                assert me.status_code == 200, "the caller's key is now in the cache"
                relay.cut()
                unavailable = verify()
                relay.restore()
                eventually(lambda: verify().status_code == 200, within=15)
                recovered = verify().json()
                documented = api.get("/openapi.json").json()["paths"]["/v1/keys/verify"]["post"]
        finally:
            database.dispose()
    error = assert_error(unavailable, 503, "verification_unavailable")
    assert error["message"] == KeyCode.VERIFICATION_UNAVAILABLE.message
    assert unavailable.headers["retry-after"] == "5"
    assert unconfirmed not in unavailable.text
    assert (recovered["valid"], recovered["code"]) == (True, "valid")
    assert "Retry-After" in documented["responses"]["503"]["headers"]


def test_verify_needs_the_verify_permission(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:create", "keys:read"])
    created = make_key(db, actor_for(db, set_up.workspace.id, member.id))
    response = api.post("/v1/keys/verify", headers=bearer(created), json={"key": secret(created)})
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required"] == "keys:verify"


def test_usage_answers_buckets_by_status_class(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = make_key(db, admin(db, set_up))
    recorder = UsageRecorder(clock)
    for status in (200, 200, 404, 503):
        recorder.record(key.id, set_up.workspace.id, status)
    clock.advance(timedelta(minutes=1))
    recorder.record(key.id, set_up.workspace.id, 301)
    recorder.flush(db)
    clock.advance(timedelta(minutes=1))
    response = api.get(
        f"/v1/keys/{key.id}/usage",
        headers=bearer(set_up.admin_key),
        params={"since": START.isoformat(), "granularity": "minute"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["key_id"] == key.id
    assert body["granularity"] == "minute"
    assert body["totals"] == {"2xx": 2, "3xx": 1, "4xx": 1, "5xx": 1}
    assert body["data"] == [
        {"start": "2026-06-01T12:00:00Z", "2xx": 2, "3xx": 0, "4xx": 1, "5xx": 1},
        {"start": "2026-06-01T12:01:00Z", "2xx": 0, "3xx": 1, "4xx": 0, "5xx": 0},
    ]
    default = api.get(f"/v1/keys/{key.id}/usage", headers=bearer(set_up.admin_key)).json()
    assert (default["granularity"], len(default["data"]), default["totals"]["2xx"]) == (
        "hour",
        25,
        2,
    )


def test_usage_needs_a_valid_key_and_the_right_to_read_the_key(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    path = f"/v1/keys/{set_up.admin_key.id}/usage"
    assert_error(api.get(path), 401)
    assert_error(api.get(path, headers=bearer(generate_key().secret)), 401)
    auditor = make_key(db, admin(db, set_up), permissions=["audit:read"])
    refused = assert_error(api.get(path, headers=bearer(auditor)), 403, "permission_denied")
    assert refused["details"]["required"] == "keys:read"


def test_usage_of_another_workspace_s_key_is_not_found(api: TestClient, db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    for key_id in (theirs.admin_key.id, "key_00000000000000000000000000", "nonsense"):
        response = api.get(f"/v1/keys/{key_id}/usage", headers=bearer(ours.admin_key))
        assert_error(response, 404, "key_not_found")


def test_usage_refuses_bad_ranges_with_422(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    path = f"/v1/keys/{set_up.admin_key.id}/usage"
    headers = bearer(set_up.admin_key)
    for params, code in (
        ({"since": START.isoformat(), "until": START.isoformat()}, "usage_range_invalid"),
        ({"since": (START + timedelta(days=1)).isoformat()}, "usage_range_invalid"),
        ({"until": "9999-12-31T23:00:00-05:00"}, "usage_range_invalid"),
        ({"until": "0001-01-01T01:00:00Z"}, "usage_range_invalid"),
        ({"since": "2020-01-01T00:00:00Z", "granularity": "hour"}, "usage_range_too_large"),
        ({"since": "2026-06-01T00:00:00"}, "validation_failed"),
        ({"granularity": "week"}, "validation_failed"),
    ):
        assert_error(api.get(path, headers=headers, params=params), 422, code)
    ancient = {"since": "0001-01-01T00:00:00Z", "until": "0001-01-01T01:00:00Z"}
    assert api.get(path, headers=headers, params=ancient).json()["data"][0]["2xx"] == 0
