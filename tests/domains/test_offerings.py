"""Offerings: which operations, for how long, with which limits, and what blocks deleting one."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, InvalidInput, NotFound
from keyward.db.engine import Database
from keyward.db.models import ChangeFeedEntry, Offering
from keyward.domains.offerings import service
from keyward.domains.offerings.schemas import LimitScope, OfferingCreate, OfferingUpdate
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


def _offer_with_limits(
    db: Database, actor: Actor, limits: list[dict[str, Any]], name: str = "Limited"
) -> str:
    body = OfferingCreate.model_validate(
        {"api_id": make_api(db, actor).id, "name": name, "limits": limits}
    )
    with db.transaction() as uow:
        return service.create_offering(uow, actor, body).id


def _feed(db: Database, offering_id: str) -> int:
    with db.transaction(write=False) as uow:
        return len(
            uow.session.scalars(
                select(ChangeFeedEntry).where(ChangeFeedEntry.entity_id == offering_id)
            ).all()
        )


def test_limits_are_stored_as_gateways_read_them_and_replaced_by_patch(db: Database) -> None:
    actor = admin(db, make_workspace(db))
    offering_id = _offer_with_limits(
        db,
        actor,
        [
            {"scope": "key", "requests": 10, "per": "PT1S"},
            {"scope": "acquisition", "requests": 100_000, "per": "P30D"},
        ],
    )
    with db.transaction(write=False) as uow:
        shown = service.get_offering(uow, actor, offering_id)
        row = uow.session.get(Offering, offering_id)
        assert row is not None
        assert row.limits == [
            {"scope": "key", "requests": 10, "per": "PT1S"},
            {"scope": "acquisition", "requests": 100000, "per": "P30D"},
        ]
    assert [(lim.scope, lim.requests, lim.per) for lim in shown.limits] == [
        (LimitScope.KEY, 10, timedelta(seconds=1)),
        (LimitScope.ACQUISITION, 100_000, timedelta(days=30)),
    ]
    assert _feed(db, offering_id) == 1

    same = OfferingUpdate.model_validate({"limits": [lim.model_dump() for lim in shown.limits]})
    fewer = OfferingUpdate.model_validate(
        {"limits": [{"scope": "key", "requests": 5, "per": "PT1M"}]}
    )
    with db.transaction() as uow:
        service.update_offering(uow, actor, offering_id, same)
    assert _feed(db, offering_id) == 1
    with db.transaction() as uow:
        updated = service.update_offering(uow, actor, offering_id, fewer)
    assert [(lim.requests, lim.per) for lim in updated.limits] == [(5, timedelta(minutes=1))]
    assert _feed(db, offering_id) == 2
    with db.transaction() as uow:
        cleared = service.update_offering(
            uow, actor, offering_id, OfferingUpdate.model_validate({"limits": []})
        )
    assert cleared.limits == []
    with pytest.raises(ValueError, match="cannot be null"):
        OfferingUpdate.model_validate({"limits": None})


def test_two_limits_of_one_scope_and_period_are_refused(db: Database) -> None:
    actor = admin(db, make_workspace(db))
    with pytest.raises(InvalidInput) as refused:
        _offer_with_limits(
            db,
            actor,
            [
                {"scope": "key", "requests": 60, "per": "PT1M"},
                {"scope": "acquisition", "requests": 600, "per": "PT1M"},
                {"scope": "key", "requests": 100, "per": "PT60S"},
            ],
        )
    assert refused.value.code == "duplicate_limit"
    assert refused.value.details == {"scope": "key", "per": "PT1M"}


@pytest.mark.parametrize(
    "limit",
    [
        {"scope": "key", "requests": 0, "per": "PT1S"},
        {"scope": "key", "requests": 10, "per": "PT0.5S"},
        {"scope": "key", "requests": 10, "per": "P367D"},
        {"scope": "key", "requests": 10, "per": 60},
        {"scope": "member", "requests": 10, "per": "PT1S"},
        {"scope": "key", "requests": 10},
    ],
)
def test_limits_must_be_positive_with_a_period_from_a_second_to_a_year(
    limit: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        OfferingCreate.model_validate({"api_id": "api_x", "name": "x", "limits": [limit]})


def test_an_offering_has_at_most_eight_limits() -> None:
    limits = [{"scope": "key", "requests": 10, "per": f"PT{n}S"} for n in range(1, 10)]
    with pytest.raises(ValidationError, match="at most 8"):
        OfferingCreate.model_validate({"api_id": "api_x", "name": "x", "limits": limits})
