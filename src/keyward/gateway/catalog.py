"""What the gateway serves: every API by mount path with its compiled routes, and every offering.

The catalog is read from storage in one go and replaced as a whole when the change feed reports
a change to an API or an offering, so a request always sees one consistent catalog. Building it
compiles each API's current spec (the route trie and each operation's security); requests only
read it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import TypeAdapter

from keyward.core.openapi.export import OperationFilter
from keyward.core.openapi.security import KeyLocation, KeyRole, Location
from keyward.core.routing import Mounts, RouteTable, compile_routes
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.gateway import store
from keyward.gateway.http import Upstream
from keyward.verifier.limits import Limit

_durations = TypeAdapter(timedelta)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class GatewayApi:
    id: str
    workspace_id: str
    name: str
    upstream: Upstream
    upstream_path: bytes  # the upstream URL's path, without a trailing slash
    base_path: bytes  # the spec's server path, which the upstream URL stands for
    routes: RouteTable
    key_query_names: frozenset[str]  # query parameters carrying keys, redacted in logs
    header_names: dict[str, str]  # lower-cased -> as the policy writes it, for challenges


@dataclass(frozen=True, slots=True)
class GatewayOffering:
    id: str
    api_id: str
    operations: OperationFilter
    limits: tuple[Limit, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    mounts: Mounts[GatewayApi]
    offerings: dict[str, GatewayOffering]


EMPTY = Catalog(Mounts({}), {})


def upstream_of(url: str) -> tuple[Upstream, bytes]:
    """The upstream server of an API's upstream URL, and the path requests go below."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(scheme, 80)
    return Upstream(scheme, host, port), parts.path.rstrip("/").encode()


def _locations(stored: Iterable[dict[str, str]]) -> list[KeyLocation]:
    return [
        KeyLocation(
            item["scheme"],
            Location(item["in"]),
            item["name"],
            KeyRole(item["role"]),
            bool(item.get("synthetic", False)),
        )
        for item in stored
    ]


def _limit(item: dict[str, object]) -> Limit:
    period = _durations.validate_python(item["per"]).total_seconds()
    return Limit(str(item["scope"]), int(str(item["requests"])), period)


def load_catalog(database: Database) -> Catalog:
    """Every API with its current spec compiled, and every offering, from storage."""
    with database.transaction(write=False) as uow:
        apis = store.apis(uow.session)
        offerings = store.offerings(uow.session)
    mounted: dict[str, GatewayApi] = {}
    for row in apis:
        locations = _locations(row.key_locations)
        upstream, upstream_path = upstream_of(row.upstream_url)
        mounted[row.mount_path] = GatewayApi(
            id=row.id,
            workspace_id=row.workspace_id,
            name=row.name,
            upstream=upstream,
            upstream_path=upstream_path,
            base_path=row.base_path.encode(),
            routes=compile_routes(row.document, locations, row.base_path),
            header_names={
                location.name.lower(): location.name
                for location in locations
                if location.location is Location.HEADER
            },
            key_query_names=frozenset(
                location.name
                for location in locations
                if location.location is Location.QUERY and location.role is not KeyRole.PASSTHROUGH
            ),
        )
    return Catalog(
        Mounts(mounted),
        {
            row.id: GatewayOffering(
                row.id,
                row.api_id,
                OperationFilter(frozenset(row.operation_tags), frozenset(row.operation_ids)),
                tuple(_limit(item) for item in row.limits),
            )
            for row in offerings
        },
    )


def affects_catalog(changes: Iterable[Change]) -> bool:
    return any(change.entity in (Entity.API, Entity.OFFERING) for change in changes)
