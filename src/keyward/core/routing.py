"""Which operation of an API's spec a gateway request is, and which credentials it needs.

`compile_routes` turns a stored OpenAPI 3 document and its key policy into a `RouteTable`, a
trie with one level per path segment, built once; `RouteTable.match` answers a request with
its `Route` or a `RouteMiss` (404 or 405) with a dict lookup per segment and, where the spec
has mixed segments, a few string searches. `Mounts` finds which API of the gateway a request
path is for.

Paths are compared as OpenAPI writes them: segment by segment, each percent-decoded on its
own (so "%2F" stays inside its segment), trailing slash significant. At each segment a literal
is preferred to a mixed segment (`v{version}`, `{id}.json`) and a mixed segment to a whole
parameter (`{id}`); when the preferred branch fails further down, the next one is tried. Empty
segments inside a path and "." or ".." segments, even percent-encoded, never match anything.

An operation's `Security` is the `security` the export gives acquirers
(`operation_requirements`), as credentials the gateway can look for; only alternatives no
request can satisfy through a gateway are left out (see `compile_routes`).
"""

import re
from collections.abc import Callable, ItemsView, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import unquote

from keyward.core.openapi import Document
from keyward.core.openapi.documents import dereferenced, path_operations
from keyward.core.openapi.security import (
    KeyLocation,
    KeyRole,
    Location,
    operation_requirements,
    security_schemes,
)

__all__ = [
    "AUTHORIZATION",
    "RESERVED_SEGMENTS",
    "Credential",
    "KeyRole",
    "Location",
    "Mounts",
    "Route",
    "RouteMiss",
    "RouteTable",
    "Security",
    "compile_routes",
    "mounts_nest",
]

T = TypeVar("T")

AUTHORIZATION: Final = "authorization"
# Scheme types whose credential only the provider can check: it travels in `Authorization`.
_FORWARDED_TYPES: Final = frozenset({"http", "oauth2", "openIdConnect"})
_PARAMETER: Final = re.compile(r"\{[^{}/]+\}")
_DOT_SEGMENTS: Final = frozenset({".", ".."})
_LOCATIONS: Final = frozenset(location.value for location in Location)


@dataclass(frozen=True, slots=True)
class Credential:
    """One credential a request must carry: where, under which name, and what keyward does
    with it (`KEY` is verified, `ACQUISITION_ID` must be the key's acquisition, `PASSTHROUGH`
    must be present and is forwarded). Header names are lower-case; query and cookie names
    are as the spec writes them."""

    scheme: str
    location: Location
    name: str
    role: KeyRole
    raw_name: bytes = field(init=False, repr=False, compare=False)
    """`name` as the bytes a request carries it in (latin-1)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_name", self.name.encode("latin-1", "replace"))


@dataclass(frozen=True, slots=True)
class Security:
    """What satisfies an operation: any one of `alternatives` (each needs all its credentials),
    or nothing at all when `anonymous`.

    `Security((), anonymous=True)` is a public operation; `Security((), anonymous=False)` is
    one no request can satisfy (every alternative needs a credential the gateway cannot
    receive, such as a TLS client certificate).
    """

    alternatives: tuple[tuple[Credential, ...], ...]
    anonymous: bool
    policy_keys: tuple[Credential, ...] = field(default=(), repr=False, compare=False)
    """Every place the API's key policy says a keyward credential travels, for any operation:
    stripped from what is forwarded, whether this operation checks it or not."""
    verified: tuple[Credential, ...] = field(init=False, repr=False, compare=False)
    """Every credential keyward checks itself (not passthrough), once each, in order."""
    keys: tuple[Credential, ...] = field(init=False, repr=False, compare=False)
    """The keyward keys among `verified`."""
    verified_headers: frozenset[bytes] = field(init=False, repr=False, compare=False)
    verified_queries: frozenset[str] = field(init=False, repr=False, compare=False)
    verified_cookies: frozenset[str] = field(init=False, repr=False, compare=False)
    """Where the credentials of `verified` and `policy_keys` travel (header names, query
    parameters, cookies): what forwarding strips."""

    def __post_init__(self) -> None:
        verified = tuple(
            dict.fromkeys(
                [
                    credential
                    for alternative in self.alternatives
                    for credential in alternative
                    if credential.role is not KeyRole.PASSTHROUGH
                ]
            )
        )
        object.__setattr__(self, "verified", verified)
        keys = tuple(credential for credential in verified if credential.role is KeyRole.KEY)
        object.__setattr__(self, "keys", keys)
        stripped = verified + self.policy_keys
        headers = frozenset(c.raw_name for c in stripped if c.location is Location.HEADER)
        queries = frozenset(c.name for c in stripped if c.location is Location.QUERY)
        cookies = frozenset(c.name for c in stripped if c.location is Location.COOKIE)
        object.__setattr__(self, "verified_headers", headers)
        object.__setattr__(self, "verified_queries", queries)
        object.__setattr__(self, "verified_cookies", cookies)


@dataclass(frozen=True, slots=True)
class Route:
    """One operation of the spec: `method` upper-case, `template` the spec's path as written."""

    method: str
    template: str
    operation_id: str | None
    tags: frozenset[str]
    security: Security


@dataclass(frozen=True, slots=True)
class RouteMiss:
    """No operation: 404 when no path of the spec matches, 405 when one does but not with the
    request's method (`allow` lists the methods that path answers, sorted)."""

    status: int
    allow: tuple[str, ...] = ()


_NOT_FOUND: Final = RouteMiss(404)


class _Mixed:
    """A segment of literal text and parameters (`v{version}`, `{base}...{head}`), each
    parameter taking one or more characters.

    Matched without a regex: the literal parts between parameters are each found at their
    leftmost place, which finds a match whenever there is one, in time linear in the segment
    (a backtracking regex takes time cubic in it for three parameters).
    """

    __slots__ = ("head", "middle", "shortest", "tail")

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.head, *middle, self.tail = parts
        self.middle = tuple(middle)
        self.shortest = sum(map(len, parts)) + len(parts) - 1

    def rank(self) -> tuple[int, int, tuple[str, ...]]:
        """Mixed segments are tried most literal characters first, then fewest parameters."""
        parameters = len(self.middle) + 1
        literal = self.shortest - parameters
        return (-literal, parameters, (self.head, *self.middle, self.tail))

    def matches(self, segment: str) -> bool:
        if (
            len(segment) < self.shortest
            or not segment.startswith(self.head)
            or not segment.endswith(self.tail)
        ):
            return False
        position, end = len(self.head), len(segment) - len(self.tail)
        for literal in self.middle:
            found = segment.find(literal, position + 1, end)
            if found < 0:
                return False
            position = found + len(literal)
        return end > position


class _Node:
    """One segment position of the trie: its children by kind, and the operations of the
    templates that end here by request method (HEAD answered by GET where the spec has no
    HEAD)."""

    __slots__ = ("_building", "allow", "literals", "mixed", "parameter", "routes")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.mixed: tuple[tuple[_Mixed, _Node], ...] = ()
        self.parameter: _Node | None = None
        self.routes: dict[str, Route] = {}
        self.allow: tuple[str, ...] = ()
        # Mixed children while the trie is built, by their literal parts.
        self._building: dict[tuple[str, ...], _Node] = {}

    def literal(self, segment: str) -> "_Node":
        return self.literals.setdefault(_decode(segment), _Node())

    def child(self, segment: str) -> "_Node":
        """The child for one segment of a path template, made if it is not there yet."""
        if _PARAMETER.fullmatch(segment):
            if self.parameter is None:
                self.parameter = _Node()
            return self.parameter
        parts = tuple(_decode(part) for part in _PARAMETER.split(segment))
        if len(parts) == 1:
            return self.literal(segment)
        return self._building.setdefault(parts, _Node())

    def finish(self) -> None:
        """Fix the order mixed children are tried in and what each node answers."""
        mixed = [(_Mixed(parts), node) for parts, node in self._building.items()]
        self.mixed = tuple(sorted(mixed, key=lambda child: child[0].rank()))
        self._building = {}
        if "GET" in self.routes and "HEAD" not in self.routes:
            self.routes["HEAD"] = self.routes["GET"]
        self.allow = tuple(sorted(self.routes))
        for node in self.literals.values():
            node.finish()
        for _, node in self.mixed:
            node.finish()
        if self.parameter is not None:
            self.parameter.finish()

    def depth(self) -> int:
        """How many segments the longest path below this node has."""
        children = [*self.literals.values(), *[node for _, node in self.mixed]]
        if self.parameter is not None:
            children.append(self.parameter)
        return max((1 + node.depth() for node in children), default=0)


def _decode(segment: str) -> str:
    """A path segment percent-decoded; bytes that are not UTF-8 stay distinct."""
    return unquote(segment, errors="surrogateescape") if "%" in segment else segment


def _find(node: _Node, segments: list[str], index: int, method: str) -> Route | None:
    """The first operation for `method` in priority order below `node`, backtracking."""
    if index == len(segments):
        return node.routes.get(method)
    segment = segments[index]
    child = node.literals.get(segment)
    if child is not None:
        found = _find(child, segments, index + 1, method)
        if found is not None:
            return found
    for mixed, child in node.mixed:
        if mixed.matches(segment):
            found = _find(child, segments, index + 1, method)
            if found is not None:
                return found
    if node.parameter is not None and segment:
        return _find(node.parameter, segments, index + 1, method)
    return None


def _allowed(node: _Node, segments: list[str], index: int, allow: set[str]) -> None:
    """Add to `allow` the methods of every template below `node` that matches the path."""
    if index == len(segments):
        allow.update(node.allow)
        return
    segment = segments[index]
    child = node.literals.get(segment)
    if child is not None:
        _allowed(child, segments, index + 1, allow)
    for mixed, child in node.mixed:
        if mixed.matches(segment):
            _allowed(child, segments, index + 1, allow)
    if node.parameter is not None and segment:
        _allowed(node.parameter, segments, index + 1, allow)


class RouteTable:
    """The operations of one API, ready to match requests (built by `compile_routes`).

    `routes` lists every operation compiled, in document order.
    """

    __slots__ = ("_depth", "_root", "routes")

    def __init__(self, root: _Node, routes: tuple[Route, ...]) -> None:
        self._root = root
        self._depth = root.depth()
        self.routes = routes

    def match(self, method: str, path: str) -> Route | RouteMiss:
        """The operation for a request: `method` as on the request line, `path` the raw path
        below the gateway's mount (still percent-encoded, without the query), which starts with
        the API's base path.

        When several templates match, the one preferred segment by segment (literal, then
        mixed, then parameter) that has the method wins. When templates match but none has
        the method, the miss is 405 and `allow` is every method of every matching template
        (exactly the methods that would not be 405 on this path), HEAD included wherever GET
        answers it. A matched HEAD without its own operation is the GET `Route`.
        """
        if not path.startswith("/") or "//" in path or path.count("/") > self._depth:
            return _NOT_FOUND
        segments = path[1:].split("/")
        for index, segment in enumerate(segments):
            if "%" in segment:
                segment = segments[index] = _decode(segment)
            if segment in _DOT_SEGMENTS:
                return _NOT_FOUND
        found = _find(self._root, segments, 0, method)
        if found is not None:
            return found
        allow: set[str] = set()
        _allowed(self._root, segments, 0, allow)
        if not allow:
            return _NOT_FOUND
        return RouteMiss(405, tuple(sorted(allow)))


def _credentials(doc: Document, locations: Sequence[KeyLocation]) -> dict[str, Credential | None]:
    """Each scheme an operation may require, as the credential the gateway looks for; None
    for those no request can satisfy through the gateway."""
    found: dict[str, Credential | None] = {}
    for name, written in security_schemes(doc).items():
        scheme, _ = dereferenced(doc, written, ("components", "securitySchemes", name))
        if not isinstance(scheme, dict):
            found[name] = None
            continue
        kind, where = scheme.get("type"), scheme.get("in")
        if kind == "apiKey" and isinstance(where, str) and where in _LOCATIONS:
            # Not bound by the policy: the provider's own key, where the spec says.
            found[name] = _credential(
                name, Location(where), str(scheme.get("name", "")), KeyRole.PASSTHROUGH
            )
        elif kind in _FORWARDED_TYPES:
            found[name] = Credential(name, Location.HEADER, AUTHORIZATION, KeyRole.PASSTHROUGH)
        else:
            found[name] = None
    for location in locations:
        found[location.scheme] = _credential(
            location.scheme, location.location, location.name, location.role
        )
    return found


def _credential(scheme: str, location: Location, name: str, role: KeyRole) -> Credential:
    return Credential(scheme, location, name.lower() if location is Location.HEADER else name, role)


def _security(
    doc: Document,
    operation: Mapping[str, Any],
    locations: Sequence[KeyLocation],
    credentials: Mapping[str, Credential | None],
    policy_keys: tuple[Credential, ...],
) -> Security:
    requirements = operation_requirements(doc, operation, locations)
    alternatives: list[tuple[Credential, ...]] = []
    for requirement in requirements:
        needed = [credentials.get(scheme) for scheme in requirement]
        if requirement and all(needed):
            alternatives.append(tuple(c for c in needed if c is not None))
    anonymous = not requirements or any(not requirement for requirement in requirements)
    return Security(tuple(alternatives), anonymous, policy_keys)


def compile_routes(
    document: Document, locations: Sequence[KeyLocation], base_path: str = ""
) -> RouteTable:
    """The route table of an API: its spec (OpenAPI 3.0 or 3.1), its key policy, and the path
    its operations are served below (`export.base_path`, "" for none; empty segments in it
    are ignored).

    Path items reached through a local `$ref` count as written there. A template that can
    never match (an empty segment inside it, a "." or ".." segment) is left out. Templates of
    the same shape ("/pets/{id}" and "/pets/{petId}") are one path; for a method both define,
    the first in document order is the operation.

    Each operation's security is `operation_requirements` under the policy, turned into
    credentials: a scheme the policy binds travels as the policy says; an `http`, `oauth2`
    or `openIdConnect` scheme is the provider's to check, so it is a passthrough credential
    in the `Authorization` header (scopes are not checked); an `apiKey` scheme the policy
    does not bind is a passthrough where the spec declares it. An alternative that needs
    `mutualTLS` or a scheme the spec does not define cannot be satisfied through the gateway
    and is left out. An empty requirement (`{}`) makes the security `anonymous`, and so does
    `security: []` (public), which is also what the export says of an operation without any
    declared security under a policy of the spec's own apiKey schemes.
    """
    credentials = _credentials(document, locations)
    policy_keys = tuple(
        _credential(loc.scheme, loc.location, loc.name, loc.role)
        for loc in locations
        if loc.role is not KeyRole.PASSTHROUGH
    )
    root = _Node()
    below = root
    for segment in base_path.split("/"):
        if segment:
            below = below.literal(segment)
    routes: list[Route] = []
    paths = document.get("paths")
    for template, written in (paths if isinstance(paths, dict) else {}).items():
        if not isinstance(template, str) or not template.startswith("/"):
            continue
        segments = template[1:].split("/")
        if "" in segments[:-1] or any(_decode(s) in _DOT_SEGMENTS for s in segments):
            continue
        item, _ = dereferenced(document, written, ("paths", template))
        if not isinstance(item, dict):
            continue
        node = below
        for segment in segments:
            node = node.child(segment)
        for method, operation in path_operations(item):
            route = Route(
                method=method.upper(),
                template=template,
                operation_id=_string(operation.get("operationId")),
                tags=frozenset(tag for tag in _list(operation.get("tags")) if isinstance(tag, str)),
                security=_security(document, operation, locations, credentials, policy_keys),
            )
            routes.append(route)
            node.routes.setdefault(route.method, route)
    root.finish()
    return RouteTable(root, tuple(routes))


# What a new version does to security


def _by_operation(table: RouteTable) -> dict[str, Security]:
    """Each operation's security by "METHOD /template", the first of the same shape winning
    as in matching."""
    found: dict[str, Security] = {}
    for route in table.routes:
        found.setdefault(f"{route.method} {route.template}", route.security)
    return found


def public_operations(table: RouteTable) -> list[str]:
    """The operations anyone may call without a key ("METHOD /template", sorted)."""
    return sorted(key for key, security in _by_operation(table).items() if security.anonymous)


def _needs(alternative: tuple[Credential, ...]) -> frozenset[tuple[Location, str, KeyRole]]:
    # A scheme renamed but still read in the same place with the same role is the same need.
    return frozenset((c.location, c.name, c.role) for c in alternative)


def weakened_operations(before: RouteTable, after: RouteTable) -> list[str]:
    """The operations of both tables that `after` lets through with less ("METHOD /template",
    sorted): public now but not before, or with an alternative that does not need everything
    some alternative of before needed (a scheme removed from it, or an alternative added)."""
    return _weakened(before, after, lambda then, now: _needs(then) <= _needs(now))


# How much keyward checks of a credential, by its policy role.
_STRENGTH: Final = {KeyRole.PASSTHROUGH: 0, KeyRole.ACQUISITION_ID: 1, KeyRole.KEY: 2}


def weakened_by_policy(before: RouteTable, after: RouteTable) -> list[str]:
    """The operations of one spec that a new key policy (`after`) checks less: a scheme they
    need no longer verified as a key, or no longer checked at all. Reading a credential in
    another place is not less."""

    def covers(then: tuple[Credential, ...], now: tuple[Credential, ...]) -> bool:
        strength = {c.scheme: _STRENGTH[c.role] for c in now}
        return all(strength.get(c.scheme, -1) >= _STRENGTH[c.role] for c in then)

    return _weakened(before, after, covers)


def _weakened(
    before: RouteTable,
    after: RouteTable,
    covers: Callable[[tuple[Credential, ...], tuple[Credential, ...]], bool],
) -> list[str]:
    """The operations whose security in `after` is public where it was not, or has an
    alternative that `covers` no alternative of `before`."""
    earlier = _by_operation(before)
    weakened = []
    for key, now in _by_operation(after).items():
        then = earlier.get(key)
        if then is None or then.anonymous:
            continue
        if now.anonymous or any(
            not any(covers(needed, alternative) for needed in then.alternatives)
            for alternative in now.alternatives
        ):
            weakened.append(key)
    return sorted(weakened)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# First path segments the gateway keeps for itself: its health and metrics endpoints and
# well-known URIs. No API is mounted there.
RESERVED_SEGMENTS: Final = frozenset({".well-known", "healthz", "livez", "metrics", "readyz"})


def mounts_nest(a: str, b: str) -> bool:
    """Whether two mounts are equal or one lies inside the other, segment by segment. The
    gateway picks the longest mount a path starts with, so of two nested mounts the inner one
    would take paths the outer one's spec documents."""
    outer, inner = sorted((a.split("/"), b.split("/")), key=len)
    return inner[: len(outer)] == outer


class Mounts(Generic[T]):
    """Every API of the gateway by mount path.

    Mount paths are like "petstore" or "acme/pets/v1": no leading or trailing slash, no empty
    segment, compared with the raw request path (an encoded character never matches). The
    empty mount "" takes every path no other mount takes.
    """

    __slots__ = ("_depth", "_mounts")

    def __init__(self, mounts: Mapping[str, T]) -> None:
        for mount in mounts:
            if mount and (mount.startswith("/") or mount.endswith("/") or "//" in mount):
                raise ValueError(
                    f"mount path {mount!r} must be segments joined by '/', "
                    "without a leading or trailing slash"
                )
        self._mounts = dict(mounts)
        self._depth = max((mount.count("/") + 1 for mount in self._mounts if mount), default=0)

    def items(self) -> ItemsView[str, T]:
        """Every mount path with what is mounted there."""
        return self._mounts.items()

    def resolve(self, path: str) -> tuple[T, str] | None:
        """The value mounted at the longest mount that is a whole-segment prefix of `path`
        ("/petstore/v1/pets" -> (api, "/v1/pets")), and the rest of the path ("" when the path
        is exactly the mount). None when nothing is mounted there."""
        if not path.startswith("/"):
            return None
        ends: list[int] = []
        position = 0
        while len(ends) < self._depth:
            position = path.find("/", position + 1)
            if position < 0:
                ends.append(len(path))
                break
            ends.append(position)
        for end in reversed(ends):
            mount = path[1:end]
            if mount and mount in self._mounts:
                return self._mounts[mount], path[end:]
        if "" in self._mounts:
            return self._mounts[""], path
        return None
