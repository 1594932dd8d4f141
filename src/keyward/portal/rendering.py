"""Turning templates into pages: Jinja2 with autoescaping always on, and the filters pages use."""

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from keyward import __version__
from keyward.portal.security import CSRF_FIELD, protect

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

# The sections of the portal, in the order the navigation shows them: (path, label).
SECTIONS = (
    ("/catalogue", "Catalogue"),
    ("/acquisitions", "Acquisitions"),
    ("/account/keys", "Account keys"),
)


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
            sections=SECTIONS, csrf_field=CSRF_FIELD, version=__version__
        )

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("member", None)
        context.setdefault("current", None)
        html = self.environment.get_template(template).render(**context)
        return protect(HTMLResponse(html, status_code=status))
