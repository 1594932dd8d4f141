"""A TCP relay on 127.0.0.1 that a test can cut, slow down and restore, to take a server away
from clients or make it slow.

Each accepted connection is relayed to the target by a reader and a writer thread per
direction. `cut()` breaks every relayed connection and makes new ones fail at once (accepted,
then closed), as a server that went away would; `restore()` relays again. `slow()` adds latency
to each direction (every chunk is delivered that long after it arrived, as over a long link:
chunks in flight do not add up) and can make a direction drip a few bytes at a time; it applies
to the connections already open as to new ones, and `slow()` without arguments heals both.
"""

import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import Enum

from sqlalchemy.engine import make_url


class Direction(Enum):
    TO_SERVER = "to_server"
    TO_CLIENT = "to_client"


# A dripping direction sends this many pieces a second.
DRIPS_PER_SECOND = 20


class Relay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._is_cut = False
        self._latency = dict.fromkeys(Direction, 0.0)
        self._drip: dict[Direction, int | None] = dict.fromkeys(Direction)
        self._closed = threading.Event()
        self._relays: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url_for(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the relay's."""
        parsed = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)

    def cut(self) -> None:
        with self._lock:
            self._is_cut = True
            relayed = list(self._sockets)
        for sock in relayed:
            # Wakes the pumps blocked on the socket, which then close the connection.
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        with self._lock:
            self._is_cut = False

    def slow(
        self,
        *,
        to_server: float = 0.0,
        to_client: float = 0.0,
        drip_to_server: int | None = None,
        drip_to_client: int | None = None,
    ) -> None:
        """Deliver what goes each way `to_server` and `to_client` seconds late, and, where a
        `drip_*` rate is given, at that many bytes a second. No argument: as fast as it can."""
        self._latency = {Direction.TO_SERVER: to_server, Direction.TO_CLIENT: to_client}
        self._drip = {Direction.TO_SERVER: drip_to_server, Direction.TO_CLIENT: drip_to_client}

    @contextmanager
    def slowed(self, *, to_server: float = 0.0, to_client: float = 0.0) -> Iterator[None]:
        """That much latency each way for the block, none afterwards."""
        self.slow(to_server=to_server, to_client=to_client)
        try:
            yield
        finally:
            self.slow()

    def close(self) -> None:
        self.slow()
        self.cut()
        self._closed.set()
        self._acceptor.join(timeout=5)
        for thread in self._relays:
            thread.join(timeout=5)
        self._server.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            try:
                upstream = None if self._is_cut else socket.create_connection(self._target, 5)
            except OSError:
                upstream = None
            with self._lock:
                if upstream is None or self._is_cut:
                    client.close()
                    if upstream is not None:
                        upstream.close()
                    continue
                upstream.settimeout(None)
                self._sockets |= {client, upstream}
            relay = threading.Thread(target=self._relay, args=(client, upstream), daemon=True)
            relay.start()
            self._relays = [thread for thread in self._relays if thread.is_alive()] + [relay]

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(
            target=self._pump, args=(upstream, client, Direction.TO_CLIENT), daemon=True
        )
        back.start()
        self._pump(client, upstream, Direction.TO_SERVER)
        back.join()
        with self._lock:
            self._sockets -= {client, upstream}
        client.close()
        upstream.close()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: Direction) -> None:
        """Read from `source` as fast as it sends; a writer delivers each chunk when due."""
        chunks: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        writer = threading.Thread(
            target=self._deliver, args=(chunks, source, sink, direction), daemon=True
        )
        writer.start()
        try:
            while data := source.recv(65536):
                chunks.put((time.monotonic() + self._latency[direction], data))
        except OSError:
            pass
        finally:
            chunks.put(None)
            writer.join()

    def _deliver(
        self,
        chunks: "queue.SimpleQueue[tuple[float, bytes] | None]",
        source: socket.socket,
        sink: socket.socket,
        direction: Direction,
    ) -> None:
        try:
            while (chunk := chunks.get()) is not None:
                due, data = chunk
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                while data:
                    # Read again for each piece: healing speeds up a drip under way.
                    rate = self._drip[direction]
                    piece = len(data) if not rate else max(1, rate // DRIPS_PER_SECOND)
                    sink.sendall(data[:piece])
                    data = data[piece:]
                    if rate:
                        time.sleep(piece / rate)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def relay_to(database_url: str) -> Iterator[Relay]:
    """A relay in front of the server of `database_url`, closed afterwards."""
    parsed = make_url(database_url)
    relay = Relay(parsed.host or "127.0.0.1", parsed.port or 5432)
    try:
        yield relay
    finally:
        relay.close()
