"""`/v1/organizations`."""

from fastapi import APIRouter, Response

from keyward.api.auth import ActorDep
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.runtime import DatabaseDep
from keyward.domains.organizations import service
from keyward.domains.organizations.schemas import (
    OrganizationCreate,
    OrganizationKind,
    OrganizationOut,
    OrganizationUpdate,
)
from keyward.domains.pagination import Page

router = APIRouter(tags=["organizations"])


@router.post(
    "/organizations", status_code=201, name="organization.create", responses=errors(409, *WITH_BODY)
)
def create_organization(
    body: OrganizationCreate, actor: ActorDep, creation: CreationDep
) -> OrganizationOut:
    return creation.run(body, lambda uow: service.create_organization(uow, actor, body))


@router.get("/organizations", name="organization.list", responses=errors())
def list_organizations(
    actor: ActorDep, database: DatabaseDep, page: PageDep, kind: OrganizationKind | None = None
) -> Page[OrganizationOut]:
    with database.transaction(write=False) as uow:
        return service.list_organizations(uow, actor, page, kind=kind)


@router.get("/organizations/{organization_id}", name="organization.read", responses=errors(404))
def read_organization(
    organization_id: str, actor: ActorDep, database: DatabaseDep
) -> OrganizationOut:
    with database.transaction(write=False) as uow:
        return service.get_organization(uow, actor, organization_id)


@router.patch(
    "/organizations/{organization_id}",
    name="organization.update",
    responses=errors(404, 409, *WITH_BODY),
)
def update_organization(
    organization_id: str, body: OrganizationUpdate, actor: ActorDep, database: DatabaseDep
) -> OrganizationOut:
    with database.transaction() as uow:
        return service.update_organization(uow, actor, organization_id, body)


@router.delete(
    "/organizations/{organization_id}",
    status_code=204,
    name="organization.delete",
    responses=errors(404),
)
def delete_organization(organization_id: str, actor: ActorDep, database: DatabaseDep) -> Response:
    with database.transaction() as uow:
        service.delete_organization(uow, actor, organization_id)
    return Response(status_code=204)
