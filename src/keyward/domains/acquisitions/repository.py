"""SQL for acquisitions. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from keyward.db.models import Acquisition, ApiKey, Offering, Organization
from keyward.domains.pagination import PageRequest, paginate


def get(session: Session, workspace_id: str, acquisition_id: str) -> Acquisition | None:
    return session.scalar(
        select(Acquisition).where(
            Acquisition.workspace_id == workspace_id, Acquisition.id == acquisition_id
        )
    )


def existing(session: Session, offering_id: str, organization_id: str) -> Acquisition | None:
    return session.scalar(
        select(Acquisition).where(
            Acquisition.offering_id == offering_id,
            Acquisition.organization_id == organization_id,
        )
    )


def organization(session: Session, workspace_id: str, organization_id: str) -> Organization | None:
    return session.scalar(
        select(Organization).where(
            Organization.workspace_id == workspace_id, Organization.id == organization_id
        )
    )


def list_acquisitions(
    session: Session,
    workspace_id: str,
    page: PageRequest,
    *,
    visible: ColumnElement[bool],
    organization_id: str | None = None,
    offering_id: str | None = None,
    api_id: str | None = None,
) -> Sequence[tuple[Acquisition, str]]:
    """Acquisitions with the id of the API each one acquires."""
    query = (
        select(Acquisition, Offering.api_id)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .where(Acquisition.workspace_id == workspace_id, visible)
    )
    if organization_id is not None:
        query = query.where(Acquisition.organization_id == organization_id)
    if offering_id is not None:
        query = query.where(Acquisition.offering_id == offering_id)
    if api_id is not None:
        query = query.where(Offering.api_id == api_id)
    return [(row[0], row[1]) for row in session.execute(paginate(query, Acquisition.id, page))]


def add(session: Session, acquisition: Acquisition) -> None:
    session.add(acquisition)
    session.flush()


def key_count(session: Session, acquisition_id: str) -> int:
    query = select(func.count()).select_from(ApiKey).where(ApiKey.acquisition_id == acquisition_id)
    return session.scalar(query) or 0


def key_named(session: Session, acquisition_id: str, name: str) -> ApiKey | None:
    return session.scalar(
        select(ApiKey).where(ApiKey.acquisition_id == acquisition_id, ApiKey.name == name)
    )
