"""The policies a workspace's admins set for the whole workspace: the unused keys policy."""

from keyward.core.actors import Actor
from keyward.core.errors import NotFound
from keyward.core.unused import UnusedPolicy
from keyward.db.engine import UnitOfWork
from keyward.db.models import Workspace
from keyward.domains import access
from keyward.domains.audit import service as audit
from keyward.domains.keys.service import iso_duration, parse_duration
from keyward.domains.workspaces import repository
from keyward.domains.workspaces.schemas import UnusedKeysPolicy, WorkspaceSettings


def unused_policy(workspace: Workspace) -> UnusedPolicy:
    """The workspace's unused keys policy as the sweep applies it (inactive when off)."""
    return UnusedPolicy(
        parse_duration(workspace.unused_warn_after), parse_duration(workspace.unused_revoke_after)
    )


def _settings(workspace: Workspace) -> WorkspaceSettings:
    policy = unused_policy(workspace)
    unused = (
        UnusedKeysPolicy(warn_after=policy.warn_after, revoke_after=policy.revoke_after)
        if policy.active
        else None
    )
    return WorkspaceSettings(unused_keys=unused)


def _workspace(uow: UnitOfWork, actor: Actor) -> Workspace:
    workspace = repository.get(uow.session, actor.workspace_id)
    if workspace is None:
        raise NotFound("This workspace no longer exists.", code="workspace_not_found")
    return workspace


def get_settings(uow: UnitOfWork, actor: Actor) -> WorkspaceSettings:
    """The workspace's settings; workspace admins only."""
    access.gate(actor, "workspace", "read", workspace_wide=True)
    return _settings(_workspace(uow, actor))


def update_settings(uow: UnitOfWork, actor: Actor, body: WorkspaceSettings) -> WorkspaceSettings:
    """Replace the workspace's settings (workspace admins only), audited with what they were.
    The unused keys policy applies from the worker's next sweep, to keys already idle too."""
    access.gate(actor, "workspace", "update", workspace_wide=True)
    workspace = _workspace(uow, actor)
    before = _settings(workspace)
    unused = body.unused_keys
    workspace.unused_warn_after = iso_duration(unused.warn_after) if unused else None
    workspace.unused_revoke_after = iso_duration(unused.revoke_after) if unused else None
    uow.session.flush()
    after = _settings(workspace)
    if after != before:
        audit.record(
            uow,
            actor,
            "workspace.settings.update",
            target_type="workspace",
            target_id=workspace.id,
            details={
                "before": before.model_dump(mode="json"),
                "after": after.model_dump(mode="json"),
            },
        )
    return after
