"""A request head checked without a socket: what reaches the handler, and what is refused.

The same rules are tested over real connections in test_http_framing.py and
test_http_smuggling.py; here each is one call, so every combination is cheap to state.
"""

import pytest

from keyward.gateway.http._head import CHUNKED, LENGTH, NO_BODY, Checked, Head, Refused

CLIENT = ("192.0.2.1", 5555)


def head(
    target: bytes = b"/shop/items?limit=2",
    *fields: tuple[bytes, bytes],
    method: bytes = b"GET",
    version: str = "1.1",
    upgrading: bool = False,
    max_size: int = 8192,
) -> Checked:
    parsed = Head(max_size)
    parsed.begin()
    parsed.add_url(target)
    for name, value in fields:
        parsed.add_field(name, value)
    return parsed.checked(method, version, CLIENT, upgrading)


def refused(
    target: bytes, *fields: tuple[bytes, bytes], version: str = "1.1", method: bytes = b"GET"
) -> tuple[int, str]:
    with pytest.raises(Refused) as refusal:
        head(target, *fields, version=version, method=method)
    reply = refusal.value.reply
    return reply.status, reply.body.decode()


HOST = (b"Host", b"gateway.test")
CL1, CL3 = (b"Content-Length", b"1"), (b"Content-Length", b"3")
TE = (b"Transfer-Encoding", b"chunked")


def test_a_request_reaches_the_handler_with_its_path_query_and_end_to_end_fields() -> None:
    checked = head(
        b"/shop/items?limit=2",
        HOST,
        (b"X-Shop-Key", b"kw_secret  "),
        (b"Connection", b"keep-alive, X-Hop"),
        (b"X-Hop", b"dropped"),
        (b"Keep-Alive", b"timeout=5"),
        (b"TE", b"trailers"),
    )
    request = checked.request
    assert (request.method, request.path, request.query) == ("GET", b"/shop/items", b"limit=2")
    assert request.headers == [(b"host", b"gateway.test"), (b"x-shop-key", b"kw_secret")]
    assert (checked.body, checked.length, checked.host) == (NO_BODY, None, b"gateway.test")
    assert request.client == CLIENT
    assert not request.has_body


def test_bodies_are_told_by_their_length_or_chunking() -> None:
    sized = head(b"/a", HOST, (b"Content-Length", b"12"), method=b"POST")
    assert (sized.body, sized.length, sized.request.has_body) == (LENGTH, 12, True)
    empty = head(b"/a", HOST, (b"Content-Length", b"0"), method=b"POST")
    assert (empty.body, empty.request.has_body) == (NO_BODY, False)
    chunked = head(b"/a", HOST, (b"Transfer-Encoding", b"Chunked"), method=b"POST")
    assert (chunked.body, chunked.request.has_body) == (CHUNKED, True)
    assert (b"transfer-encoding", b"Chunked") not in chunked.request.headers


@pytest.mark.parametrize(
    ("fields", "version", "status", "said"),
    [
        ((), "1.1", 400, "exactly one Host"),
        ((HOST, HOST), "1.1", 400, "exactly one Host"),
        ((HOST, CL1, CL1), "1.1", 400, "more than one Content-Length"),
        ((HOST, TE, TE), "1.1", 400, "more than one Transfer-Encoding"),
        ((HOST, TE, CL3), "1.1", 400, "both Content-Length and Transfer-Encoding"),
        ((HOST, (b"Transfer-Encoding", b"gzip")), "1.1", 400, "only Transfer-Encoding"),
        ((HOST, TE), "1.0", 400, "HTTP/1.0 request cannot use"),
        ((HOST,), "2.0", 505, "HTTP/1.1 and 1.0"),
    ],
)  # fmt: skip
def test_a_head_that_could_be_read_two_ways_is_refused(
    fields: tuple[tuple[bytes, bytes], ...], version: str, status: int, said: str
) -> None:
    answered, body = refused(b"/a", *fields, version=version, method=b"POST")
    assert answered == status
    assert said in body


@pytest.mark.parametrize("target", [b"*", b"http://other.test/a", b"/a#fragment", b""])
def test_a_target_that_is_not_a_path_is_refused(target: bytes) -> None:
    status, body = refused(target, HOST)
    assert status == 400
    assert "must be a path" in body


def test_an_http_1_0_request_needs_no_host() -> None:
    assert head(b"/a", version="1.0").request.version == "1.0"


def test_a_head_over_the_limit_is_refused_as_soon_as_it_is() -> None:
    parsed = Head(64)
    parsed.begin()
    parsed.add_url(b"/" + b"a" * 40)
    with pytest.raises(Refused) as refusal:
        parsed.add_field(b"X-Long", b"b" * 30)
    assert refusal.value.reply.status == 431
    with pytest.raises(Refused):
        Head(16).add_url(b"/" + b"a" * 16)


def test_an_upgrade_reaches_the_handler_only_when_no_body_comes_first() -> None:
    upgrade = (b"Upgrade", b"websocket")
    plain = head(b"/ws", HOST, upgrade, (b"Connection", b"Upgrade"), upgrading=True)
    assert plain.request.upgrade == b"websocket"
    assert not plain.upgrade_set_aside
    assert (b"upgrade", b"websocket") not in plain.request.headers
    with_body = head(
        b"/ws", HOST, upgrade, (b"Content-Length", b"5"), method=b"POST", upgrading=True
    )
    assert with_body.request.upgrade is None
    assert with_body.upgrade_set_aside
    assert head(b"/ws", HOST, upgrade).request.upgrade is None  # the parser saw none


def test_expect_continue_is_honoured_only_in_http_1_1() -> None:
    expect = (b"Expect", b"100-Continue")
    assert head(b"/a", HOST, expect, (b"Content-Length", b"3")).expect_continue
    assert not head(b"/a", expect, (b"Content-Length", b"3"), version="1.0").expect_continue


def test_a_new_head_forgets_the_last_one() -> None:
    parsed = Head(8192)
    parsed.begin()
    parsed.add_url(b"/first")
    parsed.add_field(b"Host", b"one.test")
    parsed.add_field(b"Content-Length", b"4")
    parsed.checked(b"POST", "1.1", CLIENT, False)
    parsed.begin()
    parsed.add_url(b"/second")
    parsed.add_field(b"Host", b"two.test")
    parsed.add_field(b"Content-Length", b"0")  # a second one would be refused if kept
    second = parsed.checked(b"GET", "1.1", CLIENT, False)
    assert (second.request.path, second.host, second.body) == (b"/second", b"two.test", NO_BODY)
