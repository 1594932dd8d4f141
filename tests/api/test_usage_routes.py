"""`/v1/acquisitions/{id}/usage`, `/v1/offerings/{id}/usage`, `/v1/apis/{id}/usage`: one test
per documented status code, for whoever may and may not see the counts."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from keyward.core.clock import ManualClock
from keyward.core.ids import new_id
from keyward.db.engine import Database
from keyward.domains.organizations.schemas import OrganizationKind
from tests.api.error_bodies import assert_error
from tests.conftest import START
from tests.domains.usage_market import Market, make_market, send
from tests.factories import bearer, make_key, make_party, make_workspace

HOUR = timedelta(hours=1)
SINGULAR = {"acquisitions": "acquisition", "offerings": "offering", "apis": "api"}
PREFIXES = {"acquisitions": "acq", "offerings": "off", "apis": "api"}


def path(market: Market, kind: str, ident: str | None = None) -> str:
    default = {
        "acquisitions": market.acquisition_id,
        "offerings": market.offering_id,
        "apis": market.api_id,
    }[kind]
    return f"/v1/{kind}/{ident or default}/usage"


def busy_market(db: Database, clock: ManualClock) -> Market:
    market = make_market(db)
    send(db, clock, market, {"alice": [200, 200, 404], "eve": [500], "carol": [301]})
    clock.advance(HOUR)
    send(db, clock, market, {"bob": [201]})
    clock.advance(timedelta(minutes=5))
    return market


@pytest.mark.parametrize(
    ("kind", "first_hour", "second_hour"),
    [
        ("acquisitions", {"2xx": 2, "3xx": 0, "4xx": 1, "5xx": 0}, 1),
        ("offerings", {"2xx": 2, "3xx": 0, "4xx": 1, "5xx": 1}, 1),
        ("apis", {"2xx": 2, "3xx": 1, "4xx": 1, "5xx": 1}, 1),
    ],
)
def test_the_provider_reads_buckets_by_status_class(
    api: TestClient,
    db: Database,
    clock: ManualClock,
    kind: str,
    first_hour: dict[str, int],
    second_hour: int,
) -> None:
    market = busy_market(db, clock)
    key = make_key(db, market.provider, permissions=market.provider.permissions.strings())
    response = api.get(path(market, kind), headers=bearer(key), params={"since": START.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body[f"{SINGULAR[kind]}_id"] == path(market, kind).split("/")[3]
    assert (body["granularity"], body["since"], len(body["data"])) == (
        "hour",
        "2026-06-01T12:00:00Z",
        2,
    )
    assert body["data"][0] == {"start": "2026-06-01T12:00:00Z", **first_hour}
    assert body["data"][1]["2xx"] == second_hour
    assert body["totals"]["2xx"] == first_hour["2xx"] + second_hour


def test_the_acquirer_reads_its_acquisition_by_minute(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    market = busy_market(db, clock)
    key = make_key(db, market.acquirer, permissions=["acquisitions:read"])
    response = api.get(
        path(market, "acquisitions"),
        headers=bearer(key),
        params={"since": START.isoformat(), "granularity": "minute"},
    )
    assert response.status_code == 200, response.text
    nonempty = [b for b in response.json()["data"] if any(b[c] for c in ("2xx", "4xx"))]
    assert nonempty == [
        {"start": "2026-06-01T12:00:00Z", "2xx": 2, "3xx": 0, "4xx": 1, "5xx": 0},
        {"start": "2026-06-01T13:00:00Z", "2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0},
    ]


@pytest.mark.parametrize("kind", ["acquisitions", "offerings", "apis"])
def test_another_organization_s_or_workspace_s_resource_answers_like_a_missing_one(
    api: TestClient, db: Database, clock: ManualClock, kind: str
) -> None:
    market = busy_market(db, clock)
    # Another acquirer for an acquisition; another provider for an offering or API.
    other = (
        market.stranger
        if kind == "acquisitions"
        else make_party(db, market.admin, kind=OrganizationKind.PROVIDER).actor
    )
    key = make_key(db, other, permissions=other.permissions.strings())
    code = f"{SINGULAR[kind]}_not_found"
    hidden = assert_error(api.get(path(market, kind), headers=bearer(key)), 404, code)
    unknown = new_id(PREFIXES[kind])
    missing = assert_error(api.get(path(market, kind, unknown), headers=bearer(key)), 404, code)
    assert (
        hidden["message"].replace(path(market, kind).split("/")[3], unknown) == (missing["message"])
    )
    assert hidden["details"] == missing["details"]
    elsewhere = make_workspace(db, name="elsewhere")
    assert_error(api.get(path(market, kind), headers=bearer(elsewhere.admin_key)), 404, code)


@pytest.mark.parametrize("kind", ["offerings", "apis"])
def test_an_acquirer_is_refused_an_offering_s_or_api_s_usage(
    api: TestClient, db: Database, clock: ManualClock, kind: str
) -> None:
    market = busy_market(db, clock)
    key = make_key(db, market.acquirer, permissions=market.acquirer.permissions.strings())
    response = api.get(path(market, kind), headers=bearer(key))
    assert_error(response, 403, "permission_denied")
    assert response.json()["error"]["details"]["required"] == f"{kind}:update"


@pytest.mark.parametrize("kind", ["acquisitions", "offerings", "apis"])
def test_a_narrowed_account_key_without_the_right_is_refused(
    api: TestClient, db: Database, clock: ManualClock, kind: str
) -> None:
    market = busy_market(db, clock)
    narrowed = make_key(db, market.provider, permissions=["keys:read"])
    assert_error(api.get(path(market, kind), headers=bearer(narrowed)), 403, "permission_denied")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"since": START.isoformat(), "until": START.isoformat()}, "usage_range_invalid"),
        ({"since": "2020-01-01T00:00:00Z"}, "usage_range_too_large"),
        ({"granularity": "week"}, "validation_failed"),
        ({"since": "yesterday"}, "validation_failed"),
    ],
)
def test_bad_ranges_are_refused_with_422(
    api: TestClient, db: Database, clock: ManualClock, params: dict[str, str], code: str
) -> None:
    market = busy_market(db, clock)
    key = make_key(db, market.provider, permissions=market.provider.permissions.strings())
    for kind in ("acquisitions", "offerings", "apis"):
        assert_error(api.get(path(market, kind), headers=bearer(key), params=params), 422, code)


def test_no_key_is_refused_with_401(api: TestClient, db: Database, clock: ManualClock) -> None:
    market = busy_market(db, clock)
    for kind in ("acquisitions", "offerings", "apis"):
        assert api.get(path(market, kind)).status_code == 401
