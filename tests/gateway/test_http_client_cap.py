"""A cap on the connections one client address holds: one client cannot take every socket of
the gateway. The connection over the cap is answered 429 and closed; the others go on, and a
closed one makes room."""

import time
from contextlib import ExitStack

from keyward.gateway.http import Limits
from tests.gateway.http_support import Client, Origin, get, proxy, running_gateway

CAPPED = Limits(max_connections_per_client=3)


def _wait_until_room(gateway_port: int, attempts: int = 50) -> int:
    """The status of a request on a new connection, once the gateway has seen a close."""
    for _ in range(attempts):
        with Client.to(gateway_port) as client:
            status = client.request(get("/echo")).status
        if status != 429:
            return status
        time.sleep(0.02)
    return 429


def test_a_client_over_its_cap_is_answered_429_and_the_others_go_on(origin: Origin) -> None:
    with running_gateway(proxy(origin.upstream), CAPPED) as gateway, ExitStack() as stack:
        held = [stack.enter_context(Client.to(gateway.port)) for _ in range(3)]
        for client in held:
            assert client.request(get("/echo")).status == 200
        with Client.to(gateway.port) as extra:
            refused = extra.read_response()
            assert (refused.status, refused.json()["error"]["code"]) == (
                429,
                "too_many_connections",
            )
            assert refused.header("connection") == "close"
            assert extra.closed_by_peer()
        assert [client.request(get("/echo")).status for client in held] == [200] * 3
        held.pop().close()
        assert _wait_until_room(gateway.port) == 200


def test_no_cap_when_it_is_zero(origin: Origin) -> None:
    with (
        running_gateway(proxy(origin.upstream), Limits(max_connections_per_client=0)) as gateway,
        ExitStack() as stack,
    ):
        clients = [stack.enter_context(Client.to(gateway.port)) for _ in range(300)]
        assert clients[-1].request(get("/echo")).status == 200
