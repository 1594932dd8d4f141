"""SQL for members, their grants and organization memberships, always within one workspace."""

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from keyward.db.models import (
    Member,
    MemberPermission,
    MemberRole,
    OrganizationMember,
)
from keyward.domains.pagination import PageRequest, paginate


def get(session: Session, workspace_id: str, member_id: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.workspace_id == workspace_id, Member.id == member_id)
    )


def by_email(session: Session, workspace_id: str, email: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.workspace_id == workspace_id, Member.email == email)
    )


def list_members(
    session: Session,
    workspace_id: str,
    page: PageRequest,
    *,
    visible: ColumnElement[bool],
    active: bool | None = None,
    organization_id: str | None = None,
    search: str | None = None,
) -> Sequence[Member]:
    query = select(Member).where(Member.workspace_id == workspace_id, visible)
    if search is not None:
        # E-mail addresses are stored in lower case; names are compared in any case.
        wanted = search.lower()
        query = query.where(
            or_(
                Member.email.contains(wanted, autoescape=True),
                func.lower(Member.name).contains(wanted, autoescape=True),
            )
        )
    if active is not None:
        query = query.where(Member.active == active)
    if organization_id is not None:
        query = query.where(
            Member.id.in_(
                select(OrganizationMember.member_id).where(
                    OrganizationMember.workspace_id == workspace_id,
                    OrganizationMember.organization_id == organization_id,
                )
            )
        )
    return session.scalars(paginate(query, Member.id, page)).all()


def add(session: Session, member: Member) -> None:
    session.add(member)
    session.flush()


def delete_member(session: Session, member: Member) -> None:
    session.delete(member)
    session.flush()


def roles_of(session: Session, member_ids: Iterable[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = defaultdict(list)
    rows = session.execute(
        select(MemberRole.member_id, MemberRole.role)
        .where(MemberRole.member_id.in_(list(member_ids)))
        .order_by(MemberRole.role)
    )
    for member_id, role in rows:
        result[member_id].append(role)
    return result


def organizations_of(session: Session, member_ids: Iterable[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = defaultdict(list)
    rows = session.execute(
        select(OrganizationMember.member_id, OrganizationMember.organization_id)
        .where(OrganizationMember.member_id.in_(list(member_ids)))
        .order_by(OrganizationMember.organization_id)
    )
    for member_id, organization_id in rows:
        result[member_id].append(organization_id)
    return result


def set_grants(
    session: Session, member: Member, roles: Iterable[str], permissions: Iterable[str]
) -> None:
    session.execute(delete(MemberRole).where(MemberRole.member_id == member.id))
    session.execute(delete(MemberPermission).where(MemberPermission.member_id == member.id))
    session.add_all(
        MemberRole(member_id=member.id, role=r, workspace_id=member.workspace_id)
        for r in sorted(set(roles))
    )
    session.add_all(
        MemberPermission(member_id=member.id, permission=p, workspace_id=member.workspace_id)
        for p in sorted(set(permissions))
    )
    session.flush()


def set_organizations(session: Session, member: Member, organization_ids: Iterable[str]) -> None:
    session.execute(delete(OrganizationMember).where(OrganizationMember.member_id == member.id))
    session.add_all(
        OrganizationMember(organization_id=o, member_id=member.id, workspace_id=member.workspace_id)
        for o in sorted(set(organization_ids))
    )
    session.flush()


def count_other_active_admins(session: Session, workspace_id: str, member_id: str) -> int:
    """Active members other than `member_id` holding the admin role or `*:*` directly."""
    admins = (
        select(MemberRole.member_id)
        .where(MemberRole.role == "admin")
        .union(select(MemberPermission.member_id).where(MemberPermission.permission == "*:*"))
    )
    return (
        session.scalar(
            select(func.count())
            .select_from(Member)
            .where(
                Member.workspace_id == workspace_id,
                Member.active.is_(True),
                Member.id != member_id,
                Member.id.in_(admins),
            )
        )
        or 0
    )


def first_active_admin(session: Session, workspace_id: str) -> str | None:
    return session.scalar(
        select(Member.id)
        .join(MemberRole, MemberRole.member_id == Member.id)
        .where(
            Member.workspace_id == workspace_id,
            Member.active.is_(True),
            MemberRole.role == "admin",
        )
        .order_by(Member.id)
        .limit(1)
    )
