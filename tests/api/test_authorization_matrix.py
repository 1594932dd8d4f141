"""Who may do what, route by route: every operation of the management API, tried by every
persona on the resources of one provider organization (P1) and one acquirer organization (A1).

The routes come from the app's own OpenAPI document, so a new route without a row in `ALLOWED`
fails `test_every_route_has_a_row`. A cell allowed must answer 2xx; any other must answer 403 or
404 (or 422 naming something not found in the body), change nothing in the database but at
most one audit event, and when 404 answer exactly as a resource that does not exist would.
Lists must hold only what the persona may read. The README's "Who may do what" table is
rendered from `ALLOWED` and must match it.

Every cell runs in a savepoint rolled back afterwards, so all cells see the same world.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select

from keyward.api import create_app
from keyward.api.runtime import Runtime
from keyward.core.ids import new_id
from keyward.db.engine import Database
from keyward.db.models import AuditEvent, Base
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberPermissionsUpdate
from keyward.domains.notifications.events import WEBHOOK
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.domains.outbox import service as outbox
from keyward.verifier import Verifier
from tests.conftest import settings_for
from tests.factories import (
    PETSTORE_30,
    Party,
    actor_for,
    admin,
    bearer,
    full_key,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_party,
    make_workspace,
    set_key_policy,
)

README = Path(__file__).resolve().parents[2] / "README.md"

PERSONAS = (
    "admin",
    "provider P1",
    "provider P2",
    "acquirer A1",
    "acquirer A2",
    "approver X",
    "approver Y",
    "no role",
    "narrowed key",
    "other workspace",
)
ADMIN, P1, P2, A1, A2, AX, AY, NOBODY, NARROW, FOREIGN = PERSONAS
EVERYONE = frozenset(PERSONAS)
# Creating something of one's own touches nobody else's resources: a key of another
# workspace creates in its own.
OWN = frozenset({FOREIGN})
KEY_READERS = frozenset({ADMIN, P1, A1, AX, NARROW})
API_READERS = frozenset({ADMIN, P1, A1, A2, AX})
ACQUISITION_READERS = frozenset({ADMIN, P1, A1})

# route (METHOD path) -> the personas it succeeds for, on P1's and A1's resources.
ALLOWED: dict[str, frozenset[str] | set[str]] = {
    "GET /v1/me": EVERYONE,
    "POST /v1/members": {ADMIN} | OWN,
    "GET /v1/members": {ADMIN, P1, P2} | OWN,
    "GET /v1/members/{member_id}": {ADMIN},
    "PATCH /v1/members/{member_id}": {ADMIN},
    "DELETE /v1/members/{member_id}": {ADMIN},
    "GET /v1/members/{member_id}/permissions": {ADMIN},
    "PUT /v1/members/{member_id}/permissions": {ADMIN},
    "POST /v1/members/{member_id}/invitations": {ADMIN},
    "POST /v1/organizations": {ADMIN} | OWN,
    "GET /v1/organizations": {ADMIN, P1, P2, A1, A2} | OWN,
    "GET /v1/organizations/{organization_id}": {ADMIN, P1},
    "PATCH /v1/organizations/{organization_id}": {ADMIN},
    "DELETE /v1/organizations/{organization_id}": {ADMIN},
    "POST /v1/keys": {ADMIN, P1, P2, A1, A2, AX, AY} | OWN,
    "GET /v1/keys": {ADMIN, P1, P2, A1, A2, AX, AY, NARROW} | OWN,
    "POST /v1/keys/verify": {ADMIN, P1, P2} | OWN,
    "GET /v1/keys/{key_id}": KEY_READERS,
    "PATCH /v1/keys/{key_id}": {ADMIN, A1},
    "DELETE /v1/keys/{key_id}": {ADMIN, P1, A1},
    "GET /v1/keys/{key_id}/usage": KEY_READERS,
    "POST /v1/keys/{key_id}/renew": {ADMIN, A1},
    "POST /v1/keys/{key_id}/rotate": {A1},
    "POST /v1/keys/{key_id}/revoke": {ADMIN, P1, A1},
    "POST /v1/keys/bulk-delete": {ADMIN, P1, P2, A1, A2} | OWN,
    "GET /v1/key-requests": {ADMIN, P1, P2, A1, A2, AX, AY, NARROW} | OWN,
    "GET /v1/key-requests/{request_id}": KEY_READERS,
    "POST /v1/key-requests/{request_id}/approve": {ADMIN, AX},
    "POST /v1/key-requests/{request_id}/reject": {ADMIN, AX},
    "POST /v1/key-requests/{request_id}/cancel": {A1},
    "POST /v1/apis": {ADMIN, P1, P2} | OWN,
    "GET /v1/apis": {ADMIN, P1, P2, A1, A2, AX, AY} | OWN,
    "GET /v1/apis/{api_id}": API_READERS,
    "PATCH /v1/apis/{api_id}": {ADMIN, P1},
    "DELETE /v1/apis/{api_id}": {ADMIN, P1},
    "POST /v1/apis/{api_id}/versions": {ADMIN, P1},
    "GET /v1/apis/{api_id}/versions": API_READERS,
    "GET /v1/apis/{api_id}/policy": API_READERS,
    "PUT /v1/apis/{api_id}/policy": {ADMIN, P1},
    "GET /v1/apis/{api_id}/usage": {ADMIN, P1},
    "POST /v1/offerings": {ADMIN, P1},
    "GET /v1/offerings": {ADMIN, P1, P2, A1, A2} | OWN,
    "GET /v1/offerings/{offering_id}": {ADMIN, P1, A1, A2},
    "PATCH /v1/offerings/{offering_id}": {ADMIN, P1},
    "DELETE /v1/offerings/{offering_id}": {ADMIN, P1},
    "GET /v1/offerings/{offering_id}/usage": {ADMIN, P1},
    "POST /v1/acquisitions": {ADMIN, A1},
    "GET /v1/acquisitions": {ADMIN, P1, P2, A1, A2} | OWN,
    "GET /v1/acquisitions/{acquisition_id}": ACQUISITION_READERS,
    "POST /v1/acquisitions/{acquisition_id}/reacquire": {ADMIN, A1},
    "POST /v1/acquisitions/{acquisition_id}/keys": {A1},
    "GET /v1/acquisitions/{acquisition_id}/keys": ACQUISITION_READERS,
    "GET /v1/acquisitions/{acquisition_id}/openapi": ACQUISITION_READERS,
    "GET /v1/acquisitions/{acquisition_id}/usage": ACQUISITION_READERS,
    "POST /v1/acquisitions/{acquisition_id}/connectors": {A1},
    "GET /v1/acquisitions/{acquisition_id}/connectors": {ADMIN, A1},
    "GET /v1/connectors/{connector_id}": {ADMIN, A1},
    "DELETE /v1/connectors/{connector_id}": {ADMIN, A1},
    "GET /v1/connectors/{connector_id}/deliveries": {ADMIN, A1},
    "GET /v1/audit-events": {ADMIN} | OWN,
    "POST /v1/webhooks": {ADMIN} | OWN,
    "GET /v1/webhooks": {ADMIN} | OWN,
    "GET /v1/webhooks/{webhook_id}": {ADMIN},
    "DELETE /v1/webhooks/{webhook_id}": {ADMIN},
    "GET /v1/webhooks/{webhook_id}/deliveries": {ADMIN},
    "POST /v1/webhooks/{webhook_id}/test": {ADMIN},
    "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": {ADMIN},
    "POST /v1/webhooks/{webhook_id}/rotate-secret": {ADMIN},
    "GET /v1/workspace/settings": {ADMIN} | OWN,
    "GET /v1/gateways": {ADMIN} | OWN,
    "PUT /v1/workspace/settings": {ADMIN} | OWN,
}

# A list route, and the read route whose allowed personas may see the world's resource in it.
LISTS = {
    "GET /v1/members": ("GET /v1/members/{member_id}", "member_id"),
    "GET /v1/organizations": ("GET /v1/organizations/{organization_id}", "organization_id"),
    "GET /v1/keys": ("GET /v1/keys/{key_id}", "key_id"),
    "GET /v1/key-requests": ("GET /v1/key-requests/{request_id}", "request_id"),
    "GET /v1/apis": ("GET /v1/apis/{api_id}", "api_id"),
    "GET /v1/offerings": ("GET /v1/offerings/{offering_id}", "offering_id"),
    "GET /v1/acquisitions": ("GET /v1/acquisitions/{acquisition_id}", "acquisition_id"),
}


@dataclass
class World:
    """P1 provides API X (offering OX, and OX0 nobody acquired) and API X0 (no offering); A1
    acquired OX and holds key KX, key KR with a pending renewal RX, and connector CX. P2 and
    A2 do the same with API Y."""

    ids: dict[str, str]
    secrets: dict[str, str]
    headers: dict[str, dict[str, str]]
    policy: dict[str, Any] | None = None


def _world(db: Database) -> World:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    p1 = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    p2 = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    a1, a2 = make_party(db, boss), make_party(db, boss)
    approver_x = make_member(db, boss, roles=["approver"])
    approver_y = make_member(db, boss, roles=["approver"])

    def provide(provider: Party, buyer: Party, approver: str, mount: str) -> dict[str, str]:
        api = make_api(db, provider.actor, mount_path=mount)
        set_key_policy(
            db,
            provider.actor,
            api.id,
            key_lifetime="P30D",
            renewal_requires_approval=True,
            issuance_requires_approval=False,
            approvers=[approver],
        )
        offering = make_offering(db, provider.actor, api.id)
        acquisition = make_acquisition(db, buyer.actor, offering.id, buyer.organization_id)
        return {"api_id": api.id, "offering_id": offering.id, "acquisition_id": acquisition.id}

    x = provide(p1, a1, approver_x.id, "x")
    provide(p2, a2, approver_y.id, "y")
    key = make_acquisition_key(db, a1.actor, x["acquisition_id"], name="kx")
    renewed = make_acquisition_key(db, a1.actor, x["acquisition_id"], name="kr")
    headers = {
        ADMIN: bearer(set_up.admin_key),
        P1: bearer(full_key(db, p1.actor)),
        P2: bearer(full_key(db, p2.actor)),
        A1: bearer(full_key(db, a1.actor)),
        A2: bearer(full_key(db, a2.actor)),
        NARROW: bearer(make_key(db, boss, name="narrow", permissions=["keys:read"])),
        FOREIGN: bearer(make_workspace(db).admin_key),
    }
    for persona, member in ((AX, approver_x), (AY, approver_y)):
        approving = actor_for(db, set_up.workspace.id, member.id)
        headers[persona] = bearer(full_key(db, approving))
    demoted = make_member(db, boss, roles=["acquirer"])
    headers[NOBODY] = bearer(make_key(db, actor_for(db, set_up.workspace.id, demoted.id)))
    with db.transaction() as uow:
        members.set_permissions(
            uow, boss, demoted.id, MemberPermissionsUpdate(roles=[], permissions=[])
        )
    ids = {
        **x,
        "key_id": key.id,
        "member_id": a1.member_id,
        "organization_id": p1.organization_id,
        "a1_organization_id": a1.organization_id,
        "api_x0": make_api(db, p1.actor, mount_path="x0").id,
        "offering_x0": make_offering(db, p1.actor, x["api_id"]).id,
    }
    return World(ids, {"kx": key.key or "", "kr": renewed.key or ""}, headers)


def _prepare(client: TestClient, world: World) -> None:
    """What needs the API itself: the pending renewal RX (filed by A1), CX and a webhook."""
    a1 = world.headers[A1]
    request = client.post(f"/v1/keys/{_kr_id(client, world)}/renew", headers=a1, json={})
    assert request.status_code == 202, request.text
    world.ids["request_id"] = request.json()["id"]
    connector = client.post(
        f"/v1/acquisitions/{world.ids['acquisition_id']}/connectors",
        headers=a1,
        json={"kind": "webhook", "url": "https://hooks.example.com/x"},
    )
    assert connector.status_code == 201, connector.text
    world.ids["connector_id"] = connector.json()["id"]
    policy = client.get(f"/v1/apis/{world.ids['api_id']}/policy", headers=a1).json()
    for location in policy["key_locations"]:
        location.pop("synthetic")
    world.policy = {**policy, "key_lifetime": "P10D"}
    webhook = client.post(
        "/v1/webhooks", headers=world.headers[ADMIN], json={"url": "https://hooks.example.com/w"}
    )
    assert webhook.status_code == 201, webhook.text
    world.ids["webhook_id"] = webhook.json()["id"]
    delivery = client.post(
        f"/v1/webhooks/{world.ids['webhook_id']}/test", headers=world.headers[ADMIN]
    )
    assert delivery.status_code == 202, delivery.text
    world.ids["delivery_id"] = delivery.json()["id"]


def _settle_deliveries(database: Database) -> None:
    """The worker's part: the test delivery is given up, so it may be redelivered."""
    with database.transaction() as uow:
        for message in outbox.claim(uow, [WEBHOOK], 50, timedelta(minutes=1)):
            outbox.settle(uow, message.id, "the webhook answered HTTP 410", permanent=True)


def _kr_id(client: TestClient, world: World) -> str:
    found = client.post(
        "/v1/keys/verify", headers=world.headers[ADMIN], json={"key": world.secrets["kr"]}
    )
    key_id: str = found.json()["key_id"]
    return key_id


def _request(route: str, world: World) -> tuple[str, str, dict[str, Any] | None, dict[str, str]]:
    """The call a cell makes: method, path, body and query."""
    method, template = route.split(" ", 1)
    ids = world.ids
    targets = {
        "member_id": ids["member_id"],
        "organization_id": ids["organization_id"],
        "key_id": ids["key_id"],
        "request_id": ids["request_id"],
        "api_id": ids["api_x0"] if route == "DELETE /v1/apis/{api_id}" else ids["api_id"],
        "offering_id": (
            ids["offering_x0"]
            if route == "DELETE /v1/offerings/{offering_id}"
            else ids["offering_id"]
        ),
        "acquisition_id": ids["acquisition_id"],
        "connector_id": ids["connector_id"],
        "webhook_id": ids["webhook_id"],
        "delivery_id": ids["delivery_id"],
    }
    path = template.format(**{k: v for k, v in targets.items() if "{" + k + "}" in template})
    bodies: dict[str, dict[str, Any]] = {
        "POST /v1/members": {"email": "new@example.com", "name": "New"},
        "PATCH /v1/members/{member_id}": {"name": "Renamed"},
        "PUT /v1/members/{member_id}/permissions": {"roles": ["acquirer"], "permissions": []},
        "POST /v1/organizations": {"name": "New Org", "kind": "acquirer"},
        "PATCH /v1/organizations/{organization_id}": {"name": "Renamed Org"},
        "POST /v1/keys": {"name": "mine", "permissions": ["keys:create"]},
        "POST /v1/keys/verify": {"key": world.secrets["kx"]},
        "PATCH /v1/keys/{key_id}": {"metadata": {"team": "x"}},
        "POST /v1/keys/{key_id}/renew": {},
        "POST /v1/keys/{key_id}/rotate": {"grace": "PT1H"},
        "POST /v1/keys/{key_id}/revoke": {"reason": "test"},
        "POST /v1/keys/bulk-delete": {"ids": [ids["key_id"]]},
        "POST /v1/key-requests/{request_id}/approve": {},
        "POST /v1/key-requests/{request_id}/reject": {},
        "POST /v1/apis": {
            "name": "Brand new",
            "upstream_url": "https://new.example.com",
            "mount_path": "brand-new",
            "spec": PETSTORE_30,
        },
        "PATCH /v1/apis/{api_id}": {"description": "changed"},
        "POST /v1/apis/{api_id}/versions": {"spec": PETSTORE_30},
        "PUT /v1/apis/{api_id}/policy": world.policy or {},
        "POST /v1/offerings": {"api_id": ids["api_id"], "name": "Another"},
        "PATCH /v1/offerings/{offering_id}": {"description": "changed"},
        "POST /v1/acquisitions": {
            "offering_id": ids["offering_x0"],
            "organization_id": ids["a1_organization_id"],
        },
        "POST /v1/acquisitions/{acquisition_id}/keys": {"name": "new key"},
        "POST /v1/acquisitions/{acquisition_id}/connectors": {
            "kind": "webhook",
            "url": "https://hooks.example.com/y",
        },
        "POST /v1/webhooks": {"url": "https://hooks.example.com/z"},
        "PUT /v1/workspace/settings": {"unused_keys": {"warn_after": "P60D"}},
    }
    queries = {
        "DELETE /v1/keys/{key_id}": {"revoke": "true"},
        "DELETE /v1/connectors/{connector_id}": {"revoke_key": "false"},
    }
    query = queries.get(route, {})
    return method, path, bodies.get(route), query


def _routes(client: TestClient) -> list[str]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return sorted(
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
    )


def _state(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log, in a comparable form."""
    return {
        table.name: sorted(
            (tuple(map(repr, row)) for row in connection.execute(select(table))), key=repr
        )
        for table in Base.metadata.sorted_tables
        if table.name != AuditEvent.__tablename__
    }


def _audited(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


_IDS = re.compile(r"\b([a-z]{2,5})_[0-9a-hjkmnp-tv-z]{26}\b")


def _as_unknown(path: str) -> str:
    """The path with its resource id swapped for one nobody has."""
    ids = _IDS.findall(path)
    return _IDS.sub(lambda m: new_id(m.group(1)), path) if ids else path


@pytest.fixture
def matrix(shared_database: Database, clock: Any) -> Iterator[tuple[TestClient, World, Connection]]:
    with shared_database.engine.connect() as connection:
        outer = connection.begin()
        try:
            database = Database.bound_to(connection, clock=clock)
            world = _world(database)
            runtime = Runtime(settings_for(database.url), database, Verifier(database))
            with TestClient(create_app(runtime, follow_feed=False)) as client:
                _prepare(client, world)
                _settle_deliveries(database)
                yield client, world, connection
        finally:
            outer.rollback()


def test_every_route_has_a_row(matrix: tuple[TestClient, World, Connection]) -> None:
    client, _, _ = matrix
    routes = _routes(client)
    assert sorted(set(routes) - set(ALLOWED)) == [], "routes without a row in ALLOWED"
    assert sorted(set(ALLOWED) - set(routes)) == [], "rows of routes that do not exist"


def test_each_persona_may_do_exactly_what_the_matrix_says(
    matrix: tuple[TestClient, World, Connection],
) -> None:
    client, world, connection = matrix
    wrong: list[str] = []
    for route in _routes(client):
        method, path, body, query = _request(route, world)
        for persona in PERSONAS:
            savepoint = connection.begin_nested()
            before, audited = _state(connection), _audited(connection)
            try:
                response = client.request(
                    method, path, headers=world.headers[persona], json=body, params=query
                )
                problem = _judge(route, persona, response, connection, before, audited)
                if problem is None and response.status_code == 404:
                    unknown = client.request(
                        method,
                        _as_unknown(path),
                        headers=world.headers[persona],
                        json=body,
                        params=query,
                    )
                    if _IDS.sub("<id>", unknown.text) != _IDS.sub("<id>", response.text):
                        problem = f"404 unlike an unknown id's: {unknown.text} / {response.text}"
                if problem is None and route in LISTS and response.status_code == 200:
                    problem = _list_problem(route, persona, response.json(), world)
            finally:
                savepoint.rollback()
            if problem is not None:
                wrong.append(f"{route} as {persona}: {problem}")
    assert wrong == [], "\n".join(wrong)


def _judge(
    route: str,
    persona: str,
    response: Any,
    connection: Connection,
    before: dict[str, list[tuple[Any, ...]]],
    audited: int,
) -> str | None:
    status = response.status_code
    if persona in ALLOWED[route]:
        return None if 200 <= status < 300 else f"refused {status} {response.text[:300]}"
    if 200 <= status < 300:
        return f"allowed {status}, but should be refused"
    code = response.json()["error"]["code"]
    if status not in (403, 404) and not (status == 422 and code.endswith("_not_found")):
        return f"refused with {status} {code}, not 403 or 404"
    if _state(connection) != before:
        return f"refused with {code} but changed the database"
    if _audited(connection) - audited > 1:
        return "refused but wrote more than its audit event"
    return None


def _list_problem(route: str, persona: str, page: dict[str, Any], world: World) -> str | None:
    read_route, id_name = LISTS[route]
    listed = {item["id"] for item in page["data"]}
    target = world.ids[id_name]
    if persona not in ALLOWED[read_route] and target in listed:
        return f"lists {target}, which it may not read"
    if persona in ALLOWED[read_route] and target not in listed:
        return f"does not list {target}, which it may read"
    return None


def readme_table() -> str:
    """The README's table: a row per route, a column per persona."""
    short = {
        ADMIN: "admin",
        P1: "P1",
        P2: "P2",
        A1: "A1",
        A2: "A2",
        AX: "apr X",
        AY: "apr Y",
        NOBODY: "none",
        NARROW: "narrow",
        FOREIGN: "other ws",
    }
    lines = [
        "| route | " + " | ".join(short[p] for p in PERSONAS) + " |",
        "| --- |" + " :-: |" * len(PERSONAS),
    ]
    for route in sorted(ALLOWED, key=lambda r: (r.split(" ", 1)[1], r)):
        marks = ("✓" if p in ALLOWED[route] else "·" for p in PERSONAS)
        lines.append(f"| `{route}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def test_the_readme_table_is_the_matrix() -> None:
    assert readme_table() in README.read_text(), (
        "README's 'Who may do what' table differs from ALLOWED; replace it with:\n" + readme_table()
    )
