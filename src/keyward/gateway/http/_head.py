"""A request head, checked as the parser reports it and then as a whole, without any I/O.

The client connection feeds a `Head` the target and each field as llhttp reports them, and asks
`checked` once the head is complete: the `Request` the handler sees, with what its body is, or
`Refused` with the reply that closes the connection. Checked here: the head's size, one Host
(HTTP/1.1), one Content-Length, one Transfer-Encoding and only chunked, not both, none in
HTTP/1.0; a target that is a path with an optional query; HTTP/1.1 or 1.0. Hop-by-hop fields
and those the client names in Connection do not reach the request.
"""

from typing import Final, final

from keyward.gateway.http._forwarding import nominated_fields
from keyward.gateway.http._messages import Reply, Request
from keyward.gateway.http._replies import error_reply

# Request bodies.
NO_BODY: Final = 0
LENGTH: Final = 1
CHUNKED: Final = 2

_METHODS: Final = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
}

# Request fields the engine looks at; all others go to the handler as they are.
_HOST: Final = 0
_CONTENT_LENGTH: Final = 1
_TRANSFER_ENCODING: Final = 2
_CONNECTION: Final = 3
_UPGRADE: Final = 4
_EXPECT: Final = 5
_DROP: Final = 6
_FIELDS: Final = {
    b"host": _HOST,
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"connection": _CONNECTION,
    b"upgrade": _UPGRADE,
    b"expect": _EXPECT,
    b"keep-alive": _DROP,
    b"proxy-connection": _DROP,
    b"te": _DROP,
    b"trailer": _DROP,
    b"proxy-authorization": _DROP,
    b"proxy-authenticate": _DROP,
}


class Refused(Exception):
    """The request is refused with `reply`, and the connection closes after it."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def bad_request(message: str) -> Reply:
    return error_reply(400, "bad_request", message)


def too_large() -> Reply:
    return error_reply(
        431, "headers_too_large", "The request line and header fields are too large."
    )


def query_start(target: bytes) -> int:
    """Where the query of a request target begins (its `?`), its length when it has none; -1
    unless it is a path, optionally with a query (no fragment). Byte by byte: compiled, this
    costs less than calls of `bytes` methods."""
    if not target or target[0] != 47:  # "/"
        return -1
    end = len(target)
    query_at = end
    for i in range(end):
        byte = target[i]
        if byte == 35:  # "#"
            return -1
        if byte == 63 and query_at == end:  # "?"
            query_at = i
    return query_at


@final
class Checked:
    """A head found good: the request, its body (`NO_BODY`, `LENGTH` with `length`, or
    `CHUNKED`), its Host, whether it asks for 100 Continue, and whether an upgrade it asked
    for was set aside because a body comes first."""

    __slots__ = ("body", "expect_continue", "host", "length", "request", "upgrade_set_aside")

    def __init__(
        self,
        request: Request,
        body: int,
        length: int | None,
        host: bytes | None,
        expect_continue: bool,
        upgrade_set_aside: bool,
    ) -> None:
        self.request = request
        self.body = body
        self.length = length
        self.host = host
        self.expect_continue = expect_continue
        self.upgrade_set_aside = upgrade_set_aside


@final
class Head:
    """The head being read; `begin` starts the next one."""

    __slots__ = (
        "_connection_values",
        "_content_length",
        "_expect",
        "_fields",
        "_host",
        "_hosts",
        "_max_size",
        "_size",
        "_transfer_encoding",
        "_upgrade",
        "url",
    )

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self.url = b""
        self._size = 0
        self._fields: list[tuple[bytes, bytes]] = []
        self._host: bytes | None = None
        self._hosts = 0
        self._content_length: bytes | None = None
        self._transfer_encoding: bytes | None = None
        self._connection_values: list[bytes] = []
        self._upgrade: bytes | None = None
        self._expect = False

    def begin(self) -> None:
        self.url = b""
        self._size = 0
        self._fields = []
        self._host = None
        self._hosts = 0
        self._content_length = None
        self._transfer_encoding = None
        self._connection_values = []
        self._upgrade = None
        self._expect = False

    def add_url(self, url: bytes) -> None:
        """A piece of the request target."""
        self.url += url
        self._size += len(url)
        if self._size > self._max_size:
            raise Refused(too_large())

    def add_field(self, name: bytes, value: bytes) -> None:
        """One header field, as the parser reports it."""
        size = self._size + len(name) + len(value) + 4
        self._size = size
        if size > self._max_size:
            raise Refused(too_large())
        name = name.lower()
        if value and (value[-1] == 32 or value[-1] == 9):  # llhttp keeps trailing spaces, tabs
            value = value.rstrip(b" \t")
        kind = _FIELDS.get(name)
        if kind is None:
            self._fields.append((name, value))
        elif kind == _HOST:
            self._host = value
            self._hosts += 1
            self._fields.append((name, value))
        elif kind == _CONTENT_LENGTH:
            if self._content_length is not None:
                raise Refused(bad_request("The request has more than one Content-Length."))
            self._content_length = value
            self._fields.append((name, value))
        elif kind == _TRANSFER_ENCODING:
            if self._transfer_encoding is not None:
                raise Refused(bad_request("The request has more than one Transfer-Encoding."))
            self._transfer_encoding = value
        elif kind == _CONNECTION:
            self._connection_values.append(value)
        elif kind == _UPGRADE:
            self._upgrade = value
        elif kind == _EXPECT:
            self._expect = value.lower() == b"100-continue"

    def checked(
        self, method: bytes, version: str, client: tuple[str, int], upgrading: bool
    ) -> Checked:
        """The complete head as a request (`upgrading`: the parser takes it for an upgrade);
        `Refused` when it cannot be one."""
        if version != "1.1" and version != "1.0":
            raise Refused(
                error_reply(
                    505, "http_version_not_supported", "The gateway speaks HTTP/1.1 and 1.0."
                )
            )
        url = self.url
        query_at = query_start(url)
        if query_at < 0:
            raise Refused(
                bad_request("The request target must be a path, optionally with a query.")
            )
        if self._hosts > 1 or (self._hosts == 0 and version == "1.1"):
            raise Refused(bad_request("An HTTP/1.1 request needs exactly one Host."))
        body = NO_BODY
        length: int | None = None
        if self._transfer_encoding is not None:
            if self._content_length is not None:
                raise Refused(
                    bad_request("A request cannot have both Content-Length and Transfer-Encoding.")
                )
            if self._transfer_encoding.lower() != b"chunked":
                raise Refused(
                    bad_request("The only Transfer-Encoding the gateway accepts is chunked.")
                )
            if version == "1.0":
                raise Refused(bad_request("An HTTP/1.0 request cannot use Transfer-Encoding."))
            body = CHUNKED
        elif self._content_length is not None:
            length = int(self._content_length)
            if length:
                body = LENGTH
        fields = self._fields
        if self._connection_values:
            nominated = nominated_fields(self._connection_values)
            if nominated:
                fields = [field for field in fields if field[0] not in nominated]
        upgrade = self._upgrade if upgrading else None
        set_aside = upgrade is not None and body != NO_BODY
        if set_aside:
            # llhttp hands what follows an upgrade head to the new protocol; a body comes first,
            # so the upgrade is ignored and a fresh parser reads the body.
            upgrade = None
        request = Request(
            _METHODS.get(method) or method.decode("ascii"),
            url,
            url[:query_at],
            url[query_at + 1 :],
            version,
            fields,
            client,
            upgrade,
            body != NO_BODY,
        )
        return Checked(
            request, body, length, self._host, self._expect and version == "1.1", set_aside
        )
