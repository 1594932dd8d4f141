"""What was committed before a request arrives decides it, in every gateway process: an API, an
offering, an acquisition and a key made through the API serve their very first request, and a
new version, policy or offering is honoured by the next one, however slowly the feed is polled."""

import json
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.e2e.pets import new_key, ok, pets_acquisition
from tests.e2e.processes import GatewayProcess, cli, serve, serve_gateway
from tests.gateway.gateway_support import echo_upstream

pytestmark = pytest.mark.e2e

# The gateway polls the feed far less often than the test makes requests, so only its catch-up
# before a refusal can let it see what the API committed a moment ago.
WORKERS = 2
SLOW_FEED = {
    "KEYWARD_FEED_INTERVAL": "120",
    "KEYWARD_GATEWAY_WORKERS": str(WORKERS),
    "KEYWARD_GATEWAY_ACCESS_LOG": "true",  # whose lines name the worker process that answered
}


def _spec(**tags: str) -> str:
    """A spec of one GET operation per path, tagged as `tags` says."""
    return json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": "Pets", "version": "1"},
            "paths": {
                f"/{path}": {
                    "get": {
                        "operationId": f"list_{path}",
                        "tags": [tag],
                        "responses": {"200": {"description": "ok"}},
                    }
                }
                for path, tag in tags.items()
            },
        }
    )


def _pids(lines: list[str]) -> set[int]:
    """The processes that wrote these access lines."""
    return {json.loads(line)["pid"] for line in lines if line.startswith("{")}


def _each_worker(
    gateway: GatewayProcess, path: str, *, headers: dict[str, str] | None = None, **params: str
) -> set[tuple[int, str]]:
    """The answers (status, error code) to requests sent on new connections until both worker
    processes have answered some, as their access lines say (at most 100)."""
    seen = len(gateway.lines())
    answers = set()
    for sent in range(1, 101):
        response = httpx.get(f"{gateway.url}{path}", headers=headers, params=params, timeout=10)
        code = (
            response.json().get("error", {}).get("code", "") if response.status_code != 200 else ""
        )
        answers.add((response.status_code, code))
        if sent % 4 == 0 and len(_pids(gateway.lines()[seen:])) == WORKERS:
            return answers
    raise AssertionError(f"one worker process answered all {sent} requests to {path}")


def test_what_the_api_committed_decides_the_gateways_next_request(
    fresh_url: str, tmp_path: Path
) -> None:
    initialised = cli(fresh_url, "init", "--json")
    assert initialised.code == 0, initialised.stderr
    with (
        echo_upstream() as upstream,
        serve(fresh_url, tmp_path, part="api") as server,
        serve_gateway(fresh_url, tmp_path, **SLOW_FEED) as gateway,
        server.client(initialised.json()["admin_key"]) as client,
    ):
        # Pets offered only for its `pets` operations, then acquired, and a key made.
        acquired = pets_acquisition(
            client,
            upstream.url,
            spec=_spec(pets="pets", stores="stores"),
            operations={"tags": ["pets"]},
        )
        api_id, offering_id = acquired.api_id, acquired.offering_id
        _, secret = new_key(client, acquired.acquisition_id, "k")
        key = {"X-API-Key": secret}
        # The gateway started before the API, the offering and the key existed.
        assert _each_worker(gateway, "/pets/pets", headers=key) == {(200, "")}
        assert upstream.seen[0]["target"] == "/pets"
        assert _each_worker(gateway, "/pets/stores", headers=key) == {
            (403, "operation_not_in_offering")
        }

        ok(
            client.patch(
                f"/v1/offerings/{offering_id}",
                json={"operations": {"tags": ["pets", "stores"]}},
            )
        )
        assert _each_worker(gateway, "/pets/stores", headers=key) == {(200, "")}

        # A new version's operation (tagged as offered) is served at once.
        ok(
            client.post(
                f"/v1/apis/{api_id}/versions",
                json={"spec": _spec(pets="pets", stores="stores", owners="pets")},
            ),
            201,
        )
        assert _each_worker(gateway, "/pets/owners", headers=key) == {(200, "")}

        # The policy moves the key into the query: sent there, it is taken at once.
        policy = ok(client.get(f"/v1/apis/{api_id}/policy"))
        [location] = policy["key_locations"]
        moved = {**location, "in": "query", "name": "api_key"}
        moved.pop("synthetic", None)
        ok(
            client.put(
                f"/v1/apis/{api_id}/policy",
                json={"key_locations": [moved], "confirm_weaker_security": True},
            )
        )
        assert _each_worker(gateway, "/pets/owners", api_key=secret) == {(200, "")}
        # Upstream never sees keyward's key.
        assert all(secret not in json.dumps(seen) for seen in upstream.seen)
