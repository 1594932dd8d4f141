"""Caps on keys and connectors per acquisition and webhook endpoints per workspace: the next
one is a 409 naming the limit, nothing is made, and deleting one makes room. Over HTTP, on a
management API configured with small caps; the race for the last place on real commits."""

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.core.errors import Conflict
from keyward.db.engine import Database
from keyward.db.models import ApiKey, Connector, WebhookEndpoint
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import AcquisitionKeyCreate
from keyward.verifier import Verifier
from tests.api.error_bodies import assert_error
from tests.conftest import settings_for
from tests.factories import (
    admin,
    bearer,
    full_key,
    make_acquisition,
    make_api,
    make_offering,
    make_party,
    make_workspace,
)

CAPS = {
    "max_keys_per_acquisition": 3,
    "max_connectors_per_acquisition": 2,
    "max_webhooks_per_workspace": 2,
    "storage_destinations": {},
}


class World:
    def __init__(self, db: Database) -> None:
        set_up = make_workspace(db)
        boss = admin(db, set_up)
        self.admin = bearer(set_up.admin_key)
        api = make_api(db, boss)
        buyer = make_party(db, boss)
        self.buyer_actor = buyer.actor
        self.buyer = bearer(full_key(db, buyer.actor))
        offering = make_offering(db, boss, api.id)
        self.acquisition_id = make_acquisition(db, boss, offering.id, buyer.organization_id).id


@pytest.fixture
def capped(db: Database) -> Iterator[TestClient]:
    runtime = Runtime(settings_for(db.url, **CAPS), db, Verifier(db))
    with TestClient(create_app(runtime, follow_feed=False)) as client:
        yield client


def _count(db: Database, model: Any) -> int:
    with db.transaction(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_keys_per_acquisition_are_capped_revoked_ones_included(
    capped: TestClient, db: Database
) -> None:
    world = World(db)
    path = f"/v1/acquisitions/{world.acquisition_id}/keys"
    made = [capped.post(path, headers=world.buyer, json={"name": f"k{i}"}) for i in range(3)]
    assert [response.status_code for response in made] == [201] * 3
    revoked = capped.post(f"/v1/keys/{made[0].json()['id']}/revoke", headers=world.buyer, json={})
    assert revoked.status_code == 200, revoked.text
    refused = capped.post(path, headers=world.buyer, json={"name": "k3"})
    error = assert_error(refused, 409, "key_limit_reached")
    assert error["details"] == {"limit": 3}
    assert "KEYWARD_MAX_KEYS_PER_ACQUISITION" in error["message"]
    assert _count(db, ApiKey) == 3 + 2  # the acquisition's, and the admin's and buyer's own
    deleted = capped.delete(f"/v1/keys/{made[0].json()['id']}", headers=world.buyer)
    assert deleted.status_code == 204, deleted.text
    assert capped.post(path, headers=world.buyer, json={"name": "k3"}).status_code == 201


def test_connectors_per_acquisition_are_capped(capped: TestClient, db: Database) -> None:
    world = World(db)
    path = f"/v1/acquisitions/{world.acquisition_id}/connectors"
    made = [
        capped.post(
            path,
            headers=world.buyer,
            json={"kind": "webhook", "url": f"https://hooks.example.com/{i}"},
        )
        for i in range(3)
    ]
    assert [response.status_code for response in made[:2]] == [201, 201]
    error = assert_error(made[2], 409, "connector_limit_reached")
    assert error["details"] == {"limit": 2}
    assert _count(db, Connector) == 2
    assert _count(db, ApiKey) == 2 + 2  # no key was generated for the refused one


def test_webhook_endpoints_per_workspace_are_capped(capped: TestClient, db: Database) -> None:
    world = World(db)
    other = World(db)
    hooks = [
        capped.post(
            "/v1/webhooks",
            headers=world.admin,
            json={"url": f"https://hooks.example.com/{i}", "events": ["key.revoked"]},
        )
        for i in range(3)
    ]
    assert [response.status_code for response in hooks[:2]] == [201, 201]
    assert_error(hooks[2], 409, "webhook_limit_reached")
    elsewhere = capped.post(
        "/v1/webhooks",
        headers=other.admin,
        json={"url": "https://hooks.example.com/other", "events": ["key.revoked"]},
    )
    assert elsewhere.status_code == 201  # the cap is per workspace
    assert _count(db, WebhookEndpoint) == 3


def _together(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Conflict as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_requests_cannot_both_take_the_last_place(fresh_url: str) -> None:
    handles = [Database.connect(fresh_url) for _ in range(2)]
    try:
        world = World(handles[0])
        settings = settings_for(fresh_url, max_keys_per_acquisition=1)

        def make(handle: Database, name: str) -> Callable[[], Any]:
            def run() -> Any:
                with handle.transaction() as uow:
                    body = AcquisitionKeyCreate(name=name)
                    return acquisitions.create_key(
                        uow, world.buyer_actor, world.acquisition_id, body, settings
                    )

            return run

        results = _together(make(handles[0], "first"), make(handles[1], "second"))
        refused = [r for r in results if isinstance(r, Conflict)]
        assert [error.code for error in refused] == ["key_limit_reached"]
        assert _count(handles[0], ApiKey) == 1 + 2
    finally:
        for handle in handles:
            handle.dispose()
