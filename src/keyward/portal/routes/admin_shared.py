"""What the admin pages share: who may reach them at all, and reading their small forms."""

from datetime import UTC, datetime

from keyward.core.errors import NotFound
from keyward.portal.context import Member
from keyward.portal.rendering import SECTIONS

ADMIN = "/admin"
PAGE_SIZE = 25


def require_admin(member: Member) -> None:
    """Answer "not found" to a member the Admin section is not shown to: to them the admin
    pages do not exist."""
    section = next(section for section in SECTIONS if section.path == ADMIN)
    if not section.shown_to(member):
        raise NotFound("There is no such page.", code="page_not_found")


def utc_time(text: str | None) -> tuple[datetime | None, str | None]:
    """A time from a `datetime-local` field, read as UTC (the pages say so), or the error to
    show next to the field."""
    if not text:
        return None, None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None, "Enter a date and time such as 2026-01-31 09:30."
    return (value if value.tzinfo else value.replace(tzinfo=UTC)), None
