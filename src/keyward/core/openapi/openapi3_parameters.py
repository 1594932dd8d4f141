"""OpenAPI 3.0 parameters, request bodies and headers as OpenAPI 2.0 parameters and headers.

A request body becomes one `in: body` parameter, or one `in: formData` parameter per field of
a form schema; 2.0 cannot have both, nor one body schema per media type, so the first media type
decides and the rest is reported (`multiple_media_types`). Cookie parameters do not exist in 2.0
(`cookie_parameter_dropped`); styles become collectionFormat where one matches.
"""

from typing import Any

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import (
    BODY_NAME_EXTENSION,
    FORM_MEDIA_TYPES,
    WarningLog,
    Where,
    as_dict,
    copy_json,
    is_form,
    ref_parts,
)
from keyward.core.openapi.documents import ref_to, unique_name
from keyward.core.openapi.openapi3_schemas import SchemasToSwagger2


def _collection_format(style: str, explode: bool) -> str | None:
    """The 2.0 collectionFormat of an array serialised with `style`/`explode`, if any."""
    if style == "form":
        return "multi" if explode else "csv"
    return {"simple": "csv", "spaceDelimited": "ssv", "pipeDelimited": "pipes"}.get(style)


class ParametersToSwagger2:
    """Converts the parameters, request bodies and headers of one 3.0 document."""

    def __init__(self, source: Document, log: WarningLog, schemas: SchemasToSwagger2) -> None:
        self.source = source
        self.log = log
        self.schemas = schemas
        self.components = as_dict(source.get("components"))
        # The document's global 2.0 parameters, filled by `build_globals`.
        self.globals: dict[str, Any] = {}
        # components/parameters that 2.0 cannot have (cookies): references to them are dropped.
        self.dropped: set[str] = set()
        # components/requestBodies: a body becomes a global body parameter, form fields are
        # copied into each operation that uses them.
        self.bodies: dict[str, tuple[str, list[str]]] = {}
        self.forms: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}

    def _section(self, name: str) -> dict[str, Any]:
        return as_dict(self.components.get(name))

    def build_globals(self) -> None:
        for name, raw in self._section("parameters").items():
            converted = self._parameter(
                self.schemas.follow(raw), ["components", "parameters", name]
            )
            if converted is None:
                self.dropped.add(name)
            else:
                self.globals[name] = converted
        taken = set(self._section("parameters"))
        for name, raw in self._section("requestBodies").items():
            where = ["components", "requestBodies", name]
            body = self.schemas.follow(raw)
            if not isinstance(body, dict):
                continue
            parameters, consumes = self._request_body(body, where)
            if parameters and parameters[0].get("in") == "body":
                parameter_name = unique_name(name, taken)
                taken.add(parameter_name)
                self.globals[parameter_name] = parameters[0]
                self.bodies[name] = (parameter_name, consumes)
            else:
                self.forms[name] = (parameters, consumes)

    def parameters(self, parameters: Any, where: Where) -> list[Any]:
        out: list[Any] = []
        for index, raw in enumerate(parameters if isinstance(parameters, list) else []):
            tokens = ref_parts(raw["$ref"]) if isinstance(raw, dict) and "$ref" in raw else None
            if (
                tokens is not None
                and tokens[:2] == ["components", "parameters"]
                and len(tokens) == 3
            ):
                if tokens[2] in self.globals:
                    out.append({"$ref": ref_to(["parameters", tokens[2]])})
                    continue
                if tokens[2] in self.dropped:
                    continue
            param = self.schemas.follow(raw)
            if isinstance(param, dict) and "$ref" in param:
                out.append(copy_json(param))  # a remote reference: not ours to follow
                continue
            converted = self._parameter(param, [*where, index])
            if converted is not None:
                out.append(converted)
        return out

    def _parameter(self, param: Any, where: Where) -> dict[str, Any] | None:
        if not isinstance(param, dict):
            return None
        location = param.get("in")
        if location == "cookie":
            self.log.add(
                where,
                "cookie_parameter_dropped",
                f"OpenAPI 2.0 has no cookie parameters: {param.get('name')!r} is left out.",
            )
            return None
        out: dict[str, Any] = {"name": param.get("name"), "in": location}
        if "description" in param:
            out["description"] = param["description"]
        if "required" in param:
            out["required"] = bool(param["required"])
        if location == "path":
            out["required"] = True
        schema, schema_where = param.get("schema", {}), [*where, "schema"]
        if isinstance(param.get("content"), dict) and param["content"]:
            media_type, media = next(iter(param["content"].items()))
            schema = as_dict(media).get("schema", {})
            schema_where = [*where, "content", media_type, "schema"]
            self.log.add(
                [*where, "content"],
                "parameter_content_unsupported",
                f"OpenAPI 2.0 cannot say a parameter is sent as {media_type}; only its schema "
                "is kept.",
            )
        simple = self.schemas.simple(schema, schema_where)
        if simple is None:
            out.update(self.schemas.simple_or_string(schema, schema_where, "parameters"))
        else:
            out.update(simple)
            self._serialisation(param, out, where)
        if location == "query" and "allowEmptyValue" in param:
            out["allowEmptyValue"] = param["allowEmptyValue"]
        followed = self.schemas.follow(schema)
        if isinstance(followed, dict) and followed.get("nullable") is True:
            out["x-nullable"] = True
        self.examples(param, out, where)
        if "deprecated" in param:
            out["x-deprecated"] = param["deprecated"]
        if "allowReserved" in param:
            self.log.add(
                [*where, "allowReserved"],
                "field_dropped",
                "OpenAPI 2.0 has no allowReserved; reserved characters will be percent-encoded.",
            )
        out.update(
            (key, value)
            for key, value in self.schemas.extensions(param).items()
            if key != "x-collectionFormat"
        )
        return out

    def _serialisation(self, param: dict[str, Any], out: dict[str, Any], where: Where) -> None:
        location = param.get("in")
        default_style = "form" if location == "query" else "simple"
        style = str(param.get("style", default_style))
        explode = bool(param.get("explode", style == "form"))
        if out.get("type") == "array":
            fmt = param.get("x-collectionFormat") or _collection_format(style, explode)
            if fmt is None:
                # Closest in spirit: repeated names when exploded (only query and form data
                # can repeat a name in 2.0), one joined value otherwise.
                fmt = "multi" if explode and location == "query" else "csv"
                self.log.add(
                    [*where, "style"],
                    "parameter_style_unsupported",
                    f"OpenAPI 2.0 cannot serialise an array with style {style!r}; it is "
                    f"described with collectionFormat {fmt}.",
                )
            out["collectionFormat"] = fmt
        elif style != default_style:
            self.log.add(
                [*where, "style"],
                "parameter_style_unsupported",
                f"OpenAPI 2.0 has no parameter style {style!r}; the value is sent plainly.",
            )

    def examples(self, source: dict[str, Any], out: dict[str, Any], where: Where) -> None:
        """`example`, or the first of `examples`, as 2.0's conventional `x-example`."""
        if "example" in source:
            out["x-example"] = copy_json(source["example"])
            return
        examples = source.get("examples")
        if not isinstance(examples, dict) or not examples:
            return
        values = [self.schemas.follow(example) for example in examples.values()]
        if isinstance(values[0], dict) and "value" in values[0]:
            out["x-example"] = copy_json(values[0]["value"])
        if len(values) > 1 or "x-example" not in out:
            self.log.add(
                [*where, "examples"],
                "examples_dropped",
                "OpenAPI 2.0 has one example here: the others are left out.",
            )

    def operation_body(self, raw: Any, where: Where) -> tuple[list[dict[str, Any]], list[str]]:
        tokens = ref_parts(raw["$ref"]) if isinstance(raw, dict) and "$ref" in raw else None
        if (
            tokens is not None
            and tokens[:2] == ["components", "requestBodies"]
            and len(tokens) == 3
        ):
            if tokens[2] in self.bodies:
                name, consumes = self.bodies[tokens[2]]
                return [{"$ref": ref_to(["parameters", name])}], list(consumes)
            if tokens[2] in self.forms:
                parameters, consumes = self.forms[tokens[2]]
                return copy_json(parameters), list(consumes)
        body = self.schemas.follow(raw)
        if not isinstance(body, dict):
            return [], []
        return self._request_body(body, where)

    def _request_body(
        self, body: dict[str, Any], where: Where
    ) -> tuple[list[dict[str, Any]], list[str]]:
        content = body.get("content")
        if not isinstance(content, dict) or not content:
            return [], []
        media_types = list(content)
        forms = [media_type for media_type in media_types if is_form(media_type)]
        others = [media_type for media_type in media_types if not is_form(media_type)]
        kept, dropped = (forms, others) if is_form(media_types[0]) else (others, forms)
        if dropped:
            self.log.add(
                [*where, "content"],
                "multiple_media_types",
                "OpenAPI 2.0 cannot take both form fields and a body: "
                f"{', '.join(dropped)} left out.",
            )
        self.schemas.check_one_schema(content, kept, [*where, "content"])
        if kept is forms:
            return self._form_parameters(content, forms, where), forms
        return [self._body_parameter(body, others, where)], others

    def _body_parameter(
        self, body: dict[str, Any], media_types: list[str], where: Where
    ) -> dict[str, Any]:
        first = media_types[0]
        media = as_dict(body["content"][first])
        out: dict[str, Any] = {"name": str(body.get(BODY_NAME_EXTENSION) or "body"), "in": "body"}
        if "description" in body:
            out["description"] = body["description"]
        if "required" in body:
            out["required"] = bool(body["required"])
        out["schema"] = self.schemas.schema(
            media.get("schema", {}), [*where, "content", first, "schema"]
        )
        if any(
            isinstance(body["content"][m], dict)
            and ("example" in body["content"][m] or "examples" in body["content"][m])
            for m in media_types
        ):
            self.log.add(
                [*where, "content"],
                "examples_dropped",
                "OpenAPI 2.0 request bodies have no examples; they are left out.",
            )
        out.update(
            (key, value)
            for key, value in self.schemas.extensions(body).items()
            if key != BODY_NAME_EXTENSION
        )
        return out

    def _form_parameters(
        self, content: dict[str, Any], media_types: list[str], where: Where
    ) -> list[dict[str, Any]]:
        first = media_types[0]
        media = as_dict(content[first])
        here = [*where, "content", first, "schema"]
        properties, required = self._object_properties(media.get("schema", {}))
        if properties is None:
            self.log.add(
                here,
                "form_schema_unsupported",
                "OpenAPI 2.0 form data is a list of named fields: a form schema without "
                "properties cannot be described.",
            )
            return []
        multipart = any(m.split(";")[0].strip().lower() == FORM_MEDIA_TYPES[1] for m in media_types)
        encoding = as_dict(media.get("encoding"))
        parameters: list[dict[str, Any]] = []
        for name, prop in properties.items():
            field_where = [*here, "properties", name]
            param: dict[str, Any] = {"name": name, "in": "formData"}
            followed = self.schemas.follow(prop)
            followed = as_dict(followed)
            if "description" in followed:
                param["description"] = followed["description"]
            if name in required:
                param["required"] = True
            param.update(
                self.schemas.simple_or_string(prop, field_where, "form fields", file=multipart)
            )
            if param.get("type") == "array":
                field_encoding = as_dict(encoding.get(name))
                style = str(field_encoding.get("style", "form"))
                explode = bool(field_encoding.get("explode", style == "form"))
                param["collectionFormat"] = (
                    field_encoding.get("x-collectionFormat")
                    or _collection_format(style, explode)
                    or "multi"
                )
            if "example" in followed:
                param["x-example"] = copy_json(followed["example"])
            param.update(self.schemas.extensions(followed))
            parameters.append(param)
        return parameters

    def _object_properties(self, node: Any) -> tuple[dict[str, Any] | None, set[str]]:
        """The properties of an object schema, following `$ref`s and merging `allOf`."""
        schema = self.schemas.follow(node)
        if not isinstance(schema, dict):
            return None, set()
        properties: dict[str, Any] | None = None
        required: set[str] = set()
        if isinstance(schema.get("properties"), dict):
            properties = dict(schema["properties"])
        if isinstance(schema.get("required"), list):
            required.update(str(name) for name in schema["required"])
        for part in schema.get("allOf") or []:
            more, more_required = self._object_properties(part)
            if more is not None:
                properties = {**(properties or {}), **more}
            required |= more_required
        if properties is None and schema.get("type") == "object" and len(schema) == 1:
            properties = {}
        return properties, required

    def header(self, raw: Any, where: Where) -> dict[str, Any]:
        header = self.schemas.follow(raw)
        header = as_dict(header)
        out: dict[str, Any] = {}
        if "description" in header:
            out["description"] = header["description"]
        schema, schema_where = header.get("schema", {}), [*where, "schema"]
        if isinstance(header.get("content"), dict) and header["content"]:
            media_type, media = next(iter(header["content"].items()))
            schema = as_dict(media).get("schema", {})
            schema_where = [*where, "content", media_type, "schema"]
        out.update(self.schemas.simple_or_string(schema, schema_where, "headers"))
        if out.get("type") == "array":
            out["collectionFormat"] = "csv"
        self.examples(header, out, where)
        if "deprecated" in header:
            out["x-deprecated"] = header["deprecated"]
        out.update(self.schemas.extensions(header))
        return out
