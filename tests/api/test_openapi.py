"""`GET /openapi.json`: a valid OpenAPI document that describes the API as it behaves.

Clients are generated from this document and tools check requests against it, so it must say how
to authenticate every call, which errors each call answers and in what shape, and list every
resource of the management API.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import UnresolvableParameterError

from keyward.db.engine import Database
from tests.api.error_bodies import assert_error
from tests.factories import bearer, make_workspace

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# The resources of this issue and the verbs DESIGN.md §6 gives them (extend, don't rename).
RESOURCES = {
    "/v1/me": {"get"},
    "/v1/members": {"get", "post"},
    "/v1/members/{member_id}": {"get", "patch", "delete"},
    "/v1/members/{member_id}/permissions": {"get", "put"},
    "/v1/organizations": {"get", "post"},
    "/v1/organizations/{organization_id}": {"get", "patch", "delete"},
    "/v1/keys": {"get", "post"},
    "/v1/keys/{key_id}": {"get", "patch", "delete"},
    "/v1/keys/{key_id}/revoke": {"post"},
    "/v1/keys/verify": {"post"},
    "/v1/keys/{key_id}/usage": {"get"},
    "/v1/audit-events": {"get"},
    "/v1/apis": {"get", "post"},
    "/v1/apis/{api_id}": {"get", "patch", "delete"},
    "/v1/apis/{api_id}/versions": {"get", "post"},
    "/v1/apis/{api_id}/policy": {"get", "put"},
    "/v1/offerings": {"get", "post"},
    "/v1/offerings/{offering_id}": {"get", "patch", "delete"},
    "/v1/acquisitions": {"get", "post"},
    "/v1/acquisitions/{acquisition_id}": {"get"},
    "/v1/acquisitions/{acquisition_id}/reacquire": {"post"},
    "/v1/acquisitions/{acquisition_id}/keys": {"get", "post"},
    "/v1/acquisitions/{acquisition_id}/openapi": {"get"},
    "/v1/acquisitions/{acquisition_id}/connectors": {"get", "post"},
    "/v1/connectors/{connector_id}": {"get", "delete"},
    "/v1/connectors/{connector_id}/deliveries": {"get"},
}


def document(api: TestClient) -> dict[str, Any]:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def management_operations(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation under /v1."""
    found = 0
    for path, item in doc["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            if method in METHODS:
                found += 1
                yield path, method, operation
    assert found >= len(RESOURCES), "the document lists fewer operations than expected"


def resolve(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        target: Mapping[str, Any] = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def schemes(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = doc.get("components", {}).get("securitySchemes", {})
    return found


def bearer_scheme(doc: Mapping[str, Any]) -> str:
    (name,) = [
        name
        for name, scheme in schemes(doc).items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    ]
    return name


def api_key_scheme(doc: Mapping[str, Any]) -> str:
    (name,) = [
        name
        for name, scheme in schemes(doc).items()
        if scheme.get("type") == "apiKey"
        and scheme.get("in") == "header"
        and scheme.get("name", "").lower() == "x-api-key"
    ]
    return name


def test_the_document_is_a_valid_openapi_3_document(api: TestClient) -> None:
    doc = document(api)
    assert doc["openapi"].startswith("3.")
    validate(doc)
    assert doc["info"]["title"] == "keyward"
    assert doc["info"]["version"]


def test_the_validator_used_here_refuses_a_broken_document(api: TestClient) -> None:
    broken = document(api)
    broken["paths"]["/v1/keys/{key_id}"]["get"]["parameters"] = []  # {key_id} now undeclared
    with pytest.raises(UnresolvableParameterError, match="key_id"):
        validate(broken)


def test_both_ways_of_sending_an_account_key_are_declared(api: TestClient) -> None:
    doc = document(api)
    assert bearer_scheme(doc) != api_key_scheme(doc)
    for scheme in schemes(doc).values():
        assert scheme.get("description"), "a scheme without a description"


def test_every_management_operation_takes_either_scheme(api: TestClient) -> None:
    doc = document(api)
    either: list[dict[str, list[str]]] = [{bearer_scheme(doc): []}, {api_key_scheme(doc): []}]
    for path, method, operation in management_operations(doc):
        security = operation.get("security", doc.get("security"))
        assert security is not None, f"{method.upper()} {path} declares no security"
        assert sorted(security, key=str) == sorted(either, key=str), (method, path, security)


def test_every_management_operation_is_refused_without_a_key(api: TestClient) -> None:
    doc = document(api)
    for path, method, _ in management_operations(doc):
        url = path.replace("{", "").replace("}", "")  # {key_id} -> key_id: any id will do
        response = api.request(
            method.upper(), url, json={} if method in ("post", "put", "patch") else None
        )
        error = assert_error(response, 401, "key_missing")
        assert "Authorization" in error["message"], (method, path)


def test_health_needs_no_key(api: TestClient) -> None:
    doc = document(api)
    assert not doc["paths"]["/healthz"]["get"].get("security")
    assert api.get("/healthz").json() == {"status": "ok"}


def test_every_management_operation_documents_its_errors_in_the_error_shape(
    api: TestClient,
) -> None:
    doc = document(api)
    for path, method, operation in management_operations(doc):
        statuses = {"401", "403", "422"} | ({"404"} if "{" in path else set())
        responses = operation["responses"]
        assert statuses <= set(responses), (method, path, sorted(responses))
        for status in statuses:
            answer = responses[status]
            assert answer.get("description"), (method, path, status)
            schema = resolve(doc, answer["content"]["application/json"]["schema"])
            assert schema["required"] == ["error"], (method, path, status)
            error = resolve(doc, schema["properties"]["error"])
            assert set(error["required"]) == {"code", "message", "details"}
            assert error["properties"]["code"]["type"] == "string"
            assert error["properties"]["message"]["type"] == "string"
            assert error["properties"]["details"]["type"] == "object"


def test_real_errors_match_the_documented_error_schema(api: TestClient, db: Database) -> None:
    doc = document(api)
    schema = doc["paths"]["/v1/keys/{key_id}"]["get"]["responses"]["404"]["content"][
        "application/json"
    ]["schema"]
    validator = OAS31Validator({**schema, "components": doc["components"]})
    headers = bearer(make_workspace(db).admin_key)
    for response in (
        api.get("/v1/me"),
        api.get("/v1/keys/key_unknown", headers=headers),
        api.post("/v1/keys", headers=headers, json={"name": 1}),
        api.post("/v1/keys", headers={**headers, "Content-Type": "application/json"}, content="{"),
        api.get("/v1/keys?limit=0", headers=headers),
    ):
        assert response.status_code >= 400
        validator.validate(response.json())
    assert not validator.is_valid({"error": {"code": "x", "message": "y"}})
    assert not validator.is_valid({"detail": "Not Found"})


def test_every_resource_of_the_management_api_is_listed_with_its_verbs(api: TestClient) -> None:
    doc = document(api)
    for path, verbs in RESOURCES.items():
        assert path in doc["paths"], f"{path} is missing"
        documented = {method for method in doc["paths"][path] if method in METHODS}
        assert verbs <= documented, (path, sorted(verbs - documented))


def test_every_operation_has_a_unique_operation_id_and_a_tag(api: TestClient) -> None:
    doc = document(api)
    ids = [operation["operationId"] for _, _, operation in management_operations(doc)]
    assert len(ids) == len(set(ids))
    for path, method, operation in management_operations(doc):
        assert operation.get("tags"), (method, path)


def test_path_parameters_are_declared_as_required_strings(api: TestClient) -> None:
    doc = document(api)
    for path, method, operation in management_operations(doc):
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
        in_template = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert set(declared) == in_template, (method, path)
        for parameter in declared.values():
            assert parameter["required"] is True
            assert parameter["schema"]["type"] == "string"


# GET paths without an id that answer one resource, not a page of them.
SINGLE_RESOURCES = frozenset({"/v1/me", "/v1/workspace/settings"})


def test_every_list_documents_its_pagination(api: TestClient) -> None:
    doc = document(api)
    lists = [
        (path, operation)
        for path, method, operation in management_operations(doc)
        if method == "get" and "{" not in path and path not in SINGLE_RESOURCES
    ]
    assert {path for path, _ in lists} >= {
        "/v1/members",
        "/v1/organizations",
        "/v1/keys",
        "/v1/audit-events",
    }
    for path, operation in lists:
        query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert {"limit", "cursor"} <= set(query), path
        assert query["limit"]["schema"]["minimum"] == 1, path
        assert query["limit"]["schema"]["maximum"] >= 1, path
        page = resolve(doc, operation["responses"]["200"]["content"]["application/json"]["schema"])
        assert {"data", "next_cursor"} <= set(page["properties"]), path


def test_bodies_refuse_unknown_fields_in_the_document_too(api: TestClient) -> None:
    doc = document(api)
    bodies = 0
    for path, method, operation in management_operations(doc):
        if "requestBody" not in operation:
            continue
        bodies += 1
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        if not operation["requestBody"].get("required"):
            # An optional body (POST .../revoke) is a model whose fields all have defaults.
            schema = next(s for s in schema["anyOf"] if "$ref" in s)
            assert not resolve(doc, schema).get("required"), (method, path)
        schema = resolve(doc, schema)
        assert schema.get("additionalProperties") is False, (method, path)
    assert bodies >= 8
