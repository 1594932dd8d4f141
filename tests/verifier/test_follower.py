"""Another process's changes reach this one's cache through the change feed.

Each test has a database of its own with real commits; two `Database` objects stand for two
processes that share nothing but the database.
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from keyward.core.verdicts import KeyCode
from keyward.db import feed
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.domains.keys import service as keys
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberPermissionsUpdate
from keyward.verifier import FeedFollower, Verifier
from tests.factories import actor_for, admin, make_key, make_member, make_workspace, secret


@pytest.fixture
def writer(fresh_url: str) -> Iterator[Database]:
    database = Database.connect(fresh_url)
    yield database
    database.dispose()


@pytest.fixture
def reader(fresh_url: str) -> Iterator[Database]:
    database = Database.connect(fresh_url)
    yield database
    database.dispose()


def test_a_revocation_elsewhere_is_applied_by_the_next_poll(
    writer: Database, reader: Database
) -> None:
    set_up = make_workspace(writer)
    verifier = Verifier(reader)
    follower = FeedFollower(reader, verifier)
    key = secret(set_up.admin_key)
    assert verifier.verify(key).valid
    with writer.transaction() as uow:
        keys.revoke_key(uow, admin(writer, set_up), set_up.admin_key.id)
    assert verifier.verify(key).valid, "cached until the feed says otherwise"
    assert follower.poll() >= 1
    assert verifier.verify(key).code is KeyCode.KEY_REVOKED


def test_a_rights_change_elsewhere_narrows_cached_keys(writer: Database, reader: Database) -> None:
    set_up = make_workspace(writer)
    member = make_member(writer, admin(writer, set_up), permissions=["keys:*", "audit:read"])
    created = make_key(
        writer,
        actor_for(writer, set_up.workspace.id, member.id),
        permissions=["keys:read", "audit:read"],
    )
    verifier = Verifier(reader)
    follower = FeedFollower(reader, verifier)
    assert verifier.verify(secret(created)).permissions.allows("audit", "read")
    with writer.transaction() as uow:
        members.set_permissions(
            uow,
            admin(writer, set_up),
            member.id,
            MemberPermissionsUpdate(roles=[], permissions=["keys:read"]),
        )
    follower.poll()
    assert not verifier.verify(secret(created)).permissions.allows("audit", "read")


def test_the_follower_thread_applies_changes_within_a_second(
    writer: Database, reader: Database
) -> None:
    set_up = make_workspace(writer)
    verifier = Verifier(reader)
    follower = FeedFollower(reader, verifier, interval=0.05)
    key = secret(set_up.admin_key)
    assert verifier.verify(key).valid
    follower.start()
    try:
        with writer.transaction() as uow:
            keys.revoke_key(uow, admin(writer, set_up), set_up.admin_key.id)
        revoked_at = time.monotonic()
        while verifier.verify(key).valid and time.monotonic() - revoked_at < 5:
            time.sleep(0.01)
        assert verifier.verify(key).code is KeyCode.KEY_REVOKED
        assert time.monotonic() - revoked_at < 1.0
    finally:
        follower.stop()


def test_a_gap_in_the_feed_clears_the_whole_cache(writer: Database, reader: Database) -> None:
    set_up = make_workspace(writer)
    verifier = Verifier(reader)
    follower = FeedFollower(reader, verifier)
    assert verifier.verify(secret(set_up.admin_key)).valid
    assert len(verifier) == 1
    follower.position -= 5  # as if rows we never saw had been pruned
    with writer.transaction() as uow:
        uow.record_change(Change(set_up.workspace.id, Entity.WORKSPACE, set_up.workspace.id))
    follower.poll()
    assert len(verifier) == 0
    assert verifier.verify(secret(set_up.admin_key)).valid


def test_a_load_that_races_a_revocation_is_not_cached(writer: Database, reader: Database) -> None:
    """The follower delivers a revocation while a cache miss is still reading the old row."""
    set_up = make_workspace(writer)
    verifier = Verifier(reader)
    follower = FeedFollower(reader, verifier)
    key = secret(set_up.admin_key)
    raced = False

    def revoke_mid_load(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal raced
        if raced or "FROM api_keys" not in statement:
            return
        raced = True
        with writer.transaction() as uow:
            keys.revoke_key(uow, admin(writer, set_up), set_up.admin_key.id)
        follower.poll()

    event.listen(reader.engine, "after_cursor_execute", revoke_mid_load)
    try:
        assert verifier.verify(key).valid, "the read began before the revocation"
    finally:
        event.remove(reader.engine, "after_cursor_execute", revoke_mid_load)
    assert raced
    assert verifier.verify(key).code is KeyCode.KEY_REVOKED


def test_feed_sequence_follows_commit_order(writer: Database) -> None:
    set_up = make_workspace(writer)
    with writer.transaction(write=False) as uow:
        _, start = feed.bounds(uow.session)
    for n in range(3):
        with writer.transaction() as uow:
            uow.record_change(Change(set_up.workspace.id, Entity.MEMBER, f"mem_{n}"))
    with writer.transaction(write=False) as uow:
        changes = feed.read_since(uow.session, start)
    assert [c.entity_id for c in changes] == ["mem_0", "mem_1", "mem_2"]
    assert [c.seq for c in changes] == sorted(c.seq or 0 for c in changes)


def test_the_listener_hears_each_poll_s_changes_and_none_after_a_gap(
    writer: Database, reader: Database
) -> None:
    set_up = make_workspace(writer)
    heard: list[list[Change] | None] = []
    follower = FeedFollower(reader, Verifier(reader), listener=heard.append)
    assert follower.poll() == 0
    assert heard == [], "no changes, no call"
    with writer.transaction() as uow:
        uow.record_change(Change(set_up.workspace.id, Entity.API, "api_1"))
    follower.poll()
    assert [[c.entity_id for c in changes or []] for changes in heard] == [["api_1"]]
    follower.position -= 5
    with writer.transaction() as uow:
        uow.record_change(Change(set_up.workspace.id, Entity.API, "api_2"))
    follower.poll()
    assert heard[-1] is None


def test_a_listener_that_raised_is_told_it_missed_changes(
    writer: Database, reader: Database
) -> None:
    set_up = make_workspace(writer)
    heard: list[list[Change] | None] = []

    def listener(changes: list[Change] | None) -> None:
        heard.append(changes)
        if len(heard) == 1:
            raise RuntimeError("catalog unavailable")

    follower = FeedFollower(reader, Verifier(reader), listener=listener)
    with writer.transaction() as uow:
        uow.record_change(Change(set_up.workspace.id, Entity.API, "api_1"))
    with pytest.raises(RuntimeError, match="catalog unavailable"):
        follower.poll()
    assert follower.poll() == 0
    assert heard[-1] is None
    assert len(heard) == 2
