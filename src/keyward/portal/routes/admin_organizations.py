"""Admin → Organizations: the workspace's provider and acquirer organizations; making,
renaming and deleting one; adding and removing its members (through the member services, as
`PATCH /v1/members/{id}` does)."""

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError, NotFound
from keyward.core.ownership import holds
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberUpdate
from keyward.domains.organizations import service as organizations
from keyward.domains.organizations.schemas import (
    OrganizationCreate,
    OrganizationKind,
    OrganizationUpdate,
)
from keyward.domains.pagination import PageRequest
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

FIELD_OF_CODE = {"organization_exists": "name"}
NOTICES = {
    "created": "Organization created.",
    "renamed": "Organization renamed.",
    "added": "Member added.",
    "removed": "Member removed from the organization.",
    "deleted": "Organization deleted; its members stay in the workspace.",
}


@dataclass(slots=True)
class OrganizationForm:
    name: str = ""
    kind: str = OrganizationKind.ACQUIRER.value
    email: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _list_page(
    portal: Portal,
    member: Member,
    *,
    cursor: str | None = None,
    form: OrganizationForm | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        listed = organizations.list_organizations(uow, actor, PageRequest(PAGE_SIZE, cursor))
    return portal.pages.render(
        "admin_organizations.html",
        status,
        title="Organizations",
        member=member,
        current=ADMIN,
        organizations=listed.data,
        next_cursor=listed.next_cursor,
        cursor=cursor,
        form=form or OrganizationForm(),
        kinds=[kind.value for kind in OrganizationKind],
        may_create=holds(actor.standing, "organizations", "create"),
        notice=notice,
    )


@router.get("/admin/organizations", name="admin_organizations")
def organization_list(
    portal: PortalDep, member: MemberDep, cursor: str | None = None, done: str | None = None
) -> Response:
    require_admin(member)
    return _list_page(portal, member, cursor=cursor, notice=NOTICES.get(done or ""))


@router.post("/admin/organizations", name="admin_organization_create")
def create(
    request: Request, portal: PortalDep, member: MemberDep, form: CheckedFormDep
) -> Response:
    require_admin(member)
    sent = OrganizationForm(name=form.one("name").strip(), kind=form.one("kind"))
    try:
        body = OrganizationCreate.model_validate({"name": sent.name, "kind": sent.kind})
    except ValidationError as error:
        sent.errors.update(field_errors(error))
        return _list_page(portal, member, form=sent, status=422)
    try:
        with portal.database.transaction() as uow:
            made = organizations.create_organization(uow, member.signed.actor, body)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.errors[FIELD_OF_CODE.get(error.code, "form")] = error.message
        return _list_page(portal, member, form=sent, status=error.status)
    return redirect(f"/admin/organizations/{made.id}?done=created")


def _page(
    portal: Portal,
    member: Member,
    organization_id: str,
    *,
    cursor: str | None = None,
    form: OrganizationForm | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        shown = organizations.get_organization(uow, actor, organization_id)
        try:
            people = members.list_members(
                uow, actor, PageRequest(PAGE_SIZE, cursor), organization_id=shown.id
            )
        except KeywardError:
            people = None
    standing = actor.standing
    return portal.pages.render(
        "admin_organization.html",
        status,
        title=shown.name,
        member=member,
        current=ADMIN,
        shown=shown,
        people=people.data if people else None,
        next_cursor=people.next_cursor if people else None,
        cursor=cursor,
        form=form or OrganizationForm(name=shown.name),
        may_update=holds(standing, "organizations", "update"),
        may_delete=holds(standing, "organizations", "delete"),
        notice=notice,
    )


@router.get("/admin/organizations/{organization_id}", name="admin_organization")
def organization_page(
    portal: PortalDep,
    member: MemberDep,
    organization_id: str,
    cursor: str | None = None,
    done: str | None = None,
) -> Response:
    require_admin(member)
    return _page(portal, member, organization_id, cursor=cursor, notice=NOTICES.get(done or ""))


@router.post("/admin/organizations/{organization_id}/rename", name="admin_organization_rename")
def rename(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    organization_id: str,
    form: CheckedFormDep,
) -> Response:
    require_admin(member)
    sent = OrganizationForm(name=form.one("name").strip())
    try:
        body = OrganizationUpdate.model_validate({"name": sent.name})
    except ValidationError as error:
        sent.errors.update(field_errors(error))
        return _page(portal, member, organization_id, form=sent, status=422)
    try:
        with portal.database.transaction() as uow:
            organizations.update_organization(uow, member.signed.actor, organization_id, body)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.errors[FIELD_OF_CODE.get(error.code, "form")] = error.message
        return _page(portal, member, organization_id, form=sent, status=error.status)
    return redirect(f"/admin/organizations/{organization_id}?done=renamed")


def _change_membership(
    portal: Portal, member: Member, organization_id: str, member_id: str, *, join: bool
) -> None:
    actor = member.signed.actor
    with portal.database.transaction() as uow:
        organization = organizations.get_organization(uow, actor, organization_id)
        person = members.get_member(uow, actor, member_id)
        wanted = set(person.organization_ids)
        if join:
            wanted.add(organization.id)
        else:
            wanted.discard(organization.id)
        members.update_member(uow, actor, person.id, MemberUpdate(organization_ids=sorted(wanted)))


@router.post("/admin/organizations/{organization_id}/members", name="admin_organization_add")
def add_member(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    organization_id: str,
    form: CheckedFormDep,
) -> Response:
    require_admin(member)
    email = form.one("email").strip().lower()
    sent = OrganizationForm(email=email)
    try:
        with portal.database.transaction(write=False) as uow:
            found = (
                [
                    person
                    for person in members.list_members(
                        uow, member.signed.actor, PageRequest(10, None), search=email
                    ).data
                    if person.email == email
                ]
                if email
                else []
            )
        if not found:
            raise NotFound(
                "No member you may see has this e-mail address; invite them first.",
                code="member_not_found",
            )
        _change_membership(portal, member, organization_id, found[0].id, join=True)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.errors["email"] = error.message
        status = 422 if error.code == "member_not_found" else error.status
        return _page(portal, member, organization_id, form=sent, status=status)
    return redirect(f"/admin/organizations/{organization_id}?done=added")


@router.post(
    "/admin/organizations/{organization_id}/members/{member_id}/remove",
    name="admin_organization_remove",
)
def remove_member(
    portal: PortalDep, member: MemberDep, organization_id: str, member_id: str, _: CheckedFormDep
) -> Response:
    require_admin(member)
    _change_membership(portal, member, organization_id, member_id, join=False)
    return redirect(f"/admin/organizations/{organization_id}?done=removed")


@router.get("/admin/organizations/{organization_id}/delete", name="admin_organization_delete_form")
def delete_form(portal: PortalDep, member: MemberDep, organization_id: str) -> Response:
    require_admin(member)
    with portal.database.transaction(write=False) as uow:
        shown = organizations.get_organization(uow, member.signed.actor, organization_id)
    return portal.pages.render(
        "admin_organization_delete.html",
        title=f"Delete {shown.name}",
        member=member,
        current=ADMIN,
        shown=shown,
    )


@router.post("/admin/organizations/{organization_id}/delete", name="admin_organization_delete")
def delete(
    portal: PortalDep, member: MemberDep, organization_id: str, _: CheckedFormDep
) -> Response:
    require_admin(member)
    with portal.database.transaction() as uow:
        organizations.delete_organization(uow, member.signed.actor, organization_id)
    return redirect("/admin/organizations?done=deleted")
