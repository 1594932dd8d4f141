"""The benchmarks' databases: migrated, with one workspace whose admin does the set-up."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from keyward.core.actors import Actor, Via
from keyward.db.engine import Database
from keyward.db.migrate import upgrade
from keyward.domains.workspaces.schemas import WorkspaceCreate
from keyward.domains.workspaces.service import actor_for_member, set_up_workspace


@dataclass(frozen=True, slots=True)
class Workspace:
    database: Database
    workspace_id: str
    admin: Actor


@contextmanager
def migrated(url: str) -> Iterator[Workspace]:
    """The database at `url`, migrated, with a workspace "bench"; disposed of afterwards."""
    database = Database.connect(url)
    try:
        with database.engine.begin() as connection:
            upgrade(connection)
        with database.transaction() as uow:
            set_up = set_up_workspace(
                uow, WorkspaceCreate(name="bench", admin_email="admin@example.com")
            )
        with database.transaction(write=False) as uow:
            admin = actor_for_member(uow, set_up.workspace.id, set_up.admin_member_id, Via.SYSTEM)
        yield Workspace(database, set_up.workspace.id, admin)
    finally:
        database.dispose()
