"""The unused keys policy run by the worker, with a time-travel clock, a real SMTP server and a
real webhook receiver: owners are warned once per idle period, keys are revoked ("unused"),
audited and announced; a use starts the idle period afresh."""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.core.keys import KeyState
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import AuditEvent
from keyward.domains.keys import service as keys
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import WebhookEndpointCreate
from keyward.domains.workspaces import policies
from keyward.domains.workspaces.schemas import WorkspaceSettings
from keyward.jobs.worker import Worker
from keyward.settings import Settings
from keyward.verifier.usage import record_last_used
from tests.conftest import settings_for
from tests.factories import (
    actor_for,
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
)
from tests.jobs.receivers import HookReceiver, Mailbox, hook_receiver, smtp_server

DAY = timedelta(days=1)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    with hook_receiver() as running:
        yield running


class Workspace:
    """Ada's acquisition key of the Weather API and her account key, both never expiring, and
    a webhook endpoint for `key.unused` and `key.revoked`."""

    def __init__(self, db: Database, settings: Settings, hooks: HookReceiver) -> None:
        set_up = make_workspace(db)
        self.admin: Actor = admin(db, set_up)
        api = make_api(db, self.admin, name="Weather API")
        organization = make_organization(db, self.admin)
        ada = make_member(
            db,
            self.admin,
            email="ada@example.com",
            name="Ada Lovelace",
            roles=["acquirer"],
            organization_ids=[organization.id],
        )
        self.ada = actor_for(db, set_up.workspace.id, ada.id)
        offering = make_offering(db, self.admin, api.id, period=None)
        acquisition = make_acquisition(db, self.admin, offering.id, organization.id)
        self.key = make_acquisition_key(db, self.ada, acquisition.id, name="billing").id
        self.account_key = make_key(db, self.ada, name="laptop", permissions=["keys:read"]).id
        body = WebhookEndpointCreate.model_validate(
            {"url": hooks.url, "events": ["key.unused", "key.revoked"]}
        )
        with db.transaction() as uow:
            webhooks.create_endpoint(
                uow, self.admin, body, sealer=Sealer(settings.server_secrets()), settings=settings
            )

    def set_policy(self, db: Database, **unused_keys: str) -> None:
        body = WorkspaceSettings.model_validate({"unused_keys": unused_keys or None})
        with db.transaction() as uow:
            policies.update_settings(uow, self.admin, body)

    def state(self, db: Database, key_id: str) -> KeyState:
        with db.transaction(write=False) as uow:
            return keys.get_key(uow, self.admin, key_id).state


@pytest.fixture
def settings(db: Database, mailbox: Mailbox, tmp_path: Path) -> Settings:
    return settings_for(
        db.url,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_security="none",
        smtp_from="keyward@example.com",
        connector_file_root=tmp_path,
        portal_url="https://keys.example.com",
    )


def _mails(mailbox: Mailbox, event: str, key_name: str) -> list[str]:
    """The subjects of the e-mails of `event` about the key, in the order sent."""
    return [
        str(mail.message["Subject"])
        for mail in mailbox.mails
        if mail.message["X-Keyward-Event"] == event and f"“{key_name}”" in mail.message["Subject"]
    ]


def _hooks(hooks: HookReceiver, key_id: str) -> list[tuple[str, dict[str, object]]]:
    """(event, data) of every webhook delivery about the key, in the order received."""
    bodies = [json.loads(hook.body) for hook in hooks.received]
    return [(b["type"], b["data"]) for b in bodies if b["data"]["key"]["id"] == key_id]


def _used(db: Database, key_id: str, clock: ManualClock) -> None:
    """A use of the key, as the verifier's flush records it."""
    with db.transaction() as uow:
        record_last_used(uow.session, [(key_id, clock.now().timestamp())])


def test_a_never_used_key_is_warned_once_then_revoked_as_unused_audited_and_announced(
    db: Database,
    clock: ManualClock,
    settings: Settings,
    mailbox: Mailbox,
    hooks: HookReceiver,
) -> None:
    world = Workspace(db, settings, hooks)
    world.set_policy(db, warn_after="P60D", revoke_after="P90D")
    worker = Worker(db, settings)
    clock.advance(60 * DAY - timedelta(seconds=1))
    worker.once()
    assert _hooks(hooks, world.key) == []
    clock.advance(timedelta(seconds=1))
    worker.once()
    clock.advance(DAY)
    worker.once()  # a later sweep of the same idle period warns no more
    assert _mails(mailbox, "key.unused", "billing") == ["Key “billing” unused for 60 days"]
    mail = next(m for m in mailbox.mails if "“billing” unused" in m.message["Subject"])
    assert mail.recipients == ["ada@example.com"]
    text = mail.part("plain")
    assert "has not been used since it was created" in text
    assert "it will be revoked then" in text
    assert "https://keys.example.com/keys" in text
    [(event, data)] = _hooks(hooks, world.key)
    assert event == "key.unused"
    assert data["never_used"] is True
    assert data["revokes_at"] == (clock.now() - DAY + 30 * DAY).isoformat()
    assert world.state(db, world.key) is KeyState.ACTIVE

    clock.advance(29 * DAY)
    worker.once()
    assert world.state(db, world.key) is KeyState.REVOKED
    assert world.state(db, world.account_key) is KeyState.REVOKED, "account keys too"
    assert _mails(mailbox, "key.revoked", "billing") == ["Key “billing” revoked"]
    revoked = next(m for m in mailbox.mails if "“billing” revoked" in m.message["Subject"])
    assert "It was not used since it was created" in revoked.part("plain")
    assert [event for event, _ in _hooks(hooks, world.key)] == ["key.unused", "key.revoked"]
    assert _hooks(hooks, world.key)[1][1]["reason"] == "unused"
    with db.transaction(write=False) as uow:
        events = uow.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target_id == world.key)
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        ).all()
    assert [(e.action, e.actor_type, e.actor_member_id) for e in events][-2:] == [
        ("key.unused_warning", "system", None),
        ("key.revoke", "system", None),
    ]
    assert events[-1].details["reason"] == "unused"
    clock.advance(DAY)
    worker.once()
    assert _mails(mailbox, "key.revoked", "billing") == ["Key “billing” revoked"], "once"


def test_a_use_starts_a_new_idle_period_warned_and_revoked_afresh(
    db: Database,
    clock: ManualClock,
    settings: Settings,
    mailbox: Mailbox,
    hooks: HookReceiver,
) -> None:
    world = Workspace(db, settings, hooks)
    world.set_policy(db, warn_after="P60D", revoke_after="P90D")
    worker = Worker(db, settings)
    clock.advance(60 * DAY)
    worker.once()
    clock.advance(10 * DAY)
    _used(db, world.key, clock)
    clock.advance(20 * DAY)  # 90 days after creation, 20 after the use
    worker.once()
    assert world.state(db, world.key) is KeyState.ACTIVE
    assert world.state(db, world.account_key) is KeyState.REVOKED
    clock.advance(40 * DAY)  # 60 days after the use
    worker.once()
    assert _mails(mailbox, "key.unused", "billing") == ["Key “billing” unused for 60 days"] * 2
    second = [m for m in mailbox.mails if "“billing” unused" in m.message["Subject"]][-1]
    assert "has not been used since" in second.part("plain")
    assert "since it was created" not in second.part("plain")
    clock.advance(30 * DAY)
    worker.once()
    assert world.state(db, world.key) is KeyState.REVOKED


def test_switched_on_for_keys_idle_long_already_it_warns_first_and_revokes_later(
    db: Database,
    clock: ManualClock,
    settings: Settings,
    mailbox: Mailbox,
    hooks: HookReceiver,
) -> None:
    world = Workspace(db, settings, hooks)
    worker = Worker(db, settings)
    clock.advance(400 * DAY)
    worker.once()
    assert _mails(mailbox, "key.unused", "billing") == [], "the policy is off by default"
    world.set_policy(db, warn_after="P60D", revoke_after="P90D")
    worker.once()
    assert _mails(mailbox, "key.unused", "billing") == ["Key “billing” unused for 400 days"]
    clock.advance(30 * DAY - timedelta(seconds=1))
    worker.once()
    assert world.state(db, world.key) is KeyState.ACTIVE, "30 days' notice, as promised"
    clock.advance(timedelta(seconds=1))
    worker.once()
    assert world.state(db, world.key) is KeyState.REVOKED
    assert _mails(mailbox, "key.revoked", "laptop") == ["Key “laptop” revoked"]


def test_a_policy_without_warning_revokes_and_one_without_revocation_only_warns(
    db: Database,
    clock: ManualClock,
    settings: Settings,
    mailbox: Mailbox,
    hooks: HookReceiver,
) -> None:
    world = Workspace(db, settings, hooks)
    world.set_policy(db, warn_after="P30D")
    worker = Worker(db, settings)
    clock.advance(1000 * DAY)
    worker.once()
    assert world.state(db, world.key) is KeyState.ACTIVE
    assert _mails(mailbox, "key.unused", "billing") == ["Key “billing” unused for 1000 days"]
    world.set_policy(db, revoke_after="P90D")
    worker.once()
    assert world.state(db, world.key) is KeyState.REVOKED
    assert len(_mails(mailbox, "key.unused", "billing")) == 1
