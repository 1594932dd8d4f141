"""`/v1/apis`, `/v1/offerings`, `/v1/acquisitions`: one test per documented answer."""

import json
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.db.engine import Database
from keyward.settings import Settings
from keyward.verifier import Verifier
from tests.api.error_bodies import assert_error
from tests.factories import PETSTORE_20, PETSTORE_30, bearer, make_workspace


def _import(
    api: TestClient, headers: dict[str, str], spec: str, mount: str = "pets"
) -> dict[str, Any]:
    response = api.post(
        "/v1/apis",
        headers=headers,
        json={
            "name": f"Pets at {mount}",
            "upstream_url": "https://upstream.example.com",
            "mount_path": mount,
            "spec": spec,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def provider(api: TestClient, db: Database) -> dict[str, str]:
    return bearer(make_workspace(db).admin_key)


def test_import_answers_201_with_version_and_policy(
    api: TestClient, provider: dict[str, str]
) -> None:
    body = _import(api, provider, PETSTORE_20)
    assert body["version"]["number"] == 1
    assert body["version"]["source_version"] == "2.0"
    assert body["policy"]["key_locations"] == [
        {
            "scheme": "api_key",
            "in": "header",
            "name": "X-Pet-Key",
            "role": "key",
            "synthetic": False,
        }
    ]
    shown = api.get(f"/v1/apis/{body['id']}", headers=provider).json()
    assert shown["gateway_url"] == "http://127.0.0.1:8080/pets/v2"


def test_an_invalid_spec_is_a_422_with_every_problem(
    api: TestClient, provider: dict[str, str]
) -> None:
    response = api.post(
        "/v1/apis",
        headers=provider,
        json={
            "name": "Broken",
            "upstream_url": "https://upstream.example.com",
            "mount_path": "broken",
            "spec": "openapi: 3.0.3\npaths: {}\n",
        },
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_spec"
    assert error["details"]["problems"]
    assert all({"pointer", "message", "code"} == set(p) for p in error["details"]["problems"])
    assert api.get("/v1/apis", headers=provider).json()["data"] == []


def test_specs_may_exceed_the_usual_body_limit_up_to_the_spec_limit(db: Database) -> None:
    headers = bearer(make_workspace(db).admin_key)
    settings = Settings(database_url=db.url, max_body_bytes=4096, max_spec_bytes=64 * 1024)
    runtime = Runtime(settings, db, Verifier(db))
    padding = "# " + "x" * 20_000 + "\n"
    with TestClient(create_app(runtime, follow_feed=False)) as client:
        assert (
            _import(client, headers, PETSTORE_30 + padding, mount="big")["version"]["number"] == 1
        )
        too_big = client.post(
            "/v1/apis",
            headers=headers,
            json={
                "name": "Huge",
                "upstream_url": "https://upstream.example.com",
                "mount_path": "huge",
                "spec": PETSTORE_30 + padding * 4,
            },
        )
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "spec_too_large"
        elsewhere = client.post(
            "/v1/keys", headers=headers, json={"name": "x" * 5000, "permissions": []}
        )
        assert elsewhere.status_code == 413


def test_versions_and_policy(api: TestClient, provider: dict[str, str]) -> None:
    api_id = _import(api, provider, PETSTORE_30)["id"]
    updated = PETSTORE_30.replace("operationId: health", "operationId: healthCheck")
    version = api.post(f"/v1/apis/{api_id}/versions", headers=provider, json={"spec": updated})
    assert version.status_code == 201
    assert version.json()["changes"]["changed"] == ["GET /health"]
    listed = api.get(f"/v1/apis/{api_id}/versions", headers=provider).json()["data"]
    assert [v["number"] for v in listed] == [2, 1]
    policy = api.get(f"/v1/apis/{api_id}/policy", headers=provider).json()
    assert policy["key_lifetime"] is None
    policy["key_locations"][0]["name"] = "X-Pet-Token"
    for location in policy["key_locations"]:
        location.pop("synthetic")
    policy["key_lifetime"] = "P30D"
    replaced = api.put(f"/v1/apis/{api_id}/policy", headers=provider, json=policy)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["key_lifetime"] == "P30D"
    assert replaced.json()["key_locations"][0]["name"] == "X-Pet-Token"
    bad = api.put(
        f"/v1/apis/{api_id}/policy",
        headers=provider,
        json={"key_locations": [], "key_lifetime": "soon"},
    )
    assert bad.status_code == 422


def test_patch_and_delete(api: TestClient, provider: dict[str, str]) -> None:
    first = _import(api, provider, PETSTORE_30, mount="first")["id"]
    _import(api, provider, PETSTORE_30, mount="second")
    clash = api.patch(f"/v1/apis/{first}", headers=provider, json={"mount_path": "second"})
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "mount_conflict"
    inside = api.patch(f"/v1/apis/{first}", headers=provider, json={"mount_path": "second/v2"})
    assert inside.json()["error"]["code"] == "mount_conflict"
    moved = api.patch(f"/v1/apis/{first}", headers=provider, json={"mount_path": "third"})
    assert moved.json()["gateway_url"].endswith("/third/v1")
    assert api.delete(f"/v1/apis/{first}", headers=provider).status_code == 204
    assert api.get(f"/v1/apis/{first}", headers=provider).status_code == 404


@pytest.fixture
def acquisition(api: TestClient, provider: dict[str, str]) -> str:
    api_id = _import(api, provider, PETSTORE_30)["id"]
    offering = api.post(
        "/v1/offerings",
        headers=provider,
        json={"api_id": api_id, "name": "Pets basic", "acquisition_period": "P1Y"},
    )
    assert offering.status_code == 201, offering.text
    organization = api.post(
        "/v1/organizations", headers=provider, json={"name": "Globex", "kind": "acquirer"}
    ).json()
    # Keys of Globex's acquisitions are held by Globex's members: the admin joins it.
    me = api.get("/v1/me", headers=provider).json()["member"]["id"]
    joined = api.patch(
        f"/v1/members/{me}", headers=provider, json={"organization_ids": [organization["id"]]}
    )
    assert joined.status_code == 200, joined.text
    acquired = api.post(
        "/v1/acquisitions",
        headers=provider,
        json={"offering_id": offering.json()["id"], "organization_id": organization["id"]},
    )
    assert acquired.status_code == 201, acquired.text
    acquisition_id: str = acquired.json()["id"]
    return acquisition_id


def test_acquisition_keys_are_shown_once_and_listed_without_secret(
    api: TestClient, provider: dict[str, str], acquisition: str
) -> None:
    created = api.post(
        f"/v1/acquisitions/{acquisition}/keys", headers=provider, json={"name": "alice"}
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    assert created.json()["key"]
    assert created.json()["kind"] == "acquisition"
    again = api.post(
        f"/v1/acquisitions/{acquisition}/keys", headers=provider, json={"name": "alice"}
    )
    assert again.status_code == 409
    listed = api.get(f"/v1/acquisitions/{acquisition}/keys", headers=provider).json()
    assert [k["name"] for k in listed["data"]] == ["alice"]
    assert "key" not in listed["data"][0]
    verified = api.post(
        "/v1/keys/verify", headers=provider, json={"key": created.json()["key"]}
    ).json()
    assert verified["valid"]
    assert verified["acquisition_id"] == acquisition
    assert (
        api.post(f"/v1/acquisitions/{acquisition}/reacquire", headers=provider).status_code == 200
    )
    key_url = f"/v1/keys/{created.json()['id']}"
    refused = api.delete(key_url, headers=provider)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "key_not_revoked"
    assert api.delete(key_url, headers=provider, params={"revoke": "true"}).status_code == 204
    assert api.get(key_url, headers=provider).status_code == 404


@pytest.mark.parametrize(("version", "fmt"), [("3.0", "json"), ("3.0", "yaml"), ("2.0", "yaml")])
def test_export_downloads_a_valid_spec(
    api: TestClient, provider: dict[str, str], acquisition: str, version: str, fmt: str
) -> None:
    response = api.get(
        f"/v1/acquisitions/{acquisition}/openapi",
        headers=provider,
        params={"version": version, "format": fmt},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(f"application/{fmt}")
    assert (
        f'filename="{acquisition}-openapi-{version}.{fmt}"'
        in response.headers["content-disposition"]
    )
    document = json.loads(response.content) if fmt == "json" else yaml.safe_load(response.content)
    validate(document)
    assert document.get("openapi", document.get("swagger", "")).startswith(version[0])


def test_export_parameters_are_validated(
    api: TestClient, provider: dict[str, str], acquisition: str
) -> None:
    for params in ({"version": "1.2"}, {"format": "xml"}):
        response = api.get(
            f"/v1/acquisitions/{acquisition}/openapi", headers=provider, params=params
        )
        assert response.status_code == 422
    missing = api.get("/v1/acquisitions/acq_00000000000000000000000000/openapi", headers=provider)
    assert missing.status_code == 404


def test_offerings_take_show_and_replace_limits(api: TestClient, provider: dict[str, str]) -> None:
    api_id = _import(api, provider, PETSTORE_30)["id"]
    limits = [
        {"scope": "key", "requests": 10, "per": "PT1S"},
        {"scope": "acquisition", "requests": 100000, "per": "P30D"},
    ]
    created = api.post(
        "/v1/offerings",
        headers=provider,
        json={"api_id": api_id, "name": "Metered", "limits": limits},
    )
    assert created.status_code == 201, created.text
    assert created.json()["limits"] == limits
    offering = f"/v1/offerings/{created.json()['id']}"
    assert api.get(offering, headers=provider).json()["limits"] == limits
    patched = api.patch(
        offering,
        headers=provider,
        json={"limits": [{"scope": "key", "requests": 5, "per": "PT1H"}]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["limits"] == [{"scope": "key", "requests": 5, "per": "PT1H"}]
    unlimited = api.post(
        "/v1/offerings", headers=provider, json={"api_id": api_id, "name": "Unmetered"}
    )
    assert unlimited.json()["limits"] == []


def test_offering_limits_that_do_not_validate_are_a_422(
    api: TestClient, provider: dict[str, str]
) -> None:
    api_id = _import(api, provider, PETSTORE_30)["id"]
    twice = [
        {"scope": "acquisition", "requests": 10, "per": "P1D"},
        {"scope": "acquisition", "requests": 20, "per": "PT24H"},
    ]
    duplicate = api.post(
        "/v1/offerings", headers=provider, json={"api_id": api_id, "name": "x", "limits": twice}
    )
    assert assert_error(duplicate, 422, "duplicate_limit")["details"] == {
        "scope": "acquisition",
        "per": "P1D",
    }
    for limit in (
        {"scope": "key", "requests": 0, "per": "PT1S"},
        {"scope": "key", "requests": 1, "per": "PT0S"},
        {"scope": "key", "requests": 1, "per": "P2Y"},
        {"scope": "everyone", "requests": 1, "per": "PT1S"},
        {"scope": "key", "requests": 1, "per": "PT1S", "burst": 5},
    ):
        response = api.post(
            "/v1/offerings",
            headers=provider,
            json={"api_id": api_id, "name": "x", "limits": [limit]},
        )
        assert_error(response, 422, "validation_failed")
    assert api.get("/v1/offerings", headers=provider).json()["data"] == []


@pytest.mark.parametrize("name", ["", "api key", "api:key", "api\r\nX-Injected: 1"])
def test_a_scheme_name_that_could_not_travel_is_a_422_at_its_pointer(
    api: TestClient, provider: dict[str, str], name: str
) -> None:
    spec = json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "components": {
                "securitySchemes": {name: {"type": "apiKey", "in": "header", "name": "X-Key"}}
            },
            "security": [{name: []}],
            "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}},
        }
    )
    response = api.post(
        "/v1/apis",
        headers=provider,
        json={
            "name": "n",
            "upstream_url": "https://u.example.com",
            "mount_path": "m",
            "spec": spec,
        },
    )
    error = assert_error(response, 422, "invalid_spec")
    [problem] = error["details"]["problems"]
    assert problem["code"] == "security_scheme_name_invalid"
    assert problem["pointer"] == f"/components/securitySchemes/{name}"
    assert api.get("/v1/apis", headers=provider).json()["data"] == []


def test_weakening_security_is_a_409_naming_the_operations_until_confirmed(
    api: TestClient, provider: dict[str, str]
) -> None:
    imported = _import(api, provider, PETSTORE_30)
    assert imported["version"]["public_operations"] == ["GET /health"]
    public = PETSTORE_30.replace(
        "      operationId: listPets\n", "      operationId: listPets\n      security: []\n"
    )
    path = f"/v1/apis/{imported['id']}/versions"
    refused = api.post(path, headers=provider, json={"spec": public})
    error = assert_error(refused, 409, "security_weakened")
    assert error["details"] == {"operations": ["GET /pets"]}
    assert api.get(f"/v1/apis/{imported['id']}", headers=provider).json()["current_version"] == 1
    stored = api.post(
        path, headers=provider, json={"spec": public, "confirm_weaker_security": True}
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["changes"]["weakened"] == ["GET /pets"]
    assert stored.json()["public_operations"] == ["GET /health", "GET /pets"]
