"""Auditing a refusal after the transaction that raised it rolled back: REST, the portal and
the CLI record their refusals through this one function."""

import logging
from collections.abc import Iterable

from keyward.core.actors import Actor
from keyward.core.errors import KeywardError
from keyward.core.ids import looks_like_id
from keyward.db.engine import Database
from keyward.domains.audit import service

log = logging.getLogger(__name__)


def record_refusal(
    database: Database,
    actor: Actor,
    action: str,
    error: KeywardError,
    *,
    named: Iterable[str] = (),
    method: str | None = None,
) -> None:
    """Record that `actor` was refused `action`, in a transaction of its own. The target is the
    first of `named` (what the request named, such as its path's values) that is an id. A
    failure to record is logged, never raised: the caller still answers the refusal."""
    details = {"message": error.message} | ({"method": method} if method else {})
    try:
        with database.transaction() as uow:
            service.record(
                uow,
                actor,
                action,
                target_id=next((value for value in named if looks_like_id(value)), None),
                outcome="refused",
                code=error.code,
                details=details,
            )
    except Exception:
        log.exception("could not audit a refused %s", action)
