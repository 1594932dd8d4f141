"""Initial schema: workspaces, members, organizations, keys, audit log, change feed.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=40)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces"
    )


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
    )
    op.create_table(
        "change_feed",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_id", ID, nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("seq", name="pk_change_feed"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        _time("occurred_at"),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_key_id", ID, nullable=True),
        sa.Column("actor_member_id", ID, nullable=True),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=True),
        sa.Column("target_id", ID, nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=80), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", JSON, nullable=False),
        _workspace_fk("audit_events"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_workspace_id", "audit_events", ["workspace_id"])
    op.create_index(
        "ix_audit_events_workspace_actor", "audit_events", ["workspace_id", "actor_member_id"]
    )
    op.create_index(
        "ix_audit_events_workspace_target", "audit_events", ["workspace_id", "target_id"]
    )
    op.create_table(
        "idempotency_records",
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("caller_id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("response", JSON, nullable=False),
        _time("created_at"),
        _workspace_fk("idempotency_records"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "caller_id", "idempotency_key", name="pk_idempotency_records"
        ),
    )
    op.create_index("ix_idempotency_records_created_at", "idempotency_records", ["created_at"])
    op.create_table(
        "members",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _workspace_fk("members"),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.UniqueConstraint("workspace_id", "email", name="uq_members_workspace_id_email"),
    )
    op.create_index("ix_members_workspace_id", "members", ["workspace_id"])
    op.create_table(
        "organizations",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _workspace_fk("organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_organizations_workspace_id_name"),
    )
    op.create_index("ix_organizations_workspace_id", "organizations", ["workspace_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("start", sa.String(length=24), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("creator_member_id", ID, nullable=True),
        sa.Column("acquisition_id", ID, nullable=True),
        sa.Column("permissions", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        _time("expires_at", nullable=True),
        _time("revoked_at", nullable=True),
        sa.Column("revoked_by", ID, nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("last_used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["creator_member_id"],
            ["members.id"],
            name="fk_api_keys_creator_member_id_members",
            ondelete="SET NULL",
        ),
        _workspace_fk("api_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("hash", name="uq_api_keys_hash"),
    )
    op.create_index("ix_api_keys_workspace_id", "api_keys", ["workspace_id"])
    op.create_index(
        "ix_api_keys_workspace_id_acquisition", "api_keys", ["workspace_id", "acquisition_id"]
    )
    op.create_index(
        "ix_api_keys_workspace_id_creator", "api_keys", ["workspace_id", "creator_member_id"]
    )
    for table, column in (("member_permissions", "permission"), ("member_roles", "role")):
        op.create_table(
            table,
            sa.Column("member_id", ID, nullable=False),
            sa.Column(column, sa.String(length=120 if column == "permission" else 40)),
            sa.Column("workspace_id", ID, nullable=False),
            sa.ForeignKeyConstraint(
                ["member_id"],
                ["members.id"],
                name=f"fk_{table}_member_id_members",
                ondelete="CASCADE",
            ),
            _workspace_fk(table),
            sa.PrimaryKeyConstraint("member_id", column, name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_workspace_id", table, ["workspace_id"])
    op.create_table(
        "organization_members",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_organization_members_member_id_members",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_organization_members_organization_id_organizations",
            ondelete="CASCADE",
        ),
        _workspace_fk("organization_members"),
        sa.PrimaryKeyConstraint("organization_id", "member_id", name="pk_organization_members"),
    )
    op.create_index("ix_organization_members_member_id", "organization_members", ["member_id"])
    op.create_index(
        "ix_organization_members_workspace_id", "organization_members", ["workspace_id"]
    )
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION keyward_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION keyward_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    for table in (
        "organization_members",
        "member_roles",
        "member_permissions",
        "api_keys",
        "organizations",
        "members",
        "idempotency_records",
        "audit_events",
        "change_feed",
        "workspaces",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION keyward_audit_append_only()")
