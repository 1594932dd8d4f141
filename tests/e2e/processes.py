"""Real keyward processes for end-to-end tests: `keyward serve` servers and CLI invocations."""

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

KEYWARD = str(Path(sys.executable).with_name("keyward"))


# Ports a process of these tests is told to bind: below the kernel's ephemeral range, where
# servers bound to port 0 and outgoing connections land, one block per xdist worker. A port the
# kernel gave someone else meanwhile could otherwise receive another test's readiness probe.
_PORT_BLOCK = 1500
_first_port = 20000 + _PORT_BLOCK * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
_ports = itertools.cycle(range(_first_port, _first_port + _PORT_BLOCK))


def free_port() -> int:
    """A port nothing listens on now, from this worker's own block."""
    for port in _ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("unreachable: the cycle never ends")


def environment(database_url: str, **extra: str) -> dict[str, str]:
    """What a keyward process of these tests runs with; its server secret is a fixed one unless
    `extra` names a KEYWARD_SECRET_KEY_FILE."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    if "KEYWARD_SECRET_KEY_FILE" not in extra:
        env["KEYWARD_SECRET_KEY"] = "the end-to-end tests' server secret"
    env.update(
        {
            "KEYWARD_DATABASE_URL": database_url,
            "KEYWARD_FEED_INTERVAL": "0.1",
            # A machine running the whole suite at once can take longer than the default
            # deadline to read a key; the tests of the deadline set their own.
            "KEYWARD_STORAGE_TIMEOUT": "5",
            # Tests make many keys, requests and invitations in a moment; the tests of the
            # management rates set their own.
            "KEYWARD_KEYS_CREATED_PER_MINUTE": "0",
            "KEYWARD_KEY_REQUESTS_PER_HOUR": "0",
            "KEYWARD_INVITATIONS_PER_HOUR": "0",
            # Receivers and upstreams of these tests listen on loopback, over plain HTTP.
            "KEYWARD_EGRESS_ALLOW": "127.0.0.0/8,::1",
            "KEYWARD_EGRESS_ALLOW_HTTP": "true",
            "KEYWARD_UPSTREAM_ALLOW": "127.0.0.0/8,::1",
            **extra,
        }
    )
    return env


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> Any:
        return json.loads(self.stderr)


def cli(database_url: str, *args: str, stdin: str | None = None, **env: str) -> CliResult:
    """Run `keyward ARGS...` as a real process against `database_url`, as a script does: its
    standard input is `stdin`, else empty, never a terminal (where some commands would ask)."""
    done = subprocess.run(
        [KEYWARD, *args],
        env=environment(database_url, **env),
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@dataclass
class Server:
    url: str
    gateway_url: str
    log: Path
    pid: int

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


@contextmanager
def serve(
    database_url: str,
    log_dir: Path,
    port: int | None = None,
    gateway_port: int | None = None,
    *,
    part: str = "all",
    **env: str,
) -> Iterator[Server]:
    """`keyward serve` (API, gateway and worker; `part="api"`: the API alone) on `port` and
    `gateway_port` (default: free ones), from when both accept connections until the block ends;
    its output lands in a log file.
    Free ports are chosen before the processes bind them, so another test may take one
    meanwhile: then the start is tried again on others."""
    attempts = 1 if port or gateway_port else 3
    with ExitStack() as stack:
        for attempt in range(1, attempts + 1):
            api_port, api_gateway_port = port or free_port(), gateway_port or free_port()
            log = log_dir / f"serve-{api_port}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [
                        KEYWARD,
                        "serve",
                        part,
                        "--port",
                        str(api_port),
                        "--gateway-port",
                        str(api_gateway_port),
                    ],
                    env=environment(database_url, **env),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            server = Server(
                f"http://127.0.0.1:{api_port}",
                f"http://127.0.0.1:{api_gateway_port}",
                log,
                process.pid,
            )

            def healthy(server: Server = server, gateway_port: int = api_gateway_port) -> bool:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code != 200:
                    return False
                if part == "all":  # and its gateway accepts connections
                    socket.create_connection(("127.0.0.1", gateway_port), timeout=1).close()
                return True

            try:
                stack.enter_context(_running(process, "keyward serve", healthy, log))
            except RuntimeError:
                if attempt < attempts and b"Address already in use" in log.read_bytes():
                    continue
                raise
            break
        yield server


@dataclass
class GatewayProcess:
    url: str
    pid: int
    stderr: Path

    def lines(self) -> list[str]:
        return self.stderr.read_text().splitlines()


@contextmanager
def serve_gateway(database_url: str, log_dir: Path, **env: str) -> Iterator[GatewayProcess]:
    """`keyward serve gateway` on a free port, from when it accepts connections until the block
    ends (then SIGTERM); its stderr lands in a file of its own."""
    port = free_port()
    stderr = log_dir / f"gateway-{port}.stderr"
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            [KEYWARD, "serve", "gateway", "--gateway-port", str(port)],
            env=environment(database_url, **env),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )

    def accepting() -> bool:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True

    with _running(process, "keyward serve gateway", accepting, stderr):
        yield GatewayProcess(f"http://127.0.0.1:{port}", process.pid, stderr)


@contextmanager
def _running(
    process: subprocess.Popen[bytes], name: str, ready: Callable[[], bool], log: Path
) -> Iterator[None]:
    """Wait (90 s at most: two CPUs shared by a whole test run start slowly) until `ready()`
    holds for `process`, then stop it with SIGTERM when the block ends, killing it after 20 s.
    While the process starts, `ready` may fail to connect."""
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log.read_text()}")
            try:
                if ready():
                    break
            except (OSError, httpx.TransportError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
