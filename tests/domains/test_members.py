"""The rules for members and their rights, through the members service."""

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from keyward.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from keyward.core.keys import KeyState
from keyward.db.engine import Database
from keyward.db.models import ChangeFeedEntry, Member
from keyward.domains.keys import service as keys
from keyward.domains.members import service
from keyward.domains.members.schemas import MemberCreate, MemberPermissionsUpdate, MemberUpdate
from keyward.domains.pagination import PageRequest
from tests.factories import (
    actor_for,
    admin,
    make_key,
    make_member,
    make_organization,
    make_workspace,
)


def _grant(
    db: Database, actor_member: str, workspace_id: str, target: str, **grants: list[str]
) -> None:
    actor = actor_for(db, workspace_id, actor_member)
    body = MemberPermissionsUpdate(
        roles=grants.get("roles", []), permissions=grants.get("permissions", [])
    )
    with db.transaction() as uow:
        service.set_permissions(uow, actor, target, body)


def test_creating_a_member_with_roles_organizations_and_a_password(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    organization = make_organization(db, actor)
    body = MemberCreate(
        email="Pat@Example.COM",
        name="Pat",
        password=SecretStr("correct horse battery"),
        roles=["acquirer"],
        organization_ids=[organization.id],
    )
    with db.transaction() as uow:
        created = service.create_member(uow, actor, body)
        row = uow.session.get(Member, created.id)
    assert created.email == "pat@example.com"
    assert created.roles == ["acquirer"]
    assert created.organization_ids == [organization.id]
    assert created.has_password
    assert "password" not in created.model_dump()
    assert row is not None
    assert row.password_hash is not None
    assert row.password_hash.startswith("$argon2id$")
    assert "correct horse" not in row.password_hash


def test_e_mails_are_unique_per_workspace_ignoring_case(db: Database) -> None:
    first, second = make_workspace(db), make_workspace(db)
    make_member(db, admin(db, first), email="sam@example.com")
    with pytest.raises(Conflict) as refused:
        make_member(db, admin(db, first), email="SAM@example.com")
    assert refused.value.code == "member_exists"
    assert make_member(db, admin(db, second), email="sam@example.com").email == "sam@example.com"


def test_unknown_or_foreign_organizations_are_refused(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    foreign = make_organization(db, admin(db, theirs))
    with pytest.raises(InvalidInput) as refused:
        make_member(db, admin(db, ours), organization_ids=[foreign.id])
    assert refused.value.code == "organization_not_found"
    assert refused.value.details["organization_ids"] == [foreign.id]


def test_nobody_grants_what_they_do_not_hold(db: Database) -> None:
    set_up = make_workspace(db)
    manager = make_member(
        db, admin(db, set_up), permissions=["members:create", "members:grant", "keys:read"]
    )
    actor = actor_for(db, set_up.workspace.id, manager.id)
    with pytest.raises(PermissionDenied) as refused:
        make_member(db, actor, roles=["admin"])
    assert refused.value.code == "permission_escalation"
    assert make_member(db, actor, permissions=["keys:read"]).id


def test_granting_at_creation_needs_the_grant_permission(db: Database) -> None:
    set_up = make_workspace(db)
    recruiter = make_member(db, admin(db, set_up), permissions=["members:create", "keys:read"])
    actor = actor_for(db, set_up.workspace.id, recruiter.id)
    with pytest.raises(PermissionDenied) as refused:
        make_member(db, actor, permissions=["keys:read"])
    assert refused.value.details["required"] == "members:grant"
    assert make_member(db, actor).roles == []


def test_a_member_cannot_manage_someone_with_more_rights(db: Database) -> None:
    set_up = make_workspace(db)
    helper = make_member(db, admin(db, set_up), permissions=["members:*"])
    actor = actor_for(db, set_up.workspace.id, helper.id)
    for attempt in (
        lambda uow: service.set_permissions(
            uow, actor, set_up.admin_member_id, MemberPermissionsUpdate(roles=[], permissions=[])
        ),
        lambda uow: service.update_member(
            uow, actor, set_up.admin_member_id, MemberUpdate(active=False)
        ),
        lambda uow: service.delete_member(uow, actor, set_up.admin_member_id),
    ):
        with pytest.raises(PermissionDenied) as refused, db.transaction() as uow:
            attempt(uow)
        assert refused.value.code == "permission_escalation"


def test_the_last_active_admin_cannot_be_removed(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    for attempt in (
        lambda uow: service.set_permissions(
            uow, actor, set_up.admin_member_id, MemberPermissionsUpdate(roles=[], permissions=[])
        ),
        lambda uow: service.update_member(
            uow, actor, set_up.admin_member_id, MemberUpdate(active=False)
        ),
    ):
        with pytest.raises(Conflict) as refused, db.transaction() as uow:
            attempt(uow)
        assert refused.value.code == "last_admin"
    second = make_member(db, actor, roles=["admin"])
    with db.transaction() as uow:
        service.update_member(uow, actor, set_up.admin_member_id, MemberUpdate(active=False))
        assert service.get_member(uow, actor, second.id).active


def test_members_cannot_delete_themselves(db: Database) -> None:
    set_up = make_workspace(db)
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        service.delete_member(uow, admin(db, set_up), set_up.admin_member_id)
    assert refused.value.code == "cannot_delete_self"


def test_deleting_a_member_revokes_every_key_they_created(db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    leaver = make_member(db, boss, permissions=["keys:create", "keys:read"])
    leaver_actor = actor_for(db, set_up.workspace.id, leaver.id)
    made = [make_key(db, leaver_actor, name=f"k{i}") for i in range(2)]
    with db.transaction() as uow:
        service.delete_member(uow, boss, leaver.id)
    with db.transaction(write=False) as uow:
        for created in made:
            shown = keys.get_key(uow, boss, created.id)
            assert shown.state is KeyState.REVOKED
            assert shown.creator_member_id is None
        with pytest.raises(NotFound):
            service.get_member(uow, boss, leaver.id)


def test_permission_changes_are_published_to_the_change_feed(db: Database) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:read"])
    _grant(db, set_up.admin_member_id, set_up.workspace.id, member.id, roles=["auditor"])
    with db.transaction(write=False) as uow:
        entities = uow.session.scalars(
            select(ChangeFeedEntry.entity).where(ChangeFeedEntry.entity_id == member.id)
        ).all()
        rights = service.get_permissions(uow, admin(db, set_up), member.id)
    assert entities == ["member"]
    assert rights.roles == ["auditor"]
    assert rights.permissions == []
    assert rights.effective == ["*:read"]


def test_list_filters_by_activity_and_organization(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    organization = make_organization(db, actor)
    inside = make_member(db, actor, organization_ids=[organization.id])
    idle = make_member(db, actor)
    with db.transaction() as uow:
        service.update_member(uow, actor, idle.id, MemberUpdate(active=False))
        in_org = service.list_members(uow, actor, PageRequest(), organization_id=organization.id)
        inactive = service.list_members(uow, actor, PageRequest(), active=False)
    assert [m.id for m in in_org.data] == [inside.id]
    assert [m.id for m in inactive.data] == [idle.id]


def test_patch_refuses_explicit_nulls() -> None:
    with pytest.raises(ValidationError, match="cannot be null"):
        MemberUpdate.model_validate({"name": None})


def test_members_of_another_workspace_are_not_found(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    with pytest.raises(NotFound), db.transaction() as uow:
        service.get_member(uow, admin(db, theirs), ours.admin_member_id)
    with pytest.raises(NotFound), db.transaction() as uow:
        service.update_member(uow, admin(db, theirs), ours.admin_member_id, MemberUpdate(name="x"))
