"""connectors write below operator-named destinations

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 15:00:00.000000

Storage connectors name a destination the operator configured and a path below it. Connectors
made before keep their URL: a `file://` one below the `local` destination's root is delivered
there (its path checked as a new one's is); any other is given up at its next delivery, saying
to make it again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (a batch copy on SQLite would cascade to the connectors' deliveries).
    op.add_column("connectors", sa.Column("destination", sa.String(length=40), nullable=True))
    op.add_column("connectors", sa.Column("path", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    op.drop_column("connectors", "path")
    op.drop_column("connectors", "destination")
