"""`preload`: a gateway's cache warmed with the keys in use, before the first request asks."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from keyward.core.clock import ManualClock
from keyward.core.sealing import Sealer
from keyward.core.verdicts import KeyCode, Verdict
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.domains.keys import service as keys
from keyward.verifier import Verifier
from tests.domains.key_world import make_world
from tests.factories import make_key, secret
from tests.verifier.support import storage_down
from tests.verifier.test_verifier import counting_statements

# `make_world` issues a key before its policy, which never expires, besides `world.key`.
SEALER = Sealer([b"s" * 32])
EARLIER_KEYS = 1


def identity(verdict: Verdict) -> tuple[object, ...]:
    return (
        verdict.code,
        verdict.key_id,
        verdict.workspace_id,
        verdict.member_id,
        verdict.acquisition,
        verdict.permissions,
        verdict.expires_at,
    )


def test_preloaded_keys_are_answered_without_io_exactly_as_a_cold_read_answers(
    db: Database,
) -> None:
    world = make_world(db)
    others = [world.new_key() for _ in range(3)]
    warm = Verifier(db)
    assert warm.preload(100) == 4 + EARLIER_KEYS
    cold = Verifier(db)
    for key in (world.key, *others):
        with counting_statements(db) as statements:
            verdict = warm.verify(secret(key))
        assert statements == []
        assert verdict.valid
        assert identity(verdict) == identity(cold.verify(secret(key)))


def test_keys_that_cannot_work_are_not_preloaded_and_are_still_refused(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db)
    world.set_policy(key_lifetime="P1D")
    revoked, expiring = world.new_key(), world.new_key()
    world.acting(world.admin, keys.revoke_key, revoked.id)
    clock.advance(timedelta(hours=12))
    fresh = world.new_key()
    clock.advance(timedelta(hours=13))  # `expiring` has expired, `fresh` has not
    verifier = Verifier(db)
    assert verifier.preload(100) == 2 + EARLIER_KEYS  # `fresh` and `world.key` (P90D)
    with counting_statements(db) as statements:
        assert verifier.verify(secret(fresh)).valid
    assert statements == []
    for key, code in (
        (revoked, KeyCode.KEY_REVOKED),
        (expiring, KeyCode.KEY_EXPIRED),
    ):
        with counting_statements(db) as statements:
            assert verifier.verify(secret(key)).code is code
        assert statements, "a key not preloaded is read on its first use"


def test_an_account_key_is_not_preloaded(db: Database) -> None:
    world = make_world(db)
    account_key = make_key(db, world.admin)
    verifier = Verifier(db)
    assert verifier.preload(100) == 1 + EARLIER_KEYS
    assert verifier.peek(secret(world.key)) is not None
    assert verifier.peek(secret(account_key)) is None
    assert verifier.verify(secret(account_key)).valid


def test_the_limit_keeps_the_most_recently_used_keys(db: Database, clock: ManualClock) -> None:
    world = make_world(db)
    used_long_ago, used_lately, never_used = world.key, world.new_key(), world.new_key()
    user = Verifier(db)
    for key in (used_long_ago, used_lately):
        assert user.verify(secret(key)).valid
        user.flush_usage()
        clock.advance(timedelta(minutes=1))
    verifier = Verifier(db)
    assert verifier.preload(1) == 1
    assert verifier.peek(secret(used_lately)) is not None
    assert verifier.peek(secret(used_long_ago)) is None
    assert verifier.peek(secret(never_used)) is None
    assert verifier.preload(0) == 0


def test_a_rotated_keys_old_secret_is_preloaded_until_its_grace_ends(
    db: Database, clock: ManualClock
) -> None:
    world = make_world(db)
    rotated = world.acting(
        world.acquirer, keys.rotate_key, world.key.id, timedelta(hours=1), sealer=SEALER
    )
    verifier = Verifier(db)
    assert verifier.preload(100) == 1 + EARLIER_KEYS
    with counting_statements(db) as statements:
        old, new = verifier.verify(secret(world.key)), verifier.verify(secret(rotated))
    assert statements == []
    assert old.valid
    assert new.valid
    assert old.key_id == new.key_id
    assert world.key.expires_at is not None
    assert new.expires_at == world.key.expires_at.timestamp()
    assert old.expires_at == (clock.now() + timedelta(hours=1)).timestamp()
    clock.advance(timedelta(hours=1))
    assert verifier.verify(secret(world.key)).code is KeyCode.KEY_ROTATED
    later = Verifier(db)
    assert later.preload(100) == 1 + EARLIER_KEYS
    assert later.peek(secret(world.key)) is None, "the old secret's grace is over"
    assert later.peek(secret(rotated)) is not None


@contextmanager
def changes_during_batch_reads(
    db: Database, verifier: Verifier, changes: list[Change], times: int
) -> Iterator[list[int]]:
    """The first `times` reads of a batch of keys see `changes` applied while they run, as the
    feed follower applies them from its own thread. Yields the number of batch reads."""
    reads = [0]

    def applied_meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "api_keys.id IN" in statement:
            reads[0] += 1
            if reads[0] <= times:
                verifier.apply(changes)

    event.listen(db.engine, "after_cursor_execute", applied_meanwhile)
    try:
        yield reads
    finally:
        event.remove(db.engine, "after_cursor_execute", applied_meanwhile)


def test_a_batch_read_while_changes_arrive_is_read_again(db: Database) -> None:
    world = make_world(db)
    verifier = Verifier(db)
    changed = [Change(world.admin.workspace_id, Entity.KEY, world.key.id)]
    with changes_during_batch_reads(db, verifier, changed, times=1) as reads:
        assert verifier.preload(100) == 1 + EARLIER_KEYS
    assert reads == [2]
    assert verifier.peek(secret(world.key)) is not None


def test_a_batch_that_keeps_changing_is_left_to_first_use(db: Database) -> None:
    world = make_world(db)
    verifier = Verifier(db)
    changed = [Change(world.admin.workspace_id, Entity.KEY, world.key.id)]
    with changes_during_batch_reads(db, verifier, changed, times=100) as reads:
        assert verifier.preload(100) == 0
    assert reads == [3]
    assert len(verifier) == 0
    assert verifier.verify(secret(world.key)).valid, "read on its first use instead"


def test_storage_failing_while_warming_leaves_keys_to_first_use(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(db)
    verifier = Verifier(db)
    with storage_down(db):
        assert verifier.preload(100) == 0
    assert "cannot read keys from storage to warm the cache" in caplog.text
    assert secret(world.key) not in caplog.text
    assert verifier.verify(secret(world.key)).valid
