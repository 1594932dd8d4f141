"""Connections to upstream servers: sending a request, parsing the response, and the keep-alive
pool they return to."""

import asyncio
import enum
import logging
import ssl
from socket import SOCK_STREAM
from typing import Final, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser
from mypy_extensions import trait

from keyward.core.egress import EgressPolicy
from keyward.gateway.http._deadline import Deadline
from keyward.gateway.http._forwarding import host_field
from keyward.gateway.http._messages import Limits, Upstream
from keyward.gateway.http._outbox import Outbox
from keyward.gateway.http._replies import check_lines

log: Final = logging.getLogger("keyward.gateway")

# Upstream objects remembered by identity; beyond this many (a handler that makes a new one per
# request, or many catalog reloads) the memory starts over.
_IDENTITIES: Final = 256


class Failure(enum.Enum):
    """How an exchange with an upstream ended without a complete response."""

    UNANSWERED = "unanswered"  # closed before the first byte of a response
    TRUNCATED = "truncated"  # closed after the response began
    TIMEOUT = "timeout"
    INVALID = "invalid"  # the response broke HTTP/1.1


@trait
class ResponseSink:
    """What an upstream connection reports to: the exchange whose request it sent. A trait, so
    that compiled, each call is a direct one rather than a lookup by name."""

    def response_head(self, status: int, lines: list[bytes], version: str) -> bool:
        """The response head (`lines`: the status line, then the field lines, as llhttp
        accepted them); True when the body lasts until the upstream closes."""
        raise NotImplementedError

    def response_body(self, data: bytes) -> None:
        raise NotImplementedError

    def response_end(self) -> None:
        raise NotImplementedError

    def response_failed(self, failure: "Failure", retryable: bool) -> None:
        """`retryable`: the request may be sent again on a fresh connection, as a pooled
        connection the upstream closed meanwhile failed before answering."""
        raise NotImplementedError

    def tunnel_open(self, upstream: "UpstreamConnection", data: bytes) -> asyncio.Transport:
        """The upstream switched protocols; returns the client transport to copy bytes to."""
        raise NotImplementedError

    def tunnel_closed(self) -> None:
        raise NotImplementedError

    def upstream_writable(self, writable: bool) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """What the upstream's read relayed is complete for this turn of the event loop."""
        raise NotImplementedError


class UpstreamUnreachableError(Exception):
    """Connecting to the upstream failed: refused, unreachable, unknown name or TLS."""


class _StrayResponseError(Exception):
    """The upstream sent a response nobody asked for."""


class _HeadTooLargeError(Exception):
    """The upstream's response head is over `Limits.max_upstream_header_bytes`."""


class UpstreamConnection(asyncio.Protocol):
    """One connection to an upstream; serves one exchange at a time, then goes back to the pool.

    A response to HEAD ends with its head: llhttp, told nothing of the request, would wait for
    the body its Content-Length announces, so the parser is replaced after such a response.

    llhttp checks the response head; its fields are then read from the bytes received in one
    pass (`_head`), rather than handed over one by one.
    """

    __slots__ = (
        "_answered",
        "_awaiting_head",
        "_deadline",
        "_done",
        "_expect_body",
        "_head",
        "_in_head",
        "_informational",
        "_max_head",
        "_out",
        "_parser",
        "_pool",
        "_queued",
        "_reading_paused",
        "_request_sent",
        "_reset_parser",
        "_sink",
        "_switching",
        "_timeout",
        "_tunnel",
        "_until_close",
        "_upgrade",
        "closed",
        "origin",
        "reused",
        "transport",
        "tunneled",
    )

    def __init__(self, pool: "UpstreamPool", origin: "Origin") -> None:
        self.origin = origin
        self._pool = pool
        self._timeout = pool.limits.upstream_timeout
        self._max_head = pool.limits.max_upstream_header_bytes
        self._deadline = Deadline(pool.loop, self._timed_out)
        self._parser = HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._queued = False
        self._sink: ResponseSink | None = None
        self.closed = False
        self.reused = False
        self.tunneled = 0
        self._tunnel: asyncio.Transport | None = None
        self._reading_paused = False
        self._answered = False
        self._expect_body = True
        self._upgrade = False
        self._request_sent = False
        self._done = False
        self._reset_parser = False
        self._in_head = False
        self._informational = False
        self._switching = False
        self._until_close = False
        self._awaiting_head = False
        self._head = b""  # what was received of the response head awaited, and maybe more

    # -- the exchange, as driven by the client side

    def send(
        self,
        sink: ResponseSink,
        parts: list[bytes],
        *,
        expect_body: bool,
        complete: bool,
        upgrade: bool,
    ) -> None:
        """Write a request head (and what there is of its body) and await the response.

        `complete`: the whole request is in `parts`; otherwise `write` and `end_request` follow.
        """
        transport = self.transport
        if transport is None:
            raise RuntimeError("the upstream connection is not open")
        self._sink = sink
        self._answered = False
        self._done = False
        self._expect_body = expect_body
        self._upgrade = upgrade
        self._request_sent = complete
        self._switching = False
        self._informational = False
        self._until_close = False
        self._awaiting_head = True
        self._head = b""
        self._deadline.after(self._timeout)
        self._out += parts
        self._flush()

    def write(self, data: bytes) -> None:
        """More of the request body."""
        if self.transport is not None and not self.closed:
            self._out.append(data)
            self._flush()
            self._deadline.after(self._timeout)

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        if self.transport is not None and not self.closed:
            self._out += parts
            self._flush()
            self._deadline.after(self._timeout)

    def _flush(self) -> None:
        """Send what is queued at the end of this turn of the event loop."""
        if not self._queued:
            self._queued = True
            self._pool.outbox.add(self)

    def write_out(self) -> None:
        """Send what is queued now."""
        self._queued = False
        out = self._out
        if not out:
            return
        transport = self.transport
        if transport is not None and not self.closed:
            if len(out) == 1:
                transport.write(out[0])
            else:
                transport.writelines(out)
        out.clear()

    def end_request(self) -> None:
        self._request_sent = True

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            if self._sink is not None:
                self._deadline.after(self._timeout)
            self.transport.resume_reading()

    def abort(self) -> None:
        """End the exchange from the client side: the connection cannot be reused."""
        self._sink = None
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._deadline.cancel()
            self._pool.forget(self)
            if self.transport is not None:
                self.transport.close()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        tunnel = self._tunnel
        if tunnel is not None:
            self.tunneled += len(data)
            tunnel.write(data)
            return
        sink = self._sink
        if sink is None:
            self.close()
            return
        self._answered = True
        if self._awaiting_head:
            self._head += data
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self._switch(sink, data[upgrade.args[0] :])
        except HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, _HeadTooLargeError):
                self._head_too_large()
            else:
                if cause is not None and not isinstance(cause, _StrayResponseError):
                    log.error("Relaying an upstream response failed", exc_info=cause)
                self._fail(Failure.INVALID)
        else:
            if self._awaiting_head and len(self._head) > self._max_head:
                self._head_too_large()
            elif self._sink is not None:
                self._deadline.after(self._timeout)
        if self._reset_parser:
            self._reset_parser = False
            self._parser = HttpResponseParser(self)
        sink.flush()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
        sink = self._sink
        self._sink = None
        if sink is None:
            return
        if self._tunnel is not None:
            sink.tunnel_closed()
        elif self._until_close and not self._in_head and not self._done:
            self._done = True
            sink.response_end()
        elif not self._answered:
            sink.response_failed(Failure.UNANSWERED, self.reused and self._request_sent)
        else:
            sink.response_failed(Failure.TRUNCATED, False)

    def pause_writing(self) -> None:
        if self._sink is not None:
            self._sink.upstream_writable(False)

    def resume_writing(self) -> None:
        if self._sink is not None:
            self._sink.upstream_writable(True)

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        if self._sink is None:
            raise _StrayResponseError
        self._in_head = True
        self._until_close = False

    def on_headers_complete(self) -> None:
        self._in_head = False
        sink = self._sink
        if sink is None:
            raise _StrayResponseError
        # llhttp accepted the head, CRLFs before it included, so it ends at the first empty line.
        head = self._head
        if head and (head[0] == 13 or head[0] == 10):
            head = head.lstrip(b"\r\n")
        top, _, rest = head.partition(b"\r\n\r\n")
        if len(top) + 4 > self._max_head:
            raise _HeadTooLargeError
        self._head = rest  # after an interim response, the next head begins here
        status = self._parser.get_status_code()
        if status < 200:
            if status != 101:
                # Interim answers (100 Continue, 103 Early Hints) are the engine's to give.
                self._informational = True
                return
            if not self._upgrade or not self._parser.should_upgrade():
                # Unasked, or without `Connection: upgrade`: llhttp would go on reading the
                # other protocol's bytes as HTTP.
                raise _StrayResponseError
            self._switching = True
        self._awaiting_head = False
        self._head = b""
        version = "1.1" if head.startswith(b"HTTP/1.1 ") else self._parser.get_http_version()
        # The status line, then the field lines.
        self._until_close = sink.response_head(status, top.split(b"\r\n"), version)
        if not self._expect_body and not self._switching:
            self._reset_parser = True
            self._complete()

    def on_body(self, body: bytes) -> None:
        sink = self._sink
        if sink is None or self._done:
            raise _StrayResponseError
        sink.response_body(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
        elif not self._done and not self._switching:
            self._complete()

    # -- internals

    def _complete(self) -> None:
        sink = self._sink
        self._done = True
        if sink is None:
            return
        self._sink = None
        self._deadline.clear()
        if self._request_sent and self._parser.should_keep_alive() and not self.closed:
            self.reused = True
            if self._reading_paused:
                self.resume_reading()
            self._pool.release(self)
        else:
            self.close()
        sink.response_end()

    def _switch(self, sink: ResponseSink, data: bytes) -> None:
        self._deadline.cancel()
        self._pool.forget(self)
        self._tunnel = sink.tunnel_open(self, data)

    def _fail(self, failure: Failure) -> None:
        sink = self._sink
        self._sink = None
        self.close()
        if sink is not None:
            sink.response_failed(failure, False)

    def _head_too_large(self) -> None:
        upstream = self.origin.upstream
        log.error(
            "The response head of %s:%d is over %d bytes",
            upstream.host,
            upstream.port,
            self._max_head,
        )
        self._fail(Failure.INVALID)

    def _timed_out(self) -> None:
        self._fail(Failure.TIMEOUT)


class Origin:
    """One upstream as the pool keeps it: its Host value and its idle connections."""

    __slots__ = ("host", "idle", "upstream")

    def __init__(self, upstream: Upstream) -> None:
        if upstream.scheme not in ("http", "https"):
            raise ValueError(f"an upstream's scheme is http or https, not {upstream.scheme}")
        self.upstream = upstream
        self.host = host_field(upstream.scheme, upstream.host, upstream.port)
        # Checked once here: request heads take it as it is.
        check_lines(b"host: " + self.host + b"\r\n", 1)
        self.idle: list[UpstreamConnection] = []


class UpstreamPool:
    """Keep-alive connections per upstream, the most recently used first."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limits: Limits,
        tls: ssl.SSLContext | None,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.loop = loop
        self.outbox = Outbox(loop)
        self.limits = limits
        self._tls = tls
        self._egress = egress
        self._origins: dict[Upstream, Origin] = {}
        # The same entries by the identity of the `Upstream` asked for: a handler passes the same
        # object request after request, and comparing it by value would cost more than the rest.
        self._by_identity: dict[int, tuple[Upstream, Origin]] = {}
        self._open: set[UpstreamConnection] = set()

    def origin(self, upstream: Upstream) -> Origin:
        """The pool's entry for `upstream`; raises ValueError for a scheme other than http(s)."""
        known = self._by_identity.get(id(upstream))
        if known is not None and known[0] is upstream:
            return known[1]
        origin = self._origins.get(upstream)
        if origin is None:
            origin = self._origins[upstream] = Origin(upstream)
        if len(self._by_identity) >= _IDENTITIES:
            self._by_identity.clear()
        self._by_identity[id(upstream)] = (upstream, origin)
        return origin

    def take(self, origin: Origin) -> UpstreamConnection | None:
        """An idle connection to `origin` that is still open, if there is one."""
        idle = origin.idle
        while idle:
            connection = idle.pop()
            transport = connection.transport
            if not connection.closed and transport is not None and not transport.is_closing():
                return connection
        return None

    async def connect(self, origin: Origin) -> UpstreamConnection:
        """A new connection; raises TimeoutError or UpstreamUnreachableError."""
        upstream = origin.upstream
        tls: ssl.SSLContext | None = None
        if upstream.scheme == "https":
            tls = self._tls
            if tls is None:
                tls = self._tls = ssl.create_default_context()
        try:
            async with asyncio.timeout(self.limits.upstream_connect_timeout):
                hosts = await self._addresses(upstream)
                failure: OSError | None = None
                for host in hosts:
                    try:
                        _, connection = await self.loop.create_connection(
                            lambda: UpstreamConnection(self, origin),
                            host,
                            upstream.port,
                            ssl=tls,
                            server_hostname=upstream.host if tls is not None else None,
                        )
                        break
                    except OSError as error:
                        failure = error
                else:
                    raise failure or OSError("no address to connect to")
        except TimeoutError:
            raise
        except OSError as error:
            raise UpstreamUnreachableError(str(error) or type(error).__name__) from error
        self._open.add(connection)
        return connection

    async def _addresses(self, upstream: Upstream) -> list[str]:
        """Where to connect: the upstream's host as it is, or with an egress policy, the
        addresses it resolves to now that the policy allows (connected to as resolved, so a
        name cannot resolve elsewhere in between)."""
        policy = self._egress
        if policy is None:
            return [upstream.host]
        infos = await self.loop.getaddrinfo(upstream.host, upstream.port, type=SOCK_STREAM)
        resolved = list(dict.fromkeys([str(info[4][0]) for info in infos]))
        allowed = policy.allowed(upstream.host, resolved, upstream.port)
        if not allowed:
            raise OSError("not an address the gateway may reach")
        return allowed

    def release(self, connection: UpstreamConnection) -> None:
        idle = connection.origin.idle
        if len(idle) >= self.limits.max_idle_per_upstream:
            connection.close()
        else:
            idle.append(connection)

    def forget(self, connection: UpstreamConnection) -> None:
        self._open.discard(connection)
        idle = connection.origin.idle
        if idle and connection in idle:
            idle.remove(connection)

    def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        for origin in self._origins.values():
            origin.idle.clear()
