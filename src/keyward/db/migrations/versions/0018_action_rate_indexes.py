"""action rate indexes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 04:50:00.000000

Members may create so many keys a minute (and an acquisition be given so many), file so many
key requests and send so many invitations an hour; each is counted from the rows those actions
leave, newest first, through an index per count.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_api_keys_creator_created", "api_keys", ["creator_member_id", "created_at"]),
    ("ix_api_keys_acquisition_created", "api_keys", ["acquisition_id", "created_at"]),
    ("ix_key_requests_requester_created", "key_requests", ["requested_by", "created_at"]),
    (
        "ix_password_links_creator_created",
        "password_links",
        ["created_by", "purpose", "created_at"],
    ),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
