"""SQL for offerings. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from keyward.db.models import Acquisition, ApiKey, Offering, Organization
from keyward.domains.pagination import PageRequest, paginate


def by_name(session: Session, workspace_id: str, name: str) -> Offering | None:
    return session.scalar(
        select(Offering).where(Offering.workspace_id == workspace_id, Offering.name == name)
    )


def list_offerings(
    session: Session,
    workspace_id: str,
    page: PageRequest,
    *,
    visible: ColumnElement[bool],
    api_id: str | None = None,
) -> Sequence[Offering]:
    query = select(Offering).where(Offering.workspace_id == workspace_id, visible)
    if api_id is not None:
        query = query.where(Offering.api_id == api_id)
    return session.scalars(paginate(query, Offering.id, page)).all()


def add(session: Session, offering: Offering) -> None:
    session.add(offering)
    session.flush()


def delete(session: Session, offering: Offering) -> None:
    session.delete(offering)
    session.flush()


def has_acquisitions(session: Session, offering_id: str) -> bool:
    count = session.scalar(select(func.count()).where(Acquisition.offering_id == offering_id))
    return bool(count)


def acquirer_names(
    session: Session, offering_id: str, organization_ids: Sequence[str]
) -> dict[str, str]:
    """The names of those of `organization_ids` that acquired the offering."""
    if not organization_ids:
        return {}
    rows = session.execute(
        select(Organization.id, Organization.name)
        .join(Acquisition, Acquisition.organization_id == Organization.id)
        .where(
            Acquisition.offering_id == offering_id,
            Organization.id.in_(sorted(set(organization_ids))),
        )
        .distinct()
    ).all()
    return {row.id: row.name for row in rows}


def offering_counts(
    session: Session, api_ids: Sequence[str], *, visible: ColumnElement[bool]
) -> dict[str, int]:
    """How many offerings `visible` keeps of each of the APIs, in one query."""
    if not api_ids:
        return {}
    rows = session.execute(
        select(Offering.api_id, func.count())
        .where(Offering.api_id.in_(sorted(set(api_ids))), visible)
        .group_by(Offering.api_id)
    ).all()
    return {row[0]: int(row[1]) for row in rows}


def key_counts(
    session: Session, offering_id: str, acquisition_ids: Sequence[str]
) -> dict[str, int]:
    """How many keys each of the acquisitions (of the offering) has, in one query."""
    if not acquisition_ids:
        return {}
    rows = session.execute(
        select(ApiKey.acquisition_id, func.count())
        .join(Acquisition, Acquisition.id == ApiKey.acquisition_id)
        .where(
            Acquisition.offering_id == offering_id,
            ApiKey.acquisition_id.in_(sorted(set(acquisition_ids))),
        )
        .group_by(ApiKey.acquisition_id)
    ).all()
    return {str(row[0]): int(row[1]) for row in rows}
