"""Connectors: `/v1/acquisitions/{id}/connectors`, `/v1/connectors/{id}` and its deliveries."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from keyward.api.auth import ActorDep
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.runtime import RuntimeDep
from keyward.domains.connectors import service
from keyward.domains.connectors.schemas import (
    ConnectorCreate,
    ConnectorCreated,
    ConnectorDeleted,
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
    creation: CreationDep,
    response: Response,
) -> ConnectorCreated:
    """Deliver the acquisition's spec to a webhook or a storage URL now and after every
    provider update, with a key of the acquisition (pasted, or generated for it)."""
    created = creation.run(
        body,
        lambda uow: service.create_connector(
            uow,
            actor,
            acquisition_id,
            body,
            verify=lambda key: runtime.verifier.verify(key, actor.workspace_id),
            sealer=runtime.sealer,
            settings=runtime.settings,
        ),
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


@router.delete("/connectors/{connector_id}", name="connector.delete", responses=errors(404, 409))
def delete_connector(
    connector_id: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    revoke_key: Annotated[
        bool | None,
        Query(
            description="Revoke the key the connector delivered with it (true) or keep it "
            "working (false); needed while that key works."
        ),
    ] = None,
) -> ConnectorDeleted:
    """Stop a connector, and say what became of its key: while the key it delivered works,
    `revoke_key` must say whether to revoke it too (409 `key_choice_required` names the key
    otherwise, and nothing is deleted); revoking needs no approval under its policy (else 409
    `revocation_requires_approval`)."""
    with runtime.database.transaction() as uow:
        return service.delete_connector(uow, actor, connector_id, revoke_key=revoke_key)


@router.get(
    "/connectors/{connector_id}/deliveries", name="connector.deliveries", responses=errors(404)
)
def list_deliveries(
    connector_id: str, actor: ActorDep, runtime: RuntimeDep, page: PageDep
) -> Page[DeliveryOut]:
    """Every delivery attempt, newest first: what was delivered, or why it failed."""
    with runtime.database.transaction(write=False) as uow:
        return service.list_deliveries(uow, actor, connector_id, page)
