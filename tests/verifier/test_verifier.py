"""The one verification path: verdicts, effective rights, the cache and what evicts it."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from keyward.core.clock import ManualClock
from keyward.core.keys import generate_key
from keyward.core.verdicts import UNKNOWN, KeyCode
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.db.models import ApiKey
from keyward.domains.keys import service as keys
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberPermissionsUpdate, MemberUpdate
from keyward.verifier import Verifier
from tests.factories import actor_for, admin, make_key, make_member, make_workspace, secret


@contextmanager
def counting_statements(db: Database) -> Iterator[list[str]]:
    """Record every SQL statement sent to the database while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def live(db: Database, verifier: Verifier) -> Verifier:
    """A verifier that hears this process's commits at once, as the API's does."""
    db.add_commit_listener(verifier.apply)
    return verifier


def test_a_valid_key_carries_its_effective_rights(db: Database, live: Verifier) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:*", "audit:read"])
    created = make_key(
        db, actor_for(db, set_up.workspace.id, member.id), permissions=["keys:read", "audit:read"]
    )
    verdict = live.verify(secret(created))
    assert verdict.valid
    assert verdict.code is KeyCode.VALID
    assert (verdict.key_id, verdict.member_id, verdict.workspace_id) == (
        created.id,
        member.id,
        set_up.workspace.id,
    )
    assert verdict.permissions.strings() == ["audit:read", "keys:read"]


def test_taking_a_right_from_a_member_takes_it_from_their_keys_at_once(
    db: Database, live: Verifier
) -> None:
    set_up = make_workspace(db)
    member = make_member(db, admin(db, set_up), permissions=["keys:*", "audit:read"])
    created = make_key(
        db, actor_for(db, set_up.workspace.id, member.id), permissions=["keys:read", "audit:read"]
    )
    assert live.verify(secret(created)).permissions.allows("audit", "read")
    with db.transaction() as uow:
        members.set_permissions(
            uow,
            admin(db, set_up),
            member.id,
            MemberPermissionsUpdate(roles=[], permissions=["keys:read"]),
        )
    verdict = live.verify(secret(created))
    assert verdict.valid
    assert verdict.permissions.strings() == ["keys:read"]
    # Giving the right back restores it: the key itself never lost it.
    with db.transaction() as uow:
        members.set_permissions(
            uow,
            admin(db, set_up),
            member.id,
            MemberPermissionsUpdate(roles=["auditor"], permissions=["keys:*"]),
        )
    assert live.verify(secret(created)).permissions.allows("audit", "read")


def test_deactivating_a_member_stops_their_keys_and_reactivating_restores_them(
    db: Database, live: Verifier
) -> None:
    set_up = make_workspace(db)
    boss = admin(db, set_up)
    member = make_member(db, boss, permissions=["keys:create", "keys:read"])
    created = make_key(db, actor_for(db, set_up.workspace.id, member.id))
    assert live.verify(secret(created)).valid
    for active, code in ((False, KeyCode.KEY_DISABLED), (True, KeyCode.VALID)):
        with db.transaction() as uow:
            members.update_member(uow, boss, member.id, MemberUpdate(active=active))
        assert live.verify(secret(created)).code is code


def test_revoked_and_expired_keys_are_refused_with_their_codes(
    db: Database, live: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    actor = admin(db, set_up)
    expiring = make_key(db, actor, expires_in=timedelta(minutes=5))
    revoked = make_key(db, actor)
    assert live.verify(secret(expiring)).valid
    assert live.verify(secret(revoked)).valid
    with db.transaction() as uow:
        keys.revoke_key(uow, actor, revoked.id)
    clock.advance(timedelta(minutes=5))
    assert live.verify(secret(expiring)).code is KeyCode.KEY_EXPIRED
    assert live.verify(secret(revoked)).code is KeyCode.KEY_REVOKED


def test_a_cached_key_expires_at_its_instant_without_a_read(
    db: Database, verifier: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    expiring = make_key(db, admin(db, set_up), expires_in=timedelta(minutes=1))
    assert verifier.verify(secret(expiring)).valid
    with counting_statements(db) as statements:
        clock.advance(timedelta(seconds=59))
        assert verifier.verify(secret(expiring)).valid
        clock.advance(timedelta(seconds=1))
        assert verifier.verify(secret(expiring)).code is KeyCode.KEY_EXPIRED
    assert statements == [], "answered from the cache"


def test_a_key_of_another_workspace_is_answered_exactly_like_an_unknown_key(
    db: Database, verifier: Verifier
) -> None:
    ours, theirs = make_workspace(db), make_workspace(db)
    foreign = verifier.verify(secret(theirs.admin_key), ours.workspace.id)
    unknown = verifier.verify(generate_key().secret, ours.workspace.id)
    assert foreign == unknown == UNKNOWN
    assert verifier.verify(secret(ours.admin_key), ours.workspace.id).valid


def test_malformed_keys_are_refused_without_touching_the_database(
    db: Database, verifier: Verifier
) -> None:
    good = generate_key().secret
    bad_checksum = good[:-1] + ("A" if good[-1] != "A" else "B")
    with counting_statements(db) as statements:
        for candidate in (
            "",
            "kw_",
            "not a key",
            bad_checksum,
            good[:-1],
            "x" * 10_000,
            "kw_\ud800",
        ):
            assert verifier.verify(candidate) == UNKNOWN
    assert statements == []


def test_a_cached_key_is_verified_without_io(db: Database, verifier: Verifier) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)
    with counting_statements(db) as statements:
        assert verifier.verify(key).valid
    assert statements, "the first verification reads the key"
    with counting_statements(db) as statements:
        for _ in range(5):
            assert verifier.verify(key).valid
    assert statements == []


def test_unknown_keys_are_remembered_until_a_key_changes(db: Database, verifier: Verifier) -> None:
    stranger = generate_key().secret
    assert verifier.verify(stranger) == UNKNOWN
    with counting_statements(db) as statements:
        assert verifier.verify(stranger) == UNKNOWN
    assert statements == []
    verifier.apply([Change("ws_any", Entity.KEY, "key_any")])
    with counting_statements(db) as statements:
        assert verifier.verify(stranger) == UNKNOWN
    assert statements


def test_a_key_created_a_moment_ago_works_on_first_use(db: Database, live: Verifier) -> None:
    set_up = make_workspace(db)
    assert live.verify(generate_key().secret) == UNKNOWN
    assert live.verify(secret(make_key(db, admin(db, set_up)))).valid


def test_cached_entries_are_refreshed_after_their_time(
    db: Database, verifier: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)
    assert verifier.verify(key).valid
    # Revoked behind the verifier's back: no feed, no listener.
    with db.transaction() as uow:
        row = uow.session.get(ApiKey, set_up.admin_key.id)
        assert row is not None
        row.revoked_at = clock.now()
    assert verifier.verify(key).valid, "still cached"
    clock.advance(timedelta(seconds=301))
    assert verifier.verify(key).code is KeyCode.KEY_REVOKED


def test_usage_is_buffered_and_written_in_one_batch(
    db: Database, verifier: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)
    with counting_statements(db) as statements:
        verifier.verify(key)
        verifier.verify(key)
    writes = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert writes == [], "verification never writes"
    verifier.flush_usage()
    with db.transaction(write=False) as uow:
        used = uow.session.scalar(
            select(ApiKey.last_used_at).where(ApiKey.id == set_up.admin_key.id)
        )
    assert used == clock.now()


def test_last_used_is_written_at_most_once_a_minute_for_a_key_in_constant_use(
    db: Database, verifier: Verifier, clock: ManualClock
) -> None:
    set_up = make_workspace(db)
    key = secret(set_up.admin_key)

    def last_used() -> datetime | None:
        verifier.flush_usage()
        with db.transaction(write=False) as uow:
            return uow.session.scalar(
                select(ApiKey.last_used_at).where(ApiKey.id == set_up.admin_key.id)
            )

    verifier.verify(key)
    first = clock.now()
    assert last_used() == first
    clock.advance(timedelta(seconds=59))
    verifier.verify(key)
    with counting_statements(db) as statements:
        verifier.flush_usage()
    assert statements == [], "a use within the minute is not written again"
    assert last_used() == first
    clock.advance(timedelta(seconds=1))
    verifier.verify(key)
    assert last_used() == clock.now() == first + timedelta(minutes=1)
