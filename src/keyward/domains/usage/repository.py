"""SQL for usage: counts of responses summed per minute, hour or day (UTC), for one key from
its minutes, for an acquisition, offering or API from their hours (or, by minute, from the
minutes of their keys)."""

from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, literal_column, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session

from keyward.db.models import Acquisition, ApiKey, KeyUsage, Offering, UsageHour
from keyward.db.models.base import UTCDateTime
from keyward.domains.usage.schemas import Granularity

_SQLITE_FORMATS = {
    Granularity.HOUR: "'%Y-%m-%d %H:00:00'",
    Granularity.DAY: "'%Y-%m-%d 00:00:00'",
}

Counted = list[tuple[datetime, str, int]]


def _bucket(
    session: Session, moment: InstrumentedAttribute[datetime], granularity: Granularity
) -> ColumnElement[datetime]:
    """The start of the bucket each row falls in (literals, not parameters, so that the
    expression is the same text wherever it appears). `moment` is already a bucket of the
    granularity given when no truncation is needed."""
    if granularity is Granularity.MINUTE or (
        granularity is Granularity.HOUR and moment is UsageHour.hour
    ):
        return moment.expression
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), moment)
        truncated = func.date_trunc(literal_column(f"'{granularity.value}'"), utc)
    else:
        truncated = func.strftime(literal_column(_SQLITE_FORMATS[granularity]), moment)
    return type_coerce(truncated, UTCDateTime())


def _counted(session: Session, query: Select[datetime, str, int]) -> Counted:
    return [(start, status, int(count)) for start, status, count in session.execute(query)]


def usage(
    session: Session,
    workspace_id: str,
    key_id: str,
    since: datetime,
    until: datetime,
    granularity: Granularity,
) -> Counted:
    """(bucket start, status class, count) for the key's minutes in [since, until), in order."""
    bucket = _bucket(session, KeyUsage.minute, granularity).label("bucket")
    return _counted(
        session,
        select(bucket, KeyUsage.status_class, func.sum(KeyUsage.count))
        .where(
            KeyUsage.workspace_id == workspace_id,
            KeyUsage.key_id == key_id,
            KeyUsage.minute >= since,
            KeyUsage.minute < until,
        )
        .group_by(bucket, KeyUsage.status_class)
        .order_by(bucket),
    )


def hourly_usage(
    session: Session,
    workspace_id: str,
    subject_id: str,
    since: datetime,
    until: datetime,
    granularity: Granularity,
) -> Counted:
    """(bucket start, status class, count) for the hours of an acquisition, offering or API
    that start in [since, until), in order; `granularity` is an hour or a day."""
    bucket = _bucket(session, UsageHour.hour, granularity).label("bucket")
    return _counted(
        session,
        select(bucket, UsageHour.status_class, func.sum(UsageHour.count))
        .where(
            UsageHour.workspace_id == workspace_id,
            UsageHour.subject_id == subject_id,
            UsageHour.hour >= since,
            UsageHour.hour < until,
        )
        .group_by(bucket, UsageHour.status_class)
        .order_by(bucket),
    )


def minute_usage(
    session: Session,
    workspace_id: str,
    subject: ColumnElement[bool],
    since: datetime,
    until: datetime,
) -> Counted:
    """(minute, status class, count) for the minutes in [since, until) of the keys that still
    exist and meet `subject` (a condition on acquisitions or offerings), in order."""
    return _counted(
        session,
        select(KeyUsage.minute, KeyUsage.status_class, func.sum(KeyUsage.count))
        .join(ApiKey, ApiKey.id == KeyUsage.key_id)
        .join(Acquisition, Acquisition.id == ApiKey.acquisition_id)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .where(
            KeyUsage.workspace_id == workspace_id,
            subject,
            KeyUsage.minute >= since,
            KeyUsage.minute < until,
        )
        .group_by(KeyUsage.minute, KeyUsage.status_class)
        .order_by(KeyUsage.minute),
    )


def last_used(session: Session, workspace_id: str, subject: ColumnElement[bool]) -> datetime | None:
    """When a key that still exists and meets `subject` was last accepted."""
    return session.scalar(
        select(func.max(ApiKey.last_used_at))
        .join(Acquisition, Acquisition.id == ApiKey.acquisition_id)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .where(ApiKey.workspace_id == workspace_id, subject)
    )
