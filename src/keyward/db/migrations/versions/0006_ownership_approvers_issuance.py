"""ownership: API owners, approvers per API, issuance approval

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 14:00:00.000000

Existing rows get owners:
- An API without a provider organization gets the one its importer (the creator of version 1)
  belongs to, when they belong to exactly one; else the workspace's only provider organization,
  when it has exactly one. Otherwise it stays without an owner, and only workspace admins act
  on it until one assigns it (`PATCH /v1/apis/{id} {"provider_organization_id"}`).
- Every API names as approvers the members who hold the `approver` role, who approved every
  API until now; providers narrow the list in the key policy.
- A key request remembers the acquisition of its key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_approvers",
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"], ["apis.id"], name=op.f("fk_api_approvers_api_id_apis"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_api_approvers_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_api_approvers_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("api_id", "member_id", name=op.f("pk_api_approvers")),
    )
    with op.batch_alter_table("api_approvers", schema=None) as batch_op:
        batch_op.create_index("ix_api_approvers_member_id", ["member_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_api_approvers_workspace_id"), ["workspace_id"], unique=False
        )

    # Plain ADD COLUMN: a batch copy of `apis` or `api_keys` on SQLite would drop the table and
    # so cascade to its versions, usage and requests.
    op.add_column(
        "apis",
        sa.Column(
            "issuance_requires_approval", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.add_column(
        "api_keys",
        sa.Column("awaiting_approval", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("key_requests", sa.Column("acquisition_id", sa.String(length=40), nullable=True))

    _give_owners(op.get_bind())


def _give_owners(connection: sa.Connection) -> None:
    connection.execute(
        sa.text(
            "UPDATE key_requests SET acquisition_id = "
            "(SELECT acquisition_id FROM api_keys WHERE api_keys.id = key_requests.key_id)"
        )
    )
    connection.execute(
        sa.text(
            "INSERT INTO api_approvers (api_id, member_id, workspace_id) "
            "SELECT apis.id, member_roles.member_id, apis.workspace_id FROM apis "
            "JOIN member_roles ON member_roles.workspace_id = apis.workspace_id "
            "AND member_roles.role = 'approver'"
        )
    )
    unowned = connection.execute(
        sa.text(
            "SELECT apis.id, apis.workspace_id, api_versions.created_by FROM apis "
            "LEFT JOIN api_versions ON api_versions.api_id = apis.id AND api_versions.number = 1 "
            "WHERE apis.provider_organization_id IS NULL"
        )
    ).all()
    for api_id, workspace_id, importer in unowned:
        of_importer = connection.execute(
            sa.text(
                "SELECT organizations.id FROM organizations JOIN organization_members "
                "ON organization_members.organization_id = organizations.id "
                "WHERE organizations.kind = 'provider' AND organization_members.member_id = :m"
            ),
            {"m": importer},
        ).all()
        of_workspace = connection.execute(
            sa.text("SELECT id FROM organizations WHERE kind = 'provider' AND workspace_id = :w"),
            {"w": workspace_id},
        ).all()
        candidates = of_importer if len(of_importer) == 1 else of_workspace
        if len(candidates) == 1:
            connection.execute(
                sa.text("UPDATE apis SET provider_organization_id = :o WHERE id = :a"),
                {"o": candidates[0][0], "a": api_id},
            )


def downgrade() -> None:
    op.drop_column("key_requests", "acquisition_id")
    op.drop_column("api_keys", "awaiting_approval")
    op.drop_column("apis", "issuance_requires_approval")
    with op.batch_alter_table("api_approvers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_approvers_workspace_id"))
        batch_op.drop_index("ix_api_approvers_member_id")
    op.drop_table("api_approvers")
