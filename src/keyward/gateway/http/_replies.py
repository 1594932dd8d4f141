"""Answers the gateway writes itself: the handler's replies and the engine's own JSON errors."""

import json
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

from keyward.core.errors import error_body
from keyward.gateway.http._messages import Reply

_STATUS_LINES: Final = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in HTTPStatus
}


def status_line(status: int) -> bytes:
    """The status line with the standard reason phrase (clients ignore the phrase; the
    upstream's own is not relayed)."""
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d \r\n" % status


# Fields of a reply that only the engine writes: framing, connection management, the date.
_ENGINE_FIELDS: Final = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"date"}
)


class HeadInjectionError(ValueError):
    """A header name or value the handler gave contains CR or LF."""


def check_lines(head: bytes, lines: int) -> None:
    """Raise unless `head` holds exactly `lines` CRLF line ends and no other CR or LF."""
    # One pass by index: compiled, cheaper than two calls of `bytes.count`.
    carriage_returns = line_feeds = 0
    for i in range(len(head)):
        byte = head[i]
        if byte == 13:
            carriage_returns += 1
        elif byte == 10:
            line_feeds += 1
    if carriage_returns != lines or line_feeds != lines:
        raise HeadInjectionError("a header name or value contains CR or LF")


_UNCACHED: Final = b"\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n"


def error_reply(status: int, code: str, message: str) -> Reply:
    """A JSON error in keyward's shape: `{"error": {"code", "message", "details"}}`."""
    body = json.dumps(error_body(code, message)).encode()
    return Reply(status, [(b"content-type", b"application/json")], body)


class DateField:
    """The value of the Date field, formatted at most once a second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


def render_reply(
    reply: Reply, *, head_only: bool, keep_alive: bool, http10: bool, date: bytes
) -> tuple[bytes, bytes]:
    """The head and body to send for `reply`.

    204 and 304 carry neither body nor Content-Length; a HEAD request gets the Content-Length of
    the body it is not sent. Raises ValueError for a status outside 200-599 and
    HeadInjectionError for a header that would break the head.
    """
    status = reply.status
    if not 200 <= status <= 599:
        raise ValueError(f"a reply's status must be 200-599, not {status}")
    parts = [status_line(status)]
    lines = 1
    for name, value in reply.headers:
        if name.lower() not in _ENGINE_FIELDS:
            parts += (name, b": ", value, b"\r\n")
            lines += 1
    bodiless = status in (204, 304)
    if not bodiless:
        parts.append(b"content-length: %d\r\n" % len(reply.body))
        lines += 1
    # Nothing the gateway answers itself is to be cached or sniffed as anything but JSON.
    parts += (
        b"date: ",
        date,
        b"\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n",
    )
    lines += 2
    if not keep_alive:
        parts.append(b"connection: close\r\n\r\n")
        lines += 3
    elif http10:
        parts.append(b"connection: keep-alive\r\n\r\n")
        lines += 3
    else:
        parts.append(b"\r\n")
        lines += 2
    head = b"".join(parts)
    check_lines(head, lines)
    return head, (b"" if head_only or bodiless else reply.body)
