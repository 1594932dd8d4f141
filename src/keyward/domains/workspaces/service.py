"""Setting up a workspace with its first admin and key, and telling a caller who they are."""

from dataclasses import dataclass

from keyward.core.actors import Actor, Via
from keyward.core.errors import Conflict, NotFound
from keyward.core.ids import is_id, new_id, quote
from keyward.core.ownership import SYSTEM
from keyward.db.engine import UnitOfWork
from keyward.db.models import Workspace
from keyward.db.rights import member_standing
from keyward.domains.audit import service as audit
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import AccountKeyCreate, KeyCreated
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberCreate
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.domains.workspaces import repository
from keyward.domains.workspaces.schemas import GrantOut, Me, WorkspaceCreate, WorkspaceOut


@dataclass(frozen=True, slots=True)
class WorkspaceSetUp:
    workspace: WorkspaceOut
    admin_member_id: str
    admin_key: KeyCreated


def set_up_workspace(uow: UnitOfWork, body: WorkspaceCreate) -> WorkspaceSetUp:
    """Create a workspace, its first admin member and that admin's first account key."""
    if repository.by_name(uow.session, body.name) is not None:
        raise Conflict(f"A workspace named {body.name!r} already exists.", code="workspace_exists")
    workspace = Workspace(
        id=new_id("ws"), name=body.name, key_prefix=body.key_prefix, created_at=uow.clock.now()
    )
    repository.add(uow.session, workspace)
    founder = Actor(workspace.id, None, None, SYSTEM, Via.SYSTEM)
    audit.record(
        uow,
        founder,
        "workspace.create",
        target_type="workspace",
        target_id=workspace.id,
        details={"name": workspace.name, "key_prefix": workspace.key_prefix},
    )
    admin = members.create_member(
        uow, founder, MemberCreate(email=body.admin_email, name=body.admin_name, roles=["admin"])
    )
    admin_actor = actor_for_member(uow, workspace.id, admin.id, Via.SYSTEM)
    admin_key = keys.issue_account_key(
        uow, admin_actor, AccountKeyCreate(name="admin", permissions=["*:*"])
    )
    return WorkspaceSetUp(WorkspaceOut.model_validate(workspace), admin.id, admin_key)


def get_workspace(uow: UnitOfWork, workspace_id: str) -> WorkspaceOut:
    workspace = repository.get(uow.session, workspace_id) if is_id(workspace_id, "ws") else None
    if workspace is None:
        raise NotFound(f"No workspace {quote(workspace_id)}.", code="workspace_not_found")
    return WorkspaceOut.model_validate(workspace)


def resolve_workspace(uow: UnitOfWork, reference: str | None) -> WorkspaceOut:
    """A workspace by id or name; without a reference, the default (oldest) one."""
    if reference is None:
        workspace = repository.first(uow.session)
        if workspace is None:
            raise NotFound(
                "keyward is not initialised: run 'keyward init'.", code="not_initialised"
            )
        return WorkspaceOut.model_validate(workspace)
    if is_id(reference, "ws"):
        return get_workspace(uow, reference)
    workspace = repository.by_name(uow.session, reference)
    if workspace is None:
        raise NotFound(f"No workspace {quote(reference)}.", code="workspace_not_found")
    return WorkspaceOut.model_validate(workspace)


def list_workspaces(uow: UnitOfWork, page: PageRequest) -> Page[WorkspaceOut]:
    """Every workspace of the database, newest first: what its operator (the CLI) may name."""
    kept, cursor = split_page(repository.list_workspaces(uow.session, page), page, lambda w: w.id)
    return Page[WorkspaceOut](
        data=[WorkspaceOut.model_validate(w) for w in kept], next_cursor=cursor
    )


def actor_for_member(uow: UnitOfWork, workspace_id: str, member: str, via: Via) -> Actor:
    """Act as a member (id or e-mail) with their current standing (the CLI's way of acting)."""
    found = members.active_member(uow, workspace_id, member)
    if found is None:
        raise NotFound(
            f"No active member {quote(member)} in this workspace.", code="member_not_found"
        )
    return Actor(workspace_id, found.id, None, member_standing(uow.session, found.id), via)


def admin_actor(uow: UnitOfWork, workspace_id: str, member_reference: str | None) -> Actor:
    """The CLI's actor: the named member (id or e-mail), else the workspace's first active admin."""
    if member_reference is None:
        member_reference = members.first_active_admin(uow, workspace_id)
        if member_reference is None:
            raise NotFound("This workspace has no active admin.", code="member_not_found")
    return actor_for_member(uow, workspace_id, member_reference, Via.CLI)


def default_workspace(uow: UnitOfWork) -> WorkspaceOut | None:
    """The oldest workspace, the one `keyward init` made, if there is one."""
    workspace = repository.first(uow.session)
    return WorkspaceOut.model_validate(workspace) if workspace is not None else None


def whoami(uow: UnitOfWork, actor: Actor) -> Me:
    return Me(
        workspace=get_workspace(uow, actor.workspace_id),
        member=members.own_member(uow, actor),
        key=keys.own_key(uow, actor),
        permissions=actor.permissions.strings(),
        grants=[
            GrantOut(reach=grant.reach, permissions=grant.rights.strings())
            for grant in actor.standing.grants
        ],
    )
