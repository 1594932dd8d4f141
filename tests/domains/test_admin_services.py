"""Service additions behind the admin pages: a webhook endpoint's delivery log (its own outbox
messages only), redelivery and rotation (the old secret kept, sealed, for a grace of at most
7 days); members found by e-mail or name; CSV cells."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.core.errors import Conflict, InvalidInput, NotFound
from keyward.core.sealing import Sealer, place
from keyward.db.engine import Database
from keyward.db.models import AuditEvent, WebhookEndpoint
from keyward.domains.audit.export import safe_cell
from keyward.domains.members import service as members
from keyward.domains.notifications import service as notifications
from keyward.domains.notifications.events import WEBHOOK, Event
from keyward.domains.outbox import service as outbox
from keyward.domains.pagination import PageRequest
from keyward.domains.sealed import census, reseal
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import DeliveryStatus, WebhookEndpointCreate
from tests.conftest import START, settings_for
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


def _secrets(db: Database, endpoint: str) -> tuple[str, str | None]:
    """The endpoint's signing secret and the one still in its grace (None: none kept)."""
    with db.transaction(write=False) as uow:
        row = uow.session.get(WebhookEndpoint, endpoint)
        assert row is not None
        current = SEALER.open(
            row.sealed_secret, place("webhook_endpoints", endpoint, "sealed_secret")
        )
        previous = row.previous_sealed_secret
        return current, None if previous is None else SEALER.open(
            previous, place("webhook_endpoints", endpoint, "previous_sealed_secret")
        )


def test_a_rotated_secret_replaces_the_sealed_one_and_keeps_the_old_for_24_hours(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    endpoint = _endpoint(db, actor, "https://one.example.com/hook")
    (old, _) = _secrets(db, endpoint)
    with db.transaction() as uow:
        rotated = webhooks.rotate_secret(uow, actor, endpoint, sealer=SEALER)
    assert _secrets(db, endpoint) == (rotated.signing_secret, old)
    assert rotated.previous_secret_until == START + timedelta(hours=24)
    with db.transaction(write=False) as uow:
        assert webhooks.get_endpoint(uow, actor, endpoint).previous_secret_until == (
            START + timedelta(hours=24)
        )
        event = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "webhook.rotate_secret")
        ).one()
    assert event.details == {
        "grace": "P1D",
        "previous_secret_until": (START + timedelta(hours=24)).isoformat(),
    }


def test_a_grace_of_zero_stops_the_old_secret_at_once(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    endpoint = _endpoint(db, actor, "https://one.example.com/hook")
    with db.transaction() as uow:
        rotated = webhooks.rotate_secret(uow, actor, endpoint, sealer=SEALER, grace=timedelta(0))
    assert _secrets(db, endpoint) == (rotated.signing_secret, None)
    assert rotated.previous_secret_until is None


def test_a_grace_over_7_days_is_refused_naming_the_maximum_and_changes_nothing(
    db: Database,
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    endpoint = _endpoint(db, actor, "https://one.example.com/hook")
    before = _secrets(db, endpoint)
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        webhooks.rotate_secret(
            uow, actor, endpoint, sealer=SEALER, grace=timedelta(days=7, seconds=1)
        )
    assert refused.value.code == "grace_too_long"
    assert "at most 7 days (P7D)" in refused.value.message
    assert _secrets(db, endpoint) == before
    with db.transaction() as uow:
        longest = webhooks.rotate_secret(
            uow, actor, endpoint, sealer=SEALER, grace=timedelta(days=7)
        )
    assert longest.previous_secret_until == START + timedelta(days=7)


def test_rotating_again_during_a_grace_keeps_only_the_secret_current_then(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    endpoint = _endpoint(db, actor, "https://one.example.com/hook")
    with db.transaction() as uow:
        first = webhooks.rotate_secret(uow, actor, endpoint, sealer=SEALER)
    clock.advance(timedelta(hours=1))
    with db.transaction() as uow:
        second = webhooks.rotate_secret(
            uow, actor, endpoint, sealer=SEALER, grace=timedelta(hours=2)
        )
    assert _secrets(db, endpoint) == (second.signing_secret, first.signing_secret)
    assert second.previous_secret_until == START + timedelta(hours=3)
    clock.advance(timedelta(hours=2))
    with db.transaction(write=False) as uow:
        shown = webhooks.get_endpoint(uow, actor, endpoint)
    assert shown.previous_secret_until is None, "a grace that ended is not shown"


def test_resealing_seals_the_previous_secret_again_too(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    endpoint = _endpoint(db, actor, "https://one.example.com/hook")
    with db.transaction() as uow:
        webhooks.rotate_secret(uow, actor, endpoint, sealer=SEALER)
    before = _secrets(db, endpoint)
    newer = Sealer([b"t" * 32, b"s" * 32])
    with db.transaction() as uow:
        assert census(uow).get(newer.current, 0) == 0
        reseal(uow, newer)
        after = census(uow)
        row = uow.session.get(WebhookEndpoint, endpoint)
        assert row is not None
        assert row.previous_sealed_secret is not None
        assert (
            newer.open(
                row.previous_sealed_secret,
                place("webhook_endpoints", endpoint, "previous_sealed_secret"),
            )
            == before[1]
        )
    assert after.get(newer.current, 0) >= 2


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
