"""Requests that could be framed two ways are refused and the connection closed; hop-by-hop
fields never cross the gateway and a client cannot make it drop the fields it sets."""

from collections.abc import Iterator

import pytest

from tests.gateway.http_support import (
    Client,
    Gateway,
    Origin,
    Recorder,
    get,
    proxy,
    running_gateway,
)


@pytest.fixture
def gateway(origin: Origin, recorder: Recorder) -> Iterator[Gateway]:
    with running_gateway(proxy(origin.upstream, recorder)) as gateway:
        yield gateway


SMUGGLED = b"GET /echo/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


def refused(gateway: Gateway, raw: bytes, status: int = 400) -> Client:
    """Send `raw`, expect a JSON `status` refusal followed by the connection closing."""
    client = gateway.connect()
    client.send(raw)
    response = client.read_response()
    assert response.status == status
    assert response.header("content-type") == "application/json"
    assert response.header("connection") == "close"
    assert response.json()["error"]["code"] == "bad_request" or status != 400
    assert client.closed_by_peer()
    client.close()
    return client


def forwarded_headers(origin: Origin) -> list[str]:
    return [name for name, _ in origin.requests[-1]["headers"]]


@pytest.mark.parametrize(
    "fields",
    [
        ("Content-Length: 5", "Transfer-Encoding: chunked"),
        ("Transfer-Encoding: chunked", "Content-Length: 5"),
    ],
)
def test_content_length_and_transfer_encoding_together_is_400(
    gateway: Gateway, origin: Origin, fields: tuple[str, str]
) -> None:
    refused(gateway, get("/echo", *fields, method="POST") + b"0\r\n\r\n" + SMUGGLED)
    assert origin.requests == []


@pytest.mark.parametrize("second", ["5", "6"])
def test_repeated_content_length_is_400(gateway: Gateway, origin: Origin, second: str) -> None:
    raw = get("/echo", "Content-Length: 5", f"Content-Length: {second}", method="POST")
    refused(gateway, raw + b"hello" + SMUGGLED)
    assert origin.requests == []


@pytest.mark.parametrize("value", ["abc", "+5", "-5", "5, 5", "0x5", "1 2", "", "5a"])
def test_invalid_content_length_is_400(gateway: Gateway, origin: Origin, value: str) -> None:
    refused(gateway, get("/echo", f"Content-Length: {value}", method="POST") + b"hello")
    assert origin.requests == []


@pytest.mark.parametrize("value", ["gzip", "gzip, chunked", "chunked, chunked", "identity", "x"])
def test_transfer_encoding_other_than_chunked_is_400(
    gateway: Gateway, origin: Origin, value: str
) -> None:
    raw = get("/echo", f"Transfer-Encoding: {value}", method="POST")
    refused(gateway, raw + b"5\r\nhello\r\n0\r\n\r\n")
    assert origin.requests == []


def test_repeated_transfer_encoding_is_400(gateway: Gateway) -> None:
    raw = get("/echo", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked", method="POST")
    refused(gateway, raw + b"0\r\n\r\n")


def test_transfer_encoding_in_http10_is_400(gateway: Gateway) -> None:
    raw = get("/echo", "Transfer-Encoding: chunked", method="POST", version="1.0")
    refused(gateway, raw + b"0\r\n\r\n")


def test_chunked_in_any_case_is_accepted(gateway: Gateway) -> None:
    with gateway.connect() as client:
        raw = get("/echo", "Transfer-Encoding: Chunked", method="POST") + b"2\r\nok\r\n0\r\n\r\n"
        assert client.request(raw).json()["body"] == "ok"


@pytest.mark.parametrize("fold", [b" ", b"\t"])
def test_obs_fold_is_400(gateway: Gateway, origin: Origin, fold: bytes) -> None:
    refused(gateway, b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n" + fold + b"c\r\n\r\n")
    assert origin.requests == []


def test_folded_first_field_is_400(gateway: Gateway) -> None:
    refused(gateway, b"GET /echo HTTP/1.1\r\n Host: a\r\n\r\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /echo HTTP/1.1\nHost: a\n\n",
        b"GET /echo HTTP/1.1\r\nHost: a\nX-B: c\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\n\n",
    ],
    ids=["request-line", "field", "end-of-head"],
)
def test_bare_lf_line_ending_is_400(gateway: Gateway, raw: bytes) -> None:
    refused(gateway, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /echo HTTP/1.1\r\nHost: a\rX-B: c\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\nX-B: c\rd\r\n\r\n",
    ],
    ids=["between-fields", "inside-value"],
)
def test_bare_cr_is_400(gateway: Gateway, raw: bytes) -> None:
    refused(gateway, raw)


def test_bare_lf_in_chunked_body_is_400(gateway: Gateway) -> None:
    refused(gateway, get("/echo", "Transfer-Encoding: chunked", method="POST") + b"5\nhello\n")


def test_malformed_chunk_size_is_400(gateway: Gateway) -> None:
    refused(gateway, get("/echo", "Transfer-Encoding: chunked", method="POST") + b"5 \r\nhello")


@pytest.mark.parametrize(
    "target",
    [b"http://gateway.test/echo", b"*", b"/echo#fragment", b"echo"],
    ids=["absolute-form", "asterisk-form", "fragment", "no-slash"],
)
def test_target_that_is_not_a_path_is_400(gateway: Gateway, target: bytes) -> None:
    refused(gateway, b"OPTIONS " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")


def test_connect_is_400(gateway: Gateway, origin: Origin) -> None:
    refused(gateway, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert origin.requests == []


def test_http11_request_without_host_is_400(gateway: Gateway) -> None:
    refused(gateway, b"GET /echo HTTP/1.1\r\n\r\n")


def test_request_with_two_hosts_is_400(gateway: Gateway) -> None:
    refused(gateway, b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")


def test_http10_request_without_host_is_forwarded(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        assert client.request(b"GET /echo HTTP/1.0\r\n\r\n").status == 200
    assert "x-forwarded-host" not in forwarded_headers(origin)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9"])
def test_http_version_other_than_1_0_and_1_1_is_505(gateway: Gateway, version: bytes) -> None:
    client = gateway.connect()
    client.send(b"GET /echo " + version + b"\r\nHost: a\r\n\r\n")
    response = client.read_response()
    assert (response.status, response.json()["error"]["code"]) == (
        505,
        "http_version_not_supported",
    )
    assert client.closed_by_peer()


def test_malformed_request_after_a_good_one_is_answered_in_turn(gateway: Gateway) -> None:
    with gateway.connect() as client:
        client.send(get("/echo/first") + b"GET /echo HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n")
        assert client.read_response().json()["target"] == "/echo/first"
        assert client.read_response().status == 400
        assert client.closed_by_peer()


HOP_BY_HOP = [
    "Keep-Alive: timeout=5",
    "Proxy-Connection: keep-alive",
    "TE: trailers",
    "Trailer: X-Checksum",
    "Upgrade: h2c",
    "Proxy-Authorization: Basic c2VjcmV0",
    "Proxy-Authenticate: Basic",
]


def test_hop_by_hop_request_headers_are_removed(
    gateway: Gateway, origin: Origin, recorder: Recorder
) -> None:
    with gateway.connect() as client:
        client.request(get("/echo", "Connection: keep-alive", *HOP_BY_HOP, "X-End: kept"))
    dropped = {field.split(":")[0].lower() for field in HOP_BY_HOP} | {"connection"}
    seen = {name.decode() for name, _ in recorder.requests[0].headers}
    assert not seen & dropped
    assert "x-end" in seen
    sent = set(forwarded_headers(origin))
    assert not sent & dropped
    assert "x-end" in sent


def test_headers_named_in_connection_are_removed_before_the_handler(
    gateway: Gateway, origin: Origin, recorder: Recorder
) -> None:
    with gateway.connect() as client:
        client.request(get("/echo", "Connection: X-Private, close", "X-Private: 1", "X-Open: 2"))
    assert (b"x-private", b"1") not in recorder.requests[0].headers
    assert (b"x-open", b"2") in recorder.requests[0].headers
    assert "x-private" not in forwarded_headers(origin)


def test_connection_cannot_remove_the_fields_the_gateway_sets(
    gateway: Gateway, origin: Origin
) -> None:
    nominated = (
        "X-Keyward-Key-Id, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, "
        "Forwarded, Via, Host, Content-Length"
    )
    with gateway.connect() as client:
        response = client.request(
            get("/echo", f"Connection: {nominated}", "Content-Length: 2", method="POST") + b"ok"
        )
    echoed = response.json()
    sent = {name for name, _ in echoed["headers"]}
    for field in (
        "x-keyward-key-id",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "forwarded",
        "via",
        "host",
        "content-length",
    ):
        assert field in sent
    assert echoed["body"] == "ok"
    assert response.header("via") == "1.1 keyward"
    assert response.header("ratelimit-remaining") == "9"


def test_client_sent_identity_header_reaches_the_handler_as_sent(
    gateway: Gateway, recorder: Recorder
) -> None:
    with gateway.connect() as client:
        client.request(get("/echo", "X-Keyward-Key-Id: forged"))
    assert (b"x-keyward-key-id", b"forged") in recorder.requests[0].headers


def test_hop_by_hop_response_headers_are_removed(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/hop"))
    names = {name for name, _ in response.headers}
    for field in (
        "x-upstream-secret",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "trailer",
        "upgrade",
    ):
        assert field not in names
    assert response.header("x-kept") == "yes"
    assert response.header("connection") is None
    assert response.header("via") == "1.1 origin, 1.1 keyward"
    assert response.body == b"hop"


def test_hop_by_hop_response_headers_are_removed_whatever_their_case(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/hop-upper"))
        after = client.request(get("/echo/after"))
    names = {name.lower() for name, _ in response.headers}
    assert not names & {"connection", "x-secret", "keep-alive"}
    assert (response.header("x-kept"), response.body) == ("yes", b"hop")
    assert response.header("via") == "1.1 origin, 1.1 keyward"
    assert after.json()["target"] == "/echo/after"


def test_upgrade_request_with_a_body_is_forwarded_as_a_plain_request(
    gateway: Gateway, origin: Origin, recorder: Recorder
) -> None:
    raw = (
        get(
            "/echo/upgrade",
            "Connection: Upgrade",
            "Upgrade: h2c",
            f"Content-Length: {len(SMUGGLED)}",
            method="POST",
        )
        + SMUGGLED
    )
    with gateway.connect() as client:
        client.send(raw + get("/echo/after"))
        first = client.read_response()
        after = client.read_response()
    assert recorder.requests[0].upgrade is None
    assert first.json()["body"] == SMUGGLED.decode()
    assert "upgrade" not in [name for name, _ in first.json()["headers"]]
    assert after.json()["target"] == "/echo/after"
    assert [r["target"] for r in origin.requests] == ["/echo/upgrade", "/echo/after"]


def test_chunked_upgrade_request_with_a_body_is_forwarded_as_a_plain_request(
    gateway: Gateway,
) -> None:
    raw = get(
        "/echo", "Connection: Upgrade", "Upgrade: h2c", "Transfer-Encoding: chunked", method="POST"
    )
    with gateway.connect() as client:
        client.send(raw + b"3\r\nabc\r\n")
        client.send(b"0\r\n\r\n" + get("/echo/after"))
        assert client.read_response().json()["body"] == "abc"
        assert client.read_response().json()["target"] == "/echo/after"
