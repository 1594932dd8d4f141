"""Replaying creations made with the same Idempotency-Key by the same caller within 24 hours.

The record is written in the transaction that creates the resource, so a replay exists exactly
when the creation committed. Two concurrent first attempts collide on the primary key; the loser's
transaction rolls back whole and the client retries into a replay.
"""

import hashlib
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from keyward.core.actors import Actor
from keyward.core.errors import InvalidInput
from keyward.db.engine import UnitOfWork
from keyward.db.models import IdempotencyRecord
from keyward.domains.idempotency import repository

RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def fingerprint(operation: str, body: BaseModel) -> bytes:
    return hashlib.sha256(f"{operation}\n{body.model_dump_json()}".encode()).digest()


def _caller(actor: Actor) -> str:
    caller = actor.key_id or actor.member_id
    if caller is None:
        raise InvalidInput("Idempotency-Key needs a calling key or member.")
    return caller


def check_key(idempotency_key: str) -> None:
    if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH or not idempotency_key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            code="invalid_idempotency_key",
        )


def replay(
    uow: UnitOfWork, actor: Actor, idempotency_key: str, request_hash: bytes
) -> dict[str, Any] | None:
    """The stored answer for this key, or None when the request is new."""
    check_key(idempotency_key)
    record = repository.get(uow.session, actor.workspace_id, _caller(actor), idempotency_key)
    if record is None:
        return None
    if record.created_at < uow.clock.now() - RETENTION:
        repository.delete(uow.session, record)
        return None
    if record.request_hash != request_hash:
        raise InvalidInput(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new request.",
            code="idempotency_key_reused",
        )
    return dict(record.response)


def remember(
    uow: UnitOfWork,
    actor: Actor,
    idempotency_key: str,
    request_hash: bytes,
    response: dict[str, Any],
) -> None:
    repository.add(
        uow.session,
        IdempotencyRecord(
            workspace_id=actor.workspace_id,
            caller_id=_caller(actor),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            response=response,
            created_at=uow.clock.now(),
        ),
    )
