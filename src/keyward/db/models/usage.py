"""Traffic: how many responses of each status class a key got, minute by minute, and the same
counts added up per hour for each key, acquisition, offering and API."""

from datetime import datetime

from sqlalchemy import ForeignKey, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base


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


class UsageHour(Base):
    """The responses of one status class in one UTC hour to one key, or to the keys of one
    acquisition, offering or API (`subject_id`: its id, whose prefix says which).

    Added to in the same transaction as the minutes of `key_usage` they sum, so the two never
    disagree; read instead of them wherever a chart spans hours, as summing a key's minutes over
    a month, or the minutes of thousands of keys, at request time would be too slow. Unlike a
    key's minutes, these stay when a key is deleted: an acquisition's traffic is its history and
    its provider's, and what the deleted key did is still part of it. (The deleted key's own
    hours stay too, read by no one: its pages answer 404.) No foreign key, as the subject is one
    of four tables; acquisitions are never deleted, and ids are never reused.
    """

    __tablename__ = "usage_hours"
    __table_args__ = (PrimaryKeyConstraint("subject_id", "hour", "status_class"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    subject_id: Mapped[str] = mapped_column(ID)
    hour: Mapped[datetime]
    status_class: Mapped[str] = mapped_column(String(3))
    count: Mapped[int]
