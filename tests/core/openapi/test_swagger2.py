"""OpenAPI 2.0 -> 3.0: the reference converter's golden pairs, and one test per rule."""

from pathlib import Path
from typing import Any

import pytest

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import ConversionError, copy_json
from keyward.core.openapi.swagger2 import to_openapi3
from tests.core.openapi.conversion_support import load, unresolved_refs, validation_errors
from tests.fixtures import OPENAPI_FIXTURES, openapi_fixtures

GOLDEN = OPENAPI_FIXTURES / "s2o-golden"
GOLDEN_CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) if GOLDEN.is_dir() else []
# Names the reference converter makes up, and the 2.0 body name keyward keeps as an extension.
ARBITRARY_EXTENSIONS = ("x-s2o-", "x-codegen-request-body-name")


def swagger(**fields: Any) -> Document:
    doc: Document = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    doc.update(fields)
    return doc


def operation(**fields: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"responses": {"200": {"description": "OK"}}}
    op.update(fields)
    return op


def converted_operation(op: dict[str, Any], **fields: Any) -> dict[str, Any]:
    result = to_openapi3(swagger(paths={"/things": {"post": op}}, **fields))
    assert validation_errors(result) == []
    converted: dict[str, Any] = result["paths"]["/things"]["post"]
    return converted


def _comparable(doc: Document) -> Document:
    """The golden form: request bodies inlined (the reference shares identical ones under names
    it makes up) and made-up extensions removed."""
    doc = copy_json(doc)
    doc.pop("openapi")
    bodies = doc.get("components", {}).pop("requestBodies", {})
    for item in doc["paths"].values():
        for op in item.values():
            body = op.get("requestBody", {})
            if "$ref" in body:
                op["requestBody"] = copy_json(bodies[body["$ref"].rsplit("/", 1)[1]])
            for key in [k for k in op.get("requestBody", {}) if k.startswith(ARBITRARY_EXTENSIONS)]:
                del op["requestBody"][key]
    return doc


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_pair_matches_the_reference_converter(case: str) -> None:
    root: Path = openapi_fixtures() / "s2o-golden" / case
    converted = to_openapi3(load(root / "swagger.yaml"))
    assert _comparable(converted) == _comparable(load(root / "openapi.yaml"))
    assert validation_errors(converted) == []


def test_unquoted_swagger_version_is_accepted() -> None:
    doc = swagger()
    doc["swagger"] = 2.0
    assert to_openapi3(doc)["openapi"] == "3.0.3"


@pytest.mark.parametrize("version", ["1.2", "3.0.0", None])
def test_other_versions_are_refused(version: str | None) -> None:
    with pytest.raises(ConversionError) as raised:
        to_openapi3(swagger(swagger=version))
    assert raised.value.code == "unsupported_version"


@pytest.mark.parametrize(
    ("fields", "servers"),
    [
        (
            {"host": "api.example.com", "basePath": "/v1", "schemes": ["https", "http"]},
            [{"url": "https://api.example.com/v1"}, {"url": "http://api.example.com/v1"}],
        ),
        ({"host": "api.example.com:8443"}, [{"url": "//api.example.com:8443"}]),
        ({"host": "api.example.com", "basePath": "/"}, [{"url": "//api.example.com"}]),
        ({"basePath": "/v1", "schemes": ["https"]}, [{"url": "/v1"}]),
        ({}, None),
    ],
)
def test_host_base_path_and_schemes_become_servers(
    fields: dict[str, Any], servers: list[dict[str, str]] | None
) -> None:
    assert to_openapi3(swagger(**fields)).get("servers") == servers


def test_operation_schemes_other_than_the_documents_become_operation_servers() -> None:
    op = converted_operation(
        operation(schemes=["wss"]), host="h.example", basePath="/b", schemes=["https"]
    )
    assert op["servers"] == [{"url": "wss://h.example/b"}]


def test_definitions_move_to_components_with_every_ref_rewritten() -> None:
    doc = swagger(
        definitions={
            "Pet": {
                "type": "object",
                "properties": {
                    "owner": {"$ref": "#/definitions/Owner"},
                    "tags": {"type": "array", "items": {"$ref": "#/definitions/Tag"}},
                    "either": {"allOf": [{"$ref": "#/definitions/Tag"}]},
                    "extra": {"additionalProperties": {"$ref": "#/definitions/Tag"}},
                },
            },
            "Owner": {"type": "object"},
            "Tag": {"type": "string"},
        },
        paths={
            "/pets": {
                "get": operation(
                    responses={
                        "200": {"description": "OK", "schema": {"$ref": "#/definitions/Pet"}}
                    }
                )
            }
        },
    )
    result = to_openapi3(doc)
    pet = result["components"]["schemas"]["Pet"]["properties"]
    assert pet["owner"] == {"$ref": "#/components/schemas/Owner"}
    assert pet["tags"]["items"] == {"$ref": "#/components/schemas/Tag"}
    assert pet["either"]["allOf"] == [{"$ref": "#/components/schemas/Tag"}]
    assert pet["extra"]["additionalProperties"] == {"$ref": "#/components/schemas/Tag"}
    assert "definitions" not in result
    assert unresolved_refs(result) == []


def test_a_property_named_ref_is_a_property_not_a_reference() -> None:
    doc = swagger(
        definitions={
            "Link": {
                "type": "object",
                "properties": {"$ref": {"type": "string"}, "href": {"type": "string"}},
                "example": {"$ref": "#/definitions/Nowhere"},
            }
        }
    )
    link = to_openapi3(doc)["components"]["schemas"]["Link"]
    assert link["properties"]["$ref"] == {"type": "string"}
    assert link["example"] == {"$ref": "#/definitions/Nowhere"}


def test_component_names_3_0_cannot_have_are_made_valid_and_refs_follow() -> None:
    doc = swagger(
        definitions={"Page«Pet»": {"type": "object"}, "Page_Pet_": {"type": "string"}},
        paths={
            "/p": {
                "get": operation(
                    responses={
                        "200": {
                            "description": "OK",
                            "schema": {"$ref": "#/definitions/Page%C2%ABPet%C2%BB"},
                        }
                    }
                )
            }
        },
    )
    result = to_openapi3(doc)
    schemas = result["components"]["schemas"]
    assert set(schemas) == {"Page_Pet_", "Page_Pet_2"}
    content = result["paths"]["/p"]["get"]["responses"]["200"]["content"]["*/*"]
    assert content["schema"] == {"$ref": "#/components/schemas/Page_Pet_2"}
    assert schemas["Page_Pet_2"] == {"type": "object"}


def test_body_parameter_becomes_request_body_per_consumes() -> None:
    body = {
        "name": "pet",
        "in": "body",
        "required": True,
        "description": "A pet",
        "schema": {"type": "object"},
        "x-origin": "form",
    }
    op = converted_operation(
        operation(parameters=[body], consumes=["application/json", "application/xml"])
    )
    assert "parameters" not in op
    assert op["requestBody"] == {
        "description": "A pet",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "object"}},
        },
        "required": True,
        "x-codegen-request-body-name": "pet",
        "x-origin": "form",
    }


def test_body_without_consumes_uses_the_documents_or_json() -> None:
    body = {"name": "body", "in": "body", "schema": {"type": "string"}}
    assert list(converted_operation(operation(parameters=[body]))["requestBody"]["content"]) == [
        "application/json"
    ]
    op = converted_operation(operation(parameters=[body]), consumes=["text/plain"])
    assert list(op["requestBody"]["content"]) == ["text/plain"]


def test_form_data_becomes_an_urlencoded_object_schema() -> None:
    fields = [
        {"name": "name", "in": "formData", "type": "string", "required": True, "x-example": "Rex"},
        {"name": "age", "in": "formData", "type": "integer", "minimum": 0},
    ]
    op = converted_operation(
        operation(parameters=fields, consumes=["application/x-www-form-urlencoded"])
    )
    assert op["requestBody"] == {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {"example": "Rex", "type": "string"},
                        "age": {"type": "integer", "minimum": 0},
                    },
                    "required": ["name"],
                }
            }
        },
        "required": True,
    }


def test_file_upload_becomes_multipart_binary() -> None:
    fields = [
        {"name": "file", "in": "formData", "type": "file", "description": "The image"},
        {"name": "caption", "in": "formData", "type": "string"},
    ]
    op = converted_operation(operation(parameters=fields, consumes=["multipart/form-data"]))
    schema = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"] == {
        "description": "The image",
        "type": "string",
        "format": "binary",
    }
    # Without consumes, a file still needs multipart.
    op = converted_operation(operation(parameters=fields[:1]))
    assert list(op["requestBody"]["content"]) == ["multipart/form-data"]


@pytest.mark.parametrize(
    ("collection_format", "location", "serialisation"),
    [
        ("csv", "query", {"style": "form", "explode": False}),
        (None, "query", {"style": "form", "explode": False}),
        ("multi", "query", {"explode": True}),
        ("ssv", "query", {"style": "spaceDelimited"}),
        ("pipes", "query", {"style": "pipeDelimited"}),
        ("tsv", "query", {"x-collectionFormat": "tsv"}),
        ("csv", "header", {"style": "simple"}),
        ("csv", "path", {"style": "simple"}),
        ("ssv", "header", {"x-collectionFormat": "ssv"}),
        ("pipes", "path", {"x-collectionFormat": "pipes"}),
    ],
)
def test_collection_format_becomes_style_and_explode(
    collection_format: str | None, location: str, serialisation: dict[str, Any]
) -> None:
    param: dict[str, Any] = {
        "name": "ids",
        "in": location,
        "type": "array",
        "items": {"type": "integer", "collectionFormat": "csv"},
        "required": location == "path",
    }
    if collection_format:
        param["collectionFormat"] = collection_format
    doc = swagger(
        paths={
            "/t/{ids}": {
                "parameters": [{"name": "ids", "in": "path", "type": "string", "required": True}],
                "get": operation(parameters=[param]),
            }
        }
    )
    converted = to_openapi3(doc)["paths"]["/t/{ids}"]["get"]["parameters"][0]
    expected = {"name": "ids", "in": location, "required": location == "path", **serialisation}
    expected["schema"] = {"type": "array", "items": {"type": "integer"}}
    assert converted == expected


def test_response_schema_and_produces_become_content_with_examples_and_headers() -> None:
    response = {
        "description": "A pet",
        "schema": {"$ref": "#/definitions/Pet"},
        "examples": {"application/json": {"name": "Rex"}},
        "headers": {
            "X-Rate-Limit": {"type": "integer", "format": "int32", "description": "Calls left"}
        },
        "x-cache": "1h",
    }
    doc = swagger(
        definitions={"Pet": {"type": "object"}},
        produces=["application/json"],
        paths={"/pets": {"get": operation(responses={"200": response})}},
    )
    converted = to_openapi3(doc)["paths"]["/pets"]["get"]["responses"]["200"]
    assert converted == {
        "description": "A pet",
        "headers": {
            "X-Rate-Limit": {
                "description": "Calls left",
                "schema": {"type": "integer", "format": "int32"},
            }
        },
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Pet"},
                "example": {"name": "Rex"},
            }
        },
        "x-cache": "1h",
    }


def test_response_without_produces_says_any_media_type() -> None:
    op = converted_operation(
        operation(responses={"200": {"description": "OK", "schema": {"type": "string"}}})
    )
    assert op["responses"]["200"]["content"] == {"*/*": {"schema": {"type": "string"}}}


def test_x_nullable_becomes_nullable_and_x_discriminator_a_discriminator() -> None:
    doc = swagger(
        definitions={
            "Pet": {
                "type": "object",
                "x-nullable": True,
                "discriminator": "kind",
                "x-discriminator": {
                    "propertyName": "kind",
                    "mapping": {"dog": "#/definitions/Dog"},
                },
                "properties": {
                    "kind": {"type": "string"},
                    "name": {"type": "string", "x-nullable": True},
                },
            },
            "Dog": {"type": "object"},
        }
    )
    pet = to_openapi3(doc)["components"]["schemas"]["Pet"]
    assert pet["nullable"] is True
    assert pet["properties"]["name"] == {"type": "string", "nullable": True}
    assert pet["discriminator"] == {
        "propertyName": "kind",
        "mapping": {"dog": "#/components/schemas/Dog"},
    }
    assert not any(key.startswith("x-") for key in pet)


def test_extensions_are_kept_everywhere() -> None:
    doc = swagger(
        **{"x-top": {"a": 1}},
        info={"title": "t", "version": "1", "x-logo": "l.png"},
        securityDefinitions={"key": {"type": "apiKey", "in": "header", "name": "K", "x-scheme": 1}},
        definitions={"Pet": {"type": "object", "x-schema": True}},
        paths={
            "x-path-extension": {"kept": True},
            "/pets": {
                "x-item": 2,
                "get": operation(
                    **{"x-op": 3},
                    parameters=[{"name": "q", "in": "query", "type": "string", "x-param": 4}],
                    responses={"200": {"description": "OK", "x-response": 5}, "x-responses": 6},
                ),
            },
        },
    )
    result = to_openapi3(doc)
    pets = result["paths"]["/pets"]
    assert result["x-top"] == {"a": 1}
    assert result["info"]["x-logo"] == "l.png"
    assert result["components"]["securitySchemes"]["key"]["x-scheme"] == 1
    assert result["components"]["schemas"]["Pet"]["x-schema"] is True
    assert result["paths"]["x-path-extension"] == {"kept": True}
    assert pets["x-item"] == 2
    assert pets["get"]["x-op"] == 3
    assert pets["get"]["parameters"][0]["x-param"] == 4
    assert pets["get"]["responses"]["200"]["x-response"] == 5
    assert pets["get"]["responses"]["x-responses"] == 6
    assert validation_errors(result) == []


def test_refs_inside_extensions_follow_the_components() -> None:
    doc = swagger(
        definitions={"Pet": {"type": "object", "x-related": {"$ref": "#/definitions/Pet"}}}
    )
    pet = to_openapi3(doc)["components"]["schemas"]["Pet"]
    assert pet["x-related"] == {"$ref": "#/components/schemas/Pet"}


@pytest.mark.parametrize("security", [[], [{}], [{"key": []}, {}], [{"key": [], "basic": []}]])
def test_security_requirements_are_copied_unchanged(security: list[dict[str, list[str]]]) -> None:
    schemes = {"key": {"type": "apiKey", "in": "query", "name": "k"}, "basic": {"type": "basic"}}
    doc = swagger(
        securityDefinitions=schemes,
        security=security,
        paths={"/p": {"get": operation(security=security)}},
    )
    result = to_openapi3(doc)
    assert result["security"] == security
    assert result["paths"]["/p"]["get"]["security"] == security


def test_security_schemes_basic_api_key_and_oauth2_flows() -> None:
    scopes = {"read": "Read things"}
    definitions = {
        "basic": {"type": "basic", "description": "Users"},
        "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "implicit": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "https://a/auth",
            "scopes": scopes,
        },
        "password": {
            "type": "oauth2",
            "flow": "password",
            "tokenUrl": "https://a/token",
            "scopes": scopes,
        },
        "application": {
            "type": "oauth2",
            "flow": "application",
            "tokenUrl": "https://a/token",
            "scopes": {},
        },
        "accessCode": {
            "type": "oauth2",
            "flow": "accessCode",
            "authorizationUrl": "https://a/auth",
            "tokenUrl": "https://a/token",
            "scopes": scopes,
        },
    }
    result = to_openapi3(swagger(securityDefinitions=definitions))
    schemes = result["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic", "description": "Users"}
    assert schemes["key"] == {"type": "apiKey", "name": "X-Key", "in": "header"}
    assert schemes["implicit"]["flows"] == {
        "implicit": {"authorizationUrl": "https://a/auth", "scopes": scopes}
    }
    assert schemes["password"]["flows"] == {
        "password": {"tokenUrl": "https://a/token", "scopes": scopes}
    }
    assert schemes["application"]["flows"] == {
        "clientCredentials": {"tokenUrl": "https://a/token", "scopes": {}}
    }
    assert schemes["accessCode"]["flows"] == {
        "authorizationCode": {
            "authorizationUrl": "https://a/auth",
            "tokenUrl": "https://a/token",
            "scopes": scopes,
        }
    }
    assert validation_errors(result) == []


def test_shared_parameters_become_components_and_form_or_body_ones_request_bodies() -> None:
    doc = swagger(
        parameters={
            "limit": {"name": "limit", "in": "query", "type": "integer"},
            "note": {"name": "note", "in": "formData", "type": "string", "required": True},
            "pet": {"name": "pet", "in": "body", "schema": {"type": "object"}},
        },
        paths={
            "/notes": {
                "post": operation(
                    parameters=[{"$ref": "#/parameters/limit"}, {"$ref": "#/parameters/note"}]
                )
            },
            "/pets": {"post": operation(parameters=[{"$ref": "#/parameters/pet"}])},
        },
    )
    result = to_openapi3(doc)
    components = result["components"]
    assert set(components["parameters"]) == {"limit"}
    notes = result["paths"]["/notes"]["post"]
    assert notes["parameters"] == [{"$ref": "#/components/parameters/limit"}]
    form = notes["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["note"]
    assert result["paths"]["/pets"]["post"]["requestBody"] == {
        "$ref": "#/components/requestBodies/pet"
    }
    assert components["requestBodies"]["pet"]["content"] == {
        "application/json": {"schema": {"type": "object"}}
    }
    assert validation_errors(result) == []


def test_path_level_body_applies_to_each_operation_unless_overridden() -> None:
    shared = {"name": "body", "in": "body", "schema": {"type": "string"}}
    own = {"name": "body", "in": "body", "schema": {"type": "integer"}}
    doc = swagger(
        paths={
            "/p": {"parameters": [shared], "put": operation(), "post": operation(parameters=[own])}
        }
    )
    item = to_openapi3(doc)["paths"]["/p"]
    assert "parameters" not in item
    assert item["put"]["requestBody"]["content"]["application/json"]["schema"] == {"type": "string"}
    assert item["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "type": "integer"
    }


def test_schema_referring_to_a_whole_response_means_its_schema() -> None:
    doc = swagger(
        responses={
            "empty": {"description": "Nothing"},
            "pet": {"description": "A pet", "schema": {"$ref": "#/definitions/Pet"}},
        },
        definitions={"Pet": {"type": "object"}},
        paths={
            "/p": {
                "get": operation(
                    responses={
                        "200": {"description": "OK", "schema": {"$ref": "#/responses/pet"}},
                        "204": {"description": "Gone", "schema": {"$ref": "#/responses/empty"}},
                    }
                )
            }
        },
    )
    responses = to_openapi3(doc)["paths"]["/p"]["get"]["responses"]
    assert responses["200"]["content"]["*/*"]["schema"] == {"$ref": "#/components/schemas/Pet"}
    assert responses["204"]["content"]["*/*"]["schema"] == {}


def test_a_schema_reached_by_a_path_pointer_gets_a_component_of_its_own() -> None:
    inline = {"type": "object", "properties": {"id": {"type": "integer"}}}
    doc = swagger(
        paths={
            "/a": {"get": operation(responses={"200": {"description": "OK", "schema": inline}})},
            "/b": {
                "get": operation(
                    responses={
                        "200": {
                            "description": "OK",
                            "schema": {"$ref": "#/paths/~1a/get/responses/200/schema"},
                        }
                    }
                )
            },
        }
    )
    result = to_openapi3(doc)
    ref = result["paths"]["/b"]["get"]["responses"]["200"]["content"]["*/*"]["schema"]["$ref"]
    assert ref.startswith("#/components/schemas/")
    assert result["components"]["schemas"][ref.rsplit("/", 1)[1]] == inline
    assert unresolved_refs(result) == []


def test_the_input_document_is_not_changed() -> None:
    doc = swagger(
        host="h",
        definitions={"Pet": {"type": "object", "x-nullable": True}},
        parameters={"f": {"name": "f", "in": "formData", "type": "file"}},
        paths={
            "/p": {
                "post": operation(
                    parameters=[{"$ref": "#/parameters/f"}], consumes=["multipart/form-data"]
                )
            }
        },
    )
    before = copy_json(doc)
    to_openapi3(doc)
    assert doc == before
