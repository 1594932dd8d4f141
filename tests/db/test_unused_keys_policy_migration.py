"""Migration 0016 adds the workspace's unused keys policy, off for the workspaces already
there, and the index of keys by last use, and takes them away again on downgrade (on SQLite
and PostgreSQL), the workspace and its keys kept."""

from alembic import command
from sqlalchemy import inspect, text

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.db.migrate import alembic_config, upgrade
from keyward.domains.workspaces import policies
from keyward.domains.workspaces.schemas import WorkspaceSettings
from tests.conftest import START
from tests.factories import admin, make_workspace

COLUMNS = {"unused_warn_after", "unused_revoke_after"}
INDEX = "ix_api_keys_workspace_id_last_used"


def _workspace(database: Database, workspace_id: str) -> dict[str, object]:
    with database.engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM workspaces WHERE id = :id"), {"id": workspace_id}
        ).one()
    return dict(row._mapping)


def _schema(database: Database) -> tuple[set[str], set[str]]:
    with database.engine.connect() as connection:
        inspector = inspect(connection)
        columns = {c["name"] for c in inspector.get_columns("workspaces")}
        indexes = {str(i["name"]) for i in inspector.get_indexes("api_keys")}
    return columns, indexes


def test_the_unused_keys_policy_comes_and_goes_and_the_workspace_stays(fresh_url: str) -> None:
    database = Database.connect(fresh_url, clock=ManualClock(START))
    set_up = make_workspace(database)
    workspace_id = set_up.workspace.id
    body = WorkspaceSettings.model_validate(
        {"unused_keys": {"warn_after": "P60D", "revoke_after": "P90D"}}
    )
    with database.transaction() as uow:
        policies.update_settings(uow, admin(database, set_up), body)
    assert _workspace(database, workspace_id)["unused_revoke_after"] == "P90D"
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0015")
    columns, indexes = _schema(database)
    assert not columns & COLUMNS
    assert INDEX not in indexes
    assert _workspace(database, workspace_id)["name"] == set_up.workspace.name
    with database.engine.begin() as connection:
        upgrade(connection)
    columns, indexes = _schema(database)
    assert columns >= COLUMNS
    assert INDEX in indexes
    after = _workspace(database, workspace_id)
    assert (after["unused_warn_after"], after["unused_revoke_after"]) == (None, None)
    with database.transaction(write=False) as uow:
        assert policies.get_settings(uow, admin(database, set_up)).unused_keys is None
    database.dispose()
