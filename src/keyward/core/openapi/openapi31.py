"""OpenAPI 3.1 to OpenAPI 3.0.3: JSON Schema 2020-12 back to the 3.0 schema dialect.

Type arrays become a single type plus `nullable` (several non-null types become `anyOf`),
`const` becomes a one-value `enum`, a schema's `examples` list becomes its first `example`,
numeric `exclusiveMinimum`/`exclusiveMaximum` become `minimum`/`maximum` with the boolean flag,
and a `$ref` with siblings becomes `allOf`. What 3.0 cannot say (webhooks, `info.summary`,
`license.identifier`, `mutualTLS`, scopes on non-OAuth schemes, newer schema keywords) is left
out with a `ConversionWarning`.
"""

from typing import Any, TypeGuard

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import (
    Conversion,
    ConversionError,
    ConversionWarning,
    WarningLog,
    Where,
    as_dict,
    copy_json,
    ref_parts,
)
from keyward.core.openapi.documents import HTTP_METHODS, lookup
from keyward.core.openapi.schema_keywords import OPENAPI30_SCHEMA_KEYWORDS

DEFAULT_DIALECT = "https://spec.openapis.org/oas/3.1/dialect/base"
# 2020-12 keywords 3.0 has no word for; kept silently when they only annotate.
SILENT_KEYWORDS = frozenset({"$schema", "$comment"})


def to_openapi30(doc: Document, *, strict: bool = False) -> Conversion:
    """The OpenAPI 3.0.3 form of a 3.1.x document, and what 3.0 could not say; `doc` is not
    changed. Raises `ConversionError`: `unsupported_version` for anything but 3.1.x, and
    `conversion_lossy` in strict mode when there is any warning."""
    version = str(doc.get("openapi", ""))
    if not version.startswith("3.1"):
        raise ConversionError(
            f"Expected an OpenAPI 3.1.x document, got openapi: {version!r}.",
            [ConversionWarning("/openapi", "unsupported_version", "Only 3.1.x is converted.")],
        )
    converter = _Converter(doc)
    return converter.log.conversion(converter.document(), strict=strict, target="OpenAPI 3.0")


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Converter:
    def __init__(self, source: Document) -> None:
        self.source = source
        self.log = WarningLog()
        components = as_dict(source.get("components"))
        self.oauth_schemes = {
            name
            for name, scheme in as_dict(components.get("securitySchemes")).items()
            if as_dict(scheme).get("type") in ("oauth2", "openIdConnect")
        }
        self.mutual_tls = {
            name
            for name, scheme in as_dict(components.get("securitySchemes")).items()
            if as_dict(scheme).get("type") == "mutualTLS"
        }

    def document(self) -> Document:
        out: Document = {}
        for key, value in self.source.items():
            if key == "openapi":
                out[key] = "3.0.3"
            elif key == "info":
                out[key] = self._info(as_dict(value))
            elif key == "jsonSchemaDialect":
                if value != DEFAULT_DIALECT:
                    self.log.add(
                        [key],
                        "json_schema_dialect_dropped",
                        f"OpenAPI 3.0 schemas have one dialect; {value!r} is not applied.",
                    )
            elif key == "webhooks":
                self.log.add([key], "webhooks_dropped", "OpenAPI 3.0 has no webhooks; left out.")
            elif key == "paths":
                out[key] = {
                    path: copy_json(item)
                    if path.startswith("x-")
                    else self._path_item(item, [key, path])
                    for path, item in as_dict(value).items()
                }
            elif key == "components":
                out[key] = self._components(as_dict(value))
            elif key == "security":
                out[key] = self._security(value, [key])
            else:
                out[key] = copy_json(value)
        out.setdefault("paths", {})
        return out

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        out = copy_json(info)
        if "summary" in out:
            del out["summary"]
            self.log.add(
                ["info", "summary"], "info_summary_dropped", "OpenAPI 3.0 info has no summary."
            )
        license_ = as_dict(out.get("license"))
        if "identifier" in license_:
            identifier = license_.pop("identifier")
            # An SPDX identifier still says where the licence text is.
            license_.setdefault("url", f"https://spdx.org/licenses/{identifier}.html")
            self.log.add(
                ["info", "license", "identifier"],
                "license_identifier_dropped",
                "OpenAPI 3.0 licences have no SPDX identifier; its spdx.org URL is given instead.",
            )
        return dict(out)

    def _security(self, requirements: Any, where: Where) -> Any:
        if not isinstance(requirements, list):
            return copy_json(requirements)
        out: list[Any] = []
        for index, requirement in enumerate(requirements):
            if not isinstance(requirement, dict):
                out.append(copy_json(requirement))
                continue
            kept: dict[str, Any] = {}
            for name, scopes in requirement.items():
                if name in self.mutual_tls:
                    continue
                if scopes and name not in self.oauth_schemes:
                    self.log.add(
                        [*where, index, name],
                        "security_scopes_dropped",
                        f"OpenAPI 3.0 scopes belong to OAuth2 only: the roles required of "
                        f"{name!r} are left out.",
                    )
                    scopes = []
                kept[name] = copy_json(scopes)
            if kept or not requirement:
                out.append(kept)
        return out

    # -- components ----------------------------------------------------------------------------

    def _components(self, components: dict[str, Any]) -> dict[str, Any]:
        where = ["components"]
        out: dict[str, Any] = {}
        converters = {
            "schemas": self._schema,
            "parameters": self._parameter,
            "headers": self._parameter,
            "requestBodies": self._request_body,
            "responses": self._response,
            "callbacks": self._callback,
        }
        for kind, section in components.items():
            if kind in converters and isinstance(section, dict):
                convert = converters[kind]
                out[kind] = {
                    name: convert(value, [*where, kind, name]) for name, value in section.items()
                }
            elif kind == "securitySchemes" and isinstance(section, dict):
                out[kind] = {}
                for name, scheme in section.items():
                    if name in self.mutual_tls:
                        self.log.add(
                            [*where, kind, name],
                            "unsupported_security_scheme",
                            f"OpenAPI 3.0 has no mutualTLS scheme: {name!r} is left out, and "
                            "from every security requirement.",
                        )
                    else:
                        out[kind][name] = copy_json(scheme)
            elif kind == "pathItems":
                self.log.add(
                    [*where, kind],
                    "path_items_dropped",
                    "OpenAPI 3.0 has no reusable path items: those referenced from paths are "
                    "copied in place.",
                )
            else:
                out[kind] = copy_json(section)
        return out

    # -- paths ---------------------------------------------------------------------------------

    def _path_item(self, item: Any, where: Where) -> Any:
        item = as_dict(item)
        tokens = ref_parts(item["$ref"]) if isinstance(item.get("$ref"), str) else None
        if tokens is not None and tokens[:2] == ["components", "pathItems"]:
            target = lookup(self.source, tokens)
            if isinstance(target, dict):
                merged = {**target, **{k: v for k, v in item.items() if k != "$ref"}}
                return self._path_item(merged, where)
        out: dict[str, Any] = {}
        for key, value in item.items():
            if key in HTTP_METHODS:
                out[key] = self._operation(as_dict(value), [*where, key])
            elif key == "parameters" and isinstance(value, list):
                out[key] = [self._parameter(p, [*where, key, i]) for i, p in enumerate(value)]
            else:
                out[key] = copy_json(value)
        return out

    def _operation(self, op: dict[str, Any], where: Where) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in op.items():
            here = [*where, key]
            if key == "parameters" and isinstance(value, list):
                out[key] = [self._parameter(p, [*here, i]) for i, p in enumerate(value)]
            elif key == "requestBody":
                out[key] = self._request_body(value, here)
            elif key == "responses" and isinstance(value, dict):
                out[key] = {code: self._response(r, [*here, code]) for code, r in value.items()}
            elif key == "callbacks" and isinstance(value, dict):
                out[key] = {name: self._callback(c, [*here, name]) for name, c in value.items()}
            elif key == "security":
                out[key] = self._security(value, here)
            else:
                out[key] = copy_json(value)
        if not out.get("responses"):
            self.log.add(
                [*where, "responses"],
                "responses_added",
                "OpenAPI 3.0 operations must describe a response: a default one is added.",
            )
            out["responses"] = {"default": {"description": "Default response"}}
        return out

    def _callback(self, callback: Any, where: Where) -> Any:
        if not isinstance(callback, dict) or "$ref" in callback:
            return self._reference(callback)
        return {
            expression: copy_json(item)
            if expression.startswith("x-")
            else self._path_item(item, [*where, expression])
            for expression, item in callback.items()
        }

    # -- parameters, bodies, responses ---------------------------------------------------------

    @staticmethod
    def _reference(node: Any) -> Any:
        """A Reference Object as 3.0 has it: 3.1's summary/description beside `$ref` go."""
        if isinstance(node, dict) and "$ref" in node:
            return {"$ref": node["$ref"]}
        return copy_json(node)

    def _parameter(self, param: Any, where: Where) -> Any:
        """A parameter or header (same shape, minus name and in)."""
        if not isinstance(param, dict) or "$ref" in param:
            return self._reference(param)
        out: dict[str, Any] = {}
        for key, value in param.items():
            if key == "schema":
                out[key] = self._schema(value, [*where, key])
            elif key == "content":
                out[key] = self._content(value, [*where, key])
            else:
                out[key] = copy_json(value)
        return out

    def _request_body(self, body: Any, where: Where) -> Any:
        if not isinstance(body, dict) or "$ref" in body:
            return self._reference(body)
        return {
            key: self._content(value, [*where, key]) if key == "content" else copy_json(value)
            for key, value in body.items()
        }

    def _response(self, response: Any, where: Where) -> Any:
        if not isinstance(response, dict) or "$ref" in response:
            return self._reference(response)
        out: dict[str, Any] = {}
        for key, value in response.items():
            if key == "content":
                out[key] = self._content(value, [*where, key])
            elif key == "headers" and isinstance(value, dict):
                out[key] = {n: self._parameter(h, [*where, key, n]) for n, h in value.items()}
            elif key == "links" and isinstance(value, dict):
                out[key] = {n: self._reference(link) for n, link in value.items()}
            else:
                out[key] = copy_json(value)
        return out

    def _content(self, content: Any, where: Where) -> Any:
        if not isinstance(content, dict):
            return copy_json(content)
        out: dict[str, Any] = {}
        for media_type, media in content.items():
            here = [*where, media_type]
            converted: dict[str, Any] = {}
            for key, value in as_dict(media).items():
                if key == "schema":
                    converted[key] = self._schema(value, [*here, key])
                elif key == "encoding" and isinstance(value, dict):
                    converted[key] = {
                        name: self._encoding(encoding, [*here, key, name])
                        for name, encoding in value.items()
                    }
                else:
                    converted[key] = copy_json(value)
            out[media_type] = converted
        return out

    def _encoding(self, encoding: Any, where: Where) -> Any:
        encoding = as_dict(encoding)
        out = copy_json(encoding)
        if isinstance(encoding.get("headers"), dict):
            out["headers"] = {
                name: self._parameter(header, [*where, "headers", name])
                for name, header in encoding["headers"].items()
            }
        return out

    # -- schemas -------------------------------------------------------------------------------

    def _schema(self, node: Any, where: Where) -> Any:
        if node is True:
            return {}
        if node is False:
            return {"not": {}}
        if not isinstance(node, dict):
            return copy_json(node)
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = [*where, key]
            if key in ("properties",) and isinstance(value, dict):
                # Keys here are property names: a property called "$ref" is not a reference.
                out[key] = {name: self._schema(s, [*here, name]) for name, s in value.items()}
            elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
                out[key] = [self._schema(s, [*here, i]) for i, s in enumerate(value)]
            elif (key in ("items", "not") and isinstance(value, dict | bool)) or (
                key == "additionalProperties" and isinstance(value, dict)
            ):
                out[key] = self._schema(value, here)
            elif key in ("type", "const", "examples", "exclusiveMinimum", "exclusiveMaximum"):
                continue  # rewritten below, together with the keywords they interact with
            elif key in ("contentEncoding", "contentMediaType"):
                continue
            elif key in OPENAPI30_SCHEMA_KEYWORDS or key.startswith("x-"):
                out[key] = copy_json(value)
            elif key not in SILENT_KEYWORDS:
                self.log.add(
                    here,
                    "schema_keyword_dropped",
                    f"OpenAPI 3.0 schemas have no {key}; it is left out.",
                )
        self._type(node, out)
        self._values(node, out)
        self._bounds(node, out)
        self._content_keywords(node, out)
        self._null_alternatives(out)
        if "$ref" in out and len(out) > 1:
            # 3.0 ignores everything beside a $ref; allOf keeps the siblings' meaning.
            ref = out.pop("$ref")
            out["allOf"] = [{"$ref": ref}, *out.get("allOf", [])]
        return out

    @staticmethod
    def _type(node: dict[str, Any], out: dict[str, Any]) -> None:
        kind = node.get("type")
        if kind is None:
            return
        kinds = kind if isinstance(kind, list) else [kind]
        types = [str(t) for t in kinds if t != "null"]
        nullable = len(types) < len(kinds)
        if len(types) == 1:
            out["type"] = types[0]
        elif len(types) > 1:
            # Type-specific keywords stay beside anyOf: each applies to its own type only.
            branches = [{"type": t, **({"nullable": True} if nullable else {})} for t in types]
            if "anyOf" in out:
                out["allOf"] = [*out.get("allOf", []), {"anyOf": branches}]
            else:
                out["anyOf"] = branches
        elif nullable:
            out["enum"] = [None]
        if nullable:
            out["nullable"] = True

    @staticmethod
    def _values(node: dict[str, Any], out: dict[str, Any]) -> None:
        if "const" in node:
            out["enum"] = [copy_json(node["const"])]
            if node["const"] is None:
                out["nullable"] = True
        examples = node.get("examples")
        if isinstance(examples, list) and examples and "example" not in out:
            out["example"] = copy_json(examples[0])

    @staticmethod
    def _bounds(node: dict[str, Any], out: dict[str, Any]) -> None:
        for exclusive, inclusive in (
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ):
            bound = node.get(exclusive)
            if isinstance(bound, bool):
                out[exclusive] = bound
            elif _number(bound):
                current = node.get(inclusive)
                lower = inclusive == "minimum"
                # With both, the stricter bound wins.
                if not _number(current) or (bound >= current if lower else bound <= current):
                    out[inclusive] = bound
                    out[exclusive] = True

    @staticmethod
    def _content_keywords(node: dict[str, Any], out: dict[str, Any]) -> None:
        if "format" in out:
            return
        if node.get("contentEncoding") == "base64":
            out["format"] = "byte"
        elif "contentMediaType" in node and "contentEncoding" not in node:
            out["format"] = "binary"

    @staticmethod
    def _null_alternatives(out: dict[str, Any]) -> None:
        """`oneOf`/`anyOf` with a `{type: null}` branch: 3.0 says that with `nullable`."""
        for key in ("oneOf", "anyOf"):
            branches = out.get(key)
            if not isinstance(branches, list):
                continue
            kept = [
                b
                for b in branches
                if not (isinstance(b, dict) and b.get("enum") == [None] and b.get("nullable"))
            ]
            if len(kept) < len(branches) and kept:
                out[key] = kept
                out["nullable"] = True
