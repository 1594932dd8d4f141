"""unused keys policy

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 01:40:00.000000

A workspace may warn the owners of keys left unused, and then revoke them: how long a key may
stay unused before each (ISO-8601 durations, both empty for the workspaces already there: the
policy is off until an admin sets it). Keys are listed by last use, a page at a time, and swept
for the policy through an index of the workspace's keys in order of last use.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on SQLite too: a batch copy of `workspaces` would drop a table that
    # every other table refers to.
    op.add_column("workspaces", sa.Column("unused_warn_after", sa.String(length=40)))
    op.add_column("workspaces", sa.Column("unused_revoke_after", sa.String(length=40)))
    op.create_index(
        "ix_api_keys_workspace_id_last_used",
        "api_keys",
        ["workspace_id", "last_used_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_api_keys_workspace_id_last_used", table_name="api_keys")
    op.drop_column("workspaces", "unused_revoke_after")
    op.drop_column("workspaces", "unused_warn_after")
