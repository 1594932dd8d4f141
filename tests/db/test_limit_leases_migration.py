"""Migration 0015 adds the limit leases table, empty, and takes it away again on downgrade (on
SQLite and PostgreSQL), leaving what else is stored as it was."""

from alembic import command
from sqlalchemy import inspect, text

from keyward.db.engine import Database
from keyward.db.migrate import alembic_config, upgrade
from keyward.verifier.leases import LeaseWanted, take_leases
from tests.factories import make_workspace


def _tables(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_the_lease_table_comes_and_goes_and_nothing_else_changes(fresh_url: str) -> None:
    database = Database.connect(fresh_url)
    workspace = make_workspace(database).workspace.id
    wanted = LeaseWanted("acquisition:acq_1:3600000", 7, 3_600_000, 100, 0, 1)
    assert take_leases(database, [wanted])[0].granted == 13
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0014")
    assert "limit_leases" not in _tables(database)
    with database.engine.begin() as connection:
        upgrade(connection)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM limit_leases")).scalar_one() == 0
        kept = connection.execute(text("SELECT id FROM workspaces")).scalars().all()
    assert kept == [workspace]
    assert take_leases(database, [wanted])[0].granted == 13
    database.dispose()
