"""The rules for organizations: unique names per workspace, provider or acquirer side."""

from collections.abc import Sequence

from keyward.core.actors import Actor
from keyward.core.errors import Conflict
from keyward.core.ids import new_id
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import Organization
from keyward.domains import access
from keyward.domains.audit import service as audit
from keyward.domains.organizations import repository
from keyward.domains.organizations.schemas import (
    OrganizationCreate,
    OrganizationKind,
    OrganizationOut,
    OrganizationUpdate,
)
from keyward.domains.pagination import Page, PageRequest, split_page


def _outs(uow: UnitOfWork, organizations: Sequence[Organization]) -> list[OrganizationOut]:
    counts = repository.member_counts(uow.session, [o.id for o in organizations])
    return [
        OrganizationOut(
            id=o.id,
            name=o.name,
            kind=OrganizationKind(o.kind),
            member_count=counts.get(o.id, 0),
            created_at=o.created_at,
            updated_at=o.updated_at,
        )
        for o in organizations
    ]


def _find(uow: UnitOfWork, actor: Actor, organization_id: str, action: str) -> Organization:
    return access.find(uow, actor, access.ORGANIZATIONS, organization_id, action)


def _check_name_free(uow: UnitOfWork, actor: Actor, name: str) -> None:
    if repository.by_name(uow.session, actor.workspace_id, name) is not None:
        raise Conflict(
            f"An organization named {name!r} already exists in this workspace.",
            code="organization_exists",
        )


def create_organization(uow: UnitOfWork, actor: Actor, body: OrganizationCreate) -> OrganizationOut:
    access.gate(actor, "organizations", "create")
    _check_name_free(uow, actor, body.name)
    now = uow.clock.now()
    organization = Organization(
        id=new_id("org"),
        workspace_id=actor.workspace_id,
        name=body.name,
        kind=body.kind.value,
        created_at=now,
        updated_at=now,
    )
    repository.add(uow.session, organization)
    audit.record(
        uow,
        actor,
        "organization.create",
        target_type="organization",
        target_id=organization.id,
        details={"name": organization.name, "kind": organization.kind},
    )
    return _outs(uow, [organization])[0]


def get_organization(uow: UnitOfWork, actor: Actor, organization_id: str) -> OrganizationOut:
    return _outs(uow, [_find(uow, actor, organization_id, "read")])[0]


def list_organizations(
    uow: UnitOfWork, actor: Actor, page: PageRequest, *, kind: OrganizationKind | None = None
) -> Page[OrganizationOut]:
    access.gate(actor, "organizations", "read")
    rows = repository.list_organizations(
        uow.session,
        actor.workspace_id,
        page,
        visible=access.visible(actor, access.ORGANIZATIONS),
        kind=kind.value if kind else None,
    )
    kept, cursor = split_page(rows, page, lambda o: o.id)
    return Page[OrganizationOut](data=_outs(uow, kept), next_cursor=cursor)


def update_organization(
    uow: UnitOfWork, actor: Actor, organization_id: str, body: OrganizationUpdate
) -> OrganizationOut:
    organization = _find(uow, actor, organization_id, "update")
    if body.name is not None and body.name != organization.name:
        _check_name_free(uow, actor, body.name)
        audit.record(
            uow,
            actor,
            "organization.update",
            target_type="organization",
            target_id=organization.id,
            details={"name": {"from": organization.name, "to": body.name}},
        )
        organization.name = body.name
        organization.updated_at = uow.clock.now()
        uow.session.flush()
    return _outs(uow, [organization])[0]


def delete_organization(uow: UnitOfWork, actor: Actor, organization_id: str) -> None:
    """Delete an organization; its members stay in the workspace, without it (and their keys
    are decided anew), and its APIs are left to workspace admins."""
    organization = _find(uow, actor, organization_id, "delete")
    for member_id in repository.member_ids(uow.session, organization.id):
        uow.record_change(Change(organization.workspace_id, Entity.MEMBER, member_id))
    repository.delete(uow.session, organization)
    audit.record(
        uow,
        actor,
        "organization.delete",
        target_type="organization",
        target_id=organization.id,
        details={"name": organization.name},
    )
