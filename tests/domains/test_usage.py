"""Usage of an acquisition, offering and API: the hourly counts the usage writer keeps agree
with the minutes of their keys, survive a key's deletion, and are shown only to whoever may see
them (on SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.core.errors import Hidden, InvalidInput, NotFound, PermissionDenied
from keyward.db.engine import Database
from keyward.domains.keys import service as keys
from keyward.domains.usage import service as usage
from keyward.domains.usage.schemas import Granularity, UsageOut
from keyward.verifier.usage import record_last_used
from tests.conftest import START
from tests.domains.usage_market import make_market, send
from tests.factories import (
    admin,
    make_key,
    make_workspace,
)

HOUR = timedelta(hours=1)


def counts(shown: UsageOut) -> list[tuple[str, int, int, int, int]]:
    """The non-empty buckets: (start, 2xx, 3xx, 4xx, 5xx)."""
    return [
        (b.start.isoformat(), b.success, b.redirection, b.client_error, b.server_error)
        for b in shown.data
        if b.success or b.redirection or b.client_error or b.server_error
    ]


def read(db: Database, call: object, actor: Actor, ident: str, **range_: object) -> UsageOut:
    with db.transaction(write=False) as uow:
        shown: UsageOut = call(uow, actor, ident, **range_)  # type: ignore[operator]
        return shown


def test_aggregates_add_up_their_keys_by_hour_and_day_and_agree_with_their_minutes(
    db: Database, clock: ManualClock
) -> None:
    market = make_market(db)
    send(db, clock, market, {"alice": [200, 200, 404], "bob": [500], "eve": [200], "carol": [302]})
    clock.advance(timedelta(minutes=30))
    send(db, clock, market, {"alice": [201], "eve": [429, 429]})
    clock.advance(timedelta(hours=2))
    send(db, clock, market, {"bob": [204]})
    clock.advance(timedelta(minutes=1))
    since, until = START - HOUR, START + 4 * HOUR
    hours = {"since": since, "until": until, "granularity": Granularity.HOUR}
    first, third = START.isoformat(), (START + 2 * HOUR).isoformat()

    acquisition = read(db, usage.acquisition_usage, market.acquirer, market.acquisition_id, **hours)
    assert counts(acquisition) == [(first, 3, 0, 1, 1), (third, 1, 0, 0, 0)]
    assert (acquisition.totals.success, acquisition.totals.server_error) == (4, 1)
    assert acquisition.last_used_at is None  # the writer of last use is the verifier's
    offering = read(db, usage.offering_usage, market.provider, market.offering_id, **hours)
    assert counts(offering) == [(first, 4, 0, 3, 1), (third, 1, 0, 0, 0)]
    api = read(db, usage.api_usage, market.provider, market.api_id, **hours)
    assert counts(api) == [(first, 4, 1, 3, 1), (third, 1, 0, 0, 0)]

    days = {"since": since, "until": until, "granularity": Granularity.DAY}
    by_day = read(db, usage.api_usage, market.provider, market.api_id, **days)
    assert counts(by_day) == [((START - 12 * HOUR).isoformat(), 5, 1, 3, 1)]

    minutes = {"since": START, "until": START + 3 * HOUR, "granularity": Granularity.MINUTE}
    by_minute = read(db, usage.api_usage, market.provider, market.api_id, **minutes)
    assert counts(by_minute) == [
        (first, 3, 1, 1, 1),
        ((START + timedelta(minutes=30)).isoformat(), 1, 0, 2, 0),
        ((START + timedelta(minutes=150)).isoformat(), 1, 0, 0, 0),
    ]
    assert by_minute.totals == api.totals


def test_a_deleted_key_s_traffic_stays_in_its_acquisition_s_hours(
    db: Database, clock: ManualClock
) -> None:
    market = make_market(db)
    send(db, clock, market, {"alice": [200, 200], "bob": [200]})
    with db.transaction() as uow:
        keys.delete_key(uow, market.acquirer, market.keys["alice"], revoke=True)
    send(db, clock, market, {"alice": [200], "bob": [404]})  # alice's count finds no key
    range_ = {"since": START, "until": START + HOUR}
    hourly = read(db, usage.acquisition_usage, market.acquirer, market.acquisition_id, **range_)
    assert (hourly.totals.success, hourly.totals.client_error) == (3, 1)
    by_minute = read(
        db,
        usage.acquisition_usage,
        market.acquirer,
        market.acquisition_id,
        granularity=Granularity.MINUTE,
        **range_,
    )
    assert (by_minute.totals.success, by_minute.totals.client_error) == (1, 1)


def test_last_used_is_the_latest_of_the_keys(db: Database, clock: ManualClock) -> None:
    market = make_market(db)
    with db.transaction() as uow:
        record_last_used(
            uow.session,
            [
                (market.keys["alice"], START.timestamp()),
                (market.keys["eve"], (START + HOUR).timestamp()),
            ],
        )
    mine = read(db, usage.acquisition_usage, market.acquirer, market.acquisition_id)
    assert mine.last_used_at == START
    offering = read(db, usage.offering_usage, market.provider, market.offering_id)
    assert offering.last_used_at == START + HOUR
    other = read(db, usage.offering_usage, market.provider, market.other_offering_id)
    assert other.last_used_at is None


def test_the_provider_sees_every_acquisition_the_acquirer_only_its_own(db: Database) -> None:
    market = make_market(db)
    for acquisition_id in (market.acquisition_id, market.strangers_acquisition_id):
        read(db, usage.acquisition_usage, market.provider, acquisition_id)
    read(db, usage.acquisition_usage, market.acquirer, market.acquisition_id)
    with pytest.raises(Hidden) as hidden:
        read(db, usage.acquisition_usage, market.acquirer, market.strangers_acquisition_id)
    with pytest.raises(NotFound) as missing:
        read(db, usage.acquisition_usage, market.acquirer, "acq_missing")
    assert hidden.value.code == missing.value.code == "acquisition_not_found"


@pytest.mark.parametrize("kind", ["offering", "api"])
def test_an_acquirer_does_not_see_an_offering_s_or_api_s_usage(db: Database, kind: str) -> None:
    market = make_market(db)
    call = usage.offering_usage if kind == "offering" else usage.api_usage
    ident = market.offering_id if kind == "offering" else market.api_id
    with pytest.raises(PermissionDenied) as refused:
        read(db, call, market.acquirer, ident)
    assert (
        refused.value.details["required"]
        == f"{'offerings' if kind == 'offering' else 'apis'}:update"
    )


@pytest.mark.parametrize("kind", ["acquisition", "offering", "api"])
def test_another_workspace_s_resource_is_not_found(db: Database, kind: str) -> None:
    market = make_market(db)
    elsewhere = admin(db, make_workspace(db, name="elsewhere"))
    call, ident = {
        "acquisition": (usage.acquisition_usage, market.acquisition_id),
        "offering": (usage.offering_usage, market.offering_id),
        "api": (usage.api_usage, market.api_id),
    }[kind]
    with pytest.raises(NotFound) as missing:
        read(db, call, elsewhere, ident)
    assert missing.value.code == f"{kind}_not_found"


def test_ranges_are_checked_as_a_key_s_are(db: Database) -> None:
    market = make_market(db)
    with pytest.raises(InvalidInput) as refused:
        read(
            db,
            usage.api_usage,
            market.provider,
            market.api_id,
            since=START - timedelta(days=70),
            until=START,
        )
    assert refused.value.code == "usage_range_too_large"


def test_a_key_s_hours_agree_with_its_minutes_for_every_kind_of_key(
    db: Database, clock: ManualClock
) -> None:
    market = make_market(db)
    market.keys["account"] = make_key(db, market.admin).id
    send(db, clock, market, {"alice": [200, 404, 503], "account": [200, 302]})
    clock.advance(timedelta(minutes=70))
    send(db, clock, market, {"alice": [200], "account": [401]})
    clock.advance(timedelta(minutes=1))
    for name, actor in (("alice", market.acquirer), ("account", market.admin)):
        range_ = {"since": START, "until": START + 3 * HOUR}
        by_minute = read(
            db, usage.key_usage, actor, market.keys[name], granularity=Granularity.MINUTE, **range_
        )
        by_hour = read(db, usage.key_usage, actor, market.keys[name], **range_)
        by_day = read(
            db, usage.key_usage, actor, market.keys[name], granularity=Granularity.DAY, **range_
        )
        assert by_hour.totals == by_minute.totals == by_day.totals, name
        assert len(counts(by_hour)) == 2, name
    alice = read(db, usage.key_usage, market.acquirer, market.keys["alice"], since=START)
    assert counts(alice) == [
        (START.isoformat(), 1, 0, 1, 1),
        ((START + HOUR).isoformat(), 1, 0, 0, 0),
    ]
