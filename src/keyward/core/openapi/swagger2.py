"""OpenAPI 2.0 (Swagger) to OpenAPI 3.0.3, without loss: everything 2.0 says, 3.0 can say.

Servers come from host/basePath/schemes; definitions, parameters, responses and
securityDefinitions move under components with every `$ref` rewritten; body and formData
parameters become request bodies per `consumes`; response schemas become content per `produces`;
collectionFormat becomes style/explode; `x-nullable` becomes `nullable`. Extensions are kept, and
`security` (including `[]` and `[{}]`) is copied unchanged.

The 2.0 spellings of 3.0 features that `openapi3.to_swagger2` writes (`x-nullable`, `x-oneOf`,
`x-anyOf`, `x-not`, `x-discriminator`, `x-writeOnly`, `x-deprecated`, `x-collectionFormat`,
path-level `x-summary`/`x-description`, `x-codegen-request-body-name`) are read back, so a 3.0
document survives the round trip through 2.0.
"""

import re
from typing import Any

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import (
    BODY_NAME_EXTENSION,
    FORM_MEDIA_TYPES,
    ConversionError,
    ConversionWarning,
    as_dict,
    copy_json,
    is_form,
    ref_parts,
)
from keyward.core.openapi.documents import SWAGGER2_HTTP_METHODS, ref_to
from keyward.core.openapi.swagger2_schemas import SCHEMA_EXTENSIONS, SchemasToOpenAPI3

DEFAULT_BODY_MEDIA_TYPE = "application/json"
# 2.0 does not say what a response without `produces` is; claim nothing more than "some type".
DEFAULT_RESPONSE_MEDIA_TYPE = "*/*"

_SERVER_VARIABLE = re.compile(r"\{([^}]+)\}")


def to_openapi3(doc: Document) -> Document:
    """The OpenAPI 3.0.3 form of a 2.0 document; `doc` is not changed.

    `swagger: 2.0` written unquoted in YAML (a float) is accepted. Raises `ConversionError`
    (`unsupported_version`) for anything but 2.0. Documents that are not strictly valid are
    converted as far as they make sense: unknown fields are dropped, unresolvable `$ref`s kept.
    """
    version = doc.get("swagger")
    if str(version) != "2.0":
        raise ConversionError(
            f"Expected an OpenAPI 2.0 document (swagger: '2.0'), got {version!r}.",
            [ConversionWarning("/swagger", "unsupported_version", "Only 2.0 is converted.")],
        )
    return _Converter(doc).document()


def _collection_style(collection_format: str | None, location: str) -> dict[str, Any]:
    """The 3.0 style/explode of a 2.0 collectionFormat for a parameter in `location`.

    2.0's default is csv. tsv, and ssv/pipes outside the query, have no 3.0 style: they are kept
    as `x-collectionFormat` so the way back can restore them.
    """
    fmt = collection_format or "csv"
    if fmt == "csv":
        if location in ("query", "cookie", "formData"):
            return {"style": "form", "explode": False}
        return {"style": "simple"}
    if fmt == "multi":
        return {"explode": True}
    if fmt == "ssv" and location in ("query", "formData"):
        return {"style": "spaceDelimited"}
    if fmt == "pipes" and location in ("query", "formData"):
        return {"style": "pipeDelimited"}
    return {"x-collectionFormat": fmt}


def _media_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return list(dict.fromkeys(str(item) for item in value))
    return None


class _Converter:
    def __init__(self, source: Document) -> None:
        self.source = source
        self.consumes = _media_list(source.get("consumes")) or []
        self.produces = _media_list(source.get("produces")) or []
        self.schemes = [str(s) for s in source.get("schemes") or [] if isinstance(s, str)]
        self.components: dict[str, dict[str, Any]] = {}
        self.schemas = SchemasToOpenAPI3(source)
        self.names = self.schemas.names

    # -- document ------------------------------------------------------------------------------

    def document(self) -> Document:
        source = self.source
        out: Document = {"openapi": "3.0.3"}
        info = copy_json(as_dict(source.get("info")))
        info.setdefault("title", "")
        info["version"] = str(info.get("version", ""))
        out["info"] = info
        servers = self._servers()
        if servers:
            out["servers"] = servers
        if "tags" in source:
            out["tags"] = copy_json(source["tags"])
        self._build_components()
        paths: dict[str, Any] = {}
        for path, item in as_dict(source.get("paths")).items():
            if str(path).startswith("x-"):
                paths[path] = copy_json(item, self.schemas.component_ref)
            elif isinstance(item, dict):
                paths[str(path)] = self._path_item(item)
        out["paths"] = paths
        self.components["schemas"].update(self.schemas.hoisted_schemas)
        components = {kind: section for kind, section in self.components.items() if section}
        if components:
            out["components"] = components
        if "security" in source:
            out["security"] = copy_json(source["security"])
        if "externalDocs" in source:
            out["externalDocs"] = copy_json(source["externalDocs"])
        out.update(self.schemas.extensions(source))
        return out

    def _servers(self) -> list[dict[str, Any]]:
        host = self.source.get("host")
        base_path = str(self.source.get("basePath") or "")
        if host:
            # No schemes: the API uses the scheme the document was served with.
            prefixes = [f"{scheme}://" for scheme in self.schemes] or ["//"]
            urls = [f"{prefix}{host}{base_path.rstrip('/')}" for prefix in prefixes]
        elif base_path:
            urls = [base_path]
        else:
            return []
        return [self._server(url) for url in urls]

    @staticmethod
    def _server(url: str) -> dict[str, Any]:
        server: dict[str, Any] = {"url": url}
        variables = _SERVER_VARIABLE.findall(url)
        if variables:
            server["variables"] = {name: {"default": name} for name in variables}
        return server

    # -- components ----------------------------------------------------------------------------

    def _build_components(self) -> None:
        source = self.source
        schemas: dict[str, Any] = {}
        parameters: dict[str, Any] = {}
        request_bodies: dict[str, Any] = {}
        responses: dict[str, Any] = {}
        schemes: dict[str, Any] = {}
        self.components = {
            "schemas": schemas,
            "responses": responses,
            "parameters": parameters,
            "requestBodies": request_bodies,
            "securitySchemes": schemes,
        }
        for name, schema in as_dict(source.get("definitions")).items():
            schemas[self.names["definitions"][name]] = self.schemas.schema(schema)
        for name, param in as_dict(source.get("parameters")).items():
            new_name = self.names["parameters"][name]
            if not isinstance(param, dict):
                continue
            if param.get("in") == "body":
                request_bodies[new_name] = self._request_body(param, self.consumes)
            elif param.get("in") != "formData":
                # formData parameters are merged into each operation's form body instead.
                parameters[new_name] = self._parameter(param)
        for name, response in as_dict(source.get("responses")).items():
            responses[self.names["responses"][name]] = self._response(response, self.produces)
        for name, scheme in as_dict(source.get("securityDefinitions")).items():
            schemes[name] = self._security_scheme(scheme)

    def _security_scheme(self, scheme: Any) -> Any:
        if not isinstance(scheme, dict):
            return copy_json(scheme)
        kind = scheme.get("type")
        out: dict[str, Any]
        if kind == "basic":
            out = {"type": "http", "scheme": "basic"}
        elif kind == "apiKey":
            out = {"type": "apiKey", "name": scheme.get("name"), "in": scheme.get("in")}
        elif kind == "oauth2":
            flow_name = {"application": "clientCredentials", "accessCode": "authorizationCode"}
            flow: dict[str, Any] = {}
            for url in ("authorizationUrl", "tokenUrl"):
                if url in scheme:
                    flow[url] = scheme[url]
            flow["scopes"] = copy_json(scheme.get("scopes") or {})
            name = str(scheme.get("flow", "implicit"))
            out = {"type": "oauth2", "flows": {flow_name.get(name, name): flow}}
        else:
            return copy_json(scheme)
        if "description" in scheme:
            out["description"] = scheme["description"]
        out.update(self.schemas.extensions(scheme))
        return out

    # -- parameters ----------------------------------------------------------------------------

    def _parameter(self, param: dict[str, Any]) -> dict[str, Any]:
        location = param.get("in")
        out: dict[str, Any] = {}
        for key in ("name", "in", "description", "required"):
            if key in param:
                out[key] = copy_json(param[key])
        if location == "path":
            out["required"] = True
        if location == "query" and "allowEmptyValue" in param:
            out["allowEmptyValue"] = param["allowEmptyValue"]
        if "x-deprecated" in param:
            out["deprecated"] = param["x-deprecated"]
        schema = self.schemas.simple_schema(param)
        if schema.get("type") == "array" or "collectionFormat" in param:
            out.update(_collection_style(param.get("collectionFormat"), str(location)))
        out["schema"] = schema
        if "x-example" in param:
            out["example"] = copy_json(param["x-example"])
        out.update(
            (key, value)
            for key, value in self.schemas.extensions(param).items()
            if key not in ("x-example", "x-deprecated", *SCHEMA_EXTENSIONS)
        )
        return out

    def _parameter_ref(self, raw: dict[str, Any], resolved: Any) -> Any:
        """A non-body parameter as 3.0 says it: a `$ref` to components if it was one."""
        tokens = ref_parts(raw["$ref"]) if isinstance(raw.get("$ref"), str) else None
        if tokens is not None and len(tokens) == 2 and tokens[0] == "parameters":
            return {"$ref": self.schemas.component_ref(raw["$ref"])}
        if isinstance(resolved, dict) and "$ref" not in resolved:
            return self._parameter(resolved)
        return copy_json(raw)

    def _request_body(self, param: dict[str, Any], consumes: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if "description" in param:
            body["description"] = param["description"]
        schema = self.schemas.schema(param.get("schema", {}))
        body["content"] = {
            media_type: {"schema": copy_json(schema)}
            for media_type in consumes or [DEFAULT_BODY_MEDIA_TYPE]
        }
        if param.get("required"):
            body["required"] = True
        name = param.get("name")
        if isinstance(name, str) and name != "body" and BODY_NAME_EXTENSION not in param:
            body[BODY_NAME_EXTENSION] = name
        body.update(self.schemas.extensions(param))
        return body

    def _form_body(self, params: list[dict[str, Any]], consumes: list[str]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        encoding: dict[str, Any] = {}
        for param in params:
            name = str(param.get("name", ""))
            prop: dict[str, Any] = {}
            if "description" in param:
                prop["description"] = param["description"]
            if "x-example" in param:
                prop["example"] = copy_json(param["x-example"])
            prop.update(self.schemas.simple_schema(param))
            prop.update(
                (key, value)
                for key, value in self.schemas.extensions(param).items()
                if key not in ("x-example", *SCHEMA_EXTENSIONS)
            )
            properties[name] = prop
            if param.get("required"):
                required.append(name)
            if param.get("type") == "array":
                encoding[name] = _collection_style(param.get("collectionFormat"), "formData")
        has_file = any(param.get("type") == "file" for param in params)
        media_types = [media_type for media_type in consumes if is_form(media_type)]
        if not media_types:
            media_types = [FORM_MEDIA_TYPES[1] if has_file else FORM_MEDIA_TYPES[0]]
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        content: dict[str, Any] = {}
        for media_type in media_types:
            content[media_type] = {"schema": copy_json(schema)}
            if encoding:
                content[media_type]["encoding"] = copy_json(encoding)
        body: dict[str, Any] = {"content": content}
        if required:
            body["required"] = True
        return body

    # -- paths ---------------------------------------------------------------------------------

    def _path_item(self, item: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("x-summary", "x-description"):
            if isinstance(item.get(key), str):
                out[key[2:]] = item[key]
        if "$ref" in item:
            out["$ref"] = copy_json(item["$ref"])
        shared = [(raw, self.schemas.follow(raw)) for raw in item.get("parameters") or []]
        plain = [
            self._parameter_ref(raw, resolved)
            for raw, resolved in shared
            if not (isinstance(resolved, dict) and resolved.get("in") in ("body", "formData"))
        ]
        if plain:
            out["parameters"] = plain
        for method in SWAGGER2_HTTP_METHODS:
            if isinstance(item.get(method), dict):
                out[method] = self._operation(item[method], shared)
        out.update(
            (key, value)
            for key, value in self.schemas.extensions(item).items()
            if key not in ("x-summary", "x-description")
        )
        return out

    def _operation(self, op: dict[str, Any], shared: list[tuple[Any, Any]]) -> dict[str, Any]:
        consumes = _media_list(op.get("consumes"))
        produces = _media_list(op.get("produces"))
        own = [(raw, self.schemas.follow(raw)) for raw in op.get("parameters") or []]
        overridden = {
            (resolved.get("name"), resolved.get("in"))
            for _, resolved in own
            if isinstance(resolved, dict)
        }
        body: tuple[Any, dict[str, Any]] | None = None
        form: list[dict[str, Any]] = []
        inherited = [
            (raw, resolved)
            for raw, resolved in shared
            if isinstance(resolved, dict)
            and (resolved.get("name"), resolved.get("in")) not in overridden
        ]
        # Path-level parameters stay on the path item, except bodies, which 3.0 only has per
        # operation.
        for raw, resolved in [*inherited, *own]:
            location = resolved.get("in") if isinstance(resolved, dict) else None
            if location == "body":
                body = (raw, resolved)
            elif location == "formData":
                form.append(resolved)
        parameters = [
            self._parameter_ref(raw, resolved)
            for raw, resolved in own
            if not (isinstance(resolved, dict) and resolved.get("in") in ("body", "formData"))
        ]

        out: dict[str, Any] = {}
        for key in ("tags", "summary", "description", "externalDocs", "operationId"):
            if key in op:
                out[key] = copy_json(op[key])
        if parameters:
            out["parameters"] = parameters
        if body is not None:
            out["requestBody"] = self._operation_body(body[0], body[1], consumes)
        elif form:
            out["requestBody"] = self._form_body(form, consumes or self.consumes)
        responses = op.get("responses")
        if isinstance(responses, dict) and responses:
            out["responses"] = {
                str(code): copy_json(response, self.schemas.component_ref)
                if str(code).startswith("x-")
                else self._response(response, produces or self.produces)
                for code, response in responses.items()
            }
        else:
            out["responses"] = {"default": {"description": "Default response"}}
        if "deprecated" in op:
            out["deprecated"] = op["deprecated"]
        if "security" in op:
            out["security"] = copy_json(op["security"])
        servers = self._operation_servers(op)
        if servers:
            out["servers"] = servers
        out.update(self.schemas.extensions(op))
        return out

    def _operation_body(
        self, raw: Any, param: dict[str, Any], consumes: list[str] | None
    ) -> dict[str, Any]:
        tokens = ref_parts(raw["$ref"]) if isinstance(raw, dict) and "$ref" in raw else None
        if (
            tokens is not None
            and len(tokens) == 2
            and tokens[0] == "parameters"
            and (consumes is None or consumes == self.consumes)
        ):
            return {
                "$ref": ref_to(["components", "requestBodies", self.names["parameters"][tokens[1]]])
            }
        return self._request_body(param, consumes if consumes is not None else self.consumes)

    def _operation_servers(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        own = [str(s) for s in op.get("schemes") or [] if isinstance(s, str)]
        host = self.source.get("host")
        if not own or not host or own == self.schemes:
            return []
        base_path = str(self.source.get("basePath") or "").rstrip("/")
        return [self._server(f"{scheme}://{host}{base_path}") for scheme in own]

    # -- responses -----------------------------------------------------------------------------

    def _response(self, response: Any, produces: list[str]) -> Any:
        if not isinstance(response, dict):
            return copy_json(response)
        if isinstance(response.get("$ref"), str):
            return {"$ref": self.schemas.component_ref(response["$ref"])}
        out: dict[str, Any] = {"description": str(response.get("description") or "")}
        headers = response.get("headers")
        if isinstance(headers, dict) and headers:
            out["headers"] = {name: self._header(header) for name, header in headers.items()}
        content: dict[str, Any] = {}
        if "schema" in response:
            schema = self.schemas.schema(response["schema"])
            for media_type in produces or [DEFAULT_RESPONSE_MEDIA_TYPE]:
                content[media_type] = {"schema": copy_json(schema)}
        examples = response.get("examples")
        if isinstance(examples, dict):
            for media_type, example in examples.items():
                content.setdefault(media_type, {})["example"] = copy_json(example)
        if content:
            out["content"] = content
        out.update(self.schemas.extensions(response))
        return out

    def _header(self, header: Any) -> Any:
        if not isinstance(header, dict):
            return copy_json(header)
        out: dict[str, Any] = {}
        if "description" in header:
            out["description"] = header["description"]
        if header.get("type") == "array" or "collectionFormat" in header:
            style = _collection_style(header.get("collectionFormat"), "header")
            # simple is the only style of a header; say nothing when it is the default.
            out.update((key, value) for key, value in style.items() if key != "style")
        out["schema"] = self.schemas.simple_schema(header)
        if "x-example" in header:
            out["example"] = copy_json(header["x-example"])
        out.update(
            (key, value)
            for key, value in self.schemas.extensions(header).items()
            if key not in ("x-example", *SCHEMA_EXTENSIONS)
        )
        return out
