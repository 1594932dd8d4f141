"""Members create keys, file key requests and send invitations at most at the operator's rates.

Counted from the rows those actions leave, on SQLite and PostgreSQL: beyond a rate the action is
refused (429 `rate_limited` with the seconds to wait) and nothing is made and nobody e-mailed.
"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from keyward.core.clock import ManualClock
from keyward.core.errors import RateLimited
from keyward.core.rates import ActionRates
from keyward.db.engine import Database
from keyward.db.models import Acquisition, ApiKey, KeyRequest, OutboxMessage, PasswordLink
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import AccountKeyCreate
from keyward.domains.notifications.events import Event
from keyward.domains.passwords import service as passwords
from keyward.domains.passwords.service import LINK_EMAIL
from keyward.settings import Settings
from tests.domains.key_world import make_world
from tests.factories import actor_for, make_acquisition_key, make_member


def _count(db: Database, model: type[ApiKey] | type[KeyRequest] | type[PasswordLink]) -> int:
    with db.transaction(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def _outbox(db: Database) -> list[OutboxMessage]:
    with db.transaction(write=False) as uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_member_past_the_keys_a_minute_is_refused_until_the_minute_passes(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db)
    clock.advance(timedelta(minutes=1))  # the keys made with the world are out of the minute
    db.rates = ActionRates(keys_per_minute=3)
    world.new_key()
    clock.advance(timedelta(seconds=20))
    world.new_key()
    world.new_key()
    made = _count(db, ApiKey)
    with pytest.raises(RateLimited) as refused:
        world.new_key()
    assert refused.value.status == 429
    assert refused.value.code == "rate_limited"
    # The first of the three leaves the minute 40 s from now.
    assert refused.value.retry_after == 40
    assert refused.value.details["retry_after"] == 40
    assert refused.value.message == (
        "You created 3 keys within a minute, as many as this server allows; retry in 40 s."
    )
    assert _count(db, ApiKey) == made
    clock.advance(timedelta(seconds=40))
    world.new_key()
    assert _count(db, ApiKey) == made + 1


def test_an_acquisition_past_the_keys_a_minute_is_refused_to_anyone_else_too(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db)
    clock.advance(timedelta(minutes=1))
    db.rates = ActionRates(keys_per_minute=2)
    world.new_key()
    world.new_key()
    with db.transaction(write=False) as uow:
        acquisition = uow.session.get(Acquisition, world.acquisition_id)
        assert acquisition is not None
    colleague = make_member(
        db, world.admin, roles=["acquirer"], organization_ids=[acquisition.organization_id]
    )
    other = actor_for(db, world.admin.workspace_id, colleague.id)
    with pytest.raises(RateLimited) as refused:
        make_acquisition_key(db, other, world.acquisition_id)
    assert refused.value.details["acquisition_id"] == world.acquisition_id
    # The colleague may still make keys of their own.
    body = AccountKeyCreate(name="colleague's", permissions=["keys:read"])
    world.acting(other, keys.issue_account_key, body)


def test_a_replayed_key_creation_is_not_counted(db: Database, clock: ManualClock) -> None:
    world = make_world(db)
    clock.advance(timedelta(minutes=1))
    db.rates = ActionRates(keys_per_minute=1)
    body = AccountKeyCreate(name="once", permissions=["keys:read"])
    first, replayed = world.acting(world.admin, keys.create_account_key, body, "retry-1")
    again, replayed_again = world.acting(world.admin, keys.create_account_key, body, "retry-1")
    assert (replayed, replayed_again) == (False, True)
    assert again.id == first.id
    with pytest.raises(RateLimited):
        world.acting(
            world.admin,
            keys.create_account_key,
            AccountKeyCreate(name="twice", permissions=["keys:read"]),
            "retry-2",
        )


def test_no_rate_is_no_limit(db: Database) -> None:
    world = make_world(db)
    db.rates = ActionRates()
    for _ in range(5):
        world.new_key()


def test_a_member_past_the_key_requests_an_hour_is_refused_and_no_approver_is_emailed(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db, revocation_requires_approval=True)
    targets = [world.key, world.new_key(), world.new_key()]
    db.rates = ActionRates(key_requests_per_hour=2)
    for target in targets[:2]:
        world.acting(world.acquirer, keys.revoke_key, target.id, allow_request=True)
        clock.advance(timedelta(minutes=10))
    requests = _count(db, KeyRequest)
    sent = len(_outbox(db))
    assert any(m.payload.get("event") == Event.REVOCATION_REQUESTED.value for m in _outbox(db))
    with pytest.raises(RateLimited) as refused:
        world.acting(world.acquirer, keys.revoke_key, targets[2].id, allow_request=True)
    assert refused.value.retry_after == 40 * 60
    assert refused.value.details["setting"] == "KEYWARD_KEY_REQUESTS_PER_HOUR"
    assert refused.value.message.startswith("You filed 2 key requests within an hour, ")
    assert _count(db, KeyRequest) == requests
    assert len(_outbox(db)) == sent


def test_a_member_past_the_invitations_an_hour_is_refused_and_nothing_is_sent(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db)
    invited = [make_member(db, world.admin) for _ in range(3)]
    db.rates = ActionRates(invitations_per_hour=2)
    settings = Settings()
    for member in invited[:2]:
        world.acting(world.admin, passwords.invite, member.id, settings)
    links = _count(db, PasswordLink)
    with pytest.raises(RateLimited) as refused:
        world.acting(world.admin, passwords.invite, invited[2].id, settings)
    assert refused.value.retry_after == 3600
    assert _count(db, PasswordLink) == links
    assert len([m for m in _outbox(db) if m.kind == LINK_EMAIL]) == 2
    clock.advance(timedelta(hours=1))
    world.acting(world.admin, passwords.invite, invited[2].id, settings)
