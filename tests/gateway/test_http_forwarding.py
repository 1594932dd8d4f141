"""What the engine hands the handler, what it adds when forwarding, the access log and the
handler's failures."""

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from keyward.gateway.http import Decision, Forward, Handler, Reply, Request, Upstream
from tests.gateway.http_support import (
    Gateway,
    Origin,
    Recorder,
    eventually,
    get,
    post,
    proxy,
    running_gateway,
)


@pytest.fixture
def gateway(origin: Origin, recorder: Recorder) -> Iterator[Gateway]:
    with running_gateway(proxy(origin.upstream, recorder)) as gateway:
        yield gateway


def sent_upstream(gateway: Gateway, *fields: str, path: str = "/echo") -> dict[str, list[str]]:
    with gateway.connect() as client:
        echoed = client.request(get(path, *fields)).json()
    found: dict[str, list[str]] = {}
    for name, value in echoed["headers"]:
        found.setdefault(name, []).append(value)
    return found


def test_handler_gets_the_parsed_request_head(gateway: Gateway, recorder: Recorder) -> None:
    with gateway.connect() as client:
        client.request(get("/echo/a%20b?limit=2&api_key=k", "X-Mixed-Case:   spaced value  "))
    request = recorder.requests[0]
    assert request.method == "GET"
    assert request.target == b"/echo/a%20b?limit=2&api_key=k"
    assert (request.path, request.query) == (b"/echo/a%20b", b"limit=2&api_key=k")
    assert request.version == "1.1"
    assert request.headers == [(b"host", b"gateway.test"), (b"x-mixed-case", b"spaced value")]
    assert request.client[0] == "127.0.0.1"
    assert request.upgrade is None


def test_host_names_the_upstream(gateway: Gateway, origin: Origin) -> None:
    assert sent_upstream(gateway)["host"] == [f"127.0.0.1:{origin.port}"]


def test_x_forwarded_for_appends_the_client_address(gateway: Gateway) -> None:
    sent = sent_upstream(gateway, "X-Forwarded-For: 203.0.113.7, 198.51.100.1")
    assert sent["x-forwarded-for"] == ["203.0.113.7, 198.51.100.1, 127.0.0.1"]


def test_x_forwarded_proto_and_host_are_set_by_the_gateway(gateway: Gateway) -> None:
    sent = sent_upstream(gateway, "X-Forwarded-Proto: https", "X-Forwarded-Host: forged.test")
    assert sent["x-forwarded-proto"] == ["http"]
    assert sent["x-forwarded-host"] == ["gateway.test"]


def test_forwarded_names_client_host_and_proto(gateway: Gateway) -> None:
    sent = sent_upstream(gateway, "Forwarded: for=203.0.113.7")
    assert sent["forwarded"] == ["for=203.0.113.7, for=127.0.0.1;host=gateway.test;proto=http"]


def test_forwarded_quotes_a_host_with_a_port(gateway: Gateway) -> None:
    with gateway.connect() as client:
        echoed = client.request(b"GET /echo HTTP/1.1\r\nHost: gateway.test:8080\r\n\r\n")
    forwarded = dict(echoed.json()["headers"])["forwarded"]
    assert forwarded == 'for=127.0.0.1;host="gateway.test:8080";proto=http'


def test_forwarded_quotes_an_ipv6_client(origin: Origin) -> None:
    with running_gateway(proxy(origin.upstream), host="::1") as gateway:
        sent = sent_upstream(gateway)
    assert sent["forwarded"] == ['for="[::1]";host=gateway.test;proto=http']
    assert sent["x-forwarded-for"] == ["::1"]


def test_via_is_appended_on_the_request_and_the_response(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/echo", "Via: 1.0 edge"))
    assert dict(response.json()["headers"])["via"] == "1.0 edge, 1.1 keyward"
    assert response.header("via") == "1.1 keyward"


def test_via_names_the_pseudonym_given(origin: Origin) -> None:
    with running_gateway(proxy(origin.upstream), via="gw-7") as gateway:
        assert sent_upstream(gateway)["via"] == ["1.1 gw-7"]


def rewriting(upstream: Upstream) -> Handler:
    async def handle(request: Request) -> Decision:
        headers = [(n, v) for n, v in request.headers if n != b"x-api-key"]
        headers += [
            (b"content-length", b"999"),
            (b"transfer-encoding", b"gzip"),
            (b"connection", b"keep-alive"),
            (b"x-keyward-acquisition", b"acq_1"),
        ]
        return Forward(upstream, b"/echo/rewritten?x=1", headers)

    return handle


def test_forward_sends_the_handlers_target_and_headers_with_the_engines_framing(
    origin: Origin,
) -> None:
    with running_gateway(rewriting(origin.upstream)) as gateway, gateway.connect() as client:
        echoed = client.request(post("/api/v1/things", b"12345", "X-Api-Key: kw_secret")).json()
    sent = dict(echoed["headers"])
    assert echoed["target"] == "/echo/rewritten?x=1"
    assert "x-api-key" not in sent
    assert sent["x-keyward-acquisition"] == "acq_1"
    assert sent["content-length"] == "5"
    assert "transfer-encoding" not in sent
    assert "connection" not in sent
    assert echoed["body"] == "12345"


def test_decision_response_headers_are_added(gateway: Gateway) -> None:
    with gateway.connect() as client:
        assert client.request(get("/echo")).header("ratelimit-remaining") == "9"


def access_lines(caplog: pytest.LogCaptureFixture, count: int = 1) -> list[dict[str, Any]]:
    def lines() -> list[dict[str, Any]]:
        return [
            json.loads(record.getMessage())
            for record in caplog.records
            if record.name == "keyward.gateway.access"
        ]

    found = eventually(lambda: len(lines()) >= count and lines())
    assert found
    return found


def test_access_log_has_a_line_per_request(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="keyward.gateway.access")
    with gateway.connect() as client:
        response = client.request(get("/echo?api_key=kw_secret"))
        client.request(get("/local"))
    forwarded, local = access_lines(caplog, 2)
    assert forwarded["method"] == "GET"
    assert forwarded["target"] == "/echo"
    assert forwarded["status"] == 200
    assert forwarded["bytes"] > len(response.body)
    assert isinstance(forwarded["duration_ms"], float)
    assert str(forwarded["client"]).startswith("127.0.0.1:")
    assert forwarded["pid"] == os.getpid(), "the gateway runs in this process here"
    assert forwarded["key_id"] == "key_test"
    assert (local["status"], local["key_id"]) == (401, "-")
    assert "kw_secret" not in caplog.text


def test_access_log_uses_the_decisions_target(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="keyward.gateway.access")
    with gateway.connect() as client:
        client.request(get("/redacted?api_key=kw_secret"))
    assert access_lines(caplog)[0]["target"] == "/redacted?api_key=REDACTED"


def test_access_log_records_refusals(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="keyward.gateway.access")
    with gateway.connect() as client:
        client.request(b"GET /echo HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n")
    assert access_lines(caplog)[0]["status"] == 400


def test_handler_exception_is_500_and_the_connection_stays_usable(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with gateway.connect() as client:
        failed = client.request(get("/raise"))
        after = client.request(get("/echo/after"))
    assert failed.status == 500
    assert failed.header("content-type") == "application/json"
    assert failed.json()["error"]["code"] == "internal_error"
    assert after.json()["target"] == "/echo/after"
    errors = [r for r in caplog.records if r.name == "keyward.gateway" and r.exc_info]
    assert errors
    assert "the handler broke" in caplog.text


def test_handler_exception_after_waiting_is_500(gateway: Gateway) -> None:
    with gateway.connect() as client:
        failed = client.request(get("/raise-later"))
        after = client.request(get("/echo/after"))
    assert (failed.status, failed.json()["error"]["code"]) == (500, "internal_error")
    assert after.json()["target"] == "/echo/after"


def test_handler_exception_with_a_body_pending_is_500(gateway: Gateway) -> None:
    with gateway.connect() as client:
        assert client.request(post("/raise", b"payload")).status == 500
        assert client.request(get("/echo/after")).status == 200


async def _injecting(request: Request) -> Decision:
    return Reply(200, [(b"x-note", b"ok\r\nSet-Cookie: session=stolen")], b"")


def test_reply_header_with_crlf_is_500() -> None:
    with running_gateway(_injecting) as gateway, gateway.connect() as client:
        response = client.request(get("/anything"))
    assert response.status == 500
    assert response.header("set-cookie") is None


def test_local_reply_gets_content_length_and_date(gateway: Gateway) -> None:
    with gateway.connect() as client:
        response = client.request(get("/local"))
    assert response.header("content-length") == str(len(response.body))
    assert response.header("date") is not None
    assert response.header("www-authenticate") == "ApiKey"
