"""key list indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 20:40:00.000000

Key lists (an acquisition's keys, a member's account keys) are read newest first, a page at a
time: with the key id last in their indexes, a page reads its rows in order and stops, instead
of reading and sorting every key of the acquisition or member (about 20 ms for 10,000 on SQLite).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_api_keys_workspace_id_acquisition": ["workspace_id", "acquisition_id"],
    "ix_api_keys_workspace_id_creator": ["workspace_id", "creator_member_id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="api_keys")
        op.create_index(name, "api_keys", [*columns, "id"])


def downgrade() -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="api_keys")
        op.create_index(name, "api_keys", columns)
