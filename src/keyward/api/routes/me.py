"""`/v1/me`: the calling key, its member, workspace and effective permissions."""

from fastapi import APIRouter

from keyward.api.auth import ActorDep
from keyward.api.routes.common import errors
from keyward.api.runtime import DatabaseDep
from keyward.domains.workspaces import service
from keyward.domains.workspaces.schemas import Me

router = APIRouter(tags=["me"])


@router.get("/me", name="me.read", responses=errors())
def read_me(actor: ActorDep, database: DatabaseDep) -> Me:
    with database.transaction(write=False) as uow:
        return service.whoami(uow, actor)
