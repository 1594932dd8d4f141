"""The gateway answers /healthz, /livez and /readyz itself, before any API is looked for, from
what the process knows: the catalog, its last read of the change feed, its last storage check."""

from collections.abc import Iterator

import httpx2 as httpx
import pytest

from keyward.db.engine import Database
from keyward.gateway.runner import Gateway
from tests.gateway.gateway_support import running_gateway
from tests.verifier.support import eventually


@pytest.fixture
def database(fresh_url: str) -> Iterator[Database]:
    database = Database.connect(fresh_url)
    yield database
    database.dispose()


def _url(gateway: Gateway, path: str) -> str:
    return f"http://127.0.0.1:{gateway.port}{path}"


def test_the_gateway_is_alive_and_ready_with_no_api_mounted(database: Database) -> None:
    with running_gateway(database) as gateway:
        for path in ("/healthz", "/livez", "/healthz?verbose=1"):
            alive = httpx.get(_url(gateway, path), timeout=10)
            assert (alive.status_code, alive.json()) == (200, {"status": "ok"}), path
        ready = httpx.get(_url(gateway, "/readyz"), timeout=10)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert ready.headers["content-type"] == "application/json"
        head = httpx.head(_url(gateway, "/readyz"), timeout=10)
        assert (head.status_code, head.content) == (200, b"")
        elsewhere = httpx.get(_url(gateway, "/healthz/more"), timeout=10)
        assert elsewhere.status_code == 404, "only the exact paths are the gateway's own"
        assert elsewhere.json()["error"]["code"] == "api_not_found"


def test_readyz_is_503_naming_a_change_feed_read_too_long_ago(database: Database) -> None:
    # The feed is read once at start, then not for a minute: its lag soon passes the bound.
    with running_gateway(database, feed_interval=60, ready_max_feed_lag=0.05) as gateway:
        httpx.get(_url(gateway, "/healthz"), timeout=10)
        answers: list[httpx.Response] = []

        def not_ready() -> bool:
            answers.append(httpx.get(_url(gateway, "/readyz"), timeout=10))
            return answers[-1].status_code == 503

        eventually(not_ready, within=30)  # the first read may have been a moment ago
        answer = answers[-1]
        error = answer.json()["error"]
        assert error["code"] == "not_ready"
        assert error["details"]["not_ready"] == ["feed"]
        assert "KEYWARD_READY_MAX_FEED_LAG" in error["details"]["feed"]
        alive = httpx.get(_url(gateway, "/healthz"), timeout=10)
        assert alive.status_code == 200, "a lagging gateway is still alive"
