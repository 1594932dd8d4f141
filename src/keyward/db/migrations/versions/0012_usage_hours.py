"""usage hours

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 22:10:00.000000

Hourly counts per key, acquisition, offering and API (`usage_hours`), which the usage writer
adds to in the same transaction as the minutes of `key_usage`; filled here from the minutes
already stored, so charts over days read a few hundred rows instead of tens of thousands of
minutes (of one key) or millions (of every key of an API).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The start of a minute's hour, as each backend stores a UTC time (SQLite: text without offset).
_HOUR = {
    "sqlite": "strftime('%Y-%m-%d %H:00:00.000000', key_usage.minute)",
    "postgresql": "date_trunc('hour', key_usage.minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}

# Each minute counted once for its key and, for a key of an acquisition, once for its
# acquisition, once for its offering and once for its API.
_BACK_FILL = (
    "INSERT INTO usage_hours (workspace_id, subject_id, hour, status_class, count) "
    "SELECT key_usage.workspace_id, "
    "CASE subject.column1 WHEN 0 THEN api_keys.id WHEN 1 THEN acquisitions.id "
    "WHEN 2 THEN offerings.id ELSE offerings.api_id END, {hour}, key_usage.status_class, "
    "SUM(key_usage.count) "
    "FROM key_usage "
    "JOIN api_keys ON api_keys.id = key_usage.key_id "
    "LEFT JOIN acquisitions ON acquisitions.id = api_keys.acquisition_id "
    "LEFT JOIN offerings ON offerings.id = acquisitions.offering_id "
    "CROSS JOIN (VALUES (0), (1), (2), (3)) AS subject "
    "WHERE subject.column1 = 0 OR offerings.id IS NOT NULL "
    "GROUP BY 1, 2, 3, 4"
)


def upgrade() -> None:
    op.create_table(
        "usage_hours",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_class", sa.String(length=3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_usage_hours_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("subject_id", "hour", "status_class", name=op.f("pk_usage_hours")),
    )
    dialect = op.get_bind().dialect.name
    op.execute(_BACK_FILL.format(hour=_HOUR[dialect]))


def downgrade() -> None:
    op.drop_table("usage_hours")
