"""The rules of API keys, through the keys service, on SQLite and PostgreSQL."""

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from keyward.core.actors import Actor, Via
from keyward.core.clock import ManualClock
from keyward.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from keyward.core.keys import KeyState, is_well_formed
from keyward.core.permissions import PermissionSet
from keyward.db.engine import Database
from keyward.db.models import ApiKey, AuditEvent, ChangeFeedEntry
from keyward.domains.keys import service
from keyward.domains.keys.schemas import AccountKeyCreate, KeyFilter, KeyUpdate
from keyward.domains.pagination import PageRequest
from tests.factories import actor_for, admin, make_key, make_member, make_workspace, secret


def _audit_actions(db: Database, target_id: str) -> list[str]:
    with db.transaction(write=False) as uow:
        events = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.target_id == target_id).order_by(AuditEvent.id)
        )
        return [e.action for e in events]


def test_secret_is_returned_once_and_stored_only_as_its_hash(db: Database) -> None:
    set_up = make_workspace(db)
    created = make_key(db, admin(db, set_up), name="ci")
    key = secret(created)
    assert is_well_formed(key)
    assert key.startswith("kw_")
    assert created.start == key[:7] + "…"
    with db.transaction(write=False) as uow:
        row = uow.session.get(ApiKey, created.id)
        assert row is not None
        assert row.hash == hashlib.sha256(key.encode()).digest()
        stored = json.dumps(
            [getattr(row, c.key) for c in ApiKey.__mapper__.column_attrs], default=str
        )
        assert key not in stored
        assert key[3:] not in stored
        shown = service.get_key(uow, admin(db, set_up), created.id)
    assert "key" not in shown.model_dump()


def test_keys_carry_their_workspace_prefix(db: Database) -> None:
    set_up = make_workspace(db, key_prefix="acme")
    assert secret(set_up.admin_key).startswith("acme_")
    assert secret(make_key(db, admin(db, set_up))).startswith("acme_")


def test_creating_a_key_with_rights_the_creator_lacks_is_an_escalation(db: Database) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:create", "keys:read"])
    actor = actor_for(db, set_up.workspace.id, member.id)
    with pytest.raises(PermissionDenied) as refused:
        make_key(db, actor, permissions=["keys:read", "members:read", "audit:read"])
    assert refused.value.code == "permission_escalation"
    assert refused.value.details["missing"] == ["audit:read", "members:read"]
    assert make_key(db, actor, permissions=["keys:read"]).permissions == ["keys:read"]


def test_a_key_cannot_mint_a_key_wider_than_itself(db: Database) -> None:
    set_up = make_workspace(db)
    narrow = make_key(db, admin(db, set_up), permissions=["keys:create", "keys:read"])
    # The admin member holds everything; the calling key does not.
    calling = Actor(
        set_up.workspace.id,
        set_up.admin_member_id,
        narrow.id,
        actor_for(db, set_up.workspace.id, set_up.admin_member_id).standing.narrowed(
            PermissionSet.parse(narrow.permissions)
        ),
        Via.KEY,
    )
    with pytest.raises(PermissionDenied) as refused:
        make_key(db, calling, permissions=["*:*"])
    assert refused.value.code == "permission_escalation"


def test_creating_needs_the_keys_create_permission(db: Database) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:read"])
    with pytest.raises(PermissionDenied) as refused:
        make_key(db, actor_for(db, set_up.workspace.id, member.id), permissions=[])
    assert refused.value.code == "permission_denied"
    assert refused.value.details["required"] == "keys:create"


def test_expiry_is_set_from_the_clock_and_derives_the_state(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    created = make_key(db, actor, expires_in=timedelta(days=30))
    assert created.expires_at == clock.now() + timedelta(days=30)
    assert created.state is KeyState.ACTIVE
    clock.advance(timedelta(days=30))
    with db.transaction(write=False) as uow:
        assert service.get_key(uow, actor, created.id).state is KeyState.EXPIRED


def test_list_filters_by_state(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    expiring = make_key(db, actor, name="expiring", expires_in=timedelta(hours=1))
    revoked = make_key(db, actor, name="revoked")
    with db.transaction() as uow:
        service.revoke_key(uow, actor, revoked.id)
    clock.advance(timedelta(hours=2))

    def ids(state: KeyState) -> set[str]:
        with db.transaction(write=False) as uow:
            page = service.list_keys(uow, actor, KeyFilter(state=state), PageRequest())
        return {k.id for k in page.data}

    assert ids(KeyState.EXPIRED) == {expiring.id}
    assert ids(KeyState.REVOKED) == {revoked.id}
    assert ids(KeyState.ACTIVE) == {set_up.admin_key.id}


def test_list_pages_through_every_key_once(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    made = {make_key(db, actor, name=f"k{i}").id for i in range(7)} | {set_up.admin_key.id}
    seen: list[str] = []
    cursor = None
    while True:
        with db.transaction(write=False) as uow:
            page = service.list_keys(uow, actor, KeyFilter(), PageRequest(3, cursor))
        seen += [k.id for k in page.data]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen, reverse=True) == seen
    assert set(seen) == made
    assert len(seen) == len(made)


def test_revoking_is_final_idempotent_and_audited_once(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    created = make_key(db, actor)
    for _ in range(2):
        with db.transaction() as uow:
            assert service.revoke_key(uow, actor, created.id).state is KeyState.REVOKED
    assert _audit_actions(db, created.id) == ["key.create", "key.revoke"]


def test_deleting_an_active_key_needs_revocation_first(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    created = make_key(db, actor)
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        service.delete_key(uow, actor, created.id)
    assert refused.value.code == "key_not_revoked"
    with db.transaction(write=False) as uow:
        assert service.get_key(uow, actor, created.id).state is KeyState.ACTIVE


def test_revoke_and_delete_in_one_step_keeps_the_audit_trail(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    created = make_key(db, actor)
    with db.transaction() as uow:
        service.delete_key(uow, actor, created.id, revoke=True)
    with pytest.raises(NotFound), db.transaction(write=False) as uow:
        service.get_key(uow, actor, created.id)
    assert _audit_actions(db, created.id) == ["key.create", "key.revoke", "key.delete"]


def test_revoke_and_delete_needs_both_permissions(db: Database) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:create", "keys:delete"])
    actor = actor_for(db, set_up.workspace.id, member.id)
    created = make_key(db, actor, permissions=[])
    with pytest.raises(PermissionDenied), db.transaction() as uow:
        service.delete_key(uow, actor, created.id, revoke=True)
    with db.transaction(write=False) as uow:
        assert uow.session.get(ApiKey, created.id) is not None


def test_a_permission_bound_to_one_key_works_on_that_key_only(db: Database) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    holder = make_member(db, boss, permissions=["keys:create", "keys:read"])
    owner = actor_for(db, set_up.workspace.id, holder.id)
    target, other = make_key(db, owner, name="target"), make_key(db, owner, name="other")
    member = make_member(
        db, boss, permissions=[f"keys:revoke@{target.id}", "keys:create", "keys:read"]
    )
    actor = actor_for(db, set_up.workspace.id, member.id)
    with db.transaction() as uow:
        assert service.revoke_key(uow, actor, target.id).state is KeyState.REVOKED
    with pytest.raises(PermissionDenied), db.transaction() as uow:
        service.revoke_key(uow, actor, other.id)


def test_another_workspace_cannot_see_or_touch_a_key(db: Database) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    key = make_key(db, admin(db, ours))
    intruder = admin(db, theirs)
    for attempt in (
        lambda uow: service.get_key(uow, intruder, key.id),
        lambda uow: service.revoke_key(uow, intruder, key.id),
        lambda uow: service.delete_key(uow, intruder, key.id, revoke=True),
        lambda uow: service.update_key(uow, intruder, key.id, KeyUpdate(name="mine")),
    ):
        with pytest.raises(NotFound) as refused, db.transaction() as uow:
            attempt(uow)
        assert refused.value.code == "key_not_found"
    with db.transaction(write=False) as uow:
        listed = service.list_keys(uow, intruder, KeyFilter(), PageRequest())
        assert key.id not in {k.id for k in listed.data}
        assert service.get_key(uow, admin(db, ours), key.id).state is KeyState.ACTIVE


def test_update_changes_name_and_metadata_and_is_audited(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    created = make_key(db, actor, name="old")
    with db.transaction() as uow:
        updated = service.update_key(
            uow, actor, created.id, KeyUpdate(name="new", metadata={"team": "payments"})
        )
    assert (updated.name, updated.metadata) == ("new", {"team": "payments"})
    assert _audit_actions(db, created.id) == ["key.create", "key.update"]


def test_idempotent_creation_replays_metadata_but_never_the_secret(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    body = AccountKeyCreate(name="deploy", permissions=["keys:read"])
    with db.transaction() as uow:
        first, replayed = service.create_account_key(uow, actor, body, "retry-1")
    assert not replayed
    assert first.key is not None
    with db.transaction() as uow:
        again, replayed = service.create_account_key(uow, actor, body, "retry-1")
    assert replayed
    assert again.key is None
    assert again.id == first.id
    assert again.start == first.start
    with db.transaction(write=False) as uow:
        names = [k.name for k in service.list_keys(uow, actor, KeyFilter(), PageRequest()).data]
    assert names.count("deploy") == 1


def test_reusing_an_idempotency_key_for_another_request_is_refused(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    with db.transaction() as uow:
        service.create_account_key(uow, actor, AccountKeyCreate(name="a", permissions=[]), "k")
    with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
        service.create_account_key(uow, actor, AccountKeyCreate(name="b", permissions=[]), "k")
    assert refused.value.code == "idempotency_key_reused"


def test_an_idempotency_key_expires_after_a_day(db: Database, clock: ManualClock) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    body = AccountKeyCreate(name="daily", permissions=[])
    with db.transaction() as uow:
        first, _ = service.create_account_key(uow, actor, body, "same")
    clock.advance(timedelta(hours=25))
    with db.transaction() as uow:
        second, replayed = service.create_account_key(uow, actor, body, "same")
    assert not replayed
    assert second.id != first.id
    assert second.key is not None


def test_changes_reach_the_feed_only_when_their_transaction_commits(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    created = make_key(db, actor)

    def feed_for(key_id: str) -> int:
        with db.transaction(write=False) as uow:
            rows = uow.session.scalars(
                select(ChangeFeedEntry).where(ChangeFeedEntry.entity_id == key_id)
            )
            return len(rows.all())

    before = feed_for(created.id)

    def revoke_then_fail() -> None:
        with db.transaction() as uow:
            service.revoke_key(uow, actor, created.id)
            raise RuntimeError("the request failed after the revocation")

    with pytest.raises(RuntimeError):
        revoke_then_fail()
    assert feed_for(created.id) == before
    with db.transaction(write=False) as uow:
        assert service.get_key(uow, actor, created.id).state is KeyState.ACTIVE
    with db.transaction() as uow:
        service.revoke_key(uow, actor, created.id)
    assert feed_for(created.id) == before + 1


def test_no_secret_ever_reaches_the_audit_log(db: Database) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    secrets = [secret(set_up.admin_key)]
    for i in range(3):
        created = make_key(db, actor, name=f"key {i}")
        secrets.append(secret(created))
        with db.transaction() as uow:
            service.update_key(uow, actor, created.id, KeyUpdate(metadata={"copy": secrets[-1]}))
            service.delete_key(uow, actor, created.id, revoke=True)
    with db.transaction(write=False) as uow:
        dumped = json.dumps(
            [
                [getattr(e, c.key) for c in AuditEvent.__mapper__.column_attrs]
                for e in uow.session.scalars(select(AuditEvent))
            ],
            default=str,
        )
    for value in secrets:
        assert value not in dumped


def test_keys_unused_for_a_while_are_those_neither_used_nor_made_since(
    db: Database, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    idle, used = make_key(db, actor, name="idle"), make_key(db, actor, name="used")
    clock.advance(timedelta(days=40))
    with db.transaction() as uow:
        row = uow.session.get(ApiKey, used.id)
        assert row is not None
        row.last_used_at = clock.now() - timedelta(days=2)
    fresh = make_key(db, actor, name="fresh")
    unused = KeyFilter(creator_member_id=actor.member_id, unused_for=timedelta(days=30))
    with db.transaction(write=False) as uow:
        listed = service.list_keys(uow, actor, unused, PageRequest())
    assert [k.id for k in listed.data if k.name != "admin"] == [idle.id]
    assert fresh.id not in {k.id for k in listed.data}


def test_only_ones_own_account_keys_are_ones_own(db: Database) -> None:
    set_up = make_workspace(db)
    root = admin(db, set_up)
    member = make_member(db, root, roles=["approver"])
    theirs = make_key(db, actor_for(db, set_up.workspace.id, member.id), name="theirs")
    mine = make_key(db, root, name="mine")
    with db.transaction(write=False) as uow:
        assert service.own_account_key(uow, root, mine.id, "read").name == "mine"
        # An admin may read and revoke the key, but it is not theirs: unknown, like a missing one.
        assert service.get_key(uow, root, theirs.id).name == "theirs"
        with pytest.raises(NotFound) as hidden:
            service.own_account_key(uow, root, theirs.id, "revoke")
        with pytest.raises(NotFound) as missing:
            service.own_account_key(uow, root, "key_" + "0" * 26, "revoke")
    assert hidden.value.code == missing.value.code == "key_not_found"
    assert hidden.value.message.replace(theirs.id, "?") == missing.value.message.replace(
        "key_" + "0" * 26, "?"
    )
