"""Offerings: which operations, for how long, and what blocks deleting one."""

import pytest

from keyward.core.errors import Conflict, InvalidInput, NotFound
from keyward.db.engine import Database
from keyward.domains.offerings import service
from keyward.domains.offerings.schemas import OfferingUpdate
from keyward.domains.pagination import PageRequest
from tests.factories import (
    admin,
    make_acquisition,
    make_api,
    make_offering,
    make_organization,
    make_workspace,
)


def test_a_selection_must_name_operations_the_api_has(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    api = make_api(db, actor)
    offering = make_offering(db, actor, api.id, tags=["pets"], operation_ids=["health"])
    assert offering.operations is not None
    assert (offering.operations.tags, offering.operations.operation_ids) == (["pets"], ["health"])
    with pytest.raises(InvalidInput) as refused:
        make_offering(db, actor, api.id, tags=["pets", "cats"], operation_ids=["fly"])
    assert refused.value.code == "unknown_operations"
    assert refused.value.details == {"tags": ["cats"], "operation_ids": ["fly"]}


def test_nullable_fields_are_cleared_with_null(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    offering = make_offering(db, actor, make_api(db, actor).id, tags=["pets"])
    body = OfferingUpdate.model_validate({"acquisition_period": None, "operations": None})
    with db.transaction() as uow:
        updated = service.update_offering(uow, actor, offering.id, body)
    assert updated.acquisition_period is None
    assert updated.operations is None
    with pytest.raises(ValueError, match="cannot be null"):
        OfferingUpdate.model_validate({"name": None})


def test_an_offering_with_acquisitions_cannot_be_deleted(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    api = make_api(db, actor)
    taken, unused = make_offering(db, actor, api.id), make_offering(db, actor, api.id)
    make_acquisition(db, actor, taken.id, make_organization(db, actor).id)
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        service.delete_offering(uow, actor, taken.id)
    assert refused.value.code == "offering_has_acquisitions"
    with db.transaction() as uow:
        service.delete_offering(uow, actor, unused.id)
        listed = service.list_offerings(uow, actor, PageRequest(), api_id=api.id)
    assert [o.id for o in listed.data] == [taken.id]


def test_another_workspace_cannot_see_an_offering(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    offering = make_offering(db, admin(db, ours), make_api(db, admin(db, ours)).id)
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        service.get_offering(uow, admin(db, theirs), offering.id)
