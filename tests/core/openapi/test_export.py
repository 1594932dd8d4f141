"""The exported spec: gateway servers, only the offered operations, keys as the policy says."""

from typing import Any

import pytest
from openapi_spec_validator import validate

from keyward.core.openapi.export import (
    UNAUTHORIZED,
    OperationFilter,
    base_path,
    export_as,
    export_document,
)
from keyward.core.openapi.security import (
    DEFAULT_SCHEME,
    KeyLocation,
    KeyRole,
    Location,
    default_locations,
)

GATEWAY = "https://gw.example.com/pets/v1"


def petstore(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "paths": {
            "/pets": {
                "get": {
                    "operationId": "listPets",
                    "tags": ["pets"],
                    "responses": {"200": {"description": "ok"}},
                },
                "post": {
                    "operationId": "createPet",
                    "tags": ["admin"],
                    "responses": {"201": {"description": "made"}},
                },
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "security": [],
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
    }
    doc.update(extra)
    return doc


def test_servers_point_at_the_gateway_and_the_default_key_is_injected() -> None:
    doc = petstore()
    exported = export_document(doc, default_locations(doc), server_url=GATEWAY, realm="Pets")
    validate(exported)
    assert exported["servers"][0]["url"] == GATEWAY
    scheme = exported["components"]["securitySchemes"][DEFAULT_SCHEME]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    listing = exported["paths"]["/pets"]["get"]
    assert listing["security"] == [{DEFAULT_SCHEME: []}]
    assert listing["responses"]["401"] == {"$ref": f"#/components/responses/{UNAUTHORIZED}"}
    health = exported["paths"]["/health"]["get"]
    assert health["security"] == []
    assert "401" not in health["responses"]
    assert "WWW-Authenticate" in exported["components"]["responses"][UNAUTHORIZED]["headers"]
    assert doc == petstore(), "the stored spec is not changed"


def test_injected_names_never_collide_with_the_providers() -> None:
    own = {"type": "http", "scheme": "basic"}
    doc = petstore(
        components={
            "securitySchemes": {DEFAULT_SCHEME: own},
            "responses": {UNAUTHORIZED: {"description": "theirs"}},
        },
        security=[{DEFAULT_SCHEME: []}],
    )
    exported = export_document(doc, default_locations(doc), server_url=GATEWAY, realm="Pets")
    validate(exported)
    schemes = exported["components"]["securitySchemes"]
    assert schemes[DEFAULT_SCHEME] == own
    injected = f"{DEFAULT_SCHEME}2"
    assert schemes[injected]["type"] == "apiKey"
    assert exported["paths"]["/pets"]["get"]["security"] == [{DEFAULT_SCHEME: [], injected: []}]
    responses = exported["components"]["responses"]
    assert responses[UNAUTHORIZED] == {"description": "theirs"}
    assert f"{UNAUTHORIZED}2" in responses


def test_the_specs_api_keys_keep_their_and_or_and_passthrough_stays() -> None:
    doc = petstore(
        components={
            "securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                "tenant": {"type": "apiKey", "in": "query", "name": "tenant"},
            }
        },
        security=[{"key": [], "tenant": []}, {"key": []}],
    )
    locations = [
        KeyLocation("key", Location.HEADER, "X-Key", KeyRole.KEY),
        KeyLocation("tenant", Location.QUERY, "tenant", KeyRole.PASSTHROUGH),
    ]
    exported = export_document(doc, locations, server_url=GATEWAY, realm="Pets")
    validate(exported)
    assert exported["paths"]["/pets"]["get"]["security"] == [{"key": [], "tenant": []}, {"key": []}]
    assert "passed through" in exported["components"]["securitySchemes"]["tenant"]["description"]


@pytest.mark.parametrize(
    ("selection", "kept"),
    [
        (OperationFilter(tags=frozenset({"pets"})), {("/pets", "get")}),
        (
            OperationFilter(operation_ids=frozenset({"createPet", "health"})),
            {("/pets", "post"), ("/health", "get")},
        ),
        (None, {("/pets", "get"), ("/pets", "post"), ("/health", "get")}),
    ],
)
def test_only_the_offered_operations_remain(
    selection: OperationFilter | None, kept: set[tuple[str, str]]
) -> None:
    doc = petstore()
    exported = export_document(
        doc, default_locations(doc), server_url=GATEWAY, realm="Pets", operations=selection
    )
    validate(exported)
    remaining = {(path, method) for path, item in exported["paths"].items() for method in item}
    assert remaining == kept


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ([{"url": "https://api.example.com/v1/"}], "/v1"),
        ([{"url": "https://api.example.com"}], ""),
        ([{"url": "/v1.41"}], "/v1.41"),
        (
            [
                {
                    "url": "https://{host}/{base}",
                    "variables": {"host": {"default": "h"}, "base": {"default": "api"}},
                }
            ],
            "/api",
        ),
        ([], ""),
    ],
)
def test_base_path_is_the_path_of_the_first_server(
    servers: list[dict[str, Any]], expected: str
) -> None:
    assert base_path(petstore(servers=servers)) == expected


def _codes(exported: dict[str, Any], path: str, method: str, status: str) -> list[str]:
    name = exported["paths"][path][method]["responses"][status]["$ref"].rsplit("/", 1)[1]
    content = exported["components"]["responses"][name]["content"]["application/json"]
    codes: list[str] = content["schema"]["properties"]["error"]["properties"]["code"]["enum"]
    return codes


def test_401_403_and_429_list_every_code_the_gateway_can_answer_the_operation() -> None:
    doc = petstore(
        components={
            "securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                "tenant": {"type": "apiKey", "in": "header", "name": "X-Tenant"},
                "jar": {"type": "apiKey", "in": "cookie", "name": "jar"},
            }
        },
        security=[{"key": []}],
    )
    doc["paths"]["/pets"]["post"]["security"] = [{"key": [], "tenant": []}, {"jar": []}]
    locations = [
        KeyLocation("key", Location.HEADER, "X-Key", KeyRole.KEY),
        KeyLocation("tenant", Location.HEADER, "X-Tenant", KeyRole.PASSTHROUGH),
        KeyLocation("jar", Location.COOKIE, "jar", KeyRole.KEY),
    ]
    exported = export_document(doc, locations, server_url=GATEWAY, realm="Pets", limited=True)
    validate(exported)
    assert _codes(exported, "/pets", "get", "401") == [
        "key_missing",
        "key_invalid",
        "key_expired",
        "key_rotated",
        "key_revoked",
        "key_disabled",
    ]
    assert "credential_missing" not in _codes(exported, "/pets", "get", "401")
    assert "credential_missing" in _codes(exported, "/pets", "post", "401")
    assert "cross_site_request" not in _codes(exported, "/pets", "get", "403")
    assert "cross_site_request" in _codes(exported, "/pets", "post", "403")
    assert {"wrong_api", "operation_not_in_offering", "acquisition_expired"} <= set(
        _codes(exported, "/pets", "get", "403")
    )
    assert _codes(exported, "/pets", "get", "429") == ["rate_limited", "too_many_failed_keys"]
    health = exported["paths"]["/health"]["get"]["responses"]
    assert not {"401", "403", "429"} & set(health)
    unlimited = export_document(doc, locations, server_url=GATEWAY, realm="Pets")
    # Without limits a keyed operation is refused lookups still, for a client's flood of keys.
    assert _codes(unlimited, "/pets", "get", "429") == ["too_many_failed_keys"]


def test_an_openapi_2_export_keeps_every_code_of_its_refusals() -> None:
    doc = petstore()
    exported = export_as(
        doc,
        default_locations(doc),
        version="2.0",
        server_url=GATEWAY,
        realm="Pets",
        limited=True,
    ).document
    validate(exported)
    for status, code in (("401", "key_rotated"), ("403", "wrong_api"), ("429", "rate_limited")):
        name = exported["paths"]["/pets"]["get"]["responses"][status]["$ref"].rsplit("/", 1)[1]
        schema = exported["responses"][name]["schema"]
        assert code in schema["properties"]["error"]["properties"]["code"]["enum"]
