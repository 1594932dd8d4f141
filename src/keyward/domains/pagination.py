"""Cursor pagination, newest first: `?limit=&cursor=` in, `{"data", "next_cursor"}` out."""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select
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


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = raw.decode("ascii")
    except (binascii.Error, ValueError):
        value = ""
    if not value or not value.isascii() or not value.replace("_", "").isalnum():
        raise InvalidInput(
            "The cursor is not one this API returned; start again without it.",
            code="invalid_cursor",
        )
    return value


Query = TypeVar("Query", bound="Select[*tuple[Any, ...]]")


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
