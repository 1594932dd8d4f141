"""A gateway's heartbeat: where it serves and the change-feed position it has applied, in storage.

The follower beats from its own thread: at start, as soon as its position advances (a change
waited for is reported at once, not at the next periodic beat), and every `interval` seconds;
the row is deleted when the gateway stops cleanly. Requests never wait for a beat.
"""

import logging
import os
import socket
import time
from typing import Final

from keyward.core.ids import new_id
from keyward.db import gateways
from keyward.db.engine import Database
from keyward.db.models import GatewayHeartbeat

log = logging.getLogger(__name__)

# Every this many periodic beats, a gateway also deletes the rows of gateways long gone.
PRUNE_EVERY: Final = 100


class Heartbeat:
    """The heartbeat of one gateway process serving at `address` (host:port; set it anew once
    the port is bound, if it was 0)."""

    def __init__(self, database: Database, *, address: str, version: str, interval: float) -> None:
        self._database = database
        self.id = new_id("gw")
        self.address = address
        self._version = version
        self._interval = interval
        self._started_at = database.clock.now()
        self._written: int | None = None
        self._due = 0.0
        self._beats = 0
        self._failing = False

    def due(self, position: int) -> bool:
        """Whether a beat is owed: the position moved since the last one, or its time came."""
        return position != self._written or time.monotonic() >= self._due

    def beat(self, position: int) -> None:
        """Record `position` as applied now; a failure is logged and retried at the next beat."""
        now = self._database.clock.now()
        row = GatewayHeartbeat(
            id=self.id,
            address=self.address,
            version=self._version,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=self._started_at,
            applied_seq=position,
            heartbeat_interval=self._interval,
            last_beat_at=now,
        )
        try:
            with self._database.transaction() as uow:
                gateways.record(uow.session, row)
                if self._beats % PRUNE_EVERY == 0:
                    gateways.prune(uow.session, now)
        except Exception:
            if not self._failing:
                log.warning("could not record this gateway's heartbeat; retrying", exc_info=True)
            self._failing = True
            self._due = time.monotonic() + self._interval
            return
        self._failing = False
        self._beats += 1
        self._written = position
        self._due = time.monotonic() + self._interval

    def stop(self) -> None:
        """Delete this gateway's row: a gateway that stopped is no longer waited for."""
        try:
            with self._database.transaction() as uow:
                gateways.remove(uow.session, self.id)
        except Exception:
            log.warning("could not delete this gateway's heartbeat on stopping", exc_info=True)
