"""The audit log as CSV: the filtered events, newest first, read a batch at a time so an export
of any size is streamed, every cell safe to open in a spreadsheet."""

import csv
import io
import json
from collections.abc import Iterator

from keyward.core.actors import Actor
from keyward.db.engine import Database
from keyward.domains.audit import service
from keyward.domains.audit.schemas import AuditEventOut, AuditFilter
from keyward.domains.pagination import MAX_LIMIT, Page, PageRequest

COLUMNS = (
    "id",
    "occurred_at",
    "actor_type",
    "actor_member_id",
    "actor_key_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "code",
    "ip",
    "user_agent",
    "request_id",
    "details",
)
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPE = "text/csv; charset=utf-8"


def safe_cell(value: object) -> str:
    """The cell's text, with a `'` before a leading character that would start a formula."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _row(event: AuditEventOut) -> list[str]:
    values = event.model_dump()
    values["occurred_at"] = event.occurred_at
    values["details"] = json.dumps(event.details, sort_keys=True, ensure_ascii=False)
    return [safe_cell(values[column]) for column in COLUMNS]


def _read(
    database: Database, actor: Actor, filters: AuditFilter, page: PageRequest
) -> Page[AuditEventOut]:
    with database.transaction(write=False) as uow:
        return service.list_events(uow, actor, filters, page)


def _text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_export(
    database: Database, actor: Actor, filters: AuditFilter, batch: int = MAX_LIMIT
) -> Iterator[str]:
    """The CSV text of the events `filters` keep, newest first, header first. The first batch
    is read before this returns, so a refusal (no `audit:read` across the workspace) is raised
    here and not in the middle of a response; each later batch is read in its own short
    transaction."""
    first = _read(database, actor, filters, PageRequest(batch, None))

    def lines() -> Iterator[str]:
        page = first
        yield _text([list(COLUMNS), *(_row(event) for event in page.data)])
        while page.next_cursor is not None:
            page = _read(database, actor, filters, PageRequest(batch, page.next_cursor))
            yield _text([_row(event) for event in page.data])

    return lines()
