"""The credentials a request presents where the spec says they travel; the request without them.

Headers are matched case-insensitively, query parameters and cookies by exact name. A
credential sent more than once with different values is ambiguous; the caller answers 400.
What keyward verified is stripped before forwarding; everything else travels untouched (query
parameters keep their original encoding and order).
"""

from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_plus

from keyward.core.routing import Credential, Location

IDENTITY_PREFIX: Final = b"x-keyward-"
_HEADER: Final = Location.HEADER  # compiled code reads a constant faster than a class member
_COOKIE: Final = b"cookie"
_HOST: Final = b"host"


class AmbiguousCredential(Exception):
    """A credential was sent more than once with different values."""

    def __init__(self, credential: Credential) -> None:
        super().__init__(credential.name)
        self.credential = credential


def _decode(raw: bytes) -> str:
    return raw.decode("latin-1")


class Presented:
    """The credentials of one request, parsed on first use."""

    def __init__(self, headers: list[tuple[bytes, bytes]], query: bytes) -> None:
        self._headers = headers
        self._query = query
        self._by_query: dict[str, list[str]] | None = None
        self._by_cookie: dict[str, list[str]] | None = None

    def value(self, credential: Credential) -> str | None:
        """The credential's value, None when absent; raises AmbiguousCredential."""
        if credential.location is _HEADER:
            # Headers are few: a scan finds the value asked for without indexing them all.
            wanted = credential.raw_name
            first: bytes | None = None
            for name, raw in self._headers:
                if name == wanted:
                    if first is None:
                        first = raw
                    elif raw != first:
                        raise AmbiguousCredential(credential)
            return None if first is None else _decode(first)
        values = self._index(credential.location).get(credential.name)
        if not values:
            return None
        first_value = values[0]
        if any(value != first_value for value in values[1:]):
            raise AmbiguousCredential(credential)
        return first_value

    def _index(self, location: Location) -> dict[str, list[str]]:
        if location is Location.QUERY:
            if self._by_query is None:
                self._by_query = {}
                for parameter, text, _ in query_pairs(self._query):
                    self._by_query.setdefault(parameter, []).append(text)
            return self._by_query
        if self._by_cookie is None:
            self._by_cookie = {}
            for header, raw in self._headers:
                if header == _COOKIE:
                    for cookie, text, _ in cookie_pairs(raw):
                        self._by_cookie.setdefault(cookie, []).append(text)
        return self._by_cookie


def query_pairs(query: bytes) -> list[tuple[str, str, bytes]]:
    """(name, value, the pair as written) for each `name=value` of a raw query string."""
    pairs = []
    for raw in query.split(b"&"):
        if not raw:
            continue
        name, _, value = raw.partition(b"=")
        pairs.append((unquote_plus(_decode(name)), unquote_plus(_decode(value)), raw))
    return pairs


def cookie_pairs(header: bytes) -> list[tuple[str, str, bytes]]:
    """(name, value, the cookie as written) for each cookie of a Cookie header."""
    pairs = []
    for written in header.split(b";"):
        raw = written.strip()
        if not raw:
            continue
        name, _, value = raw.partition(b"=")
        text = _decode(value.strip())
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        pairs.append((_decode(name.strip()), text, raw))
    return pairs


def without(
    headers: list[tuple[bytes, bytes]],
    query: bytes,
    credentials: Iterable[Credential],
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and query to forward: `credentials` removed, and every `X-Keyward-*` header
    and `Host` (the gateway sets those itself)."""
    header_names: set[bytes] = set()
    query_names: set[str] = set()
    cookie_names: set[str] = set()
    for credential in credentials:
        if credential.location is Location.HEADER:
            header_names.add(credential.name.encode("latin-1"))
        elif credential.location is Location.QUERY:
            query_names.add(credential.name)
        else:
            cookie_names.add(credential.name)
    return stripped(
        headers, query, frozenset(header_names), frozenset(query_names), frozenset(cookie_names)
    )


def _is_identity(name: bytes) -> bool:
    """Whether a field is keyward's to set: `X-Keyward-*`, also spelt with underscores (some
    upstreams read `X_Keyward_Key_Id` as the same field)."""
    return name[:2] in (b"x-", b"x_") and name[:10].replace(b"_", b"-") == IDENTITY_PREFIX


def stripped(
    headers: list[tuple[bytes, bytes]],
    query: bytes,
    header_names: frozenset[bytes],
    query_names: frozenset[str],
    cookie_names: frozenset[str],
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """`without`, for credentials given by where they travel: lower-cased header names, query
    parameter names and cookie names."""
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name in header_names or name == _HOST or _is_identity(name):
            continue
        if name == _COOKIE and cookie_names:
            rest = [raw for cname, _, raw in cookie_pairs(value) if cname not in cookie_names]
            if rest:
                kept.append((name, b"; ".join(rest)))
            continue
        kept.append((name, value))
    if query_names:
        query = b"&".join([raw for name, _, raw in query_pairs(query) if name not in query_names])
    return kept, query


def redacted(path: bytes, query: bytes, names: frozenset[str]) -> str:
    """The request target for the access log, with the values of key parameters replaced."""
    if not query:
        return _decode(path)
    if names:
        query = b"&".join(
            [
                raw.partition(b"=")[0] + b"=REDACTED" if name in names else raw
                for name, _, raw in query_pairs(query)
            ]
        )
    return f"{_decode(path)}?{_decode(query)}"
