"""Authenticating management calls by account key: `Authorization: Bearer` or `X-API-Key`."""

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from keyward.api.runtime import RuntimeDep
from keyward.core.actors import Actor, Via
from keyward.core.errors import KeywardError, Unauthenticated, Unavailable
from keyward.core.keys import KeyKind
from keyward.core.verdicts import MISSING, UNKNOWN, KeyCode, Verdict

REALM = "keyward"
CHALLENGES = (
    f'Bearer realm="{REALM}"',
    f'ApiKey realm="{REALM}", in="header", name="X-API-Key"',
)

bearer_scheme = HTTPBearer(
    auto_error=False, description="An account key: `Authorization: Bearer kw_…`"
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An account key: `X-API-Key: kw_…`"
)


def _actor(request: Request, verdict: Verdict, workspace_id: str) -> Actor:
    return Actor(
        workspace_id,
        verdict.member_id,
        verdict.key_id,
        verdict.standing,
        Via.KEY,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request.state.request_id,
    )


def refuse_unconfirmed(verdict: Verdict) -> None:
    """Raise 503 `verification_unavailable` (with Retry-After) for a key the verifier could
    neither confirm nor refuse: storage out of reach or slower than `storage_timeout`, too many
    keys being read already, and the cache unable to vouch for it. Retrying later helps."""
    if verdict.code is KeyCode.VERIFICATION_UNAVAILABLE:
        raise Unavailable(verdict.message, code=verdict.code.value)


def authenticate(
    request: Request,
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Actor:
    token = bearer.credentials if bearer is not None else None
    if token is not None and api_key is not None and token != api_key:
        raise KeywardError(
            "Two different keys were sent (Authorization and X-API-Key); send one.",
            code="ambiguous_credentials",
        )
    secret = token or api_key
    verdict = runtime.verifier.verify(secret) if secret else MISSING
    if verdict.valid and verdict.kind != KeyKind.ACCOUNT:
        # Acquisition keys consume APIs through the gateway; they do not manage keyward.
        verdict = UNKNOWN
    if verdict.workspace_id is not None:
        # Known keys act, or are refused, in their workspace; refusals are audited there.
        request.state.actor = _actor(request, verdict, verdict.workspace_id)
    refuse_unconfirmed(verdict)
    if not verdict.valid:
        raise Unauthenticated(verdict.message, code=verdict.code.value)
    actor: Actor = request.state.actor
    return actor


ActorDep = Annotated[Actor, Depends(authenticate)]
