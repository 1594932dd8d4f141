"""`keyward serve` with two gateway worker processes serves one admin listener
(KEYWARD_METRICS_PORT): the requests sent to the gateway, whichever process answered them, are
counted there by API, operation, status and error code, and the outbox is reported."""

from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backends import SqliteDatabases
from tests.e2e.pets import new_key, pets_acquisition
from tests.e2e.processes import cli, free_port, serve
from tests.gateway.gateway_support import echo_upstream
from tests.verifier.support import eventually

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _requests(samples: Samples, api: str, status: str, code: str) -> float:
    labels = (("api", api), ("code", code), ("operation", "list_pets"), ("status", status))
    return samples.get(("keyward_gateway_requests_total", labels), 0.0)


def test_the_admin_listener_counts_every_gateway_process_requests_by_status_and_code(
    sqlite: SqliteDatabases, tmp_path: Path
) -> None:
    # Metrics are counted in memory, whatever the storage: one backend is enough.
    fresh_url = sqlite.create()
    initialised = cli(fresh_url, "init", "--json")
    assert initialised.code == 0, initialised.stderr
    metrics_port = free_port()
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    with (
        echo_upstream() as upstream,
        serve(
            fresh_url,
            tmp_path,
            KEYWARD_GATEWAY_WORKERS="2",
            KEYWARD_METRICS_PORT=str(metrics_port),
        ) as server,
        server.client(initialised.json()["admin_key"]) as client,
    ):
        acquired = pets_acquisition(client, upstream.url)
        api_id = acquired.api_id
        _, key = new_key(client, acquired.acquisition_id, "k")
        eventually(lambda: _scrape(metrics).get(("keyward_gateway_processes", ())) == 2, 90)
        pets = f"{server.gateway_url}/pets/pets"
        # Each request on a connection of its own: the kernel spreads them over both processes.
        sent = {"200": 0, "401": 0}
        for _ in range(8):
            served = httpx.get(pets, headers={"X-API-Key": key}, timeout=10)
            sent[str(served.status_code)] += 1
        for _ in range(5):
            assert httpx.get(pets, timeout=10).status_code == 401
        assert sent == {"200": 8, "401": 0}

        def counted() -> bool:
            samples = _scrape(metrics)
            return (
                _requests(samples, api_id, "200", "") == 8
                and _requests(samples, api_id, "401", "key_missing") == 5
            )

        eventually(counted, within=30)
        samples = _scrape(metrics)
        assert samples[("keyward_gateway_processes", ())] == 2
        assert ("keyward_outbox_backlog", ()) in samples
        assert ("keyward_gateway_feed_lag_seconds", ()) in samples
        assert samples[("keyward_gateway_limiter_refusals_total", (("code", "rate_limited"),))] == 0
        assert not any("pets/pets" in str(labels) for _, labels in samples), "no raw paths"
        # Each process read the new key from storage once, then answered it from its cache.
        misses = samples[("keyward_verify_cache_misses_total", ())]
        assert misses >= 1
        assert samples[("keyward_verify_cache_hits_total", ())] >= 1
        assert samples[("keyward_verify_lookup_seconds_count", ())] == misses
        assert samples[("keyward_verify_stale_answers_total", ())] == 0
