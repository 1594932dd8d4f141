"""Enqueueing work for after the commit, and settling it: done, retry later, or give up.

Retries back off exponentially (5 s, 10 s, 20 s ... capped at an hour); after `MAX_ATTEMPTS`
the message is marked failed and stays for inspection.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from keyward.core.ids import new_id
from keyward.db.engine import UnitOfWork
from keyward.db.models import OutboxMessage
from keyward.domains.outbox import repository

FIRST_RETRY = timedelta(seconds=5)
LONGEST_WAIT = timedelta(hours=1)
MAX_ATTEMPTS = 10
# A message's status: waiting (first attempt or a retry), delivered, or given up.
PENDING, DONE, FAILED = repository.PENDING, repository.DONE, repository.FAILED


def enqueue(uow: UnitOfWork, workspace_id: str, kind: str, payload: dict[str, Any]) -> str:
    now = uow.clock.now()
    message = OutboxMessage(
        id=new_id("msg"),
        workspace_id=workspace_id,
        kind=kind,
        payload=payload,
        status=repository.PENDING,
        attempts=0,
        next_attempt_at=now,
        locked_until=None,
        last_error=None,
        created_at=now,
        finished_at=None,
    )
    repository.add(uow.session, message)
    return message.id


def claim(
    uow: UnitOfWork, kinds: Iterable[str], limit: int, lease: timedelta
) -> Sequence[OutboxMessage]:
    """Up to `limit` messages of these kinds due now, leased to the caller for `lease`."""
    now = uow.clock.now()
    return repository.claim(uow.session, kinds, now, limit, now + lease)


def release(uow: UnitOfWork, message_ids: list[str]) -> None:
    """Give claimed messages back for the next claim, as if never attempted."""
    if message_ids:
        repository.release(uow.session, message_ids)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    return min(FIRST_RETRY * (1 << max(attempts - 1, 0)), LONGEST_WAIT)


def settle(uow: UnitOfWork, message_id: str, error: str | None, *, permanent: bool = False) -> str:
    """Record how an attempt ended; returns the message's status afterwards. A `permanent`
    failure is given up at once."""
    message = repository.get(uow.session, message_id)
    if message is None:
        return repository.DONE
    now: datetime = uow.clock.now()
    message.locked_until = None
    if error is None:
        message.status = repository.DONE
        message.finished_at = now
    elif permanent or message.attempts >= MAX_ATTEMPTS:
        message.status = repository.FAILED
        message.finished_at = now
        message.last_error = error[:500]
    else:
        message.next_attempt_at = now + backoff(message.attempts)
        message.last_error = error[:500]
    uow.session.flush()
    return message.status


class Backlog(NamedTuple):
    """What the outbox holds: for metrics and operators."""

    pending: int
    """Waiting for delivery: a first attempt or a retry."""
    retrying: int
    """Of those pending, the ones whose delivery failed at least once."""
    failed: int
    """Given up after `MAX_ATTEMPTS` (or a permanent failure)."""


def backlog(uow: UnitOfWork) -> Backlog:
    return Backlog(*repository.counts(uow.session))
