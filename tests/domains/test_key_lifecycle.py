"""Renew, rotate, revoke, delete and bulk delete, with and without approval, through the keys
service on SQLite and PostgreSQL, with a clock that travels."""

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from keyward.core.clock import ManualClock
from keyward.core.errors import Conflict, InvalidInput, KeywardError, NotFound, PermissionDenied
from keyward.core.keys import KeyState
from keyward.core.sealing import Sealer
from keyward.core.verdicts import KeyCode
from keyward.db.engine import Database
from keyward.db.models import ApiKey, AuditEvent, MemberPermission, OutboxMessage
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import AcquisitionKeyCreate
from keyward.domains.keys import requests, service
from keyward.domains.keys.schemas import (
    BulkOutcome,
    KeyCreated,
    KeyOut,
    KeyRequestFilter,
    KeyRequestOut,
    RequestStatus,
)
from keyward.domains.notifications.events import EMAIL, Event
from keyward.domains.pagination import PageRequest
from keyward.settings import Settings
from keyward.verifier import Verifier
from tests.domains.key_world import World, make_world
from tests.factories import (
    actor_for,
    admin,
    make_api,
    make_key,
    make_member,
    make_workspace,
    secret,
)

DAY = timedelta(days=1)
# Seals the new secret for connectors holding a rotated key (none hold these).
SEALER = Sealer([b"s" * 32])


@pytest.fixture
def live(db: Database, verifier: Verifier) -> Verifier:
    db.add_commit_listener(verifier.apply)
    return verifier


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def _audit(db: Database, target_id: str) -> list[AuditEvent]:
    with db.transaction(write=False) as uow:
        return list(
            uow.session.scalars(
                select(AuditEvent).where(AuditEvent.target_id == target_id).order_by(AuditEvent.id)
            )
        )


def _emails(db: Database, event: Event) -> list[dict[str, Any]]:
    with db.transaction(write=False) as uow:
        messages = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == EMAIL).order_by(OutboxMessage.id)
        )
        return [m.payload for m in messages if m.payload["event"] == event.value]


def _key(db: Database, key_id: str) -> ApiKey:
    with db.transaction(write=False) as uow:
        row = uow.session.get(ApiKey, key_id)
        assert row is not None
        uow.session.expunge(row)
        return row


# --- renew -------------------------------------------------------------------------------


def test_renewing_extends_by_the_policy_lifetime_from_now_with_the_same_secret(
    world: World, live: Verifier, clock: ManualClock
) -> None:
    clock.advance(30 * DAY)
    renewed = world.acting(world.acquirer, service.renew_key, world.key.id)
    assert isinstance(renewed, KeyOut)
    assert renewed.expires_at == clock.now() + 90 * DAY
    assert live.verify(secret(world.key)).valid
    assert [e.action for e in _audit(world.db, world.key.id)][-1] == "key.renew"


def test_an_expired_key_stays_listed_and_verifies_again_once_renewed(
    world: World, live: Verifier, clock: ManualClock
) -> None:
    clock.advance(91 * DAY)
    assert live.verify(secret(world.key)).code is KeyCode.KEY_EXPIRED
    with world.db.transaction(write=False) as uow:
        assert service.get_key(uow, world.acquirer, world.key.id).state is KeyState.EXPIRED
    world.acting(world.acquirer, service.renew_key, world.key.id)
    assert live.verify(secret(world.key)).valid


def test_a_renewal_may_ask_for_less_than_the_policy_never_more(
    world: World, clock: ManualClock
) -> None:
    shorter = world.acting(world.acquirer, service.renew_key, world.key.id, 10 * DAY)
    assert isinstance(shorter, KeyOut)
    assert shorter.expires_at == clock.now() + 10 * DAY
    with pytest.raises(InvalidInput) as refused:
        world.acting(world.acquirer, service.renew_key, world.key.id, 91 * DAY)
    assert refused.value.code == "lifetime_exceeds_policy"
    assert _key(world.db, world.key.id).expires_at == clock.now() + 10 * DAY


def test_an_account_key_renews_by_the_lifetime_it_was_made_with(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    created = make_key(db, boss, expires_in=7 * DAY)
    clock.advance(5 * DAY)
    with db.transaction() as uow:
        renewed = service.renew_key(uow, boss, created.id)
    assert isinstance(renewed, KeyOut)
    assert renewed.expires_at == clock.now() + 7 * DAY


@pytest.mark.parametrize(
    ("prepare", "code"),
    [
        ("never", "key_never_expires"),
        ("revoked", "key_revoked"),
        ("pending", "key_request_pending"),
    ],
)
def test_what_cannot_be_renewed(db: Database, prepare: str, code: str) -> None:
    world = make_world(db, renewal_requires_approval=True)
    if prepare == "never":
        world.set_policy(key_lifetime=None)
        target = world.new_key()
    elif prepare == "revoked":
        target = world.key
        world.acting(world.admin, service.revoke_key, target.id)
    else:
        target = world.key
        world.acting(world.acquirer, service.renew_key, target.id, allow_request=True)
    before = _key(db, target.id).expires_at
    with pytest.raises(Conflict) as refused:
        world.acting(world.admin, service.renew_key, target.id)
    assert refused.value.code == code
    assert _key(db, target.id).expires_at == before


# --- rotate ------------------------------------------------------------------------------


def test_rotation_gives_a_new_secret_and_the_old_one_works_through_the_grace(
    world: World, live: Verifier, clock: ManualClock
) -> None:
    old = secret(world.key)
    rotated = world.acting(
        world.acquirer, service.rotate_key, world.key.id, timedelta(hours=2), sealer=SEALER
    )
    new = secret(rotated)
    assert new != old
    assert (rotated.id, rotated.name, rotated.permissions, rotated.expires_at) == (
        world.key.id,
        world.key.name,
        world.key.permissions,
        world.key.expires_at,
    )
    assert rotated.previous_key_expires_at == clock.now() + timedelta(hours=2)
    assert live.verify(new).key_id == world.key.id
    assert live.verify(old).key_id == world.key.id
    clock.advance(timedelta(hours=2))
    # Renewing would not bring it back: the answer says it was rotated away, not that it expired.
    assert live.verify(old).code is KeyCode.KEY_ROTATED
    assert "current secret" in live.verify(old).message
    assert live.verify(new).valid
    trail = _audit(world.db, world.key.id)
    assert trail[-1].action == "key.rotate"
    assert trail[-1].details["grace"] == "PT2H"
    stored = json.dumps([e.details for e in trail])
    assert old not in stored
    assert new not in stored


def test_rotation_without_grace_stops_the_old_secret_at_once(world: World, live: Verifier) -> None:
    old = secret(world.key)
    assert live.verify(old).valid
    rotated = world.acting(
        world.acquirer, service.rotate_key, world.key.id, timedelta(0), sealer=SEALER
    )
    assert rotated.previous_key_expires_at is None
    assert live.verify(old).code is KeyCode.KEY_INVALID
    assert live.verify(secret(rotated)).valid


def test_a_grace_beyond_the_policy_maximum_is_refused_naming_it_and_changes_nothing(
    world: World, live: Verifier
) -> None:
    world.set_policy(key_lifetime="P90D", max_rotation_grace="PT1H")
    with pytest.raises(InvalidInput) as refused:
        world.acting(
            world.acquirer, service.rotate_key, world.key.id, timedelta(minutes=61), sealer=SEALER
        )
    assert refused.value.code == "grace_too_long"
    assert "PT1H" in refused.value.message
    assert refused.value.details == {"max_grace": "PT1H"}
    assert _key(world.db, world.key.id).rotated_at is None
    assert live.verify(secret(world.key)).valid


def test_the_policy_maximum_grace_is_allowed_and_a_second_rotation_ends_the_first_grace(
    world: World, live: Verifier, clock: ManualClock
) -> None:
    world.set_policy(key_lifetime="P90D", max_rotation_grace="PT1H")
    first = secret(world.key)
    once = world.acting(
        world.acquirer, service.rotate_key, world.key.id, timedelta(hours=1), sealer=SEALER
    )
    assert once.previous_key_expires_at == clock.now() + timedelta(hours=1)
    twice = world.acting(
        world.acquirer, service.rotate_key, world.key.id, timedelta(minutes=5), sealer=SEALER
    )
    assert live.verify(first).code is KeyCode.KEY_INVALID
    assert live.verify(secret(once)).valid
    assert live.verify(secret(twice)).valid


def test_revoked_and_expired_keys_are_not_rotated(world: World, clock: ManualClock) -> None:
    clock.advance(91 * DAY)
    with pytest.raises(Conflict) as expired:
        world.acting(world.acquirer, service.rotate_key, world.key.id, timedelta(0), sealer=SEALER)
    assert expired.value.code == "key_expired"
    world.acting(world.acquirer, service.revoke_key, world.key.id)
    with pytest.raises(Conflict) as revoked:
        world.acting(world.acquirer, service.rotate_key, world.key.id, timedelta(0), sealer=SEALER)
    assert revoked.value.code == "key_revoked"
    assert _key(world.db, world.key.id).rotated_at is None


def test_only_its_owner_rotates_an_account_key(db: Database, live: Verifier) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    rotator = make_member(db, boss, permissions=["keys:rotate", "keys:read", "keys:create"])
    rotating = actor_for(db, set_up.workspace.id, rotator.id)
    theirs = make_key(db, rotating, permissions=["keys:read"])
    for key, actor in ((make_key(db, boss, permissions=["*:*"]), rotating), (theirs, boss)):
        with pytest.raises(PermissionDenied) as refused, db.transaction() as uow:
            service.rotate_key(uow, actor, key.id, timedelta(hours=1), sealer=SEALER)
        assert refused.value.code == "not_key_owner"
        assert live.verify(secret(key)).valid


# --- revoke and delete -------------------------------------------------------------------


def test_a_key_is_deleted_only_once_revoked_and_its_audit_trail_stays(
    world: World, live: Verifier
) -> None:
    with pytest.raises(Conflict) as refused:
        world.acting(world.acquirer, service.delete_key, world.key.id)
    assert refused.value.code == "key_not_revoked"
    assert live.verify(secret(world.key)).valid
    world.acting(world.acquirer, service.revoke_key, world.key.id, "leaked")
    world.acting(world.acquirer, service.delete_key, world.key.id)
    assert live.verify(secret(world.key)).code is KeyCode.KEY_INVALID
    actions = [e.action for e in _audit(world.db, world.key.id)]
    assert actions == ["key.create", "key.revoke", "key.delete"]


def test_revoke_and_delete_in_one_step_only_where_revocation_needs_no_approval(
    db: Database, live: Verifier
) -> None:
    world = make_world(db, revocation_requires_approval=True)
    with pytest.raises(Conflict) as direct:
        world.acting(world.acquirer, service.revoke_key, world.key.id)
    assert direct.value.code == "revocation_requires_approval"
    assert "decide on every revocation of its keys" in direct.value.message
    with pytest.raises(Conflict) as refused:
        world.acting(world.acquirer, service.delete_key, world.key.id, revoke=True)
    assert refused.value.code == "revocation_requires_approval"
    assert live.verify(secret(world.key)).valid
    # An approver of the API needs nobody else's approval.
    world.acting(world.approver, service.delete_key, world.key.id, revoke=True)
    assert live.verify(secret(world.key)).code is KeyCode.KEY_INVALID


def test_revocation_is_final(world: World, live: Verifier) -> None:
    world.acting(world.acquirer, service.revoke_key, world.key.id)
    again = world.acting(world.acquirer, service.revoke_key, world.key.id)
    assert again.state is KeyState.REVOKED
    with pytest.raises(Conflict):
        world.acting(world.admin, service.renew_key, world.key.id)
    with pytest.raises(Conflict):
        world.acting(world.acquirer, service.rotate_key, world.key.id, timedelta(0), sealer=SEALER)
    assert live.verify(secret(world.key)).code is KeyCode.KEY_REVOKED


# --- bulk delete -------------------------------------------------------------------------


def test_bulk_delete_deletes_revoked_keys_and_skips_the_others(db: Database) -> None:
    world = make_world(db)
    revoked = world.new_key()
    world.acting(world.acquirer, service.revoke_key, revoked.id)
    stranger = make_world(db).key  # another workspace's key
    done = world.acting(
        world.acquirer, service.bulk_delete, [revoked.id, world.key.id, stranger.id]
    )
    assert [(r.id, r.result, r.code) for r in done.results] == [
        (revoked.id, BulkOutcome.DELETED, None),
        (world.key.id, BulkOutcome.SKIPPED, "key_not_revoked"),
        (stranger.id, BulkOutcome.NOT_FOUND, "key_not_found"),
    ]
    assert (done.deleted, done.skipped) == (1, 2)
    with db.transaction(write=False) as uow:
        assert uow.session.get(ApiKey, revoked.id) is None
        assert uow.session.get(ApiKey, world.key.id) is not None
        assert uow.session.get(ApiKey, stranger.id) is not None


def test_bulk_delete_deletes_nothing_when_one_key_has_a_pending_request(db: Database) -> None:
    world = make_world(db, revocation_requires_approval=True)
    revoked = world.new_key()
    world.acting(world.approver, service.revoke_key, revoked.id)
    pending = world.acting(world.acquirer, service.revoke_key, world.key.id, allow_request=True)
    assert isinstance(pending, KeyRequestOut)
    with pytest.raises(Conflict) as refused:
        world.acting(world.admin, service.bulk_delete, [revoked.id, world.key.id])
    assert refused.value.code == "key_request_pending"
    assert refused.value.details["keys"] == [{"key_id": world.key.id, "request_id": pending.id}]
    with db.transaction(write=False) as uow:
        assert uow.session.get(ApiKey, revoked.id) is not None


def test_bulk_delete_with_rights_on_some_keys_skips_the_others(db: Database) -> None:
    world = make_world(db)
    mine, theirs = world.new_key(), world.new_key()
    for key in (mine, theirs):
        world.acting(world.admin, service.revoke_key, key.id)
    member = make_member(db, world.admin, permissions=[f"keys:delete@{mine.id}"])
    narrow = actor_for(db, world.admin.workspace_id, member.id)
    done = world.acting(narrow, service.bulk_delete, [mine.id, theirs.id])
    # A key the member may not see at all is answered like a key that does not exist.
    assert [(r.result, r.code) for r in done.results] == [
        (BulkOutcome.DELETED, None),
        (BulkOutcome.NOT_FOUND, "key_not_found"),
    ]
    nobody = actor_for(db, world.admin.workspace_id, make_member(db, world.admin).id)
    with pytest.raises(PermissionDenied):
        world.acting(nobody, service.bulk_delete, [theirs.id])
    assert _key(db, theirs.id).revoked_at is not None


# --- approval workflow -------------------------------------------------------------------


def test_a_renewal_needing_approval_waits_and_the_key_keeps_its_state(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db, renewal_requires_approval=True)
    before = world.key.expires_at
    with pytest.raises(Conflict) as direct:
        world.acting(world.acquirer, service.renew_key, world.key.id)
    assert direct.value.code == "renewal_requires_approval"
    assert "decide on every renewal of its keys" in direct.value.message
    request = world.acting(
        world.acquirer, service.renew_key, world.key.id, 30 * DAY, "quarter end", allow_request=True
    )
    assert isinstance(request, KeyRequestOut)
    assert (request.status, request.action, request.expires_in) == (
        RequestStatus.PENDING,
        "renew",
        30 * DAY,
    )
    with db.transaction(write=False) as uow:
        shown = service.get_key(uow, world.acquirer, world.key.id)
    assert (shown.expires_at, shown.pending_request_id) == (before, request.id)
    for refused_call in (service.renew_key, service.delete_key):
        with pytest.raises(Conflict) as refused:
            world.acting(world.acquirer, refused_call, world.key.id)
        assert refused.value.code == "key_request_pending"
    clock.advance(DAY)
    approved = world.acting(world.approver, requests.approve, request.id, "ok")
    assert (approved.status, approved.outcome, approved.comment) == (
        RequestStatus.APPROVED,
        "renewed",
        "ok",
    )
    assert _key(db, world.key.id).expires_at == clock.now() + 30 * DAY


def test_a_renewal_asked_under_a_longer_policy_is_approved_within_the_current_one(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db, renewal_requires_approval=True)
    request = world.acting(
        world.acquirer, service.renew_key, world.key.id, 60 * DAY, allow_request=True
    )
    world.set_policy(key_lifetime="P10D", renewal_requires_approval=True)
    approved = world.acting(world.approver, requests.approve, request.id, "")
    assert approved.status is RequestStatus.APPROVED
    assert _key(db, world.key.id).expires_at == clock.now() + 10 * DAY


def test_only_approvers_of_the_key_api_decide(db: Database) -> None:
    world = make_world(db, renewal_requires_approval=True)
    request = world.acting(world.acquirer, service.renew_key, world.key.id, allow_request=True)
    other_api = make_api(db, world.admin).id
    other = make_member(db, world.admin, permissions=[f"keys:approve@{other_api}"])
    with pytest.raises(PermissionDenied) as refused:
        world.acting(world.acquirer, requests.approve, request.id, "")
    assert refused.value.code == "permission_denied"
    # An approver of another API cannot even see the request.
    with pytest.raises(NotFound) as hidden:
        world.acting(
            actor_for(db, world.admin.workspace_id, other.id), requests.approve, request.id, ""
        )
    assert hidden.value.code == "key_request_not_found"
    approved = world.acting(world.approver, requests.approve, request.id, "")
    assert approved.status is RequestStatus.APPROVED


def test_nobody_decides_their_own_request(db: Database) -> None:
    world = make_world(db, revocation_requires_approval=True)
    request = world.acting(world.acquirer, service.revoke_key, world.key.id, allow_request=True)
    # The requester becomes an approver of the API after asking: still not their call.
    with db.transaction() as uow:
        uow.session.add(
            MemberPermission(
                member_id=world.acquirer.member_id,
                permission=f"keys:approve@{world.api_id}",
                workspace_id=world.admin.workspace_id,
            )
        )
    promoted = actor_for(db, world.admin.workspace_id, world.acquirer.member_id or "")
    for decide in (requests.approve, requests.reject):
        with pytest.raises(PermissionDenied) as own:
            world.acting(promoted, decide, request.id, "")
        assert own.value.code == "own_request"
    assert _key(db, world.key.id).revoked_at is None


def test_a_request_is_decided_once(db: Database) -> None:
    world = make_world(db, revocation_requires_approval=True)
    request = world.acting(world.acquirer, service.revoke_key, world.key.id, allow_request=True)
    rejected = world.acting(world.approver, requests.reject, request.id, "still needed")
    assert (rejected.status, rejected.comment) == (RequestStatus.REJECTED, "still needed")
    assert _key(db, world.key.id).revoked_at is None
    for decide in (requests.approve, requests.reject):
        with pytest.raises(Conflict) as again:
            world.acting(world.approver, decide, request.id, "")
        assert again.value.code == "key_request_not_pending"
    with pytest.raises(Conflict):
        world.acting(world.acquirer, requests.cancel, request.id)


def test_only_the_requester_cancels(db: Database) -> None:
    world = make_world(db, revocation_requires_approval=True)
    request = world.acting(world.acquirer, service.revoke_key, world.key.id, allow_request=True)
    with pytest.raises(PermissionDenied) as refused:
        world.acting(world.approver, requests.cancel, request.id)
    assert refused.value.code == "not_requester"
    cancelled = world.acting(world.acquirer, requests.cancel, request.id)
    assert cancelled.status is RequestStatus.CANCELLED
    # The key is free again: it can be revoked and deleted once the approver agrees.
    again = world.acting(world.acquirer, service.revoke_key, world.key.id, allow_request=True)
    world.acting(world.approver, requests.approve, again.id, "")
    world.acting(world.acquirer, service.delete_key, world.key.id)


def test_a_request_whose_key_was_revoked_meanwhile_is_closed_not_applied(
    db: Database, live: Verifier
) -> None:
    world = make_world(db, renewal_requires_approval=True)
    request = world.acting(world.acquirer, service.renew_key, world.key.id, allow_request=True)
    world.acting(world.approver, service.revoke_key, world.key.id, "compromised")
    closed = world.acting(world.approver, requests.get_request, request.id)
    assert (closed.status, closed.outcome) == (RequestStatus.CLOSED, "key_revoked")
    with pytest.raises(Conflict) as late:
        world.acting(world.approver, requests.approve, request.id, "")
    assert late.value.code == "key_request_not_pending"
    assert live.verify(secret(world.key)).code is KeyCode.KEY_REVOKED


def test_approvers_see_requests_of_their_apis_and_requesters_their_own(db: Database) -> None:
    world = make_world(db, revocation_requires_approval=True)
    mine = world.acting(world.acquirer, service.revoke_key, world.key.id, allow_request=True)
    elsewhere = make_member(
        db, world.admin, permissions=["keys:approve@api_0000000000000000000000000a"]
    )
    blind = actor_for(db, world.admin.workspace_id, elsewhere.id)
    pending = KeyRequestFilter(status=RequestStatus.PENDING)
    for viewer in (world.approver, world.acquirer, world.admin):
        listed = world.acting(viewer, requests.list_requests, pending, PageRequest())
        assert [r.id for r in listed.data] == [mine.id]
    # Reading requests needs the right to read keys.
    with pytest.raises(PermissionDenied) as refused:
        world.acting(blind, requests.list_requests, pending, PageRequest())
    assert refused.value.details["required"] == "keys:read"
    with pytest.raises(PermissionDenied) as refused:
        world.acting(blind, requests.get_request, mine.id)
    assert refused.value.details["required"] == "keys:read"
    reader = make_member(db, world.admin, roles=["acquirer"], organization_ids=[])
    stranger = actor_for(db, world.admin.workspace_id, reader.id)
    assert world.acting(stranger, requests.list_requests, pending, PageRequest()).data == []
    with pytest.raises(KeywardError) as hidden:
        world.acting(stranger, requests.get_request, mine.id)
    assert hidden.value.code == "key_request_not_found"


def test_requests_tell_approvers_and_decisions_tell_the_requester(db: Database) -> None:
    world = make_world(db, renewal_requires_approval=True)
    request = world.acting(world.acquirer, service.renew_key, world.key.id, allow_request=True)
    asked = _emails(db, Event.RENEWAL_REQUESTED)
    recipients = {e["to"]["member_id"] for e in asked}
    assert world.approver.member_id in recipients
    assert world.acquirer.member_id not in recipients
    assert all(e["data"]["request"]["id"] == request.id for e in asked)
    world.acting(world.approver, requests.approve, request.id, "fine")
    told = _emails(db, Event.RENEWAL_APPROVED)
    assert {e["to"]["member_id"] for e in told} == {world.acquirer.member_id}
    assert told[0]["data"]["key"]["name"] == "bob"
    with db.transaction(write=False) as uow:
        payloads = json.dumps([m.payload for m in uow.session.scalars(select(OutboxMessage))])
    assert secret(world.key) not in payloads


# --- the policy's lifetime ---------------------------------------------------------------


def test_a_new_lifetime_applies_to_existing_keys_only_when_the_provider_says_so(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db)
    expired = world.new_key()
    clock.advance(91 * DAY)
    fresh = world.new_key()
    world.set_policy(key_lifetime="P10D")
    assert _key(db, fresh.id).expires_at == fresh.expires_at
    world.set_policy(key_lifetime="P10D", apply_lifetime_to_existing_keys=True)
    assert _key(db, fresh.id).expires_at == clock.now() + 10 * DAY
    assert _key(db, expired.id).expires_at == expired.expires_at
    world.set_policy(key_lifetime=None, apply_lifetime_to_existing_keys=True)
    assert _key(db, fresh.id).expires_at is None


# --- issuance approval -------------------------------------------------------------------


def _ask_for_key(world: World, name: str = "carol") -> KeyCreated:
    body = AcquisitionKeyCreate(name=name, reason="new colleague")
    return world.acting(  # type: ignore[no-any-return]
        world.acquirer,
        acquisitions.create_key,
        world.acquisition_id,
        body,
        Settings(),
        allow_request=True,
    )


def test_a_key_awaiting_issuance_works_from_its_approval_for_the_whole_lifetime(
    db: Database, live: Verifier, clock: ManualClock
) -> None:
    world = make_world(db, issuance_requires_approval=True)
    asked = _ask_for_key(world)
    assert (asked.state, asked.expires_at) == (KeyState.PENDING, None)
    assert asked.key is not None
    assert "works once an approver" in asked.notice
    assert live.verify(asked.key).code is KeyCode.KEY_NOT_APPROVED
    told = _emails(db, Event.ISSUANCE_REQUESTED)
    recipients = {e["to"]["member_id"] for e in told}
    assert world.approver.member_id in recipients
    assert world.acquirer.member_id not in recipients
    assert asked.key not in json.dumps(told)
    attempts: list[tuple[Any, tuple[Any, ...], dict[str, Any], str]] = [
        (service.renew_key, (asked.id,), {}, "key_awaiting_approval"),
        (service.rotate_key, (asked.id, timedelta(0)), {"sealer": SEALER}, "key_awaiting_approval"),
        (service.delete_key, (asked.id,), {"revoke": True}, "key_request_pending"),
    ]
    for call, args, options, code in attempts:
        with pytest.raises(Conflict) as waiting:
            world.acting(world.acquirer, call, *args, **options)
        assert waiting.value.code == code
    clock.advance(5 * DAY)
    assert asked.pending_request_id is not None
    approved = world.acting(world.approver, requests.approve, asked.pending_request_id, "ok")
    assert (approved.action, approved.outcome) == ("issue", "issued")
    assert live.verify(asked.key).valid
    assert _key(db, asked.id).expires_at == clock.now() + 90 * DAY
    assert {e["to"]["member_id"] for e in _emails(db, Event.ISSUANCE_APPROVED)} == {
        world.acquirer.member_id
    }


@pytest.mark.parametrize("decision", ["reject", "cancel"])
def test_a_key_whose_issuance_is_refused_or_withdrawn_is_revoked_for_good(
    db: Database, live: Verifier, decision: str
) -> None:
    world = make_world(db, issuance_requires_approval=True)
    asked = _ask_for_key(world)
    assert asked.pending_request_id is not None
    if decision == "reject":
        world.acting(world.approver, requests.reject, asked.pending_request_id, "no")
    else:
        world.acting(world.acquirer, requests.cancel, asked.pending_request_id)
    assert live.verify(secret(asked)).code is KeyCode.KEY_REVOKED
    world.acting(world.acquirer, service.delete_key, asked.id)
    assert _ask_for_key(world, "carol").name == "carol"


def test_withdrawing_a_key_awaiting_issuance_needs_no_approver(
    db: Database, live: Verifier
) -> None:
    world = make_world(db, issuance_requires_approval=True, revocation_requires_approval=True)
    asked = _ask_for_key(world)
    revoked = world.acting(world.acquirer, service.revoke_key, asked.id, allow_request=True)
    assert isinstance(revoked, KeyOut)
    assert revoked.state is KeyState.REVOKED
    assert asked.pending_request_id is not None
    with db.transaction(write=False) as uow:
        closed = requests.get_request(uow, world.admin, asked.pending_request_id)
    assert (closed.status, closed.outcome) == (RequestStatus.CLOSED, "key_revoked")


def test_without_allowing_a_request_a_key_needing_approval_is_refused(db: Database) -> None:
    world = make_world(db, issuance_requires_approval=True)
    with pytest.raises(Conflict) as refused:
        world.new_key("dave")
    assert refused.value.code == "issuance_requires_approval"
    # An approver of the API, in the acquiring organization, issues at once.
    with db.transaction(write=False) as uow:
        acquired = acquisitions.get_acquisition(uow, world.admin, world.acquisition_id)
    both = make_member(
        db,
        world.admin,
        roles=["acquirer"],
        permissions=[f"keys:approve@{world.api_id}"],
        organization_ids=[acquired.organization_id],
    )
    made = world.acting(
        actor_for(db, world.admin.workspace_id, both.id),
        acquisitions.create_key,
        world.acquisition_id,
        AcquisitionKeyCreate(name="dave"),
        Settings(),
    )
    assert made.state is KeyState.ACTIVE
