"""The worker loop: claim due outbox messages, hand each to its handler, settle it.

A message is leased to one worker while it is handled, so two workers never deliver the same
message; a worker that dies mid-delivery lets the lease run out and the message is retried.
"""

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial

from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import OutboxMessage
from keyward.domains.connectors.updates import EXPORT
from keyward.domains.outbox import repository as outbox_rows
from keyward.domains.outbox import service as outbox
from keyward.jobs.exports import PermanentFailure, deliver_export
from keyward.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], None]
LEASE = timedelta(minutes=5)
BATCH = 20


def default_handlers(database: Database, settings: Settings) -> dict[str, Handler]:
    sealer = Sealer(settings.server_secret())
    return {EXPORT: partial(deliver_export, database, settings, sealer)}


class Worker:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self._database = database
        self._interval = settings.worker_interval
        self._handlers = dict(handlers or default_handlers(database, settings))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Handle every message due now; returns how many were attempted."""
        now = self._database.clock.now()
        with self._database.transaction() as uow:
            messages = list(outbox_rows.claim(uow.session, self._handlers, now, BATCH, now + LEASE))
            uow.session.expunge_all()
        for message in messages:
            error: str | None = None
            permanent = False
            try:
                self._handlers[message.kind](message)
            except PermanentFailure as failure:
                error, permanent = str(failure), True
            except Exception as failure:
                error = str(failure) or type(failure).__name__
                log.warning("outbox message %s (%s) failed: %s", message.id, message.kind, error)
            with self._database.transaction() as uow:
                outbox.settle(uow, message.id, error, permanent=permanent)
        return len(messages)

    def drain(self) -> int:
        """Run until nothing is due now (tests and `keyward worker --once`)."""
        total = 0
        while handled := self.run_once():
            total += handled
        return total

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="keyward-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("the worker could not claim work; retrying")
                busy = 0
            if not busy:
                self._stop.wait(self._interval)
