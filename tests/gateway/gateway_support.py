"""A real gateway on a 127.0.0.1 port in front of a real upstream, over a real database."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keyward.db.engine import Database
from keyward.gateway.runner import Gateway, GatewayThread
from tests.conftest import settings_for


@dataclass
class Echo:
    """An upstream answering every request with what it received, as JSON."""

    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def echo_upstream() -> Iterator[Echo]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            received = {
                "method": self.command,
                "target": self.path,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body.decode(),
            }
            seen.append(received)
            payload = json.dumps(received).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Echo(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_gateway(database: Database, **settings: Any) -> Iterator[Gateway]:
    """The gateway on a free port, following `database`'s own commits at once (and the feed)."""
    gateway = Gateway(settings_for(database.url, **settings), database)
    database.add_commit_listener(gateway.apply)
    running = GatewayThread(gateway, "127.0.0.1", 0)
    running.start()
    try:
        yield gateway
    finally:
        running.stop()
