"""audit list indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:20:00.000000

The audit log is read newest first, a page at a time, and exported in pages: with the event id
last in its indexes, a page reads its rows in order and stops, instead of reading and sorting
every event of the workspace (or of the target or actor filtered by) for each page.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_audit_events_workspace_id": ["workspace_id"],
    "ix_audit_events_workspace_target": ["workspace_id", "target_id"],
    "ix_audit_events_workspace_actor": ["workspace_id", "actor_member_id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="audit_events")
        op.create_index(name, "audit_events", [*columns, "id"])


def downgrade() -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="audit_events")
        op.create_index(name, "audit_events", columns)
