"""Replaying creations made with the same Idempotency-Key by the same caller within 24 hours.

The record is written in the transaction that creates the resource, so a replay exists exactly
when the creation committed. It holds the answer's status and body without any secret: a replay
answers the same, with every secret (a `ShownOnce` field) null and its notice saying why. Two
concurrent first attempts collide on the primary key: the later one is refused with 409
`idempotency_key_in_use`, nothing of it kept, and its retry is a replay.
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from keyward.core.actors import Actor
from keyward.core.errors import InvalidInput
from keyward.db.engine import UnitOfWork
from keyward.db.models import IdempotencyRecord
from keyward.domains.fields import shown_once
from keyward.domains.idempotency import repository

RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REPLAY_NOTICE = (
    "This repeats the answer to an earlier request with the same Idempotency-Key; its secret "
    "was shown only in that first answer and is null here. If it was not saved, replace it "
    "(rotate it, or revoke and create again)."
)

Answer = TypeVar("Answer", bound=BaseModel)


def fingerprint(
    operation: str, body: BaseModel | None, scope: Mapping[str, str] | None = None
) -> bytes:
    """What makes two requests the same one: the operation, the resource it is made under
    (`scope`, e.g. the path's ids) and the body."""
    # Through `json.dumps` (ASCII): a body may hold lone surrogates, which JSON escapes allow
    # but UTF-8 cannot encode.
    parts = [operation, json.dumps(body.model_dump(mode="json")) if body is not None else ""]
    if scope:
        parts.append(json.dumps(dict(scope), sort_keys=True))
    return hashlib.sha256("\n".join(parts).encode()).digest()


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


def withheld(answer_type: type[Answer], body: dict[str, Any]) -> Answer:
    """A recorded answer as a replay shows it: its secrets null, its notice saying why."""
    secrets = shown_once(answer_type)
    shown = {**body, **dict.fromkeys(secrets, None)}
    if secrets and "notice" in answer_type.model_fields:
        shown["notice"] = REPLAY_NOTICE
    return answer_type.model_validate(shown)


def _recorded(stored: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if set(stored) == {"status", "body"}:
        return int(stored["status"]), dict(stored["body"])
    # Recorded before statuses were: only account keys were, always 201.
    return 201, stored


def created_once(
    uow: UnitOfWork,
    actor: Actor,
    idempotency_key: str | None,
    request_hash: bytes,
    answer_type: type[Answer],
    create: Callable[[], tuple[Answer, int]],
) -> tuple[Answer, int, bool]:
    """Run `create` (an answer and its status), or, for a request already made with this
    `idempotency_key`, give the first answer again, without its secrets. Returns the answer,
    its status and whether it is a replay."""
    if idempotency_key is None:
        answer, status = create()
        return answer, status, False
    stored = replay(uow, actor, idempotency_key, request_hash)
    if stored is not None:
        status, body = _recorded(stored)
        return withheld(answer_type, body), status, True
    answer, status = create()
    secrets = shown_once(answer_type)
    kept = answer.model_dump(mode="json", exclude={*secrets, "notice"} if secrets else None)
    remember(uow, actor, idempotency_key, request_hash, {"status": status, "body": kept})
    return answer, status, False
