"""Liveness and readiness without authentication."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from keyward.api.runtime import RuntimeDep
from keyward.readiness import ALIVE, StorageCheck, not_ready, readiness
from keyward.verifier import FeedFollower

router = APIRouter(tags=["health"])


@router.get("/healthz", name="health")
def health() -> dict[str, str]:
    """`{"status": "ok"}` while the process answers at all, whatever storage does."""
    return ALIVE


@router.get(
    "/readyz",
    name="readiness",
    responses={503: {"description": "Not ready: `details.not_ready` names each part."}},
)
def ready(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """`{"status": "ready"}` when storage answers within a second and the change feed was read
    to its end within `KEYWARD_READY_MAX_FEED_LAG` seconds; else 503 `not_ready`."""
    state = request.app.state
    check: StorageCheck | None = getattr(state, "storage_check", None)
    if check is None:
        check = state.storage_check = StorageCheck(runtime.database)
    follower: FeedFollower | None = getattr(state, "follower", None)
    lag = None
    if follower is not None:
        lag = max(0.0, runtime.database.clock.timestamp() - follower.current_at)
    status, body = readiness(
        not_ready(
            storage=check.reachable(wait=True),
            feed_lag=lag,
            max_feed_lag=runtime.settings.ready_max_feed_lag,
        )
    )
    return JSONResponse(body, status)
