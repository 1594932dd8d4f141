"""The management API's HTTP/1.1 connections: uvicorn's, with a bound on a request's head.

uvicorn (with httptools) keeps reading a request line and header fields however long they grow.
Here, as at the gateway, a head over `MAX_HEAD_BYTES` (the request line and every header field
together) is answered `431 headers_too_large` in keyward's JSON error shape and the connection
closed; a head that is still incomplete after twice that many bytes is answered the same way
without parsing further, so a client cannot make the server hold an unbounded head. After the
answer the connection reads and drops what the client still sends for `LINGER_SECONDS` before
closing: closing with unread bytes would reset the connection and could destroy the answer
before the client reads it.
"""

import json
from typing import Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keyward.core.errors import error_body

MAX_HEAD_BYTES: Final = 16384  # as the gateway's
LINGER_SECONDS: Final = 2.0
_TOO_LARGE: Final = json.dumps(
    error_body("headers_too_large", "The request line and header fields are too large.")
).encode()


class _HeadTooLarge(Exception):
    """Raised in a parser callback: the parser stops, and uvicorn answers through
    `send_400_response`, which answers 431 instead."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a head over `MAX_HEAD_BYTES`."""

    _in_head = False
    _too_large = False
    _refused = False
    _head_bytes = 0  # the request line and header fields parsed so far
    _unparsed_bytes = 0  # bytes received since the head began, for one still incomplete

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: dropped
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._unparsed_bytes += len(data)
            if self._unparsed_bytes > 2 * MAX_HEAD_BYTES:
                self._refuse()

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse()
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._unparsed_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._too_large = True
            raise _HeadTooLarge

    def _refuse(self) -> None:
        self._in_head = False
        self._refused = True
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"cache-control: no-store\r\n"
            b"content-length: " + str(len(_TOO_LARGE)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _TOO_LARGE
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
