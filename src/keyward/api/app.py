"""The management application: routes under /v1, errors as JSON, the change-feed follower."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.types import Scope

from keyward import __version__
from keyward.api import errors
from keyward.api.docs import add_reference_pages
from keyward.api.middleware import BodyLimit, JsonBodies, RequestId
from keyward.api.routes import (
    acquisitions,
    apis,
    audit,
    connectors,
    demo,
    gateways,
    health,
    keys,
    me,
    members,
    offerings,
    organizations,
    usage,
    webhooks,
    workspace,
)
from keyward.api.runtime import Runtime
from keyward.domains.rates import govern
from keyward.settings import Settings
from keyward.verifier import FeedFollower

DESCRIPTION = """
Manage keyward: members and their permissions, organizations, API keys and the audit log.

Authenticate every `/v1` call with an account key, either as `Authorization: Bearer <key>` or
as `X-API-Key: <key>`. Errors are `{"error": {"code", "message", "details"}}`; codes are stable.
"""


_SPEC_UPLOAD = re.compile(r"^/v1/apis(/[^/]+/versions)?/?$")


def body_limit(settings: Settings, scope: Scope) -> int:
    """Spec uploads carry a whole document, JSON-escaped (up to twice its size); others less."""
    if scope["method"] == "POST" and _SPEC_UPLOAD.match(scope["path"]):
        return 2 * settings.max_spec_bytes + settings.max_body_bytes
    return settings.max_body_bytes


def create_app(runtime: Runtime, *, follow_feed: bool = True) -> FastAPI:
    """The app for `runtime`. With `follow_feed`, a background thread tails the change feed."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        follower = None
        if follow_feed:
            follower = FeedFollower(
                runtime.database,
                runtime.verifier,
                interval=runtime.settings.feed_interval,
                usage_interval=runtime.settings.usage_flush_interval,
            )
            follower.start()
        app.state.follower = follower  # /readyz tells the feed's lag by it
        try:
            yield
        finally:
            if follower is not None:
                follower.stop()

    app = FastAPI(
        title="keyward",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served with their assets by `docs`
        redoc_url=None,
    )
    app.state.runtime = runtime
    govern(runtime.database, runtime.settings)
    # Changes committed by this process reach its own cache before the response is sent.
    runtime.database.add_commit_listener(runtime.verifier.apply)
    errors.install(app)
    for module in (
        me,
        members,
        organizations,
        keys,
        apis,
        offerings,
        acquisitions,
        connectors,
        audit,
        webhooks,
        usage,
        workspace,
        gateways,
    ):
        app.include_router(module.router, prefix="/v1")
    app.include_router(health.router)
    add_reference_pages(app)
    if runtime.settings.demo_upstream:
        app.include_router(demo.router)
    app.add_middleware(BodyLimit, limit_for=partial(body_limit, runtime.settings))
    app.add_middleware(JsonBodies)
    app.add_middleware(RequestId)
    return app
