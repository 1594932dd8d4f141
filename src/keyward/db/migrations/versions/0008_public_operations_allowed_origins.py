"""api versions record their public operations; APIs name the origins allowed cross-site

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 16:00:00.000000

Each version stores which operations anyone may call without a key, as its import or upload
reported them. Versions stored before keep NULL and are read from their document. An API's
`allowed_origins` (NULL: none) are the sites whose pages may send state-changing requests with a
cookie-borne key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ADD COLUMN (a batch copy on SQLite would cascade from apis and api_versions).
    op.add_column("api_versions", sa.Column("public_operations", _JSON, nullable=True))
    op.add_column("apis", sa.Column("allowed_origins", _JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("apis", "allowed_origins")
    op.drop_column("api_versions", "public_operations")
