"""limit leases

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 01:40:00.000000

Rate limits and quotas counted without Redis are leased from storage in chunks (`limit_leases`):
every gateway process of a machine draws on one count per window, and a quota survives a restart.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limit_leases",
        sa.Column("slot", sa.String(length=160), nullable=False),
        sa.Column("window_number", sa.BigInteger(), nullable=False),
        sa.Column("leased", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slot", "window_number", name=op.f("pk_limit_leases")),
    )


def downgrade() -> None:
    op.drop_table("limit_leases")
