"""Lists read one page, not every row they filter: key lists (of an acquisition, of a member's
account keys) and the audit log. SQLite walks an index in id order and stops, with no sort of all
the rows first."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from keyward.core.keys import KeyKind
from keyward.db.engine import Database, UnitOfWork
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.audit import service as audit
from keyward.domains.audit.schemas import AuditFilter
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import KeyFilter, KeySort
from keyward.domains.pagination import PageRequest
from tests.domains.key_world import make_world
from tests.factories import make_key

SORTS_EVERY_ROW = "USE TEMP B-TREE FOR ORDER BY"
# SQLite only: the plans checked are SQLite's; PostgreSQL's depend on its table statistics.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _plans_of_queries(
    db: Database, table: str, listing: Callable[[UnitOfWork], object]
) -> list[str]:
    """SQLite's plan for each query of `table` that `listing` runs, one line per query."""
    statements: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        statement, parameters = args[2], args[3]
        if statement.lstrip().startswith("SELECT") and f"FROM {table}" in statement:
            statements.append((statement, parameters))

    with db.transaction(write=False) as uow:
        connection = uow.session.connection()
        event.listen(connection, "before_cursor_execute", record)
        try:
            listing(uow)
        finally:
            event.remove(connection, "before_cursor_execute", record)
        return [
            " / ".join(
                str(row[3]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p)
            )
            for s, p in statements
        ]


@pytest.mark.parametrize("cursor", [False, True], ids=["first page", "later page"])
def test_an_acquisitions_key_list_reads_its_page_by_index_without_sorting_every_key(
    db: Database, cursor: bool
) -> None:
    world = make_world(db)
    for _ in range(3):
        world.new_key()
    with db.transaction(write=False) as uow:
        first = acquisitions.list_keys(uow, world.acquirer, world.acquisition_id, PageRequest(2))
    page = PageRequest(2, first.next_cursor if cursor else None)
    [plan] = _plans_of_queries(
        db,
        "api_keys",
        lambda uow: acquisitions.list_keys(uow, world.acquirer, world.acquisition_id, page),
    )
    assert "ix_api_keys_workspace_id_acquisition" in plan
    assert SORTS_EVERY_ROW not in plan


def test_a_members_account_key_list_reads_its_page_by_index_without_sorting_every_key(
    db: Database,
) -> None:
    world = make_world(db)
    for n in range(3):
        make_key(db, world.acquirer, name=f"account {n}", permissions=["apis:read"])
    filters = KeyFilter(kind=KeyKind.ACCOUNT, creator_member_id=world.acquirer.member_id)
    [plan] = _plans_of_queries(
        db, "api_keys", lambda uow: keys.list_keys(uow, world.acquirer, filters, PageRequest(2))
    )
    assert "ix_api_keys_workspace_id_creator" in plan
    assert SORTS_EVERY_ROW not in plan


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (AuditFilter(), "ix_audit_events_workspace_id"),
        (AuditFilter(target="key_x"), "ix_audit_events_workspace_target"),
    ],
    ids=["every event", "one target"],
)
def test_the_audit_log_reads_its_page_by_index_without_sorting_every_event(
    db: Database, filters: AuditFilter, index: str
) -> None:
    world = make_world(db)
    with db.transaction() as uow:
        for n in range(3):
            audit.record(uow, world.admin, "key.read", target_id="key_x", details={"n": n})
    [plan] = _plans_of_queries(
        db,
        "audit_events",
        lambda uow: audit.list_events(uow, world.admin, filters, PageRequest(2)),
    )
    assert index in plan
    assert SORTS_EVERY_ROW not in plan


@pytest.mark.parametrize("sort", [KeySort.LEAST_RECENTLY_USED, KeySort.MOST_RECENTLY_USED])
@pytest.mark.parametrize("cursor", [False, True], ids=["first page", "later page"])
def test_a_workspaces_keys_by_last_use_read_their_page_by_index_without_sorting_every_key(
    db: Database, sort: KeySort, cursor: bool
) -> None:
    world = make_world(db)
    for _ in range(3):
        world.new_key()
    with db.transaction(write=False) as uow:
        first = keys.list_keys(uow, world.admin, KeyFilter(), PageRequest(2), sort)
    page = PageRequest(2, first.next_cursor if cursor else None)
    [plan] = _plans_of_queries(
        db, "api_keys", lambda uow: keys.list_keys(uow, world.admin, KeyFilter(), page, sort)
    )
    assert "ix_api_keys_workspace_id_last_used" in plan
    assert SORTS_EVERY_ROW not in plan
