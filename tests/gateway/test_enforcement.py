"""The gateway enforces each operation's security exactly as the spec says, end to end.

A real gateway on a 127.0.0.1 port, in front of a real upstream, over a real database (SQLite
and PostgreSQL); keys, APIs and offerings are made through the services, as the management API
makes them.
"""

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.core.errors import Conflict
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import AuditEvent
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import ExportVersion
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate, KeyPolicy
from keyward.domains.keys import service as keys
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberUpdate
from keyward.domains.offerings import service as offerings
from keyward.domains.offerings.schemas import OfferingUpdate
from keyward.domains.usage import service as usage
from keyward.gateway.runner import Gateway
from keyward.settings import Settings
from tests.conftest import LOOPBACK
from tests.factories import (
    actor_for,
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_organization,
    make_party,
    make_workspace,
    secret,
)
from tests.gateway.gateway_support import Echo, echo_upstream, running_gateway
from tests.verifier.support import storage_down

SHOP = """\
openapi: 3.0.3
info: {title: Shop, version: "1"}
servers: [{url: "https://shop.example.com/v2"}]
components:
  securitySchemes:
    header_key: {type: apiKey, in: header, name: X-Shop-Key}
    query_key: {type: apiKey, in: query, name: api_key}
    cookie_key: {type: apiKey, in: cookie, name: shop_key}
    tenant: {type: apiKey, in: header, name: X-Tenant}
    acquisition: {type: apiKey, in: header, name: X-Acquisition}
security: [{header_key: []}, {query_key: []}]
paths:
  /items:
    get: {operationId: listItems, tags: [items], responses: {"200": {description: ok}}}
    post: {operationId: createItem, tags: [admin], responses: {"201": {description: made}}}
  /items/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {operationId: showItem, tags: [items], responses: {"200": {description: ok}}}
  /tenant:
    get:
      operationId: tenantItems
      tags: [items]
      security: [{header_key: [], tenant: []}]
      responses: {"200": {description: ok}}
  /cookie:
    get:
      operationId: cookieItems
      tags: [items]
      security: [{cookie_key: []}]
      responses: {"200": {description: ok}}
    post:
      operationId: cookieCreate
      tags: [items]
      security: [{cookie_key: []}, {header_key: []}]
      responses: {"201": {description: made}}
  /claimed:
    get:
      operationId: claimedItems
      tags: [items]
      security: [{header_key: [], acquisition: []}]
      responses: {"200": {description: ok}}
  /optional:
    get:
      operationId: optionalItems
      tags: [items]
      security: [{header_key: []}, {}]
      responses: {"200": {description: ok}}
  /health:
    get: {operationId: health, security: [], responses: {"200": {description: ok}}}
"""
POLICY = {
    "key_locations": [
        {"scheme": "header_key", "in": "header", "name": "X-Shop-Key", "role": "key"},
        {"scheme": "query_key", "in": "query", "name": "api_key", "role": "key"},
        {"scheme": "cookie_key", "in": "cookie", "name": "shop_key", "role": "key"},
        {"scheme": "tenant", "in": "header", "name": "X-Tenant", "role": "passthrough"},
        {
            "scheme": "acquisition",
            "in": "header",
            "name": "X-Acquisition",
            "role": "acquisition_id",
        },
    ],
    # By default every apiKey scheme carries a key: two of them are checked less from here on.
    "confirm_weaker_security": True,
}


@dataclass
class Shop:
    database: Database
    actor: Actor
    buyer: Actor  # a member of the acquiring organization, who holds its keys
    api_id: str
    offering_id: str
    acquisition_id: str
    organization_id: str
    key: str
    key_id: str
    gateway: Gateway
    upstream: Echo
    clock: ManualClock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/shop/v2", timeout=10)


def _shop_api(database: Database, actor: Actor, upstream: str, mount: str = "shop") -> str:
    api = make_api(database, actor, spec=SHOP, name=f"Shop {mount}", mount_path=mount)
    with database.transaction() as uow:
        apis.update_api(
            uow,
            actor,
            api.id,
            ApiUpdate.model_validate({"upstream_url": f"{upstream}/base"}),
            Settings(upstream_allow=LOOPBACK),
        )
        apis.set_policy(uow, actor, api.id, KeyPolicy.model_validate(POLICY))
    return api.id


@pytest.fixture
def shop(fresh_url: str, clock: ManualClock) -> Iterator[Shop]:
    database = Database.connect(fresh_url, clock=clock)
    try:
        set_up = make_workspace(database)
        actor = admin(database, set_up)
        with echo_upstream() as upstream:
            api_id = _shop_api(database, actor, upstream.url)
            offering = make_offering(database, actor, api_id, tags=["items"])
            globex = make_party(database, actor)
            acquisition = make_acquisition(database, actor, offering.id, globex.organization_id)
            created = make_acquisition_key(database, globex.actor, acquisition.id)
            with running_gateway(database) as gateway:
                yield Shop(
                    database,
                    actor,
                    globex.actor,
                    api_id,
                    offering.id,
                    acquisition.id,
                    globex.organization_id,
                    secret(created),
                    created.id,
                    gateway,
                    upstream,
                    clock,
                )
    finally:
        database.dispose()


def _error(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    code: str = response.json()["error"]["code"]
    return code


def test_a_valid_key_reaches_the_upstream_without_the_key_and_with_identity(shop: Shop) -> None:
    with shop.client() as client:
        response = client.get(
            "/items",
            params={"limit": "2"},
            headers={"X-Shop-Key": shop.key, "X-Keyward-Key-Id": "key_forged", "X-Other": "1"},
        )
    assert response.status_code == 200
    seen = response.json()
    assert seen["target"] == "/base/items?limit=2"
    forwarded = seen["headers"]
    assert "x-shop-key" not in forwarded
    assert shop.key not in json.dumps(seen)
    assert forwarded["x-keyward-key-id"] == shop.key_id
    assert forwarded["x-keyward-acquisition-id"] == shop.acquisition_id
    assert forwarded["x-keyward-organization-id"] == shop.organization_id
    assert forwarded["x-other"] == "1"


def test_no_key_is_401_with_a_challenge_per_accepted_place(shop: Shop) -> None:
    with shop.client() as client:
        response = client.get("/items")
    assert response.status_code == 401
    assert _error(response) == "key_missing"
    assert response.headers.get_list("www-authenticate") == [
        'ApiKey realm="Shop shop", in="header", name="X-Shop-Key"',
        'ApiKey realm="Shop shop", in="query", name="api_key"',
    ]
    assert shop.upstream.seen == []


def test_unknown_revoked_and_expired_keys_are_401_with_their_code(shop: Shop) -> None:
    with shop.client() as client:
        unknown = client.get("/items", headers={"X-Shop-Key": "kw_" + "A" * 38})
        assert (unknown.status_code, _error(unknown)) == (401, "key_invalid")
        with shop.database.transaction() as uow:
            keys.revoke_key(uow, shop.actor, shop.key_id)
        revoked = client.get("/items", headers={"X-Shop-Key": shop.key})
        assert (revoked.status_code, _error(revoked)) == (401, "key_revoked")
    assert "www-authenticate" in revoked.headers
    assert shop.upstream.seen == []


def test_an_expired_acquisition_is_403_and_reacquiring_restores_the_same_key(shop: Shop) -> None:
    shop.clock.advance(timedelta(days=31))
    with shop.client() as client:
        expired = client.get("/items", headers={"X-Shop-Key": shop.key})
        assert (expired.status_code, _error(expired)) == (403, "acquisition_expired")
        with shop.database.transaction() as uow:
            acquisitions.reacquire(uow, shop.actor, shop.acquisition_id)
        assert client.get("/items", headers={"X-Shop-Key": shop.key}).status_code == 200


def test_an_operation_outside_the_offering_is_403(shop: Shop) -> None:
    with shop.client() as client:
        response = client.post("/items", headers={"X-Shop-Key": shop.key})
    assert (response.status_code, _error(response)) == (403, "operation_not_in_offering")
    assert shop.upstream.seen == []


def test_a_key_of_another_api_is_403_and_an_account_key_too(shop: Shop) -> None:
    other_api = _shop_api(shop.database, shop.actor, shop.upstream.url, mount="other")
    offering = make_offering(shop.database, shop.actor, other_api)
    acquisition = make_acquisition(shop.database, shop.actor, offering.id, shop.organization_id)
    other_key = secret(make_acquisition_key(shop.database, shop.buyer, acquisition.id))
    account_key = secret(make_key(shop.database, shop.actor))
    with shop.client() as client:
        wrong = client.get("/items", headers={"X-Shop-Key": other_key})
        account = client.get("/items", headers={"X-Shop-Key": account_key})
    assert (wrong.status_code, _error(wrong)) == (403, "wrong_api")
    assert (account.status_code, _error(account)) == (403, "insufficient_rights")


def test_no_workspace_mounts_an_api_at_or_inside_another_ones(shop: Shop) -> None:
    stranger = admin(shop.database, make_workspace(shop.database))
    for mount in ("shop", "shop/v2", "shop/v2/items"):
        with pytest.raises(Conflict) as refused:
            _shop_api(shop.database, stranger, "http://127.0.0.1:9", mount=mount)
        assert refused.value.code == "mount_conflict"
    with shop.client() as client:
        response = client.get("/items", headers={"X-Shop-Key": shop.key})
    assert response.status_code == 200
    assert response.json()["target"] == "/base/items"


def test_the_upstream_is_told_the_acquisitions_own_organization_while_the_creator_belongs_to_it(
    shop: Shop,
) -> None:
    elsewhere = make_organization(shop.database, shop.actor)
    both = make_member(
        shop.database,
        shop.actor,
        roles=["acquirer"],
        organization_ids=[elsewhere.id, shop.organization_id],
    )
    hers = actor_for(shop.database, shop.actor.workspace_id, both.id)
    key = secret(make_acquisition_key(shop.database, hers, shop.acquisition_id))
    with shop.client() as client:
        served = client.get("/items", headers={"X-Shop-Key": key})
        assert served.json()["headers"]["x-keyward-organization-id"] == shop.organization_id
        with shop.database.transaction() as uow:
            members.update_member(
                uow, shop.actor, both.id, MemberUpdate(organization_ids=[elsewhere.id])
            )
        left = client.get("/items", headers={"X-Shop-Key": key})
    assert (left.status_code, _error(left)) == (403, "insufficient_rights")


def test_a_key_of_another_workspace_is_answered_like_an_unknown_one(shop: Shop) -> None:
    elsewhere = make_workspace(shop.database)
    stranger = admin(shop.database, elsewhere)
    api = _shop_api(shop.database, stranger, shop.upstream.url, mount="elsewhere")
    offering = make_offering(shop.database, stranger, api)
    organization = make_party(shop.database, stranger)
    acquisition = make_acquisition(
        shop.database, stranger, offering.id, organization.organization_id
    )
    foreign = secret(make_acquisition_key(shop.database, organization.actor, acquisition.id))
    with shop.client() as client:
        response = client.get("/items", headers={"X-Shop-Key": foreign})
    assert (response.status_code, _error(response)) == (401, "key_invalid")


def test_routes_unknown_paths_404_and_other_methods_405_with_allow(shop: Shop) -> None:
    with httpx.Client(base_url=shop.url, timeout=10) as client:
        assert _error(client.get("/nowhere/v2/items")) == "api_not_found"
        missing = client.get("/shop/v2/nothing", headers={"X-Shop-Key": shop.key})
        assert (missing.status_code, _error(missing)) == (404, "route_not_found")
        wrong = client.delete("/shop/v2/items", headers={"X-Shop-Key": shop.key})
        assert (wrong.status_code, _error(wrong)) == (405, "method_not_allowed")
        assert wrong.headers["allow"] == "GET, HEAD, POST"
        without_base = client.get("/shop/items", headers={"X-Shop-Key": shop.key})
        assert without_base.status_code == 404


def test_a_public_operation_needs_no_key(shop: Shop) -> None:
    with shop.client() as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["target"] == "/base/health"


def test_a_query_key_is_stripped_and_redacted_in_the_access_log(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="keyward.gateway.access"), shop.client() as client:
        response = client.get(f"/items/a%20b?api_key={shop.key}&page=2")
    assert response.status_code == 200
    assert response.json()["target"] == "/base/items/a%20b?page=2"
    deadline = time.monotonic() + 5
    while not caplog.records and time.monotonic() < deadline:
        time.sleep(0.01)  # the line is written once the exchange is complete
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert shop.key not in logged
    assert "api_key=REDACTED" in logged
    assert shop.key_id in logged


def test_and_needs_every_credential_and_passthrough_travels_untouched(shop: Shop) -> None:
    with shop.client() as client:
        alone = client.get("/tenant", headers={"X-Shop-Key": shop.key})
        both = client.get("/tenant", headers={"X-Shop-Key": shop.key, "X-Tenant": "acme"})
    assert (alone.status_code, _error(alone)) == (401, "credential_missing")
    assert alone.json()["error"]["details"] == {
        "scheme": "tenant",
        "in": "header",
        "name": "X-Tenant",
    }
    assert "'tenant'" in alone.json()["error"]["message"]
    assert "X-Tenant" in alone.json()["error"]["message"]
    assert both.status_code == 200
    forwarded = both.json()["headers"]
    assert forwarded["x-tenant"] == "acme"
    assert "x-shop-key" not in forwarded


def test_a_cookie_key_is_removed_and_the_other_cookies_kept(shop: Shop) -> None:
    with shop.client() as client:
        response = client.get("/cookie", headers={"Cookie": f"theme=dark; shop_key={shop.key}"})
    assert response.status_code == 200
    assert response.json()["headers"]["cookie"] == "theme=dark"


def test_a_cookie_key_does_not_change_state_for_another_site(shop: Shop) -> None:
    """A browser attaches the cookie to requests any page makes: a state-changing request
    carrying the key in a cookie is taken only from the gateway's own origin (or, below, one the
    API allows), a safe one from anywhere, and a request without browser headers as before."""
    cookie = {"Cookie": f"shop_key={shop.key}"}
    with shop.client() as client:
        refused = {
            name: client.post("/cookie", headers={**cookie, **headers})
            for name, headers in {
                "another site": {"Origin": "https://evil.example"},
                "a sandboxed page": {"Origin": "null"},
                "no origin but cross-site": {"Sec-Fetch-Site": "cross-site"},
                "look-alike": {"Origin": f"http://127.0.0.1:{shop.gateway.port}.evil.example"},
            }.items()
        }
        upgrade = client.get(
            "/cookie",
            headers={
                **cookie,
                "Origin": "https://evil.example",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
            },
        )
        reached = len(shop.upstream.seen)
        same_site = client.post("/cookie", headers={**cookie, "Origin": shop.url})
        no_browser = client.post("/cookie", headers=cookie)
        safe = client.get("/cookie", headers={**cookie, "Origin": "https://evil.example"})
        by_header = client.post(
            "/cookie", headers={"X-Shop-Key": shop.key, "Origin": "https://evil.example"}
        )
    for name, response in refused.items():
        assert (response.status_code, _error(response)) == (403, "cross_site_request"), name
    assert (upgrade.status_code, _error(upgrade)) == (403, "cross_site_request")
    assert reached == 0
    assert [same_site.status_code, no_browser.status_code, safe.status_code] == [200] * 3
    assert by_header.status_code == 200


def test_an_api_names_the_sites_that_may_use_a_cookie_key(shop: Shop) -> None:
    with shop.database.transaction() as uow:
        shown = apis.update_api(
            uow,
            shop.actor,
            shop.api_id,
            ApiUpdate.model_validate({"allowed_origins": ["HTTPS://App.Example.com:443/"]}),
            Settings(),
        )
    assert shown.allowed_origins == ["https://app.example.com"]
    cookie = {"Cookie": f"shop_key={shop.key}"}
    with running_gateway(shop.database) as gateway, httpx.Client(timeout=10) as client:
        url = f"http://127.0.0.1:{gateway.port}/shop/v2/cookie"
        allowed = client.post(url, headers={**cookie, "Origin": "https://app.example.com"})
        other = client.post(url, headers={**cookie, "Origin": "https://app.example.com:8443"})
    assert allowed.status_code == 200
    assert (other.status_code, _error(other)) == (403, "cross_site_request")


@pytest.mark.parametrize(
    "origin",
    ["app.example.com", "ftp://app.example.com", "https://app.example.com/path",
     "https://user@app.example.com", "https://app.example.com?x", "https://", "https://a:99999"],
)  # fmt: skip
def test_allowed_origins_must_be_origins(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        ApiUpdate.model_validate({"allowed_origins": [origin]})


def test_an_acquisition_id_credential_must_name_the_keys_acquisition(shop: Shop) -> None:
    with shop.client() as client:
        right = client.get(
            "/claimed", headers={"X-Shop-Key": shop.key, "X-Acquisition": shop.acquisition_id}
        )
        wrong = client.get(
            "/claimed", headers={"X-Shop-Key": shop.key, "X-Acquisition": "acq_someoneelse"}
        )
    assert right.status_code == 200
    assert "x-acquisition" not in right.json()["headers"]
    assert (wrong.status_code, _error(wrong)) == (401, "acquisition_id_mismatch")


def test_optional_security_forwards_anonymous_calls_but_not_bad_keys(shop: Shop) -> None:
    with shop.client() as client:
        anonymous = client.get("/optional")
        bad = client.get("/optional", headers={"X-Shop-Key": "kw_" + "B" * 38})
        good = client.get("/optional", headers={"X-Shop-Key": shop.key})
    assert anonymous.status_code == 200
    assert "x-keyward-key-id" not in anonymous.json()["headers"]
    assert (bad.status_code, _error(bad)) == (401, "key_invalid")
    assert good.json()["headers"]["x-keyward-key-id"] == shop.key_id


def test_a_key_sent_twice_differently_or_in_two_places_is_400(shop: Shop) -> None:
    with shop.client() as client:
        twice = client.get(
            "/items", headers=[("X-Shop-Key", shop.key), ("X-Shop-Key", "kw_" + "C" * 38)]
        )
        two_places = client.get(f"/items?api_key={shop.key}", headers={"X-Shop-Key": shop.key})
    assert (twice.status_code, _error(twice)) == (400, "credential_ambiguous")
    assert (two_places.status_code, _error(two_places)) == (400, "key_in_two_places")
    assert shop.upstream.seen == []


def test_either_alternative_of_an_or_is_enough(shop: Shop) -> None:
    with shop.client() as client:
        by_query = client.get("/items", params={"api_key": shop.key})
        by_header = client.get("/items", headers={"X-Shop-Key": shop.key})
    assert by_query.status_code == by_header.status_code == 200


def test_cors_preflight_passes_without_a_key(shop: Shop) -> None:
    with shop.client() as client:
        response = client.options(
            "/items",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        )
    assert response.status_code == 200
    assert response.json()["method"] == "OPTIONS"


def test_a_new_key_works_on_its_first_request_and_a_new_api_at_once(shop: Shop) -> None:
    fresh = secret(make_acquisition_key(shop.database, shop.buyer, shop.acquisition_id))
    _shop_api(shop.database, shop.actor, shop.upstream.url, mount="later")
    with httpx.Client(base_url=shop.url, timeout=10) as client:
        assert client.get("/shop/v2/items", headers={"X-Shop-Key": fresh}).status_code == 200
        assert client.get("/later/v2/health").status_code == 200


def test_over_the_offerings_limit_is_429_and_every_answer_is_counted_as_usage(shop: Shop) -> None:
    limits = {"limits": [{"scope": "key", "requests": 2, "per": "PT1M"}]}
    with shop.database.transaction() as uow:
        offerings.update_offering(
            uow, shop.actor, shop.offering_id, OfferingUpdate.model_validate(limits)
        )
    with shop.client() as client:
        first, second, third = (
            client.get("/items", headers={"X-Shop-Key": shop.key}) for _ in range(3)
        )
        outside = client.post("/items", headers={"X-Shop-Key": shop.key})
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == ("2", "1")
    assert (third.status_code, _error(third)) == (429, "rate_limited")
    assert int(third.headers["retry-after"]) >= 1
    assert third.headers["ratelimit-remaining"] == "0"
    assert len(shop.upstream.seen) == 2
    assert outside.status_code == 403
    deadline = time.monotonic() + 5
    while shop.gateway.usage.pending() < 4 and time.monotonic() < deadline:
        time.sleep(0.01)  # counted once each exchange is complete
    shop.gateway.usage.flush(shop.database)
    shop.clock.advance(timedelta(minutes=1))  # usage is read up to now, this minute excluded
    with shop.database.transaction(write=False) as uow:
        counted = usage.key_usage(uow, shop.actor, shop.key_id)
    assert counted.totals.model_dump() == {"2xx": 2, "3xx": 0, "4xx": 2, "5xx": 0}


def test_usage_is_written_in_the_background_every_interval(shop: Shop) -> None:
    with (
        running_gateway(shop.database, usage_flush_interval=0.05) as gateway,
        httpx.Client(base_url=f"http://127.0.0.1:{gateway.port}/shop/v2", timeout=10) as client,
    ):
        assert client.get("/items", headers={"X-Shop-Key": shop.key}).status_code == 200
        shop.clock.advance(timedelta(minutes=1))  # usage is read up to now, this minute excluded
        assert _usage_written(shop) == {"2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0}  # unflushed
        # `last_used_at` is written on the same interval, by the change-feed follower.
        deadline = time.monotonic() + 3
        while _last_used(shop) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _last_used(shop) is not None
    assert gateway.usage.pending() == 0


def _last_used(shop: Shop) -> object:
    with shop.database.transaction(write=False) as uow:
        return usage.key_usage(uow, shop.actor, shop.key_id).last_used_at


def _usage_written(shop: Shop) -> dict[str, int]:
    """The key's usage totals in storage, once a count is there (or after 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        with shop.database.transaction(write=False) as uow:
            counted = usage.key_usage(uow, shop.actor, shop.key_id)
        totals: dict[str, int] = counted.totals.model_dump()
        if any(totals.values()) or time.monotonic() > deadline:
            return totals
        time.sleep(0.02)


def test_usage_a_background_write_fails_to_add_is_written_by_a_later_one(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        running_gateway(shop.database, usage_flush_interval=0.05) as gateway,
        httpx.Client(base_url=f"http://127.0.0.1:{gateway.port}/shop/v2", timeout=10) as client,
    ):
        with storage_down(shop.database):
            assert client.get("/items", headers={"X-Shop-Key": shop.key}).status_code == 200
            deadline = time.monotonic() + 5
            while "usage flush failed" not in caplog.text:
                assert time.monotonic() < deadline, "no usage write failed"
                time.sleep(0.02)
        shop.clock.advance(timedelta(minutes=1))
        assert _usage_written(shop) == {"2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0}


def test_keys_it_cannot_confirm_while_storage_is_down_are_503_and_cached_ones_still_work(
    shop: Shop,
) -> None:
    fresh = secret(make_acquisition_key(shop.database, shop.buyer, shop.acquisition_id))
    with shop.client() as client:
        assert client.get("/items", headers={"X-Shop-Key": shop.key}).status_code == 200
        with storage_down(shop.database):
            cached = client.get("/items", headers={"X-Shop-Key": shop.key})
            unconfirmed = client.get("/items", headers={"X-Shop-Key": fresh})
        assert cached.status_code == 200
        assert (unconfirmed.status_code, _error(unconfirmed)) == (503, "verification_unavailable")
        assert unconfirmed.headers["retry-after"] == "5"


def test_keys_issued_before_it_started_work_without_reading_storage(shop: Shop) -> None:
    later = secret(make_acquisition_key(shop.database, shop.buyer, shop.acquisition_id))
    with (
        running_gateway(shop.database, cache_preload=0) as cold,
        shop.client() as client,
        storage_down(shop.database),
    ):
        preloaded = client.get("/items", headers={"X-Shop-Key": shop.key})
        issued_after_start = client.get("/items", headers={"X-Shop-Key": later})
        not_preloaded = httpx.get(
            f"http://127.0.0.1:{cold.port}/shop/v2/items",
            headers={"X-Shop-Key": shop.key},
            timeout=10,
        )
    assert preloaded.status_code == 200
    assert (issued_after_start.status_code, _error(issued_after_start)) == (
        503,
        "verification_unavailable",
    )
    assert (not_preloaded.status_code, _error(not_preloaded)) == (503, "verification_unavailable")


def _refusals_recorded(
    shop: Shop, key_id: str, wanted: int, within: float = 10.0
) -> list[AuditEvent]:
    """The gateway's audit events on `key_id`, once `wanted` are written (in the background),
    or those written `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        with shop.database.transaction(write=False) as uow:
            events = list(
                uow.session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.target_id == key_id, AuditEvent.action == "gateway.request")
                    .order_by(AuditEvent.id)
                )
            )
        if len(events) >= wanted or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_a_rotated_away_secret_past_its_grace_is_401_key_rotated(shop: Shop) -> None:
    with shop.database.transaction() as uow:
        rotated = keys.rotate_key(
            uow, shop.buyer, shop.key_id, timedelta(hours=1), sealer=Sealer([b"s" * 32])
        )
    with shop.client() as client:
        assert client.get("/items", headers={"X-Shop-Key": shop.key}).status_code == 200
        shop.clock.advance(timedelta(hours=1))
        old = client.get("/items", headers={"X-Shop-Key": shop.key})
        new = client.get("/items", headers={"X-Shop-Key": secret(rotated)})
        again = client.get("/items", headers={"X-Shop-Key": shop.key})
    assert (old.status_code, _error(old)) == (401, "key_rotated")
    assert _error(again) == "key_rotated"
    assert "current secret" in old.json()["error"]["message"]
    assert new.status_code == 200
    # The old secret presented is a security event, recorded once within the minute.
    events = _refusals_recorded(shop, shop.key_id, 2, within=1.0)
    assert [(e.outcome, e.code) for e in events] == [("refused", "key_rotated")]


def test_a_known_key_refused_is_audited_once_a_minute_per_key_and_reason(shop: Shop) -> None:
    other_api = _shop_api(shop.database, shop.actor, shop.upstream.url, mount="other")
    with shop.client() as client:
        for _ in range(3):
            assert client.get("/items", headers={"X-Shop-Key": shop.key}).status_code == 200
        with httpx.Client(base_url=shop.url, timeout=10) as other:
            for _ in range(3):
                refused = other.get("/other/v2/items", headers={"X-Shop-Key": shop.key})
                assert (refused.status_code, _error(refused)) == (403, "wrong_api")
        with shop.database.transaction() as uow:
            keys.revoke_key(uow, shop.actor, shop.key_id)
        for _ in range(4):
            revoked = client.get("/items", headers={"X-Shop-Key": shop.key})
            assert (revoked.status_code, _error(revoked)) == (401, "key_revoked")
        unknown = client.get("/items", headers={"X-Shop-Key": "kw_" + "A" * 38})
        assert _error(unknown) == "key_invalid"
    events = _refusals_recorded(shop, shop.key_id, 2)
    assert [(e.outcome, e.code, e.target_type) for e in events] == [
        ("refused", "wrong_api", "key"),
        ("refused", "key_revoked", "key"),
    ]
    assert events[0].details["api_id"] == other_api
    assert events[0].details["target"] == "/other/v2/items"
    assert events[1].actor_key_id == shop.key_id
    assert shop.key not in json.dumps([e.details for e in events])
    # The repeats within the minute are not recorded one by one.
    again = _refusals_recorded(shop, shop.key_id, 3, within=1.0)
    assert [e.id for e in again] == [e.id for e in events]


def _documented(document: dict[str, Any], path: str, method: str, status: int) -> list[str]:
    """The error codes the exported spec lists for `status` of an operation."""
    operation = document["paths"][path][method]
    reference = operation["responses"][str(status)]["$ref"]
    name = reference.rsplit("/", 1)[1]
    response = document["components"]["responses"][name]
    schema = response["content"]["application/json"]["schema"]
    codes: list[str] = schema["properties"]["error"]["properties"]["code"]["enum"]
    return codes


def test_the_exported_spec_lists_every_code_the_gateway_answers(shop: Shop) -> None:
    limits = {"limits": [{"scope": "key", "requests": 1, "per": "PT1M"}]}
    with shop.database.transaction() as uow:
        offerings.update_offering(
            uow, shop.actor, shop.offering_id, OfferingUpdate.model_validate(limits)
        )
    with shop.database.transaction(write=False) as uow:
        document = acquisitions.export_spec(
            uow,
            shop.buyer,
            shop.acquisition_id,
            ExportVersion.V3,  # 2.0 cannot describe the shop's cookie key
            Settings(upstream_allow=LOOPBACK),
        ).document
    with shop.client() as client:
        answers = [
            ("/tenant", "get", client.get("/tenant", headers={"X-Shop-Key": shop.key})),
            ("/items", "get", client.get("/items", headers={"X-Shop-Key": shop.key})),
            ("/items", "get", client.get("/items", headers={"X-Shop-Key": shop.key})),
            ("/items", "get", client.get("/items")),
            ("/claimed", "get", client.get(
                "/claimed", headers={"X-Shop-Key": shop.key, "X-Acquisition": "acq_other"}
            )),
        ]  # fmt: skip
    statuses = set()
    for path, method, response in answers:
        if response.status_code == 200:
            continue
        statuses.add(response.status_code)
        assert _error(response) in _documented(document, path, method, response.status_code)
    assert statuses == {401, 429}
    assert "credential_missing" in _documented(document, "/tenant", "get", 401)
    assert "acquisition_id_mismatch" in _documented(document, "/claimed", "get", 401)
    assert "key_rotated" in _documented(document, "/items", "get", 401)
    assert {"wrong_api", "operation_not_in_offering", "acquisition_expired"} <= set(
        _documented(document, "/items", "get", 403)
    )
