"""Real servers and a raw client for the HTTP engine's tests.

`running_gateway` runs a `GatewayServer` on its own uvloop in a thread; `running_upstream`
runs a scriptable HTTP/1.1 origin on 127.0.0.1 in another; `Client` speaks exact bytes over a
blocking socket and reads answers back without smoothing anything over.
"""

import asyncio
import hashlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from keyward.gateway.http import (
    Decision,
    Forward,
    GatewayServer,
    Handler,
    Limits,
    Reply,
    Request,
    Upstream,
    new_event_loop,
)
from tests.certificates import self_signed_certificate

T = TypeVar("T")

SOCKET_BUFFER = 256 * 1024

FAST = Limits(
    header_timeout=2.0,
    keepalive_timeout=2.0,
    upstream_connect_timeout=1.0,
    upstream_timeout=2.0,
)


# -- running things in threads


class LoopThread:
    """An event loop running in a daemon thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coroutine: Awaitable[T], timeout: float = 5.0) -> T:
        async def wrapped() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@dataclass
class Gateway:
    port: int
    thread: LoopThread
    host: str = "127.0.0.1"

    def connect(self) -> "Client":
        return Client.to(self.port, host=self.host)


@contextmanager
def running_gateway(
    handler: Handler, limits: Limits = FAST, host: str = "127.0.0.1", **options: Any
) -> Iterator[Gateway]:
    thread = LoopThread(new_event_loop())
    server = GatewayServer(handler, limits, **options)
    try:
        thread.call(server.start(host, 0))
        yield Gateway(server.port, thread, host)
    finally:
        with suppress(Exception):
            thread.call(server.close())
        thread.stop()


# -- handlers


@dataclass
class Recorder:
    """What a test handler saw."""

    requests: list[Request] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)


IDENTITY = (b"x-keyward-key-id", b"key_test")
RATE_LIMIT = (b"ratelimit-remaining", b"9")


def proxy(upstream: Upstream, recorder: Recorder | None = None) -> Handler:
    """Forwards everything to `upstream`, adding an identity header, except:

    `/local...` answers 401 itself; `/raise` fails (`/raise-later` after waiting); `/wait` waits
    (until cancelled); `/reply-slow`
    answers after 0.2 s; `/redacted...` logs a target of its own.
    """

    async def handle(request: Request) -> Decision:
        if recorder is not None:
            recorder.requests.append(request)
        path = request.path
        if path.startswith(b"/local"):
            return Reply(
                401,
                [(b"content-type", b"application/json"), (b"www-authenticate", b"ApiKey")],
                b'{"error": "no key"}',
                log={"key_id": "-"},
            )
        if path == b"/raise":
            raise RuntimeError("the handler broke")
        if path == b"/raise-later":
            await asyncio.sleep(0.01)
            raise RuntimeError("the handler broke after waiting")
        if path == b"/wait":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                if recorder is not None:
                    recorder.cancelled.set()
                raise
        if path == b"/reply-slow":
            await asyncio.sleep(0.2)
            return Reply(200, [(b"content-type", b"text/plain")], b"slow")
        log = {"key_id": "key_test"}
        if path.startswith(b"/redacted"):
            log["target"] = path.decode() + "?api_key=REDACTED"
        return Forward(
            upstream,
            request.target,
            [*request.headers, IDENTITY],
            log=log,
            response_headers=[RATE_LIMIT],
        )

    return handle


def gated(upstream: Upstream, gate: threading.Event) -> Handler:
    """Forwards each request once the test sets `gate`."""

    async def handle(request: Request) -> Decision:
        await asyncio.get_running_loop().run_in_executor(None, gate.wait, 5)
        return Forward(upstream, request.target, request.headers)

    return handle


# -- an origin server with scripted behaviour


@dataclass
class Origin:
    """A scriptable upstream; every behaviour is chosen by the request path.

    `/echo` (and any unknown path) answers JSON describing what arrived; `/chunked` streams
    chunks and a trailer; `/until-close` has no framing; `/status/N`; `/delay/S`; `/stall`;
    `/truncate`; `/close`; `/hop`; `/big/N`; `/hold/S` (reads the body S seconds late);
    `/sink` (answers the SHA-256 of a Content-Length body, after `/hold/S/sink`: S seconds late);
    `/early-hints`; `/once` (the next request on that connection is never answered);
    `/close-after` (answers, then closes); `/drip/N/S` (N one-byte chunks S apart);
    `/connection-close`; `/garbage`; `/gzip-coded`;
    `/ws` (101 then echo); `/ws-close` (101, "bye", close); `/unasked-101`.
    """

    port: int
    connections: int = 0
    closed: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    written: dict[int, int] = field(default_factory=dict)
    dropped: threading.Event = field(default_factory=threading.Event)
    server_names: list[str | None] = field(default_factory=list)

    @property
    def upstream(self) -> Upstream:
        return Upstream("http", "127.0.0.1", self.port)


@dataclass
class _Arrived:
    head: bytes
    headers: list[tuple[str, str]]
    body: bytes
    framing: str
    trailers: list[str]


async def _read_request(reader: asyncio.StreamReader) -> _Arrived | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    headers = [
        (name, value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])
    ]
    fields = {name.lower(): value for name, value in headers}
    trailers: list[str] = []
    if fields.get("transfer-encoding", "").lower() == "chunked":
        framing = "chunked"
        pieces = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (line := await reader.readline()) != b"\r\n":
                    trailers.append(line.decode("latin-1").strip())
                break
            pieces.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(pieces)
    elif "content-length" in fields:
        framing = "length"
        body = b""
    else:
        framing = "none"
        body = b""
    return _Arrived(head, headers, body, framing, trailers)


async def _body_by_length(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    length = int({n.lower(): v for n, v in headers}.get("content-length", "0"))
    return await reader.readexactly(length)


def _answer(status: int, body: bytes, *fields: str, reason: str = "OK") -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", *fields, f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@contextmanager
def running_upstream(tls: ssl.SSLContext | None = None) -> Iterator[Origin]:
    thread = LoopThread(asyncio.new_event_loop())
    origin = Origin(0)
    open_writers: set[asyncio.StreamWriter] = set()
    if tls is not None:

        def note_server_name(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
            origin.server_names.append(name)

        tls.sni_callback = note_server_name

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        origin.connections += 1
        connection = origin.connections
        open_writers.add(writer)
        doomed = False
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                if doomed:
                    return
                request_line = request.head.split(b"\r\n", 1)[0].decode("latin-1")
                method, target, _ = request_line.split(" ", 2)
                path = target.split("?", 1)[0]
                if not await _respond(origin, connection, reader, writer, method, target, request):
                    return
                doomed = path == "/once"
        except (ConnectionError, asyncio.IncompleteReadError):
            origin.dropped.set()
        finally:
            open_writers.discard(writer)
            writer.close()
            # Counted once the socket is closed, not merely asked to close: a test that waits for
            # the count may rely on the peer having been told.
            with suppress(Exception):
                async with asyncio.timeout(1):
                    await writer.wait_closed()
            origin.closed += 1

    async def start() -> asyncio.Server:
        listener = socket.socket()
        # Small fixed buffers (no autotuning) keep what the kernel holds of a body in megabytes.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        listener.bind(("127.0.0.1", 0))
        return await asyncio.start_server(serve, sock=listener, limit=2**20, ssl=tls)

    async def stop(server: asyncio.Server) -> None:
        server.close()
        for writer in open_writers:
            writer.close()

    server = thread.call(start())
    origin.port = server.sockets[0].getsockname()[1]
    try:
        yield origin
    finally:
        thread.call(stop(server))
        thread.stop()


async def _respond(
    origin: Origin,
    connection: int,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    target: str,
    request: _Arrived,
) -> bool:
    """Answer one request; False closes the connection."""
    path = target.split("?", 1)[0]
    headers, body, framing = request.headers, request.body, request.framing
    parts = path.strip("/").split("/")
    if path.startswith("/hold/"):
        await asyncio.sleep(float(parts[1]))
    if framing == "length":
        if path.endswith("/sink"):
            body = b""
            digest = hashlib.sha256()
            remaining = int({n.lower(): v for n, v in headers}["content-length"])
            while remaining:
                piece = await reader.read(min(remaining, 1 << 20))
                digest.update(piece)
                remaining -= len(piece)
            writer.write(_answer(200, digest.hexdigest().encode()))
            await writer.drain()
            return True
        body = await _body_by_length(reader, headers)
    record = {
        "method": method,
        "target": target,
        "headers": [[name, value] for name, value in headers],
        "framing": framing,
        "trailers": request.trailers,
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body": body.decode("latin-1") if len(body) < 65536 else None,
        "connection": connection,
    }
    origin.requests.append(record)
    if path.startswith("/delay/"):
        try:
            await asyncio.wait_for(reader.read(1), float(parts[1]))
            origin.dropped.set()  # the gateway went away (or sent more) while we waited
            return False
        except TimeoutError:
            pass
    if path == "/close":
        return False
    if path == "/chunked":
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
            b"Trailer: X-Checksum\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: abc\r\n\r\n"
        )
    elif path == "/until-close":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        await writer.drain()
        return False
    elif path.startswith("/status/"):
        status = int(parts[1])
        writer.write(
            f'HTTP/1.1 {status} Whatever\r\nETag: "v1"\r\nContent-Length: 7\r\n\r\n'.encode()
        )
    elif path == "/stall":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await reader.read(1)  # until the gateway gives up
        return False
    elif path == "/truncate":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()
        return False
    elif path == "/hop":
        writer.write(
            _answer(
                200,
                b"hop",
                "Connection: X-Upstream-Secret, keep-alive",
                "X-Upstream-Secret: s3cret",
                "Keep-Alive: timeout=5",
                "Proxy-Authenticate: Basic",
                "Proxy-Connection: keep-alive",
                "Trailer: X-Checksum",
                "Upgrade: h2c",
                "Via: 1.1 origin",
                "X-Kept: yes",
            )
        )
    elif path.startswith("/big/"):
        size = int(parts[1])
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        piece = b"x" * 65536
        sent = 0
        while sent < size:
            chunk = piece[: min(len(piece), size - sent)]
            writer.write(chunk)
            sent += len(chunk)
            origin.written[connection] = sent
            await writer.drain()
    elif path == "/hop-upper":
        writer.write(
            b"HTTP/1.1 200 OK\r\nCONNECTION: X-SECRET\r\nX-SECRET: s3cret\r\nKEEP-ALIVE: 5\r\n"
            b"VIA: 1.1 origin\r\nCONTENT-LENGTH: 3\r\nX-KEPT: yes\r\n\r\nhop"
        )
    elif path == "/in-pieces":
        # An interim response and the final one, a few bytes per read, split inside line ends.
        answer = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + _answer(
            200, b"pieces", "X-Piece: yes"
        )
        for start in range(0, len(answer), 7):
            writer.write(answer[start : start + 7])
            await writer.drain()
            await asyncio.sleep(0.002)
    elif path == "/leading-crlf":
        writer.write(b"\r\n" + _answer(200, b"after a blank line", "X-Kept: yes"))
    elif path.startswith("/fields/"):
        count, size = int(parts[1]), int(parts[2])
        writer.write(_answer(200, b"many fields", *(f"X-F{n}: {'v' * size}" for n in range(count))))
    elif path == "/endless-head":
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:  # until the gateway hangs up
            writer.write(b"X-More: " + b"v" * 1000 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.001)
    elif path == "/early-hints":
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        writer.write(_answer(200, b"after hints"))
    elif path == "/ws":
        fields = {name.lower(): value for name, value in headers}
        if fields.get("upgrade", "").lower() != "websocket":
            writer.write(_answer(426, b"upgrade required", "Upgrade: websocket"))
            return True
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: test\r\n\r\nhello from upstream"
        )
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        return False
    elif path == "/unasked-101":
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        await writer.drain()
        return False
    elif path == "/ws-close":
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade"
            b"\r\n\r\nbye"
        )
        await writer.drain()
        return False
    elif path.startswith("/drip/"):
        count, interval = int(parts[1]), float(parts[2])
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(count):
            await writer.drain()
            await asyncio.sleep(interval)
            writer.write(b"1\r\n.\r\n")
        writer.write(b"0\r\n\r\n")
    elif path == "/garbage":
        writer.write(b"HTTP/1.1 2000 Nope\r\n\r\n")
        await writer.drain()
        return False
    elif path == "/gzip-coded":
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nnot really gzip")
        await writer.drain()
        return False
    elif path == "/close-after":
        writer.write(_answer(200, b"closing quietly"))
        await writer.drain()
        return False
    elif path == "/connection-close":
        writer.write(_answer(200, b"closing", "Connection: close"))
        await writer.drain()
        return False
    elif path == "/decline-upgrade":
        writer.write(_answer(200, b"no upgrade here"))
    else:
        answer = _answer(200, json.dumps(record).encode(), "Content-Type: application/json")
        writer.write(answer.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" if method == "HEAD" else answer)
    await writer.drain()
    return True


# -- a raw client


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]]
    chunked: bool

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return ", ".join(values) if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A blocking socket that reads HTTP/1.1 responses exactly as they arrive."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    @classmethod
    def to(cls, port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> "Client":
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        sock.settimeout(timeout)
        sock.connect((host, port))
        return cls(sock)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(1 << 20)
        self.buffer += data
        return bool(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a complete line: {self.buffer!r}")
        end = self.buffer.index(b"\r\n")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError(f"closed {size - len(self.buffer)} bytes short")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_response(self, method: str = "GET") -> Response:
        line = self._line().decode("latin-1")
        version, status, reason = ([*line.split(" ", 2), ""])[:3]
        headers = []
        while line := self._line().decode("latin-1"):
            name, _, value = line.partition(":")
            headers.append((name.lower(), value.strip()))
        response = Response(int(status), reason, version, headers, b"", [], False)
        code = int(status)
        if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
            return response
        if response.header("transfer-encoding") == "chunked":
            response.chunked = True
            pieces = []
            while size := int(self._line().split(b";")[0], 16):
                pieces.append(self._exactly(size))
                if self._exactly(2) != b"\r\n":
                    raise ValueError("chunk without CRLF")
            while trailer := self._line().decode("latin-1"):
                name, _, value = trailer.partition(":")
                response.trailers.append((name.lower(), value.strip()))
            response.body = b"".join(pieces)
        elif (length := response.header("content-length")) is not None:
            response.body = self._exactly(int(length))
        else:
            while self._fill():
                pass
            response.body = bytes(self.buffer)
            self.buffer.clear()
        return response

    def request(self, raw: bytes, method: str = "GET") -> Response:
        self.send(raw)
        return self.read_response(method)

    def closed_by_peer(self, timeout: float = 2.0) -> bool:
        """True when the gateway closes the connection (after any buffered answer)."""
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        return True


def get(path: str, *fields: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: gateway.test", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(path: str, body: bytes, *fields: str) -> bytes:
    return get(path, f"Content-Length: {len(body)}", *fields, method="POST") + body


def eventually(check: Callable[[], T], timeout: float = 2.0) -> T:
    """Wait for `check` to return something true, for what other threads do."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.01)


def tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for `localhost` and a client context trusting only its certificate."""
    certificate = self_signed_certificate(directory)
    return certificate.server_context(), certificate.client_context()
