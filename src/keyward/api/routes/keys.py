"""`/v1/keys`: account keys, their lifecycle, their usage, and `POST /v1/keys/verify`;
`/v1/key-requests`: renewals and revocations waiting for an approver."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from keyward.api.auth import ActorDep, refuse_unconfirmed
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.routes.gateways import enforcement, enforcement_header
from keyward.api.runtime import DatabaseDep, Runtime, RuntimeDep
from keyward.core.ids import ID_REGEX
from keyward.core.keys import KeyKind, KeyState
from keyward.core.permissions import PermissionSet
from keyward.db.engine import UnitOfWork
from keyward.domains.fields import Duration
from keyward.domains.keys import requests, service
from keyward.domains.keys.schemas import (
    AccountKeyCreate,
    KeyBulkDelete,
    KeyBulkDeleted,
    KeyChanged,
    KeyCreated,
    KeyFilter,
    KeyOut,
    KeyRenew,
    KeyRequestDecided,
    KeyRequestDecision,
    KeyRequestFilter,
    KeyRequestOut,
    KeyRevoke,
    KeyRotate,
    KeyRotated,
    KeySort,
    KeyUpdate,
    KeyVerifyRequest,
    KeyVerifyResult,
    RequestStatus,
)
from keyward.domains.pagination import Page
from keyward.domains.usage import service as usage
from keyward.domains.usage.schemas import Granularity, KeyUsageOut

router = APIRouter(tags=["keys"])


@router.post("/keys", status_code=201, name="key.create", responses=errors(429, *WITH_BODY))
def create_key(
    body: AccountKeyCreate, actor: ActorDep, creation: CreationDep, response: Response
) -> KeyCreated:
    """Create an account key. Its permissions must be ones the caller holds, at least on some
    resources (`apis:update` from a member who may edit two APIs): the key acts only where its
    creator may, now and later. A permission held on nothing: 403 `permission_escalation`.

    The secret is in this response only.
    """
    created = creation.run(body, lambda uow: service.issue_account_key(uow, actor, body))
    response.headers["Cache-Control"] = "no-store"
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
    api_id: Annotated[
        str | None,
        Query(alias="api", pattern=ID_REGEX, description="Only keys of this API's acquisitions."),
    ] = None,
    expiring_within: Annotated[
        Duration | None,
        Query(
            description="Only unrevoked keys, not yet expired, that expire within this long "
            "from now (ISO-8601, e.g. P30D)."
        ),
    ] = None,
    unused_for: Annotated[
        Duration | None,
        Query(
            description="Only keys neither used nor created for at least this long "
            "(ISO-8601, e.g. P30D)."
        ),
    ] = None,
    sort: Annotated[
        KeySort,
        Query(
            description="-created_at: newest first (the default); last_used_at: least recently "
            "used first, keys never used before all others; -last_used_at: most recently used "
            "first. A next_cursor continues the order it came from."
        ),
    ] = KeySort.NEWEST,
) -> Page[KeyOut]:
    filters = KeyFilter(
        kind=kind,
        state=state,
        acquisition_id=acquisition_id,
        creator_member_id=creator,
        api_id=api_id,
        expiring_within=expiring_within,
        unused_for=unused_for,
    )
    with database.transaction(write=False) as uow:
        return service.list_keys(uow, actor, filters, page, sort)


@router.post("/keys/verify", name="key.verify", responses=errors(*WITH_BODY, 503))
def verify_key(body: KeyVerifyRequest, actor: ActorDep, runtime: RuntimeDep) -> KeyVerifyResult:
    """Verify a key of this workspace, optionally that it grants `permissions`.

    Answers 200 whether the key is good or not; `valid` and the stable `code` say what the key
    is worth. A key of another workspace, or one the caller's `keys:verify` does not reach (a
    provider verifies the keys of its own APIs), is answered exactly like an unknown one. While
    storage
    is out of reach, a key the cache cannot vouch for is neither: 503
    `verification_unavailable` with `Retry-After`.
    """
    verdict = service.verdict_for(actor, runtime.verifier.verify(body.key, actor.workspace_id))
    refuse_unconfirmed(verdict)
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


def _accepted(
    result: KeyOut | KeyRequestOut, response: Response, runtime: Runtime, uow: UnitOfWork
) -> KeyChanged | KeyRequestOut:
    """A change the policy sends to an approver is answered 202 with the pending request; one
    made is answered once every live gateway enforces it, or the wait is over."""
    if isinstance(result, KeyRequestOut):
        response.status_code = 202
        return result
    return KeyChanged(**dict(result), enforcement=enforcement(runtime, uow))


_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(404, 409, 429, *WITH_BODY),
    200: {
        "model": KeyChanged,
        "description": "Done: the key as it is now, and whether every live gateway enforces "
        "the change (`enforcement`).",
    },
    202: {
        "model": KeyRequestOut,
        "description": "The API's policy wants an approver: the pending key request.",
    },
}


@router.post("/keys/{key_id}/renew", name="key.renew", responses=_CHANGE_RESPONSES)
def renew_key(
    key_id: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    response: Response,
    body: KeyRenew | None = None,
) -> KeyChanged | KeyRequestOut:
    """Extend a key's validity by the policy's lifetime (or the shorter `expires_in`) from now;
    the secret stays the same. 409 `key_never_expires`, `key_revoked` or `key_request_pending`
    when there is nothing to renew or a request is already waiting. A new expiry sooner than
    the old one is answered once every live gateway enforces it (`enforcement`)."""
    body = body or KeyRenew()
    with runtime.database.transaction() as uow:
        result = service.renew_key(
            uow, actor, key_id, body.expires_in, body.reason, allow_request=True
        )
    return _accepted(result, response, runtime, uow)


@router.post("/keys/{key_id}/rotate", name="key.rotate", responses=errors(404, 409, *WITH_BODY))
def rotate_key(
    key_id: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    response: Response,
    body: KeyRotate | None = None,
) -> KeyRotated:
    """A new secret for the same key: id, name, rights and expiry stay. The old secret keeps
    working for `grace`, until `previous_key_expires_at`; a grace longer than the policy's
    maximum is refused with 422 `grace_too_long`, which names the maximum.

    The new secret is in this response only, and with the connectors that deliver the key,
    which deliver it again (the notice names them). Answered once every live gateway knows
    the new secret and the old one's end (`enforcement`).
    """
    body = body or KeyRotate()
    with runtime.database.transaction() as uow:
        rotated = service.rotate_key(uow, actor, key_id, body.grace, sealer=runtime.sealer)
    response.headers["Cache-Control"] = "no-store"
    return KeyRotated(**dict(rotated), enforcement=enforcement(runtime, uow))


@router.post("/keys/{key_id}/revoke", name="key.revoke", responses=_CHANGE_RESPONSES)
def revoke_key(
    key_id: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    response: Response,
    body: KeyRevoke | None = None,
) -> KeyChanged | KeyRequestOut:
    """Revoke a key at once and for good; revoking a revoked key changes nothing.

    Answered once every live gateway refuses the key, waiting at most
    KEYWARD_ENFORCEMENT_WAIT: `enforcement.enforced_at` says when, or `enforcement.lagging`
    names the gateways that had not applied it yet."""
    body = body or KeyRevoke()
    with runtime.database.transaction() as uow:
        result = service.revoke_key(uow, actor, key_id, body.reason, allow_request=True)
    return _accepted(result, response, runtime, uow)


@router.delete("/keys/{key_id}", status_code=204, name="key.delete", responses=errors(404, 409))
def delete_key(
    key_id: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    revoke: Annotated[
        bool, Query(description="Revoke an active key and delete it in one step.")
    ] = False,
) -> Response:
    """Delete a revoked key; its audit trail stays. `?revoke=true` revokes it first, where the
    policy needs no approval for that. Never a key with a pending request (409
    `key_request_pending`).

    Answered once every live gateway has applied the deletion (at most
    KEYWARD_ENFORCEMENT_WAIT): the `Keyward-Enforcement` header holds the receipt as JSON,
    `{"enforced_at", "gateways", "lagging"}`."""
    with runtime.database.transaction() as uow:
        service.delete_key(uow, actor, key_id, revoke=revoke)
    return Response(status_code=204, headers=enforcement_header(enforcement(runtime, uow)))


@router.post("/keys/bulk-delete", name="key.bulk_delete", responses=errors(409, *WITH_BODY))
def bulk_delete_keys(body: KeyBulkDelete, actor: ActorDep, runtime: RuntimeDep) -> KeyBulkDeleted:
    """Delete the revoked keys among `ids`; others are reported skipped, one result per key.
    If any has a pending request nothing is deleted: 409 `key_request_pending` naming them.
    Answered once every live gateway has applied the deletions (`enforcement`)."""
    with runtime.database.transaction() as uow:
        deleted = service.bulk_delete(uow, actor, body.ids)
    return deleted.model_copy(update={"enforcement": enforcement(runtime, uow)})


@router.get("/key-requests", name="key_request.list", responses=errors())
def list_key_requests(
    actor: ActorDep,
    database: DatabaseDep,
    page: PageDep,
    status: RequestStatus | None = None,
    key_id: Annotated[str | None, Query(alias="key", pattern=ID_REGEX)] = None,
    decidable: Annotated[
        bool,
        Query(
            description="Only the requests on the APIs the caller approves (an approver's "
            "inbox with status=pending; their own among them, which another approver "
            "decides). 403 to a caller who approves nothing."
        ),
    ] = False,
) -> Page[KeyRequestOut]:
    """Key requests, newest first: all with `keys:read`; otherwise those on the APIs the
    caller approves and those they made."""
    with database.transaction(write=False) as uow:
        return requests.list_requests(
            uow,
            actor,
            KeyRequestFilter(status=status, key_id=key_id, decidable=decidable),
            page,
        )


@router.get("/key-requests/{request_id}", name="key_request.read", responses=errors(404))
def read_key_request(request_id: str, actor: ActorDep, database: DatabaseDep) -> KeyRequestOut:
    with database.transaction(write=False) as uow:
        return requests.get_request(uow, actor, request_id)


@router.post(
    "/key-requests/{request_id}/approve",
    name="key_request.approve",
    responses=errors(404, 409, *WITH_BODY),
)
def approve_key_request(
    request_id: str, actor: ActorDep, runtime: RuntimeDep, body: KeyRequestDecision | None = None
) -> KeyRequestDecided:
    """Apply the renewal or revocation (needs `keys:approve` on the API; never on one's own
    request). If the key changed meanwhile the request is `closed` and `outcome` says why.
    Answered once every live gateway applied it (`enforcement`)."""
    with runtime.database.transaction() as uow:
        decided = requests.approve(uow, actor, request_id, (body or KeyRequestDecision()).comment)
    return KeyRequestDecided(**dict(decided), enforcement=enforcement(runtime, uow))


@router.post(
    "/key-requests/{request_id}/reject",
    name="key_request.reject",
    responses=errors(404, 409, *WITH_BODY),
)
def reject_key_request(
    request_id: str, actor: ActorDep, database: DatabaseDep, body: KeyRequestDecision | None = None
) -> KeyRequestOut:
    """Refuse the request; the key stays as it is."""
    with database.transaction() as uow:
        return requests.reject(uow, actor, request_id, (body or KeyRequestDecision()).comment)


@router.post(
    "/key-requests/{request_id}/cancel", name="key_request.cancel", responses=errors(404, 409)
)
def cancel_key_request(request_id: str, actor: ActorDep, database: DatabaseDep) -> KeyRequestOut:
    """The requester withdraws a pending request."""
    with database.transaction() as uow:
        return requests.cancel(uow, actor, request_id)
