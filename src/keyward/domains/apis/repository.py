"""SQL for APIs and their versions. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.orm import Session, defer

from keyward.db.models import Api, ApiApprover, ApiVersion, Member, Offering, Organization
from keyward.domains.pagination import PageRequest, paginate

# Serialises changes of mount paths on PostgreSQL, so that two APIs mounted at once cannot
# nest (SQLite serialises writers anyway).
MOUNT_LOCK_ID = 0x6B776D74


def get(session: Session, workspace_id: str, api_id: str) -> Api | None:
    return session.scalar(select(Api).where(Api.workspace_id == workspace_id, Api.id == api_id))


def by_name(session: Session, workspace_id: str, name: str) -> Api | None:
    return session.scalar(select(Api).where(Api.workspace_id == workspace_id, Api.name == name))


def mounts(session: Session, *, but: str | None = None) -> Sequence[str]:
    """Every API's mount path, across every workspace (the gateway serves all of them), but
    the API `but`'s; holds the mount lock for the rest of the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(MOUNT_LOCK_ID)))
    query = select(Api.mount_path)
    if but is not None:
        query = query.where(Api.id != but)
    return session.scalars(query).all()


def list_apis(
    session: Session, workspace_id: str, page: PageRequest, *, visible: ColumnElement[bool]
) -> Sequence[Api]:
    query = select(Api).where(Api.workspace_id == workspace_id, visible)
    return session.scalars(paginate(query, Api.id, page)).all()


def among(session: Session, api_ids: Sequence[str], where: ColumnElement[bool]) -> set[str]:
    """Those of `api_ids` that `where` keeps."""
    if not api_ids:
        return set()
    return set(session.scalars(select(Api.id).where(Api.id.in_(api_ids), where)))


def approvers(session: Session, api_id: str) -> list[str]:
    return list(
        session.scalars(
            select(ApiApprover.member_id)
            .where(ApiApprover.api_id == api_id)
            .order_by(ApiApprover.member_id)
        )
    )


def set_approvers(session: Session, api: Api, member_ids: Sequence[str]) -> None:
    session.execute(delete_rows(ApiApprover).where(ApiApprover.api_id == api.id))
    session.add_all(
        ApiApprover(api_id=api.id, member_id=member_id, workspace_id=api.workspace_id)
        for member_id in sorted(set(member_ids))
    )
    session.flush()


def active_members(session: Session, workspace_id: str, member_ids: Sequence[str]) -> set[str]:
    return set(
        session.scalars(
            select(Member.id).where(
                Member.workspace_id == workspace_id,
                Member.id.in_(member_ids),
                Member.active.is_(True),
            )
        )
    )


def organization(session: Session, workspace_id: str, organization_id: str) -> Organization | None:
    return session.scalar(
        select(Organization).where(
            Organization.workspace_id == workspace_id, Organization.id == organization_id
        )
    )


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
