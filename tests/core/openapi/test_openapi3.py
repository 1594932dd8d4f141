"""OpenAPI 3.0 -> 2.0: one test per rule; what 2.0 cannot say is a warning, a cookie key a
refusal, and every result is valid 2.0."""

from typing import Any

import pytest

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import Conversion, ConversionError, copy_json
from keyward.core.openapi.openapi3 import to_swagger2
from keyward.core.openapi.swagger2 import to_openapi3
from tests.core.openapi.conversion_support import unresolved_refs, validation_errors

OK = {"200": {"description": "OK"}}


def openapi(**fields: Any) -> Document:
    doc: Document = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
    doc.update(fields)
    return doc


def operation(**fields: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"responses": copy_json(OK)}
    op.update(fields)
    return op


def export(doc: Document, *, strict: bool = False) -> Conversion:
    """`to_swagger2`, checking what every export must be: valid, with resolvable references."""
    conversion = to_swagger2(doc, strict=strict)
    assert validation_errors(conversion.document) == []
    assert unresolved_refs(conversion.document) == []
    return conversion


def codes(conversion: Conversion) -> list[str]:
    return [warning.code for warning in conversion.warnings]


def exported_operation(op: dict[str, Any], **fields: Any) -> tuple[dict[str, Any], list[str]]:
    conversion = export(openapi(paths={"/things": {"post": op}}, **fields))
    exported: dict[str, Any] = conversion.document["paths"]["/things"]["post"]
    return exported, codes(conversion)


def test_other_versions_are_refused() -> None:
    with pytest.raises(ConversionError) as raised:
        to_swagger2(openapi(openapi="3.1.0"))
    assert raised.value.code == "unsupported_version"


@pytest.mark.parametrize(
    ("servers", "expected", "warnings"),
    [
        (
            [{"url": "https://api.example.com/v1/"}],
            {"host": "api.example.com", "basePath": "/v1", "schemes": ["https"]},
            [],
        ),
        ([{"url": "/v1"}], {"basePath": "/v1"}, []),
        ([{"url": "//api.example.com"}], {"host": "api.example.com"}, []),
        (
            [{"url": "https://a.example/v1"}, {"url": "http://a.example/v1"}],
            {"host": "a.example", "basePath": "/v1", "schemes": ["https", "http"]},
            [],
        ),
        (
            [{"url": "https://a.example"}, {"url": "https://sandbox.example"}],
            {"host": "a.example", "schemes": ["https"]},
            ["multiple_servers"],
        ),
        (
            [
                {
                    "url": "{scheme}://a.example/{version}",
                    "variables": {
                        "scheme": {"default": "https", "enum": ["https", "http"]},
                        "version": {"default": "v2"},
                    },
                }
            ],
            {"host": "a.example", "basePath": "/v2", "schemes": ["https", "http"]},
            ["server_variables_substituted"],
        ),
        ([{"url": "ftp://a.example"}], {"host": "a.example"}, ["server_url_unsupported"]),
    ],
)
def test_servers_become_host_base_path_and_schemes(
    servers: list[dict[str, Any]], expected: dict[str, Any], warnings: list[str]
) -> None:
    conversion = export(openapi(servers=servers))
    exported = {
        key: conversion.document[key]
        for key in ("host", "basePath", "schemes")
        if key in conversion.document
    }
    assert exported == expected
    assert codes(conversion) == warnings


def test_multiple_servers_warning_points_at_the_server_left_out() -> None:
    conversion = export(openapi(servers=[{"url": "https://a"}, {"url": "https://b"}]))
    assert [(w.pointer, w.code) for w in conversion.warnings] == [
        ("/servers/1", "multiple_servers")
    ]


def test_component_schemas_become_definitions_with_refs_rewritten() -> None:
    doc = openapi(
        components={
            "schemas": {
                "Pet": {
                    "type": "object",
                    "properties": {
                        "owner": {"$ref": "#/components/schemas/Owner"},
                        "$ref": {"type": "string"},
                    },
                    "x-links": {"$ref": "#/components/schemas/Owner"},
                },
                "Owner": {"type": "object"},
            }
        },
        paths={
            "/pets": {
                "get": operation(
                    responses={
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                            },
                        }
                    }
                )
            }
        },
    )
    result = export(doc).document
    pet = result["definitions"]["Pet"]
    assert pet["properties"]["owner"] == {"$ref": "#/definitions/Owner"}
    assert pet["properties"]["$ref"] == {"type": "string"}
    assert pet["x-links"] == {"$ref": "#/definitions/Owner"}
    get = result["paths"]["/pets"]["get"]
    assert get["produces"] == ["application/json"]
    assert get["responses"]["200"]["schema"] == {"$ref": "#/definitions/Pet"}


def test_schema_keywords_2_0_lacks_are_kept_as_extensions_and_come_back() -> None:
    schema = {
        "type": "object",
        "nullable": True,
        "writeOnly": True,
        "deprecated": True,
        "discriminator": {
            "propertyName": "kind",
            "mapping": {"cat": "#/components/schemas/Cat"},
        },
        "properties": {
            "kind": {"type": "string"},
            "pet": {"oneOf": [{"$ref": "#/components/schemas/Cat"}, {"type": "string"}]},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "other": {"not": {"type": "null"}},
        },
    }
    doc = openapi(components={"schemas": {"Pet": schema, "Cat": {"type": "object"}}})
    conversion = export(doc)
    pet = conversion.document["definitions"]["Pet"]
    assert pet["x-nullable"] is True
    assert pet["discriminator"] == "kind"
    assert pet["x-discriminator"]["mapping"] == {"cat": "#/definitions/Cat"}
    assert pet["properties"]["pet"] == {
        "x-oneOf": [{"$ref": "#/definitions/Cat"}, {"type": "string"}]
    }
    assert sorted(codes(conversion)) == ["any_of_dropped", "not_dropped", "one_of_dropped"]
    back = to_openapi3(conversion.document)["components"]["schemas"]["Pet"]
    assert back == schema


def test_null_defaults_are_left_out_because_2_0_has_no_null() -> None:
    schema = {"type": "string", "nullable": True, "default": None}
    op, warnings = exported_operation(
        operation(
            responses={
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": schema}},
                }
            }
        )
    )
    assert op["responses"]["200"]["schema"] == {"type": "string", "x-nullable": True}
    assert warnings == ["null_default_dropped"]


def test_several_media_types_with_different_schemas_keep_the_first() -> None:
    body = {
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "string"}},
        }
    }
    op, warnings = exported_operation(operation(requestBody=body))
    assert op["consumes"] == ["application/json", "application/xml"]
    assert op["parameters"] == [{"name": "body", "in": "body", "schema": {"type": "object"}}]
    assert warnings == ["multiple_media_types"]


def test_several_media_types_with_one_schema_lose_nothing() -> None:
    same = {"schema": {"type": "string"}}
    op, warnings = exported_operation(
        operation(requestBody={"content": {"text/plain": same, "text/markdown": same}})
    )
    assert op["consumes"] == ["text/plain", "text/markdown"]
    assert warnings == []


def test_a_body_and_form_fields_cannot_both_be_said_in_2_0() -> None:
    body = {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}}
            },
            "application/json": {"schema": {"type": "object"}},
        }
    }
    op, warnings = exported_operation(operation(requestBody=body))
    assert op["consumes"] == ["application/x-www-form-urlencoded"]
    assert op["parameters"] == [{"name": "name", "in": "formData", "type": "string"}]
    assert warnings == ["multiple_media_types"]


def test_request_body_name_and_required_survive_as_a_body_parameter() -> None:
    body = {
        "description": "The pet",
        "required": True,
        "x-codegen-request-body-name": "pet",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    op, _ = exported_operation(operation(requestBody=body))
    assert op["parameters"] == [
        {
            "name": "pet",
            "in": "body",
            "description": "The pet",
            "required": True,
            "schema": {"type": "object"},
        }
    ]


def test_file_upload_becomes_form_data_file_fields() -> None:
    schema = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The image"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "meta": {"type": "object"},
        },
    }
    body = {
        "content": {
            "multipart/form-data": {
                "schema": schema,
                "encoding": {"tags": {"style": "form", "explode": False}},
            }
        }
    }
    op, warnings = exported_operation(operation(requestBody=body))
    assert op["consumes"] == ["multipart/form-data"]
    assert op["parameters"] == [
        {
            "name": "file",
            "in": "formData",
            "description": "The image",
            "required": True,
            "type": "file",
        },
        {
            "name": "tags",
            "in": "formData",
            "type": "array",
            "items": {"type": "string"},
            "collectionFormat": "csv",
        },
        {"name": "meta", "in": "formData", "type": "string"},
    ]
    assert warnings == ["parameter_schema_unsupported"]


def test_request_body_components_become_global_body_parameters() -> None:
    doc = openapi(
        components={
            "parameters": {"Pet": {"name": "pet", "in": "query", "schema": {"type": "string"}}},
            "requestBodies": {
                "Pet": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "Note": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"properties": {"text": {"type": "string"}}}
                        }
                    }
                },
            },
        },
        paths={
            "/pets": {"post": operation(requestBody={"$ref": "#/components/requestBodies/Pet"})},
            "/notes": {"post": operation(requestBody={"$ref": "#/components/requestBodies/Note"})},
        },
    )
    result = export(doc).document
    assert set(result["parameters"]) == {"Pet", "Pet2"}
    assert result["parameters"]["Pet2"]["in"] == "body"
    assert result["paths"]["/pets"]["post"]["parameters"] == [{"$ref": "#/parameters/Pet2"}]
    notes = result["paths"]["/notes"]["post"]
    assert notes["parameters"] == [{"name": "text", "in": "formData", "type": "string"}]


@pytest.mark.parametrize(
    ("location", "style", "explode", "collection_format"),
    [
        ("query", None, None, "multi"),
        ("query", "form", False, "csv"),
        ("query", "spaceDelimited", None, "ssv"),
        ("query", "pipeDelimited", None, "pipes"),
        ("header", None, None, "csv"),
        ("path", "simple", None, "csv"),
    ],
)
def test_style_and_explode_become_collection_format(
    location: str, style: str | None, explode: bool | None, collection_format: str
) -> None:
    param: dict[str, Any] = {
        "name": "ids",
        "in": location,
        "required": True,
        "schema": {"type": "array", "items": {"type": "integer"}},
    }
    if style:
        param["style"] = style
    if explode is not None:
        param["explode"] = explode
    path = "/t/{ids}" if location == "path" else "/t"
    conversion = export(openapi(paths={path: {"get": operation(parameters=[param])}}))
    exported = conversion.document["paths"][path]["get"]["parameters"][0]
    assert exported["collectionFormat"] == collection_format
    assert exported["items"] == {"type": "integer"}
    assert codes(conversion) == []


@pytest.mark.parametrize(
    ("location", "style", "collection_format"),
    [("path", "matrix", "csv"), ("path", "label", "csv"), ("query", "deepObject", "multi")],
)
def test_array_styles_2_0_lacks_are_approximated_with_a_warning(
    location: str, style: str, collection_format: str
) -> None:
    param = {
        "name": "ids",
        "in": location,
        "required": True,
        "style": style,
        "explode": True,
        "schema": {"type": "array", "items": {"type": "string"}},
    }
    path = "/t/{ids}" if location == "path" else "/t"
    conversion = export(openapi(paths={path: {"get": operation(parameters=[param])}}))
    exported = conversion.document["paths"][path]["get"]["parameters"][0]
    assert exported["collectionFormat"] == collection_format
    assert codes(conversion) == ["parameter_style_unsupported"]


def test_object_parameters_are_described_as_strings() -> None:
    param = {
        "name": "filter",
        "in": "query",
        "style": "deepObject",
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    op, warnings = exported_operation(operation(parameters=[param]))
    assert op["parameters"] == [{"name": "filter", "in": "query", "type": "string"}]
    assert warnings == ["parameter_schema_unsupported"]


def test_parameter_details_move_to_2_0_places() -> None:
    param = {
        "name": "limit",
        "in": "query",
        "description": "Page size",
        "required": False,
        "deprecated": True,
        "allowEmptyValue": True,
        "example": 10,
        "schema": {"$ref": "#/components/schemas/Limit"},
        "x-internal": False,
    }
    components = {"schemas": {"Limit": {"type": "integer", "maximum": 100}}}
    op, warnings = exported_operation(operation(parameters=[param]), components=components)
    assert op["parameters"] == [
        {
            "name": "limit",
            "in": "query",
            "description": "Page size",
            "required": False,
            "type": "integer",
            "maximum": 100,
            "allowEmptyValue": True,
            "x-example": 10,
            "x-deprecated": True,
            "x-internal": False,
        }
    ]
    assert warnings == []


def test_cookie_parameters_are_dropped_with_a_warning() -> None:
    cookie = {"name": "session", "in": "cookie", "schema": {"type": "string"}}
    doc = openapi(
        components={"parameters": {"session": cookie}},
        paths={
            "/a": {"get": operation(parameters=[cookie])},
            "/b": {"get": operation(parameters=[{"$ref": "#/components/parameters/session"}])},
        },
    )
    conversion = export(doc)
    assert "parameters" not in conversion.document["paths"]["/a"]["get"]
    assert "parameters" not in conversion.document["paths"]["/b"]["get"]
    assert "parameters" not in conversion.document
    assert [(w.pointer, w.code) for w in conversion.warnings] == [
        ("/components/parameters/session", "cookie_parameter_dropped"),
        ("/paths/~1a/get/parameters/0", "cookie_parameter_dropped"),
    ]


def test_callbacks_links_and_trace_are_dropped_with_warnings() -> None:
    callback = {"{$request.query.url}": {"post": operation()}}
    response = {"description": "OK", "links": {"next": {"operationId": "b"}}}
    doc = openapi(
        paths={
            "/a": {
                "trace": operation(),
                "get": operation(
                    operationId="a", callbacks={"done": callback}, responses={"200": response}
                ),
            }
        },
        components={"links": {"next": {"operationId": "a"}}, "callbacks": {"done": callback}},
    )
    conversion = export(doc)
    item = conversion.document["paths"]["/a"]
    assert set(item) == {"get"}
    assert "links" not in item["get"]["responses"]["200"]
    assert sorted((w.pointer, w.code) for w in conversion.warnings) == [
        ("/components/callbacks", "callbacks_dropped"),
        ("/components/links", "links_dropped"),
        ("/paths/~1a/get/callbacks", "callbacks_dropped"),
        ("/paths/~1a/get/responses/200/links", "links_dropped"),
        ("/paths/~1a/trace", "trace_dropped"),
    ]


def test_status_code_ranges_are_dropped_with_a_warning() -> None:
    responses = {"2XX": {"description": "Fine"}, "404": {"description": "Missing"}}
    op, warnings = exported_operation(operation(responses=responses))
    assert op["responses"] == {"404": {"description": "Missing"}}
    assert warnings == ["status_range_dropped"]


def test_security_schemes_2_0_can_say_convert_without_warning() -> None:
    flows = {
        "authorizationCode": {
            "authorizationUrl": "https://a/auth",
            "tokenUrl": "https://a/token",
            "scopes": {"read": "Read"},
        }
    }
    schemes = {
        "header": {"type": "apiKey", "in": "header", "name": "X-Key", "description": "Key"},
        "query": {"type": "apiKey", "in": "query", "name": "key"},
        "basic": {"type": "http", "scheme": "basic"},
        "oauth": {"type": "oauth2", "flows": flows},
    }
    conversion = export(openapi(components={"securitySchemes": schemes}))
    definitions = conversion.document["securityDefinitions"]
    assert definitions["header"] == {
        "type": "apiKey",
        "name": "X-Key",
        "in": "header",
        "description": "Key",
    }
    assert definitions["query"] == {"type": "apiKey", "name": "key", "in": "query"}
    assert definitions["basic"] == {"type": "basic"}
    assert definitions["oauth"] == {
        "type": "oauth2",
        "flow": "accessCode",
        "authorizationUrl": "https://a/auth",
        "tokenUrl": "https://a/token",
        "scopes": {"read": "Read"},
    }
    assert codes(conversion) == []


@pytest.mark.parametrize(
    "scheme",
    [
        {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        {"type": "http", "scheme": "digest"},
        {"type": "openIdConnect", "openIdConnectUrl": "https://a/.well-known/openid-configuration"},
    ],
)
def test_security_schemes_2_0_lacks_become_an_authorization_header(scheme: dict[str, Any]) -> None:
    doc = openapi(components={"securitySchemes": {"auth": scheme}}, security=[{"auth": []}])
    conversion = export(doc)
    exported = conversion.document["securityDefinitions"]["auth"]
    assert (exported["type"], exported["in"], exported["name"]) == (
        "apiKey",
        "header",
        "Authorization",
    )
    assert conversion.document["security"] == [{"auth": []}]
    assert [(w.pointer, w.code) for w in conversion.warnings] == [
        ("/components/securitySchemes/auth", "unsupported_security_scheme")
    ]


def test_oauth2_with_several_flows_keeps_the_first() -> None:
    flows = {
        "clientCredentials": {"tokenUrl": "https://a/token", "scopes": {}},
        "implicit": {"authorizationUrl": "https://a/auth", "scopes": {}},
    }
    doc = openapi(components={"securitySchemes": {"oauth": {"type": "oauth2", "flows": flows}}})
    conversion = export(doc)
    assert conversion.document["securityDefinitions"]["oauth"]["flow"] == "application"
    assert codes(conversion) == ["multiple_oauth_flows"]


@pytest.mark.parametrize("strict", [False, True])
def test_cookie_api_key_is_refused_naming_the_scheme(strict: bool) -> None:
    schemes = {
        "session": {"type": "apiKey", "in": "cookie", "name": "sid"},
        "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
    }
    doc = openapi(components={"securitySchemes": schemes})
    with pytest.raises(ConversionError) as raised:
        to_swagger2(doc, strict=strict)
    error = raised.value
    assert error.code == "cookie_api_key"
    assert "'session'" in error.message
    assert [(p.pointer, p.code) for p in error.problems] == [
        ("/components/securitySchemes/session", "cookie_api_key")
    ]
    assert error.status == 422


def test_strict_mode_turns_warnings_into_an_error_listing_them() -> None:
    doc = openapi(paths={"/a": {"trace": operation()}}, servers=[{"url": "/a"}, {"url": "/b"}])
    with pytest.raises(ConversionError) as raised:
        to_swagger2(doc, strict=True)
    assert raised.value.code == "conversion_lossy"
    assert sorted(p.code for p in raised.value.problems) == ["multiple_servers", "trace_dropped"]
    assert raised.value.details["problems"][0].keys() == {"pointer", "code", "message"}


def test_strict_mode_passes_a_document_2_0_can_say() -> None:
    doc = openapi(paths={"/a": {"get": operation()}}, servers=[{"url": "https://a.example"}])
    assert to_swagger2(doc, strict=True).warnings == ()


@pytest.mark.parametrize("security", [[], [{}], [{"key": []}, {}], [{"key": [], "basic": []}]])
def test_security_requirements_are_copied_unchanged(security: list[dict[str, list[str]]]) -> None:
    schemes = {
        "key": {"type": "apiKey", "in": "query", "name": "k"},
        "basic": {"type": "http", "scheme": "basic"},
    }
    doc = openapi(
        components={"securitySchemes": schemes},
        security=security,
        paths={"/p": {"get": operation(security=security)}},
    )
    result = export(doc).document
    assert result["security"] == security
    assert result["paths"]["/p"]["get"]["security"] == security


def test_extensions_are_kept_everywhere() -> None:
    doc = openapi(
        **{"x-top": 1},
        paths={
            "x-paths": {"$ref": "#/components/schemas/Pet"},
            "/p": {
                "summary": "Pets",
                "x-item": 2,
                "get": operation(
                    **{"x-op": 3},
                    responses={"200": {"description": "OK", "x-response": 4}, "x-codes": 5},
                ),
            },
        },
        components={
            "schemas": {"Pet": {"type": "object", "x-schema": 6}},
            "securitySchemes": {"k": {"type": "apiKey", "in": "header", "name": "K", "x-s": 7}},
        },
    )
    result = export(doc).document
    item = result["paths"]["/p"]
    assert result["x-top"] == 1
    assert result["paths"]["x-paths"] == {"$ref": "#/definitions/Pet"}
    assert (item["x-summary"], item["x-item"], item["get"]["x-op"]) == ("Pets", 2, 3)
    assert item["get"]["responses"]["200"]["x-response"] == 4
    assert item["get"]["responses"]["x-codes"] == 5
    assert result["definitions"]["Pet"]["x-schema"] == 6
    assert result["securityDefinitions"]["k"]["x-s"] == 7


def test_response_headers_and_examples_in_2_0_form() -> None:
    response = {
        "description": "Pets",
        "headers": {
            "X-Next": {"$ref": "#/components/headers/Next"},
            "X-Ids": {"schema": {"type": "array", "items": {"type": "integer"}}},
        },
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "string"}},
                "examples": {"two": {"$ref": "#/components/examples/Two"}},
            }
        },
    }
    components = {
        "headers": {"Next": {"description": "Next page", "schema": {"type": "string"}}},
        "examples": {"Two": {"value": ["a", "b"]}},
    }
    op, warnings = exported_operation(operation(responses={"200": response}), components=components)
    assert op["responses"]["200"] == {
        "description": "Pets",
        "schema": {"type": "array", "items": {"type": "string"}},
        "headers": {
            "X-Next": {"description": "Next page", "type": "string"},
            "X-Ids": {"type": "array", "items": {"type": "integer"}, "collectionFormat": "csv"},
        },
        "examples": {"application/json": ["a", "b"]},
    }
    assert warnings == []


def test_the_input_document_is_not_changed() -> None:
    doc = openapi(
        servers=[{"url": "{s}://h", "variables": {"s": {"default": "https"}}}],
        components={"schemas": {"Pet": {"oneOf": [{"type": "string"}], "nullable": True}}},
        paths={
            "/p": {
                "post": operation(
                    requestBody={
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "properties": {"f": {"type": "string", "format": "binary"}}
                                }
                            }
                        }
                    }
                )
            }
        },
    )
    before = copy_json(doc)
    to_swagger2(doc)
    assert doc == before
