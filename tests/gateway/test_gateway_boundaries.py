"""The gateway forwards only what it authorised, tried as the attacks that got through it: a
CORS preflight as a way past authentication (any path, a body, `Upgrade: h2c`), a tunnel that
outlives its key, `%2F` hiding a separator from the route match, and keys travelling upstream on
public operations. A real gateway over a real database, in front of a real upstream."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate
from keyward.domains.keys import service as keys
from keyward.gateway.runner import Gateway
from keyward.settings import Settings
from tests.conftest import LOOPBACK
from tests.factories import (
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_offering,
    make_party,
    make_workspace,
    secret,
)
from tests.gateway.gateway_support import running_gateway
from tests.gateway.http_support import Client, Origin, get, post, running_upstream

SPEC = """\
openapi: 3.0.3
info: {title: Edge, version: "1"}
servers: [{url: "https://edge.example.com/"}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
  /ws:
    get: {operationId: stream, responses: {"101": {description: switching}}}
  /public/{name}:
    parameters: [{name: name, in: path, required: true, schema: {type: string}}]
    get: {operationId: publicFile, security: [], responses: {"200": {description: ok}}}
"""


@dataclass
class Edge:
    database: Database
    gateway: Gateway
    origin: Origin
    key: str
    key_id: str
    buyer: Any

    def client(self) -> Client:
        return Client.to(self.gateway.port)

    def targets(self) -> list[str]:
        return [str(request["target"]) for request in self.origin.requests]


@pytest.fixture
def edge(fresh_url: str, clock: ManualClock) -> Iterator[Edge]:
    database = Database.connect(fresh_url, clock=clock)
    try:
        boss = admin(database, make_workspace(database))
        with running_upstream() as origin:
            api = make_api(database, boss, spec=SPEC, mount_path="edge")
            with database.transaction() as uow:
                apis.update_api(
                    uow,
                    boss,
                    api.id,
                    ApiUpdate.model_validate({"upstream_url": f"http://127.0.0.1:{origin.port}"}),
                    Settings(upstream_allow=LOOPBACK),
                )
            buyer = make_party(database, boss)
            acquisition = make_acquisition(
                database, boss, make_offering(database, boss, api.id).id, buyer.organization_id
            )
            created = make_acquisition_key(database, buyer.actor, acquisition.id)
            with running_gateway(database) as gateway:
                yield Edge(database, gateway, origin, secret(created), created.id, buyer)
    finally:
        database.dispose()


PREFLIGHT = ("Origin: https://app.example.com", "Access-Control-Request-Method: GET")


def _error(response: Any) -> str:
    code: str = json.loads(response.body)["error"]["code"]
    return code


def test_a_preflight_reaches_only_the_spec_s_operations_without_body_or_upgrade(
    edge: Edge,
) -> None:
    with edge.client() as client:
        unknown = client.request(get("/edge/admin/users", *PREFLIGHT, method="OPTIONS"))
        with_body = client.request(
            post("/edge/items", b"{}", *PREFLIGHT).replace(b"POST", b"OPTIONS", 1)
        )
    with edge.client() as client:
        upgrading = client.request(
            get("/edge/items", *PREFLIGHT, "Connection: Upgrade", "Upgrade: h2c", method="OPTIONS")
        )
    assert (unknown.status, _error(unknown)) == (404, "route_not_found")
    assert (with_body.status, _error(with_body)) == (400, "preflight_with_body")
    assert (upgrading.status, _error(upgrading)) == (400, "preflight_with_body")
    assert edge.targets() == []
    with edge.client() as client:
        allowed = client.request(
            get("/edge/items", *PREFLIGHT, f"X-API-Key: {edge.key}", method="OPTIONS")
        )
    assert allowed.status == 200
    [forwarded] = edge.origin.requests
    assert (forwarded["method"], forwarded["target"]) == ("OPTIONS", "/items")
    assert "x-api-key" not in {name.lower() for name, _ in forwarded["headers"]}


def test_only_websocket_is_tunnelled_never_h2c(edge: Edge) -> None:
    with edge.client() as client:
        refused = client.request(
            get(
                "/edge/items",
                f"X-API-Key: {edge.key}",
                "Connection: Upgrade, HTTP2-Settings",
                "Upgrade: h2c",
                "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA",
            )
        )
    assert (refused.status, _error(refused)) == (400, "upgrade_not_supported")
    assert edge.targets() == []


def test_a_tunnel_closes_once_its_key_is_revoked(edge: Edge) -> None:
    with edge.client() as client:
        client.send(
            get("/edge/ws", f"X-API-Key: {edge.key}", "Connection: Upgrade", "Upgrade: websocket")
        )
        switched = client.read_response()
        assert switched.status == 101
        client.send(b"ping")
        while b"ping" not in client.buffer:
            assert client._fill(), "the tunnel closed before the key was revoked"
        with edge.database.transaction() as uow:
            keys.revoke_key(uow, edge.buyer.actor, edge.key_id)
        assert client.closed_by_peer(timeout=5.0)


@pytest.mark.parametrize("hidden", ["..%2Fprivate%2Fsecret.txt", "..%5csecret", "a%00b", "x%2f"])
def test_an_encoded_separator_inside_a_segment_is_refused(edge: Edge, hidden: str) -> None:
    with edge.client() as client:
        response = client.request(get(f"/edge/public/{hidden}"))
    assert (response.status, _error(response)) == (400, "encoded_separator")
    assert edge.targets() == []


def test_keys_never_travel_upstream_even_on_public_operations(edge: Edge) -> None:
    with edge.client() as client:
        response = client.request(get("/edge/public/readme.txt", f"X-API-Key: {edge.key}"))
    assert response.status == 200
    [forwarded] = edge.origin.requests
    assert edge.key not in str(forwarded)
    assert "x-api-key" not in {name.lower() for name, _ in forwarded["headers"]}


def test_what_the_gateway_answers_itself_is_json_never_cached_nor_sniffed(edge: Edge) -> None:
    with edge.client() as client:
        answers = [
            client.request(get("/edge/items")),
            client.request(get("/edge/nowhere")),
            client.request(get("/elsewhere")),
        ]
    assert [a.status for a in answers] == [401, 404, 404]
    for answer in answers:
        assert answer.header("content-type") == "application/json"
        assert answer.header("cache-control") == "no-store"
        assert answer.header("x-content-type-options") == "nosniff"
        assert set(json.loads(answer.body)["error"]) == {"code", "message", "details"}


def test_identity_fields_are_keyward_s_whatever_their_spelling(edge: Edge) -> None:
    with edge.client() as client:
        response = client.request(
            get(
                "/edge/items",
                f"X-API-Key: {edge.key}",
                "X_Keyward_Organization_Id: org_forged",
                "X-Keyward_Key-Id: key_forged",
            )
        )
    assert response.status == 200
    [forwarded] = edge.origin.requests
    sent = {name.lower(): value for name, value in forwarded["headers"]}
    assert "forged" not in json.dumps(sent)
    assert sent["x-keyward-key-id"] == edge.key_id


def test_one_client_cannot_hold_every_connection(edge: Edge) -> None:
    with (
        running_gateway(edge.database, gateway_max_connections_per_client=2) as capped,
        Client.to(capped.port) as first,
        Client.to(capped.port) as second,
        Client.to(capped.port) as third,
    ):
        refused = third.read_response()
        answered = first.request(get("/edge/items", f"X-API-Key: {edge.key}"))
        assert second.request(get("/edge/items", f"X-API-Key: {edge.key}")).status == 200
    assert (refused.status, _error(refused)) == (429, "too_many_connections")
    assert answered.status == 200
