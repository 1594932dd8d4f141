"""gateway heartbeats

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 04:40:00.000000

Each gateway process says where it serves and how far it has read the change feed
(`gateway_heartbeats`), so that a revocation is answered once every live gateway applies it,
and operators see which gateway lags.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_heartbeats",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "applied_seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("heartbeat_interval", sa.Float(), nullable=False),
        sa.Column("last_beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_heartbeats")),
    )
    op.create_index(
        op.f("ix_gateway_heartbeats_last_beat_at"), "gateway_heartbeats", ["last_beat_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_gateway_heartbeats_last_beat_at"), table_name="gateway_heartbeats")
    op.drop_table("gateway_heartbeats")
