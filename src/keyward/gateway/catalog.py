"""What the gateway serves: every API by mount path with its compiled routes, and every offering.

The catalog is read from storage in one go when the gateway starts (or may have missed changes);
after that, a change the feed reports to an API or an offering reads and compiles only that
one (its route trie and each operation's security) into a new catalog that replaces the old as
a whole, so a request always sees one consistent catalog and one API's import costs the
gateway that API, not every spec of every workspace. Requests only read it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from keyward.core.openapi import Document
from keyward.core.openapi.export import OperationFilter
from keyward.core.openapi.security import KeyRole, Location
from keyward.core.routing import Mounts, RouteTable, compile_routes
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.db.models import Api, Offering
from keyward.domains.apis.service import stored_locations
from keyward.domains.offerings.service import limits, operation_filter
from keyward.gateway import store
from keyward.gateway.http import Upstream
from keyward.verifier.limits import Limit

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
    allowed_origins: frozenset[bytes]  # sites that may send cookie-borne keys cross-site


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


def load_catalog(database: Database) -> Catalog:
    """Every API with its current spec compiled, and every offering, from storage."""
    with database.transaction(write=False) as uow:
        apis = store.apis(uow.session)
        offerings = store.offerings(uow.session)
    return Catalog(
        Mounts({api.mount_path: _compiled(api, document) for api, document in apis}),
        {offering.id: _offered(offering) for offering in offerings},
    )


def updated_catalog(database: Database, catalog: Catalog, changes: Sequence[Change]) -> Catalog:
    """`catalog` with the APIs and offerings `changes` name read again from storage: changed
    ones replaced, deleted ones (and a deleted API's offerings) gone, new ones added."""
    api_ids = {change.entity_id for change in changes if change.entity is Entity.API}
    offering_ids = {change.entity_id for change in changes if change.entity is Entity.OFFERING}
    if not api_ids and not offering_ids:
        return catalog
    with database.transaction(write=False) as uow:
        apis = store.apis(uow.session, api_ids) if api_ids else []
        offerings = store.offerings(uow.session, offering_ids) if offering_ids else []
    mounted = {mount: api for mount, api in catalog.mounts.items() if api.id not in api_ids}
    mounted.update((api.mount_path, _compiled(api, document)) for api, document in apis)
    deleted_apis = api_ids - {api.id for api, _ in apis}
    offered = {
        offering_id: offering
        for offering_id, offering in catalog.offerings.items()
        if offering_id not in offering_ids and offering.api_id not in deleted_apis
    }
    offered.update((offering.id, _offered(offering)) for offering in offerings)
    return Catalog(Mounts(mounted), offered)


def _compiled(api: Api, document: Document) -> GatewayApi:
    locations = stored_locations(api)
    upstream, upstream_path = upstream_of(api.upstream_url)
    return GatewayApi(
        id=api.id,
        workspace_id=api.workspace_id,
        name=api.name,
        upstream=upstream,
        upstream_path=upstream_path,
        base_path=api.base_path.encode(),
        routes=compile_routes(document, locations, api.base_path),
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
        allowed_origins=frozenset(origin.encode() for origin in api.allowed_origins or ()),
    )


def _offered(offering: Offering) -> GatewayOffering:
    return GatewayOffering(
        offering.id,
        offering.api_id,
        operation_filter(offering),
        tuple(
            Limit(limit.scope.value, limit.requests, limit.per.total_seconds())
            for limit in limits(offering)
        ),
    )
