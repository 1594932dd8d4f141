"""`/v1/gateways`: the gateway processes serving and how far each lags the change feed; and the
enforcement receipt that changes which gateways must enforce are answered with."""

import json

from fastapi import APIRouter

from keyward.api.auth import ActorDep
from keyward.api.routes.common import PageDep, errors
from keyward.api.runtime import DatabaseDep, Runtime
from keyward.db.engine import UnitOfWork
from keyward.domains.gateways import service
from keyward.domains.gateways.schemas import Enforcement, GatewayPage

router = APIRouter(tags=["gateways"])

# The receipt of a change answered without a body (204): the `Enforcement` object as JSON.
ENFORCEMENT_HEADER = "Keyward-Enforcement"


@router.get("/gateways", name="gateway.list", responses=errors())
def list_gateways(actor: ActorDep, database: DatabaseDep, page: PageDep) -> GatewayPage:
    """The gateway processes of the installation, live or not, newest first: where each
    serves, its version, the change-feed position it has applied, how far it lags (in
    changes, and the age of the oldest change it has not applied) and its last heartbeat.

    For those who may read the workspace's settings (`workspace:read` across the workspace).
    Gateways serve every workspace of the installation: their rows name no workspace and hold
    nothing of any, and the positions count the changes of all workspaces together.
    `feed_position` is the last change recorded; a gateway that stopped cleanly is not listed.
    """
    with database.transaction(write=False) as uow:
        return service.list_gateways(uow, actor, page)


def enforcement(runtime: Runtime, uow: UnitOfWork) -> Enforcement:
    """Once `uow` has committed: wait (at most KEYWARD_ENFORCEMENT_WAIT) until every live gateway
    has applied what it recorded, and say whether they did. Sync routes only (it sleeps)."""
    return service.await_enforcement(
        runtime.database, uow.feed_position, runtime.settings.enforcement_wait
    )


def enforcement_header(receipt: Enforcement) -> dict[str, str]:
    """The receipt as the `Keyward-Enforcement` header, for answers without a body."""
    return {ENFORCEMENT_HEADER: json.dumps(receipt.model_dump(mode="json"), separators=(",", ":"))}
