"""OpenAPI 2.0 schemas, and the simple types of 2.0 parameters, as OpenAPI 3.0 schemas.

`$ref`s to definitions, parameters and responses move under components (renamed when a 2.0
name is not a valid 3.0 component name); a schema reached by any other pointer gets a component
of its own, because the place it points to moves in 3.0. The 2.0 extensions that stand for 3.0
keywords (`x-nullable`, `x-oneOf`, `x-anyOf`, `x-not`, `x-discriminator`, `x-writeOnly`,
`x-deprecated`) become those keywords; `type: file` becomes a binary string.
"""

import re
from typing import Any

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import (
    component_name,
    copy_json,
    extensions,
    ref_parts,
    ref_target,
)
from keyward.core.openapi.documents import lookup, ref_to
from keyward.core.openapi.schema_keywords import SIMPLE_SCHEMA_KEYWORDS, SWAGGER2_ANNOTATIONS

# The 2.0 extensions that stand for 3.0 annotations: extension -> keyword.
SCHEMA_EXTENSIONS = {extension: keyword for keyword, extension in SWAGGER2_ANNOTATIONS.items()}
SCHEMA_LIST_EXTENSIONS = {"x-oneOf": "oneOf", "x-anyOf": "anyOf"}
_COMPONENT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class SchemasToOpenAPI3:
    """Converts the schemas of one 2.0 document; collects components for hoisted schemas."""

    def __init__(self, source: Document) -> None:
        self.source = source
        # old name -> new, per 2.0 section (3.0 names must match ^[A-Za-z0-9._-]+$)
        self.names: dict[str, dict[str, str]] = {
            kind: self._sanitised_names(source.get(kind))
            for kind in ("definitions", "parameters", "responses")
        }
        self.hoisted: dict[str, str] = {}
        self.hoisted_schemas: dict[str, Any] = {}

    @staticmethod
    def _sanitised_names(section: Any) -> dict[str, str]:
        if not isinstance(section, dict):
            return {}
        names: dict[str, str] = {}
        taken = {name for name in section if _COMPONENT_NAME.match(name)}
        for name in section:
            if _COMPONENT_NAME.match(name):
                names[name] = name
            else:
                names[name] = component_name(name, taken, fallback="_")
                taken.add(names[name])
        return names

    def extensions(self, node: Any) -> dict[str, Any]:
        """The `x-` extensions of `node`, their `$ref`s pointing where 3.0 has the components."""
        return extensions(node, self.component_ref)

    def component_ref(self, ref: str) -> str:
        """The 3.0 `$ref` for a 2.0 `$ref` to a definition, parameter or response."""
        tokens = ref_parts(ref)
        if not tokens or len(tokens) < 2:
            return ref
        section = {"definitions": "schemas", "parameters": "parameters", "responses": "responses"}
        kind = section.get(tokens[0])
        if kind is None:
            return ref
        name = self.names[tokens[0]].get(tokens[1], tokens[1])
        return ref_to(["components", kind, name, *tokens[2:]])

    def _schema_ref(self, ref: str) -> str | None:
        """The 3.0 `$ref` of a schema `$ref`, or None when it names no schema at all."""
        tokens = ref_parts(ref)
        if not tokens or tokens[0] == "definitions":
            return self.component_ref(ref)
        if ref in self.hoisted:
            return self.hoisted[ref]
        target = lookup(self.source, tokens)
        if not isinstance(target, dict):
            return ref
        if len(tokens) == 2 and tokens[0] in ("responses", "parameters"):
            # A schema pointing at a whole response or parameter (seen in Gitea's spec) means
            # that object's schema; one without a schema describes no body.
            if "schema" not in target:
                return None
            tokens, target = [*tokens, "schema"], target["schema"]
            if not isinstance(target, dict):
                return None
            if isinstance(target.get("$ref"), str) and len(target) == 1:
                return self._schema_ref(target["$ref"])
        # A schema reached by a pointer into paths or elsewhere moves in 3.0; give it a name.
        schemas = self.hoisted_schemas
        name = component_name(
            tokens[-1], [*schemas, *self.names["definitions"].values()], fallback="schema"
        )
        self.hoisted[ref] = ref_to(["components", "schemas", name])
        schemas[name] = {}
        schemas[name] = self.schema(target)
        return self.hoisted[ref]

    def follow(self, node: Any) -> Any:
        """`node` with local `$ref`s followed to what they name (cycles stop where they loop)."""
        return ref_target(self.source, node)

    def schema(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return copy_json(node)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                ref = self._schema_ref(value)
                if ref is not None:
                    out[key] = ref
            elif key == "properties" and isinstance(value, dict):
                # Keys here are property names: a property called "$ref" is not a reference.
                out[key] = {name: self.schema(schema) for name, schema in value.items()}
            elif key == "items" and isinstance(value, list):
                items = [self.schema(schema) for schema in value]
                out[key] = items[0] if len(items) == 1 else {"anyOf": items} if items else {}
            elif key in ("items", "not", "additionalProperties") and isinstance(value, dict):
                out[key] = self.schema(value)
            elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
                out[key] = [self.schema(schema) for schema in value]
            elif key in SCHEMA_LIST_EXTENSIONS and isinstance(value, list):
                out[SCHEMA_LIST_EXTENSIONS[key]] = [self.schema(schema) for schema in value]
            elif key == "x-not" and isinstance(value, dict):
                out["not"] = self.schema(value)
            elif key in SCHEMA_EXTENSIONS and isinstance(value, bool):
                out[SCHEMA_EXTENSIONS[key]] = value
            elif key == "discriminator" and isinstance(value, str):
                out.setdefault(key, {"propertyName": value})
            elif key == "x-discriminator" and isinstance(value, dict) and "propertyName" in value:
                out["discriminator"] = self._discriminator(value)
            elif key == "type" and value == "file":
                out["type"] = "string"
                out["format"] = "binary"
            else:
                out[key] = copy_json(value, self.component_ref if key.startswith("x-") else None)
        return out

    def _discriminator(self, discriminator: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = copy_json(discriminator)
        mapping = out.get("mapping")
        if isinstance(mapping, dict):
            out["mapping"] = {
                value: self.component_ref(target)
                if isinstance(target, str) and target.startswith("#/definitions/")
                else target
                for value, target in mapping.items()
            }
        return out

    def simple_schema(self, node: dict[str, Any]) -> dict[str, Any]:
        """The schema of a non-body parameter, header or items object (its own keywords)."""
        schema: dict[str, Any] = {}
        for key, value in node.items():
            if key in SIMPLE_SCHEMA_KEYWORDS:
                schema[key] = copy_json(value)
            elif key == "items" and isinstance(value, dict):
                schema["items"] = (
                    self.schema(value) if "$ref" in value else self.simple_schema(value)
                )
            elif key in SCHEMA_EXTENSIONS and isinstance(value, bool):
                schema[SCHEMA_EXTENSIONS[key]] = value
        if schema.get("type") == "file":
            schema["type"] = "string"
            schema["format"] = "binary"
        if schema.get("type") == "array" and "items" not in schema:
            schema["items"] = {}
        return schema
