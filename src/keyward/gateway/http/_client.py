"""The client side of the gateway: a protocol per connection that parses requests, asks the
handler about each, and answers itself or has the exchange relay the upstream's response.

A connection goes through its phases in one direction (`_READING` ... `_CLOSED`); what it
reads and writes depends on its phase, what one request needs on its `Exchange`."""

import asyncio
import json
import logging
import os
from collections import deque
from typing import Final, cast

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from keyward.gateway.http._deadline import Deadline
from keyward.gateway.http._eager import start_eagerly
from keyward.gateway.http._exchange import Context, Conversation, Exchange, internal_error
from keyward.gateway.http._forwarding import Hop
from keyward.gateway.http._head import CHUNKED, NO_BODY, Head, Refused, bad_request, too_large
from keyward.gateway.http._messages import Decision, Forward, Reply, Request
from keyward.gateway.http._replies import error_reply, render_reply
from keyward.gateway.http._upstream import UpstreamConnection

log: Final = logging.getLogger("keyward.gateway")
access_log: Final = logging.getLogger("keyward.gateway.access")

# A connection's phase; it only ever moves forward.
_READING: Final = 0  # requests are read
_LAST: Final = 1  # the head of the last request is read (it closes the connection); its body is
_STOPPED: Final = 2  # nothing more is read: the last request is read whole, or input is refused
_TUNNEL: Final = 3  # the upstream switched protocols: bytes go both ways as they are
_CLOSING: Final = 4  # the gateway has closed its side
_CLOSED: Final = 5  # the transport is gone

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


def _holds_at(data: bytes, at: int, literal: bytes) -> bool:
    """Whether `data` holds `literal` from index `at`."""
    if len(data) < at + len(literal):
        return False
    return all(data[at + i] == literal[i] for i in range(len(literal)))


class ClientConnection(asyncio.Protocol, Conversation):
    """One client connection. Requests are answered in the order received; a request waiting
    behind another stops the reading until its turn, so what is buffered stays bounded."""

    __slots__ = (
        "_active",
        "_client",
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
        "_phase",
        "_primed",
        "_priming",
        "_queued",
        "_raw_head",
        "_read",
        "_read_at_message",
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
        self._phase = _READING
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
        if self._phase >= _STOPPED:
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
        self._phase = _CLOSED
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
        ex.stop()
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
        if self._phase != _READING:
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
            self,
            self._context,
            self._hop,
            request,
            method,
            keep_alive=keep_alive,
            body=checked.body,
            length=checked.length,
            host=checked.host,
            expect_continue=checked.expect_continue,
        )
        if not keep_alive:
            self._advance(_LAST)
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
        if self._phase >= _LAST:
            self._advance(_STOPPED)
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
            reply = internal_error()
        else:
            reply = bad_request(f"The request is malformed: {error}.")
        self._refuse(reply)

    def _refuse(self, reply: Reply) -> None:
        """Answer `reply` in turn and close: the rest of the input cannot be trusted."""
        self._advance(_STOPPED)
        self._pause(_FINISHED)
        if self._parsing is not None:
            self._body_failed(reply)
            return
        ex = Exchange(
            self,
            self._context,
            self._hop,
            None,
            b"",
            keep_alive=False,
            body=NO_BODY,
            length=None,
            host=None,
            expect_continue=False,
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
        ex.stop()
        if ex.head_sent:
            self._abandon()
        else:
            self.answer(ex, reply)

    # -- answering

    def _start(self, ex: Exchange) -> None:
        """Ask the handler about `ex`, at once; it becomes a task only if it has to wait."""
        if ex.refusal is not None:
            self.answer(ex, ex.refusal)
            return
        request = ex.request
        if request is None:
            return
        probes = self._context.probes
        if probes:
            probe = probes.get(request.path)
            if probe is not None:
                try:
                    answer = probe()
                except Exception as error:
                    self._handler_failed(request, error)
                    answer = internal_error()
                self._decided(ex, answer)
                return
        immediate = self._context.immediate
        if immediate is not None:
            try:
                decision = immediate(request)
            except Exception as error:
                self._handler_failed(request, error)
                decision = internal_error()
            if decision is not None:
                self._decided(ex, decision)
                return
        handler = self._context.handler

        def decided(decision: Decision | None, error: BaseException | None) -> None:
            ex.task = None
            if error is not None or decision is None:
                self._handler_failed(request, error)
                decision = internal_error()
            if self.is_current(ex):
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
                self.answer(ex, ex.refusal)  # the body broke off while the handler decided
            elif isinstance(decision, Forward):
                ex.send_upstream(decision)
            elif isinstance(decision, Reply):
                self.answer(ex, decision)
            else:
                raise TypeError(f"a handler decides Reply or Forward, not {decision!r}")
        except (ValueError, TypeError):
            log.exception("The gateway's handler decided an unusable answer")
            if self.is_current(ex) and not ex.head_sent:
                self.answer(ex, internal_error())

    def answer(self, ex: Exchange, reply: Reply) -> None:
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
            reply = internal_error()
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
        if not keep_alive or self._phase >= _CLOSING:
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

    # -- Conversation: what an exchange asks of its connection

    def is_current(self, ex: Exchange) -> bool:
        return ex is self._active and self._phase != _CLOSED

    def emit(self, data: bytes) -> None:
        self._out.append(data)

    def ended_by_client(self) -> bool:
        return self._eof

    def relayed(self, ex: Exchange) -> None:
        self.flush()
        self._done(ex, self._keeps_after_answer(ex) and ex.keep_alive)

    def broken_off(self, ex: Exchange) -> None:
        # Closing tells the client.
        self._log(ex)
        self._active = None
        self._abandon()

    def sending(self, upstream: UpstreamConnection) -> None:
        if self._write_paused:
            upstream.pause_reading()
        self._resume(_READ_AHEAD)

    def upstream_writable(self, writable: bool) -> None:
        if writable:
            self._resume(_UPSTREAM_FULL)
        else:
            self._pause(_UPSTREAM_FULL)

    def open_tunnel(self, upstream: UpstreamConnection, data: bytes) -> asyncio.Transport:
        self.write_out()
        if data:
            self._transport.write(data)
        self._tunnel = upstream
        self._deadline.cancel()
        self._advance(_TUNNEL)
        if self._paused:
            self._paused = 0
            self._transport.resume_reading()
        return self._transport

    def tunnel_guarded(self, guard: "asyncio.Task[None]") -> None:
        self._tunnel_guard = guard

    def tunnel_open_to(self, upstream: UpstreamConnection) -> bool:
        return self._tunnel is upstream and self._phase != _CLOSED

    def close_now(self) -> None:
        self.write_out()
        self._transport.close()

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
        if self._phase >= _CLOSING:
            pass  # too late: the transport is gone or its end written
        elif len(out) == 1:
            self._transport.write(out[0])
        elif len(out) == 2 and len(out[1]) < 16384:
            self._transport.write(out[0] + out[1])  # a head and a small body: one send
        else:
            self._transport.writelines(out)
        out.clear()

    # -- connection state

    def _advance(self, phase: int) -> None:
        if phase > self._phase:
            self._phase = phase

    def _pause(self, reason: int) -> None:
        if not self._paused and self._phase < _CLOSING:
            self._transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if self._paused & reason:
            self._paused &= ~reason
            if not self._paused and self._phase < _CLOSING:
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
        if self._phase >= _CLOSING:
            return
        self.write_out()
        self._advance(_CLOSING)
        transport = self._transport
        if self._eof or not transport.can_write_eof():
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
        self._advance(_CLOSING)
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
            pid=os.getpid(),  # which of the gateway's worker processes answered
        )
        access_log.info(json.dumps(line))


def _too_many_connections() -> Reply:
    return error_reply(
        429,
        "too_many_connections",
        "This client has too many connections open to the gateway; reuse them.",
    )
