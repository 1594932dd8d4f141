"""The exported spec: gateway servers, only the offered operations, keys as the policy says."""

from typing import Any

import pytest
from openapi_spec_validator import validate

from keyward.core.openapi.export import UNAUTHORIZED, OperationFilter, base_path, export_document
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
