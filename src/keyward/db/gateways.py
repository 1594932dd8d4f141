"""Gateway heartbeats in storage: written by each gateway process, read by whoever waits for them.

A gateway counts as live while its last beat is younger than `LIVE_BEATS` of its own intervals;
rows silent for `PRUNE_AFTER` are deleted by the next gateway that starts or beats for long.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from keyward.db.models import ChangeFeedEntry, GatewayHeartbeat

# A gateway silent for this many of its heartbeat intervals is gone or stuck: not waited for.
LIVE_BEATS: Final = 10
# Rows of gateways silent this long are deleted; until then they are listed as not live.
PRUNE_AFTER: Final = timedelta(hours=1)


def is_live(row: GatewayHeartbeat, now: datetime) -> bool:
    return row.last_beat_at >= now - timedelta(seconds=LIVE_BEATS * row.heartbeat_interval)


def record(session: Session, row: GatewayHeartbeat) -> None:
    """Write `row` as its gateway's beat: its position and time, or the whole row if it is new
    (or was pruned meanwhile, as a process stopped for an hour finds)."""
    updated = session.execute(
        update(GatewayHeartbeat)
        .where(GatewayHeartbeat.id == row.id)
        .values(address=row.address, applied_seq=row.applied_seq, last_beat_at=row.last_beat_at)
        .execution_options(synchronize_session=False)
    )
    if getattr(updated, "rowcount", 0) == 0:
        session.add(row)


def remove(session: Session, gateway_id: str) -> None:
    session.execute(delete(GatewayHeartbeat).where(GatewayHeartbeat.id == gateway_id))


def prune(session: Session, now: datetime) -> int:
    """Delete the rows of gateways silent for `PRUNE_AFTER`; returns how many."""
    deleted = session.execute(
        delete(GatewayHeartbeat).where(GatewayHeartbeat.last_beat_at < now - PRUNE_AFTER)
    )
    return int(getattr(deleted, "rowcount", 0) or 0)


def all_gateways(session: Session) -> Sequence[GatewayHeartbeat]:
    """Every gateway row, live or not, in the order they started."""
    return (
        session.execute(
            select(GatewayHeartbeat).order_by(GatewayHeartbeat.started_at, GatewayHeartbeat.id)
        )
        .scalars()
        .all()
    )


def live_gateways(session: Session, now: datetime) -> list[GatewayHeartbeat]:
    """The rows of the gateways live at `now` (a handful: every row is read)."""
    return [row for row in all_gateways(session) if is_live(row, now)]


def first_unapplied_at(session: Session, applied: int) -> datetime | None:
    """When the oldest change after position `applied` was recorded (None: there is none)."""
    return session.execute(
        select(ChangeFeedEntry.created_at)
        .where(ChangeFeedEntry.seq > applied)
        .order_by(ChangeFeedEntry.seq)
        .limit(1)
    ).scalar_one_or_none()


def last_seq(session: Session) -> int:
    return int(session.execute(select(func.max(ChangeFeedEntry.seq))).scalar_one() or 0)
