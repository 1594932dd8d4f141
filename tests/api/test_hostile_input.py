"""Hostile input to the management API: a JSON error with the right status, never a 500.

The API promises `{"error": {"code", "message", "details"}}` for every refusal, no 500 on any user
input (bad JSON, wrong types, unknown fields, huge bodies, unicode, NUL bytes) and nothing
half-written when it refuses. Each test here sends one kind of hostile input to every operation
it applies to and then checks that the workspace's rows and resources are exactly as before.
"""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from keyward.core.actors import Actor
from keyward.db.engine import Database
from keyward.db.models import (
    ApiKey,
    AuditEvent,
    ChangeFeedEntry,
    IdempotencyRecord,
    Member,
    MemberPermission,
    MemberRole,
    Organization,
    OrganizationMember,
)
from tests.api.error_bodies import assert_error
from tests.factories import admin, bearer, make_key, make_member, make_organization, make_workspace

MiB = 1024 * 1024
SENTINEL = "zq-sentinel-4711"


@dataclass(frozen=True, slots=True)
class Targets:
    """A workspace, its admin (as an actor and as request headers), and one member,
    organization and key of its own for requests to aim at."""

    id: str
    admin: Actor
    headers: dict[str, str]
    member_id: str
    organization_id: str
    key_id: str

    def path(self, template: str) -> str:
        return template.format(
            member_id=self.member_id, organization_id=self.organization_id, key_id=self.key_id
        )

    def id_of(self, kind: str) -> str:
        ids = {"key": self.key_id, "member": self.member_id, "organization": self.organization_id}
        return ids[kind]


def make_targets(db: Database) -> Targets:
    set_up = make_workspace(db)
    acting = admin(db, set_up)
    return Targets(
        id=set_up.workspace.id,
        admin=acting,
        headers=bearer(set_up.admin_key),
        member_id=make_member(db, acting, name="Target", permissions=["keys:read"]).id,
        organization_id=make_organization(db, acting, name="Target Org").id,
        key_id=make_key(db, acting, name="target key").id,
    )


_ROWS: dict[str, InstrumentedAttribute[str]] = {
    "keys": ApiKey.workspace_id,
    "members": Member.workspace_id,
    "member permissions": MemberPermission.workspace_id,
    "member roles": MemberRole.workspace_id,
    "organizations": Organization.workspace_id,
    "organization members": OrganizationMember.workspace_id,
    "idempotency records": IdempotencyRecord.workspace_id,
    "change feed entries": ChangeFeedEntry.workspace_id,
}


def stored_rows(db: Database, workspace_id: str) -> dict[str, int]:
    """How many rows of each kind the workspace holds, successful audit events included."""
    with db.transaction(write=False) as uow:
        counts = {
            name: uow.session.scalar(select(func.count()).where(column == workspace_id)) or 0
            for name, column in _ROWS.items()
        }
        counts["successful audit events"] = (
            uow.session.scalar(
                select(func.count()).where(
                    AuditEvent.workspace_id == workspace_id, AuditEvent.outcome == "success"
                )
            )
            or 0
        )
    return counts


def snapshot(api: TestClient, db: Database, ws: Targets) -> dict[str, Any]:
    """Everything a refused request must leave alone: row counts and the targets as shown."""
    shown = {
        path: api.get(ws.path(path), headers=ws.headers).json()
        for path in (
            "/v1/keys/{key_id}",
            "/v1/members/{member_id}",
            "/v1/members/{member_id}/permissions",
            "/v1/organizations/{organization_id}",
            "/v1/me",
        )
    }
    return {"rows": stored_rows(db, ws.id), "shown": shown}


@dataclass(frozen=True, slots=True)
class Write:
    """An operation that takes a JSON body, with a body it accepts."""

    method: str
    path: str
    body: Mapping[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


WRITES = (
    Write("POST", "/v1/keys", {"name": "ci", "permissions": ["keys:read"]}),
    Write("PATCH", "/v1/keys/{key_id}", {"name": "renamed"}),
    Write("POST", "/v1/keys/verify", {"key": "kw_unknown"}),
    Write("POST", "/v1/members", {"email": "new@example.com", "name": "New Member"}),
    Write("PATCH", "/v1/members/{member_id}", {"name": "Renamed Member"}),
    Write(
        "PUT",
        "/v1/members/{member_id}/permissions",
        {"roles": ["auditor"], "permissions": ["keys:read"]},
    ),
    Write("POST", "/v1/organizations", {"name": "Acme", "kind": "acquirer"}),
    Write("PATCH", "/v1/organizations/{organization_id}", {"name": "Acme Renamed"}),
)


def send(
    api: TestClient,
    ws: Targets,
    method: str,
    path: str,
    content: bytes | str | Iterator[bytes] | None = None,
    *,
    content_type: str | None = "application/json",
) -> Response:
    sent = dict(ws.headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    return api.request(method, ws.path(path), content=content, headers=sent)


# --- the bodies used below are accepted when nothing is wrong with them ----------------------


@pytest.mark.parametrize("write", WRITES, ids=str)
def test_the_well_formed_bodies_used_here_are_accepted(
    api: TestClient, db: Database, write: Write
) -> None:
    ws = make_targets(db)
    response = send(api, ws, write.method, write.path, json.dumps(write.body))
    assert response.status_code in (200, 201), response.text


def test_json_with_a_charset_or_a_json_suffix_is_accepted(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    for n, content_type in enumerate(
        ("application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.keyward+json")
    ):
        body = json.dumps({"name": f"typed {n}", "permissions": []})
        response = send(api, ws, "POST", "/v1/keys", body, content_type=content_type)
        assert response.status_code == 201, (content_type, response.text)


# --- malformed JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"{", id="unterminated"),
        pytest.param(b'{"name": "x"', id="unclosed-object"),
        pytest.param(b"{'name': 'x'}", id="single-quotes"),
        pytest.param(b'{"name": "x",}', id="trailing-comma"),
        pytest.param(b'{"name": "x"} {}', id="two-documents"),
        pytest.param(b'{"name": "a\x00b"}', id="raw-nul-in-string"),
        pytest.param(b'{"name": "a\x1bb"}', id="raw-escape-in-string"),
        pytest.param(b"nul", id="bare-word"),
        pytest.param(b'{"name": "\\u12"}', id="broken-escape"),
        pytest.param(
            b'{"name": "\xff\xfe"}',
            id="invalid-utf8",
        ),
        pytest.param(
            b"[" * 100_000 + b"]" * 100_000,
            id="nested-100000-deep",
        ),
    ],
)
def test_malformed_json_is_a_400_invalid_json(
    api: TestClient, db: Database, payload: bytes
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    for write in WRITES:
        error = assert_error(send(api, ws, write.method, write.path, payload), 400, "invalid_json")
        assert error["details"]["errors"], write
        assert error["details"]["errors"][0]["loc"][0] == "body", write
    assert snapshot(api, db, ws) == before


# --- media types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/jsonp",
        "text/json",
        None,
    ],
)
def test_a_body_in_another_media_type_is_a_415(
    api: TestClient, db: Database, content_type: str | None
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    for write in WRITES:
        response = send(
            api, ws, write.method, write.path, json.dumps(write.body), content_type=content_type
        )
        assert_error(response, 415, "unsupported_media_type")
    assert snapshot(api, db, ws) == before


def test_a_non_json_body_to_an_operation_without_a_body_is_still_a_415(
    api: TestClient, db: Database
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    response = send(
        api, ws, "POST", "/v1/keys/{key_id}/revoke", b"revoke it", content_type="text/plain"
    )
    assert_error(response, 415, "unsupported_media_type")
    assert snapshot(api, db, ws) == before


# --- wrong types, wrong shapes, unknown fields -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "locations"),
    [
        (
            "POST",
            "/v1/keys",
            {"name": 987654321, "permissions": SENTINEL, "metadata": [SENTINEL]},
            {("body", "name"), ("body", "permissions"), ("body", "metadata")},
        ),
        (
            "POST",
            "/v1/keys",
            {"name": "ok", "permissions": [987654321, {SENTINEL: 1}], "expires_in": [SENTINEL]},
            {("body", "permissions", 0), ("body", "permissions", 1), ("body", "expires_in")},
        ),
        (
            "POST",
            "/v1/members",
            {
                "email": 987654321,
                "name": [SENTINEL],
                "roles": SENTINEL,
                "organization_ids": {SENTINEL: 1},
                "password": 987654321,
            },
            {
                ("body", "email"),
                ("body", "name"),
                ("body", "roles"),
                ("body", "organization_ids"),
                ("body", "password"),
            },
        ),
        (
            "POST",
            "/v1/organizations",
            {"name": {SENTINEL: True}, "kind": 987654321},
            {("body", "name"), ("body", "kind")},
        ),
        (
            "PATCH",
            "/v1/keys/{key_id}",
            {"name": 987654321, "metadata": SENTINEL},
            {("body", "name"), ("body", "metadata")},
        ),
        (
            "PATCH",
            "/v1/members/{member_id}",
            {"active": SENTINEL, "email": [SENTINEL], "organization_ids": SENTINEL},
            {("body", "active"), ("body", "email"), ("body", "organization_ids")},
        ),
        (
            "PUT",
            "/v1/members/{member_id}/permissions",
            {"roles": SENTINEL, "permissions": 987654321},
            {("body", "roles"), ("body", "permissions")},
        ),
        (
            "POST",
            "/v1/keys/verify",
            {"key": 987654321, "permissions": SENTINEL},
            {("body", "key"), ("body", "permissions")},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_wrong_types_are_listed_by_location_without_echoing_the_value(
    api: TestClient,
    db: Database,
    method: str,
    path: str,
    body: dict[str, Any],
    locations: set[tuple[str | int, ...]],
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    error = assert_error(send(api, ws, method, path, json.dumps(body)), 422, "validation_failed")
    problems = error["details"]["errors"]
    assert {tuple(problem["loc"]) for problem in problems} == locations
    assert all(problem["message"] and problem["type"] for problem in problems)
    assert SENTINEL not in json.dumps(error)
    assert "987654321" not in json.dumps(error)
    assert snapshot(api, db, ws) == before


@pytest.mark.parametrize("payload", ["null", "[]", '"text"', "1", "true", '[{"name": "x"}]'])
def test_a_body_that_is_not_an_object_is_a_422_at_body(
    api: TestClient, db: Database, payload: str
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    for write in WRITES:
        error = assert_error(
            send(api, ws, write.method, write.path, payload), 422, "validation_failed"
        )
        assert [problem["loc"] for problem in error["details"]["errors"]] == [["body"]], write
    assert snapshot(api, db, ws) == before


@pytest.mark.parametrize("expires_in", [5, True, 1.5])
def test_a_number_or_boolean_is_not_a_duration(
    api: TestClient, db: Database, expires_in: object
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    body = {"name": "short lived", "permissions": [], "expires_in": expires_in}
    error = assert_error(send(api, ws, "POST", "/v1/keys", json.dumps(body)), 422)
    assert [p["loc"] for p in error["details"]["errors"]] == [["body", "expires_in"]]
    assert snapshot(api, db, ws) == before


@pytest.mark.parametrize("write", WRITES, ids=str)
def test_unknown_fields_are_refused_by_name(api: TestClient, db: Database, write: Write) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    body = {**write.body, "is_admin": True, "workspace_id": "ws_elsewhere"}
    error = assert_error(
        send(api, ws, write.method, write.path, json.dumps(body)), 422, "validation_failed"
    )
    assert {(tuple(p["loc"]), p["type"]) for p in error["details"]["errors"]} == {
        (("body", "is_admin"), "extra_forbidden"),
        (("body", "workspace_id"), "extra_forbidden"),
    }
    assert snapshot(api, db, ws) == before


# --- control characters, NUL bytes and lone surrogates -----------------------------------------

# JSON escapes, sent as raw JSON text so the server decodes them itself.
CONTROL_ESCAPES = [
    pytest.param("\\u0000", id="NUL"),
    pytest.param("\\u0007", id="BEL"),
    pytest.param("\\u001b", id="ESC"),
    pytest.param("\\u007f", id="DEL"),
    pytest.param("\\u0085", id="NEL"),
    pytest.param("\\ud800", id="lone-high-surrogate"),
    pytest.param("\\udfff", id="lone-low-surrogate"),
    pytest.param("\\udc00\\ud800", id="reversed-surrogate-pair"),
]

# (method, path, raw JSON with `%s` where the character goes, where the errors point)
TEXT_FIELDS: list[tuple[str, str, str, list[str | int]]] = [
    ("POST", "/v1/keys", '{"name": "a%sb", "permissions": []}', ["body", "name"]),
    (
        "POST",
        "/v1/keys",
        '{"name": "a", "permissions": [], "metadata": {"k%s": 1}}',
        ["body", "metadata"],
    ),
    (
        "POST",
        "/v1/keys",
        '{"name": "a", "permissions": [], "metadata": {"k": "v%s"}}',
        ["body", "metadata"],
    ),
    (
        "POST",
        "/v1/keys",
        '{"name": "a", "permissions": [], "metadata": {"a": {"b": ["x", "y%s"]}}}',
        ["body", "metadata"],
    ),
    (
        "POST",
        "/v1/keys",
        '{"name": "a", "permissions": ["keys:read%s"]}',
        ["body", "permissions", 0],
    ),
    ("PATCH", "/v1/keys/{key_id}", '{"name": "a%sb"}', ["body", "name"]),
    ("PATCH", "/v1/keys/{key_id}", '{"metadata": {"n%s": "v"}}', ["body", "metadata"]),
    ("POST", "/v1/members", '{"email": "new@example.com", "name": "a%sb"}', ["body", "name"]),
    ("POST", "/v1/members", '{"email": "a%sb@example.com", "name": "n"}', ["body", "email"]),
    ("POST", "/v1/members", '{"email": "ab@exam%sple.com", "name": "n"}', ["body", "email"]),
    (
        "POST",
        "/v1/members",
        '{"email": "new@example.com", "name": "n", "password": "correct horse%s battery"}',
        ["body", "password"],
    ),
    ("PATCH", "/v1/members/{member_id}", '{"name": "a%sb"}', ["body", "name"]),
    ("PATCH", "/v1/members/{member_id}", '{"email": "x%sy@example.com"}', ["body", "email"]),
    (
        "PUT",
        "/v1/members/{member_id}/permissions",
        '{"roles": ["admin%s"], "permissions": []}',
        ["body", "roles", 0],
    ),
    ("POST", "/v1/organizations", '{"name": "a%sb", "kind": "acquirer"}', ["body", "name"]),
    ("POST", "/v1/organizations", '{"name": "Acme", "kind": "acquirer%s"}', ["body", "kind"]),
    ("PATCH", "/v1/organizations/{organization_id}", '{"name": "a%sb"}', ["body", "name"]),
]


@pytest.mark.parametrize("escape", CONTROL_ESCAPES)
def test_control_characters_are_refused_before_the_database(
    api: TestClient, db: Database, escape: str
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    for method, path, template, location in TEXT_FIELDS:
        if escape in ("\\u007f", "\\u0085") and "password" in template:
            continue  # passwords are hashed, never shown; DEL and NEL in them harm nothing
        response = send(api, ws, method, path, template % escape)
        error = assert_error(response, 422, "validation_failed")
        locations = [problem["loc"] for problem in error["details"]["errors"]]
        assert locations, (method, path, template)
        assert all(loc[: len(location)] == location for loc in locations), (template, locations)
    assert snapshot(api, db, ws) == before


@pytest.mark.parametrize("escape", CONTROL_ESCAPES)
def test_control_characters_in_organization_ids_are_a_422_not_a_database_error(
    api: TestClient, db: Database, escape: str
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    for method, path, template in (
        (
            "POST",
            "/v1/members",
            '{"email": "n@example.com", "name": "n", "organization_ids": ["%s"]}',
        ),
        ("PATCH", "/v1/members/{member_id}", '{"organization_ids": ["org_%s"]}'),
    ):
        error = assert_error(send(api, ws, method, path, template % escape), 422)
        assert error["code"] in ("validation_failed", "organization_not_found"), error
    assert snapshot(api, db, ws) == before


def test_line_breaks_and_tabs_are_kept_in_metadata_values_only(
    api: TestClient, db: Database
) -> None:
    ws = make_targets(db)
    metadata = {"notes": "line one\nline two\r\n\tindented"}
    created = send(
        api,
        ws,
        "POST",
        "/v1/keys",
        json.dumps({"name": "multi", "permissions": [], "metadata": metadata}),
    )
    assert created.status_code == 201, created.text
    shown = api.get(f"/v1/keys/{created.json()['id']}", headers=ws.headers).json()
    assert shown["metadata"] == metadata
    for body in (
        {"name": "line one\nline two", "permissions": []},
        {"name": "tab\there", "permissions": []},
        {"name": "n", "permissions": [], "metadata": {"key\nwith break": 1}},
    ):
        assert_error(send(api, ws, "POST", "/v1/keys", json.dumps(body)), 422)


@pytest.mark.parametrize("key", ["kw_\x00", "\x00", "kw_\x07\x1b", "' OR 1=1 --", "🔑" * 100, ""])
def test_a_hostile_key_to_verify_is_an_invalid_verdict(
    api: TestClient, db: Database, key: str
) -> None:
    ws = make_targets(db)
    response = send(api, ws, "POST", "/v1/keys/verify", json.dumps({"key": key}))
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is False
    assert response.json()["code"] == "key_invalid"


def test_a_lone_surrogate_as_a_key_to_verify_is_a_422(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    response = send(api, ws, "POST", "/v1/keys/verify", '{"key": "kw_\\ud800"}')
    error = assert_error(response, 422, "validation_failed")
    assert [p["loc"] for p in error["details"]["errors"]] == [["body", "key"]]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(api: TestClient, db: Database, token: str) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    raw = '{"name": "n", "permissions": [], "metadata": {"ratio": ' + token + "}}"
    error = assert_error(send(api, ws, "POST", "/v1/keys", raw), 422, "validation_failed")
    assert [p["loc"] for p in error["details"]["errors"]] == [["body", "metadata"]]
    assert snapshot(api, db, ws) == before


# --- long strings and large bodies -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "location"),
    [
        ("POST", "/v1/keys", {"name": "a" * 201, "permissions": []}, ["body", "name"]),
        ("POST", "/v1/keys", {"name": "🦊" * 201, "permissions": []}, ["body", "name"]),
        ("POST", "/v1/keys", {"name": "a" * 500_000, "permissions": []}, ["body", "name"]),
        (
            "POST",
            "/v1/keys",
            {"name": "n", "permissions": ["keys:read"] * 201},
            ["body", "permissions"],
        ),
        (
            "POST",
            "/v1/keys",
            {"name": "n", "permissions": ["keys:" + "r" * 200]},
            ["body", "permissions", 0],
        ),
        (
            "POST",
            "/v1/keys",
            {"name": "n", "permissions": [], "metadata": {"blob": "x" * 5000}},
            ["body", "metadata"],
        ),
        (
            "POST",
            "/v1/keys",
            {"name": "n", "permissions": [], "metadata": {"a": [[[[[[[[[["deep"]]]]]]]]]]}},
            ["body", "metadata"],
        ),
        ("PATCH", "/v1/keys/{key_id}", {"name": "b" * 10_000}, ["body", "name"]),
        (
            "POST",
            "/v1/members",
            {"email": "a" * 1000 + "@example.com", "name": "n"},
            ["body", "email"],
        ),
        (
            "POST",
            "/v1/members",
            {"email": "n@" + "sub." * 100 + "example.com", "name": "n"},
            ["body", "email"],
        ),
        (
            "POST",
            "/v1/members",
            {"email": "n@example.com", "name": "n", "organization_ids": ["o" * 41]},
            ["body", "organization_ids", 0],
        ),
        (
            "POST",
            "/v1/members",
            {"email": "n@example.com", "name": "n", "password": "p" * 257},
            ["body", "password"],
        ),
        ("PATCH", "/v1/members/{member_id}", {"name": "m" * 201}, ["body", "name"]),
        ("POST", "/v1/organizations", {"name": "o" * 201, "kind": "provider"}, ["body", "name"]),
        ("POST", "/v1/keys/verify", {"key": "k" * 513}, ["body", "key"]),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None,
)
def test_over_long_values_are_a_422(
    api: TestClient,
    db: Database,
    method: str,
    path: str,
    body: dict[str, Any],
    location: list[str | int],
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    error = assert_error(send(api, ws, method, path, json.dumps(body)), 422, "validation_failed")
    assert [p["loc"] for p in error["details"]["errors"]] == [location]
    assert len(json.dumps(error)) < 2000, "the error echoes the over-long value"
    assert snapshot(api, db, ws) == before


def test_values_at_the_limits_are_accepted(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    name = "🦊" * 200
    metadata = {"blob": "x" * 4000}
    created = send(
        api,
        ws,
        "POST",
        "/v1/keys",
        json.dumps({"name": name, "permissions": ["keys:read"] * 200, "metadata": metadata}),
    )
    assert created.status_code == 201, created.text[:500]
    shown = api.get(f"/v1/keys/{created.json()['id']}", headers=ws.headers).json()
    assert shown["name"] == name
    assert shown["metadata"] == metadata
    assert shown["permissions"] == ["keys:read"]


def _body_of(size: int) -> bytes:
    """A JSON object of exactly `size` bytes: one long name."""
    frame = b'{"name": "", "permissions": []}'
    return frame.replace(b'""', b'"' + b"a" * (size - len(frame)) + b'"')


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_body_over_the_limit_is_a_413(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    body = _body_of(MiB + 1)
    for write in WRITES:
        error = assert_error(
            send(api, ws, write.method, write.path, body), 413, "payload_too_large"
        )
        assert str(MiB) in error["message"]
    assert snapshot(api, db, ws) == before


def test_a_streamed_body_over_the_limit_is_a_413(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    for write in WRITES:
        response = send(api, ws, write.method, write.path, _chunks(_body_of(2 * MiB)))
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert_error(response, 413, "payload_too_large")
    assert snapshot(api, db, ws) == before


def test_a_body_at_the_limit_is_read(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    for content in (_body_of(MiB), _chunks(_body_of(MiB))):
        error = assert_error(send(api, ws, "POST", "/v1/keys", content), 422)
        assert [p["loc"] for p in error["details"]["errors"]] == [["body", "name"]]


def test_a_large_body_to_an_operation_without_a_body_is_still_a_413(
    api: TestClient, db: Database
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    response = send(api, ws, "POST", "/v1/keys/{key_id}/revoke", _body_of(2 * MiB))
    assert_error(response, 413, "payload_too_large")
    assert snapshot(api, db, ws) == before


# --- unicode that is welcome -------------------------------------------------------------------

NAMES = [
    "🦊🔑",
    "Ærøskøbing Füchse",
    "東京の鍵",
    "ключ доступа",
    "مفتاح الوصول",
    "👩‍💻 team (ZWJ)",
    "e\u0301 combining",
]


def test_emoji_and_non_latin_text_is_accepted_and_round_trips(
    api: TestClient, db: Database
) -> None:
    ws = make_targets(db)
    rows_before = stored_rows(db, ws.id)
    for n, name in enumerate(NAMES):
        key = send(
            api,
            ws,
            "POST",
            "/v1/keys",
            json.dumps({"name": name, "permissions": [], "metadata": {name: [name]}}),
        )
        assert key.status_code == 201, key.text
        shown = api.get(f"/v1/keys/{key.json()['id']}", headers=ws.headers).json()
        assert (shown["name"], shown["metadata"]) == (name, {name: [name]})

        organization = send(
            api, ws, "POST", "/v1/organizations", json.dumps({"name": name, "kind": "provider"})
        )
        assert organization.status_code == 201, organization.text
        shown = api.get(f"/v1/organizations/{organization.json()['id']}", headers=ws.headers).json()
        assert shown["name"] == name

        email = f"zoë{n}@exämple.com"
        member = send(api, ws, "POST", "/v1/members", json.dumps({"email": email, "name": name}))
        assert member.status_code == 201, member.text
        shown = api.get(f"/v1/members/{member.json()['id']}", headers=ws.headers).json()
        assert (shown["name"], shown["email"]) == (name, email)
    rows_after = stored_rows(db, ws.id)
    assert rows_after["keys"] == rows_before["keys"] + len(NAMES)
    assert rows_after["members"] == rows_before["members"] + len(NAMES)
    assert rows_after["organizations"] == rows_before["organizations"] + len(NAMES)
    listed = api.get("/v1/keys?limit=200", headers=ws.headers).json()["data"]
    assert set(NAMES) <= {key["name"] for key in listed}


def test_renames_to_non_latin_text_round_trip(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    for path in (
        "/v1/keys/{key_id}",
        "/v1/members/{member_id}",
        "/v1/organizations/{organization_id}",
    ):
        for name in NAMES:
            response = send(api, ws, "PATCH", path, json.dumps({"name": name}))
            assert response.status_code == 200, response.text
            assert api.get(ws.path(path), headers=ws.headers).json()["name"] == name


# --- hostile path ids --------------------------------------------------------------------------

PATH_IDS = [
    pytest.param("%00", id="nul"),
    pytest.param("%0A", id="newline"),
    pytest.param("..%2Fx", id="dot-dot-slash"),
    pytest.param("..%2F..%2Fv1%2Fme", id="traversal"),
    pytest.param("a" * 10_000, id="10k"),
    pytest.param("%D0%BA%D0%BB%D1%8E%D1%87", id="cyrillic"),
    pytest.param("%F0%9F%A6%8A", id="emoji"),
    pytest.param("%ED%A0%80", id="encoded-surrogate"),
    pytest.param("%FF%FE", id="invalid-utf8"),
    pytest.param("%20", id="space"),
    pytest.param("null", id="null"),
    pytest.param("-1", id="minus-one"),
    pytest.param("'%20OR%20'1'='1", id="sql"),
    pytest.param("key_00000000000000000000000000%0A", id="key-id-newline"),
]

# (method, path with `{id}`, the kind of id it takes, a valid body when it takes one)
BY_ID: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/keys/{id}", "key", None),
    ("PATCH", "/v1/keys/{id}", "key", {"name": "renamed"}),
    ("DELETE", "/v1/keys/{id}?revoke=true", "key", None),
    ("POST", "/v1/keys/{id}/revoke", "key", None),
    ("GET", "/v1/members/{id}", "member", None),
    ("PATCH", "/v1/members/{id}", "member", {"name": "Renamed"}),
    ("DELETE", "/v1/members/{id}", "member", None),
    ("GET", "/v1/members/{id}/permissions", "member", None),
    ("PUT", "/v1/members/{id}/permissions", "member", {"roles": [], "permissions": ["keys:read"]}),
    ("GET", "/v1/organizations/{id}", "organization", None),
    ("PATCH", "/v1/organizations/{id}", "organization", {"name": "Renamed"}),
    ("DELETE", "/v1/organizations/{id}", "organization", None),
]
KINDS = ("key", "member", "organization")


def by_id(
    api: TestClient, ws: Targets, method: str, path: str, path_id: str, body: object
) -> Response:
    return api.request(
        method,
        path.replace("{id}", path_id),
        headers={**ws.headers, "Content-Type": "application/json"},
        content=json.dumps(body) if body is not None else None,
    )


@pytest.mark.parametrize("path_id", PATH_IDS)
def test_hostile_path_ids_are_a_404(api: TestClient, db: Database, path_id: str) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    for method, path, kind, body in BY_ID:
        error = assert_error(by_id(api, ws, method, path, path_id, body), 404)
        assert error["code"] in ("not_found", f"{kind}_not_found"), (method, path, error)
    assert snapshot(api, db, ws) == before


def test_an_id_of_another_kind_or_workspace_is_a_404(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    other = make_targets(db)
    before = (snapshot(api, db, ws), snapshot(api, db, other))
    for method, path, kind, body in BY_ID:
        wrong = [ws.id_of(k) for k in KINDS if k != kind] + [other.id_of(kind)]
        for path_id in wrong:
            error = assert_error(by_id(api, ws, method, path, path_id, body), 404)
            assert error["code"] == f"{kind}_not_found", (method, path, error)
    assert (snapshot(api, db, ws), snapshot(api, db, other)) == before


@pytest.mark.parametrize(
    "path_id",
    [
        pytest.param("mem_unknown", id="plain"),
        pytest.param("%00", id="nul"),
        pytest.param("m" * 5000, id="5000-chars"),
    ],
)
def test_a_refusal_on_a_hostile_path_id_is_audited(
    api: TestClient, db: Database, path_id: str
) -> None:
    ws = make_targets(db)
    reader = make_key(db, ws.admin, name="reader", permissions=["keys:read"])
    refused = "/v1/audit-events?outcome=refused&action=member.read"
    before = len(api.get(refused, headers=ws.headers).json()["data"])
    response = api.get(f"/v1/members/{path_id}", headers=bearer(reader))
    assert_error(response, 403, "permission_denied")
    events = api.get(refused, headers=ws.headers).json()["data"]
    assert len(events) == before + 1
    assert events[0]["code"] == "permission_denied"
    assert events[0]["actor_key_id"] == reader.id


# --- query parameters --------------------------------------------------------------------------

LISTS = ["/v1/keys", "/v1/members", "/v1/organizations", "/v1/audit-events"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=100000",
        "limit=99999999999999999999999999",
        "limit=%00",
        "limit=",
        "cursor=garbage!",
        "cursor=%00",
        "cursor=%F0%9F%A6%8A",
        "cursor=Zm9vIGJhcg",
        "cursor=" + "A" * 201,
    ],
)
def test_bad_pagination_is_a_422(api: TestClient, db: Database, query: str) -> None:
    ws = make_targets(db)
    for path in LISTS:
        error = assert_error(api.get(f"{path}?{query}", headers=ws.headers), 422)
        assert error["code"] in ("validation_failed", "invalid_limit", "invalid_cursor"), error


@pytest.mark.parametrize(
    "url",
    [
        "/v1/audit-events?since=not-a-date",
        "/v1/audit-events?since=2026-01-01T00:00:00",
        "/v1/audit-events?since=2026-13-01T00:00:00Z",
        "/v1/audit-events?since=%00",
        "/v1/audit-events?outcome=maybe",
        "/v1/audit-events?target=%00",
        "/v1/audit-events?action=a%20b",
        "/v1/audit-events?actor=" + "a" * 41,
        "/v1/keys?kind=robot",
        "/v1/keys?state=%00",
        "/v1/keys?creator=" + "c" * 41,
        "/v1/keys?acquisition=" + "q" * 41,
        "/v1/members?active=maybe",
        "/v1/members?organization_id=" + "o" * 41,
        "/v1/organizations?kind=%F0%9F%A6%8A",
    ],
)
def test_bad_filters_are_a_422(api: TestClient, db: Database, url: str) -> None:
    ws = make_targets(db)
    error = assert_error(api.get(url, headers=ws.headers), 422, "validation_failed")
    assert error["details"]["errors"][0]["loc"][0] == "query"


def test_a_bad_query_parameter_on_delete_changes_nothing(api: TestClient, db: Database) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    response = api.delete(ws.path("/v1/keys/{key_id}?revoke=maybe"), headers=ws.headers)
    assert_error(response, 422, "validation_failed")
    assert snapshot(api, db, ws) == before


@pytest.mark.parametrize(
    "url",
    [
        "/v1/keys?acquisition=%00",
        "/v1/keys?creator=%00",
        "/v1/members?organization_id=%00",
        "/v1/audit-events?actor=%00",
    ],
)
def test_a_nul_in_an_id_filter_is_not_a_database_outage(
    api: TestClient, db: Database, url: str
) -> None:
    ws = make_targets(db)
    response = api.get(url, headers=ws.headers)
    if response.status_code == 200:
        assert response.json()["data"] == []
    else:
        assert_error(response, 422)


# --- unknown paths, wrong methods, missing credentials -----------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1",
        "/v1/",
        "/v1/nope",
        "/v2/keys",
        "/v1/members/../x",
        "/v1/keys/x/y/z",
        "/%00",
        "/v1/%00",
        "/v1/me/extra",
        "/v1/" + "z" * 10_000,
        "/v1/%F0%9F%A6%8A",
        "/V1/ME",
        "/openapi.yaml",
    ],
)
def test_unknown_paths_are_a_404(api: TestClient, db: Database, path: str) -> None:
    ws = make_targets(db)
    for headers in (ws.headers, {}):
        for method in ("GET", "POST", "DELETE"):
            response = api.request(method, path, headers=headers)
            assert_error(response, 404, "not_found")


WRONG_METHODS = [
    ("PUT", "/v1/me", {"GET"}),
    ("DELETE", "/v1/me", {"GET"}),
    ("TRACE", "/v1/me", {"GET"}),
    ("POST", "/v1/audit-events", {"GET"}),
    ("GET", "/v1/keys/{key_id}/revoke", {"POST"}),
    ("PUT", "/v1/keys", {"GET", "POST"}),
    ("DELETE", "/v1/members", {"GET", "POST"}),
    ("PUT", "/v1/organizations/{organization_id}", {"GET", "PATCH", "DELETE"}),
    ("POST", "/v1/members/{member_id}/permissions", {"GET", "PUT"}),
]


def _allow(response: Response) -> set[str]:
    """The methods named by `Allow`, HEAD folded into GET (every GET also answers HEAD)."""
    return {method.strip() for method in response.headers["allow"].split(",")} - {"HEAD"}


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_methods_are_a_405_naming_an_allowed_method(
    api: TestClient, db: Database, method: str, path: str, allowed: set[str]
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    response = api.request(method, ws.path(path), headers=ws.headers, content=b"{}")
    assert_error(response, 405, "method_not_allowed")
    assert _allow(response)
    assert _allow(response) <= allowed
    assert snapshot(api, db, ws) == before


@pytest.mark.parametrize(
    ("method", "path", "allowed"), [case for case in WRONG_METHODS if len(case[2]) > 1]
)
def test_a_405_names_every_allowed_method(
    api: TestClient, db: Database, method: str, path: str, allowed: set[str]
) -> None:
    ws = make_targets(db)
    response = api.request(method, ws.path(path), headers=ws.headers, content=b"{}")
    assert_error(response, 405, "method_not_allowed")
    assert _allow(response) == allowed


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer "}, id="empty-bearer"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic"),
        pytest.param({"Authorization": "Bearer kw_nonsense"}, id="garbage"),
        pytest.param({"Authorization": "Bearer " + "k" * 8000}, id="8k"),
        pytest.param({"X-API-Key": "' OR 1=1 --"}, id="sql"),
        pytest.param({"X-API-Key": "kw_\u00ff\u00fe"}, id="latin-1"),
    ],
)
def test_every_401_carries_a_challenge(
    api: TestClient, db: Database, credentials: dict[str, str]
) -> None:
    ws = make_targets(db)
    before = snapshot(api, db, ws)
    # Header values travel as latin-1 bytes; the client refuses non-ASCII str values.
    headers = {name.encode(): value.encode("latin-1") for name, value in credentials.items()}
    headers[b"content-type"] = b"application/json"
    for method, path, body in (
        ("GET", "/v1/me", None),
        ("GET", "/v1/keys?limit=0", None),
        ("POST", "/v1/keys", {"name": 123, "bogus": True}),
        ("PATCH", "/v1/members/{member_id}", {"name": "\u0000"}),
        ("DELETE", "/v1/organizations/{organization_id}", None),
        ("POST", "/v1/keys/verify", {"key": "kw_x"}),
    ):
        response = api.request(
            method,
            ws.path(path),
            headers=headers,
            content=json.dumps(body) if body is not None else None,
        )
        assert_error(response, 401)
    assert snapshot(api, db, ws) == before


def test_a_revoked_key_is_a_401_with_a_challenge_and_changes_nothing(
    api: TestClient, db: Database
) -> None:
    ws = make_targets(db)
    revoked = make_key(db, ws.admin, name="revoked", permissions=["keys:create"])
    assert api.post(f"/v1/keys/{revoked.id}/revoke", headers=ws.headers).status_code == 200
    before = snapshot(api, db, ws)
    response = api.post(
        "/v1/keys", headers=bearer(revoked), json={"name": "from a revoked key", "permissions": []}
    )
    assert_error(response, 401, "key_revoked")
    assert snapshot(api, db, ws) == before
