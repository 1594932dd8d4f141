"""Helpers for the conversion tests: reading corpus documents, validating, and the normalised
views two documents are compared by (what a client relies on, not how it is spelled)."""

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema_path import SchemaPath
from jsonschema_path.handlers import file_handler
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import ref_parts
from keyward.core.openapi.documents import lookup

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@cache
def _read(path: Path) -> str:
    if path.suffix == ".json":
        return path.read_text()
    with path.open() as stream:
        return json.dumps(file_handler(stream))


def load(path: Path) -> Document:
    """A fresh copy of a corpus document (parsed once per run)."""
    doc: Document = json.loads(_read(path))
    return doc


def validation_errors(doc: Document) -> list[str]:
    """Every error openapi-spec-validator finds, for 2.0 or 3.0 by the document's own version."""
    validator = OpenAPIV2SpecValidator if "swagger" in doc else OpenAPIV30SpecValidator
    return [
        str(error).split("\n")[0] for error in validator(SchemaPath.from_dict(doc)).iter_errors()
    ]


def walk(node: Any, where: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every value in a JSON document with its path."""
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*where, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*where, str(index)))


def unresolved_refs(doc: Document) -> list[str]:
    """Local `$ref` strings that point at nothing inside `doc`."""
    missing = []
    for _, node in walk(doc):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            tokens = ref_parts(node["$ref"])
            if tokens is not None and lookup(doc, tokens) is None:
                missing.append(node["$ref"])
    return missing


def without_null_defaults(node: Any) -> Any:
    """`node` without `default: null` (2.0 has no null; the 3.0 -> 2.0 export leaves it out)."""
    if isinstance(node, dict):
        return {
            key: without_null_defaults(value)
            for key, value in node.items()
            if not (key == "default" and value is None)
        }
    if isinstance(node, list):
        return [without_null_defaults(item) for item in node]
    return node


def _follow(doc: Document, node: Any) -> Any:
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"] not in seen:
        seen.add(node["$ref"])
        tokens = ref_parts(node["$ref"])
        target = lookup(doc, tokens) if tokens is not None else None
        if target is None:
            break
        node = target
    return node


def _operations(doc: Document) -> Iterator[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(path, method, operation, effective parameters resolved)."""
    for path, item in (doc.get("paths") or {}).items():
        if not isinstance(item, dict) or path.startswith("x-"):
            continue
        shared = [_follow(doc, p) for p in item.get("parameters") or []]
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            effective = {(p.get("in"), p.get("name")): p for p in shared}
            for raw in op.get("parameters") or []:
                param = _follow(doc, raw)
                effective[(param.get("in"), param.get("name"))] = param
            yield path, method, op, list(effective.values())


def _form_fields(doc: Document, schema: Any) -> list[str]:
    schema = _follow(doc, schema)
    if not isinstance(schema, dict):
        return []
    fields = list((schema.get("properties") or {}).keys())
    for part in schema.get("allOf") or []:
        fields.extend(_form_fields(doc, part))
    return sorted(fields)


def openapi3_view(doc: Document) -> dict[str, Any]:
    """A 3.0 document as the 2.0 round trip must keep it: operations, non-cookie parameters
    (in, name, required), request body kind, security and component schemas."""
    operations: dict[str, Any] = {}
    for path, method, op, parameters in _operations(doc):
        body = _follow(doc, op.get("requestBody"))
        body_view: Any = None
        if isinstance(body, dict) and body.get("content"):
            first = next(iter(body["content"]))
            if first.split(";")[0] in FORM_MEDIA_TYPES:
                fields = _form_fields(doc, (body["content"][first] or {}).get("schema"))
                body_view = ("form", fields) if fields else None
            else:
                body_view = ("body", bool(body.get("required")))
        operations[f"{method} {path}"] = {
            "operationId": op.get("operationId"),
            "parameters": sorted(
                (p.get("in"), p.get("name"), bool(p.get("required")))
                for p in parameters
                if p.get("in") != "cookie"
            ),
            "body": body_view,
            "security": op.get("security", "inherited"),
        }
    return {
        "operations": operations,
        "security": doc.get("security", "none"),
        "schemas": without_null_defaults((doc.get("components") or {}).get("schemas") or {}),
    }


def _swagger2_schema(node: Any) -> Any:
    """2.0 definitions compared: the 2.0 `discriminator` string beside `x-discriminator` is
    the same fact said twice, and null defaults do not exist."""
    node = without_null_defaults(node)
    for _, value in walk(node):
        if isinstance(value, dict) and "x-discriminator" in value:
            value.pop("discriminator", None)
    return node


def swagger2_view(doc: Document) -> dict[str, Any]:
    """A 2.0 document as the 3.0 round trip must keep it: operations, parameters with their
    type and collectionFormat (csv when unsaid), security and definitions."""
    operations: dict[str, Any] = {}
    for path, method, op, parameters in _operations(doc):
        views: list[tuple[Any, ...]] = []
        for p in parameters:
            if p.get("in") == "body":
                views.append(("body", p.get("name"), bool(p.get("required")), None, None))
                continue
            array = p.get("type") == "array"
            views.append(
                (
                    p.get("in"),
                    p.get("name"),
                    bool(p.get("required")) or p.get("in") == "path",
                    p.get("type"),
                    (p.get("collectionFormat") or "csv") if array else None,
                )
            )
        operations[f"{method} {path}"] = {
            "operationId": op.get("operationId"),
            "parameters": sorted(views, key=repr),
            "security": op.get("security", "inherited"),
        }
    return {
        "operations": operations,
        "security": doc.get("security", "none"),
        "definitions": _swagger2_schema(doc.get("definitions") or {}),
    }
