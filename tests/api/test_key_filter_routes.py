"""`GET /v1/keys` by API and by expiry, and the `keyward keys list` options that match."""

from datetime import timedelta

from fastapi.testclient import TestClient

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from tests.api.error_bodies import assert_error
from tests.factories import (
    actor_for,
    admin,
    bearer,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
    set_key_policy,
)


def test_list_filters_keys_by_api_and_by_expiry(api: TestClient, db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    organization = make_organization(db, boss)
    buyer = make_member(db, boss, roles=["acquirer"], organization_ids=[organization.id])
    acquirer = actor_for(db, set_up.workspace.id, buyer.id)
    pets, stores = make_api(db, boss), make_api(db, boss)
    set_key_policy(db, boss, pets.id, key_lifetime="P10D")
    acquired = {
        made.id: make_acquisition(
            db, acquirer, make_offering(db, boss, made.id, period=None).id, organization.id
        )
        for made in (pets, stores)
    }
    soon = make_acquisition_key(db, acquirer, acquired[pets.id].id, name="soon")
    forever = make_acquisition_key(db, acquirer, acquired[stores.id].id, name="forever")
    account = make_key(db, boss, name="account", expires_in=timedelta(days=60))
    headers = bearer(set_up.admin_key)

    def listed(**params: str) -> set[str]:
        answer = api.get("/v1/keys", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return {key["id"] for key in answer.json()["data"]}

    assert listed(api=pets.id) == {soon.id}
    assert listed(api=stores.id) == {forever.id}
    assert listed(expiring_within="P30D") == {soon.id}
    assert listed(expiring_within="P90D") == {soon.id, account.id}
    assert listed(expiring_within="P90D", api=stores.id) == set()
    assert listed(expiring_within="P1D") == set()
    assert_error(api.get("/v1/keys", headers=headers, params={"expiring_within": "30 days"}), 422)
    assert_error(api.get("/v1/keys", headers=headers, params={"api": "not an id"}), 422)


def test_a_key_that_expired_is_not_expiring_within_anything(
    api: TestClient, db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    gone = make_key(db, admin(db, set_up), name="gone", expires_in=timedelta(days=1))
    headers = bearer(set_up.admin_key)
    clock.advance(timedelta(days=2))
    answer = api.get("/v1/keys", headers=headers, params={"expiring_within": "P365D"})
    assert gone.id not in {key["id"] for key in answer.json()["data"]}
