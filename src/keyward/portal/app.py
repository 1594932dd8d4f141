"""Serving the portal from the management app: its pages at `/`, its assets at `/static/`."""

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from keyward.db.engine import Database
from keyward.portal.context import Portal
from keyward.portal.rendering import STATIC, Pages
from keyward.portal.routes import (
    account_keys,
    acquisitions,
    admin,
    approvals,
    auth,
    catalogue,
    exports,
    home,
    invitations,
    keys,
    passwords,
    provider,
    usage,
)
from keyward.portal.security import CONTENT_SECURITY_POLICY
from keyward.settings import Settings

_ASSET_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    # Revalidated on each use (cheap: ETag), so a new version's assets are never stale.
    (b"cache-control", b"no-cache"),
)


class Assets:
    """The portal's own stylesheets and scripts, shipped inside the package: no CDN."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in _ASSET_HEADERS}
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() not in names),
                    *_ASSET_HEADERS,
                ]
            await send(message)

        await self.files(scope, receive, with_headers)


def install(app: FastAPI, database: Database, settings: Settings) -> None:
    """Serve the portal from `app`, over `database` (the app's own, whose commits reach its
    verifier)."""
    app.state.portal = Portal(database, settings, Pages())
    for module in (
        home,
        auth,
        account_keys,
        passwords,
        invitations,
        catalogue,
        acquisitions,
        exports,
        keys,
        approvals,
        provider,
        usage,
        admin,
    ):
        app.include_router(module.router)
    app.mount("/static", Assets(), name="static")
