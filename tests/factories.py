"""Small typed factories for test data. Each opens its own unit of work and commits it."""

import itertools
from collections.abc import Sequence
from datetime import timedelta

from keyward.core.actors import Actor, Via
from keyward.db.engine import Database
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import AccountKeyCreate, KeyCreated
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberCreate, MemberOut
from keyward.domains.organizations import service as organizations
from keyward.domains.organizations.schemas import (
    OrganizationCreate,
    OrganizationKind,
    OrganizationOut,
)
from keyward.domains.workspaces import service as workspaces
from keyward.domains.workspaces.schemas import WorkspaceCreate
from keyward.domains.workspaces.service import WorkspaceSetUp

_serial = itertools.count(1)


def make_workspace(
    db: Database, *, name: str | None = None, key_prefix: str = "kw"
) -> WorkspaceSetUp:
    n = next(_serial)
    with db.transaction() as uow:
        return workspaces.set_up_workspace(
            uow,
            WorkspaceCreate(
                name=name or f"workspace {n}",
                key_prefix=key_prefix,
                admin_email=f"admin{n}@example.com",
            ),
        )


def actor_for(db: Database, workspace_id: str, member_id: str, via: Via = Via.CLI) -> Actor:
    """Act as a member with all their current rights."""
    with db.transaction(write=False) as uow:
        return workspaces.actor_for_member(uow, workspace_id, member_id, via)


def admin(db: Database, set_up: WorkspaceSetUp) -> Actor:
    return actor_for(db, set_up.workspace.id, set_up.admin_member_id)


def make_member(
    db: Database,
    actor: Actor,
    *,
    email: str | None = None,
    name: str = "A Member",
    roles: Sequence[str] = (),
    permissions: Sequence[str] = (),
    organization_ids: Sequence[str] = (),
) -> MemberOut:
    body = MemberCreate(
        email=email or f"member{next(_serial)}@example.com",
        name=name,
        roles=list(roles),
        permissions=list(permissions),
        organization_ids=list(organization_ids),
    )
    with db.transaction() as uow:
        return members.create_member(uow, actor, body)


def make_key(
    db: Database,
    actor: Actor,
    *,
    name: str = "a key",
    permissions: Sequence[str] = ("keys:read",),
    expires_in: timedelta | None = None,
) -> KeyCreated:
    body = AccountKeyCreate(name=name, permissions=list(permissions), expires_in=expires_in)
    with db.transaction() as uow:
        return keys.issue_account_key(uow, actor, body)


def make_organization(
    db: Database,
    actor: Actor,
    *,
    name: str | None = None,
    kind: OrganizationKind = OrganizationKind.ACQUIRER,
) -> OrganizationOut:
    body = OrganizationCreate(name=name or f"Organization {next(_serial)}", kind=kind)
    with db.transaction() as uow:
        return organizations.create_organization(uow, actor, body)


def secret(created: KeyCreated) -> str:
    assert created.key is not None
    return created.key


def bearer(created: KeyCreated | str) -> dict[str, str]:
    value = created if isinstance(created, str) else secret(created)
    return {"Authorization": f"Bearer {value}"}
