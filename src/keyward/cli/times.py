"""Times and durations as commands take them: ISO-8601 durations (P30D) and RFC 3339 times, or
a duration counted back from now."""

from datetime import datetime, timedelta

from pydantic import AwareDatetime, TypeAdapter

from keyward.domains.fields import Duration

_moments: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
_durations: TypeAdapter[timedelta] = TypeAdapter(Duration)


def duration(text: str | None) -> timedelta | None:
    """An ISO-8601 duration such as P30D; None when not given."""
    return _durations.validate_python(text) if text else None


def moment(text: str | None, now: datetime) -> datetime | None:
    """An RFC 3339 time, or an ISO-8601 duration counted back from now (P7D: a week ago)."""
    if text is None:
        return None
    if text.startswith("P"):
        return now - _durations.validate_python(text)
    return _moments.validate_python(text)
