"""`/v1/keys`: account keys, their lifecycle, their usage, and `POST /v1/keys/verify`."""

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from pydantic import AwareDatetime

from keyward.api.auth import ActorDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.runtime import DatabaseDep, RuntimeDep
from keyward.core.ids import ID_REGEX
from keyward.core.keys import KeyKind, KeyState
from keyward.core.permissions import PermissionSet
from keyward.domains.keys import service
from keyward.domains.keys.schemas import (
    AccountKeyCreate,
    KeyCreated,
    KeyFilter,
    KeyOut,
    KeyUpdate,
    KeyVerifyRequest,
    KeyVerifyResult,
)
from keyward.domains.pagination import Page
from keyward.domains.usage import service as usage
from keyward.domains.usage.schemas import Granularity, KeyUsageOut

router = APIRouter(tags=["keys"])


@router.post("/keys", status_code=201, name="key.create", responses=errors(*WITH_BODY))
def create_key(
    body: AccountKeyCreate,
    actor: ActorDep,
    database: DatabaseDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Retrying with the same value replays the first answer, "
            "without the secret.",
        ),
    ] = None,
) -> KeyCreated:
    """Create an account key. Its permissions must be ones the caller holds.

    The secret is in this response only.
    """
    with database.transaction() as uow:
        created, replayed = service.create_account_key(uow, actor, body, idempotency_key)
    response.headers["Cache-Control"] = "no-store"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return created


@router.get("/keys", name="key.list", responses=errors())
def list_keys(
    actor: ActorDep,
    database: DatabaseDep,
    page: PageDep,
    kind: KeyKind | None = None,
    state: KeyState | None = None,
    acquisition_id: Annotated[str | None, Query(alias="acquisition", pattern=ID_REGEX)] = None,
    creator: Annotated[str | None, Query(pattern=ID_REGEX, description="Creator member id")] = None,
) -> Page[KeyOut]:
    filters = KeyFilter(
        kind=kind, state=state, acquisition_id=acquisition_id, creator_member_id=creator
    )
    with database.transaction(write=False) as uow:
        return service.list_keys(uow, actor, filters, page)


@router.post("/keys/verify", name="key.verify", responses=errors(*WITH_BODY))
def verify_key(body: KeyVerifyRequest, actor: ActorDep, runtime: RuntimeDep) -> KeyVerifyResult:
    """Verify a key of this workspace, optionally that it grants `permissions`.

    Answers 200 either way; `valid` and the stable `code` say what the key is worth. A key of
    another workspace is answered exactly like an unknown one.
    """
    actor.require("keys", "verify")
    verdict = runtime.verifier.verify(body.key, actor.workspace_id)
    return KeyVerifyResult.from_verdict(verdict.requiring(PermissionSet.parse(body.permissions)))


@router.get("/keys/{key_id}", name="key.read", responses=errors(404))
def read_key(key_id: str, actor: ActorDep, database: DatabaseDep) -> KeyOut:
    with database.transaction(write=False) as uow:
        return service.get_key(uow, actor, key_id)


@router.get("/keys/{key_id}/usage", name="key.usage", responses=errors(404))
def read_key_usage(
    key_id: str,
    actor: ActorDep,
    database: DatabaseDep,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Start of the range (RFC 3339); default: 24 hours before `until`."),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="End of the range, exclusive; default: now.")
    ] = None,
    granularity: Annotated[
        Granularity, Query(description="Bucket size; buckets are aligned to UTC.")
    ] = Granularity.HOUR,
) -> KeyUsageOut:
    """How many responses the gateway gave to requests made with the key, by status class
    (`2xx`, `3xx`, `4xx`, `5xx`; rate-limited requests are `4xx`), per minute, hour or day.

    Needs the right to read the key. The range is cut into at most 1500 buckets: a longer one
    is refused with 422 `usage_range_too_large`, and `since` not before `until` with 422
    `usage_range_invalid`. Counts are stored in batches, so the last few seconds may be missing.
    """
    with database.transaction(write=False) as uow:
        return usage.key_usage(
            uow, actor, key_id, since=since, until=until, granularity=granularity
        )


@router.patch("/keys/{key_id}", name="key.update", responses=errors(404, *WITH_BODY))
def update_key(key_id: str, body: KeyUpdate, actor: ActorDep, database: DatabaseDep) -> KeyOut:
    with database.transaction() as uow:
        return service.update_key(uow, actor, key_id, body)


@router.post("/keys/{key_id}/revoke", name="key.revoke", responses=errors(404))
def revoke_key(key_id: str, actor: ActorDep, database: DatabaseDep) -> KeyOut:
    """Revoke a key at once and for good. Revoking a revoked key changes nothing."""
    with database.transaction() as uow:
        return service.revoke_key(uow, actor, key_id)


@router.delete("/keys/{key_id}", status_code=204, name="key.delete", responses=errors(404, 409))
def delete_key(
    key_id: str,
    actor: ActorDep,
    database: DatabaseDep,
    revoke: Annotated[
        bool, Query(description="Revoke an active key and delete it in one step.")
    ] = False,
) -> Response:
    """Delete a revoked key; its audit trail stays. `?revoke=true` revokes it first."""
    with database.transaction() as uow:
        service.delete_key(uow, actor, key_id, revoke=revoke)
    return Response(status_code=204)
