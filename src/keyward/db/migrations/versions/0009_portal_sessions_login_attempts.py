"""portal sessions and sign-in attempts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 19:30:00.000000

Members sign in to the portal: a session row per signed-in browser (only the SHA-256 of its
token), removed with its member; and the sign-in attempts of the throttling window (the SHA-256
of the e-mail address named, the client's address, whether it succeeded).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=40)


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_portal_sessions_workspace_id_workspaces"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name="fk_portal_sessions_member_id_members",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portal_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_portal_sessions_token_hash"),
    )
    op.create_index("ix_portal_sessions_workspace_id", "portal_sessions", ["workspace_id"])
    op.create_index("ix_portal_sessions_member_id", "portal_sessions", ["member_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("email_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_login_attempts_workspace_id_workspaces"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_workspace_id", "login_attempts", ["workspace_id"])
    op.create_index("ix_login_attempts_attempted_at", "login_attempts", ["attempted_at"])
    op.create_index(
        "ix_login_attempts_email_hash", "login_attempts", ["email_hash", "attempted_at"]
    )
    op.create_index("ix_login_attempts_address", "login_attempts", ["address", "attempted_at"])


def downgrade() -> None:
    op.drop_table("login_attempts")
    op.drop_table("portal_sessions")
