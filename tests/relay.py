"""A TCP relay on 127.0.0.1 that a test can cut and restore, to take a server away from clients.

Each accepted connection is relayed to the target by two threads, one per direction. `cut()`
breaks every relayed connection and makes new ones fail at once (accepted, then closed), as a
server that went away would; `restore()` relays again.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy.engine import make_url


class Relay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._is_cut = False
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

    def close(self) -> None:
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
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join()
        with self._lock:
            self._sockets -= {client, upstream}
        client.close()
        upstream.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
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
