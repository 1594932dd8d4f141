"""One request and its answer: what the client connection read of it, and, when the handler
forwards it, its trip to the upstream, the response relayed back and the tunnel an upgrade
opens. The upstream connection talks to the exchange (`ResponseSink`); the exchange talks to
its client connection (`Conversation`) for what is the connection's: its output, its reading
and its turn."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from mypy_extensions import trait

from keyward.gateway.http._forwarding import (
    BODY_CHUNKED,
    BODY_NONE,
    Hop,
    response_head,
    switching_head,
)
from keyward.gateway.http._head import CHUNKED, NO_BODY
from keyward.gateway.http._messages import (
    Forward,
    Handler,
    Immediate,
    Limits,
    Observer,
    Probes,
    Reply,
    Request,
)
from keyward.gateway.http._replies import DateField, check_lines, error_reply
from keyward.gateway.http._upstream import (
    Failure,
    ResponseSink,
    UpstreamConnection,
    UpstreamPool,
    UpstreamUnreachableError,
)

log: Final = logging.getLogger("keyward.gateway")

# Requests a pooled connection may send again when the upstream closed it unnoticed.
_IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})

_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_FIELDS: Final[Mapping[str, str]] = {}


def internal_error() -> Reply:
    return error_reply(
        500, "internal_error", "The gateway failed to handle the request; try again later."
    )


@trait
class Conversation:
    """The client connection, as one of its exchanges sees it."""

    def is_current(self, ex: "Exchange") -> bool:
        """Whether `ex` is the exchange being answered on an open connection."""
        raise NotImplementedError

    def emit(self, data: bytes) -> None:
        """Queue `data` for the client."""
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def ended_by_client(self) -> bool:
        """Whether the client has stopped sending."""
        raise NotImplementedError

    def answer(self, ex: "Exchange", reply: Reply) -> None:
        """Answer `ex` with a reply of the gateway's own."""
        raise NotImplementedError

    def relayed(self, ex: "Exchange") -> None:
        """The upstream's whole response to `ex` is queued for the client."""
        raise NotImplementedError

    def broken_off(self, ex: "Exchange") -> None:
        """The answer to `ex` has begun and cannot be completed."""
        raise NotImplementedError

    def sending(self, upstream: UpstreamConnection) -> None:
        """`upstream` now carries the current exchange's request."""
        raise NotImplementedError

    def upstream_writable(self, writable: bool) -> None:
        raise NotImplementedError

    def open_tunnel(self, upstream: UpstreamConnection, data: bytes) -> asyncio.Transport:
        """From now on bytes go both ways between the client and `upstream`."""
        raise NotImplementedError

    def tunnel_guarded(self, guard: "asyncio.Task[None]") -> None:
        raise NotImplementedError

    def tunnel_open_to(self, upstream: UpstreamConnection) -> bool:
        raise NotImplementedError

    def close_now(self) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Close at once, for a server that stops."""
        raise NotImplementedError


class Context:
    """What every connection of one server shares."""

    __slots__ = (
        "_via",
        "by_client",
        "connections",
        "date",
        "handler",
        "immediate",
        "limits",
        "loop",
        "observer",
        "outbox",
        "pool",
        "probes",
        "via",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: Handler,
        limits: Limits,
        pool: UpstreamPool,
        via: str,
        observer: Observer | None = None,
        probes: Probes | None = None,
    ) -> None:
        self.loop = loop
        self.probes: Probes = {} if probes is None else probes
        self.handler = handler
        self.immediate: Immediate | None = getattr(handler, "immediately", None)
        self.observer = observer
        self.limits = limits
        self.pool = pool
        self.outbox = pool.outbox
        self.via = via.encode()
        check_lines(b"via: 1.1 " + self.via + b"\r\n", 1)  # relayed responses take it as it is
        self._via = {version: f"{version} {via}".encode() for version in ("1.0", "1.1")}
        self.date = DateField()
        self.connections: set[Conversation] = set()
        self.by_client: dict[str, int] = {}  # open connections per client address

    def via_for(self, version: str) -> bytes:
        """This hop's Via entry for a message received in HTTP `version`."""
        via = self._via.get(version)
        return via if via is not None else f"{version} ".encode() + self.via


class Exchange(ResponseSink):
    """One request and its answer."""

    __slots__ = (
        "body",
        "buffer",
        "buffered",
        "client",
        "complete",
        "context",
        "discard",
        "early",
        "expect_continue",
        "forward",
        "head_sent",
        "hop",
        "host",
        "http10",
        "keep_alive",
        "length",
        "log",
        "method",
        "mode",
        "refusal",
        "request",
        "retried",
        "sent",
        "started",
        "status",
        "task",
        "upstream",
        "upstream_head",
    )

    def __init__(
        self,
        client: Conversation,
        context: Context,
        hop: Hop,
        request: Request | None,
        method: bytes,
        *,
        keep_alive: bool,
        body: int,
        length: int | None,
        host: bytes | None,
        expect_continue: bool,
        refusal: Reply | None = None,
    ) -> None:
        self.client = client
        self.context = context
        self.hop = hop
        self.request = request
        self.method = method
        self.http10 = request is not None and request.version == "1.0"
        self.keep_alive = keep_alive
        self.body = body
        self.length = length
        self.host = host
        self.expect_continue = expect_continue
        self.started = context.loop.time()
        self.refusal = refusal
        self.complete = body == NO_BODY
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.discard = False
        self.upstream: UpstreamConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.forward: Forward | None = None
        self.upstream_head = b""
        self.log: Mapping[str, str] = _NO_FIELDS
        self.status = 0
        self.sent = 0
        self.mode = BODY_NONE
        self.head_sent = False
        self.retried = False
        self.early = b""

    def remaining(self) -> int:
        """Bytes of a Content-Length body not yet received; -1 for a chunked one."""
        if self.body == CHUNKED:
            return -1
        return (self.length or 0) - self.buffered

    def stop(self) -> None:
        """Drop the handler's task and the upstream connection, if any: the client side is
        done with this exchange."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            upstream.abort()

    # -- forwarding

    def send_upstream(self, forward: Forward) -> None:
        request = self.request
        if request is None:
            return
        self.forward = forward
        if forward.log:
            self.log = forward.log
        pool = self.context.pool
        origin = pool.origin(forward.upstream)
        if self.body == CHUNKED:
            framing = b"transfer-encoding: chunked\r\n"
        elif self.length is not None:
            framing = b"content-length: %d\r\n" % self.length
        else:
            framing = b""
        self.upstream_head = self.hop.request_head(
            self.method,
            forward.target,
            origin.host,
            forward.headers,
            client_host=self.host,
            version=request.version,
            framing=framing,
            upgrade=request.upgrade,
        )
        upstream = pool.take(origin)
        if upstream is None:
            self.task = self.context.loop.create_task(self._connect_and_send(forward))
        else:
            self._send(upstream)

    async def _connect_and_send(self, forward: Forward) -> None:
        upstream = await self._connect(forward)
        if upstream is not None:
            self._send(upstream)

    async def _connect(self, forward: Forward) -> UpstreamConnection | None:
        """A new connection to the upstream, or None once the failure is answered."""
        pool = self.context.pool
        try:
            upstream = await pool.connect(pool.origin(forward.upstream))
        except TimeoutError:
            reply = error_reply(
                504,
                "upstream_timeout",
                "The upstream did not accept a connection in time; try again later.",
            )
        except UpstreamUnreachableError as error:
            reply = error_reply(
                502,
                "upstream_unreachable",
                f"The gateway cannot reach the upstream ({error}); try again later.",
            )
        else:
            if self.client.is_current(self):
                return upstream
            upstream.close()
            return None
        if self.client.is_current(self):
            self.client.answer(self, reply)
        return None

    def _send(self, upstream: UpstreamConnection) -> None:
        self.task = None
        self.upstream = upstream
        parts = [self.upstream_head]
        if self.buffer:
            if self.body == CHUNKED:
                for chunk in self.buffer:
                    parts += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
            else:
                parts += self.buffer
            self.buffer = []
        elif self.expect_continue and not self.complete:
            self.client.emit(_CONTINUE)
            self.client.flush()
        if self.complete and self.body == CHUNKED:
            parts.append(b"0\r\n\r\n")
        request = self.request
        upstream.send(
            self,
            parts,
            expect_body=self.method != b"HEAD",
            complete=self.complete,
            upgrade=request is not None and request.upgrade is not None,
        )
        self.client.sending(upstream)

    # -- ResponseSink: what the upstream connection reports

    def response_head(self, status: int, lines: list[bytes], version: str) -> bool:
        forward = self.forward
        if forward is None or not self.client.is_current(self):
            return False
        via = self.context.via_for(version)
        if status == 101:
            head = switching_head(lines, via=via, extra=forward.response_headers)
            until_close = False
        else:
            head, self.mode, self.keep_alive, until_close = response_head(
                status,
                lines,
                via=via,
                extra=forward.response_headers,
                head_request=self.method == b"HEAD",
                http10=self.http10,
                keep_alive=self.keep_alive and not self.client.ended_by_client(),
            )
        self.client.emit(head)
        self.status = status
        self.head_sent = True
        self.sent += len(head)
        return until_close

    def response_body(self, data: bytes) -> None:
        mode = self.mode
        if mode == BODY_CHUNKED:
            size = b"%x\r\n" % len(data)
            self.client.emit(size)
            self.client.emit(data)
            self.client.emit(b"\r\n")
            self.sent += len(size) + len(data) + 2
        elif mode != BODY_NONE:
            self.client.emit(data)
            self.sent += len(data)

    def response_end(self) -> None:
        if not self.client.is_current(self):
            return
        self.upstream = None
        if self.mode == BODY_CHUNKED:
            self.client.emit(b"0\r\n\r\n")
            self.sent += 5
        self.client.relayed(self)

    def response_failed(self, failure: Failure, retryable: bool) -> None:
        if not self.client.is_current(self):
            return
        self.upstream = None
        if (
            retryable
            and self.forward is not None
            and not self.retried
            and self.method in _IDEMPOTENT
            and self.body == NO_BODY
            and not self.head_sent
        ):
            self.retried = True
            self.task = self.context.loop.create_task(self._connect_and_send(self.forward))
            return
        if self.head_sent:
            self.client.broken_off(self)
            return
        if failure is Failure.TIMEOUT:
            reply = error_reply(
                504, "upstream_timeout", "The upstream did not answer in time; try again later."
            )
        elif failure is Failure.INVALID:
            reply = error_reply(
                502,
                "upstream_invalid_response",
                "The upstream answered with a malformed HTTP response.",
            )
        else:
            reply = error_reply(
                502,
                "upstream_closed",
                "The upstream closed the connection without answering; try again later.",
            )
        self.client.answer(self, reply)

    def tunnel_open(self, upstream: UpstreamConnection, data: bytes) -> asyncio.Transport:
        current = self.client.is_current(self)
        transport = self.client.open_tunnel(upstream, data)
        if not current:
            return transport
        self.upstream = None
        early = self.early
        self.early = b""
        if early and upstream.transport is not None:
            upstream.transport.write(early)
        guard = self.forward.guard if self.forward is not None else None
        if guard is not None:
            task = self.context.loop.create_task(self._guard_tunnel(upstream, guard))
            self.client.tunnel_guarded(task)
        return transport

    async def _guard_tunnel(
        self, upstream: UpstreamConnection, still_allowed: Callable[[], Awaitable[bool]]
    ) -> None:
        """Close the tunnel once the request that opened it would no longer be forwarded: its
        key revoked or expired, or the operation no longer its to call."""
        interval = self.context.limits.tunnel_recheck
        while True:
            await asyncio.sleep(interval)
            if not self.client.tunnel_open_to(upstream):
                return
            try:
                allowed = await still_allowed()
            except Exception:
                log.exception("checking an open tunnel failed; it stays open")
                continue
            if not allowed:
                log.info("closing a tunnel its request may no longer open")
                upstream.abort()
                self.client.close_now()
                return

    def tunnel_closed(self) -> None:
        self.client.close_now()

    def upstream_writable(self, writable: bool) -> None:
        self.client.upstream_writable(writable)

    def flush(self) -> None:
        self.client.flush()
