"""The worker loop: claim due outbox messages, hand each to its handler, settle it; and every
`sweep_interval` seconds, sweep for expiry reminders.

A message is leased to one worker while it is handled, so two workers never deliver the same
message; a worker that dies mid-delivery lets the lease run out and the message is retried.
On PostgreSQL claims skip rows other workers hold; on SQLite workers take turns batch by batch
(jobs.locking), so two worker processes on one file never deliver at the same time either.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import timedelta
from functools import partial

from keyward.db.engine import Database
from keyward.db.models import OutboxMessage
from keyward.domains.connectors.updates import EXPORT, LEGACY_SPEC_UPDATED
from keyward.domains.notifications.events import EMAIL, WEBHOOK
from keyward.domains.outbox import service as outbox
from keyward.domains.passwords.service import LINK_EMAIL
from keyward.jobs import sweeps
from keyward.jobs.exports import deliver_export
from keyward.jobs.locking import TurnLock, lock_path
from keyward.jobs.mail import where_mail_goes
from keyward.jobs.notifications import deliver_email, deliver_webhook, reannounce_spec_update
from keyward.jobs.passwords import deliver_password_link
from keyward.jobs.transports import PermanentFailure
from keyward.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], None]
LEASE = timedelta(minutes=5)
# A batch stops starting deliveries this long before its lease ends: the longest one delivery
# may take (SMTP and HTTP timeouts), so no message is still being sent when another worker may
# claim it again.
LEASE_MARGIN = timedelta(minutes=2)
BATCH = 20


def _destination(message: OutboxMessage) -> str:
    """Where a message goes: its webhook endpoint or connector (e-mails: the one SMTP server)."""
    payload = message.payload
    return f"{message.kind}:{payload.get('endpoint_id') or payload.get('connector_id') or ''}"


def default_handlers(database: Database, settings: Settings) -> dict[str, Handler]:
    return {
        EXPORT: partial(deliver_export, database, settings),
        EMAIL: partial(deliver_email, settings),
        WEBHOOK: partial(deliver_webhook, database, settings),
        LINK_EMAIL: partial(deliver_password_link, database, settings),
        LEGACY_SPEC_UPDATED: partial(reannounce_spec_update, database),
    }


class Worker:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self._database = database
        self._settings = settings
        self._interval = settings.worker_interval
        self._sweep_interval = settings.sweep_interval
        self._concurrency = settings.worker_concurrency
        self._handlers = dict(handlers or default_handlers(database, settings))
        path = lock_path(database)
        self._turns = TurnLock(path) if path is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Handle a batch of the messages due now; returns how many were attempted."""
        turn = self._turns.turn(self._stop) if self._turns is not None else nullcontext(True)
        with turn as mine:
            return self._deliver_batch() if mine else 0

    def _deliver_batch(self) -> int:
        """Deliver a batch: one message per destination, the destinations at once, so a slow
        receiver holds up nobody else's deliveries (and its own next batch at most by the
        deadline of one delivery). The other messages of a destination are given back."""
        with self._database.transaction() as uow:
            messages = list(outbox.claim(uow, self._handlers, BATCH, LEASE))
            uow.session.expunge_all()
        first: dict[str, OutboxMessage] = {}
        for message in messages:
            first.setdefault(_destination(message), message)
        later = [m.id for m in messages if first[_destination(m)] is not m]
        if later:
            with self._database.transaction() as uow:
                outbox.release(uow, later)
        deadline = time.monotonic() + (LEASE - LEASE_MARGIN).total_seconds()
        deliver = partial(self._deliver, deadline=deadline)
        if self._concurrency == 1 or len(first) == 1:
            for message in first.values():
                deliver(message)
        else:
            with ThreadPoolExecutor(self._concurrency, "keyward-delivery") as pool:
                list(pool.map(deliver, first.values()))
        return len(first)

    def _deliver(self, message: OutboxMessage, *, deadline: float) -> None:
        if time.monotonic() > deadline:
            return  # left leased: claimed again when the lease runs out
        error: str | None = None
        permanent = False
        try:
            self._handlers[message.kind](message)
        except PermanentFailure as failure:
            error, permanent = str(failure), True
            log.warning("outbox message %s (%s) given up: %s", message.id, message.kind, error)
        except Exception as failure:
            error = str(failure) or type(failure).__name__
            log.warning("outbox message %s (%s) failed: %s", message.id, message.kind, error)
        with self._database.transaction() as uow:
            outbox.settle(uow, message.id, error, permanent=permanent)

    def drain(self) -> int:
        """Run until nothing is due now (tests and `keyward worker --once`)."""
        total = 0
        while handled := self.run_once():
            total += handled
        return total

    def sweep(self) -> int:
        """Queue the expiry reminders and notices due now; returns how many."""
        return sweeps.sweep(self._database, self._settings)

    def once(self) -> int:
        """Sweep, then deliver everything due: what `keyward worker --once` does."""
        self.sweep()
        return self.drain()

    def start(self) -> None:
        log.info("worker started; %s", where_mail_goes(self._settings))
        self._thread = threading.Thread(target=self._run, name="keyward-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        next_sweep = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self._sweep_interval
                try:
                    self.sweep()
                except Exception:
                    log.exception("the expiry sweep failed; it runs again at the next interval")
            try:
                busy = self.run_once()
            except Exception:
                log.exception("the worker could not claim work; retrying")
                busy = 0
            if not busy:
                self._stop.wait(self._interval)
