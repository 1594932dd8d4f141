"""apis offerings acquisitions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:42:10.742965
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apis",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("provider_organization_id", sa.String(length=40), nullable=True),
        sa.Column("upstream_url", sa.String(length=2000), nullable=False),
        sa.Column("mount_path", sa.String(length=200), nullable=False),
        sa.Column("base_path", sa.String(length=500), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column(
            "key_locations",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("key_lifetime", sa.String(length=40), nullable=True),
        sa.Column("max_rotation_grace", sa.String(length=40), nullable=True),
        sa.Column("renewal_requires_approval", sa.Boolean(), nullable=False),
        sa.Column("revocation_requires_approval", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_organization_id"],
            ["organizations.id"],
            name=op.f("fk_apis_provider_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_apis_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apis")),
        sa.UniqueConstraint("mount_path", name=op.f("uq_apis_mount_path")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_apis_workspace_id_name")),
    )
    with op.batch_alter_table("apis", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apis_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "api_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source_version", sa.String(length=10), nullable=False),
        sa.Column("media_type", sa.String(length=10), nullable=False),
        sa.Column("original", sa.LargeBinary(), nullable=False),
        sa.Column(
            "normalized", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("operation_count", sa.Integer(), nullable=False),
        sa.Column(
            "changes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"], ["apis.id"], name=op.f("fk_api_versions_api_id_apis"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_api_versions_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_versions")),
        sa.UniqueConstraint("api_id", "number", name=op.f("uq_api_versions_api_id_number")),
    )
    with op.batch_alter_table("api_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_versions_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "offerings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("available_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acquisition_period", sa.String(length=40), nullable=True),
        sa.Column(
            "operation_tags",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "operation_ids",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["api_id"], ["apis.id"], name=op.f("fk_offerings_api_id_apis")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_offerings_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offerings")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_offerings_workspace_id_name")),
    )
    with op.batch_alter_table("offerings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offerings_api_id"), ["api_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_offerings_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "acquisitions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("offering_id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["offering_id"], ["offerings.id"], name=op.f("fk_acquisitions_offering_id_offerings")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_acquisitions_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_acquisitions_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquisitions")),
    )
    with op.batch_alter_table("acquisitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acquisitions_offering_id"), ["offering_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_acquisitions_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_acquisitions_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_api_keys_acquisition_id_name"), ["acquisition_id", "name"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_acquisition_id_acquisitions"),
            "acquisitions",
            ["acquisition_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_api_keys_acquisition_id_acquisitions"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_api_keys_acquisition_id_name"), type_="unique")

    with op.batch_alter_table("acquisitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acquisitions_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_acquisitions_organization_id"))
        batch_op.drop_index(batch_op.f("ix_acquisitions_offering_id"))

    op.drop_table("acquisitions")
    with op.batch_alter_table("offerings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offerings_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_offerings_api_id"))

    op.drop_table("offerings")
    with op.batch_alter_table("api_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_versions_workspace_id"))

    op.drop_table("api_versions")
    with op.batch_alter_table("apis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apis_workspace_id"))

    op.drop_table("apis")
