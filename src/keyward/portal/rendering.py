"""Turning templates into pages: Jinja2 with autoescaping always on, and the filters pages use."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from keyward import __version__
from keyward.core.ownership import holds
from keyward.portal.security import CSRF_FIELD, protect

if TYPE_CHECKING:
    from keyward.portal.context import Member

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True, slots=True)
class Section:
    """A part of the portal in the navigation, shown to whoever holds one of `rights`
    (`resource:action`) on anything; no rights: shown to every member."""

    path: str
    label: str
    rights: tuple[tuple[str, str], ...] = ()

    def shown_to(self, member: "Member") -> bool:
        standing = member.signed.actor.standing
        return not self.rights or any(holds(standing, *right) for right in self.rights)


# In the order the navigation shows them.
SECTIONS = (
    Section("/catalogue", "Catalogue"),
    Section("/acquisitions", "Acquisitions", (("acquisitions", "read"),)),
    Section("/keys", "API keys", (("keys", "read"),)),
    Section("/approvals", "Approvals", (("keys", "approve"),)),
    Section("/apis", "APIs", (("apis", "create"), ("apis", "update"))),
    Section(
        "/admin",
        "Admin",
        (("members", "create"), ("members", "update"), ("audit", "read"), ("webhooks", "read")),
    ),
    Section("/account/keys", "Account keys"),
)


def sections_for(member: "Member") -> list[Section]:
    """The sections the signed-in member's navigation shows."""
    return [section for section in SECTIONS if section.shown_to(member)]


def when(value: datetime | None, empty: str = "—") -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else empty


class Pages:
    """The portal's templates. Everything a template prints is escaped unless marked safe,
    and nothing a tenant typed ever is."""

    def __init__(self) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            # Templates ship with the package; they change only with a new version.
            auto_reload=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["when"] = when
        self.environment.globals.update(
            sections_for=sections_for, csrf_field=CSRF_FIELD, version=__version__
        )

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("member", None)
        context.setdefault("current", None)
        html = self.environment.get_template(template).render(**context)
        return protect(HTMLResponse(html, status_code=status))
