"""Deadlines on client connections: a head must arrive in time, idle connections close, and
the upstream's silence (not its total time) is what times out."""

import select
import time
from collections.abc import Iterator

import pytest

from keyward.gateway.http import Limits
from tests.gateway.http_support import (
    Gateway,
    Origin,
    get,
    proxy,
    running_gateway,
)

SHORT = Limits(header_timeout=0.3, keepalive_timeout=0.3, upstream_timeout=0.3)


@pytest.fixture
def gateway(origin: Origin) -> Iterator[Gateway]:
    with running_gateway(proxy(origin.upstream), SHORT) as gateway:
        yield gateway


def test_incomplete_head_is_408_and_closed(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(b"GET /echo HTTP/1.1\r\nHost: a\r\n")
        response = client.read_response()
        assert (response.status, response.json()["error"]["code"]) == (408, "request_timeout")
        assert response.header("connection") == "close"
        assert client.closed_by_peer()


def test_head_trickled_byte_by_byte_is_408(gateway: Gateway) -> None:
    started = time.monotonic()
    with gateway.connect() as client:
        for byte in b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 40:
            client.send(bytes([byte]))
            if select.select([client.sock], [], [], 0.02)[0]:
                break  # answered
        response = client.read_response()
    assert response.status == 408
    assert time.monotonic() - started < 1


def test_silent_new_connection_is_closed_without_an_answer(gateway: Gateway) -> None:
    with gateway.connect() as client:
        assert client.closed_by_peer()
        assert client.buffer == b""


def test_idle_keep_alive_connection_is_closed(gateway: Gateway) -> None:
    with gateway.connect() as client:
        assert client.request(get("/echo")).status == 200
        started = time.monotonic()
        assert client.closed_by_peer()
        assert client.buffer == b""
    assert 0.2 < time.monotonic() - started < 1.5


def test_keep_alive_connection_used_in_time_stays_open(gateway: Gateway) -> None:
    with gateway.connect() as client:
        for _ in range(5):
            assert client.request(get("/echo")).status == 200
            time.sleep(0.15)
        assert client.request(get("/echo")).status == 200


def test_upstream_timeout_counts_silence_not_the_whole_answer(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/drip/6/0.1"))
    assert (response.status, response.body) == (200, b"......")
