"""Service additions behind the admin pages: a webhook endpoint's delivery log (its own outbox
messages only), redelivery and rotation; members found by e-mail or name; CSV cells."""

from datetime import timedelta

import pytest

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, NotFound
from keyward.core.sealing import Sealer, place
from keyward.db.engine import Database
from keyward.db.models import WebhookEndpoint
from keyward.domains.audit.export import safe_cell
from keyward.domains.members import service as members
from keyward.domains.notifications import service as notifications
from keyward.domains.notifications.events import WEBHOOK, Event
from keyward.domains.outbox import service as outbox
from keyward.domains.pagination import PageRequest
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import DeliveryStatus, WebhookEndpointCreate
from tests.conftest import settings_for
from tests.factories import admin, make_member, make_workspace

SEALER = Sealer([b"s" * 32])


def _endpoint(db: Database, actor: Actor, url: str) -> str:
    settings = settings_for(db.url)
    with db.transaction() as uow:
        return webhooks.create_endpoint(
            uow,
            actor,
            WebhookEndpointCreate(url=url),
            sealer=SEALER,
            settings=settings,
        ).id


def test_the_delivery_log_lists_only_this_endpoints_deliveries(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    first = _endpoint(db, actor, "https://one.example.com/hook")
    second = _endpoint(db, actor, "https://two.example.com/hook")
    with db.transaction() as uow:
        notifications.notify(
            uow, set_up.workspace.id, Event.KEY_REVOKED, {"n": 1}, [actor.member_id]
        )
        test = webhooks.send_test_event(uow, actor, first)
    with db.transaction(write=False) as uow:
        log = webhooks.list_deliveries(uow, actor, first, PageRequest())
        other = webhooks.list_deliveries(uow, actor, second, PageRequest())
    assert [d.event for d in log.data] == ["webhook.test", "key.revoked"]
    assert log.data[0].id == test.id
    assert [d.event for d in other.data] == ["key.revoked"]
    assert {d.status for d in log.data} == {DeliveryStatus.PENDING}


def test_redelivery_waits_until_a_delivery_is_settled_and_a_retry_shows_its_next_attempt(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    endpoint = _endpoint(db, actor, "https://one.example.com/hook")
    with db.transaction() as uow:
        sent = webhooks.send_test_event(uow, actor, endpoint)
    with pytest.raises(Conflict) as pending, db.transaction() as uow:
        webhooks.redeliver(uow, actor, endpoint, sent.id)
    assert pending.value.code == "delivery_pending"
    with db.transaction() as uow:
        for message in outbox.claim(uow, [WEBHOOK], 10, timedelta(minutes=1)):
            outbox.settle(uow, message.id, "the webhook answered HTTP 500")
    with db.transaction(write=False) as uow:
        (retrying,) = webhooks.list_deliveries(uow, actor, endpoint, PageRequest()).data
    assert (retrying.status, retrying.attempts) == (DeliveryStatus.RETRYING, 1)
    assert retrying.next_attempt_at is not None
    with db.transaction() as uow:
        due = outbox.claim(uow, [WEBHOOK], 10, timedelta(minutes=1))
        assert list(due) == [], "not due before its backoff"
    with pytest.raises(NotFound), db.transaction() as uow:
        webhooks.redeliver(uow, actor, endpoint, "msg_01m9000000000000000000000")


def test_a_rotated_secret_replaces_the_sealed_one(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    endpoint = _endpoint(db, actor, "https://one.example.com/hook")
    with db.transaction() as uow:
        rotated = webhooks.rotate_secret(uow, actor, endpoint, sealer=SEALER)
    with db.transaction(write=False) as uow:
        row = uow.session.get(WebhookEndpoint, endpoint)
        assert row is not None
        opened = SEALER.open(
            row.sealed_secret, place("webhook_endpoints", endpoint, "sealed_secret")
        )
    assert opened == rotated.signing_secret


def test_members_are_found_by_part_of_their_email_or_name_in_any_case(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    dana = make_member(db, actor, email="dana@example.com", name="Dana Scully")
    under = make_member(db, actor, email="x_y@example.com", name="100% Fox")
    make_member(db, actor, email="xay@example.com", name="Walter")

    def found(text: str) -> list[str]:
        with db.transaction(write=False) as uow:
            page = members.list_members(uow, actor, PageRequest(), search=text)
        return [m.id for m in page.data]

    assert found("SCULLY") == [dana.id]
    assert found("DANA@") == [dana.id]
    assert found("x_y") == [under.id], "_ is a character, not a wildcard"
    assert found("0%") == [under.id]
    assert found("nobody") == []


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (None, ""),
        ("a=b", "a=b"),
    ],
)
def test_cells_that_would_start_a_formula_are_quoted(value: str | None, cell: str) -> None:
    assert safe_cell(value) == cell
