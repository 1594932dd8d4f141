"""Expiry sweeps with a time-travel clock: reminders 14 and 3 days before a key or an
acquisition expires, a notice once it has, each sent once, none for revoked keys."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.db.models import Acquisition, ApiKey, OutboxMessage
from keyward.domains.keys import service as keys
from keyward.domains.notifications import reminders
from keyward.domains.notifications.events import EMAIL
from keyward.jobs import sweeps
from keyward.settings import Settings
from tests.conftest import settings_for
from tests.factories import (
    admin,
    make_acquisition,
    make_api,
    make_key,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
)

DAY = timedelta(days=1)


@pytest.fixture
def settings(db: Database) -> Settings:
    return settings_for(db.url)


def told(db: Database, subject_id: str, field: str = "key") -> list[tuple[str, str, int | None]]:
    """(event, recipient, days) of every e-mail queued about `subject_id`, oldest first."""
    with db.transaction(write=False) as uow:
        rows = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == EMAIL).order_by(OutboxMessage.id)
        ).all()
    return [
        (m.payload["event"], m.payload["to"]["member_id"], m.payload["data"].get("days"))
        for m in rows
        if (m.payload["data"].get(field) or {}).get("id") == subject_id
        and m.payload["event"].split(".")[1] in ("expiring", "expired")
    ]


def set_up(db: Database) -> tuple[Actor, str]:
    workspace = make_workspace(db)
    return admin(db, workspace), workspace.admin_member_id


def test_a_key_is_reminded_14_and_3_days_before_and_told_once_it_expired(
    db: Database, clock: ManualClock, settings: Settings
) -> None:
    actor, creator = set_up(db)
    key = make_key(db, actor, expires_in=30 * DAY)
    assert sweeps.sweep(db, settings) == 0
    clock.advance(16 * DAY - timedelta(seconds=1))
    assert sweeps.sweep(db, settings) == 0, "not yet 14 days before"
    clock.advance(timedelta(seconds=1))
    assert sweeps.sweep(db, settings) == 1
    assert sweeps.sweep(db, settings) == 0, "a second sweep sends nothing"
    clock.advance(11 * DAY)
    assert sweeps.sweep(db, settings) == 1
    clock.advance(3 * DAY)
    assert sweeps.sweep(db, settings) == 1
    clock.advance(DAY)
    assert sweeps.sweep(db, settings) == 0
    assert told(db, key.id) == [
        ("key.expiring", creator, 14),
        ("key.expiring", creator, 3),
        ("key.expired", creator, None),
    ]


def test_a_renewed_key_is_reminded_again_for_its_new_expiry(
    db: Database, clock: ManualClock, settings: Settings
) -> None:
    actor, _ = set_up(db)
    key = make_key(db, actor, expires_in=20 * DAY)
    clock.advance(17 * DAY)
    assert sweeps.sweep(db, settings) == 1
    with db.transaction() as uow:
        row = uow.session.get(ApiKey, key.id)
        assert row is not None
        row.expires_at = clock.now() + 20 * DAY  # what a renewal does to the key
    assert sweeps.sweep(db, settings) == 0
    clock.advance(6 * DAY)
    assert sweeps.sweep(db, settings) == 1
    clock.advance(11 * DAY)
    assert sweeps.sweep(db, settings) == 1
    assert [days for _, _, days in told(db, key.id)] == [3, 14, 3]


def test_a_revoked_key_gets_no_reminder_and_no_expiry_notice(
    db: Database, clock: ManualClock, settings: Settings
) -> None:
    actor, _ = set_up(db)
    key = make_key(db, actor, expires_in=20 * DAY)
    with db.transaction() as uow:
        keys.revoke_key(uow, actor, key.id)
    for _ in range(25):
        clock.advance(DAY)
        sweeps.sweep(db, settings)
    assert told(db, key.id) == []


def test_after_a_long_pause_only_the_nearest_reminder_is_sent(
    db: Database, clock: ManualClock, settings: Settings
) -> None:
    actor, _ = set_up(db)
    key = make_key(db, actor, expires_in=30 * DAY)
    clock.advance(28 * DAY)
    assert sweeps.sweep(db, settings) == 1
    clock.advance(DAY)
    assert sweeps.sweep(db, settings) == 0
    assert [days for _, _, days in told(db, key.id)] == [2]


def test_a_short_lived_key_skips_reminders_older_than_itself_and_old_expiries_stay_quiet(
    db: Database, clock: ManualClock, settings: Settings
) -> None:
    actor, _ = set_up(db)
    short = make_key(db, actor, expires_in=5 * DAY)
    forgotten = make_key(db, actor, expires_in=DAY)
    assert sweeps.sweep(db, settings) == 0, "the 14-day mark came before the keys existed"
    clock.advance(2 * DAY + timedelta(hours=1))
    assert sweeps.sweep(db, settings) == 2
    assert [days for _, _, days in told(db, short.id)] == [3]
    assert [event for event, _, _ in told(db, forgotten.id)] == ["key.expired"]
    late = make_key(db, actor, expires_in=DAY)
    clock.advance(reminders.EXPIRED_NOTICE_WINDOW + 2 * DAY)
    sweeps.sweep(db, settings)
    assert told(db, late.id) == [], "an expiry older than the notice window is not news"


def test_reminder_days_come_from_the_settings(db: Database, clock: ManualClock) -> None:
    actor, _ = set_up(db)
    key = make_key(db, actor, expires_in=10 * DAY)
    settings = settings_for(db.url, expiry_reminder_days="7, 1")
    clock.advance(3 * DAY)
    assert sweeps.sweep(db, settings) == 1
    clock.advance(6 * DAY)
    assert sweeps.sweep(db, settings) == 1
    assert [days for _, _, days in told(db, key.id)] == [7, 1]


def test_an_acquisition_tells_its_organization_and_its_acquirer(
    db: Database, clock: ManualClock, settings: Settings
) -> None:
    actor, creator = set_up(db)
    organization = make_organization(db, actor)
    members = [
        make_member(db, actor, roles=["acquirer"], organization_ids=[organization.id])
        for _ in range(2)
    ]
    outsider = make_member(db, actor, roles=["acquirer"])
    offering = make_offering(db, actor, make_api(db, actor).id, period="P30D")
    acquisition = make_acquisition(db, actor, offering.id, organization.id)
    clock.advance(27 * DAY)
    assert sweeps.sweep(db, settings) == 1
    clock.advance(3 * DAY)
    assert sweeps.sweep(db, settings) == 1
    assert sweeps.sweep(db, settings) == 0
    told_about = told(db, acquisition.id, field="acquisition")
    expected = sorted([*(m.id for m in members), creator])
    assert sorted(r for e, r, _ in told_about if e == "acquisition.expiring") == expected
    assert sorted(r for e, r, _ in told_about if e == "acquisition.expired") == expected
    assert outsider.id not in {r for _, r, _ in told_about}
    with db.transaction() as uow:
        row = uow.session.get(Acquisition, acquisition.id)
        assert row is not None
        row.valid_until = clock.now() + 30 * DAY  # what reacquiring does
    clock.advance(17 * DAY)
    assert sweeps.sweep(db, settings) == 1, "a reacquired acquisition is reminded afresh"
