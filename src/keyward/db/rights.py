"""A member's current rights: their direct permissions plus those of their roles."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyward.core.permissions import EMPTY, ROLES, PermissionSet
from keyward.db.models import MemberPermission, MemberRole


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


def member_rights(session: Session, member_id: str) -> PermissionSet:
    return rights_from(*member_grants(session, member_id))


def rights_from(direct: Iterable[str], roles: Iterable[str]) -> PermissionSet:
    """Fails closed: a stored permission or role this version no longer knows grants nothing."""
    rights = PermissionSet.parse_stored(direct)
    for role in roles:
        rights = rights.union(ROLES.get(role, EMPTY))
    return rights
