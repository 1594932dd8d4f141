"""The schema Alembic builds is exactly the models', on both backends."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from keyward.db.engine import Database
from keyward.db.migrate import alembic_config, is_current, upgrade
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


def test_the_ownership_migration_keeps_every_row_and_gives_apis_owners_and_approvers(
    fresh_url: str,
) -> None:
    database = Database.connect(fresh_url)
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0005")
    now = "2026-01-01 00:00:00"
    rows = [
        "INSERT INTO workspaces (id, name, key_prefix, created_at) VALUES "
        f"('ws_1', 'one', 'kw', '{now}'), ('ws_2', 'two', 'kw', '{now}')",
        "INSERT INTO members (id, workspace_id, email, name, active, created_at, updated_at) "
        "VALUES "
        + ", ".join(
            f"('{m}', '{w}', '{m}@example.com', '{m}', true, '{now}', '{now}')"
            for m, w in (
                ("mem_p", "ws_1"),
                ("mem_q", "ws_1"),
                ("mem_apr", "ws_1"),
                ("mem_x", "ws_2"),
            )
        ),
        "INSERT INTO member_roles (member_id, role, workspace_id) VALUES "
        "('mem_apr', 'approver', 'ws_1'), ('mem_p', 'provider', 'ws_1')",
        "INSERT INTO organizations (id, workspace_id, name, kind, created_at, updated_at) VALUES "
        f"('org_p', 'ws_1', 'P', 'provider', '{now}', '{now}'), "
        f"('org_q', 'ws_1', 'Q', 'provider', '{now}', '{now}'), "
        f"('org_x', 'ws_2', 'X', 'provider', '{now}', '{now}')",
        "INSERT INTO organization_members (organization_id, member_id, workspace_id) VALUES "
        "('org_p', 'mem_p', 'ws_1')",
        "INSERT INTO apis (id, workspace_id, name, description, upstream_url, mount_path, "
        "base_path, current_version, key_locations, renewal_requires_approval, "
        "revocation_requires_approval, created_at, updated_at) VALUES "
        + ", ".join(
            f"('{a}', '{w}', '{a}', '', 'https://u.example', '{a}', '', 1, '[]', false, false, "
            f"'{now}', '{now}')"
            for a, w in (("api_p", "ws_1"), ("api_q", "ws_1"), ("api_x", "ws_2"))
        ),
        "INSERT INTO api_versions (id, workspace_id, api_id, number, source_version, media_type, "
        "original, normalized, operation_count, changes, created_by, created_at) VALUES "
        + ", ".join(
            f"('ver_{a}', '{w}', '{a}', 1, '3.0', 'json', '', '{{}}', 0, '{{}}', '{m}', '{now}')"
            for a, w, m in (
                ("api_p", "ws_1", "mem_p"),
                ("api_q", "ws_1", "mem_q"),
                ("api_x", "ws_2", "mem_x"),
            )
        ),
    ]
    with database.engine.begin() as connection:
        for statement in rows:
            connection.execute(text(statement))
        upgrade(connection)
    with database.engine.connect() as connection:
        versions = connection.execute(text("SELECT count(*) FROM api_versions")).scalar_one()
        owners: dict[str, str | None] = dict(
            connection.execute(text("SELECT id, provider_organization_id FROM apis")).all()
        )
        approvers = connection.execute(
            text("SELECT api_id, member_id FROM api_approvers ORDER BY api_id")
        ).all()
    assert versions == 3, "adding columns must not copy tables (SQLite would cascade)"
    # Its importer's one provider organization; else the workspace's only one (ws_1 has two).
    assert owners == {"api_p": "org_p", "api_q": None, "api_x": "org_x"}
    assert [tuple(row) for row in approvers] == [("api_p", "mem_apr"), ("api_q", "mem_apr")]
    database.dispose()
