"""A member's current standing: their direct permissions, their roles, their organizations."""

from collections.abc import Iterable

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from keyward.core.ownership import Standing, standing_of
from keyward.core.permissions import PermissionSet
from keyward.db.models import MemberPermission, MemberRole, Organization, OrganizationMember

PROVIDER = "provider"
ACQUIRER = "acquirer"


def member_grants(session: Session, member_id: str) -> tuple[list[str], list[str]]:
    """The member's direct permissions and role names, sorted."""
    direct = session.scalars(
        select(MemberPermission.permission)
        .where(MemberPermission.member_id == member_id)
        .order_by(MemberPermission.permission)
    ).all()
    roles = session.scalars(
        select(MemberRole.role).where(MemberRole.member_id == member_id).order_by(MemberRole.role)
    ).all()
    return list(direct), list(roles)


def standings(session: Session, member_ids: Iterable[str]) -> dict[str, Standing]:
    """Each member's standing, from one query over their grants and one over their
    organizations, however many members."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    grants = session.execute(
        union_all(
            select(MemberPermission.member_id, literal(False), MemberPermission.permission).where(
                MemberPermission.member_id.in_(ids)
            ),
            select(MemberRole.member_id, literal(True), MemberRole.role).where(
                MemberRole.member_id.in_(ids)
            ),
        )
    ).all()
    memberships = session.execute(
        select(OrganizationMember.member_id, Organization.id, Organization.kind)
        .join(Organization, Organization.id == OrganizationMember.organization_id)
        .where(OrganizationMember.member_id.in_(ids))
    ).all()
    direct: dict[str, list[str]] = {member_id: [] for member_id in ids}
    roles: dict[str, list[str]] = {member_id: [] for member_id in ids}
    organizations: dict[tuple[str, str], list[str]] = {}
    for member_id, is_role, name in grants:
        (roles if is_role else direct)[member_id].append(name)
    for member_id, organization_id, kind in memberships:
        organizations.setdefault((member_id, kind), []).append(organization_id)
    return {
        member_id: standing_of(
            member_id,
            direct[member_id],
            roles[member_id],
            organizations.get((member_id, PROVIDER), ()),
            organizations.get((member_id, ACQUIRER), ()),
        )
        for member_id in ids
    }


def member_standing(session: Session, member_id: str) -> Standing:
    return standings(session, [member_id])[member_id]


def member_rights(session: Session, member_id: str) -> PermissionSet:
    """Every right the member holds somewhere."""
    return member_standing(session, member_id).rights
