"""Cursor pagination, newest first: `?limit=&cursor=` in, `{"data", "next_cursor"}` out.

A list may also be ordered by a nullable time (keys by last use): its cursor then carries that
time and the id, and rows without a time sort as the oldest."""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from keyward.core.errors import InvalidInput

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Row = TypeVar("Row")
Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    data: list[Item]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "The cursor is not one this API returned; start again without it.",
        code="invalid_cursor",
    )


def _decode(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return raw.decode("ascii")
    except (binascii.Error, ValueError):
        return ""


def _is_id(value: str) -> bool:
    return bool(value) and value.isascii() and value.replace("_", "").isalnum()


def decode_cursor(cursor: str) -> str:
    value = _decode(cursor)
    if not _is_id(value):
        raise _bad_cursor()
    return value


Query = TypeVar("Query", bound="Select[*tuple[Any, ...]]")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_TIME = "n"


def encode_timed_cursor(order: str, at: datetime | None, last_id: str) -> str:
    """The cursor after a row at time `at` (None: no time) with id `last_id`, in a list
    ordered by `order`; a cursor of another order is refused."""
    micros = _NO_TIME if at is None else str((at - _EPOCH) // timedelta(microseconds=1))
    return encode_cursor(f"{order}.{micros}.{last_id}")


def decode_timed_cursor(order: str, cursor: str) -> tuple[datetime | None, str]:
    parts = _decode(cursor).split(".")
    if len(parts) == 3 and parts[0] == order and _is_id(parts[2]):
        if parts[1] == _NO_TIME:
            return None, parts[2]
        if parts[1].isdigit():
            return _EPOCH + timedelta(microseconds=int(parts[1])), parts[2]
    raise _bad_cursor()


def paginate_by_time(
    query: Query,
    time_column: InstrumentedAttribute[datetime | None],
    id_column: InstrumentedAttribute[str],
    page: PageRequest,
    *,
    order: str,
    descending: bool,
) -> Query:
    """Order `query` by `time_column` (rows without a time first, as the oldest; `descending`:
    latest first, those last), ties by id in the same direction, and restrict it to the page
    after `page.cursor` (+1 row)."""
    if page.cursor is not None:
        at, last_id = decode_timed_cursor(order, page.cursor)
        query = query.where(_after(time_column, id_column, at, last_id, descending=descending))
    if descending:
        ordering = (time_column.desc().nulls_last(), id_column.desc())
    else:
        ordering = (time_column.asc().nulls_first(), id_column.asc())
    return query.order_by(*ordering).limit(page.limit + 1)


def _after(
    time_column: InstrumentedAttribute[datetime | None],
    id_column: InstrumentedAttribute[str],
    at: datetime | None,
    last_id: str,
    *,
    descending: bool,
) -> ColumnElement[bool]:
    """The rows after (`at`, `last_id`) in the order `paginate_by_time` gives."""
    if descending:
        if at is None:
            return and_(time_column.is_(None), id_column < last_id)
        return or_(
            time_column < at,
            time_column.is_(None),
            and_(time_column == at, id_column < last_id),
        )
    if at is None:
        return or_(time_column.is_not(None), id_column > last_id)
    return or_(time_column > at, and_(time_column == at, id_column > last_id))


def paginate(query: Query, id_column: InstrumentedAttribute[str], page: PageRequest) -> Query:
    """Order `query` newest first and restrict it to the page after `page.cursor` (+1 row)."""
    if page.cursor is not None:
        query = query.where(id_column < decode_cursor(page.cursor))
    return query.order_by(id_column.desc()).limit(page.limit + 1)


def split_page(
    rows: Sequence[Row], page: PageRequest, id_of: Callable[[Row], str]
) -> tuple[list[Row], str | None]:
    """Drop the look-ahead row and say where the next page starts, if there is one."""
    if len(rows) <= page.limit:
        return list(rows), None
    kept = list(rows[: page.limit])
    return kept, encode_cursor(id_of(kept[-1]))
