"""SQL for key usage: counts of one key's responses, summed per minute, hour or day (UTC)."""

from datetime import datetime

from sqlalchemy import ColumnElement, func, literal_column, select, type_coerce
from sqlalchemy.orm import Session

from keyward.db.models import KeyUsage
from keyward.db.models.base import UTCDateTime
from keyward.domains.usage.schemas import Granularity

_SQLITE_FORMATS = {
    Granularity.HOUR: "'%Y-%m-%d %H:00:00'",
    Granularity.DAY: "'%Y-%m-%d 00:00:00'",
}


def _bucket(session: Session, granularity: Granularity) -> ColumnElement[datetime]:
    """The start of the bucket each row falls in (literals, not parameters, so that the
    expression is the same text wherever it appears)."""
    if granularity is Granularity.MINUTE:
        return KeyUsage.minute.expression
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), KeyUsage.minute)
        truncated = func.date_trunc(literal_column(f"'{granularity.value}'"), utc)
    else:
        truncated = func.strftime(literal_column(_SQLITE_FORMATS[granularity]), KeyUsage.minute)
    return type_coerce(truncated, UTCDateTime())


def usage(
    session: Session,
    workspace_id: str,
    key_id: str,
    since: datetime,
    until: datetime,
    granularity: Granularity,
) -> list[tuple[datetime, str, int]]:
    """(bucket start, status class, count) for the key's minutes in [since, until), in order."""
    bucket = _bucket(session, granularity).label("bucket")
    rows = session.execute(
        select(bucket, KeyUsage.status_class, func.sum(KeyUsage.count))
        .where(
            KeyUsage.workspace_id == workspace_id,
            KeyUsage.key_id == key_id,
            KeyUsage.minute >= since,
            KeyUsage.minute < until,
        )
        .group_by(bucket, KeyUsage.status_class)
        .order_by(bucket)
    )
    return [(start, status, int(count)) for start, status, count in rows]
