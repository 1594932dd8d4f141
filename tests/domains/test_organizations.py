"""Organizations: unique names per workspace, members counted, isolation."""

import pytest

from keyward.core.errors import Conflict, NotFound
from keyward.db.engine import Database
from keyward.domains.organizations import service
from keyward.domains.organizations.schemas import OrganizationKind, OrganizationUpdate
from keyward.domains.pagination import PageRequest
from tests.factories import admin, make_member, make_organization, make_workspace


def test_names_are_unique_within_a_workspace(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    make_organization(db, admin(db, ours), name="Globex")
    with pytest.raises(Conflict) as refused:
        make_organization(db, admin(db, ours), name="Globex")
    assert refused.value.code == "organization_exists"
    assert make_organization(db, admin(db, theirs), name="Globex").name == "Globex"


def test_list_filters_by_kind_and_counts_members(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    provider = make_organization(db, actor, kind=OrganizationKind.PROVIDER)
    acquirer = make_organization(db, actor, kind=OrganizationKind.ACQUIRER)
    make_member(db, actor, organization_ids=[acquirer.id])
    make_member(db, actor, organization_ids=[acquirer.id, provider.id])
    with db.transaction(write=False) as uow:
        page = service.list_organizations(uow, actor, PageRequest(), kind=OrganizationKind.ACQUIRER)
    assert [(o.id, o.member_count) for o in page.data] == [(acquirer.id, 2)]


def test_renaming_and_deleting(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    first = make_organization(db, actor, name="First")
    make_organization(db, actor, name="Taken")
    with pytest.raises(Conflict), db.transaction() as uow:
        service.update_organization(uow, actor, first.id, OrganizationUpdate(name="Taken"))
    with db.transaction() as uow:
        assert (
            service.update_organization(
                uow, actor, first.id, OrganizationUpdate(name="Renamed")
            ).name
            == "Renamed"
        )
        service.delete_organization(uow, actor, first.id)
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        service.get_organization(uow, actor, first.id)


def test_another_workspace_cannot_touch_an_organization(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    organization = make_organization(db, admin(db, ours))
    with pytest.raises(NotFound), db.transaction() as uow:
        service.delete_organization(uow, admin(db, theirs), organization.id)
    with db.transaction(write=False) as uow:
        assert service.get_organization(uow, admin(db, ours), organization.id).id
