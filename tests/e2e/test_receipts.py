"""A revocation answered is a revocation enforced: under `keyward serve` with several gateway
processes, a revoke is answered once every live gateway has applied it, so the very next request
with the key is refused; a gateway that cannot keep up is named in the answer and in
GET /v1/gateways, and catches up once it runs again."""

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import _new_url as new_url
from tests.e2e.pets import new_key, ok, pets_acquisition
from tests.e2e.processes import Server, cli, serve
from tests.gateway.gateway_support import echo_upstream

pytestmark = pytest.mark.e2e

WORKERS = 3
# The default feed interval: only the receipt's wait lets the next request see the revocation.
FEED_INTERVAL = "0.25"
TRIALS = 10
# Requests on connections of their own, which the kernel spreads over the workers.
SPREAD = 4


def _answers(gateway_url: str, secret: str) -> list[tuple[int, str]]:
    """Status and error code of `SPREAD` requests with `secret`, each on a new connection."""
    answers = []
    for _ in range(SPREAD):
        response = httpx.get(f"{gateway_url}/pets/pets", headers={"X-API-Key": secret}, timeout=10)
        code = "" if response.status_code == 200 else response.json()["error"]["code"]
        answers.append((response.status_code, code))
    return answers


@contextmanager
def _stopped(pid: int) -> Iterator[None]:
    """The process `pid` frozen (SIGSTOP) for the block, running again (SIGCONT) after it."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _gateways(client: httpx.Client) -> dict[str, Any]:
    return dict(ok(client.get("/v1/gateways")))


def _wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    """Poll `check()` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:g} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, httpx.Client, str]]:
    """`keyward serve` with `WORKERS` gateway processes, an admin client and an acquisition
    whose API answers through the gateway; one for the module's tests on each backend."""
    url = new_url(backend, request)
    initialised = cli(url, "init", "--json")
    assert initialised.code == 0, initialised.stderr
    with (
        echo_upstream() as upstream,
        serve(
            url,
            tmp_path_factory.mktemp("receipts"),
            KEYWARD_FEED_INTERVAL=FEED_INTERVAL,
            KEYWARD_GATEWAY_WORKERS=str(WORKERS),
        ) as server,
        server.client(initialised.json()["admin_key"]) as client,
    ):
        acquisition_id = pets_acquisition(client, upstream.url).acquisition_id
        # Every gateway process has said where it is before the test counts on it.
        _wait_for(
            lambda: len(_gateways(client)["data"]) == WORKERS, f"{WORKERS} gateways heartbeat"
        )
        yield server, client, acquisition_id


def test_the_request_after_a_revoke_is_answered_is_refused_by_every_gateway(
    served: tuple[Server, httpx.Client, str],
) -> None:
    server, client, acquisition_id = served
    keys = [new_key(client, acquisition_id, f"trial {n}") for n in range(TRIALS)]
    for key_id, secret in keys:
        # Cached as valid by the workers that served it.
        assert _answers(server.gateway_url, secret) == [(200, "")] * SPREAD
        revoked = ok(client.post(f"/v1/keys/{key_id}/revoke", json={"reason": "leaked"}))
        assert revoked["state"] == "revoked"
        receipt = revoked["enforcement"]
        assert receipt["enforced_at"] is not None, receipt
        assert receipt["gateways"] == WORKERS
        assert receipt["lagging"] == []
        assert _answers(server.gateway_url, secret) == [(401, "key_revoked")] * SPREAD


def test_a_frozen_gateway_is_named_lagging_and_catches_up_once_it_runs(
    served: tuple[Server, httpx.Client, str],
) -> None:
    server, client, acquisition_id = served
    key_id, secret = new_key(client, acquisition_id, "frozen")
    assert _answers(server.gateway_url, secret) == [(200, "")] * SPREAD
    # The key's creation reaches each gateway's feed position within a poll or so.
    _wait_for(
        lambda: all(g["live"] and g["lag"]["changes"] == 0 for g in _gateways(client)["data"]),
        "every gateway applied the key's creation",
    )
    listed = _gateways(client)
    frozen = listed["data"][0]
    assert {g["address"] for g in listed["data"]} == {server.gateway_url.removeprefix("http://")}
    with _stopped(frozen["pid"]):
        revoked = ok(client.post(f"/v1/keys/{key_id}/revoke"))
        receipt = revoked["enforcement"]
        assert receipt["enforced_at"] is None
        assert receipt["gateways"] == WORKERS
        assert [(g["id"], g["address"]) for g in receipt["lagging"]] == [
            (frozen["id"], frozen["address"])
        ]
        assert receipt["lagging"][0]["behind"] >= 1
        seen = {g["id"]: g for g in _gateways(client)["data"]}
        assert seen[frozen["id"]]["lag"]["changes"] >= 1
        assert seen[frozen["id"]]["applied"] < _gateways(client)["feed_position"]
        assert all(g["lag"]["changes"] == 0 for i, g in seen.items() if i != frozen["id"])

    def caught_up() -> bool:
        listed = _gateways(client)
        position = listed["feed_position"]
        return any(g["id"] == frozen["id"] and g["applied"] == position for g in listed["data"])

    _wait_for(caught_up, "the gateway that ran again applied the revocation")
    # Every worker, the one that was frozen included, refuses the key now.
    assert _answers(server.gateway_url, secret) == [(401, "key_revoked")] * SPREAD
    # And a revoke is enforced by all of them again.
    other_id, _ = new_key(client, acquisition_id, "after")
    receipt = ok(client.post(f"/v1/keys/{other_id}/revoke"))["enforcement"]
    assert receipt["enforced_at"] is not None
    assert receipt["gateways"] == WORKERS
