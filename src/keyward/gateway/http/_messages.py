"""The vocabulary between the engine and its handler: a request head in, a decision out.

The classes made for every request spell out their `__init__`: compiled, a dataclass's
generated one runs as interpreted code, which costs more than the rest of making the object.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# The log fields of a decision that has none: shared, so it must not be changed.
_NO_FIELDS: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(slots=True, init=False)
class Request:
    """The head of one client request, parsed and checked.

    `headers` keep the order received, with lower-cased names and stripped values. The hop-by-hop
    fields (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
    Proxy-Authorization, Proxy-Authenticate), Expect (the engine answers it) and every field the
    client named in Connection are already gone. Host and Content-Length stay.
    """

    method: str
    target: bytes
    path: bytes
    query: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    client: tuple[str, int]
    upgrade: bytes | None
    has_body: bool
    """Whether a body follows the head (Content-Length above 0, or chunked)."""

    def __init__(
        self,
        method: str,
        target: bytes,
        path: bytes,
        query: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
        client: tuple[str, int],
        upgrade: bytes | None,
        has_body: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.client = client
        self.upgrade = upgrade
        self.has_body = has_body


@dataclass(slots=True, init=False)
class Reply:
    """An answer the gateway gives itself; the engine adds content-length, connection and date.

    Not to be changed once made.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    log: Mapping[str, str]

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
        log: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.headers = [] if headers is None else headers
        self.body = body
        self.log = _NO_FIELDS if log is None else log


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where forwarded requests go; each one has its own pool of keep-alive connections."""

    scheme: str
    host: str
    port: int


@dataclass(slots=True, init=False)
class Forward:
    """Send the request upstream.

    `headers` are the end-to-end fields as the handler wants them sent. The engine sets Host,
    X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded, Via and the framing fields,
    extending any X-Forwarded-For, Forwarded and Via already among `headers`; it drops hop-by-hop
    fields from them. `response_headers` are added to the upstream's answer. Not to be changed
    once made.
    """

    upstream: Upstream
    target: bytes
    headers: list[tuple[bytes, bytes]]
    log: Mapping[str, str]
    response_headers: list[tuple[bytes, bytes]]
    guard: Callable[[], Awaitable[bool]] | None

    def __init__(
        self,
        upstream: Upstream,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        log: Mapping[str, str] | None = None,
        response_headers: list[tuple[bytes, bytes]] | None = None,
        guard: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.upstream = upstream
        self.target = target
        self.headers = headers
        self.log = _NO_FIELDS if log is None else log
        self.response_headers = [] if response_headers is None else response_headers
        self.guard = guard


Decision = Reply | Forward
Handler = Callable[[Request], Awaitable[Decision]]
# A handler may also have a method `immediately(request)`: the engine calls it first, and awaits
# the handler only when it answers None (the decision has to wait for something).
Immediate = Callable[[Request], Decision | None]
# Told the status and the decision's log fields of every finished exchange (0: no answer sent).
Observer = Callable[[int, Mapping[str, str]], None]
# The gateway's own answers by exact path (health and readiness), given before any handler.
Probes = Mapping[bytes, Callable[[], Reply]]


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes and timeouts of the engine, in bytes and seconds."""

    max_header_bytes: int = 16384
    """Request line and header fields together; a larger head is answered 431."""
    header_timeout: float = 30.0
    """From a connection's first byte (or a keep-alive request's first byte) to its complete head;
    then 408 and close."""
    keepalive_timeout: float = 75.0
    """An idle client connection is closed after this long."""
    upstream_connect_timeout: float = 5.0
    """Connecting (and the TLS handshake) to an upstream; then 504."""
    upstream_timeout: float = 60.0
    """Longest silence of an exchange with an upstream: waiting for the response head, or between
    body chunks in either direction; then 504, or the client connection is closed mid-response."""
    max_upstream_header_bytes: int = 65536
    """An upstream response's status line and header fields together; a larger head is answered
    502 `upstream_invalid_response`."""
    max_idle_per_upstream: int = 64
    """Keep-alive upstream connections kept open per (scheme, host, port)."""
    tunnel_recheck: float = 1.0
    """Seconds between two checks that an open tunnel's request would still be forwarded."""
    max_connections_per_client: int = 256
    """Open connections from one client address; more are answered 429 and closed (0: any)."""
    high_water: int = 256 * 1024
    """Bytes waiting in a write buffer before the other side stops being read; also the most of
    a request body read ahead while the handler decides."""
