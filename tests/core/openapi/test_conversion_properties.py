"""Conversion invariants over generated documents (hypothesis): outputs are valid and
self-contained, inputs are untouched, and round trips keep operations, parameters, security
and schemas."""

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import copy_json
from keyward.core.openapi.documents import ref_to
from keyward.core.openapi.openapi3 import to_swagger2
from keyward.core.openapi.swagger2 import to_openapi3
from tests.core.openapi.conversion_support import (
    swagger2_view,
    unresolved_refs,
    validation_errors,
)

VALID_NAMES = ("Pet", "Owner", "Tag", "io.k8s.Item")
# 3.0 component names are restricted: such definitions are renamed, so they do not round-trip.
ODD_NAMES = ("Page«Pet»", "A B")
PROPERTY_NAMES = ("id", "name", "$ref", "tags", "x-note")
TEMPLATES = ("/pets", "/pets/{petId}", "/owners/{ownerId}/pets/{petId}", "/tags/{tag}:search")
SECURITY: tuple[list[dict[str, list[str]]] | None, ...] = (
    None,
    [],
    [{}],
    [{"key": []}],
    [{"key": [], "basic": []}],
    [{"key": []}, {}],
)
PRIMITIVES: tuple[dict[str, Any], ...] = (
    {"type": "string"},
    {"type": "integer", "format": "int64"},
    {"type": "number", "minimum": 0},
    {"type": "boolean"},
    {"type": "string", "enum": ["a", "b"]},
)
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def schemas(names: tuple[str, ...], prefix: list[str]) -> st.SearchStrategy[Any]:
    """Schemas that may refer to the components `names` (under `prefix`)."""
    leaves = st.sampled_from(PRIMITIVES).map(copy_json)
    if names:
        refs = st.sampled_from(names).map(lambda name: {"$ref": ref_to([*prefix, name])})
        leaves = st.one_of(leaves, refs)

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        objects = st.dictionaries(
            st.sampled_from(PROPERTY_NAMES), children, min_size=1, max_size=3
        ).map(lambda properties: {"type": "object", "properties": properties})
        return st.one_of(
            objects,
            children.map(lambda items: {"type": "array", "items": items}),
            st.lists(children, min_size=1, max_size=2).map(lambda parts: {"allOf": parts}),
        )

    return st.recursive(leaves, extend, max_leaves=5)


@st.composite
def simple_parameters(draw: st.DrawFn, name: str, location: str) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": location}
    if location == "path" or draw(st.booleans()):
        param["required"] = True
    if draw(st.booleans()):
        param.update(copy_json(draw(st.sampled_from(PRIMITIVES[:4]))))
        return param
    formats = ["csv", "ssv", "tsv", "pipes"] + (
        ["multi"] if location in ("query", "formData") else []
    )
    param.update({"type": "array", "items": {"type": draw(st.sampled_from(["string", "integer"]))}})
    collection_format = draw(st.sampled_from([None, *formats]))
    if collection_format:
        param["collectionFormat"] = collection_format
    return param


@st.composite
def swagger2_documents(draw: st.DrawFn, names: tuple[str, ...] = VALID_NAMES) -> Document:
    chosen = tuple(draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)))
    schema = schemas(chosen, ["definitions"])
    paths: dict[str, Any] = {}
    count = 0
    for template in draw(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3, unique=True)):
        item: dict[str, Any] = {}
        variables = re.findall(r"\{(\w+)\}", template)
        methods = draw(
            st.lists(
                st.sampled_from(["get", "post", "put", "delete"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        for method in methods:
            count += 1
            params = [draw(simple_parameters(variable, "path")) for variable in variables]
            for name in draw(
                st.lists(st.sampled_from(["limit", "tags", "q"]), max_size=2, unique=True)
            ):
                params.append(draw(simple_parameters(name, "query")))
            if draw(st.booleans()):
                params.append(draw(simple_parameters("X-Trace", "header")))
            op: dict[str, Any] = {"operationId": f"{method}{count}"}
            body = (
                draw(st.sampled_from(["none", "body", "form", "file"]))
                if method in ("post", "put")
                else "none"
            )
            if body == "body":
                params.append(
                    {
                        "name": draw(st.sampled_from(["body", "pet"])),
                        "in": "body",
                        "required": draw(st.booleans()),
                        "schema": draw(schema),
                    }
                )
            elif body in ("form", "file"):
                params.append(draw(simple_parameters("note", "formData")))
                if body == "file":
                    params.append({"name": "upload", "in": "formData", "type": "file"})
                    op["consumes"] = ["multipart/form-data"]
                else:
                    op["consumes"] = ["application/x-www-form-urlencoded"]
            op["parameters"] = params
            op["responses"] = {"200": {"description": "OK", "schema": draw(schema)}}
            if draw(st.booleans()):
                op["responses"]["404"] = {"description": "Missing"}
            security = draw(st.sampled_from(SECURITY))
            if security is not None:
                op["security"] = copy_json(security)
            item[method] = op
        paths[template] = item
    doc: Document = {
        "swagger": "2.0",
        "info": {"title": "Generated", "version": "1"},
        "securityDefinitions": {
            "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
            "basic": {"type": "basic"},
        },
        # Each definition refers only to those before it: a schema that contains itself through
        # allOf or items describes nothing, and the validator recurses forever on it.
        "definitions": {
            name: draw(schemas(chosen[:index], ["definitions"]))
            for index, name in enumerate(chosen)
        },
        "paths": paths,
    }
    security = draw(st.sampled_from(SECURITY))
    if security is not None:
        doc["security"] = copy_json(security)
    if draw(st.booleans()):
        doc.update(host="api.example.com", basePath="/v1", schemes=["https"])
    return doc


@st.composite
def openapi3_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """Component schemas using every 3.0 keyword 2.0 lacks."""
    names = ("Pet", "Cat", "Dog")
    base = schemas(names, ["components", "schemas"])

    def decorate(schema: Any) -> st.SearchStrategy[Any]:
        extras = st.fixed_dictionaries(
            {},
            optional={
                "nullable": st.booleans(),
                "writeOnly": st.booleans(),
                "deprecated": st.booleans(),
                "x-related": st.just({"$ref": "#/components/schemas/Cat"}),
            },
        )
        return extras.map(lambda more: {**schema, **more} if "$ref" not in schema else schema)

    combined = st.one_of(
        base.flatmap(decorate),
        st.lists(base, min_size=1, max_size=3).map(lambda parts: {"oneOf": parts}),
        st.lists(base, min_size=1, max_size=3).map(lambda parts: {"anyOf": parts}),
        base.map(lambda part: {"not": part}),
        st.just(
            {
                "type": "object",
                "properties": {"kind": {"type": "string"}},
                "discriminator": {
                    "propertyName": "kind",
                    "mapping": {"cat": "#/components/schemas/Cat"},
                },
            }
        ),
    )
    return {name: draw(combined) for name in names}


@SETTINGS
@given(swagger2_documents(names=VALID_NAMES + ODD_NAMES))
def test_swagger2_converts_to_valid_self_contained_openapi3(doc: Document) -> None:
    assert validation_errors(doc) == []
    before = copy_json(doc)
    converted = to_openapi3(doc)
    assert doc == before
    assert unresolved_refs(converted) == []
    assert validation_errors(converted) == []


@SETTINGS
@given(swagger2_documents())
def test_swagger2_round_trip_keeps_operations_parameters_security_and_definitions(
    doc: Document,
) -> None:
    openapi3 = to_openapi3(doc)
    before = copy_json(openapi3)
    back = to_swagger2(openapi3)
    assert openapi3 == before
    assert back.warnings == ()
    assert unresolved_refs(back.document) == []
    assert validation_errors(back.document) == []
    assert swagger2_view(back.document) == swagger2_view(doc)


@SETTINGS
@given(openapi3_schemas())
def test_openapi3_schemas_survive_the_round_trip_through_swagger2(
    components: dict[str, Any],
) -> None:
    doc: Document = {
        "openapi": "3.0.3",
        "info": {"title": "Schemas", "version": "1"},
        "paths": {},
        "components": {"schemas": components},
    }
    exported = to_swagger2(doc).document
    assert unresolved_refs(exported) == []
    back = to_openapi3(exported)
    assert back["components"]["schemas"] == components
