"""password links

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 20:10:00.000000

The single-use links of invitation and password reset e-mails: whose password a link sets, what
for, until when, and the SHA-256 of its token once the e-mail is sent; removed with its member.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=40)


def upgrade() -> None:
    op.create_table(
        "password_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_password_links_workspace_id_workspaces"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_password_links_member_id_members",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_password_links"),
        sa.UniqueConstraint("token_hash", name="uq_password_links_token_hash"),
    )
    op.create_index("ix_password_links_workspace_id", "password_links", ["workspace_id"])
    op.create_index("ix_password_links_member_id", "password_links", ["member_id"])


def downgrade() -> None:
    op.drop_table("password_links")
