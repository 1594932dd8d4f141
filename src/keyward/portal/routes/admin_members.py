"""Admin → Members: find a member, change their roles, direct permissions and organizations,
deactivate or reactivate them, send their invitation again.

The member services decide everything: a member changes another only while holding every right
that member holds, grants only rights they hold across the workspace, and joins or leaves only
organizations they may update; each refusal is shown on the page with its status, changes
nothing and is audited.
"""

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.core.ownership import ROLES, holds
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberPermissionsUpdate, MemberUpdate
from keyward.domains.organizations import service as organizations
from keyward.domains.pagination import PageRequest
from keyward.domains.passwords import service as passwords
from keyward.domains.sessions import service as sessions
from keyward.portal.context import (
    CheckedFormDep,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.routes.admin_shared import ADMIN, PAGE_SIZE, require_admin
from keyward.portal.routing import PortalRoute, audit_refusal, redirect

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

# Organizations offered on a member's page: the first page of those the admin may see.
ORGANIZATIONS_SHOWN = 100
MAX_SEARCH = 100
DEACTIVATION = (
    "Their portal sessions end at once and they cannot sign in. Every key they created "
    "(account keys and the acquisition keys they made) stops working while they are "
    "deactivated: it is not revoked, and works again if you reactivate them."
)
NOTICES = {
    "permissions": "Roles and permissions saved; their keys follow at once.",
    "organizations": "Organizations saved.",
    "deactivated": "Deactivated: their sessions ended and their keys stopped working.",
    "reactivated": "Reactivated: they can sign in again and their keys work again.",
}


@dataclass(slots=True)
class GrantsForm:
    roles: list[str] = field(default_factory=list)
    permissions: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class OrganizationsForm:
    organization_ids: list[str] = field(default_factory=list)
    error: str | None = None


@router.get("/admin/members", name="admin_members")
def member_list(
    portal: PortalDep, member: MemberDep, q: str = "", cursor: str | None = None
) -> Response:
    require_admin(member)
    search = q.strip()[:MAX_SEARCH]
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        listed = members.list_members(
            uow, actor, PageRequest(PAGE_SIZE, cursor), search=search or None
        )
    return portal.pages.render(
        "admin_members.html",
        title="Members",
        member=member,
        current=ADMIN,
        members=listed.data,
        next_cursor=listed.next_cursor,
        cursor=cursor,
        q=search,
        may_invite=holds(actor.standing, "members", "create"),
    )


def _member_page(
    portal: Portal,
    member: Member,
    member_id: str,
    *,
    grants: GrantsForm | None = None,
    joined: OrganizationsForm | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        shown = members.get_member(uow, actor, member_id)
        rights = members.get_permissions(uow, actor, member_id)
        try:
            offered = organizations.list_organizations(
                uow, actor, PageRequest(ORGANIZATIONS_SHOWN, None)
            ).data
        except KeywardError:
            offered = []
    names = {organization.id: organization for organization in offered}
    standing = actor.standing
    return portal.pages.render(
        "admin_member.html",
        status,
        title=shown.name,
        member=member,
        current=ADMIN,
        shown=shown,
        rights=rights,
        grants=grants or GrantsForm(rights.roles, "\n".join(rights.permissions)),
        joined=joined or OrganizationsForm(list(shown.organization_ids)),
        organizations=offered,
        names=names,
        roles=sorted(ROLES),
        may_grant=holds(standing, "members", "grant"),
        may_update=holds(standing, "members", "update"),
        is_self=shown.id == actor.member_id,
        notice=notice,
        error=error,
        deactivation=DEACTIVATION,
    )


@router.get("/admin/members/{member_id}", name="admin_member")
def member_page(
    portal: PortalDep, member: MemberDep, member_id: str, done: str | None = None
) -> Response:
    require_admin(member)
    return _member_page(portal, member, member_id, notice=NOTICES.get(done or ""))


@router.post("/admin/members/{member_id}/permissions", name="admin_member_permissions")
def change_permissions(
    request: Request, portal: PortalDep, member: MemberDep, member_id: str, form: CheckedFormDep
) -> Response:
    require_admin(member)
    sent = GrantsForm(form.all("role"), form.one("permissions"))
    lines = [line.strip() for line in sent.permissions.splitlines() if line.strip()]
    try:
        body = MemberPermissionsUpdate.model_validate({"roles": sent.roles, "permissions": lines})
    except ValidationError as error:
        sent.errors.update(field_errors(error))
        return _member_page(portal, member, member_id, grants=sent, status=422)
    try:
        with portal.database.transaction() as uow:
            members.set_permissions(uow, member.signed.actor, member_id, body)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.errors["form"] = error.message
        return _member_page(portal, member, member_id, grants=sent, status=error.status)
    return redirect(f"/admin/members/{member_id}?done=permissions")


@router.post("/admin/members/{member_id}/organizations", name="admin_member_organizations")
def change_organizations(
    request: Request, portal: PortalDep, member: MemberDep, member_id: str, form: CheckedFormDep
) -> Response:
    require_admin(member)
    sent = OrganizationsForm(form.all("organization_id"))
    try:
        body = MemberUpdate.model_validate({"organization_ids": sent.organization_ids})
    except ValidationError:
        sent.error = "Choose organizations from the list."
        return _member_page(portal, member, member_id, joined=sent, status=422)
    try:
        with portal.database.transaction() as uow:
            members.update_member(uow, member.signed.actor, member_id, body)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.error = error.message
        return _member_page(portal, member, member_id, joined=sent, status=error.status)
    return redirect(f"/admin/members/{member_id}?done=organizations")


@router.get("/admin/members/{member_id}/deactivate", name="admin_member_deactivate_form")
def deactivate_form(portal: PortalDep, member: MemberDep, member_id: str) -> Response:
    require_admin(member)
    with portal.database.transaction(write=False) as uow:
        shown = members.get_member(uow, member.signed.actor, member_id)
    return portal.pages.render(
        "admin_member_deactivate.html",
        title=f"Deactivate {shown.name}",
        member=member,
        current=ADMIN,
        shown=shown,
        deactivation=DEACTIVATION,
    )


def _set_active(portal: Portal, member: Member, member_id: str, active: bool) -> None:
    with portal.database.transaction() as uow:
        members.update_member(uow, member.signed.actor, member_id, MemberUpdate(active=active))
        if not active:
            # An inactive member's sessions no longer resume; ending them says so at once.
            sessions.end_sessions_of(uow, member_id)


@router.post("/admin/members/{member_id}/deactivate", name="admin_member_deactivate")
def deactivate(portal: PortalDep, member: MemberDep, member_id: str, _: CheckedFormDep) -> Response:
    require_admin(member)
    _set_active(portal, member, member_id, active=False)
    return redirect(f"/admin/members/{member_id}?done=deactivated")


@router.post("/admin/members/{member_id}/reactivate", name="admin_member_reactivate")
def reactivate(portal: PortalDep, member: MemberDep, member_id: str, _: CheckedFormDep) -> Response:
    require_admin(member)
    _set_active(portal, member, member_id, active=True)
    return redirect(f"/admin/members/{member_id}?done=reactivated")


@router.post("/admin/members/{member_id}/invitation", name="admin_member_invite")
def send_invitation(
    request: Request, portal: PortalDep, member: MemberDep, member_id: str, _: CheckedFormDep
) -> Response:
    require_admin(member)
    try:
        with portal.database.transaction() as uow:
            sent = passwords.invite(uow, member.signed.actor, member_id, portal.settings)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        return _member_page(portal, member, member_id, error=error.message, status=error.status)
    return _member_page(
        portal,
        member,
        member_id,
        notice=f"Invitation sent to {sent.email}: the link works until "
        f"{sent.expires_at:%Y-%m-%d %H:%M UTC}.",
    )
