"""`Idempotency-Key` on every creating POST of the management API: a retry answers as the first
time (same status and body, every secret null, `Idempotent-Replayed: true`) and creates nothing;
the same key for another request is refused. The route table decides what is held to it."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from keyward.api.idempotency import creation
from keyward.core.actors import Actor
from keyward.db.engine import Database
from keyward.domains.idempotency.service import REPLAY_NOTICE
from tests.api.error_bodies import assert_error
from tests.factories import (
    PETSTORE_30,
    admin,
    bearer,
    full_key,
    make_acquisition,
    make_api,
    make_member,
    make_offering,
    make_party,
    make_workspace,
    set_key_policy,
)
from tests.servers import WebhookReceiver, webhook_receiver

Headers = dict[str, str]

# POSTs that create nothing new: each says why it is not held to Idempotency-Key.
NOT_CREATING = {
    "key.verify": "answers about a key, changes nothing",
    "key.renew": "moves an expiry; a retry moves it to the same place",
    "key.rotate": "replaces the secret of an existing key",
    "key.revoke": "revoking a revoked key changes nothing",
    "key.bulk_delete": "deleting what is deleted changes nothing",
    "key_request.approve": "decides a request once; a retry is refused as decided",
    "key_request.reject": "decides a request once; a retry is refused as decided",
    "key_request.cancel": "decides a request once; a retry is refused as decided",
    "acquisition.reacquire": "starts the same acquisition's period again",
    "webhook.rotate_secret": "replaces the secret of an existing endpoint",
}


def _posts(api: TestClient) -> dict[str, tuple[APIRoute, str]]:
    """Every POST of the app by name: the route and its full path."""
    app: FastAPI = api.app  # type: ignore[assignment]
    posts = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and "POST" in (route.methods or set()):
            posts[route.name] = (route, str(context.path))
    return posts


def _takes_creation(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is creation:
            return True
        pending.extend(dependency.dependencies)
    return False


def test_every_post_either_creates_with_idempotency_or_says_why_it_creates_nothing(
    api: TestClient,
) -> None:
    posts = _posts(api)
    assert set(NOT_CREATING) <= set(posts), "NOT_CREATING names a route that no longer exists"
    without = sorted(
        name
        for name, (route, _) in posts.items()
        if name not in NOT_CREATING and not _takes_creation(route)
    )
    assert without == [], f"creating POSTs without Idempotency-Key: {without}"
    assert [n for n in NOT_CREATING if posts[n][0].status_code == 201] == []
    spec = api.get("/openapi.json").json()
    for name, (_, path) in posts.items():
        parameters = spec["paths"][path]["post"].get("parameters", [])
        headers = {p["name"].lower() for p in parameters if p["in"] == "header"}
        assert ("idempotency-key" in headers) == (name not in NOT_CREATING), name


@dataclass
class Scene:
    """A workspace with a provider's API and offering, acquired by a buyer's organization."""

    api: TestClient
    db: Database
    boss_actor: Actor
    boss: Headers
    buyer: Headers
    api_id: str
    offering_id: str
    unacquired_offering_id: str
    organization_id: str
    acquisition_id: str
    webhook_id: str
    member_id: str
    hook_url: str


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def scene(api: TestClient, db: Database, receiver: WebhookReceiver) -> Scene:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    buyer = make_party(db, boss)
    imported = make_api(db, boss)
    offering = make_offering(db, boss, imported.id, period=None)
    acquisition = make_acquisition(db, boss, offering.id, buyer.organization_id)
    boss_headers = bearer(set_up.admin_key)
    webhook = api.post("/v1/webhooks", headers=boss_headers, json={"url": receiver.url})
    assert webhook.status_code == 201, webhook.text
    return Scene(
        api=api,
        db=db,
        boss_actor=boss,
        boss=boss_headers,
        buyer=bearer(full_key(db, buyer.actor)),
        api_id=imported.id,
        offering_id=offering.id,
        unacquired_offering_id=make_offering(db, boss, imported.id).id,
        organization_id=buyer.organization_id,
        acquisition_id=acquisition.id,
        webhook_id=webhook.json()["id"],
        member_id=make_member(db, boss).id,
        hook_url=receiver.url,
    )


Request = tuple[Headers, str, dict[str, Any] | None]

# One real request per creating POST, by route name.
CASES: dict[str, Callable[[Scene], Request]] = {
    "member.create": lambda s: (
        s.boss,
        "/v1/members",
        {"email": "retried@example.com", "name": "Retried", "roles": [], "permissions": []},
    ),
    "member.invite": lambda s: (s.boss, f"/v1/members/{s.member_id}/invitations", None),
    "organization.create": lambda s: (
        s.boss,
        "/v1/organizations",
        {"name": "Retried Ltd", "kind": "acquirer"},
    ),
    "key.create": lambda s: (s.boss, "/v1/keys", {"name": "deploy", "permissions": ["keys:read"]}),
    "api.create": lambda s: (
        s.boss,
        "/v1/apis",
        {
            "name": "Retried API",
            "upstream_url": "https://upstream.example.com",
            "mount_path": "retried",
            "spec": PETSTORE_30,
        },
    ),
    "api.version.create": lambda s: (
        s.boss,
        f"/v1/apis/{s.api_id}/versions",
        {"spec": PETSTORE_30.replace('version: "1.0"', 'version: "1.1"')},
    ),
    "offering.create": lambda s: (
        s.boss,
        "/v1/offerings",
        {"api_id": s.api_id, "name": "Retried offering"},
    ),
    "acquisition.create": lambda s: (
        s.buyer,
        "/v1/acquisitions",
        {"offering_id": s.unacquired_offering_id, "organization_id": s.organization_id},
    ),
    "acquisition.key.create": lambda s: (
        s.buyer,
        f"/v1/acquisitions/{s.acquisition_id}/keys",
        {"name": "alice"},
    ),
    "connector.create": lambda s: (
        s.buyer,
        f"/v1/acquisitions/{s.acquisition_id}/connectors",
        {"kind": "webhook", "url": s.hook_url},
    ),
    "webhook.create": lambda s: (s.boss, "/v1/webhooks", {"url": s.hook_url}),
    "webhook.test": lambda s: (s.boss, f"/v1/webhooks/{s.webhook_id}/test", None),
}
# Needs a finished delivery first; held to Idempotency-Key by the route table test above.
NOT_REPLAYED_HERE = {"webhook.redeliver"}


def test_every_creating_post_has_a_replay_case(api: TestClient) -> None:
    creating = {name for name, (route, _) in _posts(api).items() if _takes_creation(route)}
    assert creating == set(CASES) | NOT_REPLAYED_HERE


def _post(scene: Scene, request: Request, key: str) -> Any:
    headers, path, body = request
    return scene.api.post(path, headers={**headers, "Idempotency-Key": key}, json=body)


SECRETS = ("key", "signing_secret")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_retry_answers_as_the_first_time_without_secrets_and_creates_nothing(
    scene: Scene, name: str
) -> None:
    request = CASES[name](scene)
    first = _post(scene, request, f"retry-{name}")
    assert first.status_code in (201, 202), first.text
    assert "idempotent-replayed" not in first.headers
    again = _post(scene, request, f"retry-{name}")
    assert again.status_code == first.status_code, again.text
    assert again.headers["idempotent-replayed"] == "true"
    shown, replayed = first.json(), again.json()
    carried = [field for field in SECRETS if shown.get(field)]
    for field in carried:
        assert replayed[field] is None, field
        assert shown[field] not in again.text
    if carried:
        assert replayed["notice"] == REPLAY_NOTICE
    unchanged = {k: v for k, v in shown.items() if k not in (*SECRETS, "notice")}
    assert {k: v for k, v in replayed.items() if k in unchanged} == unchanged

    # The same key for another request: refused, and that request is not made.
    _, path, body = CASES["key.create" if name != "key.create" else "organization.create"](scene)
    reused = _post(scene, (request[0], path, body), f"retry-{name}")
    assert_error(reused, 422, "idempotency_key_reused")


def test_a_retried_acquisition_key_is_the_same_key_shown_without_its_secret(
    scene: Scene,
) -> None:
    path = f"/v1/acquisitions/{scene.acquisition_id}/keys"
    headers = {**scene.buyer, "Idempotency-Key": "alice-1"}
    first = scene.api.post(path, headers=headers, json={"name": "alice"})
    again = scene.api.post(path, headers=headers, json={"name": "alice"})
    assert first.status_code == again.status_code == 201, again.text
    assert first.json()["key"].startswith("kw_")
    assert (again.json()["id"], again.json()["key"]) == (first.json()["id"], None)
    assert again.headers["cache-control"] == "no-store"
    listed = scene.api.get(path, headers=scene.buyer).json()["data"]
    assert [k["name"] for k in listed] == ["alice"]
    # Without the header a retry is a new request, refused as the name is taken.
    plain = scene.api.post(path, headers=scene.buyer, json={"name": "alice"})
    assert_error(plain, 409, "key_name_taken")
    changed = scene.api.post(path, headers=headers, json={"name": "bob"})
    assert_error(changed, 422, "idempotency_key_reused")
    assert len(scene.api.get(path, headers=scene.buyer).json()["data"]) == 1


def test_a_retried_key_awaiting_approval_answers_202_again(scene: Scene) -> None:
    set_key_policy(scene.db, scene.boss_actor, scene.api_id, issuance_requires_approval=True)
    path = f"/v1/acquisitions/{scene.acquisition_id}/keys"
    headers = {**scene.buyer, "Idempotency-Key": "pending-1"}
    first = scene.api.post(path, headers=headers, json={"name": "carol"})
    again = scene.api.post(path, headers=headers, json={"name": "carol"})
    assert first.status_code == again.status_code == 202, again.text
    assert first.json()["key"].startswith("kw_")
    assert again.json()["pending_request_id"] == first.json()["pending_request_id"]
    assert again.json()["key"] is None


def test_an_idempotency_key_belongs_to_its_caller(scene: Scene) -> None:
    mine = scene.api.post(
        "/v1/keys",
        headers={**scene.boss, "Idempotency-Key": "k"},
        json={"name": "mine", "permissions": []},
    )
    theirs = scene.api.post(
        "/v1/keys",
        headers={**scene.buyer, "Idempotency-Key": "k"},
        json={"name": "theirs", "permissions": []},
    )
    assert mine.status_code == theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["key"]
