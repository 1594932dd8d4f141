"""webhook previous secret

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 23:40:00.000000

A rotated webhook signing secret may keep signing deliveries, next to the new one, for a grace
period: the old secret, sealed, and the time it stops (both empty when there is none).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_sealed_secret", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("previous_secret_until")
        batch_op.drop_column("previous_sealed_secret")
