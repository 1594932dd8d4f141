"""Notifications delivered by the worker through real receivers: an SMTP server (aiosmtpd)
and an HTTP endpoint that verifies signatures; retries, backoff and permanent failures."""

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import Api, ApiKey, OutboxMessage
from keyward.domains.notifications.events import EMAIL, WEBHOOK, Event
from keyward.domains.notifications.service import key_data, notify
from keyward.domains.outbox import service as outbox
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointCreated
from keyward.jobs.transports import verify_signature
from keyward.jobs.worker import Worker
from keyward.settings import Settings
from tests.conftest import settings_for
from tests.factories import (
    actor_for,
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
    secret,
)
from tests.jobs.receivers import HookReceiver, Mailbox, hook_receiver, smtp_server


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    with hook_receiver() as running:
        yield running


def mail_settings(db: Database, mailbox: Mailbox, tmp_path: Path) -> Settings:
    return settings_for(
        db.url,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_security="none",
        smtp_from="keyward@example.com",
        connector_file_root=tmp_path,
    )


class World:
    """An API with an acquisition by an organization, a key of it, and its creator."""

    def __init__(self, db: Database) -> None:
        set_up = make_workspace(db)
        self.workspace_id = set_up.workspace.id
        self.admin: Actor = admin(db, set_up)
        self.api = make_api(db, self.admin, name="Weather API")
        organization = make_organization(db, self.admin)
        self.owner = make_member(
            db,
            self.admin,
            email="ada@example.com",
            name="Ada Lovelace",
            roles=["acquirer"],
            organization_ids=[organization.id],
        )
        offering = make_offering(db, self.admin, self.api.id)
        acquisition = make_acquisition(db, self.admin, offering.id, organization.id)
        ada = actor_for(db, self.workspace_id, self.owner.id)
        created = make_acquisition_key(db, ada, acquisition.id, name="billing <prod>")
        self.key_id = created.id
        self.key_secret = secret(created)
        self.key_start = created.start

    def notify(self, db: Database, event: Event, extra: dict[str, Any] | None = None) -> str:
        with db.transaction() as uow:
            key = uow.session.get(ApiKey, self.key_id)
            api = uow.session.get(Api, self.api.id)
            assert key is not None
            return notify(
                uow,
                self.workspace_id,
                event,
                {**key_data(key, api), **(extra or {})},
                recipients=[self.owner.id, self.owner.id, None],
            )

    def endpoint(self, db: Database, settings: Settings, url: str) -> WebhookEndpointCreated:
        """An endpoint for key.revoked only: other notifications the set-up causes stay out."""
        body = WebhookEndpointCreate.model_validate({"url": url, "events": ["key.revoked"]})
        with db.transaction() as uow:
            return webhooks.create_endpoint(
                uow, self.admin, body, sealer=Sealer(settings.server_secrets()), settings=settings
            )


def messages(db: Database, kind: str) -> list[OutboxMessage]:
    with db.transaction(write=False) as uow:
        return list(
            uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


def test_an_email_names_the_key_and_api_in_text_and_html_and_never_its_secret(
    db: Database, mailbox: Mailbox, tmp_path: Path
) -> None:
    world = World(db)
    world.notify(
        db,
        Event.RENEWAL_REJECTED,
        {"request": {"id": "kreq_x", "action": "renew", "comment": "Use the <new> key"}},
    )
    Worker(db, mail_settings(db, mailbox, tmp_path)).drain()
    [mail] = [m for m in mailbox.mails if m.message["X-Keyward-Event"] == "key.renewal_rejected"]
    assert mail.recipients == ["ada@example.com"], "one e-mail per recipient, repeats dropped"
    assert mail.sender == "keyward@example.com"
    assert mail.message["To"] == "Ada Lovelace <ada@example.com>"
    assert mail.message["Subject"] == "Renewal of key “billing <prod>” rejected"
    text, html = mail.part("plain"), mail.part("html")
    for part in (text, html):
        assert world.key_id in part
        assert "Weather API" in part
        assert world.key_secret not in part
        assert world.key_start.rstrip("…") in part, "the key's start is named"
    assert "billing <prod>" in text
    assert "Use the <new> key" in text
    assert "billing &lt;prod&gt;" in html, "HTML is escaped"
    assert "Use the &lt;new&gt; key" in html
    assert "<prod>" not in html
    assert world.key_secret not in mail.message.as_string()


@pytest.mark.parametrize("event", list(Event))
def test_every_event_has_an_email(
    db: Database, mailbox: Mailbox, tmp_path: Path, event: Event
) -> None:
    world = World(db)
    extra = {
        "days": 3,
        "api_version": 2,
        "changes": {"added": ["GET /pets"]},
        "acquisition": {
            "id": "acq_x",
            "organization_name": "Acme",
            "offering_name": "Gold",
            "valid_until": "2026-07-01T12:00:00+00:00",
        },
    }
    event_id = world.notify(db, event, extra)
    Worker(db, mail_settings(db, mailbox, tmp_path)).drain()
    [mail] = [m for m in mailbox.mails if event_id in m.message["Message-ID"]]
    assert mail.message["X-Keyward-Event"] == event.value
    assert mail.message["Subject"].strip()
    assert "\n" not in mail.message["Subject"]
    assert world.key_secret not in mail.message.as_string()
    assert [m.status for m in messages(db, EMAIL)] == ["done"] * len(messages(db, EMAIL))


def test_without_an_smtp_server_emails_fail_at_once_saying_why(db: Database) -> None:
    world = World(db)
    world.notify(db, Event.KEY_REVOKED)
    Worker(db, settings_for(db.url)).drain()
    emails = messages(db, EMAIL)
    assert emails
    assert {(m.status, m.attempts) for m in emails} == {("failed", 1)}
    assert all("KEYWARD_SMTP_HOST" in (m.last_error or "") for m in emails)


def test_a_refused_recipient_is_given_up_and_a_busy_server_is_retried(
    db: Database, mailbox: Mailbox, tmp_path: Path, clock: ManualClock
) -> None:
    world = World(db)
    settings = mail_settings(db, mailbox, tmp_path)
    Worker(db, settings).drain()  # what the set-up queued
    mailbox.refuse_next = ["450 mailbox busy, try later"]
    world.notify(db, Event.KEY_REVOKED)
    worker = Worker(db, settings)
    assert worker.drain() == 1
    [busy] = [m for m in messages(db, EMAIL) if m.payload["event"] == "key.revoked"]
    assert (busy.status, busy.attempts) == ("pending", 1)
    assert "450" in (busy.last_error or "")
    clock.advance(timedelta(seconds=5))
    assert worker.drain() == 1
    assert [m.message["X-Keyward-Event"] for m in mailbox.mails][-1] == "key.revoked"

    mailbox.refuse_next = ["550 no such user"]
    world.notify(db, Event.KEY_ROTATED)
    assert worker.drain() == 1
    [refused] = [m for m in messages(db, EMAIL) if m.payload["event"] == "key.rotated"]
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert "550" in (refused.last_error or "")


def test_a_webhook_gets_a_signed_event_that_receivers_can_verify(
    db: Database, hooks: HookReceiver, tmp_path: Path
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    endpoint = world.endpoint(db, settings, hooks.url)
    assert endpoint.signing_secret is not None
    event_id = world.notify(db, Event.KEY_REVOKED)
    Worker(db, settings).drain()
    [hook] = hooks.received
    delivery_id = hook.headers["Keyward-Delivery"]
    header = hook.headers["Keyward-Signature"]
    now = time.time()
    assert verify_signature(endpoint.signing_secret, delivery_id, header, hook.body, now)
    envelope = json.loads(hook.body)
    assert set(envelope) == {"id", "type", "occurred_at", "workspace_id", "event_id", "data"}
    assert (envelope["id"], envelope["type"], envelope["event_id"]) == (
        delivery_id,
        "key.revoked",
        event_id,
    )
    assert envelope["workspace_id"] == world.workspace_id
    assert envelope["data"]["key"]["id"] == world.key_id
    assert world.key_secret not in hook.body.decode()

    tampered = hook.body.replace(b"key.revoked", b"key.renewed")
    assert not verify_signature(endpoint.signing_secret, delivery_id, header, tampered, now)
    assert not verify_signature("whsec_another", delivery_id, header, hook.body, now)
    assert not verify_signature(endpoint.signing_secret, "msg_other", header, hook.body, now)
    signed_at = int(header.split(",")[0].removeprefix("t="))
    assert abs(signed_at - now) < 5
    for late in (301, -301):
        assert not verify_signature(
            endpoint.signing_secret, delivery_id, header, hook.body, signed_at + late
        ), "a stale (or future) timestamp is refused"
    assert verify_signature(
        endpoint.signing_secret, delivery_id, header, hook.body, signed_at + 300
    )
    assert not verify_signature(endpoint.signing_secret, delivery_id, "v1=abc", hook.body, now)
    assert not verify_signature(endpoint.signing_secret, delivery_id, "", hook.body, now)


def test_during_a_rotations_grace_deliveries_verify_with_the_old_and_the_new_secret(
    db: Database, hooks: HookReceiver, tmp_path: Path, clock: ManualClock
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    endpoint = world.endpoint(db, settings, hooks.url)
    assert endpoint.signing_secret is not None
    with db.transaction() as uow:
        rotated = webhooks.rotate_secret(
            uow,
            world.admin,
            endpoint.id,
            sealer=Sealer(settings.server_secrets()),
            grace=timedelta(hours=1),
        )
    worker = Worker(db, settings)
    world.notify(db, Event.KEY_REVOKED)
    worker.drain()
    clock.advance(timedelta(hours=1))  # the grace is over
    world.notify(db, Event.KEY_REVOKED)
    worker.drain()
    during, after = hooks.received
    now = time.time()
    for hook, signers in ((during, 2), (after, 1)):
        header = hook.headers["Keyward-Signature"]
        assert header.count("v1=") == signers
        assert verify_signature(
            rotated.signing_secret, hook.headers["Keyward-Delivery"], header, hook.body, now
        )
    assert verify_signature(
        endpoint.signing_secret,
        during.headers["Keyward-Delivery"],
        during.headers["Keyward-Signature"],
        during.body,
        now,
    ), "the old secret still signs during the grace"
    assert not verify_signature(
        endpoint.signing_secret,
        after.headers["Keyward-Delivery"],
        after.headers["Keyward-Signature"],
        after.body,
        now,
    ), "and no longer once it is over"
    assert verify_signature(
        rotated.signing_secret,
        during.headers["Keyward-Delivery"],
        ",".join(during.headers["Keyward-Signature"].split(",")[:2]),
        during.body,
        now,
    ), "the new secret signs first"


def test_a_grace_of_zero_stops_the_old_secret_signing_at_once(
    db: Database, hooks: HookReceiver, tmp_path: Path
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    endpoint = world.endpoint(db, settings, hooks.url)
    assert endpoint.signing_secret is not None
    with db.transaction() as uow:
        rotated = webhooks.rotate_secret(
            uow,
            world.admin,
            endpoint.id,
            sealer=Sealer(settings.server_secrets()),
            grace=timedelta(0),
        )
    world.notify(db, Event.KEY_REVOKED)
    Worker(db, settings).drain()
    [hook] = hooks.received
    delivery_id, header = hook.headers["Keyward-Delivery"], hook.headers["Keyward-Signature"]
    assert verify_signature(rotated.signing_secret, delivery_id, header, hook.body, time.time())
    assert not verify_signature(
        endpoint.signing_secret, delivery_id, header, hook.body, time.time()
    )


def test_webhook_failures_are_retried_with_growing_waits_then_delivered_once(
    db: Database, hooks: HookReceiver, tmp_path: Path, clock: ManualClock
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    world.endpoint(db, settings, hooks.url)
    hooks.statuses = [500, 429, 408]
    world.notify(db, Event.KEY_REVOKED)
    worker = Worker(db, settings)
    worker.drain()
    waits = [5, 10, 20]
    for wait in waits:
        clock.advance(timedelta(seconds=wait - 1))
        assert worker.drain() == 0, f"still waiting out {wait} s"
        clock.advance(timedelta(seconds=1))
        assert worker.drain() == 1
    assert hooks.refused == 3
    assert len(hooks.received) == 1
    [message] = messages(db, WEBHOOK)
    assert (message.status, message.attempts) == ("done", 4)
    clock.advance(timedelta(hours=2))
    assert worker.drain() == 0


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_webhook_that_refuses_with_4xx_is_given_up_at_once(
    db: Database, hooks: HookReceiver, tmp_path: Path, clock: ManualClock, status: int
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    world.endpoint(db, settings, hooks.url)
    hooks.statuses = [status]
    world.notify(db, Event.KEY_REVOKED)
    worker = Worker(db, settings)
    worker.drain()
    clock.advance(timedelta(hours=2))
    assert worker.drain() == 0
    [message] = messages(db, WEBHOOK)
    assert (message.status, message.attempts) == ("failed", 1)
    assert f"HTTP {status}" in (message.last_error or "")


def test_an_unreachable_webhook_fails_for_good_after_the_last_attempt(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    with hook_receiver() as gone:
        url = gone.url
    world.endpoint(db, settings, url)
    world.notify(db, Event.KEY_REVOKED)
    worker = Worker(db, settings)
    for _ in range(outbox.MAX_ATTEMPTS):
        worker.drain()
        clock.advance(outbox.LONGEST_WAIT)
    [message] = messages(db, WEBHOOK)
    assert (message.status, message.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert "ConnectError" in (message.last_error or "")


def test_deliveries_queued_for_a_deleted_endpoint_are_dropped(
    db: Database, hooks: HookReceiver, tmp_path: Path
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    endpoint = world.endpoint(db, settings, hooks.url)
    world.notify(db, Event.KEY_REVOKED)
    with db.transaction() as uow:
        webhooks.delete_endpoint(uow, world.admin, endpoint.id)
    Worker(db, settings).drain()
    assert hooks.received == []
    assert [m.status for m in messages(db, WEBHOOK)] == ["done"]


def test_an_endpoint_gets_only_the_events_it_asked_for(
    db: Database, hooks: HookReceiver, tmp_path: Path
) -> None:
    world = World(db)
    settings = settings_for(db.url, connector_file_root=tmp_path)
    world.endpoint(db, settings, hooks.url)
    world.notify(db, Event.KEY_ROTATED)
    world.notify(db, Event.KEY_REVOKED)
    Worker(db, settings).drain()
    assert [json.loads(h.body)["type"] for h in hooks.received] == ["key.revoked"]
