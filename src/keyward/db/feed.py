"""The change feed: written with every change that affects verification, read by followers.

On PostgreSQL a transaction that records changes also notifies `CHANNEL`, delivered when it
commits, so that followers listening there read the feed at once instead of at their next poll.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from keyward.db.models import ChangeFeedEntry

# Serialises change-feed writers on PostgreSQL so that sequence order is commit order.
FEED_LOCK_ID = 0x6B657977
# The PostgreSQL channel notified, once per transaction, by every transaction that records changes.
CHANNEL = "keyward_changes"


class Entity(StrEnum):
    """What a change is about; followers evict what depends on it."""

    KEY = "key"
    MEMBER = "member"
    ACQUISITION = "acquisition"
    WORKSPACE = "workspace"
    # Not about any key by itself: for the gateway's routes and entitlements.
    API = "api"
    OFFERING = "offering"


@dataclass(frozen=True, slots=True)
class Change:
    workspace_id: str
    entity: Entity
    entity_id: str
    seq: int | None = None


def append(session: Session, change: Change, at: datetime, *, lock: bool) -> ChangeFeedEntry:
    """Add `change` to the feed in `session`'s transaction; `lock` for its first change.
    The entry returned has its `seq` once flushed.

    On PostgreSQL, `lock` takes the feed lock and queues the transaction's one notification,
    in one round trip; the notification is delivered when, and only if, the transaction commits.
    """
    if lock and session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(func.pg_advisory_xact_lock(FEED_LOCK_ID), func.pg_notify(CHANNEL, ""))
        )
    entry = ChangeFeedEntry(
        workspace_id=change.workspace_id,
        entity=change.entity.value,
        entity_id=change.entity_id,
        created_at=at,
    )
    session.add(entry)
    return entry


READ_LIMIT = 1000


def read_since(session: Session, seq: int, limit: int = READ_LIMIT) -> Sequence[Change]:
    rows = session.execute(
        select(ChangeFeedEntry)
        .where(ChangeFeedEntry.seq > seq)
        .order_by(ChangeFeedEntry.seq)
        .limit(limit)
    ).scalars()
    return [Change(r.workspace_id, Entity(r.entity), r.entity_id, r.seq) for r in rows]


def bounds(session: Session) -> tuple[int, int]:
    """The smallest and largest sequence numbers present (0, 0 when the feed is empty)."""
    low, high = session.execute(
        select(func.min(ChangeFeedEntry.seq), func.max(ChangeFeedEntry.seq))
    ).one()
    return int(low or 0), int(high or 0)
