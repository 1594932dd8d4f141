"""Clients presenting unknown keys are refused lookups, per address and per network prefix.

Counting is pure (`FailedKeys`, driven by a clock of the test's); the gateway's answers are
checked on a real gateway over a real database (SQLite and PostgreSQL), with requests sent
from several loopback addresses (Linux accepts any 127.0.0.0/8 address as a source).
"""

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from keyward.core.clock import ManualClock
from keyward.core.keys import generate_key
from keyward.db.engine import Database
from keyward.db.models import AuditEvent
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate
from keyward.gateway.floods import FailedKeys, prefix_of
from keyward.gateway.refusals import RefusalLog
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
from tests.gateway.gateway_support import echo_upstream, running_gateway

SPEC = """\
openapi: 3.0.3
info: {title: Flood, version: "1"}
servers: [{url: "https://flood.example.com"}]
components:
  securitySchemes:
    header_key: {type: apiKey, in: header, name: X-Flood-Key}
security: [{header_key: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
"""
PER_ADDRESS = 4
PER_PREFIX = 10


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_lookups_after_its_limit_until_its_window_ends() -> None:
    clock = Clock()
    counts = FailedKeys(3, 0, 60, clock=clock)
    for _ in range(2):
        counts.failed("10.0.0.1")
    assert counts.blocked("10.0.0.1") is None
    clock.now += 15
    counts.failed("10.0.0.1")
    blocked = counts.blocked("10.0.0.1")
    assert blocked is not None
    assert (blocked.client, blocked.retry_after) == ("10.0.0.1", 45)
    assert counts.blocked("10.0.0.2") is None
    clock.now += 45
    assert counts.blocked("10.0.0.1") is None
    counts.failed("10.0.0.1")  # a new window: one failure in it
    assert counts.blocked("10.0.0.1") is None


def test_a_network_is_refused_lookups_after_its_limit_whichever_address_failed() -> None:
    clock = Clock()
    counts = FailedKeys(0, 3, 60, clock=clock)
    for host in (1, 2, 3):
        counts.failed(f"10.0.7.{host}")
    blocked = counts.blocked("10.0.7.200")
    assert blocked is not None
    assert (blocked.client, blocked.retry_after) == ("10.0.7.0/24", 60)
    assert counts.blocked("10.0.8.1") is None
    for suffix in ("1", "2", "3"):
        counts.failed(f"2001:db8:0:1::{suffix}")
    v6 = counts.blocked("2001:db8:0:1:ffff::9")
    assert v6 is not None
    assert v6.client == "2001:db8:0:1::/64"
    assert counts.blocked("2001:db8:0:2::1") is None


def test_limits_of_zero_count_nothing() -> None:
    counts = FailedKeys(0, 0, 60)
    for _ in range(100):
        counts.failed("10.0.0.1")
    assert not counts.active
    assert counts.blocked("10.0.0.1") is None
    assert counts.counted() == (0, 0)


def test_prefixes_of_addresses() -> None:
    assert prefix_of("192.0.2.77") == "192.0.2.0/24"
    assert prefix_of("::ffff:192.0.2.77") == "192.0.2.0/24"
    assert prefix_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert prefix_of("fe80::1%eth0") == "fe80::/64"
    assert prefix_of("") == ""


def test_a_flood_of_distinct_addresses_is_counted_in_bounded_memory() -> None:
    clock = Clock()
    counts = FailedKeys(2, 2, 60, remembered=100, clock=clock)
    for n in range(5000):
        counts.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    addresses, prefixes = counts.counted()
    assert addresses <= 100
    assert prefixes <= 100
    # The most recent ones are still counted.
    counts.failed("10.0.19.135")
    assert counts.blocked("10.0.19.135") is not None


def test_a_refused_client_is_audited_once_an_interval_with_the_refusals_between() -> None:
    clock = Clock()
    refusals = RefusalLog(60, clock=clock)
    fields = {
        "workspace_id": "ws_1",
        "api_id": "api_1",
        "target": "/flood/items",
        "refusal": "too_many_failed_keys",
        "refused_client": "127.0.1.0/24",
        "client_address": "127.0.1.9",
    }
    assert refusals.note(429, fields)
    assert not any(refusals.note(429, fields) for _ in range(4))
    [first] = refusals.take()
    assert (first.key_id, first.client, first.refused_since_last) == (
        "127.0.1.0/24",
        "127.0.1.9",
        0,
    )
    clock.now += 61
    assert refusals.note(429, fields)
    [second] = refusals.take()
    assert second.refused_since_last == 4


@dataclass
class Guarded:
    database: Database
    gateway: Gateway
    key: str
    workspace_id: str
    new_key: "Iterator[str]"

    def get(self, source: str, key: str) -> tuple[int, dict[str, str], dict[str, object]]:
        return _get(self.gateway.port, source, "/flood/items", key)


def _get(
    port: int, source: str, path: str, key: str
) -> tuple[int, dict[str, str], dict[str, object]]:
    """GET `path` with `key` over a connection from `source`: status, headers, JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: gateway\r\nX-Flood-Key: {key}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, json.loads(body) if body else {}


def _code(body: dict[str, object]) -> object:
    error = body.get("error")
    return error.get("code") if isinstance(error, dict) else None


@pytest.fixture
def guarded(fresh_url: str, clock: ManualClock) -> Iterator[Guarded]:
    database = Database.connect(fresh_url, clock=clock)
    try:
        set_up = make_workspace(database)
        actor = admin(database, set_up)
        with echo_upstream() as upstream:
            api = make_api(database, actor, spec=SPEC, name="Flood", mount_path="flood")
            with database.transaction() as uow:
                apis.update_api(
                    uow,
                    actor,
                    api.id,
                    ApiUpdate.model_validate({"upstream_url": upstream.url}),
                    Settings(upstream_allow=LOOPBACK),
                )
            offering = make_offering(database, actor, api.id)
            party = make_party(database, actor)
            acquisition = make_acquisition(database, actor, offering.id, party.organization_id)

            def new_keys() -> Iterator[str]:
                while True:
                    yield secret(make_acquisition_key(database, party.actor, acquisition.id))

            made = new_keys()
            with running_gateway(
                database,
                failed_auth_per_address=PER_ADDRESS,
                failed_auth_per_prefix=PER_PREFIX,
                failed_auth_window=60,
            ) as gateway:
                yield Guarded(database, gateway, next(made), set_up.workspace.id, made)
    finally:
        database.dispose()


def _unknown() -> str:
    return generate_key("kw").secret


def _client_events(database: Database, client: str, wanted: int, within: float) -> list[AuditEvent]:
    """The gateway's audit events on `client`, once `wanted` are written (in the background),
    or those written `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        with database.transaction(write=False) as uow:
            events = list(
                uow.session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.target_id == client, AuditEvent.action == "gateway.request")
                    .order_by(AuditEvent.id)
                )
            )
        if len(events) >= wanted or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_an_address_past_its_unknown_keys_gets_429_before_any_lookup_others_do_not(
    guarded: Guarded,
) -> None:
    # A refusal reads the feed to its end first: the key's own creation is applied before it
    # is cached. A valid key used once is cached: it keeps working from the flooding address
    # (a partner behind the same NAT is not locked out by a neighbour).
    assert guarded.get("127.0.0.9", _unknown())[0] == 401
    assert guarded.get("127.0.0.9", guarded.key)[0] == 200
    for _ in range(PER_ADDRESS):
        status, _, body = guarded.get("127.0.0.2", _unknown())
        assert (status, _code(body)) == (401, "key_invalid")
    status, headers, body = guarded.get("127.0.0.2", _unknown())
    assert (status, _code(body)) == (429, "too_many_failed_keys")
    assert 1 <= int(headers["retry-after"]) <= 60
    assert guarded.get("127.0.0.2", guarded.key)[0] == 200
    # A key the gateway never looked up is refused too: no lookup is made for this address.
    fresh = next(guarded.new_key)
    assert _code(guarded.get("127.0.0.2", fresh)[2]) == "too_many_failed_keys"
    # Another address is answered as ever, and may look the fresh key up.
    status, _, body = guarded.get("127.0.0.3", _unknown())
    assert (status, _code(body)) == (401, "key_invalid")
    assert guarded.get("127.0.0.3", fresh)[0] == 200


def test_a_network_flooding_from_many_addresses_is_refused_and_audited_once(
    guarded: Guarded,
) -> None:
    for host in range(1, PER_PREFIX + 1):
        status, _, body = guarded.get(f"127.0.1.{host}", _unknown())
        assert (status, _code(body)) == (401, "key_invalid")
    for host in range(20, 25):
        status, headers, body = guarded.get(f"127.0.1.{host}", _unknown())
        assert (status, _code(body)) == (429, "too_many_failed_keys")
        assert int(headers["retry-after"]) >= 1
    assert _code(guarded.get("127.0.2.1", _unknown())[2]) == "key_invalid"
    [event] = _client_events(guarded.database, "127.0.1.0/24", 1, within=10.0)
    assert (event.outcome, event.code, event.target_type) == (
        "refused",
        "too_many_failed_keys",
        "client",
    )
    assert event.workspace_id == guarded.workspace_id
    assert event.ip == "127.0.1.20"
    assert event.details["target"] == "/flood/items"
    assert event.details["refused_since_last"] == 0
    # The other refusals of the minute are counted into the next event, not written one by one.
    again = _client_events(guarded.database, "127.0.1.0/24", 2, within=1.0)
    assert [e.id for e in again] == [event.id]
