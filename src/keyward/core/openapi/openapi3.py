"""OpenAPI 3.0 to OpenAPI 2.0, for exports: always a valid 2.0 document, plus what was lost.

What 2.0 cannot express is approximated or left out and reported as a `ConversionWarning` with a
stable code (`multiple_servers`, `multiple_media_types`, `one_of_dropped`, `callbacks_dropped`,
`links_dropped`, `trace_dropped`, `unsupported_security_scheme`, `cookie_parameter_dropped`…);
`strict=True` turns any warning into a `ConversionError`. An API key sent in a cookie cannot be
described at all, so a document defining one is refused (`cookie_api_key`) in every mode.
Extensions are kept, and `security` (including `[]` and `[{}]`) is copied unchanged.
"""

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

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
from keyward.core.openapi.documents import SWAGGER2_HTTP_METHODS, pointer_to, ref_to
from keyward.core.openapi.openapi3_parameters import ParametersToSwagger2
from keyward.core.openapi.openapi3_schemas import SchemasToSwagger2

SCHEMES = ("http", "https", "ws", "wss")
OAUTH2_FLOWS = {
    "implicit": "implicit",
    "password": "password",
    "clientCredentials": "application",
    "authorizationCode": "accessCode",
}
_HOST = re.compile(r"^[^{}/ :\\]+(?::\d+)?$")
_STATUS = re.compile(r"^[0-9]{3}$")
_VARIABLE = re.compile(r"\{([^}]+)\}")
_SCHEME_VARIABLE = re.compile(r"^\{([^}]+)\}://")


def to_swagger2(doc: Document, *, strict: bool = False) -> Conversion:
    """The OpenAPI 2.0 form of a 3.0.x document, and what 2.0 could not say; `doc` is not changed.

    Raises `ConversionError`: `cookie_api_key` when a security scheme is an API key in a
    cookie (whatever `strict` says), `unsupported_version` for anything but 3.0.x, and
    `conversion_lossy` in strict mode when there is any warning (listed in `problems`).
    """
    version = str(doc.get("openapi", ""))
    if not version.startswith("3.0"):
        raise ConversionError(
            f"Expected an OpenAPI 3.0.x document, got openapi: {version!r}; convert 3.1 to 3.0 "
            "first.",
            [ConversionWarning("/openapi", "unsupported_version", "Only 3.0.x is converted.")],
        )
    _refuse_cookie_api_keys(doc)
    converter = _Converter(doc)
    return converter.log.conversion(converter.document(), strict=strict, target="OpenAPI 2.0")


def _refuse_cookie_api_keys(doc: Document) -> None:
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    names = [
        name
        for name, scheme in schemes.items()
        if isinstance(scheme, dict)
        and scheme.get("type") == "apiKey"
        and scheme.get("in") == "cookie"
    ]
    if names:
        listed = ", ".join(repr(name) for name in names)
        raise ConversionError(
            f"OpenAPI 2.0 cannot describe an API key sent in a cookie (security scheme {listed}); "
            "export OpenAPI 3.0 instead, or accept the key in a header or query parameter.",
            [
                ConversionWarning(
                    pointer_to(["components", "securitySchemes", name]),
                    "cookie_api_key",
                    f"The security scheme {name!r} sends its API key in a cookie.",
                )
                for name in names
            ],
            code="cookie_api_key",
        )


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


class _Converter:
    def __init__(self, source: Document) -> None:
        self.source = source
        self.log = WarningLog()
        self.schemas = SchemasToSwagger2(source, self.log)
        self.parameters = ParametersToSwagger2(source, self.log, self.schemas)
        self.components = as_dict(source.get("components"))

    def _section(self, name: str) -> dict[str, Any]:
        return as_dict(self.components.get(name))

    # -- document ------------------------------------------------------------------------------

    def document(self) -> Document:
        source = self.source
        out: Document = {"swagger": "2.0"}
        out["info"] = copy_json(as_dict(source.get("info")))
        out.update(self._servers())
        if "tags" in source:
            out["tags"] = copy_json(source["tags"])
        self.parameters.build_globals()
        out["paths"] = self._paths()
        definitions = {
            name: self.schemas.schema(schema, ["components", "schemas", name])
            for name, schema in self._section("schemas").items()
        }
        responses: dict[str, Any] = {}
        for name, response in self._section("responses").items():
            followed = as_dict(self.schemas.follow(response))
            responses[name] = self._response(followed, ["components", "responses", name])[0]
        definitions.update(self.schemas.hoisted_definitions)
        for key, section in (
            ("definitions", definitions),
            ("parameters", self.parameters.globals),
            ("responses", responses),
            ("securityDefinitions", self._security_definitions()),
        ):
            if section:
                out[key] = section
        if "security" in source:
            out["security"] = copy_json(source["security"])
        if "externalDocs" in source:
            out["externalDocs"] = copy_json(source["externalDocs"])
        for kind, code in (("callbacks", "callbacks_dropped"), ("links", "links_dropped")):
            if self._section(kind):
                self.log.add(
                    ["components", kind], code, f"OpenAPI 2.0 has no {kind}; they are left out."
                )
        out.update(self.schemas.extensions(source))
        return out

    # -- servers -------------------------------------------------------------------------------

    def _servers(self) -> dict[str, Any]:
        servers = [s for s in self.source.get("servers") or [] if isinstance(s, dict)]
        if not servers:
            return {}
        first_schemes, host, base_path = self._server(servers[0], ["servers", 0])
        schemes = list(first_schemes)
        for index, server in enumerate(servers[1:], start=1):
            other_schemes, other_host, other_base_path = self._server(server, ["servers", index])
            if (other_host, other_base_path) == (host, base_path):
                schemes = _unique([*schemes, *other_schemes])
            else:
                self.log.add(
                    ["servers", index],
                    "multiple_servers",
                    f"OpenAPI 2.0 has one host and base path: the server {server.get('url')!r} "
                    "is left out and only the first server is described.",
                )
        out: dict[str, Any] = {}
        if host:
            out["host"] = host
        if base_path:
            out["basePath"] = base_path
        if schemes:
            out["schemes"] = schemes
        return out

    def _server(self, server: dict[str, Any], where: Where) -> tuple[list[str], str, str]:
        """(schemes, host, basePath) of one server, variables at their defaults."""
        url = str(server.get("url", "/"))
        variables = as_dict(server.get("variables"))
        schemes: list[str] = []
        scheme_variable = _SCHEME_VARIABLE.match(url)
        if scheme_variable:
            # "{scheme}://…" with an enum of schemes is what 2.0 `schemes` says.
            variable = variables.get(scheme_variable.group(1)) or {}
            options = [variable.get("default"), *(variable.get("enum") or [])]
            schemes = _unique(str(s) for s in options if isinstance(s, str) and s in SCHEMES)
            if schemes:
                url = schemes[0] + url[scheme_variable.end() - len("://") :]
        if _VARIABLE.search(url):
            self.log.add(
                [*where, "url"],
                "server_variables_substituted",
                "OpenAPI 2.0 has no server variables: each is replaced by its default value.",
            )
            url = _VARIABLE.sub(
                lambda m: str((variables.get(m.group(1)) or {}).get("default", "")), url
            )
        parts = urlsplit(url)
        if parts.scheme and not schemes:
            if parts.scheme in SCHEMES:
                schemes = [parts.scheme]
            else:
                self.log.add(
                    [*where, "url"],
                    "server_url_unsupported",
                    f"OpenAPI 2.0 schemes are http, https, ws and wss, not {parts.scheme!r}.",
                )
        host = parts.netloc
        if host and not _HOST.match(host):
            self.log.add(
                [*where, "url"],
                "server_url_unsupported",
                f"{host!r} is not a host OpenAPI 2.0 can describe; the host is left out.",
            )
            host = ""
        base_path = parts.path.rstrip("/")
        if base_path and not base_path.startswith("/"):
            base_path = "/" + base_path
        return schemes, host, base_path

    # -- security ------------------------------------------------------------------------------

    def _security_definitions(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, raw in self._section("securitySchemes").items():
            scheme = self.schemas.follow(raw)
            if isinstance(scheme, dict):
                out[name] = self._security_scheme(scheme, ["components", "securitySchemes", name])
        return out

    def _security_scheme(self, scheme: dict[str, Any], where: Where) -> dict[str, Any]:
        kind = scheme.get("type")
        out: dict[str, Any]
        if kind == "apiKey":
            out = {"type": "apiKey", "name": scheme.get("name"), "in": scheme.get("in")}
        elif kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
            out = {"type": "basic"}
        elif kind == "oauth2" and isinstance(scheme.get("flows"), dict) and scheme["flows"]:
            out = self._oauth2(scheme["flows"], where)
        else:
            what = f"http {scheme.get('scheme')}" if kind == "http" else str(kind)
            self.log.add(
                where,
                "unsupported_security_scheme",
                f"OpenAPI 2.0 has no {what} security scheme: it is described as a credential "
                "in the Authorization header.",
            )
            out = {"type": "apiKey", "in": "header", "name": "Authorization"}
            if "description" not in scheme:
                out["description"] = f"{what} credentials in the Authorization header."
        if "description" in scheme:
            out["description"] = scheme["description"]
        out.update(self.schemas.extensions(scheme))
        return out

    def _oauth2(self, flows: dict[str, Any], where: Where) -> dict[str, Any]:
        name, flow = next(iter(flows.items()))
        if len(flows) > 1:
            self.log.add(
                [*where, "flows"],
                "multiple_oauth_flows",
                f"An OpenAPI 2.0 oauth2 scheme has one flow: only {name!r} is described.",
            )
        flow = as_dict(flow)
        out: dict[str, Any] = {"type": "oauth2", "flow": OAUTH2_FLOWS.get(name, name)}
        for url in ("authorizationUrl", "tokenUrl"):
            if url in flow:
                out[url] = flow[url]
        out["scopes"] = copy_json(flow.get("scopes") or {})
        if "refreshUrl" in flow:
            self.log.add(
                [*where, "flows", name, "refreshUrl"],
                "field_dropped",
                "OpenAPI 2.0 oauth2 flows have no refreshUrl; it is left out.",
            )
        return out

    # -- paths and operations ------------------------------------------------------------------

    def _paths(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path, item in as_dict(self.source.get("paths")).items():
            if path.startswith("x-"):
                out[path] = copy_json(item, self.schemas.extension_ref)
            elif isinstance(item, dict):
                out[path] = self._path_item(item, ["paths", path])
        return out

    def _path_item(self, item: dict[str, Any], where: Where) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "$ref" in item:
            out["$ref"] = copy_json(item["$ref"])
        for key in ("summary", "description"):
            if isinstance(item.get(key), str):
                out[f"x-{key}"] = item[key]
        if "servers" in item:
            self.log.add(
                [*where, "servers"],
                "path_servers_dropped",
                "OpenAPI 2.0 has no servers per path; the document's host is used.",
            )
        parameters = self.parameters.parameters(item.get("parameters"), [*where, "parameters"])
        if parameters:
            out["parameters"] = parameters
        for method in SWAGGER2_HTTP_METHODS:
            if isinstance(item.get(method), dict):
                out[method] = self._operation(item[method], [*where, method])
        if "trace" in item:
            self.log.add(
                [*where, "trace"],
                "trace_dropped",
                "OpenAPI 2.0 has no trace operations; this one is left out.",
            )
        out.update(self.schemas.extensions(item))
        return out

    def _operation(self, op: dict[str, Any], where: Where) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("tags", "summary", "description", "externalDocs", "operationId"):
            if key in op:
                out[key] = copy_json(op[key])
        parameters = self.parameters.parameters(op.get("parameters"), [*where, "parameters"])
        consumes: list[str] = []
        if "requestBody" in op:
            body_parameters, consumes = self.parameters.operation_body(
                op["requestBody"], [*where, "requestBody"]
            )
            parameters.extend(body_parameters)
        responses, produces = self._responses(op.get("responses"), [*where, "responses"])
        if consumes:
            out["consumes"] = consumes
        if produces:
            out["produces"] = produces
        if parameters:
            out["parameters"] = parameters
        out["responses"] = responses
        if "deprecated" in op:
            out["deprecated"] = op["deprecated"]
        if "security" in op:
            out["security"] = copy_json(op["security"])
        if op.get("callbacks"):
            self.log.add(
                [*where, "callbacks"],
                "callbacks_dropped",
                "OpenAPI 2.0 has no callbacks; they are left out.",
            )
        if "servers" in op:
            self.log.add(
                [*where, "servers"],
                "operation_servers_dropped",
                "OpenAPI 2.0 has no servers per operation; the document's host is used.",
            )
        out.update(self.schemas.extensions(op))
        return out

    # -- responses -----------------------------------------------------------------------------

    def _responses(self, responses: Any, where: Where) -> tuple[dict[str, Any], list[str]]:
        out: dict[str, Any] = {}
        produces: list[str] = []
        for code, raw in (as_dict(responses)).items():
            key = str(code)
            if key.startswith("x-"):
                out[key] = copy_json(raw, self.schemas.extension_ref)
                continue
            if not (_STATUS.match(key) or key == "default"):
                self.log.add(
                    [*where, key],
                    "status_range_dropped",
                    f"OpenAPI 2.0 has no status code ranges: the {key} response is left out.",
                )
                continue
            response = self.schemas.follow(raw)
            tokens = ref_parts(raw["$ref"]) if isinstance(raw, dict) and "$ref" in raw else None
            if (
                tokens is not None
                and tokens[:2] == ["components", "responses"]
                and len(tokens) == 3
                and isinstance(response, dict)
                and "$ref" not in response
            ):
                out[key] = {"$ref": ref_to(["responses", tokens[2]])}
                produces.extend(response.get("content") or {})
                continue
            if not isinstance(response, dict) or "$ref" in response:
                out[key] = copy_json(raw)
                continue
            out[key], media_types = self._response(response, [*where, key])
            produces.extend(media_types)
        if not any(not key.startswith("x-") for key in out):
            out["default"] = {"description": "Default response"}
        return out, _unique(produces)

    def _response(self, response: dict[str, Any], where: Where) -> tuple[dict[str, Any], list[str]]:
        out: dict[str, Any] = {"description": str(response.get("description") or "")}
        content = as_dict(response.get("content"))
        media_types = list(content)
        with_schema = [
            m for m in media_types if isinstance(content[m], dict) and "schema" in content[m]
        ]
        if with_schema:
            first = with_schema[0]
            out["schema"] = self.schemas.schema(
                content[first]["schema"], [*where, "content", first, "schema"]
            )
            self.schemas.check_one_schema(content, with_schema, [*where, "content"])
        headers = response.get("headers")
        if isinstance(headers, dict) and headers:
            out["headers"] = {
                name: self.parameters.header(header, [*where, "headers", name])
                for name, header in headers.items()
            }
        examples: dict[str, Any] = {}
        for media_type in media_types:
            media = content[media_type]
            if isinstance(media, dict):
                found: dict[str, Any] = {}
                self.parameters.examples(media, found, [*where, "content", media_type])
                if "x-example" in found:
                    examples[media_type] = found["x-example"]
        if examples:
            out["examples"] = examples
        if response.get("links"):
            self.log.add(
                [*where, "links"], "links_dropped", "OpenAPI 2.0 has no links; they are left out."
            )
        out.update(self.schemas.extensions(response))
        return out, media_types
