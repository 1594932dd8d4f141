"""Key lists by API and by expiry, and the key requests an approver may decide, through the
services, on SQLite and PostgreSQL."""

from datetime import timedelta

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.keys import requests, service
from keyward.domains.keys.schemas import KeyFilter, KeyRequestFilter, RequestStatus
from keyward.domains.pagination import PageRequest
from tests.domains.key_world import make_world
from tests.factories import (
    actor_for,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_key,
    make_member,
    make_offering,
    set_key_policy,
)


def _names(db: Database, actor: Actor, filters: KeyFilter) -> set[str]:
    with db.transaction(write=False) as uow:
        listed = service.list_keys(uow, actor, filters, PageRequest())
    return {key.name for key in listed.data}


def test_keys_of_one_api_are_those_of_its_acquisitions_only(db: Database) -> None:
    world = make_world(db)
    other_api = make_api(db, world.admin)
    offering = make_offering(db, world.admin, other_api.id, period=None)
    with db.transaction(write=False) as uow:
        acquired = acquisitions.get_acquisition(uow, world.acquirer, world.acquisition_id)
    organization_id = acquired.organization_id
    elsewhere = make_acquisition(db, world.acquirer, offering.id, organization_id)
    make_acquisition_key(db, world.acquirer, elsewhere.id, name="carol")
    make_key(db, world.acquirer, name="account", permissions=["keys:read"])
    assert _names(db, world.acquirer, KeyFilter(api_id=world.api_id)) == {"alice", "bob"}
    assert _names(db, world.acquirer, KeyFilter(api_id=other_api.id)) == {"carol"}
    assert _names(db, world.acquirer, KeyFilter(api_id="api_" + "0" * 26)) == set()
    # Combined with the other filters, as every filter is.
    assert _names(db, world.acquirer, KeyFilter(api_id=world.api_id, state=None)) == {
        "alice",
        "bob",
    }


def test_keys_expiring_within_a_span_are_unrevoked_and_not_yet_expired(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db)  # alice never expires, bob lives 90 days from now
    set_key_policy(db, world.admin, world.api_id, key_lifetime="P10D")
    world.new_key("soon")  # 10 days
    world.new_key("revoked soon")
    with db.transaction() as uow:
        [revoked] = [
            k
            for k in service.list_keys(uow, world.acquirer, KeyFilter(), PageRequest()).data
            if k.name == "revoked soon"
        ]
        service.revoke_key(uow, world.acquirer, revoked.id)
    assert _names(db, world.acquirer, KeyFilter(expiring_within=timedelta(days=30))) == {"soon"}
    assert _names(db, world.acquirer, KeyFilter(expiring_within=timedelta(days=5))) == set()
    everything = _names(db, world.acquirer, KeyFilter(expiring_within=timedelta(days=100)))
    assert everything == {"bob", "soon"}
    clock.advance(timedelta(days=11))  # "soon" has expired: no longer expiring within anything
    assert _names(db, world.acquirer, KeyFilter(expiring_within=timedelta(days=100))) == {"bob"}


def test_an_approver_decides_the_requests_of_their_api_and_reads_who_asked(db: Database) -> None:
    world = make_world(db, revocation_requires_approval=True)
    with db.transaction() as uow:
        filed = service.revoke_key(
            uow, world.acquirer, world.key.id, "left the team", allow_request=True
        )
    # An approver of another API: none of these requests is theirs to decide.
    other_api = make_api(db, world.admin)
    stranger = make_member(
        db, world.admin, permissions=["keys:read", f"keys:approve@{other_api.id}"]
    )
    stranger_actor = actor_for(db, world.admin.workspace_id, stranger.id)
    decidable = KeyRequestFilter(status=RequestStatus.PENDING, decidable=True)
    with db.transaction(write=False) as uow:
        mine = requests.list_requests(uow, world.approver, decidable, PageRequest())
        theirs = requests.list_requests(uow, stranger_actor, decidable, PageRequest())
        contexts = requests.contexts(uow, world.approver, mine.data)
    assert [r.id for r in mine.data] == [filed.id]
    assert theirs.data == []
    context = contexts[filed.id]
    assert context.acquisition_id == world.acquisition_id
    assert context.requester_name is not None
    assert context.organization_name is not None
    assert context.key_expires_at is not None
    with db.transaction() as uow:
        requests.reject(uow, world.approver, filed.id, "still needed")
    decided = KeyRequestFilter(decidable=True, decided=True)
    with db.transaction(write=False) as uow:
        pending = requests.list_requests(uow, world.approver, decidable, PageRequest())
        done = requests.list_requests(uow, world.approver, decided, PageRequest())
        done_context = requests.contexts(uow, world.approver, done.data)[filed.id]
    assert pending.data == []
    assert [(r.id, r.status, r.comment) for r in done.data] == [
        (filed.id, RequestStatus.REJECTED, "still needed")
    ]
    assert done_context.decider_name is not None
