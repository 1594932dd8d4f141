"""`/v1/workspace/settings`: the calling key's workspace's settings (the unused keys policy)."""

from fastapi import APIRouter

from keyward.api.auth import ActorDep
from keyward.api.routes.common import WITH_BODY, errors
from keyward.api.runtime import DatabaseDep
from keyward.domains.workspaces import policies
from keyward.domains.workspaces.schemas import WorkspaceSettings

router = APIRouter(tags=["workspace"])


@router.get("/workspace/settings", name="workspace.settings.read", responses=errors())
def read_settings(actor: ActorDep, database: DatabaseDep) -> WorkspaceSettings:
    """The workspace's settings; workspace admins only."""
    with database.transaction(write=False) as uow:
        return policies.get_settings(uow, actor)


@router.put("/workspace/settings", name="workspace.settings.update", responses=errors(*WITH_BODY))
def update_settings(
    body: WorkspaceSettings, actor: ActorDep, database: DatabaseDep
) -> WorkspaceSettings:
    """Replace the workspace's settings; workspace admins only.

    `unused_keys` (null: off) warns the owners of keys neither used nor created for
    `warn_after`, once per idle period, by e-mail and the `key.unused` webhook event, and
    revokes keys unused for `revoke_after` with the reason "unused", audited and announced
    as `key.revoked`, never sooner than `revoke_after - warn_after` after the warning. It
    applies from the worker's next sweep, to keys already unused too.
    """
    with database.transaction() as uow:
        return policies.update_settings(uow, actor, body)
