"""Floods are not free: against `keyward serve` (API, gateway, worker mailing a real SMTP server).

One site for the module, with low limits: unknown keys from one loopback address to the
gateway process, keys made over REST, invitations e-mailed by the worker.
"""

import itertools
import socket
import time
from collections.abc import Iterator

import pytest

from keyward.core.keys import generate_key
from tests.jobs.receivers import Mailbox, smtp_server
from tests.portal.conftest import Site, running_site

pytestmark = pytest.mark.e2e

FAILED_KEYS = 3
KEYS_A_MINUTE = 3
INVITATIONS_AN_HOUR = 2
SPEC = """\
openapi: 3.0.3
info: {title: Flooded, version: "1"}
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
security: [{key: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
"""
_tags = itertools.count(1)


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Site]:
    with running_site(
        tmp_path_factory.mktemp("site"),
        part="all",
        KEYWARD_SMTP_HOST=mailbox.host,
        KEYWARD_SMTP_PORT=str(mailbox.port),
        KEYWARD_SMTP_SECURITY="none",
        KEYWARD_WORKER_INTERVAL="0.2",
        KEYWARD_FAILED_AUTH_PER_ADDRESS=str(FAILED_KEYS),
        KEYWARD_KEYS_CREATED_PER_MINUTE=str(KEYS_A_MINUTE),
        KEYWARD_INVITATIONS_PER_HOUR=str(INVITATIONS_AN_HOUR),
    ) as running:
        yield running


def _status_from(gateway_url: str, source: str, path: str, key: str) -> tuple[int, dict[str, str]]:
    """GET `path` of the gateway with `key`, over a connection from `source`."""
    host, port = gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30, source_address=(source, 0)) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: gateway\r\nX-Key: {key}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    head = received.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


def test_the_gateway_process_refuses_an_address_past_its_unknown_keys(site: Site) -> None:
    with site.api(site.admin_key) as client:
        made = client.post(
            "/v1/apis",
            json={
                "name": "Flooded",
                "upstream_url": "http://127.0.0.1:9",
                "mount_path": "flooded",
                "spec": SPEC,
            },
        )
    assert made.status_code == 201, made.text
    path = "/flooded/items"
    for _ in range(FAILED_KEYS):
        assert (
            _status_from(site.server.gateway_url, "127.0.3.1", path, generate_key().secret)[0]
            == 401
        )
    status, headers = _status_from(
        site.server.gateway_url, "127.0.3.1", path, generate_key().secret
    )
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 60
    assert _status_from(site.server.gateway_url, "127.0.4.1", path, generate_key().secret)[0] == 401


def test_a_member_past_the_keys_a_minute_gets_429_with_retry_after_and_nothing_made(
    site: Site,
) -> None:
    tag = next(_tags)
    email = f"maker{tag}@example.com"
    site.add_member(email, "Maker", roles=(), permissions=("keys:create", "keys:read"))
    key = site.key_of(email, "first", "keys:create", "keys:read")["key"]  # one key made
    with site.api(key) as client:
        for n in range(KEYS_A_MINUTE - 1):
            answer = client.post("/v1/keys", json={"name": f"k{n}", "permissions": ["keys:read"]})
            assert answer.status_code == 201, answer.text
        refused = client.post(
            "/v1/keys", json={"name": "one too many", "permissions": ["keys:read"]}
        )
        listed = client.get("/v1/keys").json()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "one too many" not in [k["name"] for k in listed["data"]]


def test_a_member_past_the_invitations_an_hour_gets_429_and_no_mail_goes(
    site: Site, mailbox: Mailbox
) -> None:
    tag = next(_tags)
    inviter = f"inviter{tag}@example.com"
    site.add_member(
        inviter, "Inviter", roles=(), permissions=("members:update", "members:read", "keys:create")
    )
    key = site.key_of(inviter, "invites", "members:update", "members:read")["key"]
    invited = [
        site.add_member(f"guest{tag}-{n}@example.com", f"Guest {n}", roles=()) for n in range(3)
    ]
    with site.api(key) as client:
        answers = [client.post(f"/v1/members/{member}/invitations") for member in invited]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["retry-after"]) > 0
    guests = {f"guest{tag}-{n}@example.com" for n in range(3)}

    def received() -> set[str]:
        return {r for mail in mailbox.mails for r in mail.recipients if r in guests}

    deadline = time.monotonic() + 60
    while len(received()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert received() == {f"guest{tag}-0@example.com", f"guest{tag}-1@example.com"}
    # The worker polls every 0.2 s: a third mail would have gone with the first two by now.
    time.sleep(1)
    assert f"guest{tag}-2@example.com" not in received()
