"""A provider's API with two offerings and three acquisitions by two acquirers: the market the
usage tests count traffic in."""

from dataclasses import dataclass

from keyward.core.actors import Actor
from keyward.core.clock import Clock
from keyward.db.engine import Database
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.verifier.usage import UsageRecorder
from tests.factories import (
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_offering,
    make_party,
    make_workspace,
)


@dataclass
class Market:
    """A provider's API with two offerings; two acquirer organizations, one acquisition each
    of the first offering and one more of the second; a key in each."""

    admin: Actor
    provider: Actor
    acquirer: Actor
    stranger: Actor
    api_id: str
    offering_id: str
    other_offering_id: str
    acquisition_id: str
    strangers_acquisition_id: str
    second_acquisition_id: str
    keys: dict[str, str]


def make_market(db: Database) -> Market:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    provider = make_party(db, boss, kind=OrganizationKind.PROVIDER)
    api = make_api(db, boss, provider_organization_id=provider.organization_id)
    offering = make_offering(db, boss, api.id, period=None)
    other_offering = make_offering(db, boss, api.id, period=None)
    acquirer = make_party(db, boss)
    stranger = make_party(db, boss)
    ours = make_acquisition(db, acquirer.actor, offering.id, acquirer.organization_id)
    theirs = make_acquisition(db, stranger.actor, offering.id, stranger.organization_id)
    second = make_acquisition(db, acquirer.actor, other_offering.id, acquirer.organization_id)
    key_ids = {
        "alice": make_acquisition_key(db, acquirer.actor, ours.id, name="alice").id,
        "bob": make_acquisition_key(db, acquirer.actor, ours.id, name="bob").id,
        "eve": make_acquisition_key(db, stranger.actor, theirs.id, name="eve").id,
        "carol": make_acquisition_key(db, acquirer.actor, second.id, name="carol").id,
    }
    return Market(
        boss,
        provider.actor,
        acquirer.actor,
        stranger.actor,
        api.id,
        offering.id,
        other_offering.id,
        ours.id,
        theirs.id,
        second.id,
        key_ids,
    )


def send(db: Database, clock: Clock, market: Market, traffic: dict[str, list[int]]) -> None:
    """Count responses for the named keys at the clock's time and add them to storage."""
    recorder = UsageRecorder(clock)
    for name, statuses in traffic.items():
        for status in statuses:
            recorder.record(market.keys[name], market.admin.workspace_id, status)
    recorder.flush(db)
