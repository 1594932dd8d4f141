"""The management API's reference pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), with every
asset served by keyward itself: self-hosted installs are often offline, and a page that loads
its scripts from a CDN is blank there.

Swagger UI's and ReDoc's bundles come from the `fastapi-offline` package (pinned in the lock
files); the pages and the script that starts Swagger UI are keyward's own, so that no inline
script is needed and the pages' Content-Security-Policy allows scripts from keyward only.
"""

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = "/docs-assets"
_VENDOR = Path(str(files("fastapi_offline") / "static"))
_OWN = Path(__file__).resolve().parent / "docs_assets"

# The bundles set styles inline and ReDoc's search runs in a worker made from a blob; scripts,
# connections and everything else stay on keyward's own origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

_SWAGGER_UI = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – API reference</title>
<link rel="stylesheet" href="{assets}/vendor/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{assets}/vendor/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-start.js"></script>
</body>
</html>
"""

_REDOC = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – API reference</title>
</head>
<body>
<redoc spec-url="{spec}"></redoc>
<script src="{assets}/vendor/redoc.standalone.js"></script>
</body>
</html>
"""


def add_reference_pages(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` for `app`'s OpenAPI document, with their assets."""
    spec = app.openapi_url
    if spec is None:
        return
    app.mount(f"{ASSETS}/vendor", StaticFiles(directory=_VENDOR), name="docs-vendor")
    app.mount(ASSETS, StaticFiles(directory=_OWN), name="docs-assets")
    fields = {"title": app.title, "assets": ASSETS, "spec": spec}

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER_UI.format(**fields), headers=_HEADERS)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC.format(**fields), headers=_HEADERS)
