"""The rules for organizations: unique names per workspace, provider or acquirer side."""

from collections.abc import Sequence

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, NotFound
from keyward.core.ids import is_id, new_id, quote
from keyward.db.engine import UnitOfWork
from keyward.db.models import Organization
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


def _find(uow: UnitOfWork, actor: Actor, organization_id: str) -> Organization:
    organization = (
        repository.get(uow.session, actor.workspace_id, organization_id)
        if is_id(organization_id, "org")
        else None
    )
    if organization is None:
        raise NotFound(
            f"No organization {quote(organization_id)} in this workspace.",
            code="organization_not_found",
        )
    return organization


def _check_name_free(uow: UnitOfWork, actor: Actor, name: str) -> None:
    if repository.by_name(uow.session, actor.workspace_id, name) is not None:
        raise Conflict(
            f"An organization named {name!r} already exists in this workspace.",
            code="organization_exists",
        )


def create_organization(uow: UnitOfWork, actor: Actor, body: OrganizationCreate) -> OrganizationOut:
    actor.require("organizations", "create")
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
    actor.require("organizations", "read", organization_id)
    return _outs(uow, [_find(uow, actor, organization_id)])[0]


def list_organizations(
    uow: UnitOfWork, actor: Actor, page: PageRequest, *, kind: OrganizationKind | None = None
) -> Page[OrganizationOut]:
    actor.require("organizations", "read")
    rows = repository.list_organizations(
        uow.session, actor.workspace_id, page, kind=kind.value if kind else None
    )
    kept, cursor = split_page(rows, page, lambda o: o.id)
    return Page[OrganizationOut](data=_outs(uow, kept), next_cursor=cursor)


def update_organization(
    uow: UnitOfWork, actor: Actor, organization_id: str, body: OrganizationUpdate
) -> OrganizationOut:
    actor.require("organizations", "update", organization_id)
    organization = _find(uow, actor, organization_id)
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
    """Delete an organization; its members stay in the workspace, without it."""
    actor.require("organizations", "delete", organization_id)
    organization = _find(uow, actor, organization_id)
    repository.delete(uow.session, organization)
    audit.record(
        uow,
        actor,
        "organization.delete",
        target_type="organization",
        target_id=organization.id,
        details={"name": organization.name},
    )
