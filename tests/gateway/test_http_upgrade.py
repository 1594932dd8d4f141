"""Upgrade requests: a 101 from the upstream opens a byte tunnel; anything else is an ordinary
answer on an ordinary connection."""

from collections.abc import Iterator

import pytest

from tests.gateway.http_support import (
    Client,
    Gateway,
    Origin,
    Recorder,
    eventually,
    get,
    proxy,
    running_gateway,
)


@pytest.fixture
def gateway(origin: Origin, recorder: Recorder) -> Iterator[Gateway]:
    with running_gateway(proxy(origin.upstream, recorder)) as gateway:
        yield gateway


def upgrade(path: str) -> bytes:
    return get(
        path,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    )


def received(client: Client, size: int) -> bytes:
    while len(client.buffer) < size:
        client.sock.settimeout(2)
        data = client.sock.recv(65536)
        if not data:
            break
        client.buffer += data
    data = bytes(client.buffer[:size])
    del client.buffer[:size]
    return data


def test_websocket_upgrade_is_tunnelled(gateway: Gateway, recorder: Recorder) -> None:
    with gateway.connect() as client:
        switched = client.request(upgrade("/ws"))
        assert switched.status == 101
        assert switched.header("upgrade") == "websocket"
        assert switched.header("connection") == "upgrade"
        assert switched.header("sec-websocket-accept") == "test"
        assert switched.header("via") == "1.1 keyward"
        assert received(client, 19) == b"hello from upstream"
        client.send(b"\x81\x05hello")
        assert received(client, 7) == b"\x81\x05hello"
        client.send(b"x" * 200_000)
        assert received(client, 200_000) == b"x" * 200_000
    assert recorder.requests[0].upgrade == b"websocket"


def test_upgrade_headers_are_sent_upstream(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        client.request(upgrade("/echo"))
    sent = dict(origin.requests[0]["headers"])
    assert (sent["upgrade"], sent["connection"]) == ("websocket", "upgrade")
    assert sent["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="


def test_bytes_sent_right_after_the_upgrade_head_reach_the_tunnel(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(upgrade("/ws") + b"early bytes")
        assert client.read_response().status == 101
        assert received(client, 19 + 11) == b"hello from upstreamearly bytes"


def test_tunnel_ends_when_the_client_closes(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        assert client.request(upgrade("/ws")).status == 101
    assert eventually(lambda: origin.closed == 1)


def test_tunnel_ends_when_the_upstream_closes(gateway: Gateway) -> None:
    with gateway.connect() as client:
        assert client.request(upgrade("/ws-close")).status == 101
        assert client.closed_by_peer()
        assert client.buffer == b"bye"


def test_declined_upgrade_is_an_ordinary_answer(gateway: Gateway) -> None:
    with gateway.connect() as client:
        declined = client.request(upgrade("/decline-upgrade"))
        after = client.request(get("/echo/after"))
    assert (declined.status, declined.body) == (200, b"no upgrade here")
    assert after.json()["target"] == "/echo/after"


def test_upgrade_answered_by_the_handler_keeps_speaking_http(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(upgrade("/local") + get("/echo/after"))
        assert client.read_response().status == 401
        assert client.read_response().json()["target"] == "/echo/after"


def test_switching_protocols_nobody_asked_for_is_502(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/unasked-101"))
    assert (response.status, response.json()["error"]["code"]) == (
        502,
        "upstream_invalid_response",
    )


def test_upgrade_without_connection_upgrade_is_an_ordinary_request(
    gateway: Gateway, recorder: Recorder, origin: Origin
) -> None:
    with gateway.connect() as client:
        response = client.request(get("/ws", "Upgrade: websocket"))
    assert response.status == 426
    assert recorder.requests[0].upgrade is None
    assert "upgrade" not in dict(origin.requests[0]["headers"])


def test_switching_protocols_without_connection_upgrade_is_502(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(upgrade("/unasked-101"))
    assert (response.status, response.json()["error"]["code"]) == (
        502,
        "upstream_invalid_response",
    )
