"""SQL for the ownership rule: whose each row is, and which rows a standing reaches.

`resource` reads the owners of one row for `core.ownership.decide`; `reached` turns the scopes of
`core.ownership.audience` into one filter for list queries. Both read owners along the same
relations (an offering's API, an acquisition's offering and API, a key's acquisition), so what a
list shows and what a lookup allows agree.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session, aliased

from keyward.core.keys import KeyKind
from keyward.core.ownership import Reach, Resource, Scope
from keyward.db.models import (
    Acquisition,
    Api,
    ApiApprover,
    ApiKey,
    Connector,
    KeyRequest,
    Member,
    Offering,
    Organization,
    OrganizationMember,
    WebhookEndpoint,
)
from keyward.db.models.base import Base
from keyward.db.rights import ACQUIRER, PROVIDER, member_rights

Row = TypeVar("Row", bound=Base)


def get(
    session: Session, model: type[Row], workspace_id: str, ident: str, *, for_update: bool
) -> Row | None:
    """The row of this workspace, locked for the rest of the transaction when it is about to
    change (SQLite writers already hold the database's write lock)."""
    table: Any = model
    query: Select[Any] = select(model).where(table.workspace_id == workspace_id, table.id == ident)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    found: Row | None = session.scalar(query)
    return found


def _ids(*values: str | None) -> frozenset[str]:
    return frozenset(v for v in values if v is not None)


def approvers(session: Session, api_id: str | None) -> frozenset[str]:
    if api_id is None:
        return frozenset()
    return frozenset(
        session.scalars(select(ApiApprover.member_id).where(ApiApprover.api_id == api_id))
    )


@dataclass(frozen=True, slots=True)
class _Acquired:
    organization_id: str | None
    api_id: str | None
    provider_id: str | None


def _acquired(session: Session, acquisition_id: str | None) -> _Acquired:
    row = (
        session.execute(
            select(Acquisition.organization_id, Api.id, Api.provider_organization_id)
            .join(Offering, Offering.id == Acquisition.offering_id)
            .join(Api, Api.id == Offering.api_id)
            .where(Acquisition.id == acquisition_id)
        ).first()
        if acquisition_id is not None
        else None
    )
    return _Acquired(*row) if row is not None else _Acquired(None, None, None)


def _of_acquisition(
    session: Session, kind: str, ident: str, acquisition_id: str | None
) -> Resource:
    acquired = _acquired(session, acquisition_id)
    return Resource(
        kind,
        ident,
        providers=_ids(acquired.provider_id),
        acquirers=_ids(acquired.organization_id),
        api_id=acquired.api_id,
        approvers=approvers(session, acquired.api_id),
    )


def _of_api(session: Session, kind: str, ident: str, api_id: str) -> Resource:
    provider = session.scalar(select(Api.provider_organization_id).where(Api.id == api_id))
    return Resource(
        kind, ident, providers=_ids(provider), api_id=api_id, approvers=approvers(session, api_id)
    )


def _organizations(session: Session, member_id: str) -> dict[str, frozenset[str]]:
    rows = session.execute(
        select(Organization.kind, Organization.id)
        .join(OrganizationMember, OrganizationMember.organization_id == Organization.id)
        .where(OrganizationMember.member_id == member_id)
    ).all()
    return {
        kind: frozenset(ident for k, ident in rows if k == kind) for kind in (PROVIDER, ACQUIRER)
    }


def resource(session: Session, row: Base) -> Resource:
    """The row as the ownership rule sees it: what it is and whose it is."""
    if isinstance(row, Api):
        return Resource(
            "apis",
            row.id,
            providers=_ids(row.provider_organization_id),
            api_id=row.id,
            approvers=approvers(session, row.id),
        )
    if isinstance(row, Offering):
        return _of_api(session, "offerings", row.id, row.api_id)
    if isinstance(row, Acquisition):
        return _of_acquisition(session, "acquisitions", row.id, row.id)
    if isinstance(row, ApiKey):
        if row.acquisition_id is None:
            creator = row.creator_member_id
            return Resource(
                "keys",
                row.id,
                owner=creator,
                owner_rights=member_rights(session, creator) if creator else None,
            )
        return _of_acquisition(session, "keys", row.id, row.acquisition_id)
    if isinstance(row, KeyRequest):
        # Bound rights on key requests are the rights on their key.
        ident = row.key_id or row.id
        if row.acquisition_id is not None:
            return _of_acquisition(session, "keys", ident, row.acquisition_id)
        if row.api_id is not None:
            return _of_api(session, "keys", ident, row.api_id)
        return Resource("keys", ident)
    if isinstance(row, Connector):
        return _of_acquisition(session, "connectors", row.id, row.acquisition_id)
    if isinstance(row, Member):
        organizations = _organizations(session, row.id)
        return Resource(
            "members",
            row.id,
            providers=organizations[PROVIDER],
            acquirers=organizations[ACQUIRER],
            owner=row.id,
            owner_rights=member_rights(session, row.id),
        )
    if isinstance(row, Organization):
        side = _ids(row.id)
        return Resource(
            "organizations",
            row.id,
            providers=side if row.kind == PROVIDER else frozenset(),
            acquirers=side if row.kind == ACQUIRER else frozenset(),
        )
    if isinstance(row, WebhookEndpoint):
        return Resource("webhooks", row.id)
    raise TypeError(f"no owners known for {type(row).__name__}")


# Lists: the same owners, as SQL over the listed table.


# Subqueries read their own aliases of the tables, the listed table may be one of them, and
# take every other table from the query around them, however deeply they are nested.


def _provider_of_api(api_id: Any) -> Any:
    api = aliased(Api)
    return (
        select(api.provider_organization_id)
        .where(api.id == api_id)
        .correlate_except(api)
        .scalar_subquery()
    )


def _api_of_acquisition(acquisition_id: Any) -> Any:
    acquisition, offering = aliased(Acquisition), aliased(Offering)
    return (
        select(offering.api_id)
        .join(acquisition, acquisition.offering_id == offering.id)
        .where(acquisition.id == acquisition_id)
        .correlate_except(acquisition, offering)
        .scalar_subquery()
    )


def _organization_of_acquisition(acquisition_id: Any) -> Any:
    acquisition = aliased(Acquisition)
    return (
        select(acquisition.organization_id)
        .where(acquisition.id == acquisition_id)
        .correlate_except(acquisition)
        .scalar_subquery()
    )


@dataclass(frozen=True, slots=True)
class _Owners:
    """Where a table's rows keep their owners; None: that side never owns such rows."""

    ident: Any
    provider: Any = None
    acquirer: Any = None
    api: Any = None
    owned_by: Callable[[str], ColumnElement[bool]] | None = None
    # Members: belonging to the organization decides, not a column.
    member_of: Any = None


def _owners(model: type[Base]) -> _Owners:
    if model is Api:
        return _Owners(Api.id, provider=Api.provider_organization_id, api=Api.id)
    if model is Offering:
        return _Owners(Offering.id, provider=_provider_of_api(Offering.api_id), api=Offering.api_id)
    if model is Acquisition:
        api = _api_of_acquisition(Acquisition.id)
        return _Owners(
            Acquisition.id,
            provider=_provider_of_api(api),
            acquirer=Acquisition.organization_id,
            api=api,
        )
    if model is ApiKey:
        api = _api_of_acquisition(ApiKey.acquisition_id)
        return _Owners(
            ApiKey.id,
            provider=_provider_of_api(api),
            acquirer=_organization_of_acquisition(ApiKey.acquisition_id),
            api=api,
            # Only account keys belong to their creator; acquisition keys to their acquisition.
            owned_by=lambda member_id: and_(
                ApiKey.kind == KeyKind.ACCOUNT.value, ApiKey.creator_member_id == member_id
            ),
        )
    if model is KeyRequest:
        return _Owners(
            KeyRequest.key_id,
            provider=_provider_of_api(KeyRequest.api_id),
            acquirer=_organization_of_acquisition(KeyRequest.acquisition_id),
            api=KeyRequest.api_id,
        )
    if model is Connector:
        api = _api_of_acquisition(Connector.acquisition_id)
        return _Owners(
            Connector.id,
            provider=_provider_of_api(api),
            acquirer=_organization_of_acquisition(Connector.acquisition_id),
            api=api,
        )
    if model is Member:
        return _Owners(
            Member.id, owned_by=lambda member_id: Member.id == member_id, member_of=Member.id
        )
    if model is Organization:
        return _Owners(Organization.id, provider=Organization.id, acquirer=Organization.id)
    if model is WebhookEndpoint:
        return _Owners(WebhookEndpoint.id)
    raise TypeError(f"no owners known for {model.__name__}")


def _belongs(member: Any, organizations: Iterable[str]) -> ColumnElement[bool]:
    return exists().where(
        OrganizationMember.member_id == member,
        OrganizationMember.organization_id.in_(sorted(organizations)),
    )


def _reach(
    owners: _Owners,
    reach: Reach | None,
    member_id: str | None,
    providers: frozenset[str],
    acquirers: frozenset[str],
) -> ColumnElement[bool]:
    if reach is Reach.WORKSPACE:
        return true()
    if reach is None:
        if owners.owned_by is None or member_id is None:
            return false()
        return owners.owned_by(member_id)
    if reach is Reach.APPROVER:
        if owners.api is None or member_id is None:
            return false()
        return exists().where(ApiApprover.api_id == owners.api, ApiApprover.member_id == member_id)
    organizations = providers if reach is Reach.PROVIDER else acquirers
    if not organizations:
        return false()
    if owners.member_of is not None:
        return _belongs(owners.member_of, organizations)
    column = owners.provider if reach is Reach.PROVIDER else owners.acquirer
    return false() if column is None else column.in_(sorted(organizations))


def reached(
    model: type[Base],
    scopes: Iterable[Scope],
    member_id: str | None,
    providers: frozenset[str],
    acquirers: frozenset[str],
    *,
    bound_to_api: bool = False,
) -> ColumnElement[bool]:
    """The rows of `model` the scopes reach, as a WHERE clause. `bound_to_api`: bound rights
    name APIs, not the rows (`keys:approve@<api id>`), as `core.ownership.permits` reads them."""
    owners = _owners(model)
    clauses = []
    for scope in scopes:
        where = _reach(owners, scope.reach, member_id, providers, acquirers)
        if scope.ids is not None:
            subject = owners.api if bound_to_api else owners.ident
            if subject is None:
                continue
            where = and_(subject.in_(sorted(scope.ids)), where)
        clauses.append(where)
    return or_(false(), *clauses)
