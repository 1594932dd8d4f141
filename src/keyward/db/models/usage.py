"""Traffic per key: how many responses of each status class a key got, minute by minute."""

from datetime import datetime

from sqlalchemy import ForeignKey, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import Base


class KeyUsage(Base):
    """One key's responses of one status class ('2xx' … '5xx') in one UTC minute.

    Gateways buffer counts and add them here in batches. The rows go with their key: deleting a
    key deletes its usage (its audit trail stays). The primary key leads with the key, which is
    how usage is read; no index on the workspace, which is carried but never searched by.
    """

    __tablename__ = "key_usage"
    __table_args__ = (PrimaryKeyConstraint("key_id", "minute", "status_class"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    minute: Mapped[datetime]
    status_class: Mapped[str] = mapped_column(String(3))
    count: Mapped[int]
