"""HTTP/1.1 and 1.0 framing through the engine: keep-alive, pipelining, bodies both ways,
HEAD/204/304, 100-continue and the head size limit."""

import threading
import time
from collections.abc import Iterator

import pytest

from tests.gateway.http_support import (
    Gateway,
    Origin,
    gated,
    get,
    post,
    proxy,
    running_gateway,
)


@pytest.fixture
def gateway(origin: Origin) -> Iterator[Gateway]:
    with running_gateway(proxy(origin.upstream)) as gateway:
        yield gateway


def test_http11_connection_stays_open_between_requests(gateway: Gateway) -> None:
    with gateway.connect() as client:
        first = client.request(get("/echo/1"))
        second = client.request(get("/echo/2"))
    assert (first.status, second.status) == (200, 200)
    assert first.header("connection") is None
    assert second.json()["target"] == "/echo/2"


def test_http10_request_is_answered_and_closed(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/echo", version="1.0"))
        assert response.status == 200
        assert response.header("connection") == "close"
        assert client.closed_by_peer()


def test_http10_keep_alive_request_keeps_the_connection(gateway: Gateway) -> None:
    with gateway.connect() as client:
        first = client.request(get("/echo", "Connection: keep-alive", version="1.0"))
        second = client.request(get("/local", "Connection: keep-alive", version="1.0"))
    assert first.header("connection") == "keep-alive"
    assert (second.status, second.header("connection")) == (401, "keep-alive")


def test_each_request_is_taken_in_its_own_http_version(gateway: Gateway) -> None:
    """Wherever its request line falls in what arrives: first in a read, behind another
    request, or split over two reads."""
    keep_alive = "Connection: keep-alive"
    with gateway.connect() as client:
        client.send(get("/echo/1") + get("/echo/2", keep_alive, version="1.0") + get("/echo/3"))
        answers = [client.read_response() for _ in range(3)]
        split = get("/echo/4", keep_alive, version="1.0")
        client.send(split[:20])  # the request line without its CRLF
        time.sleep(0.05)
        client.send(split[20:])
        answers.append(client.read_response())
        for version in ("1.0", "1.1"):
            client.send(get("/echo/5", keep_alive, version=version))
            answers.append(client.read_response())
    versions = [dict(a.json()["headers"])["via"].removesuffix(" keyward") for a in answers]
    assert versions == ["1.1", "1.0", "1.1", "1.0", "1.0", "1.1"]
    connection = [a.header("connection") for a in answers]
    assert connection == [None, "keep-alive", None, "keep-alive", "keep-alive", None]


def test_connection_close_closes_after_the_answer(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/echo", "Connection: close"))
        assert response.status == 200
        assert response.header("connection") == "close"
        assert client.closed_by_peer()


def test_requests_after_connection_close_are_not_answered(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(get("/echo/1", "Connection: close") + get("/echo/2"))
        assert client.read_response().json()["target"] == "/echo/1"
        assert client.closed_by_peer()
        assert client.buffer == b""


def test_pipelined_requests_are_answered_in_order(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(
            get("/reply-slow")
            + post("/echo/1", b"first body")
            + get("/local")
            + get("/chunked")
            + get("/echo/2", method="HEAD")
            + get("/echo/3")
        )
        answers = [client.read_response() for _ in range(4)]
        answers += [client.read_response("HEAD"), client.read_response()]
    assert [a.status for a in answers] == [200, 200, 401, 200, 200, 200]
    assert answers[0].body == b"slow"
    assert answers[1].json()["body"] == "first body"
    assert answers[3].body == b"hello world"
    assert answers[4].body == b""
    assert answers[5].json()["target"] == "/echo/3"


def test_content_length_body_is_forwarded_with_its_length(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        response = client.request(post("/echo", b"x" * 100_000))
    echoed = response.json()
    assert (echoed["framing"], echoed["body_length"]) == ("length", 100_000)
    assert ["content-length", "100000"] in echoed["headers"]


def test_chunked_request_body_is_forwarded_chunked_without_trailers(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(
            get("/echo", "Transfer-Encoding: chunked", method="POST")
            + b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: secret\r\n\r\n"
        )
    echoed = response.json()
    assert (echoed["framing"], echoed["body"]) == ("chunked", "hello world")
    assert echoed["trailers"] == []
    names = [name for name, _ in echoed["headers"]]
    assert names.count("transfer-encoding") == 1
    assert "x-trailer" not in names


def test_chunked_response_is_relayed_chunked_without_trailers(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/chunked"))
        assert client.request(get("/echo")).status == 200
    assert response.chunked
    assert response.body == b"hello world"
    assert response.trailers == []
    assert response.header("trailer") is None


def test_response_delimited_by_close_is_rechunked_for_http11(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/until-close"))
        assert client.request(get("/echo")).status == 200
    assert response.chunked
    assert response.body == b"all of it"


def test_response_to_http10_is_delimited_by_close(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/chunked", "Connection: keep-alive", version="1.0"))
    assert not response.chunked
    assert response.header("transfer-encoding") is None
    assert response.header("connection") == "close"
    assert response.body == b"hello world"


def test_head_answer_has_no_body_and_the_connection_stays(gateway: Gateway) -> None:
    with gateway.connect() as client:
        head = client.request(get("/echo", method="HEAD"), "HEAD")
        after = client.request(get("/echo/after"))
    assert head.status == 200
    assert int(head.header("content-length") or 0) > 0
    assert after.json()["target"] == "/echo/after"


def test_head_reply_from_the_handler_has_no_body(gateway: Gateway) -> None:
    with gateway.connect() as client:
        head = client.request(get("/local", method="HEAD"), "HEAD")
        after = client.request(get("/echo/after"))
    assert (head.status, head.header("content-length")) == (401, "19")
    assert after.json()["target"] == "/echo/after"


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses_are_relayed_without_a_body(gateway: Gateway, status: int) -> None:
    with gateway.connect() as client:
        response = client.request(get(f"/status/{status}"))
        after = client.request(get("/echo/after"))
    assert response.status == status
    assert response.header("transfer-encoding") is None
    assert response.header("etag") == '"v1"'
    assert after.json()["target"] == "/echo/after"


def test_upstream_interim_responses_are_not_relayed(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/early-hints"))
    assert (response.status, response.body) == (200, b"after hints")


def test_body_is_forwarded_only_once_the_handler_decides(origin: Origin) -> None:
    decided = threading.Event()
    with running_gateway(gated(origin.upstream, decided)) as gateway, gateway.connect() as client:
        client.send(post("/echo", b"z" * 300_000))
        time.sleep(0.1)
        assert origin.connections == 0
        decided.set()
        response = client.read_response()
    assert response.json()["body_length"] == 300_000


def test_reply_to_a_request_with_a_body_never_forwards_the_body(
    gateway: Gateway, origin: Origin
) -> None:
    with gateway.connect() as client:
        refused = client.request(post("/local", b"GET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"))
        after = client.request(get("/echo/after"))
    assert refused.status == 401
    assert after.json()["target"] == "/echo/after"
    assert [r["target"] for r in origin.requests] == ["/echo/after"]


def test_reply_to_a_large_body_closes_after_answering(gateway: Gateway, origin: Origin) -> None:
    body = b"b" * 2_000_000
    with gateway.connect() as client:
        client.send(post("/local", body))
        response = client.read_response()
        assert (response.status, response.header("connection")) == (401, "close")
        assert client.closed_by_peer()
    assert origin.requests == []


def test_expect_continue_gets_100_when_forwarding(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(get("/echo", "Content-Length: 5", "Expect: 100-continue", method="PUT"))
        interim = client.read_response()
        client.send(b"hello")
        response = client.read_response()
    assert interim.status == 100
    echoed = response.json()
    assert echoed["body"] == "hello"
    assert "expect" not in [name for name, _ in echoed["headers"]]


def test_expect_continue_gets_no_100_for_a_local_reply(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(get("/local", "Content-Length: 5", "Expect: 100-continue", method="PUT"))
        response = client.read_response()
        assert response.status == 401
        assert response.header("connection") == "close"
        assert client.closed_by_peer()


def test_head_over_the_size_limit_is_431(gateway: Gateway) -> None:
    fields = [f"X-Filler-{i}: {'v' * 100}" for i in range(200)]
    with gateway.connect() as client:
        response = client.request(get("/echo", *fields))
        assert response.status == 431
        assert response.json()["error"]["code"] == "headers_too_large"
        assert client.closed_by_peer()


def test_single_field_over_the_size_limit_sent_slowly_is_431(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Long: ")
        for _ in range(24):
            time.sleep(0.005)
            client.send(b"v" * 1024)
        response = client.read_response()
        assert response.status == 431
        assert client.closed_by_peer()


def test_trailer_section_over_the_size_limit_is_431(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        client.send(get("/echo", "Transfer-Encoding: chunked", method="POST") + b"2\r\nok\r\n")
        client.send(b"0\r\nX-Trailer: ")
        for _ in range(24):
            time.sleep(0.005)
            client.send(b"t" * 1024)
        response = client.read_response()
        assert response.status == 431
        assert client.closed_by_peer()
