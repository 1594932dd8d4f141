"""The schema Alembic builds is exactly the models', on both backends."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from keyward.db.engine import Database
from keyward.db.migrate import is_current
from keyward.db.models import Base
from tests.factories import make_workspace


def test_upgrade_head_on_an_empty_database_gives_exactly_the_models(fresh_url: str) -> None:
    database = Database.connect(fresh_url)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert is_current(connection)
        assert set(inspect(connection).get_table_names()) >= set(Base.metadata.tables)
    database.dispose()


def test_audit_events_refuse_update_and_delete(fresh_url: str) -> None:
    database = Database.connect(fresh_url)
    make_workspace(database)
    for statement in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as c:
            c.execute(text(statement))
    with database.engine.connect() as connection:
        actions = connection.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert "workspace.create" in actions
    assert "forged" not in actions
    database.dispose()
