"""Fuzzing every operation the management API documents: no input makes it answer 5xx.

The operations come from the app's own `GET /openapi.json`, so a new route is fuzzed as soon as
it exists. Each example sends one request to every operation. A request is built from the
operation's documented path, query and header parameters and body fields: each input is either
plausible (of the documented shape, often valid) or wild (any JSON value, text full of control
characters, NUL and lone surrogates, values at and beyond the length limits), so that requests
which are valid but for one input reach the services and the database. Some bodies are arbitrary
JSON or raw bytes instead. Every answer must be below 500, and every 4xx must have the error
shape. The `api` client re-raises server exceptions, so an unhandled error fails the example.
NaN and Infinity tokens are not JSON and are left to test_hostile_input.py.
"""

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from httpx2 import Response
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from keyward.db.engine import Database
from keyward.domains.pagination import encode_cursor
from tests.api.error_bodies import assert_error
from tests.factories import (
    admin,
    bearer,
    make_key,
    make_member,
    make_organization,
    make_workspace,
    secret,
)

EXAMPLES = 60

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

# Characters that break things, mixed into random text (hypothesis rarely picks surrogates).
SPECIAL_CHARACTERS = '\x00\x07\x1b\x7f\x85\ud800\udfff\u2028\ufeff\u202e🦊\n\t"\\/%'


def texts(*, min_size: int = 0, max_size: int = 16) -> st.SearchStrategy[str]:
    """Text from every plane, often with controls, lone surrogates and NUL in it."""
    characters = st.characters(exclude_categories=())
    return st.lists(
        characters | st.sampled_from(SPECIAL_CHARACTERS), min_size=min_size, max_size=max_size
    ).map("".join)


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[JsonValue]:
    """Any JSON value (RFC 8259: no NaN or Infinity) whose strings are drawn from `text`."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | text
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=12,
    )


NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "a\udfffb",
        "\x1b[31m",
        "../../etc/passwd",
        "%00",
        "' OR 1=1 --",
        "null",
        "-1",
        "1e400",
        "🦊" * 50,
        "a" * 5000,
        "kw_" + "A" * 38,
    ]
)
ANY_TEXT = texts() | NASTY
JSON = json_values(ANY_TEXT)

# Strings that pass validation somewhere, so that requests also get past it.
PLAUSIBLE = st.sampled_from(
    [
        "keys:read",
        "keys:*",
        "members:read@mem_00000000000000000000000000",
        "*:*",
        "admin",
        "auditor",
        "acquirer",
        "provider",
        "P30D",
        "PT1H",
        "someone@example.com",
        "zoë@exämple.com",
        "Acme",
        "東京 🦊",
        "success",
        "refused",
        "key.create",
    ]
)
# Whether to send an optional input that is not the wild one: rarely, so as not to hide it.
SOMETIMES = st.sampled_from([True, False, False])
SAFE_TEXT = st.text(st.characters(codec="utf-8", categories=("L", "N", "Zs")), max_size=30)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    parameters: list[dict[str, Any]]
    body_fields: dict[str, dict[str, Any]]
    required_fields: list[str]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with every `$ref`, at any depth, replaced by what it points to."""
    if "$ref" in schema:
        target: Mapping[str, Any] = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return resolve(document, target)
    resolved: dict[str, Any] = {}
    for key, value in schema.items():
        if isinstance(value, dict):
            resolved[key] = resolve(document, value)
        elif isinstance(value, list):
            resolved[key] = [resolve(document, v) if isinstance(v, dict) else v for v in value]
        else:
            resolved[key] = value
    return resolved


def operations(document: Mapping[str, Any]) -> Iterator[Operation]:
    """Every operation of the document, deletions last so the rest has something to aim at."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            body = resolve(
                document,
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {}),
            )
            parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
            found.append(
                Operation(
                    method=method,
                    path=path,
                    parameters=[resolve(document, p) for p in parameters],
                    body_fields=body.get("properties", {}),
                    required_fields=body.get("required", []),
                )
            )
    yield from sorted(found, key=lambda op: (op.method == "delete", op.path, op.method))


def plausible(
    schema: Mapping[str, Any], words: list[str], depth: int = 0
) -> st.SearchStrategy[JsonValue]:
    """Values of the schema's documented shape; many of them valid."""
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if options:
        return st.one_of([plausible(option, words, depth + 1) for option in options])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "email":
            return st.emails()
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
        if schema.get("format") == "duration":
            return st.sampled_from(["P1D", "PT12H", "P90D", "P1Y"])
        return PLAUSIBLE | st.sampled_from(words) | SAFE_TEXT.filter(str.strip)
    if kind == "array" and depth < 3:
        return st.lists(plausible(schema.get("items", {}), words, depth + 1), max_size=3)
    if kind == "object":
        return st.dictionaries(SAFE_TEXT, SAFE_TEXT | st.integers() | st.booleans(), max_size=3)
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", 1), max_value=schema.get("maximum", 200))
    return st.none()


def wild(schema: Mapping[str, Any]) -> st.SearchStrategy[JsonValue]:
    """Anything at all, or text at and beyond the schema's length limit."""
    text = ANY_TEXT
    limits = [s.get("maxLength") for s in (schema, *schema.get("anyOf", [])) if "maxLength" in s]
    if limits:
        limit = limits[0]
        if limit <= 1000:
            text = text | texts(min_size=max(0, limit - 1), max_size=limit + 2)
        else:  # hypothesis cannot draw such long lists: around the limit, in one character
            text = text | st.sampled_from(["é" * (limit + 1), "a" * limit, "\x00" * (limit + 1)])
    return st.one_of(NASTY, text, JSON, st.lists(text, max_size=3))


def value_of(
    name: str, schema: Mapping[str, Any], words: list[str], wild_one: str | None
) -> st.SearchStrategy[JsonValue]:
    """The input called `name`: wild if it is the one chosen to be, plausible otherwise."""
    if name == wild_one:
        return wild(schema)
    return plausible(schema, words)


@st.composite
def bodies(draw: st.DrawFn, operation: Operation, words: list[str], wild_one: str | None) -> bytes:
    """An object with the operation's fields (most often), arbitrary JSON, or raw bytes."""
    kind = draw(st.sampled_from(["fields"] * 6 + ["json", "raw"]), label="body kind")
    if kind == "raw":
        as_utf8 = ANY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass"))
        return draw(as_utf8 | st.binary(max_size=40), label="body")
    if kind == "json":
        return json.dumps(draw(JSON, label="body")).encode()
    body: dict[str, JsonValue] = {}
    for name, schema in operation.body_fields.items():
        sent = name in operation.required_fields or name == wild_one
        if sent or draw(SOMETIMES, label=f"send {name}?"):
            body[name] = draw(value_of(name, schema, words, wild_one), label=name)
    if wild_one == "an unknown field":
        body[draw(ANY_TEXT, label="unknown field")] = draw(JSON, label="its value")
    return json.dumps(body).encode()


def url_for(
    operation: Operation, path_values: Mapping[str, str], query: Mapping[str, JsonValue]
) -> str:
    def encoded(value: JsonValue) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    url = operation.path
    for name, value in path_values.items():
        url = url.replace(f"{{{name}}}", encoded(value))
    if query:
        url += "?" + "&".join(f"{quote(name)}={encoded(value)}" for name, value in query.items())
    return url


def check(operation: Operation, response: Response) -> None:
    assert response.status_code < 500, f"{operation}: {response.status_code} {response.text[:500]}"
    if 400 <= response.status_code < 500:
        assert_error(response, response.status_code)
    elif response.headers.get("content-type", "").startswith("text/csv"):
        assert next(csv.reader(io.StringIO(response.text)))  # a header row, at least
    elif response.status_code != 204:
        response.json()


def test_no_operation_answers_5xx_to_random_input(api: TestClient, db: Database) -> None:
    document = api.get("/openapi.json").json()
    every = list(operations(document))
    assert len([op for op in every if op.path.startswith("/v1/")]) >= 20
    set_up = make_workspace(db)
    reader = make_key(db, admin(db, set_up), name="reader", permissions=["keys:read"])
    credentials = st.sampled_from(
        [
            bearer(set_up.admin_key),
            bearer(set_up.admin_key),
            bearer(set_up.admin_key),
            {"X-API-Key": secret(set_up.admin_key)},
            bearer(reader),
            {},
            {"Authorization": "Bearer kw_nonsense"},
        ]
    )
    header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)

    @settings(
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        max_examples=EXAMPLES,
    )
    @given(data=st.data())
    def send_everything(data: st.DataObject) -> None:
        # Fresh targets each example: earlier requests may have deleted or revoked them.
        acting = admin(db, set_up)
        targets = {
            "member_id": make_member(db, acting, name="Fuzz Target").id,
            "organization_id": make_organization(db, acting).id,
            "key_id": make_key(db, acting, name="fuzz target").id,
        }
        ids = list(targets.values())
        # Strings worth trying wherever text goes: the targets' ids and cursors pointing at them.
        words = [*ids, *(encode_cursor(target) for target in ids)]
        for operation in every:
            # One input at most is wild, so that the others do not hide it behind a 422.
            names = [p["name"] for p in operation.parameters] + list(operation.body_fields)
            wild_one = data.draw(
                st.sampled_from([None, "an unknown field", *names]), label="wild input"
            )
            headers = dict(data.draw(credentials, label="credentials"))
            path_values = {
                p["name"]: data.draw(
                    ANY_TEXT
                    if p["name"] == wild_one
                    else st.sampled_from([targets.get(p["name"], ids[0])] * 3 + ids),
                    label=p["name"],
                )
                for p in operation.parameters
                if p["in"] == "path"
            }
            query = {
                p["name"]: data.draw(
                    value_of(p["name"], p.get("schema", {}), words, wild_one), label=p["name"]
                )
                for p in operation.parameters
                if p["in"] == "query"
                and (p["name"] == wild_one or data.draw(SOMETIMES, label=f"{p['name']}?"))
            }
            for p in operation.parameters:
                if p["in"] == "header" and (
                    p["name"] == wild_one or data.draw(SOMETIMES, label=f"{p['name']}?")
                ):
                    headers[p["name"]] = data.draw(header_text, label=p["name"])
            body = data.draw(bodies(operation, words, wild_one), label=f"{operation} body")
            url = url_for(operation, path_values, query)
            note(f"{operation} -> {url[:300]}")
            response = api.request(
                operation.method.upper(),
                url,
                headers={**headers, "Content-Type": "application/json"},
                content=body,
            )
            check(operation, response)

    send_everything()
