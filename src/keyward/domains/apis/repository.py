"""SQL for APIs and their versions. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from keyward.db.models import Api, ApiVersion, Offering, Organization
from keyward.domains.pagination import PageRequest, paginate


def get(session: Session, workspace_id: str, api_id: str) -> Api | None:
    return session.scalar(select(Api).where(Api.workspace_id == workspace_id, Api.id == api_id))


def by_name(session: Session, workspace_id: str, name: str) -> Api | None:
    return session.scalar(select(Api).where(Api.workspace_id == workspace_id, Api.name == name))


def mount_taken(session: Session, mount_path: str) -> bool:
    """Across every workspace: the gateway serves all of them."""
    return session.scalar(select(Api.id).where(Api.mount_path == mount_path)) is not None


def organization_exists(session: Session, workspace_id: str, organization_id: str) -> bool:
    return (
        session.scalar(
            select(Organization.id).where(
                Organization.workspace_id == workspace_id, Organization.id == organization_id
            )
        )
        is not None
    )


def list_apis(session: Session, workspace_id: str, page: PageRequest) -> Sequence[Api]:
    query = select(Api).where(Api.workspace_id == workspace_id)
    return session.scalars(paginate(query, Api.id, page)).all()


def add(session: Session, row: Api | ApiVersion) -> None:
    session.add(row)
    session.flush()


def delete(session: Session, api: Api) -> None:
    session.delete(api)
    session.flush()


def version(session: Session, api_id: str, number: int) -> ApiVersion | None:
    return session.scalar(
        select(ApiVersion).where(ApiVersion.api_id == api_id, ApiVersion.number == number)
    )


def list_versions(session: Session, api_id: str, page: PageRequest) -> Sequence[ApiVersion]:
    # The documents stay in the database: listing shows what changed, not the specs.
    query = (
        select(ApiVersion)
        .options(defer(ApiVersion.original), defer(ApiVersion.normalized))
        .where(ApiVersion.api_id == api_id)
    )
    return session.scalars(paginate(query, ApiVersion.id, page)).all()


def has_offerings(session: Session, api_id: str) -> bool:
    count = session.scalar(select(func.count()).where(Offering.api_id == api_id))
    return bool(count)
