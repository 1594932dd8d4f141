"""`/v1/offerings`."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from keyward.api.auth import ActorDep
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.routes.gateways import enforcement, enforcement_header
from keyward.api.runtime import DatabaseDep, RuntimeDep
from keyward.core.ids import ID_REGEX
from keyward.domains.offerings import service
from keyward.domains.offerings.schemas import (
    OfferingChanged,
    OfferingCreate,
    OfferingOut,
    OfferingUpdate,
)
from keyward.domains.pagination import Page

router = APIRouter(tags=["offerings"])


@router.post(
    "/offerings", status_code=201, name="offering.create", responses=errors(404, 409, *WITH_BODY)
)
def create_offering(body: OfferingCreate, actor: ActorDep, creation: CreationDep) -> OfferingOut:
    """Offer an API, optionally only some operations, with rate limits and quotas.

    `limits` apply per key or per acquisition; two limits with the same scope and period are
    refused with 422 `duplicate_limit`.
    """
    return creation.run(body, lambda uow: service.create_offering(uow, actor, body))


@router.get("/offerings", name="offering.list", responses=errors())
def list_offerings(
    actor: ActorDep,
    database: DatabaseDep,
    page: PageDep,
    api_id: Annotated[str | None, Query(pattern=ID_REGEX)] = None,
) -> Page[OfferingOut]:
    with database.transaction(write=False) as uow:
        return service.list_offerings(uow, actor, page, api_id=api_id)


@router.get("/offerings/{offering_id}", name="offering.read", responses=errors(404))
def read_offering(offering_id: str, actor: ActorDep, database: DatabaseDep) -> OfferingOut:
    with database.transaction(write=False) as uow:
        return service.get_offering(uow, actor, offering_id)


@router.patch(
    "/offerings/{offering_id}", name="offering.update", responses=errors(404, 409, *WITH_BODY)
)
def update_offering(
    offering_id: str, body: OfferingUpdate, actor: ActorDep, runtime: RuntimeDep
) -> OfferingChanged:
    """Change an offering; fields left out stay. `limits` replaces every limit (`[]`: none);
    gateways apply it as soon as they read the change feed, and the answer waits for every
    live one to have (at most KEYWARD_ENFORCEMENT_WAIT; `enforcement` says whether they did)."""
    with runtime.database.transaction() as uow:
        updated = service.update_offering(uow, actor, offering_id, body)
    return OfferingChanged(**dict(updated), enforcement=enforcement(runtime, uow))


@router.delete(
    "/offerings/{offering_id}", status_code=204, name="offering.delete", responses=errors(404, 409)
)
def delete_offering(offering_id: str, actor: ActorDep, runtime: RuntimeDep) -> Response:
    """Delete an offering; answered once every live gateway applied it (the
    `Keyward-Enforcement` header says whether they did)."""
    with runtime.database.transaction() as uow:
        service.delete_offering(uow, actor, offering_id)
    return Response(status_code=204, headers=enforcement_header(enforcement(runtime, uow)))
