"""Limits without Redis, through real `keyward serve gateway` processes: every process of a
gateway (KEYWARD_GATEWAY_WORKERS) and separate gateways on one database admit one quota between
them, within ten per cent and never more; a quota used up stays used up when the gateway
restarts; on SQLite and PostgreSQL.

Each request opens a connection of its own, so the kernel spreads them over the workers
sharing the port, as it spreads clients.
"""

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from keyward.db.engine import Database
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate
from keyward.domains.offerings import service as offerings
from keyward.domains.offerings.schemas import OfferingUpdate
from keyward.settings import Settings
from tests.conftest import LOOPBACK
from tests.e2e.processes import serve_gateway
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
from tests.gateway.gateway_support import echo_upstream

QUOTA = 60
SPEC = """\
openapi: 3.0.3
info: {title: Quota, version: "1.0"}
paths:
  /things:
    get: {operationId: listThings, responses: {"200": {description: ok}}}
"""


@dataclass(frozen=True)
class Quoted:
    """An API behind a quota of QUOTA requests per hour per acquisition, and a key of it."""

    database_url: str
    key: str


@pytest.fixture
def quoted(fresh_url: str) -> Iterator[Quoted]:
    database = Database.connect(fresh_url)
    try:
        actor = admin(database, make_workspace(database))
        with echo_upstream() as upstream:
            api = make_api(database, actor, spec=SPEC, mount_path="quota")
            offering = make_offering(database, actor, api.id)
            limits = {"limits": [{"scope": "acquisition", "requests": QUOTA, "per": "PT1H"}]}
            with database.transaction() as uow:
                apis.update_api(
                    uow,
                    actor,
                    api.id,
                    ApiUpdate.model_validate({"upstream_url": upstream.url}),
                    Settings(upstream_allow=LOOPBACK),
                )
                offerings.update_offering(
                    uow, actor, offering.id, OfferingUpdate.model_validate(limits)
                )
            party = make_party(database, actor)
            acquisition = make_acquisition(database, actor, offering.id, party.organization_id)
            key = secret(make_acquisition_key(database, party.actor, acquisition.id))
            yield Quoted(fresh_url, key)
    finally:
        database.dispose()


def _call(gateway_url: str, key: str) -> int:
    """One request on a connection of its own: its status."""
    with httpx.Client(timeout=20) as client:
        response = client.get(f"{gateway_url}/quota/things", headers={"X-API-Key": key})
        return response.status_code


def _hammer(gateway_urls: Sequence[str], key: str, requests: int) -> list[int]:
    """`requests` requests, eight at a time, spread over `gateway_urls` in turn."""
    targets = [gateway_urls[n % len(gateway_urls)] for n in range(requests)]
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda url: _call(url, key), targets))


def _admits_the_quota_within_ten_percent(statuses: list[int]) -> None:
    assert set(statuses) <= {200, 429}, statuses
    assert 0.9 * QUOTA <= statuses.count(200) <= QUOTA, statuses.count(200)


@pytest.mark.parametrize("workers", [2, 4])
def test_the_workers_of_a_gateway_share_a_quota_which_a_restart_keeps(
    quoted: Quoted, tmp_path: Path, workers: int
) -> None:
    settings = {"KEYWARD_GATEWAY_WORKERS": str(workers)}
    with serve_gateway(quoted.database_url, tmp_path, **settings) as gateway:
        _admits_the_quota_within_ten_percent(_hammer([gateway.url], quoted.key, 3 * QUOTA))
    with serve_gateway(quoted.database_url, tmp_path, **settings) as restarted:
        after = _hammer([restarted.url], quoted.key, 2 * workers)
    assert after == [429] * (2 * workers)


def test_separate_gateways_on_one_database_share_a_quota(quoted: Quoted, tmp_path: Path) -> None:
    with (
        serve_gateway(quoted.database_url, tmp_path) as one,
        serve_gateway(quoted.database_url, tmp_path) as other,
    ):
        statuses = _hammer([one.url, other.url], quoted.key, 3 * QUOTA)
        _admits_the_quota_within_ten_percent(statuses)
        assert 200 in statuses[0::2]
        assert 200 in statuses[1::2]
        assert _call(one.url, quoted.key) == 429
        assert _call(other.url, quoted.key) == 429
