"""`keyward serve` says it is alive while it runs, and ready only while it can serve: with its
PostgreSQL cut off (a TCP relay between them), /readyz on the API and on the gateway answers
503 naming storage, /healthz still 200; once storage is back, both are ready again."""

from functools import partial
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.backends import PostgresDatabases
from tests.e2e.processes import cli, serve
from tests.relay import relay_to
from tests.verifier.support import eventually

pytestmark = pytest.mark.e2e


def _answers(url: str, path: str) -> tuple[int, dict[str, object]]:
    response = httpx.get(f"{url}{path}", timeout=10)
    return response.status_code, response.json()


def _ready(url: str) -> bool:
    return _answers(url, "/readyz") == (200, {"status": "ready"})


def _storage_not_ready(url: str) -> bool:
    status, body = _answers(url, "/readyz")
    if status != 503:
        return False
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == "not_ready"
    assert error["message"]
    return "storage" in error["details"]["not_ready"]


def test_readyz_follows_storage_on_the_api_and_the_gateway_and_healthz_stays_ok(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    direct = postgres.create()
    initialised = cli(direct, "init", "--json")
    assert initialised.code == 0, initialised.stderr
    with (
        relay_to(direct) as relay,
        serve(
            relay.url_for(direct),
            tmp_path,
            KEYWARD_GATEWAY_WORKERS="1",
            KEYWARD_READY_MAX_FEED_LAG="5",
        ) as server,
    ):
        ports = (server.url, server.gateway_url)
        for url in ports:
            assert _answers(url, "/healthz") == (200, {"status": "ok"})
            eventually(partial(_ready, url), within=60)

        relay.cut()
        for url in ports:
            eventually(partial(_storage_not_ready, url), within=60)
            assert _answers(url, "/healthz") == (200, {"status": "ok"}), "still alive"

        relay.restore()
        for url in ports:
            eventually(partial(_ready, url), within=60)
