"""Talking to upstreams: failures answered 502/504, broken responses, client disconnects, the
keep-alive pool and https."""

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyward.gateway.http import Limits, Upstream
from tests.gateway.http_support import (
    FAST,
    Gateway,
    Origin,
    Recorder,
    eventually,
    get,
    post,
    proxy,
    running_gateway,
    running_upstream,
    tls_contexts,
)


@pytest.fixture
def gateway(origin: Origin, recorder: Recorder) -> Iterator[Gateway]:
    limits = Limits(upstream_timeout=0.3, upstream_connect_timeout=0.3, keepalive_timeout=2.0)
    with running_gateway(proxy(origin.upstream, recorder), limits) as gateway:
        yield gateway


def error_of(gateway: Gateway, path: str) -> tuple[int, str]:
    with gateway.connect() as client:
        response = client.request(get(path))
    assert response.header("content-type") == "application/json"
    return response.status, response.json()["error"]["code"]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_refused_upstream_is_502_upstream_unreachable() -> None:
    with running_gateway(proxy(Upstream("http", "127.0.0.1", unused_port()))) as gateway:
        assert error_of(gateway, "/echo") == (502, "upstream_unreachable")


def test_unknown_upstream_host_is_502_upstream_unreachable() -> None:
    nowhere = Upstream("http", "upstream.keyward-test.invalid", 80)
    with running_gateway(proxy(nowhere)) as gateway:
        assert error_of(gateway, "/echo") == (502, "upstream_unreachable")


def test_upstream_not_accepting_in_time_is_504_upstream_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        # The accept queue holds one connection; with it full, further SYNs go unanswered.
        with socket.create_connection(("127.0.0.1", port)):
            limits = Limits(upstream_connect_timeout=0.2)
            upstream = Upstream("http", "127.0.0.1", port)
            with running_gateway(proxy(upstream), limits) as gateway:
                assert error_of(gateway, "/echo") == (504, "upstream_timeout")


def test_upstream_answering_late_is_504_upstream_timeout(gateway: Gateway) -> None:
    assert error_of(gateway, "/delay/2") == (504, "upstream_timeout")


def test_upstream_stalling_mid_body_closes_the_client_connection(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(get("/stall"))
        with pytest.raises(ConnectionError, match="short"):
            client.read_response()


def test_upstream_closing_mid_response_closes_the_client_connection(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(get("/truncate"))
        with pytest.raises(ConnectionError, match="90 bytes short"):
            client.read_response()


def test_upstream_closing_mid_chunked_response_ends_without_last_chunk(
    origin: Origin, gateway: Gateway
) -> None:
    with gateway.connect() as client:
        client.send(get("/until-close", version="1.1"))
        assert client.read_response().body == b"all of it"


def test_upstream_closing_without_answering_is_502(gateway: Gateway) -> None:
    assert error_of(gateway, "/close") == (502, "upstream_closed")


def test_malformed_upstream_response_is_502(gateway: Gateway) -> None:
    assert error_of(gateway, "/garbage") == (502, "upstream_invalid_response")


def test_response_head_arriving_in_pieces_is_relayed_whole(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/in-pieces"))
        after = client.request(get("/echo/after"))
    assert (response.status, response.body) == (200, b"pieces")
    assert response.header("x-piece") == "yes"
    assert response.header("link") is None  # the interim response's field stays behind
    assert after.json()["target"] == "/echo/after"


def test_blank_line_before_a_response_is_skipped(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/leading-crlf"))
    assert (response.status, response.body) == (200, b"after a blank line")
    names = {name for name, _ in response.headers}
    assert names == {"x-kept", "content-length", "via", "ratelimit-remaining"}


def test_response_head_over_the_limit_is_502(origin: Origin, recorder: Recorder) -> None:
    limits = Limits(max_upstream_header_bytes=8192)
    with running_gateway(proxy(origin.upstream, recorder), limits) as gateway:
        with gateway.connect() as client:
            within = client.request(get("/fields/7/1000"))  # 7 fields of about 1 kB
        assert (within.status, within.header("x-f6")) == (200, "v" * 1000)
        assert error_of(gateway, "/fields/9/1000") == (502, "upstream_invalid_response")
        # A head that never ends is cut off at the limit, not read on and on.
        assert error_of(gateway, "/endless-head") == (502, "upstream_invalid_response")


def test_upstream_transfer_coding_other_than_chunked_is_502(gateway: Gateway) -> None:
    assert error_of(gateway, "/gzip-coded") == (502, "upstream_invalid_response")


def test_client_disconnect_closes_the_upstream_connection(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        client.send(get("/delay/1"))
        eventually(lambda: origin.requests)
    assert origin.dropped.wait(0.5)
    with gateway.connect() as client:
        echoed = client.request(get("/echo")).json()
    assert echoed["connection"] == 2


def test_client_disconnect_cancels_the_handler(gateway: Gateway, recorder: Recorder) -> None:
    with gateway.connect() as client:
        client.send(get("/wait"))
        eventually(lambda: recorder.requests)
    assert recorder.cancelled.wait(1)


def test_upstream_connections_are_reused(gateway: Gateway, origin: Origin) -> None:
    seen = set()
    for _ in range(3):
        with gateway.connect() as client:
            seen.add(client.request(get("/echo")).json()["connection"])
            seen.add(client.request(post("/echo", b"body")).json()["connection"])
    assert seen == {1}
    assert origin.connections == 1


def test_idle_upstream_connections_beyond_the_limit_are_closed(origin: Origin) -> None:
    limits = Limits(max_idle_per_upstream=1)
    with running_gateway(proxy(origin.upstream), limits) as gateway:
        clients = [gateway.connect() for _ in range(3)]
        for client in clients:
            client.send(get("/delay/0.2"))
        for client in clients:
            assert client.read_response().status == 200
            client.close()
        assert eventually(lambda: origin.closed == 2)
        assert origin.connections == 3


def test_upstream_asking_to_close_is_not_pooled(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        assert client.request(get("/connection-close")).status == 200
        assert client.request(get("/echo")).json()["connection"] == 2


def test_pooled_connection_the_upstream_dropped_is_retried_for_an_idempotent_request(
    gateway: Gateway, origin: Origin
) -> None:
    with gateway.connect() as client:
        assert client.request(get("/once")).status == 200
        echoed = client.request(get("/echo")).json()
    assert echoed["connection"] == 2
    assert [r["target"] for r in origin.requests] == ["/once", "/echo"]


def test_pooled_connection_the_upstream_dropped_is_not_retried_with_a_body(
    gateway: Gateway, origin: Origin
) -> None:
    with gateway.connect() as client:
        assert client.request(get("/once")).status == 200
        response = client.request(post("/echo", b"once only"))
    assert (response.status, response.json()["error"]["code"]) == (502, "upstream_closed")


def test_pooled_connection_closed_while_idle_is_not_used(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        assert client.request(get("/close-after")).body == b"closing quietly"
        assert eventually(lambda: origin.closed == 1)
        # The upstream's close has reached the gateway's socket; one turn of the gateway's loop
        # reads it, as it would long before the next request on a real pool.
        gateway.thread.call(asyncio.sleep(0.01))
        echoed = client.request(post("/echo", b"not retried, not needed")).json()
    assert echoed["connection"] == 2


def test_https_upstream_is_verified_and_named(tmp_path: Path) -> None:
    server_tls, client_tls = tls_contexts(tmp_path)
    with running_upstream(tls=server_tls) as origin:
        upstream = Upstream("https", "localhost", origin.port)
        with (
            running_gateway(proxy(upstream), FAST, upstream_tls=client_tls) as gateway,
            gateway.connect() as client,
        ):
            echoed = client.request(get("/echo")).json()
    assert origin.server_names == ["localhost"]
    assert dict(echoed["headers"])["host"] == f"localhost:{origin.port}"


def test_https_upstream_with_an_untrusted_certificate_is_502(tmp_path: Path) -> None:
    server_tls, _ = tls_contexts(tmp_path)
    with (
        running_upstream(tls=server_tls) as origin,
        running_gateway(proxy(Upstream("https", "localhost", origin.port))) as gateway,
    ):
        assert error_of(gateway, "/echo") == (502, "upstream_unreachable")


def test_server_close_ends_open_connections(origin: Origin) -> None:
    with running_gateway(proxy(origin.upstream)) as gateway:
        client = gateway.connect()
        client.request(get("/echo"))
    assert client.closed_by_peer()
    client.close()
    assert eventually(lambda: origin.closed == 1)
