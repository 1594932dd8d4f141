"""The client side of the gateway: a protocol per connection that parses requests, asks the
handler about each, and answers itself or relays the upstream's response."""

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, cast

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from keyward.gateway.http._deadline import Deadline
from keyward.gateway.http._eager import start_eagerly
from keyward.gateway.http._forwarding import (
    BODY_CHUNKED,
    BODY_NONE,
    Hop,
    response_head,
    switching_head,
)
from keyward.gateway.http._head import CHUNKED, NO_BODY, Head, Refused, bad_request, too_large
from keyward.gateway.http._messages import (
    Decision,
    Forward,
    Handler,
    Immediate,
    Limits,
    Observer,
    Reply,
    Request,
)
from keyward.gateway.http._replies import DateField, check_lines, error_reply, render_reply
from keyward.gateway.http._upstream import (
    Failure,
    UpstreamConnection,
    UpstreamPool,
    UpstreamUnreachableError,
)

log: Final = logging.getLogger("keyward.gateway")
access_log: Final = logging.getLogger("keyward.gateway.access")

# Why a client connection is not being read; reading resumes when no reason is left.
_PIPELINED: Final = 1  # a request waits behind the one being answered
_UPGRADING: Final = 2  # an upgrade request awaits its answer; what follows may be another protocol
_READ_AHEAD: Final = 4  # the body read while the handler decides reached high water
_UPSTREAM_FULL: Final = 8  # the upstream's write buffer is above high water
_FINISHED: Final = 16  # nothing more will be read from this connection

# What the client connection's deadline is counting.
_NO_DEADLINE: Final = 0
_HEAD: Final = 1  # a request head to complete
_IDLE: Final = 2  # the next request to begin
_LINGER: Final = 3  # the client to close after the gateway has closed its side

# A request body still unread when the answer is complete is read and dropped up to this size
# (so the connection can stay); a larger one closes the connection.
_DISCARD_LIMIT: Final = 64 * 1024
# How long a closing connection keeps reading what the client still sends, so that the client
# gets the answer rather than a reset.
_LINGER_SECONDS: Final = 2.0

# Requests a pooled connection may send again when the upstream closed it unnoticed.
_IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})

_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_FIELDS: Final[Mapping[str, str]] = {}


def _holds_at(data: bytes, at: int, literal: bytes) -> bool:
    """Whether `data` holds `literal` from index `at`."""
    if len(data) < at + len(literal):
        return False
    return all(data[at + i] == literal[i] for i in range(len(literal)))


def _internal_error() -> Reply:
    return error_reply(
        500, "internal_error", "The gateway failed to handle the request; try again later."
    )


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
    ) -> None:
        self.loop = loop
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
        self.connections: set[ClientConnection] = set()
        self.by_client: dict[str, int] = {}  # open connections per client address

    def via_for(self, version: str) -> bytes:
        """This hop's Via entry for a message received in HTTP `version`."""
        via = self._via.get(version)
        return via if via is not None else f"{version} ".encode() + self.via


class Exchange:
    """One request and its answer."""

    __slots__ = (
        "body",
        "buffer",
        "buffered",
        "complete",
        "discard",
        "early",
        "expect_continue",
        "forward",
        "head_sent",
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
        request: Request | None,
        method: bytes,
        *,
        keep_alive: bool,
        body: int,
        length: int | None,
        host: bytes | None,
        expect_continue: bool,
        started: float,
        refusal: Reply | None = None,
    ) -> None:
        self.request = request
        self.method = method
        self.http10 = request is not None and request.version == "1.0"
        self.keep_alive = keep_alive
        self.body = body
        self.length = length
        self.host = host
        self.expect_continue = expect_continue
        self.started = started
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


class ClientConnection(asyncio.Protocol):
    """One client connection. Requests are answered in the order received; a request waiting
    behind another stops the reading until its turn, so what is buffered stays bounded."""

    __slots__ = (
        "_accepting",
        "_active",
        "_client",
        "_closed",
        "_closing",
        "_context",
        "_counted",
        "_deadline",
        "_deadline_for",
        "_eof",
        "_head",
        "_head_began",
        "_high_water",
        "_hop",
        "_in_head",
        "_line_in_read",
        "_loop",
        "_max_head",
        "_out",
        "_parser",
        "_parsing",
        "_paused",
        "_primed",
        "_priming",
        "_queued",
        "_raw_head",
        "_read",
        "_read_at_message",
        "_stopped",
        "_transport",
        "_tunnel",
        "_tunnel_guard",
        "_unseen",
        "_upgrading",
        "_waiting",
        "_write_paused",
    )

    def __init__(self, context: Context) -> None:
        self._context = context
        self._loop = context.loop
        limits = context.limits
        self._max_head = limits.max_header_bytes
        self._high_water = limits.high_water
        self._parser = HttpRequestParser(self)
        self._transport = cast(asyncio.Transport, None)
        self._client = ("", 0)
        self._hop = Hop("", context.via)
        self._deadline = Deadline(self._loop, self._expired)
        self._deadline_for = _NO_DEADLINE
        self._active: Exchange | None = None
        self._waiting: deque[Exchange] = deque()
        self._parsing: Exchange | None = None
        self._upgrading: Exchange | None = None
        self._tunnel: UpstreamConnection | None = None
        self._tunnel_guard: asyncio.Task[None] | None = None
        self._out: list[bytes] = []
        self._queued = False
        self._paused = 0
        self._write_paused = False
        self._stopped = False
        self._accepting = True
        self._closing = False
        self._closed = False
        self._counted = False  # among its client's connections (`Context.by_client`)
        self._eof = False
        self._primed: tuple[int, int | None] | None = None
        self._priming = False
        self._in_head = False
        self._head = Head(self._max_head)
        self._head_began = False
        self._read = b""
        self._read_at_message = False
        self._line_in_read = False
        self._raw_head = 0
        self._unseen = 0

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        host, port = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("", 0)
        self._client = (host, port)
        self._hop = Hop(host, self._context.via)
        context = self._context
        context.connections.add(self)
        self._wait(_HEAD, context.limits.header_timeout)
        cap = context.limits.max_connections_per_client
        if cap:
            held = context.by_client.get(host, 0)
            if held >= cap:
                self._refuse(_too_many_connections())
                return
            context.by_client[host] = held + 1
            self._counted = True

    def data_received(self, data: bytes) -> None:
        tunnel = self._tunnel
        if tunnel is not None:
            if tunnel.transport is not None:
                tunnel.transport.write(data)
            return
        if self._stopped:
            return
        self._head_began = False
        # A read that begins between requests begins with the next request line.
        self._read = data
        self._read_at_message = not self._in_head and self._parsing is None
        if self._parsing is not None:
            # Bytes of a body that yield no body data: chunk sizes and trailer fields, which
            # llhttp, like a head, keeps whole until they end.
            self._unseen += len(data)
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self._upgraded(data[upgrade.args[0] :])
        except HttpParserError as error:
            self._parse_failed(error)
        else:
            if self._in_head:
                # A head longer than one read: llhttp keeps a field's pieces until it ends, so
                # count what arrives. A head that began inside this read is counted from the
                # next one: the bound is the limit plus one read.
                self._raw_head = 0 if self._head_began else self._raw_head + len(data)
                if self._raw_head > self._max_head:
                    self._refuse(too_large())
            elif self._unseen > self._max_head and self._parsing is not None:
                self._refuse(too_large())
        finally:
            self._read = b""  # not kept beyond this read

    def eof_received(self) -> bool:
        # A client that stops sending has gone, as nginx takes it too: whatever it asked is
        # abandoned and its upstream exchange closed. Returning False closes the transport.
        self._eof = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._deadline.cancel()
        context = self._context
        context.connections.discard(self)
        if self._counted:
            host = self._client[0]
            held = context.by_client[host] - 1
            if held:
                context.by_client[host] = held
            else:
                del context.by_client[host]
        if self._tunnel_guard is not None:
            self._tunnel_guard.cancel()
        tunnel = self._tunnel
        ex = self._active
        self._active = None
        self._waiting.clear()
        if tunnel is not None:
            tunnel.abort()
        if ex is None:
            return
        if ex.task is not None:
            ex.task.cancel()
        upstream = ex.upstream
        if upstream is not None:
            ex.upstream = None
            upstream.abort()
        if tunnel is not None:
            ex.sent += tunnel.tunneled
        elif not ex.head_sent:
            ex.status = 499
        self._log(ex)

    def pause_writing(self) -> None:
        self._write_paused = True
        upstream = self._tunnel or (self._active.upstream if self._active else None)
        if upstream is not None:
            upstream.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        upstream = self._tunnel or (self._active.upstream if self._active else None)
        if upstream is not None:
            upstream.resume_reading()

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_began = True
        self._line_in_read = self._read_at_message
        self._read_at_message = False
        self._head.begin()
        if self._deadline_for != _HEAD:
            self._wait(_HEAD, self._context.limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._head.add_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # else a trailer field of a chunked body: dropped
            self._head.add_field(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._deadline_for = _NO_DEADLINE
        self._deadline.clear()
        if self._priming:
            self._priming = False
            return
        if not self._accepting or self._closing:
            return  # a request after one that closes the connection
        parser = self._parser
        method = parser.get_method()
        checked = self._head.checked(
            method, self._version(method), self._client, parser.should_upgrade()
        )
        request = checked.request
        if checked.upgrade_set_aside:
            self._primed = (checked.body, checked.length)
        keep_alive = parser.should_keep_alive()
        ex = Exchange(
            request,
            method,
            keep_alive=keep_alive,
            body=checked.body,
            length=checked.length,
            host=checked.host,
            expect_continue=checked.expect_continue,
            started=self._loop.time(),
        )
        if not keep_alive:
            self._accepting = False
        if request.upgrade is not None:
            self._upgrading = ex
        self._parsing = ex
        if self._active is None:
            self._active = ex
            self._start(ex)
        else:
            self._waiting.append(ex)
            self._pause(_PIPELINED)

    def _version(self, method: bytes) -> str:
        """The request's HTTP version. Read off the request line when it is at the start of
        this read (then `method SP target SP` precedes it): llhttp formats it anew each time."""
        if self._head_began and self._line_in_read:
            data = self._read
            at = len(method) + len(self._head.url) + 1
            if _holds_at(data, at, b" HTTP/1.1\r\n") and _holds_at(data, 0, method):
                return "1.1"
        return self._parser.get_http_version()

    def on_body(self, body: bytes) -> None:
        self._unseen = 0
        ex = self._parsing
        if ex is None:
            return
        upstream = ex.upstream
        if upstream is not None:
            if ex.body == CHUNKED:
                upstream.write_parts((b"%x\r\n" % len(body), body, b"\r\n"))
            else:
                upstream.write(body)
            ex.buffered += len(body)
        elif not ex.discard:
            ex.buffer.append(body)
            ex.buffered += len(body)
            if ex.buffered >= self._high_water:
                self._pause(_READ_AHEAD)
        else:
            ex.buffered += len(body)

    def on_message_complete(self) -> None:
        self._unseen = 0
        ex = self._parsing
        if ex is None or self._primed is not None:
            return
        self._parsing = None
        ex.complete = True
        upstream = ex.upstream
        if upstream is not None:
            if ex.body == CHUNKED:
                upstream.write(b"0\r\n\r\n")
            upstream.end_request()
        if not self._accepting:
            self._stopped = True
            self._pause(_FINISHED)
        elif ex.discard and self._active is None:
            self._wait(_IDLE, self._context.limits.keepalive_timeout)

    # -- parsing outcomes

    def _upgraded(self, rest: bytes) -> None:
        primed = self._primed
        if primed is not None:
            body, length = primed
            if body == CHUNKED:
                framing = b"transfer-encoding: chunked"
            else:
                framing = b"content-length: %d" % (length or 0)
            self._parser = HttpRequestParser(self)
            self._priming = True
            self._parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
            self._primed = None
            if rest:
                self.data_received(rest)
            return
        ex = self._upgrading
        self._upgrading = None
        if ex is not None and (ex is self._active or ex in self._waiting):
            ex.early = rest
            self._pause(_UPGRADING)
        elif rest:
            self.data_received(rest)  # answered already: the connection speaks HTTP on

    def _parse_failed(self, error: HttpParserError) -> None:
        cause = error.__context__
        if isinstance(cause, Refused):
            reply = cause.reply
        elif isinstance(error, HttpParserCallbackError):
            log.error("Parsing a request failed", exc_info=cause)
            reply = _internal_error()
        else:
            reply = bad_request(f"The request is malformed: {error}.")
        self._refuse(reply)

    def _refuse(self, reply: Reply) -> None:
        """Answer `reply` in turn and close: the rest of the input cannot be trusted."""
        self._stopped = True
        self._pause(_FINISHED)
        if self._parsing is not None:
            self._body_failed(reply)
            return
        ex = Exchange(
            None,
            b"",
            keep_alive=False,
            body=NO_BODY,
            length=None,
            host=None,
            expect_continue=False,
            started=self._loop.time(),
            refusal=reply,
        )
        if self._active is None:
            self._active = ex
            self._start(ex)
        else:
            self._waiting.append(ex)

    def _body_failed(self, reply: Reply) -> None:
        """The body of the request being read broke off or is malformed."""
        ex = self._parsing
        self._parsing = None
        if ex is None:
            return
        ex.keep_alive = False
        if ex is not self._active:
            if ex in self._waiting:
                ex.refusal = reply
            elif self._active is None:
                self._close()  # answered already; the rest of its body was being dropped
            return
        if ex.task is not None:
            ex.task.cancel()
            ex.task = None
        upstream = ex.upstream
        if upstream is not None:
            ex.upstream = None
            upstream.abort()
        if ex.head_sent:
            self._abandon()
        else:
            self._answer(ex, reply)

    # -- answering

    def _start(self, ex: Exchange) -> None:
        """Ask the handler about `ex`, at once; it becomes a task only if it has to wait."""
        if ex.refusal is not None:
            self._answer(ex, ex.refusal)
            return
        request = ex.request
        if request is None:
            return
        immediate = self._context.immediate
        if immediate is not None:
            try:
                decision = immediate(request)
            except Exception as error:
                self._handler_failed(request, error)
                decision = _internal_error()
            if decision is not None:
                self._decided(ex, decision)
                return
        handler = self._context.handler

        def decided(decision: Decision | None, error: BaseException | None) -> None:
            ex.task = None
            if error is not None or decision is None:
                self._handler_failed(request, error)
                decision = _internal_error()
            if ex is self._active and not self._closed:
                self._decided(ex, decision)

        ex.task = start_eagerly(self._loop, lambda: handler(request), decided)

    def _handler_failed(self, request: Request, error: BaseException | None) -> None:
        log.error(
            "The gateway's handler failed on %s %s",
            request.method,
            request.path.decode("latin-1"),
            exc_info=error,
        )

    def _decided(self, ex: Exchange, decision: Decision) -> None:
        try:
            if ex.refusal is not None:
                self._answer(ex, ex.refusal)  # the body broke off while the handler decided
            elif isinstance(decision, Forward):
                self._forward(ex, decision)
            elif isinstance(decision, Reply):
                self._answer(ex, decision)
            else:
                raise TypeError(f"a handler decides Reply or Forward, not {decision!r}")
        except (ValueError, TypeError):
            log.exception("The gateway's handler decided an unusable answer")
            if ex is self._active and not ex.head_sent and not self._closed:
                self._answer(ex, _internal_error())

    def _answer(self, ex: Exchange, reply: Reply) -> None:
        """Write a local answer for the active exchange; what is left of its body is dropped."""
        ex.task = None
        if reply.log:
            ex.log = reply.log
        keep_alive = self._keeps_after_answer(ex) and ex.keep_alive
        try:
            head, body = render_reply(
                reply,
                head_only=ex.method == b"HEAD",
                keep_alive=keep_alive,
                http10=ex.http10,
                date=self._context.date.value(),
            )
        except ValueError:
            log.exception("The gateway's handler replied with an unusable answer")
            reply = _internal_error()
            head, body = render_reply(
                reply,
                head_only=ex.method == b"HEAD",
                keep_alive=keep_alive,
                http10=ex.http10,
                date=self._context.date.value(),
            )
        if len(body) < 65536:
            self._out.append(head + body)
        else:
            self._out += (head, body)
        self.flush()
        ex.status = reply.status
        ex.head_sent = True
        ex.sent += len(head) + len(body)
        self._done(ex, keep_alive)

    def _keeps_after_answer(self, ex: Exchange) -> bool:
        """Whether the connection can stay after answering `ex`, dropping its unread body."""
        if ex.complete:
            return True
        ex.discard = True
        ex.buffer = []
        self._resume(_READ_AHEAD)
        remaining = ex.remaining()
        return not ex.expect_continue and 0 <= remaining <= _DISCARD_LIMIT

    def _done(self, ex: Exchange, keep_alive: bool) -> None:
        """The answer to the active exchange is written; go on with the next one or close."""
        self._log(ex)
        self._active = None
        self._resume(_UPSTREAM_FULL)
        if not keep_alive or self._closing:
            self._close()
            return
        early = ex.early
        ex.early = b""
        if ex.request is not None and ex.request.upgrade is not None:
            self._resume(_UPGRADING)
        if self._waiting:
            following = self._waiting.popleft()
            if not self._waiting:
                self._resume(_PIPELINED)
            self._active = following
            self._start(following)
        elif self._eof:
            self._close()
            return
        elif not self._in_head:
            self._wait(_IDLE, self._context.limits.keepalive_timeout)
        if early:
            self.data_received(early)

    # -- forwarding

    def _forward(self, ex: Exchange, forward: Forward) -> None:
        request = ex.request
        if request is None:
            return
        ex.forward = forward
        if forward.log:
            ex.log = forward.log
        context = self._context
        origin = context.pool.origin(forward.upstream)
        if ex.body == CHUNKED:
            framing = b"transfer-encoding: chunked\r\n"
        elif ex.length is not None:
            framing = b"content-length: %d\r\n" % ex.length
        else:
            framing = b""
        ex.upstream_head = self._hop.request_head(
            ex.method,
            forward.target,
            origin.host,
            forward.headers,
            client_host=ex.host,
            version=request.version,
            framing=framing,
            upgrade=request.upgrade,
        )
        upstream = context.pool.take(origin)
        if upstream is None:
            ex.task = self._loop.create_task(self._connect_and_send(ex, forward))
        else:
            self._send(ex, upstream)

    async def _connect_and_send(self, ex: Exchange, forward: Forward) -> None:
        upstream = await self._connect(ex, forward)
        if upstream is not None:
            self._send(ex, upstream)

    async def _connect(self, ex: Exchange, forward: Forward) -> UpstreamConnection | None:
        """A new connection to the upstream, or None once the failure is answered."""
        pool = self._context.pool
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
            if ex is self._active and not self._closed:
                return upstream
            upstream.close()
            return None
        if ex is self._active and not self._closed:
            self._answer(ex, reply)
        return None

    def _send(self, ex: Exchange, upstream: UpstreamConnection) -> None:
        ex.task = None
        ex.upstream = upstream
        parts = [ex.upstream_head]
        if ex.buffer:
            if ex.body == CHUNKED:
                for chunk in ex.buffer:
                    parts += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
            else:
                parts += ex.buffer
            ex.buffer = []
        elif ex.expect_continue and not ex.complete:
            self._out.append(_CONTINUE)
            self.flush()
        if ex.complete and ex.body == CHUNKED:
            parts.append(b"0\r\n\r\n")
        request = ex.request
        upstream.send(
            self,
            parts,
            expect_body=ex.method != b"HEAD",
            complete=ex.complete,
            upgrade=request is not None and request.upgrade is not None,
        )
        if self._write_paused:
            upstream.pause_reading()
        self._resume(_READ_AHEAD)

    # -- ResponseSink: what the upstream connection reports

    def response_head(self, status: int, lines: list[bytes], version: str) -> bool:
        """Relay the head; True when the body lasts until the upstream closes.

        `lines` are the head's lines as llhttp accepted them: the status line, then the field
        lines."""
        ex = self._active
        if ex is None or ex.forward is None:
            return False
        via = self._context.via_for(version)
        if status == 101:
            head = switching_head(lines, via=via, extra=ex.forward.response_headers)
            self._out.append(head)
            ex.status = status
            ex.head_sent = True
            ex.sent += len(head)
            return False
        head, ex.mode, ex.keep_alive, until_close = response_head(
            status,
            lines,
            via=via,
            extra=ex.forward.response_headers,
            head_request=ex.method == b"HEAD",
            http10=ex.http10,
            keep_alive=ex.keep_alive and not self._eof,
        )
        self._out.append(head)
        ex.status = status
        ex.head_sent = True
        ex.sent += len(head)
        return until_close

    def response_body(self, data: bytes) -> None:
        ex = self._active
        if ex is None:
            return
        mode = ex.mode
        if mode == BODY_CHUNKED:
            size = b"%x\r\n" % len(data)
            self._out += (size, data, b"\r\n")
            ex.sent += len(size) + len(data) + 2
        elif mode != BODY_NONE:
            self._out.append(data)
            ex.sent += len(data)

    def response_end(self) -> None:
        ex = self._active
        if ex is None:
            return
        ex.upstream = None
        if ex.mode == BODY_CHUNKED:
            self._out.append(b"0\r\n\r\n")
            ex.sent += 5
        self.flush()
        self._done(ex, self._keeps_after_answer(ex) and ex.keep_alive)

    def response_failed(self, failure: Failure, retryable: bool) -> None:
        """`retryable`: the request may be sent again on a fresh connection, as a pooled
        connection the upstream closed meanwhile failed before answering."""
        ex = self._active
        if ex is None:
            return
        ex.upstream = None
        if (
            retryable
            and ex.forward is not None
            and not ex.retried
            and ex.method in _IDEMPOTENT
            and ex.body == NO_BODY
            and not ex.head_sent
        ):
            ex.retried = True
            ex.task = self._loop.create_task(self._connect_and_send(ex, ex.forward))
            return
        if ex.head_sent:
            # The answer has begun and cannot be completed: closing tells the client.
            self._log(ex)
            self._active = None
            self._abandon()
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
        self._answer(ex, reply)

    def tunnel_open(self, upstream: UpstreamConnection, data: bytes) -> asyncio.Transport:
        """The upstream switched protocols; returns the client transport to copy bytes to."""
        ex = self._active
        self.write_out()
        if data:
            self._transport.write(data)
        self._tunnel = upstream
        self._deadline.cancel()
        self._stopped = True
        if self._paused:
            self._paused = 0
            self._transport.resume_reading()
        if ex is not None:
            ex.upstream = None
            early = ex.early
            ex.early = b""
            if early and upstream.transport is not None:
                upstream.transport.write(early)
            guard = ex.forward.guard if ex.forward is not None else None
            if guard is not None:
                self._tunnel_guard = self._loop.create_task(self._guard_tunnel(guard))
        return self._transport

    async def _guard_tunnel(self, still_allowed: Callable[[], Awaitable[bool]]) -> None:
        """Close the tunnel once the request that opened it would no longer be forwarded: its
        key revoked or expired, or the operation no longer its to call."""
        interval = self._context.limits.tunnel_recheck
        while True:
            await asyncio.sleep(interval)
            tunnel = self._tunnel
            if tunnel is None or self._closed:
                return
            try:
                allowed = await still_allowed()
            except Exception:
                log.exception("checking an open tunnel failed; it stays open")
                continue
            if not allowed:
                log.info("closing a tunnel its request may no longer open")
                tunnel.abort()
                self._transport.close()
                return

    def tunnel_closed(self) -> None:
        self.write_out()
        self._transport.close()

    def upstream_writable(self, writable: bool) -> None:
        if writable:
            self._resume(_UPSTREAM_FULL)
        else:
            self._pause(_UPSTREAM_FULL)

    def flush(self) -> None:
        """Send what is queued for the client at the end of this turn of the event loop."""
        if self._out and not self._queued:
            self._queued = True
            self._context.outbox.add(self)

    def write_out(self) -> None:
        """Send what is queued for the client now."""
        self._queued = False
        out = self._out
        if not out:
            return
        if self._closed or self._closing:
            pass  # too late: the transport is gone or its end written
        elif len(out) == 1:
            self._transport.write(out[0])
        elif len(out) == 2 and len(out[1]) < 16384:
            self._transport.write(out[0] + out[1])  # a head and a small body: one send
        else:
            self._transport.writelines(out)
        out.clear()

    # -- connection state

    def _pause(self, reason: int) -> None:
        if not self._paused and not self._closing and not self._closed:
            self._transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if self._paused & reason:
            self._paused &= ~reason
            if not self._paused and not self._closing and not self._closed:
                self._transport.resume_reading()

    def _wait(self, what: int, seconds: float) -> None:
        self._deadline_for = what
        self._deadline.after(seconds)

    def _expired(self) -> None:
        what = self._deadline_for
        self._deadline_for = _NO_DEADLINE
        if what == _HEAD and self._in_head:
            self._refuse(
                error_reply(408, "request_timeout", "The request head did not arrive in time.")
            )
        elif what == _LINGER or self._active is None:
            self.write_out()
            self._transport.close()

    def _close(self) -> None:
        """Close after what is written, reading on for a while so that the client gets it."""
        if self._closing:
            return
        self.write_out()
        self._closing = True
        self._stopped = True
        self._accepting = False
        transport = self._transport
        if self._eof or self._closed or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        if self._paused:
            self._paused = 0
            transport.resume_reading()
        self._wait(_LINGER, _LINGER_SECONDS)

    def _abandon(self) -> None:
        """Close after what is written, without lingering: the answer is broken off."""
        self.write_out()
        self._closing = True
        self._stopped = True
        self._transport.close()

    def shutdown(self) -> None:
        """Close at once, for a server that stops."""
        self._abandon()

    def _log(self, ex: Exchange) -> None:
        observer = self._context.observer
        if observer is not None:
            try:
                observer(ex.status, ex.log)
            except Exception:
                log.exception("the exchange observer failed")
        # The level first: turned off (`runner.access_logging`), it answers without a call.
        if access_log.level > logging.INFO or not access_log.isEnabledFor(logging.INFO):
            return
        request = ex.request
        target = ex.log.get("target")
        if target is None:
            target = request.path.decode("latin-1") if request is not None else ""
        line: dict[str, object] = dict(ex.log)
        line.update(
            method=request.method if request is not None else "",
            target=target,
            status=ex.status,
            bytes=ex.sent,
            duration_ms=round((self._loop.time() - ex.started) * 1000, 3),
            client=f"{self._client[0]}:{self._client[1]}",
        )
        access_log.info(json.dumps(line))


def _too_many_connections() -> Reply:
    return error_reply(
        429,
        "too_many_connections",
        "This client has too many connections open to the gateway; reuse them.",
    )
