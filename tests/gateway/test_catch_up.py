"""Before refusing, the gateway reads what was committed elsewhere: a refusal a change not yet
applied could take away is never given from stale knowledge, and a flood of refusals shares
its reads of the feed.

The gateway runs over a database of its own (as another process does: it learns of changes
only through the feed), polling the feed far too rarely to matter; the test writes through
another.
"""

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import event

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate
from keyward.domains.offerings import service as offerings
from keyward.domains.offerings.schemas import OfferingUpdate
from keyward.gateway.runner import Gateway
from keyward.settings import Settings
from tests.conftest import LOOPBACK
from tests.factories import (
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_offering,
    make_party,
    make_workspace,
    secret,
)
from tests.gateway.gateway_support import echo_upstream, running_gateway
from tests.verifier.support import storage_down

SPEC = """\
openapi: 3.0.3
info: {title: Depot, version: "1"}
components:
  securitySchemes:
    depot_key: {type: apiKey, in: header, name: X-Depot-Key}
security: [{depot_key: []}]
paths:
  /crates:
    get: {operationId: listCrates, tags: [crates], responses: {"200": {description: ok}}}
  /pallets:
    get: {operationId: listPallets, tags: [pallets], responses: {"200": {description: ok}}}
"""


@dataclass
class Depot:
    writer: Database  # how the test commits: the gateway hears of it only through the feed
    seen_by_gateway: Database
    actor: Actor
    buyer: Actor
    acquisition_id: str
    offering_id: str
    key: str
    gateway: Gateway

    def get(self, path: str, key: str | None = None) -> httpx.Response:
        headers = {"X-Depot-Key": key or self.key}
        return httpx.get(
            f"http://127.0.0.1:{self.gateway.port}/depot{path}", headers=headers, timeout=10
        )


@pytest.fixture
def depot(fresh_url: str, clock: ManualClock) -> Iterator[Depot]:
    writer = Database.connect(fresh_url, clock=clock)
    seen_by_gateway = Database.connect(fresh_url, clock=clock)
    try:
        actor = admin(writer, make_workspace(writer))
        with echo_upstream() as upstream:
            api = make_api(writer, actor, spec=SPEC, name="Depot", mount_path="depot")
            with writer.transaction() as uow:
                apis.update_api(
                    uow,
                    actor,
                    api.id,
                    ApiUpdate.model_validate({"upstream_url": upstream.url}),
                    Settings(upstream_allow=LOOPBACK),
                )
            offering = make_offering(writer, actor, api.id, tags=["crates"])
            globex = make_party(writer, actor)
            acquisition = make_acquisition(writer, actor, offering.id, globex.organization_id)
            key = secret(make_acquisition_key(writer, globex.actor, acquisition.id))
            with running_gateway(seen_by_gateway, feed_interval=120) as gateway:
                yield Depot(
                    writer,
                    seen_by_gateway,
                    actor,
                    globex.actor,
                    acquisition.id,
                    offering.id,
                    key,
                    gateway,
                )
    finally:
        writer.dispose()
        seen_by_gateway.dispose()


def _code(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body["error"]["code"] if "error" in body else ""


def test_an_operation_offered_elsewhere_is_served_on_the_next_request(depot: Depot) -> None:
    assert _code(depot.get("/crates")) == (200, "")
    assert _code(depot.get("/pallets")) == (403, "operation_not_in_offering")
    with depot.writer.transaction() as uow:
        offerings.update_offering(
            uow,
            depot.actor,
            depot.offering_id,
            OfferingUpdate.model_validate({"operations": {"tags": ["crates", "pallets"]}}),
        )
    assert _code(depot.get("/pallets")) == (200, "")


def _limit(depot: Depot, requests: int) -> None:
    with depot.writer.transaction() as uow:
        offerings.update_offering(
            uow,
            depot.actor,
            depot.offering_id,
            OfferingUpdate.model_validate(
                {"limits": [{"scope": "key", "requests": requests, "per": "PT1H"}]}
            ),
        )


def test_a_limit_raised_elsewhere_admits_the_next_request(depot: Depot) -> None:
    _limit(depot, 2)
    # A refusal catches up with the feed: the gateway knows the limit of 2 from here on.
    assert _code(depot.get("/nowhere")) == (404, "route_not_found")
    assert [_code(depot.get("/crates")) for _ in range(3)] == [
        (200, ""),
        (200, ""),
        (429, "rate_limited"),
    ]
    _limit(depot, 3)
    raised = depot.get("/crates")
    assert _code(raised) == (200, "")
    assert raised.headers["RateLimit-Limit"] == "3"
    assert _code(depot.get("/crates")) == (429, "rate_limited"), "the refused one did not count"


def test_an_api_and_key_made_elsewhere_serve_their_first_request(depot: Depot) -> None:
    fresh = secret(make_acquisition_key(depot.writer, depot.buyer, depot.acquisition_id))
    make_api(depot.writer, depot.actor, spec=SPEC, name="Yard", mount_path="yard")
    assert _code(depot.get("/crates", fresh)) == (200, "")
    # No upstream is set for the new API, but the gateway knows its routes: a key is asked for.
    response = httpx.get(f"http://127.0.0.1:{depot.gateway.port}/yard/crates", timeout=10)
    assert _code(response) == (401, "key_missing")


def test_a_flood_of_refusals_shares_its_reads_of_the_feed(depot: Depot) -> None:
    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "change_feed" in statement:
            reads.append(statement)
            time.sleep(0.3)  # a slow read: the refusals arriving meanwhile wait for the next

    requests = 60
    event.listen(depot.seen_by_gateway.engine, "before_cursor_execute", count)
    try:
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda _: _code(depot.get("/nowhere")), range(requests)))
    finally:
        event.remove(depot.seen_by_gateway.engine, "before_cursor_execute", count)
    assert answers == [(404, "route_not_found")] * requests
    # Each read serves every refusal that arrived while the one before it ran.
    assert 1 <= len(reads) < requests / 4


def test_a_refusal_is_still_answered_when_the_feed_cannot_be_read(
    depot: Depot, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, "keyward.gateway"),
        storage_down(depot.seen_by_gateway) as attempted,
    ):
        responses = [depot.get("/pallets") for _ in range(5)]
    assert [_code(response) for response in responses] == [(403, "operation_not_in_offering")] * 5
    assert attempted  # it did try
    # Storage away, every refusal tries the feed; the log says so once, not once a refusal.
    failed = [r for r in caplog.records if "could not read the change feed" in r.getMessage()]
    assert len(failed) == 1
