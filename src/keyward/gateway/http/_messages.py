"""The vocabulary between the engine and its handler: a request head in, a decision out."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
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


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer the gateway gives itself; the engine adds content-length, connection and date."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    log: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where forwarded requests go; each one has its own pool of keep-alive connections."""

    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request upstream.

    `headers` are the end-to-end fields as the handler wants them sent. The engine sets Host,
    X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded, Via and the framing fields,
    extending any X-Forwarded-For, Forwarded and Via already among `headers`; it drops hop-by-hop
    fields from them. `response_headers` are added to the upstream's answer.
    """

    upstream: Upstream
    target: bytes
    headers: list[tuple[bytes, bytes]]
    log: Mapping[str, str] = field(default_factory=dict)
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)


Decision = Reply | Forward
Handler = Callable[[Request], Awaitable[Decision]]
# A handler may also have a method `immediately(request)`: the engine calls it first, and awaits
# the handler only when it answers None (the decision has to wait for something).
Immediate = Callable[[Request], Decision | None]
# Told the status and the decision's log fields of every finished exchange (0: no answer sent).
Observer = Callable[[int, Mapping[str, str]], None]


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
    max_idle_per_upstream: int = 64
    """Keep-alive upstream connections kept open per (scheme, host, port)."""
    high_water: int = 256 * 1024
    """Bytes waiting in a write buffer before the other side stops being read; also the most of
    a request body read ahead while the handler decides."""
