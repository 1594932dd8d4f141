"""Waking the follower on PostgreSQL: a dedicated connection that LISTENs on the feed's channel."""

import selectors
import socket
from typing import Any

import psycopg
from sqlalchemy import Engine

from keyward.db import feed

# The connection sits idle between notifications: without keepalives a peer that vanished
# silently (no FIN, no RST) would go unnoticed and the follower would only poll.
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class FeedNotifications:
    """One autocommit psycopg connection listening for `feed.CHANNEL`.

    Made with the engine's own connection parameters (host, credentials, `connect_timeout`),
    outside its pool. Its errors are psycopg's and OSError: the caller drops it and reconnects.
    """

    def __init__(self, engine: Engine, interrupt: socket.socket) -> None:
        """Connect and LISTEN; `wait` returns early once `interrupt` is readable."""
        args, params = engine.dialect.create_connect_args(engine.url)
        self._connection = psycopg.connect(*args, **{**KEEPALIVES, **params}, autocommit=True)
        # A selector, not select(): a busy process may hold file descriptors beyond 1024.
        self._selector = selectors.DefaultSelector()
        try:
            self._connection.execute(f"LISTEN {feed.CHANNEL}")
            self._selector.register(self._connection.fileno(), selectors.EVENT_READ)
            self._selector.register(interrupt, selectors.EVENT_READ, data=interrupt)
        except BaseException:
            self.close()
            raise

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for notifications; True when some arrived.

        Returns at once with what was already received, and early, False, when interrupted.
        Raises when the connection is broken.
        """
        if self._drain():
            return True
        ready = self._selector.select(timeout)
        if not ready or any(key.data is not None for key, _ in ready):
            return False
        return self._drain()

    def _drain(self) -> bool:
        """Consume every notification received so far, without waiting; True if there were any."""
        return sum(1 for _ in self._connection.notifies(timeout=0)) > 0

    def close(self) -> None:
        self._selector.close()
        self._connection.close()
