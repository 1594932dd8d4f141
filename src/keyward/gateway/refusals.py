"""Known keys and flooding clients the gateway refuses, as security events in the audit log,
at a bounded rate.

A refused key keyward knows (revoked, expired, rotated away, disabled, for another API, not
entitled to the operation) may be a leaked or forgotten one still in use: each is recorded as an
audit event `gateway.request` with outcome `refused`, its code and the key as target. A client
address or network refused lookups for presenting too many unknown keys
(`too_many_failed_keys`) is recorded the same way, with the address or prefix as target (type
`client`). A client retrying in a loop must not fill the log or hold storage: per process, one
event per key (or client) and code per `INTERVAL` seconds is recorded, the repeats meanwhile
are counted into the next event (`details.refused_since_last`), and events are written by one
background write at a time.
"""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from keyward.core.actors import Actor, Via
from keyward.core.ownership import NOBODY
from keyward.db.engine import Database
from keyward.domains.audit import service as audit

log: Final = logging.getLogger("keyward.gateway")

INTERVAL: Final = 60.0
ACTION: Final = "gateway.request"
# How many (key, code) pairs are remembered before those older than `INTERVAL` are forgotten.
_REMEMBERED: Final = 10_000


@dataclass(frozen=True, slots=True)
class Refusal:
    workspace_id: str
    key_id: str  # the key refused, or the client address or prefix (`client` set)
    code: str
    status: int
    api_id: str
    target: str
    refused_since_last: int
    client: str = ""  # the address a refused client's request came from


class RefusalLog:
    """Chooses which refusals are recorded (`note`) and hands them to the writer (`take`)."""

    def __init__(
        self, interval: float = INTERVAL, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._repeats: dict[tuple[str, str], int] = {}
        self._pending: list[Refusal] = []

    def note(self, status: int, fields: Mapping[str, str]) -> bool:
        """Note a refusal from the exchange's log fields; whether one is now waiting to be
        written."""
        key_id = fields.get("refused_key_id") or fields.get("refused_client")
        code = fields.get("refusal")
        workspace_id = fields.get("workspace_id")
        if not key_id or not code or not workspace_id:
            return False
        now = self._clock()
        pair = (key_id, code)
        last = self._last.get(pair)
        if last is not None and now - last < self._interval:
            self._repeats[pair] = self._repeats.get(pair, 0) + 1
            return False
        if len(self._last) >= _REMEMBERED:
            self._forget_before(now - self._interval)
        self._last[pair] = now
        self._pending.append(
            Refusal(
                workspace_id,
                key_id,
                code,
                status,
                fields.get("api_id", ""),
                fields.get("target", ""),
                self._repeats.pop(pair, 0),
                fields.get("client_address", "") if "refused_client" in fields else "",
            )
        )
        return True

    def take(self) -> list[Refusal]:
        taken, self._pending = self._pending, []
        return taken

    def _forget_before(self, moment: float) -> None:
        for pair in [pair for pair, at in self._last.items() if at < moment]:
            del self._last[pair]
            self._repeats.pop(pair, None)


def record_refusals(database: Database, refusals: list[Refusal]) -> None:
    """Write `refusals` as audit events in one transaction; a failure is logged, not raised
    (the requests were answered long ago; the next refusal of the key is recorded again)."""
    if not refusals:
        return
    try:
        with database.transaction() as uow:
            for refusal in refusals:
                if refusal.client:
                    actor = Actor(refusal.workspace_id, None, None, NOBODY, Via.KEY, refusal.client)
                else:
                    actor = Actor(refusal.workspace_id, None, refusal.key_id, NOBODY, Via.KEY)
                details: dict[str, Any] = {
                    "api_id": refusal.api_id,
                    "target": refusal.target,
                    "status": refusal.status,
                    "refused_since_last": refusal.refused_since_last,
                }
                audit.record(
                    uow,
                    actor,
                    ACTION,
                    target_type="client" if refusal.client else "key",
                    target_id=refusal.key_id,
                    outcome="refused",
                    code=refusal.code,
                    details=details,
                )
    except Exception:
        log.warning("could not record %d refused key(s) in the audit log", len(refusals))
