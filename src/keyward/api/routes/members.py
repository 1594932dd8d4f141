"""`/v1/members` and `/v1/members/{id}/permissions`."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from keyward.api.auth import ActorDep
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.routes.gateways import enforcement, enforcement_header
from keyward.api.runtime import DatabaseDep, RuntimeDep, SettingsDep
from keyward.core.ids import ID_REGEX
from keyward.domains.members import service
from keyward.domains.members.schemas import (
    MemberChanged,
    MemberCreate,
    MemberOut,
    MemberPermissionsChanged,
    MemberPermissionsOut,
    MemberPermissionsUpdate,
    MemberUpdate,
)
from keyward.domains.pagination import Page
from keyward.domains.passwords import service as passwords
from keyward.domains.passwords.schemas import InvitationOut

router = APIRouter(tags=["members"])


@router.post("/members", status_code=201, name="member.create", responses=errors(409, *WITH_BODY))
def create_member(body: MemberCreate, actor: ActorDep, creation: CreationDep) -> MemberOut:
    return creation.run(body, lambda uow: service.create_member(uow, actor, body))


@router.get("/members", name="member.list", responses=errors())
def list_members(
    actor: ActorDep,
    database: DatabaseDep,
    page: PageDep,
    active: bool | None = None,
    organization_id: Annotated[str | None, Query(pattern=ID_REGEX)] = None,
) -> Page[MemberOut]:
    with database.transaction(write=False) as uow:
        return service.list_members(
            uow, actor, page, active=active, organization_id=organization_id
        )


@router.get("/members/{member_id}", name="member.read", responses=errors(404))
def read_member(member_id: str, actor: ActorDep, database: DatabaseDep) -> MemberOut:
    with database.transaction(write=False) as uow:
        return service.get_member(uow, actor, member_id)


@router.patch("/members/{member_id}", name="member.update", responses=errors(404, 409, *WITH_BODY))
def update_member(
    member_id: str, body: MemberUpdate, actor: ActorDep, runtime: RuntimeDep
) -> MemberChanged:
    """Change a member; fields left out stay. Answered once every live gateway applied the
    change (a deactivation above all: the member's keys stop working), or
    KEYWARD_ENFORCEMENT_WAIT is over: `enforcement` says which."""
    with runtime.database.transaction() as uow:
        updated = passwords.update_member(uow, actor, member_id, body)
    return MemberChanged(**dict(updated), enforcement=enforcement(runtime, uow))


@router.delete(
    "/members/{member_id}", status_code=204, name="member.delete", responses=errors(404, 409)
)
def delete_member(member_id: str, actor: ActorDep, runtime: RuntimeDep) -> Response:
    """Delete a member. Every key they created is revoked in the same step; answered once
    every live gateway refuses those keys (the `Keyward-Enforcement` header says so)."""
    with runtime.database.transaction() as uow:
        service.delete_member(uow, actor, member_id)
    return Response(status_code=204, headers=enforcement_header(enforcement(runtime, uow)))


@router.get(
    "/members/{member_id}/permissions", name="member.permissions.read", responses=errors(404)
)
def read_permissions(
    member_id: str, actor: ActorDep, database: DatabaseDep
) -> MemberPermissionsOut:
    with database.transaction(write=False) as uow:
        return service.get_permissions(uow, actor, member_id)


@router.put(
    "/members/{member_id}/permissions",
    name="member.permissions.update",
    responses=errors(404, 409, *WITH_BODY),
)
def replace_permissions(
    member_id: str, body: MemberPermissionsUpdate, actor: ActorDep, runtime: RuntimeDep
) -> MemberPermissionsChanged:
    """Replace roles and direct permissions. The member's keys lose removed rights at once:
    answered once every live gateway applied that (`enforcement`)."""
    with runtime.database.transaction() as uow:
        replaced = service.set_permissions(uow, actor, member_id, body)
    return MemberPermissionsChanged(**dict(replaced), enforcement=enforcement(runtime, uow))


@router.post(
    "/members/{member_id}/invitations",
    status_code=202,
    name="member.invite",
    responses=errors(404, 409, 429),
)
def invite_member(
    member_id: str, actor: ActorDep, creation: CreationDep, settings: SettingsDep
) -> InvitationOut:
    """E-mail the member an invitation: a link that sets their password once, before it
    expires (`KEYWARD_INVITATION_LIFETIME`). Sent again, it is a new link; older ones keep
    working until one of them is used; a retry with the same Idempotency-Key sends none."""
    return creation.run(None, lambda uow: passwords.invite(uow, actor, member_id, settings))
