"""Checking a loaded OpenAPI document: our own rules, then openapi-spec-validator's, all problems.

`check` returns every problem found (an empty list means the document is fine), each located
by a JSON pointer into the document. First our own checks, in this order:

- references (`ref_not_local`, `ref_unresolved`): every `$ref` must point inside the document
  (`#/...`) at something that exists. Remote (`http:`, `https:`), file and relative references
  are refused, never fetched. Values that are data rather than OpenAPI structure (`example`,
  `examples` holding data, `enum`, `const`, an Example's `value`, `x-` extensions, `default`
  unless it is itself a `{"$ref": ...}`, which the validator follows) are not searched, since a
  `$ref` key there is just data; a schema *property* named `$ref` is a property, not a
  reference. Problems come in document order.
- security (`security_scheme_undefined`): every name in a global or per-operation `security`
  requirement must be a scheme of `securityDefinitions` (2.0) or `components.securitySchemes`.
  A scheme's name must be what OpenAPI 3 allows for component names, `[A-Za-z0-9._-]`, at
  most 200 characters, in 2.0 too (`security_scheme_name_invalid`): key policies, exports and
  headers carry it. An `apiKey` scheme's parameter name must be an HTTP token of at most 200
  characters (`security_scheme_parameter_invalid`), since the gateway reads the key there.
- path templates: two paths that differ only in their parameters' names, such as `/a/{x}` and
  `/a/{y}`, match the same requests (`path_ambiguous`). A trailing slash is significant: `/a`
  and `/a/` are different paths, not ambiguous ones (OpenAPI compares paths as written, and so
  does keyward's gateway). A template must be well formed and name each parameter once
  (`path_template_invalid`); every operation must declare each of its path's parameters as
  `in: path`, at the operation or path level (`path_parameter_undeclared`); a declared path
  parameter must appear in its template (`path_parameter_not_in_template`).
- operation ids (`operation_id_duplicate`): unique among all operations, callbacks and 3.1
  webhooks included.

Then openapi-spec-validator's checks for the document's version (`spec_invalid`, or
`parameter_duplicate` and `schema_required_undefined` for its rule checks), only when every
reference resolved inside the document: the validator could not check the others, and it must
never try to fetch one. Its messages are located at the place in the document where the faulty
value is written, following `$ref`s, so a fault in a shared schema is reported once at the
schema. A document too deep for it to walk is `document_too_deep`. In 2.0, `default: null` is
accepted on a schema marked `x-nullable: true`, the extension 2.0 documents use for null.

Checking costs what the document's size says. The schema pass runs first in jsonschema-rs,
which only says whether the document is valid; only an invalid document is walked again by
jsonschema, for messages and locations. The validator's rule checks are walked here over the
document as loaded (`_Rules`), with its keyword validators' rules and messages; a default value
is validated by openapi-schema-validator with a resolver that refuses to retrieve anything, as
a second line of defence. A `budget` bounds the whole check: past it, `check` raises
`OverBudget`.
"""

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn, cast

import jsonschema_rs
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import extend, validator_for
from openapi_schema_validator import (
    OAS31_BASE_DIALECT_ID,
    OAS30Validator,
    OAS31Validator,
    oas30_format_checker,
    oas31_format_checker,
)
from openapi_spec_validator.schemas import schema_v2, schema_v30, schema_v31
from openapi_spec_validator.validation.exceptions import (
    ExtraParametersError,
    OpenAPIValidationError,
    ParameterDuplicateError,
)
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4, DRAFT202012

from keyward.core.openapi import Document
from keyward.core.openapi.documents import (
    Location,
    dereferenced,
    follow,
    local_ref_parts,
    path_operations,
    pointer_to,
)
from keyward.core.openapi.loading import LoadedDocument, Version
from keyward.core.openapi.problems import Problem

# Keys under which a value is data, not OpenAPI structure: a `$ref` inside is not a reference.
_DATA_KEYS = frozenset({"example", "default", "enum", "const", "value"})
# Keys whose mapping is keyed by names the author chose (properties, status codes, media types,
# component names...): those names are never keywords, so a property called `default` or a
# response called `default` is searched like any other.
_NAMED_MAPS = frozenset(
    {
        "properties",
        "patternProperties",
        "dependentSchemas",
        "definitions",
        "$defs",
        "schemas",
        "paths",
        "webhooks",
        "pathItems",
        "callbacks",
        "responses",
        "parameters",
        "headers",
        "securityDefinitions",
        "securitySchemes",
        "requestBodies",
        "examples",
        "links",
        "content",
        "encoding",
        "variables",
    }
)
_SCHEME_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}")
_TEMPLATE_PARAMETER = re.compile(r"\{([^{}/]+)\}")
_MAX_MESSAGE = 300
_MAX_VALUE = 80


class OverBudget(Exception):
    """Checking a document took longer than its budget."""

    def __init__(self, budget: float) -> None:
        super().__init__(f"checking the document took longer than {budget:g} s")
        self.budget = budget


_DEADLINE: ContextVar[float] = ContextVar("keyward_check_deadline", default=math.inf)


def _on_time() -> None:
    if time.monotonic() > _DEADLINE.get():
        raise _Late


class _Late(BaseException):
    """Raised inside the validators past the deadline: a BaseException, so that no `except
    Exception` of theirs (or ours) takes it for a problem of the document."""


def check(loaded: LoadedDocument, *, budget: float | None = None) -> list[Problem]:
    """Every problem of the document: our own checks, then the validator's (see module doc).

    With a `budget` in seconds, raises `OverBudget` when checking takes longer.
    """
    deadline = _DEADLINE.set(math.inf if budget is None else time.monotonic() + budget)
    try:
        return _check(loaded)
    except _Late:
        raise OverBudget(budget or 0.0) from None
    finally:
        _DEADLINE.reset(deadline)


def _check(loaded: LoadedDocument) -> list[Problem]:
    document = loaded.document
    reference_problems = _reference_problems(document, loaded.version)
    problems = [
        *reference_problems,
        *_security_problems(document, loaded.version),
        *_path_problems(document),
        *_operation_id_problems(document),
    ]
    if not reference_problems:
        problems += _validator_problems(loaded, already_found=bool(problems))
    return _unique(problems)


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# References


def _reference_problems(document: Document, version: Version) -> list[Problem]:
    problems: list[Problem] = []
    resolved: dict[str, Problem | None] = {}
    # (value, where it is, whether a mapping there is keyed by names rather than keywords)
    pending: list[tuple[Any, Location, bool]] = [(document, (), False)]
    while pending:
        value, path, named = pending.pop()
        # Children are stacked last first, so they are searched in document order.
        if isinstance(value, list):
            pending.extend(
                (item, (*path, index), False) for index, item in reversed(list(enumerate(value)))
            )
            continue
        if not isinstance(value, dict):
            continue
        for key, child in reversed(value.items()):
            if named:
                pending.append((child, (*path, key), False))
                continue
            if key == "$ref" and isinstance(child, str):
                if child not in resolved:
                    resolved[child] = _reference_problem(document, child)
                found = resolved[child]
                if found is not None:
                    problems.append(Problem(pointer_to((*path, key)), found.message, found.code))
                continue
            if key == "default" and isinstance(child, dict) and isinstance(child.get("$ref"), str):
                # The validator reads a default through a `$ref` written directly in it.
                pending.append((child, (*path, key), False))
                continue
            if key in _DATA_KEYS or key.startswith("x-"):
                continue
            if key == "examples" and (version == "2.0" or not isinstance(child, dict)):
                continue  # 2.0's examples by media type and 3.1 schemas' lists hold data
            pending.append((child, (*path, key), key in _NAMED_MAPS and isinstance(child, dict)))
    return problems


def _reference_problem(document: Document, ref: str) -> Problem | None:
    try:
        parts = local_ref_parts(ref)
    except ValueError:
        return Problem(
            "",
            f"The reference {ref!r} is not a valid JSON pointer; escape '~' as '~0' and '/' "
            "as '~1' in names.",
            "ref_unresolved",
        )
    if parts is None:
        return Problem(
            "",
            f"The reference {ref!r} points outside the document; keyward never fetches "
            "references. Bundle the referenced files into one document (for example with "
            "`redocly bundle`) and upload that.",
            "ref_not_local",
        )
    try:
        follow(document, parts)
    except LookupError:
        return Problem(
            "",
            f"The reference {ref!r} points at nothing in the document; define what it names "
            "or correct the reference.",
            "ref_unresolved",
        )
    return None


# Operations, as our checks see them


@dataclass(frozen=True, slots=True)
class _Operation:
    method: str
    location: Location  # where the operation is written
    template: str | None  # its path template, for operations of `paths`
    operation: dict[str, Any]


# Callbacks may declare callbacks of their own; three levels is more than any API uses.
_MAX_CALLBACK_NESTING = 3


def _path_items(document: Document) -> Iterator[tuple[str, dict[str, Any], Location]]:
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return
    for template, item in paths.items():
        item, where = dereferenced(document, item, ("paths", template))
        if isinstance(item, dict):
            yield template, item, where


def _item_operations(
    document: Document, item: dict[str, Any], where: Location, template: str | None
) -> Iterator[_Operation]:
    for method, written in path_operations(item):
        operation, at = dereferenced(document, written, (*where, method))
        if isinstance(operation, dict):
            yield _Operation(method, at, template, operation)


def _with_callbacks(
    document: Document, operations: Iterable[_Operation], nesting: int = 0
) -> Iterator[_Operation]:
    for operation in operations:
        yield operation
        callbacks = operation.operation.get("callbacks")
        if nesting >= _MAX_CALLBACK_NESTING or not isinstance(callbacks, dict):
            continue
        for name, callback in callbacks.items():
            callback, at = dereferenced(
                document, callback, (*operation.location, "callbacks", name)
            )
            if not isinstance(callback, dict):
                continue
            for expression, item in callback.items():
                item, where = dereferenced(document, item, (*at, expression))
                if isinstance(item, dict):
                    yield from _with_callbacks(
                        document, _item_operations(document, item, where, None), nesting + 1
                    )


def _all_operations(document: Document) -> Iterator[_Operation]:
    """Every operation: of paths, of 3.1 webhooks, and of their callbacks."""
    for template, item, where in _path_items(document):
        yield from _with_callbacks(document, _item_operations(document, item, where, template))
    webhooks = document.get("webhooks")
    if isinstance(webhooks, dict):
        for name, item in webhooks.items():
            item, where = dereferenced(document, item, ("webhooks", name))
            if isinstance(item, dict):
                yield from _with_callbacks(document, _item_operations(document, item, where, None))


def _describe(operation: _Operation) -> str:
    where = operation.template if operation.template is not None else pointer_to(operation.location)
    return f"{operation.method.upper()} {where}"


# Security


def _security_problems(document: Document, version: Version) -> list[Problem]:
    if version == "2.0":
        schemes = document.get("securityDefinitions")
        defined_in: Location = ("securityDefinitions",)
    else:
        components = document.get("components")
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
        defined_in = ("components", "securitySchemes")
    if not isinstance(schemes, dict):
        schemes = {}
    defined = set(schemes)
    problems = [
        problem
        for name, scheme in schemes.items()
        for problem in _scheme_problems(name, scheme, (*defined_in, name))
    ]
    problems += _requirement_problems(document.get("security"), ("security",), defined, defined_in)
    for operation in _all_operations(document):
        problems += _requirement_problems(
            operation.operation.get("security"),
            (*operation.location, "security"),
            defined,
            defined_in,
        )
    return problems


def _scheme_problems(name: str, scheme: Any, path: Location) -> Iterator[Problem]:
    if not _SCHEME_NAME.fullmatch(name):
        yield Problem(
            pointer_to(path),
            f"The security scheme name {_shown(name)} may hold only letters, digits, '.', '-' "
            "and '_' (1 to 200 of them), as OpenAPI requires of component names.",
            "security_scheme_name_invalid",
        )
    if not isinstance(scheme, dict) or scheme.get("type") != "apiKey":
        return
    parameter = scheme.get("name")
    if isinstance(parameter, str) and not _TOKEN.fullmatch(parameter):
        yield Problem(
            pointer_to((*path, "name")),
            f"The apiKey parameter name {_shown(parameter)} must be 1 to 200 characters of an "
            "HTTP token: letters, digits and !#$%&'*+-.^_`|~, no spaces, colons or line breaks.",
            "security_scheme_parameter_invalid",
        )


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "…")


def _requirement_problems(
    requirements: Any, path: Location, defined: set[str], defined_in: Location
) -> list[Problem]:
    if not isinstance(requirements, list):
        return []  # absent, or malformed: the validator says so
    return [
        Problem(
            pointer_to((*path, index, name)),
            f"The security requirement names the scheme {_shown(name)}, which "
            f"{'.'.join(map(str, defined_in))} does not define; define it there or correct "
            "the name.",
            "security_scheme_undefined",
        )
        for index, requirement in enumerate(requirements)
        if isinstance(requirement, dict)
        for name in requirement
        if name not in defined
    ]


# Paths


def _template_names(template: str) -> list[str] | None:
    """The parameter names of a path template in order, or None if its braces are malformed."""
    names = _TEMPLATE_PARAMETER.findall(template)
    remainder = _TEMPLATE_PARAMETER.sub("", template)
    if "{" in remainder or "}" in remainder:
        return None
    return names


def _path_problems(document: Document) -> list[Problem]:
    problems: list[Problem] = []
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return problems
    first_by_shape: dict[str, str] = {}
    for template in paths:
        if not template.startswith("/"):
            continue  # `x-` extensions; anything else the validator reports
        pointer = pointer_to(("paths", template))
        names = _template_names(template)
        if names is None:
            problems.append(
                Problem(
                    pointer,
                    f"The path {template!r} has unbalanced braces; write each parameter as "
                    "{name}.",
                    "path_template_invalid",
                )
            )
            continue
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            problems.append(
                Problem(
                    pointer,
                    f"The path {template!r} names the parameter(s) {', '.join(repeated)} more "
                    "than once; give each parameter its own name.",
                    "path_template_invalid",
                )
            )
        shape = _TEMPLATE_PARAMETER.sub("{}", template)
        earlier = first_by_shape.setdefault(shape, template)
        if earlier != template:
            problems.append(
                Problem(
                    pointer,
                    f"The path {template!r} matches the same requests as {earlier!r}: they "
                    "differ only in parameter names. Merge them into one path.",
                    "path_ambiguous",
                )
            )
    for template, item, where in _path_items(document):
        names = _template_names(template)
        if names is not None:
            problems += _path_parameter_problems(document, template, set(names), item, where)
    return problems


def _declared_path_parameters(
    document: Document, parameters: Any, path: Location
) -> Iterator[tuple[str, Location]]:
    if not isinstance(parameters, list):
        return
    for index, parameter in enumerate(parameters):
        parameter, at = dereferenced(document, parameter, (*path, index))
        if isinstance(parameter, dict) and parameter.get("in") == "path":
            name = parameter.get("name")
            if isinstance(name, str):
                yield name, at


def _path_parameter_problems(
    document: Document, template: str, in_template: set[str], item: dict[str, Any], where: Location
) -> list[Problem]:
    problems: list[Problem] = []
    shared = dict(
        _declared_path_parameters(document, item.get("parameters"), (*where, "parameters"))
    )
    reported: set[Location] = set()

    def not_in_template(name: str, at: Location) -> None:
        if name not in in_template and at not in reported:
            reported.add(at)  # a shared component parameter is reported once per path
            problems.append(
                Problem(
                    pointer_to(at),
                    f"The path parameter {name!r} does not appear in {template!r}; add "
                    f"{{{name}}} to the path or remove the parameter.",
                    "path_parameter_not_in_template",
                )
            )

    for name, at in shared.items():
        not_in_template(name, at)
    for operation in _item_operations(document, item, where, template):
        own = dict(
            _declared_path_parameters(
                document, operation.operation.get("parameters"), (*operation.location, "parameters")
            )
        )
        for name, at in own.items():
            not_in_template(name, at)
        for name in sorted(in_template - set(shared) - set(own)):
            problems.append(
                Problem(
                    pointer_to(operation.location),
                    f"{_describe(operation)} does not declare the path parameter {name!r}; add "
                    f"a parameter with `name: {name}`, `in: path` and `required: true` to the "
                    "operation or its path.",
                    "path_parameter_undeclared",
                )
            )
    return problems


# Operation ids


def _operation_id_problems(document: Document) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, _Operation] = {}
    seen_at: set[Location] = set()
    for operation in _all_operations(document):
        if operation.location in seen_at:
            continue  # one operation reached twice through `$ref`s is still one operation
        seen_at.add(operation.location)
        operation_id = operation.operation.get("operationId")
        if not isinstance(operation_id, str):
            continue
        earlier = first.setdefault(operation_id, operation)
        if earlier is not operation:
            problems.append(
                Problem(
                    pointer_to((*operation.location, "operationId")),
                    f"The operationId {operation_id!r} of {_describe(operation)} is already "
                    f"used by {_describe(earlier)}; operation ids must be unique.",
                    "operation_id_duplicate",
                )
            )
    return problems


# openapi-spec-validator: the schema check, then its rule checks, walked here over plain values


class RetrievalRefused(Exception):
    """Something tried to fetch a reference; keyward never fetches anything."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.uri = uri


def _refuse(uri: str) -> NoReturn:
    raise RetrievalRefused(uri)


_META: Any = None


def _meta_valid(schema: Any) -> bool:
    """Whether a 2.0 or 3.0 Schema Object is surely valid against its meta-schema (draft 4 with
    the `regex` format, as openapi-schema-validator checks it), asked of jsonschema-rs. Formats
    are left to Python's `re`: a pattern it cannot compile sends the schema to the slow check,
    which says why."""
    global _META
    if _META is None:
        _META = jsonschema_rs.validator_for(OAS30Validator.META_SCHEMA, validate_formats=False)
    return bool(_META.is_valid(schema)) and _patterns_compile(schema)


def _patterns_compile(value: Any) -> bool:
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pattern = value.get("pattern")
            if isinstance(pattern, str):
                try:
                    re.compile(pattern)
                except re.error:
                    return False
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


class _SchemaCheck:
    """The document against the OpenAPI schema: jsonschema-rs says whether it is valid, and
    only an invalid one is walked by jsonschema for located messages, within the deadline."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._schema = dict(schema)
        self._fast: Any = None
        self._slow: Any = None

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self._fast is None:
            self._fast = jsonschema_rs.validator_for(self._schema, validate_formats=False)
            walking = validator_for(self._schema)
            self._slow = extend(  # type: ignore[no-untyped-call]
                walking,
                {
                    **{name: _timed(rule) for name, rule in walking.VALIDATORS.items()},
                    "uniqueItems": _timed(_unique_items),
                },
            )(self._schema)
        if self._fast.is_valid(instance):
            return
        yield from self._slow.iter_errors(instance)


Rule = Callable[[Any, Any, Any, Any], Iterator[ValidationError] | None]


def _timed(rule: Rule) -> Rule:
    def timed(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        _on_time()
        return rule(validator, value, instance, schema)

    return timed


def _unique_items(
    validator: Any, unique: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """jsonschema's `uniqueItems` in linear time: it compares unsortable items (objects, such
    as an operation's parameters) pairwise. Items are compared by their canonical JSON, in
    which 1 and 1.0 are equal and true and 1 are not, as JSON Schema says."""
    if not (unique and validator.is_type(instance, "array")):
        return
    seen: set[str] = set()
    for item in instance:
        canonical = json.dumps(_canonical(item), sort_keys=True)
        if canonical in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(canonical)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


_SCHEMA_CHECKS: dict[Version, _SchemaCheck] = {
    "2.0": _SchemaCheck(schema_v2),
    "3.0": _SchemaCheck(schema_v30),
    "3.1": _SchemaCheck(schema_v31),
}
# The methods openapi-spec-validator checks as operations, 3.1's included.
_OPERATION_KEYS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
Located = tuple[Location, ValidationError]


class _Rules:
    """openapi-spec-validator's rule checks (`openapi_spec_validator.validation.keywords`),
    walked over the loaded document rather than through `jsonschema_path`, whose resolving
    accessors made them cost about a second per MB. They check, in this order:

    - tag names are unique;
    - the path items of `paths` and their operations: each response's schemas (2.0) or media
      type schemas (3.x), then the path's and the operation's parameters: each one's schema,
      its `default` (2.0), and no two with the same name and location;
    - every schema of `components.schemas`.

    A schema is checked against its meta-schema where it is first reached (its subschemas with
    it), walked once however often it is referred to, and its `default` validated against it.
    Operation ids and path parameters are not checked here: ours report them better. Each error
    comes with where the faulty value is written.
    """

    def __init__(self, document: Document, version: Version) -> None:
        self.document = document
        self.version = version
        self.meta_checked: set[int] = set()
        self.visited: set[int] = set()
        self._resolver: Any = None

    def errors(self) -> Iterator[Located]:
        document = self.document
        tags = document.get("tags")
        if isinstance(tags, list):
            yield from self._tags(tags)
        paths = document.get("paths")
        if isinstance(paths, dict):
            for template, item in paths.items():
                if isinstance(template, str) and template.startswith("/"):
                    item, at = self._at(item, ("paths", template))
                    if isinstance(item, dict):
                        yield from self._path_item(item, at)
        components = document.get("components")
        schemas = components.get("schemas") if isinstance(components, dict) else None
        if isinstance(schemas, dict):
            for name, schema in schemas.items():
                yield from self._schema(schema, ("components", "schemas", name))

    def _at(self, value: Any, location: Location) -> tuple[Any, Location]:
        return dereferenced(self.document, value, location)

    def _tags(self, tags: list[Any]) -> Iterator[Located]:
        seen: set[str] = set()
        for tag in tags:
            name = tag.get("name") if isinstance(tag, dict) else None
            if isinstance(name, str):
                if name in seen:
                    yield ("tags",), OpenAPIValidationError(f"Duplicate tag name '{name}'")
                seen.add(name)

    def _path_item(self, item: dict[str, Any], at: Location) -> Iterator[Located]:
        if "parameters" in item:
            yield from self._parameters(item["parameters"], (*at, "parameters"))
        for method, operation in item.items():
            if method in _OPERATION_KEYS:
                operation, where = self._at(operation, (*at, method))
                if isinstance(operation, dict):
                    yield from self._operation(operation, where)

    def _operation(self, operation: dict[str, Any], at: Location) -> Iterator[Located]:
        _on_time()
        responses, where = self._at(operation.get("responses"), (*at, "responses"))
        if isinstance(responses, dict):
            for code, response in responses.items():
                response, there = self._at(response, (*where, code))
                if isinstance(response, dict):
                    yield from self._response(response, there)
        if "parameters" in operation:
            yield from self._parameters(operation["parameters"], (*at, "parameters"))

    def _response(self, response: dict[str, Any], at: Location) -> Iterator[Located]:
        if self.version == "2.0":
            if "schema" in response:
                yield from self._schema(response["schema"], (*at, "schema"))
            return
        content, where = self._at(response.get("content"), (*at, "content"))
        if isinstance(content, dict):
            for media_type, described in content.items():
                described, there = self._at(described, (*where, media_type))
                if isinstance(described, dict) and "schema" in described:
                    yield from self._schema(described["schema"], (*there, "schema"))

    def _parameters(self, parameters: Any, at: Location) -> Iterator[Located]:
        parameters, at = self._at(parameters, at)
        if not isinstance(parameters, list):
            return
        seen: set[tuple[str, str]] = set()
        for index, parameter in enumerate(parameters):
            parameter, where = self._at(parameter, (*at, index))
            if not isinstance(parameter, dict):
                continue
            if "schema" in parameter:
                yield from self._schema(parameter["schema"], (*where, "schema"))
            if self.version == "2.0" and "default" in parameter:
                yield from self._default(parameter, parameter["default"], where)
            name, place = parameter.get("name"), parameter.get("in")
            if isinstance(name, str) and isinstance(place, str):
                if (name, place) in seen:
                    yield at, ParameterDuplicateError(f"Duplicate parameter '{name}'")
                seen.add((name, place))

    def _schema(self, schema: Any, at: Location, *, top: bool = True) -> Iterator[Located]:
        """A schema reached at `at`; `top` when it is not a subschema of one checked already."""
        _on_time()
        schema, at = self._at(schema, at)
        if not isinstance(schema, (dict, bool)):
            yield at, OpenAPIValidationError(f"{schema!r} is not of type 'object', 'boolean'")
            return
        if top and id(schema) not in self.meta_checked:
            self.meta_checked.add(id(schema))
            error = self._meta_error(schema)
            if error is not None:
                yield at, error
                return
        if id(schema) in self.visited or not isinstance(schema, dict):
            return
        self.visited.add(id(schema))
        for keyword in ("allOf", "anyOf", "oneOf"):
            inner, where = self._at(schema.get(keyword), (*at, keyword))
            if isinstance(inner, list):
                for index, subschema in enumerate(inner):
                    yield from self._schema(subschema, (*where, index), top=False)
        for keyword in ("not", "items"):
            if keyword in schema:
                yield from self._schema(schema[keyword], (*at, keyword), top=False)
        properties, where = self._at(schema.get("properties"), (*at, "properties"))
        if isinstance(properties, dict):
            for name, subschema in properties.items():
                yield from self._schema(subschema, (*where, name), top=False)
        if top and "allOf" in schema:
            undefined = self._required_undefined(schema)
            if undefined:
                yield (
                    at,
                    ExtraParametersError(f"Required list has not defined properties: {undefined}"),
                )
        if "default" in schema:
            default, _ = self._at(schema["default"], (*at, "default"))
            if default is not None or schema.get("nullable") is not True:
                yield from self._default(schema, default, at)

    def _required_undefined(self, schema: dict[str, Any]) -> list[str]:
        required = schema.get("required")
        if not isinstance(required, list):
            return []
        defined = self._properties(schema, set())
        return sorted({name for name in required if isinstance(name, str)} - defined)

    def _properties(self, schema: Any, seen: set[int]) -> set[str]:
        """Every property name a schema defines, through its subschemas and references."""
        schema, _ = self._at(schema, ())
        if not isinstance(schema, dict) or id(schema) in seen:
            return set()
        seen.add(id(schema))
        properties, _ = self._at(schema.get("properties"), ())
        names = (
            {name for name in properties if isinstance(name, str)}
            if isinstance(properties, dict)
            else set()
        )
        for keyword in ("allOf", "anyOf", "oneOf"):
            inner, _ = self._at(schema.get(keyword), ())
            if isinstance(inner, list):
                for subschema in inner:
                    names |= self._properties(subschema, seen)
        for keyword in ("items", "not"):
            if keyword in schema:
                names |= self._properties(schema[keyword], seen)
        return names

    def _meta_error(self, schema: dict[str, Any] | bool) -> ValidationError | None:
        if self.version != "3.1":
            if _meta_valid(schema):
                return None
            checker: Callable[[Any], None] = OAS30Validator.check_schema
        else:
            dialect = (
                schema["$schema"]
                if isinstance(schema, dict) and "$schema" in schema
                else self.document.get("jsonSchemaDialect", OAS31_BASE_DIALECT_ID)
            )
            dialect_class: Any = (
                validator_for({"$schema": dialect}, default=cast(Any, None))
                if isinstance(dialect, str)
                else None
            )
            if dialect_class is None:
                return OpenAPIValidationError(f"Unknown JSON Schema dialect: {dialect!r}")
            checker = partial(dialect_class.check_schema, format_checker=oas31_format_checker)
        try:
            checker(schema)
        except (SchemaError, ValidationError) as error:
            return cast(ValidationError, OpenAPIValidationError.create_from(error))
        return None

    def _default(self, schema: dict[str, Any], default: Any, at: Location) -> Iterator[Located]:
        """`default` against the schema it is the default of, located below `default`."""
        if self._resolver is None:
            specification = DRAFT202012 if self.version == "3.1" else DRAFT4
            registry: Registry[Any] = Registry(retrieve=_refuse).with_resource(  # type: ignore[call-arg]
                "", specification.create_resource(self.document)
            )
            self._resolver = registry.resolver(base_uri="")
        validator_class, formats = (
            (OAS31Validator, oas31_format_checker)
            if self.version == "3.1"
            else (OAS30Validator, oas30_format_checker)
        )
        validator = validator_class(schema, _resolver=self._resolver, format_checker=formats)
        for error in validator.iter_errors(default):
            yield (*at, "default"), error


_CODES: dict[type[ValidationError], str] = {
    ParameterDuplicateError: "parameter_duplicate",
    ExtraParametersError: "schema_required_undefined",
}


def _validator_errors(loaded: LoadedDocument) -> Iterator[tuple[Location | None, ValidationError]]:
    """The schema check's errors (located by their own path), then the rule checks'."""
    for error in _SCHEMA_CHECKS[loaded.version].iter_errors(loaded.document):
        yield None, error
    yield from _Rules(loaded.document, loaded.version).errors()


def _validator_problems(loaded: LoadedDocument, *, already_found: bool) -> list[Problem]:
    problems: list[Problem] = []
    try:
        for location, error in _validator_errors(loaded):
            problem = _problem(loaded, error, location)
            if not (loaded.version == "2.0" and _nullable_null_default(loaded, problem)):
                problems.append(problem)
    except RecursionError:
        problems.append(
            Problem(
                "",
                "The document nests too deeply to be validated; flatten it, for example with "
                "`$ref`s to components.",
                "document_too_deep",
            )
        )
    except (RetrievalRefused, Unresolvable) as error:
        # referencing wraps what a retriever raises: Unresolvable, from Unretrievable, from ours.
        uri = error.uri if isinstance(error, RetrievalRefused) else error.ref
        problems.append(
            Problem(
                "",
                f"The validator met a reference to {uri!r}, outside the document; keyward "
                "never fetches references. Bundle what it refers to into the document.",
                "ref_not_local",
            )
        )
    except Exception as error:
        # The validators assume a well-formed document and can fail on one that has problems
        # already found; only a failure on a document found well formed is news.
        if not problems and not already_found:
            problems.append(
                Problem(
                    "",
                    f"The document could not be validated completely ({type(error).__name__}: "
                    f"{str(error)[:_MAX_VALUE]}); check its structure against the OpenAPI "
                    f"{loaded.version} specification.",
                    "validation_incomplete",
                )
            )
    return problems


def _nullable_null_default(loaded: LoadedDocument, problem: Problem) -> bool:
    """Whether `problem` is about `default: null` on a 2.0 schema marked `x-nullable: true`.

    OpenAPI 2.0 has no null, but the `x-nullable` extension is how 2.0 documents say it (the
    Docker Engine API does), and it is what 3.0's `nullable` is converted from.
    """
    parts = local_ref_parts("#" + problem.pointer)
    if not parts or parts[-1] != "default":
        return False
    try:
        schema = follow(loaded.document, parts[:-1])
    except LookupError:
        return False
    return (
        isinstance(schema, dict) and schema.get("x-nullable") is True and schema["default"] is None
    )


def _problem(loaded: LoadedDocument, error: ValidationError, location: Location | None) -> Problem:
    error = _most_specific(error)
    if location is None:  # the schema check of the document as written: a path in it
        pointer = pointer_to(error.absolute_path)
    else:  # a rule check: where the value it checked is written, then a path in that value
        pointer = _written_at(loaded.document, (*location, *error.absolute_path))
    if error.validator in ("oneOf", "anyOf"):
        # Its message starts with the whole value, which can be a whole operation.
        value = repr(error.instance)
        message = (
            f"{value if len(value) <= _MAX_VALUE else 'the value'} is not valid under any of "
            "the forms OpenAPI allows here"
        )
    else:
        message = str(error.message).rstrip(".")
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
    return Problem(
        pointer,
        f"Not valid OpenAPI {loaded.version}: {message}.",
        _CODES.get(type(error), "spec_invalid"),
    )


def _most_specific(error: ValidationError) -> ValidationError:
    """The error to report for a schema error: the only alternative that could have applied.

    Where OpenAPI allows an object or a Reference Object, an invalid object fails both
    alternatives; the Reference's failure ("'$ref' is a required property") is noise, and when
    a single alternative remains its own errors say what is wrong, further down.
    """
    while error.context:
        candidates = [
            alternative
            for alternative in error.context
            if not (alternative.validator == "required" and alternative.validator_value == ["$ref"])
        ]
        if len(candidates) != 1:
            break
        error = candidates[0]
    return error


def _written_at(document: Document, parts: Location) -> str:
    """The pointer of the value the validator reached by `parts`, stepping through `$ref`s.

    The validator walks the document as an API reads it, through references, so a fault in a
    shared schema has a path through the first operation using it; users fix it where it is
    written. A path that cannot be followed is reported as the validator gave it.
    """
    value: Any = document
    written: list[str | int] = []
    for part in parts:
        value, at = dereferenced(document, value, tuple(written))
        written = list(at)
        steppable = (isinstance(value, dict) and part in value) or (
            isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        )
        if not steppable:
            return pointer_to(parts)
        value = value[part]
        written.append(part)
    _, at = dereferenced(document, value, tuple(written))
    return pointer_to(at)
