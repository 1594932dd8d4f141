"""What crosses the gateway: the fields dropped and added on the request sent upstream and on
the response relayed back."""

import re
from typing import Final

from keyward.gateway.http._replies import HeadInjectionError, check_lines, status_line

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)

# Connection options that name no header field.
_CONNECTION_OPTIONS: Final = frozenset({b"close", b"keep-alive", b"upgrade"})

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# What a request target cannot contain: one search, cheaper than a `find` for each.
_SPACE_CR_OR_LF: Final = re.compile(rb"[ \r\n]")

_DROP: Final = 0
_FORWARDED_FOR: Final = 1
_FORWARDED: Final = 2
_VIA: Final = 3
_CONTENT_LENGTH: Final = 4
_TRANSFER_ENCODING: Final = 5
_CONNECTION: Final = 6

# Fields of the handler's upstream request headers the engine does not copy as they are.
_REQUEST_FIELDS: Final = dict.fromkeys(HOP_BY_HOP, _DROP) | {
    b"host": _DROP,
    b"content-length": _DROP,
    b"expect": _DROP,
    b"x-forwarded-proto": _DROP,
    b"x-forwarded-host": _DROP,
    b"x-forwarded-for": _FORWARDED_FOR,
    b"forwarded": _FORWARDED,
    b"via": _VIA,
}

# Fields of an upstream response the engine does not copy as they are.
_RESPONSE_FIELDS: Final = dict.fromkeys(HOP_BY_HOP, _DROP) | {
    b"connection": _CONNECTION,
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"via": _VIA,
}


# The fields above by the first letter of their names: an index of 128 lists of (name, kind).
_Index = list[list[tuple[bytes, int]]]


def _by_initial(fields: dict[bytes, int]) -> _Index:
    index: _Index = [[] for _ in range(128)]
    for name, kind in fields.items():
        index[name[0]].append((name, kind))
    return index


_REQUEST_INDEX: Final = _by_initial(_REQUEST_FIELDS)
_RESPONSE_INDEX: Final = _by_initial(_RESPONSE_FIELDS)


# Field names are told apart byte by byte, in compiled code: calling a method of `bytes` (lower,
# find, strip) from compiled code costs more than comparing a name through.


def _starts_with_name(data: bytes, name: bytes) -> bool:
    """Whether `data` begins with `name` (lower-case), ignoring the case of letters."""
    if len(data) < len(name):
        return False
    for i in range(len(name)):
        wanted = name[i]
        found = data[i]
        if found != wanted and (found | 0x20 != wanted or wanted < 97 or wanted > 122):
            return False
    return True


def _kind(name: bytes, index: _Index) -> int:
    """The kind of a header field `name` in `index`, or -1 when it is copied as it is."""
    if not name or name[0] >= 128:
        return -1
    for candidate, kind in index[name[0] | 0x20]:
        if _is_token(name, candidate):
            return kind
    return -1


def _line_kind(line: bytes, index: _Index) -> tuple[int, int]:
    """The kind of a field line (`name:value`) in `index` and where its value starts; kind -1
    when the line is copied as it is."""
    if not line or line[0] >= 128:
        return -1, 0
    for candidate, kind in index[line[0] | 0x20]:
        size = len(candidate)
        if len(line) > size and line[size] == 58 and _starts_with_name(line, candidate):  # ":"
            return kind, size + 1
    return -1, 0


def _trimmed(data: bytes, start: int) -> bytes:
    """`data` from `start`, without the spaces and tabs around it."""
    end = len(data)
    while start < end and (data[start] == 32 or data[start] == 9):
        start += 1
    while end > start and (data[end - 1] == 32 or data[end - 1] == 9):
        end -= 1
    return data[start:end]


def _is_token(value: bytes, lower: bytes) -> bool:
    """Whether `value` is `lower`, ignoring the case of letters."""
    return len(value) == len(lower) and _starts_with_name(value, lower)


# How a relayed response body is framed towards the client.
BODY_NONE: Final = 0
BODY_AS_IS: Final = 1  # the upstream's Content-Length holds
BODY_CHUNKED: Final = 2  # re-chunked for an HTTP/1.1 client
BODY_UNTIL_CLOSE: Final = 3  # an HTTP/1.0 client reads until the connection closes


def nominated_fields(connection_values: list[bytes]) -> frozenset[bytes]:
    """The field names listed in Connection header values, lower-cased."""
    names = {
        token.strip(b" \t").lower() for value in connection_values for token in value.split(b",")
    }
    return frozenset(names - _CONNECTION_OPTIONS - {b""})


def forwarded_node(address: str) -> bytes:
    """A client address as an RFC 7239 node: IPv6 in brackets and quotes."""
    if ":" in address:
        return b'"[%s]"' % address.encode()
    return address.encode()


def forwarded_value(value: bytes) -> bytes:
    """A Forwarded parameter value: a token as it is, anything else as a quoted-string."""
    if _TOKEN.fullmatch(value):
        return value
    return b'"%s"' % value.replace(b"\\", b"\\\\").replace(b'"', b'\\"')


def host_field(scheme: str, host: str, port: int) -> bytes:
    """The Host value for an upstream: the port only when it is not the scheme's default."""
    name = f"[{host}]" if ":" in host else host
    if port == (443 if scheme == "https" else 80):
        return name.encode("idna")
    return f"{name}:{port}".encode("idna")


class Hop:
    """This gateway as a hop for one client: the head of each request it sends upstream.

    The handler's headers are copied except hop-by-hop and framing fields and those the engine
    owns. X-Forwarded-For, Forwarded and Via among them are extended with this hop;
    X-Forwarded-Proto, X-Forwarded-Host and Host are set. The fields this hop adds depend only
    on the client, its Host and its HTTP version, so they are made once per connection.
    """

    __slots__ = ("_added", "_added_host", "_added_version", "_address", "_node", "_pseudonym")

    def __init__(self, client_address: str, pseudonym: bytes) -> None:
        self._address = client_address.encode()
        self._node = forwarded_node(client_address)
        self._pseudonym = pseudonym
        # The fields added for the last Host and version: a client sends the same on each
        # request of its connection.
        self._added_host: bytes | None = None
        self._added_version = ""
        self._added = b""

    def request_head(
        self,
        method: bytes,
        target: bytes,
        host: bytes,
        headers: list[tuple[bytes, bytes]],
        *,
        client_host: bytes | None,
        version: str,
        framing: bytes,
        upgrade: bytes | None,
    ) -> bytes:
        """`framing` is the engine's Content-Length or Transfer-Encoding line (CRLF ended) for
        the body it sends; `upgrade` the protocol of a request to be tunnelled.

        What the handler gives (the target, its fields) is checked for CR and LF; what the
        client sent passed llhttp, which refuses them, and the rest is the engine's own."""
        if _SPACE_CR_OR_LF.search(target) is not None:
            if target.find(b" ") >= 0:
                raise ValueError("a request target cannot contain a space")
            raise HeadInjectionError("a request target cannot contain CR or LF")
        given: list[bytes] = []
        lines = 0
        prior: dict[int, bytes] | None = None
        index = _REQUEST_INDEX
        for name, value in headers:
            kind = _kind(name, index)
            if kind < 0:
                given.append(b"%s: %s\r\n" % (name, value))
                lines += 1
            elif kind != _DROP:
                if prior is None:
                    prior = {}
                earlier = prior.get(kind)
                prior[kind] = value if earlier is None else earlier + b", " + value
        if prior is None:
            if version != self._added_version or client_host != self._added_host:
                self._added = self._fields(client_host, version, {})[0]
                self._added_host = client_host
                self._added_version = version
            ours = self._added
        else:
            # Extending the handler's X-Forwarded-For, Forwarded or Via: checked with its fields.
            added = self._fields(client_host, version, prior)
            given.append(added[0])
            lines += added[1]
            ours = b""
        checked = b"".join(given)
        check_lines(checked, lines)
        upgrading = b"" if upgrade is None else b"connection: upgrade\r\nupgrade: %s\r\n" % upgrade
        # Formatting fixed parts compiles to one copy of each, cheaper than joining a list.
        return b"%s %s HTTP/1.1\r\nhost: %s\r\n%s%s%s%s\r\n" % (
            method,
            target,
            host,
            checked,
            ours,
            upgrading,
            framing,
        )

    def _fields(
        self, client_host: bytes | None, version: str, prior: dict[int, bytes]
    ) -> tuple[bytes, int]:
        """The fields this hop adds, CRLF ended, and how many lines they are."""

        def extended(kind: int, value: bytes) -> bytes:
            earlier = prior.get(kind)
            return value if earlier is None else earlier + b", " + value

        element = b"for=" + self._node
        lines = []
        if client_host is not None:
            element += b";host=" + forwarded_value(client_host)
            lines.append(b"x-forwarded-host: " + client_host)
        lines += [
            b"x-forwarded-for: " + extended(_FORWARDED_FOR, self._address),
            b"x-forwarded-proto: http",
            b"forwarded: " + extended(_FORWARDED, element + b";proto=http"),
            b"via: " + extended(_VIA, version.encode() + b" " + self._pseudonym),
        ]
        return b"\r\n".join(lines) + b"\r\n", len(lines)


def response_head(
    status: int,
    lines: list[bytes],
    *,
    via: bytes,
    extra: list[tuple[bytes, bytes]],
    head_request: bool,
    http10: bool,
    keep_alive: bool,
) -> tuple[bytes, int, bool, bool]:
    """The head relayed to the client, how its body is framed towards the client, whether the
    client connection stays, and whether the upstream's body lasts until it closes.

    `lines` are the upstream's head lines as llhttp accepted them: the status line (not
    relayed), then the field lines.
    Hop-by-hop fields and those the upstream named in Connection are dropped, Via is extended
    and the handler's `extra` fields are added. A Content-Length is kept; any other body is
    re-chunked for HTTP/1.1 clients and delimited by closing the connection for HTTP/1.0 ones.
    Raises ValueError for a transfer coding other than chunked, which the gateway cannot relay.
    """
    kept: list[bytes] = []
    content_length: bytes | None = None
    chunked = False
    prior_via = b""
    connection_values: list[bytes] | None = None
    index = _RESPONSE_INDEX
    for i in range(1, len(lines)):
        line = lines[i]
        kind, start = _line_kind(line, index)
        if kind < 0:
            if line:
                kept.append(line)
        elif kind == _CONTENT_LENGTH:
            content_length = _trimmed(line, start)
        elif kind == _TRANSFER_ENCODING:
            if not _is_token(_trimmed(line, start), b"chunked"):
                raise ValueError("the upstream used a transfer coding other than chunked")
            chunked = True
        elif kind == _VIA:
            prior_via += _trimmed(line, start) + b", "
        elif kind == _CONNECTION:
            value = _trimmed(line, start)
            if not _is_token(value, b"keep-alive") and not _is_token(value, b"close"):
                if connection_values is None:
                    connection_values = []
                connection_values.append(value)
    if connection_values is not None:
        nominated = nominated_fields(connection_values)
        kept = [line for line in kept if line[: line.find(b":")].lower() not in nominated]
    kept.append(b"")  # joined, every kept line ends with CRLF
    # The upstream's fields passed llhttp, which refuses CR and LF in them, and this hop's Via
    # entry was checked when the server was made; the handler's fields are checked here.
    added = b""
    if extra:
        added = b"".join([b"%s: %s\r\n" % (name, value) for name, value in extra])
        check_lines(added, len(extra))
    until_close = False
    framing = b""
    if head_request or status in (204, 304):
        body = BODY_NONE
        if content_length is not None and status != 204:
            framing = b"content-length: %s\r\n" % content_length
    elif content_length is not None and not chunked:
        body = BODY_AS_IS
        framing = b"content-length: %s\r\n" % content_length
    else:
        until_close = not chunked
        if http10:
            body = BODY_UNTIL_CLOSE
            keep_alive = False
        else:
            body = BODY_CHUNKED
            framing = b"transfer-encoding: chunked\r\n"
    connection = b""
    if not keep_alive:
        connection = b"connection: close\r\n"
    elif http10:
        connection = b"connection: keep-alive\r\n"
    head = b"%s%svia: %s%s\r\n%s%s%s\r\n" % (
        status_line(status),
        b"\r\n".join(kept),
        prior_via,
        via,
        added,
        framing,
        connection,
    )
    return head, body, keep_alive, until_close


def switching_head(lines: list[bytes], *, via: bytes, extra: list[tuple[bytes, bytes]]) -> bytes:
    """The 101 relayed to the client before a tunnel opens: the upstream's Upgrade is kept.
    `lines` are as `response_head` takes them."""
    fields = [line.partition(b":") for line in lines[1:] if line]
    nominated = nominated_fields(
        [value for name, _, value in fields if name.lower() == b"connection"]
    )
    parts = [status_line(101)]
    count = 1
    prior_via = b""
    for name, _, value in fields:
        lname = name.lower()
        value = value.strip(b" \t")
        if lname == b"upgrade":
            parts += (b"upgrade: ", value, b"\r\n")
            count += 1
        elif lname == b"via":
            prior_via += value + b", "
        elif lname not in HOP_BY_HOP and lname not in nominated:
            parts += (name, b": ", value, b"\r\n")
            count += 1
    parts += (b"via: ", prior_via, via, b"\r\nconnection: upgrade\r\n")
    count += 2
    for name, value in extra:
        parts += (name, b": ", value, b"\r\n")
        count += 1
    parts.append(b"\r\n")
    head = b"".join(parts)
    check_lines(head, count + 1)
    return head
