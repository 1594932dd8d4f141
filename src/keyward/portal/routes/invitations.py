"""Inviting a person: `/invite` makes them a member with a role (and organizations) and e-mails
them a link to set their password, as `POST /v1/members` then `POST
/v1/members/{id}/invitations` do.

The member services decide: only rights the inviter holds across the workspace can be given,
and only organizations the inviter may update can be joined; a refusal shows next to the field
it concerns and changes nothing.
"""

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.core.ownership import ROLES, holds
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberCreate
from keyward.domains.organizations import service as organizations
from keyward.domains.organizations.schemas import OrganizationOut
from keyward.domains.pagination import PageRequest
from keyward.domains.passwords import service as passwords
from keyward.domains.passwords.schemas import InvitationOut
from keyward.portal.context import (
    CheckedFormDep,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.routing import PortalRoute, audit_refusal

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

# Organizations offered in the form: the first page of those the inviter may see.
ORGANIZATIONS_SHOWN = 100
# Service refusals that concern one field of the form.
FIELD_OF_CODE = {
    "member_exists": "email",
    "permission_escalation": "role",
    "organization_not_found": "organization_ids",
}


@dataclass(slots=True)
class InviteForm:
    email: str = ""
    name: str = ""
    role: str = "acquirer"
    organization_ids: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def may_invite(member: Member) -> bool:
    return holds(member.signed.actor.standing, "members", "create")


def _organizations(portal: Portal, member: Member) -> list[OrganizationOut]:
    with portal.database.transaction(write=False) as uow:
        try:
            return organizations.list_organizations(
                uow, member.signed.actor, PageRequest(ORGANIZATIONS_SHOWN, None)
            ).data
        except KeywardError:
            return []


def _page(
    portal: Portal,
    member: Member,
    form: InviteForm | None = None,
    sent: InvitationOut | None = None,
    status: int = 200,
) -> Response:
    return portal.pages.render(
        "invite.html",
        status,
        title="Invite a person",
        member=member,
        current="/invite",
        form=form or InviteForm(),
        roles=sorted(ROLES),
        organizations=_organizations(portal, member),
        sent=sent,
        may_invite=may_invite(member),
    )


@router.get("/invite", name="invite_form")
def invite_form(portal: PortalDep, member: MemberDep) -> Response:
    return _page(portal, member, status=200 if may_invite(member) else 403)


@router.post("/invite", name="invite")
def invite(
    request: Request, portal: PortalDep, member: MemberDep, form: CheckedFormDep
) -> Response:
    sent = InviteForm(
        email=form.one("email").strip(),
        name=form.one("name").strip(),
        role=form.one("role"),
        organization_ids=form.all("organization_id"),
    )
    body: MemberCreate | None = None
    try:
        body = MemberCreate.model_validate(
            {
                "email": sent.email,
                "name": sent.name,
                "roles": [sent.role],
                "organization_ids": sent.organization_ids,
            }
        )
    except ValidationError as error:
        sent.errors.update(
            {
                {"roles": "role"}.get(name, name): message
                for name, message in field_errors(error).items()
            }
        )
    if sent.errors or body is None:
        return _page(portal, member, form=sent, status=422)
    actor = member.signed.actor
    try:
        with portal.database.transaction() as uow:
            made = members.create_member(uow, actor, body)
            invitation = passwords.invite(uow, actor, made.id, portal.settings)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.errors[FIELD_OF_CODE.get(error.code, "form")] = error.message
        return _page(portal, member, form=sent, status=error.status)
    return _page(portal, member, sent=invitation, status=201)
