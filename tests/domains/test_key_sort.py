"""Key lists by last use, least or most recently used first, keys never used as the oldest,
a page at a time without skipping or repeating a key, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.core.errors import InvalidInput
from keyward.db.engine import Database
from keyward.domains.keys import service
from keyward.domains.keys.schemas import KeyFilter, KeySort
from keyward.domains.pagination import PageRequest
from keyward.verifier.usage import record_last_used
from tests.domains.key_world import make_world
from tests.factories import make_key

DAY = timedelta(days=1)


def _used(db: Database, key_id: str, days_ago: float, clock: ManualClock) -> None:
    """What the verifier's flush writes after a use of the key."""
    with db.transaction() as uow:
        at = (clock.now() - days_ago * DAY).timestamp()
        record_last_used(uow.session, [(key_id, at)])


def _walk(db: Database, actor: Actor, sort: KeySort, limit: int, **filters: object) -> list[str]:
    """Every key's name, page after page."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        with db.transaction(write=False) as uow:
            listing = KeyFilter(**filters)  # type: ignore[arg-type]
            page = service.list_keys(uow, actor, listing, PageRequest(limit, cursor), sort)
        names += [key.name for key in page.data]
        if page.next_cursor is None:
            return names
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 2, 50])
def test_keys_sort_by_last_use_with_never_used_keys_as_the_oldest_across_pages(
    db: Database, clock: ManualClock, limit: int
) -> None:
    world = make_world(db)  # alice and bob, never used
    ids = {name: world.new_key(name).id for name in ("carol", "dave", "erin", "fred")}
    _used(db, ids["carol"], 30, clock)
    _used(db, ids["dave"], 3, clock)
    _used(db, ids["erin"], 3, clock)  # the same moment as dave: the id decides
    _used(db, ids["fred"], 0.5, clock)
    least_first = ["alice", "bob", "carol", "dave", "erin", "fred"]
    assert _walk(db, world.acquirer, KeySort.LEAST_RECENTLY_USED, limit) == least_first
    assert _walk(db, world.acquirer, KeySort.MOST_RECENTLY_USED, limit) == least_first[::-1]
    # Newest first stays the default order.
    assert _walk(db, world.acquirer, KeySort.NEWEST, limit) == [
        "fred",
        "erin",
        "dave",
        "carol",
        "bob",
        "alice",
    ]


def test_sorting_by_last_use_combines_with_the_filters(db: Database, clock: ManualClock) -> None:
    world = make_world(db)
    old = world.new_key("old")
    recent = world.new_key("recent")
    clock.advance(100 * DAY)
    _used(db, old.id, 95, clock)
    _used(db, recent.id, 1, clock)
    make_key(db, world.acquirer, name="account", permissions=["keys:read"])
    unused = timedelta(days=90)
    assert _walk(
        db,
        world.acquirer,
        KeySort.LEAST_RECENTLY_USED,
        1,
        unused_for=unused,
        acquisition_id=world.acquisition_id,
    ) == ["alice", "bob", "old"]
    assert _walk(db, world.acquirer, KeySort.MOST_RECENTLY_USED, 1, unused_for=unused) == [
        "old",
        "bob",
        "alice",
    ]


def test_a_cursor_continues_only_the_order_it_came_from(db: Database) -> None:
    world = make_world(db)
    with db.transaction(write=False) as uow:
        newest = service.list_keys(uow, world.acquirer, KeyFilter(), PageRequest(1))
        by_use = service.list_keys(
            uow, world.acquirer, KeyFilter(), PageRequest(1), KeySort.LEAST_RECENTLY_USED
        )
    assert newest.next_cursor is not None
    assert by_use.next_cursor is not None
    mixed = [
        (newest.next_cursor, KeySort.LEAST_RECENTLY_USED),
        (by_use.next_cursor, KeySort.NEWEST),
        (by_use.next_cursor, KeySort.MOST_RECENTLY_USED),
    ]
    for cursor, sort in mixed:
        with db.transaction(write=False) as uow, pytest.raises(InvalidInput) as refused:
            service.list_keys(uow, world.acquirer, KeyFilter(), PageRequest(1, cursor), sort)
        assert refused.value.code == "invalid_cursor"
