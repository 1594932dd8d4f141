"""Connectors: `/v1/acquisitions/{id}/connectors`, `/v1/connectors/{id}` and its deliveries."""

from fastapi import APIRouter, Response

from keyward.api.auth import ActorDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.runtime import RuntimeDep
from keyward.domains.connectors import service
from keyward.domains.connectors.schemas import (
    ConnectorCreate,
    ConnectorCreated,
    ConnectorOut,
    DeliveryOut,
)
from keyward.domains.pagination import Page

router = APIRouter(tags=["connectors"])


@router.post(
    "/acquisitions/{acquisition_id}/connectors",
    status_code=201,
    name="connector.create",
    responses=errors(404, 409, *WITH_BODY),
)
def create_connector(
    acquisition_id: str,
    body: ConnectorCreate,
    actor: ActorDep,
    runtime: RuntimeDep,
    response: Response,
) -> ConnectorCreated:
    """Deliver the acquisition's spec to a webhook or a storage URL now and after every
    provider update, with a key of the acquisition (pasted, or generated for it)."""
    with runtime.database.transaction() as uow:
        created = service.create_connector(
            uow,
            actor,
            acquisition_id,
            body,
            verify=lambda key: runtime.verifier.verify(key, actor.workspace_id),
            sealer=runtime.sealer,
            settings=runtime.settings,
        )
    response.headers["Cache-Control"] = "no-store"
    return created


@router.get(
    "/acquisitions/{acquisition_id}/connectors", name="connector.list", responses=errors(404)
)
def list_connectors(
    acquisition_id: str, actor: ActorDep, runtime: RuntimeDep, page: PageDep
) -> Page[ConnectorOut]:
    with runtime.database.transaction(write=False) as uow:
        return service.list_connectors(uow, actor, acquisition_id, page)


@router.get("/connectors/{connector_id}", name="connector.read", responses=errors(404))
def read_connector(connector_id: str, actor: ActorDep, runtime: RuntimeDep) -> ConnectorOut:
    with runtime.database.transaction(write=False) as uow:
        return service.get_connector(uow, actor, connector_id)


@router.delete(
    "/connectors/{connector_id}", status_code=204, name="connector.delete", responses=errors(404)
)
def delete_connector(connector_id: str, actor: ActorDep, runtime: RuntimeDep) -> Response:
    with runtime.database.transaction() as uow:
        service.delete_connector(uow, actor, connector_id)
    return Response(status_code=204)


@router.get(
    "/connectors/{connector_id}/deliveries", name="connector.deliveries", responses=errors(404)
)
def list_deliveries(
    connector_id: str, actor: ActorDep, runtime: RuntimeDep, page: PageDep
) -> Page[DeliveryOut]:
    """Every delivery attempt, newest first: what was delivered, or why it failed."""
    with runtime.database.transaction(write=False) as uow:
        return service.list_deliveries(uow, actor, connector_id, page)
