"""OpenAPI 3.0 schemas as OpenAPI 2.0 says them: full schemas, and the simple types of parameters.

2.0 schemas know no `nullable`, `oneOf`, `anyOf`, `not`, `writeOnly`, `deprecated` or
discriminator mappings. They are kept as the extensions `swagger2.to_openapi3` reads back
(`x-nullable`, `x-oneOf`…), so 3.0 -> 2.0 -> 3.0 loses nothing; the ones that change what a
document accepts (`oneOf`, `anyOf`, `not`) are also reported, because 2.0 tools ignore them.
Non-body parameters, headers and form fields need a simple type (string, number, integer,
boolean or an array of those); anything richer is described as a string, with a warning.
"""

from typing import Any

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import (
    WarningLog,
    Where,
    component_name,
    copy_json,
    extensions,
    ref_parts,
    ref_target,
)
from keyward.core.openapi.documents import lookup, ref_to
from keyward.core.openapi.schema_keywords import (
    SIMPLE_SCHEMA_KEYWORDS,
    SWAGGER2_ANNOTATIONS,
    SWAGGER2_SCHEMA_KEYWORDS,
)

SIMPLE_TYPES = ("string", "number", "integer", "boolean", "array")
COMBINATIONS = {"oneOf": "one_of_dropped", "anyOf": "any_of_dropped"}


class SchemasToSwagger2:
    """Converts the schemas of one 3.0 document; collects definitions for hoisted schemas."""

    def __init__(self, source: Document, log: WarningLog) -> None:
        self.source = source
        self.log = log
        # Schemas reached by a pointer outside components/schemas get a definition of their own.
        self.hoisted: dict[str, str] = {}
        self.hoisted_definitions: dict[str, Any] = {}

    def ref(self, ref: str) -> str:
        """The 2.0 `$ref` of a 3.0 schema `$ref`."""
        tokens = ref_parts(ref)
        if tokens is None:
            return ref
        if tokens[:2] == ["components", "schemas"] and len(tokens) > 2:
            return ref_to(["definitions", *tokens[2:]])
        if ref in self.hoisted:
            return self.hoisted[ref]
        target = lookup(self.source, tokens)
        if not isinstance(target, dict) or not tokens:
            return ref
        taken = [
            *(self.source.get("components") or {}).get("schemas", {}),
            *self.hoisted_definitions,
        ]
        name = component_name(tokens[-1], taken, fallback="schema")
        self.hoisted[ref] = ref_to(["definitions", name])
        self.hoisted_definitions[name] = {}
        self.hoisted_definitions[name] = self.schema(target, tokens)
        return self.hoisted[ref]

    def extension_ref(self, ref: str) -> str:
        """Where a `$ref` inside an extension points in 2.0: the same component, moved."""
        tokens = ref_parts(ref)
        if tokens is None or len(tokens) < 3 or tokens[0] != "components":
            return ref
        sections = {"schemas": "definitions", "parameters": "parameters", "responses": "responses"}
        section = sections.get(tokens[1])
        return ref_to([section, *tokens[2:]]) if section else ref

    def extensions(self, node: Any) -> dict[str, Any]:
        """The `x-` extensions of `node`, their component `$ref`s pointing where 2.0 has them."""
        return extensions(node, self.extension_ref)

    def follow(self, node: Any) -> Any:
        """`node` with local `$ref`s followed to what they name (cycles stop where they loop)."""
        return ref_target(self.source, node)

    # -- full schemas --------------------------------------------------------------------------

    def schema(self, node: Any, where: Where) -> Any:
        """The 2.0 Schema Object for a 3.0 one."""
        if not isinstance(node, dict):
            return copy_json(node)
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = [*where, key]
            if key == "$ref" and isinstance(value, str):
                out[key] = self.ref(value)
            elif key == "properties" and isinstance(value, dict):
                # Keys here are property names: a property called "$ref" is not a reference.
                out[key] = {
                    name: self.schema(schema, [*here, name]) for name, schema in value.items()
                }
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self.schema(value, here)
            elif key == "allOf" and isinstance(value, list):
                out[key] = [self.schema(item, [*here, i]) for i, item in enumerate(value)]
            elif key in COMBINATIONS and isinstance(value, list):
                self.log.add(
                    here,
                    COMBINATIONS[key],
                    f"OpenAPI 2.0 has no {key}: the alternatives are kept as x-{key}, which "
                    "2.0 tools do not enforce.",
                )
                out[f"x-{key}"] = [self.schema(item, [*here, i]) for i, item in enumerate(value)]
            elif key == "not" and isinstance(value, dict):
                self.log.add(
                    here,
                    "not_dropped",
                    "OpenAPI 2.0 has no not: the exclusion is kept as x-not and not enforced.",
                )
                out["x-not"] = self.schema(value, here)
            elif key in SWAGGER2_ANNOTATIONS:
                out[SWAGGER2_ANNOTATIONS[key]] = copy_json(value)
            elif key == "discriminator" and isinstance(value, dict):
                out.update(self._discriminator(value))
            elif key == "default" and value is None:
                self.log.add(
                    here,
                    "null_default_dropped",
                    "OpenAPI 2.0 has no null: the default value null is left out.",
                )
            elif key.startswith("x-"):
                out[key] = copy_json(value, self.extension_ref)
            elif key in SWAGGER2_SCHEMA_KEYWORDS:
                out[key] = copy_json(value)
            else:
                self.log.add(
                    here,
                    "schema_keyword_dropped",
                    f"OpenAPI 2.0 schemas have no {key}; it is left out.",
                )
        return out

    def _discriminator(self, discriminator: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(discriminator.get("propertyName"), str):
            out["discriminator"] = discriminator["propertyName"]
        if "mapping" in discriminator or len(discriminator) > 1:
            full = copy_json(discriminator)
            if isinstance(full.get("mapping"), dict):
                full["mapping"] = {
                    value: self.ref(target) if isinstance(target, str) and "#" in target else target
                    for value, target in full["mapping"].items()
                }
            out["x-discriminator"] = full
        return out

    def check_one_schema(
        self, content: dict[str, Any], media_types: list[str], where: Where
    ) -> None:
        """Warn when `media_types` of one body or response carry different schemas: 2.0 has
        one schema for them all."""
        schemas = [
            media.get("schema") if isinstance(media, dict) else None
            for media in (content[media_type] for media_type in media_types)
        ]
        if any(schema != schemas[0] for schema in schemas[1:]):
            self.log.add(
                where,
                "multiple_media_types",
                "OpenAPI 2.0 has one schema for all media types here: the schema of "
                f"{media_types[0]} describes {', '.join(media_types)}.",
            )

    # -- simple types --------------------------------------------------------------------------

    def simple(self, node: Any, where: Where, *, file: bool = False) -> dict[str, Any] | None:
        """The 2.0 keywords of a parameter, header or form field whose schema is `node`, or None
        when 2.0 cannot describe it with a simple type. With `file`, binary strings are files."""
        schema = self.follow(node)
        if not isinstance(schema, dict):
            return None
        kind = schema.get("type")
        if kind is None and isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            return self.simple(schema["allOf"][0], where, file=file)
        if kind not in SIMPLE_TYPES:
            return None
        out: dict[str, Any] = {}
        for key in SIMPLE_SCHEMA_KEYWORDS:
            if key in schema:
                out[key] = copy_json(schema[key])
        if out.get("default", ...) is None:
            del out["default"]
        if isinstance(out.get("enum"), list):
            out["enum"] = [value for value in out["enum"] if value is not None]
            if not out["enum"]:
                del out["enum"]
        if kind == "array":
            items = self.simple(schema.get("items", {}), [*where, "items"])
            if items is None:
                self.log.add(
                    [*where, "items"],
                    "parameter_schema_unsupported",
                    "OpenAPI 2.0 arrays in parameters hold simple values only: "
                    "the items are described as strings.",
                )
                items = {"type": "string"}
            out["items"] = items
        if file and kind == "string" and out.get("format") == "binary":
            return {"type": "file"}
        return out

    def simple_or_string(
        self, node: Any, where: Where, what: str, *, file: bool = False
    ) -> dict[str, Any]:
        """Like `simple`, but describes what 2.0 cannot say as a string, with a warning."""
        simple = self.simple(node, where, file=file)
        if simple is not None:
            return simple
        self.log.add(
            where,
            "parameter_schema_unsupported",
            f"OpenAPI 2.0 {what} have simple types only: this one is described as a string.",
        )
        return {"type": "string"}
