"""What the provider's pages read from the API services: the APIs a member provides, the
tags and operationIds an offering may select, the members a policy may name as approvers."""

import pytest

from keyward.core.errors import NotFound, PermissionDenied
from keyward.db.engine import Database
from keyward.domains.apis import service
from keyward.domains.offerings import service as offerings
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.domains.pagination import PageRequest
from keyward.settings import Settings
from tests.factories import (
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_member,
    make_offering,
    make_organization,
    make_party,
    make_workspace,
)


def test_listing_for_update_keeps_the_apis_of_the_members_own_organizations(db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    acme = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    umbrella = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    acquirer = make_party(db, boss)
    ours = make_api(db, boss, provider_organization_id=acme.organization_id)
    theirs = make_api(db, boss, provider_organization_id=umbrella.organization_id)
    with db.transaction(write=False) as uow:
        provided = service.list_apis(uow, acme.actor, PageRequest(), Settings(), action="update")
        everything = service.list_apis(uow, boss, PageRequest(), Settings(), action="update")
        catalogue = service.list_apis(uow, acquirer.actor, PageRequest(), Settings())
    assert [api.id for api in provided.data] == [ours.id]
    assert provided.data[0].upstream_url == "https://upstream.example.com/"
    assert {api.id for api in everything.data} == {ours.id, theirs.id}
    assert {api.id for api in catalogue.data} == {ours.id, theirs.id}
    with pytest.raises(PermissionDenied), db.transaction(write=False) as uow:
        service.list_apis(uow, acquirer.actor, PageRequest(), Settings(), action="update")


def test_operation_names_are_the_current_specs_tags_and_ids_for_its_providers_only(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    acme = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    umbrella = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    api = make_api(db, boss, provider_organization_id=acme.organization_id)
    with db.transaction(write=False) as uow:
        names = service.operation_names(uow, acme.actor, api.id)
    assert names.tags == ["admin", "pets"]
    assert names.operation_ids == ["createPet", "health", "listPets", "showPet"]
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        service.operation_names(uow, umbrella.actor, api.id)


def test_approver_candidates_are_active_members_holding_keys_approve(db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    approver = make_member(db, boss, roles=["approver"])
    acquirer = make_member(db, boss, roles=["acquirer"])
    other = make_workspace(db)
    elsewhere = make_member(db, admin(db, other), roles=["approver"])
    wanted = [approver.id, acquirer.id, elsewhere.id, "mem_unknown"]
    with db.transaction(write=False) as uow:
        candidates = service.approver_candidates(uow, boss, wanted)
    assert candidates == {approver.id}


def test_a_provider_reads_the_names_of_who_acquired_its_offering_and_nobody_elses(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    acme = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    umbrella = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    globex = make_party(db, boss)
    initech = make_organization(db, boss, name="Initech")
    api = make_api(db, boss, provider_organization_id=acme.organization_id)
    offering = make_offering(db, boss, api.id)
    make_acquisition(db, globex.actor, offering.id, globex.organization_id)
    wanted = [globex.organization_id, initech.id]
    with db.transaction(write=False) as uow:
        names = offerings.acquirer_names(uow, acme.actor, offering.id, wanted)
    assert list(names) == [globex.organization_id]
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        offerings.acquirer_names(uow, umbrella.actor, offering.id, wanted)
    with pytest.raises(PermissionDenied), db.transaction(write=False) as uow:
        offerings.acquirer_names(uow, globex.actor, offering.id, wanted)


def test_offering_and_key_counts_are_what_the_member_may_see(db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    acme = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    umbrella = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    globex = make_party(db, boss)
    initech = make_party(db, boss)
    ours = make_api(db, boss, provider_organization_id=acme.organization_id)
    theirs = make_api(db, boss, provider_organization_id=umbrella.organization_id)
    offered = make_offering(db, boss, ours.id)
    make_offering(db, boss, ours.id)
    make_offering(db, boss, theirs.id)
    bought = make_acquisition(db, globex.actor, offered.id, globex.organization_id)
    idle = make_acquisition(db, initech.actor, offered.id, initech.organization_id)
    for _ in range(3):
        make_acquisition_key(db, globex.actor, bought.id)
    with db.transaction(write=False) as uow:
        provided = offerings.offering_counts(uow, acme.actor, [ours.id, theirs.id])
        everything = offerings.offering_counts(uow, boss, [ours.id, theirs.id])
        keys = offerings.key_counts(uow, acme.actor, offered.id, [bought.id, idle.id])
    assert provided == {ours.id: 2}
    assert everything == {ours.id: 2, theirs.id: 1}
    assert keys == {bought.id: 3}
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        offerings.key_counts(uow, umbrella.actor, offered.id, [bought.id])
