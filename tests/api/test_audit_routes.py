"""`/v1/audit-events`: filters (outcome, time range), and the CSV export: its content type,
file name, rows and formula-safe cells; who may read it."""

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from tests.api.error_bodies import assert_error
from tests.factories import admin, bearer, make_key, make_workspace

HOSTILE_AGENT = '=HYPERLINK("https://evil.example","x")'


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_log_as_csv_keeps_the_filters_and_defuses_formulas(
    api: TestClient, db: Database
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    for name in ("+Plus", "-Minus", "@At", "Plain"):
        made = api.post(
            "/v1/organizations",
            headers={**headers, "User-Agent": HOSTILE_AGENT},
            json={"name": name, "kind": "acquirer"},
        )
        assert made.status_code == 201, made.text
    refused = api.post(
        "/v1/organizations", headers=headers, json={"name": "Plain", "kind": "acquirer"}
    )
    assert refused.status_code == 409
    by_query = api.get(
        "/v1/audit-events?format=csv&action=organization.create&outcome=success", headers=headers
    )
    assert by_query.status_code == 200, by_query.text
    assert by_query.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = by_query.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="audit-events-')
    assert disposition.endswith('.csv"')
    rows = _rows(by_query.text)
    assert [r["action"] for r in rows] == ["organization.create"] * 4
    assert {r["user_agent"] for r in rows} == {"'" + HOSTILE_AGENT}
    assert rows[0]["occurred_at"] >= rows[-1]["occurred_at"], "newest first"
    assert rows[0]["id"] > rows[-1]["id"]
    by_accept = api.get(
        "/v1/audit-events?outcome=refused", headers={**headers, "Accept": "text/csv"}
    )
    (conflict,) = _rows(by_accept.text)
    assert conflict["code"] == "organization_exists"
    as_json = api.get(
        "/v1/audit-events?outcome=refused",
        headers={**headers, "Accept": "application/json, text/csv"},
    )
    assert as_json.headers["content-type"] == "application/json"


def test_a_time_range_keeps_the_events_inside_it(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    headers = bearer(set_up.admin_key)
    before = clock.now()
    clock.advance(timedelta(hours=1))
    made = api.post(
        "/v1/organizations", headers=headers, json={"name": "Later", "kind": "acquirer"}
    )
    assert made.status_code == 201
    within = {"since": before.isoformat(), "until": (before + timedelta(hours=2)).isoformat()}
    assert [
        e["target_id"]
        for e in api.get(
            "/v1/audit-events", headers=headers, params={**within, "action": "organization.create"}
        ).json()["data"]
    ] == [made.json()["id"]]
    earlier = {
        "until": (before + timedelta(minutes=30)).isoformat(),
        "action": "organization.create",
    }
    assert api.get("/v1/audit-events", headers=headers, params=earlier).json()["data"] == []
    assert_error(api.get("/v1/audit-events?until=yesterday", headers=headers), 422)
    assert_error(api.get("/v1/audit-events?format=xml", headers=headers), 422)


def test_reading_the_log_needs_audit_read_across_the_workspace(
    api: TestClient, db: Database
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    narrowed = make_key(db, admin(db, ours), permissions=["keys:read"])
    for params in ({}, {"format": "csv"}):
        error = assert_error(
            api.get("/v1/audit-events", headers=bearer(narrowed), params=params), 403
        )
        assert error["details"]["required"] == "audit:read"
        assert_error(api.get("/v1/audit-events", params=params), 401)
    api.post(
        "/v1/organizations",
        headers=bearer(theirs.admin_key),
        json={"name": "Theirs", "kind": "acquirer"},
    )
    ours_csv = api.get("/v1/audit-events?format=csv", headers=bearer(ours.admin_key)).text
    assert "Theirs" not in ours_csv
    assert _rows(ours_csv), "our own events are there"
