"""OpenAPI 3.1 -> 3.0: JSON Schema 2020-12 back to the 3.0 dialect, one test per rule."""

from typing import Any

import pytest

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import Conversion, ConversionError, copy_json
from keyward.core.openapi.openapi31 import to_openapi30
from tests.core.openapi.conversion_support import validation_errors


def openapi31(**fields: Any) -> Document:
    doc: Document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    doc.update(fields)
    return doc


def downgrade(doc: Document) -> Conversion:
    conversion = to_openapi30(doc)
    assert conversion.document["openapi"] == "3.0.3"
    assert validation_errors(conversion.document) == []
    return conversion


def converted_schema(schema: Any) -> tuple[Any, list[str]]:
    conversion = downgrade(openapi31(components={"schemas": {"S": schema}}))
    return conversion.document["components"]["schemas"]["S"], [w.code for w in conversion.warnings]


def test_other_versions_are_refused() -> None:
    with pytest.raises(ConversionError) as raised:
        to_openapi30(openapi31(openapi="3.0.3"))
    assert raised.value.code == "unsupported_version"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
        ({"type": ["integer"]}, {"type": "integer"}),
        ({"type": "null"}, {"enum": [None], "nullable": True}),
        (
            {"type": ["string", "integer"], "minLength": 1},
            {"minLength": 1, "anyOf": [{"type": "string"}, {"type": "integer"}]},
        ),
        (
            {"type": ["string", "integer", "null"]},
            {
                "anyOf": [
                    {"type": "string", "nullable": True},
                    {"type": "integer", "nullable": True},
                ],
                "nullable": True,
            },
        ),
    ],
)
def test_type_arrays_become_one_type_and_nullable(
    schema: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert converted_schema(schema) == (expected, [])


def test_const_becomes_a_one_value_enum() -> None:
    assert converted_schema({"type": "string", "const": "fixed"}) == (
        {"type": "string", "enum": ["fixed"]},
        [],
    )


def test_schema_examples_become_the_first_example() -> None:
    assert converted_schema({"type": "integer", "examples": [3, 4]}) == (
        {"type": "integer", "example": 3},
        [],
    )


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "number", "exclusiveMinimum": 0},
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        ),
        (
            {"type": "number", "exclusiveMaximum": 10, "maximum": 20},
            {"type": "number", "maximum": 10, "exclusiveMaximum": True},
        ),
        ({"type": "number", "exclusiveMinimum": 0, "minimum": 5}, {"type": "number", "minimum": 5}),
    ],
)
def test_numeric_exclusive_bounds_become_bound_and_flag(
    schema: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert converted_schema(schema) == (expected, [])


def test_null_alternative_becomes_nullable() -> None:
    schema = {"oneOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
    assert converted_schema(schema) == (
        {"oneOf": [{"type": "string", "format": "date"}], "nullable": True},
        [],
    )


def test_ref_with_siblings_becomes_all_of() -> None:
    schemas = {"S": {"$ref": "#/components/schemas/T", "description": "Another T"}, "T": {}}
    conversion = downgrade(openapi31(components={"schemas": schemas}))
    assert conversion.document["components"]["schemas"]["S"] == {
        "description": "Another T",
        "allOf": [{"$ref": "#/components/schemas/T"}],
    }


def test_content_keywords_become_formats() -> None:
    assert converted_schema({"type": "string", "contentMediaType": "image/png"})[0] == {
        "type": "string",
        "format": "binary",
    }
    assert converted_schema({"type": "string", "contentEncoding": "base64"})[0] == {
        "type": "string",
        "format": "byte",
    }


def test_keywords_3_0_lacks_are_dropped_with_warnings() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "patternProperties": {"^x": {"type": "string"}},
        "properties": {"$ref": {"type": "string"}, "list": {"prefixItems": [{"type": "string"}]}},
    }
    converted, codes = converted_schema(schema)
    assert converted == {
        "type": "object",
        "properties": {"$ref": {"type": "string"}, "list": {}},
    }
    assert codes == ["schema_keyword_dropped", "schema_keyword_dropped"]


def test_document_fields_3_0_lacks_are_dropped_with_warnings() -> None:
    doc = openapi31(
        jsonSchemaDialect="https://example.com/dialect",
        info={
            "title": "t",
            "version": "1",
            "summary": "Short",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        webhooks={"new": {"post": {"responses": {"200": {"description": "OK"}}}}},
    )
    conversion = downgrade(doc)
    assert "webhooks" not in conversion.document
    assert "jsonSchemaDialect" not in conversion.document
    assert conversion.document["info"] == {
        "title": "t",
        "version": "1",
        "license": {"name": "MIT", "url": "https://spdx.org/licenses/MIT.html"},
    }
    assert [(w.pointer, w.code) for w in conversion.warnings] == [
        ("/info/summary", "info_summary_dropped"),
        ("/info/license/identifier", "license_identifier_dropped"),
        ("/jsonSchemaDialect", "json_schema_dialect_dropped"),
        ("/webhooks", "webhooks_dropped"),
    ]


def test_default_dialect_and_missing_paths_need_no_warning() -> None:
    doc = openapi31(jsonSchemaDialect="https://spec.openapis.org/oas/3.1/dialect/base")
    del doc["paths"]
    conversion = downgrade(doc)
    assert conversion.document["paths"] == {}
    assert conversion.warnings == ()


def test_schemas_are_converted_wherever_they_occur() -> None:
    nullable = {"type": ["string", "null"]}
    expected = {"type": "string", "nullable": True}
    op = {
        "parameters": [{"name": "q", "in": "query", "schema": nullable}],
        "requestBody": {"content": {"application/json": {"schema": nullable}}},
        "responses": {
            "200": {
                "description": "OK",
                "headers": {"X-Q": {"schema": nullable}},
                "content": {"application/json": {"schema": nullable}},
            }
        },
        "callbacks": {
            "cb": {
                "{$request.body#/url}": {
                    "post": {
                        "requestBody": {"content": {"text/plain": {"schema": nullable}}},
                        "responses": {"200": {"description": "OK"}},
                    }
                }
            }
        },
    }
    result = downgrade(openapi31(paths={"/p": {"post": op}})).document["paths"]["/p"]["post"]
    assert result["parameters"][0]["schema"] == expected
    assert result["requestBody"]["content"]["application/json"]["schema"] == expected
    assert result["responses"]["200"]["headers"]["X-Q"]["schema"] == expected
    assert result["responses"]["200"]["content"]["application/json"]["schema"] == expected
    callback = result["callbacks"]["cb"]["{$request.body#/url}"]["post"]
    assert callback["requestBody"]["content"]["text/plain"]["schema"] == expected


def test_scopes_on_non_oauth_schemes_are_dropped_with_a_warning() -> None:
    schemes = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "oauth": {
            "type": "oauth2",
            "flows": {"implicit": {"authorizationUrl": "https://a", "scopes": {"r": "Read"}}},
        },
    }
    doc = openapi31(
        components={"securitySchemes": schemes},
        security=[{"bearer": ["admin"], "oauth": ["r"]}, {}],
    )
    conversion = downgrade(doc)
    assert conversion.document["security"] == [{"bearer": [], "oauth": ["r"]}, {}]
    assert [(w.pointer, w.code) for w in conversion.warnings] == [
        ("/security/0/bearer", "security_scopes_dropped")
    ]


def test_mutual_tls_is_dropped_from_schemes_and_requirements() -> None:
    doc = openapi31(
        components={
            "securitySchemes": {
                "mtls": {"type": "mutualTLS"},
                "key": {"type": "apiKey", "in": "header", "name": "K"},
            }
        },
        security=[{"mtls": [], "key": []}, {"mtls": []}],
    )
    conversion = downgrade(doc)
    assert conversion.document["security"] == [{"key": []}]
    assert set(conversion.document["components"]["securitySchemes"]) == {"key"}
    assert [w.code for w in conversion.warnings] == ["unsupported_security_scheme"]


def test_operation_without_responses_gets_a_default_one() -> None:
    conversion = downgrade(openapi31(paths={"/p": {"get": {"operationId": "p"}}}))
    assert conversion.document["paths"]["/p"]["get"]["responses"] == {
        "default": {"description": "Default response"}
    }
    assert [w.code for w in conversion.warnings] == ["responses_added"]


def test_reusable_path_items_are_copied_in_place() -> None:
    item = {"get": {"responses": {"200": {"description": "OK"}}}}
    doc = openapi31(
        components={"pathItems": {"Pets": item}},
        paths={"/pets": {"$ref": "#/components/pathItems/Pets"}},
    )
    conversion = downgrade(doc)
    assert conversion.document["paths"]["/pets"] == item
    assert "pathItems" not in conversion.document["components"]
    assert [w.code for w in conversion.warnings] == ["path_items_dropped"]


def test_reference_siblings_outside_schemas_are_left_out() -> None:
    doc = openapi31(
        components={
            "parameters": {"q": {"name": "q", "in": "query", "schema": {"type": "string"}}}
        },
        paths={
            "/p": {
                "get": {
                    "parameters": [{"$ref": "#/components/parameters/q", "description": "Query"}],
                    "responses": {"200": {"description": "OK"}},
                }
            }
        },
    )
    parameters = downgrade(doc).document["paths"]["/p"]["get"]["parameters"]
    assert parameters == [{"$ref": "#/components/parameters/q"}]


def test_strict_mode_raises_on_any_warning() -> None:
    with pytest.raises(ConversionError) as raised:
        to_openapi30(openapi31(webhooks={}), strict=True)
    assert raised.value.code == "conversion_lossy"
    assert [p.code for p in raised.value.problems] == ["webhooks_dropped"]


def test_the_input_document_is_not_changed() -> None:
    doc = openapi31(
        info={"title": "t", "version": "1", "summary": "s"},
        components={
            "schemas": {"S": {"type": ["string", "null"], "const": "a", "examples": ["a"]}}
        },
    )
    before = copy_json(doc)
    to_openapi30(doc)
    assert doc == before
