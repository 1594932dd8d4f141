"""SQL for organizations. Always scoped to a workspace."""

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from keyward.db.models import Organization, OrganizationMember
from keyward.domains.pagination import PageRequest, paginate


def by_name(session: Session, workspace_id: str, name: str) -> Organization | None:
    return session.scalar(
        select(Organization).where(
            Organization.workspace_id == workspace_id, Organization.name == name
        )
    )


def list_organizations(
    session: Session,
    workspace_id: str,
    page: PageRequest,
    *,
    visible: ColumnElement[bool],
    kind: str | None = None,
) -> Sequence[Organization]:
    query = select(Organization).where(Organization.workspace_id == workspace_id, visible)
    if kind is not None:
        query = query.where(Organization.kind == kind)
    return session.scalars(paginate(query, Organization.id, page)).all()


def member_counts(session: Session, organization_ids: Iterable[str]) -> dict[str, int]:
    rows = session.execute(
        select(OrganizationMember.organization_id, func.count())
        .where(OrganizationMember.organization_id.in_(list(organization_ids)))
        .group_by(OrganizationMember.organization_id)
    )
    return dict(rows.all())


def member_ids(session: Session, organization_id: str) -> list[str]:
    return list(
        session.scalars(
            select(OrganizationMember.member_id).where(
                OrganizationMember.organization_id == organization_id
            )
        )
    )


def add(session: Session, organization: Organization) -> None:
    session.add(organization)
    session.flush()


def delete(session: Session, organization: Organization) -> None:
    session.delete(organization)
    session.flush()
