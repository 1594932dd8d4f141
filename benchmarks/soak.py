"""A soak of `keyward serve`: mixed traffic for ten minutes, with revocations and a storage blip.

Goals: no wrong answer (no revoked key served by the gateway after its revoke was answered), RSS
of every keyward process grown by at most 10 % from the end of the warm-up to the end; the
latencies (p50, p99) are reported.

`python -m benchmarks.soak` creates a PostgreSQL database of its own (as `propagation` does) with
an API of four operations, an offering of it, an acquisition and `--keys` keys, and starts
`keyward serve` (API, gateway of two worker processes, worker) on it through a TCP relay
(`tests.relay`), in front of an upstream in a process of its own. Then, for `--warmup` and
`--duration` seconds:

- `--clients` client processes, each from a loopback address of its own, send `--rate` requests
  a second between them over keep-alive connections: valid keys, revoked keys (the latest
  revoked more often), unknown keys (well-formed, from many addresses, each on a connection of its
  own), requests without a key, over the four operations.
- Every `--revoke-every` seconds a key is revoked through `POST /v1/keys/{id}/revoke`. From the
  moment its answer arrives, any request with that key sent afterwards and answered 2xx is a wrong
  answer; at once the key is also sent to each gateway worker (a probe on a connection known to
  be that worker's). A revoke that fails (the blip) is tried again at the next turn.
- Halfway, the relay is cut for `--blip` seconds, then restored.
- RSS of every process of `keyward serve` is read from /proc after the warm-up, every 10 s, and at
  the end.

It prints a summary, writes every figure as JSON (and the server's log) under `--results`, and
exits 1 when a goal is missed.
"""

import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tests.relay import Relay, relay_to

from benchmarks.databases import migrated
from benchmarks.gateway_setup import (
    KEY_HEADER,
    KEYS_PER_TRANSACTION,
    SERVER_SECRET,
    UPSTREAM_ALLOW,
    UPSTREAM_BODY,
    IssuedKey,
    free_port,
    postgres_database,
    progress,
)
from keyward.core.actors import Via
from keyward.core.keys import generate_key
from keyward.domains.acquisitions.schemas import AcquisitionCreate, AcquisitionKeyCreate
from keyward.domains.acquisitions.service import acquire, create_key
from keyward.domains.apis.schemas import ApiImport
from keyward.domains.apis.service import import_api
from keyward.domains.keys.schemas import AccountKeyCreate
from keyward.domains.keys.service import issue_account_key
from keyward.domains.members.schemas import MemberCreate
from keyward.domains.members.service import create_member
from keyward.domains.offerings.schemas import OfferingCreate
from keyward.domains.offerings.service import create_offering
from keyward.domains.organizations.schemas import OrganizationCreate, OrganizationKind
from keyward.domains.organizations.service import create_organization
from keyward.domains.workspaces.service import actor_for_member
from keyward.settings import Settings

NAME = "soak"
KEYWARD = str(Path(sys.executable).with_name("keyward"))
DURATION = 600.0
WARMUP = 30.0
KEYS = 2_000
CLIENTS = 4
RATE = 200.0  # requests a second, all clients together
REVOKE_EVERY = 2.0
BLIP = 5.0
GATEWAY_WORKERS = 2
RSS_GOAL = 0.10  # growth of each process's RSS from the end of the warm-up to the end
RSS_EVERY = 10.0
REPORT_EVERY = 60.0
RESULTS = Path(__file__).with_name("results")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0
RECONNECT_AFTER = 200  # requests on one keep-alive connection, so that connections move
UNKNOWN_ADDRESSES = 256  # loopback addresses the unknown keys come from, in /24s of their own
WRONG_LISTED = 100

MOUNT_PATH = "soak"
SPEC = """\
openapi: 3.0.3
info: {title: Soak, version: "1.0"}
paths:
  /v1/items:
    get:
      operationId: listItems
      responses:
        "200": {description: the items}
    post:
      operationId: createItem
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses:
        "201": {description: the item made}
  /v1/items/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    get:
      operationId: getItem
      responses:
        "200": {description: the item}
    delete:
      operationId: deleteItem
      responses:
        "204": {description: deleted}
"""
# (name, method, path, body, weight)
OPERATIONS: tuple[tuple[str, str, str, bytes | None, int], ...] = (
    ("listItems", "GET", f"/{MOUNT_PATH}/v1/items", None, 4),
    ("getItem", "GET", f"/{MOUNT_PATH}/v1/items/{{n}}", None, 3),
    ("createItem", "POST", f"/{MOUNT_PATH}/v1/items", b'{"name":"soak"}', 2),
    ("deleteItem", "DELETE", f"/{MOUNT_PATH}/v1/items/{{n}}", None, 1),
)
CREATED_BODY = b'{"id":"1","name":"soak"}'

# What a client asks with, and how often (the rest of a hundred: valid keys).
VALID, REVOKED, UNKNOWN, NO_KEY, PROBE = range(5)
KINDS = ("valid key", "revoked key", "unknown key", "no key", "probe after receipt")
SHARE_REVOKED = 0.12
SHARE_UNKNOWN = 0.05  # the default of --unknown
SHARE_NO_KEY = 0.02
NO_ANSWER = 0  # the status recorded for a request that got none


# The upstream, in a process of its own so that it never competes with the revoker for a GIL.


class ItemsUpstream(BaseHTTPRequestHandler):
    """Answers the four operations at once: 200, 201 or 204."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1
    disable_nagle_algorithm = True

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, UPSTREAM_BODY)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer(201, CREATED_BODY)

    def do_DELETE(self) -> None:
        self._answer(204, b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve_upstream(told: Connection) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ItemsUpstream)
    server.daemon_threads = True
    told.send(server.server_address[1])
    server.serve_forever()


@contextmanager
def upstream() -> Iterator[str]:
    """The upstream on a free 127.0.0.1 port, in a child process; its URL."""
    context = multiprocessing.get_context("spawn")
    port_of, told = context.Pipe(duplex=False)
    process = context.Process(target=_serve_upstream, args=(told,), name="soak-upstream")
    process.start()
    try:
        if not port_of.poll(START_TIMEOUT):
            raise RuntimeError("the upstream did not start")
        yield f"http://127.0.0.1:{port_of.recv()}"
    finally:
        process.terminate()
        process.join(STOP_TIMEOUT)


# Set-up, through the services, straight to PostgreSQL (not through the relay).


@dataclass(frozen=True, slots=True)
class Population:
    admin_key: str
    keys: tuple[IssuedKey, ...]


@contextmanager
def populated(url: str, key_count: int, upstream_url: str) -> Iterator[Population]:
    """The soak API, its offering, an acquisition with `key_count` keys, an admin account key."""
    with migrated(url) as bench:
        database, admin = bench.database, bench.admin
        settings = Settings(
            database_url=url, upstream_allow=UPSTREAM_ALLOW, max_keys_per_acquisition=key_count
        )
        body = ApiImport.model_validate(
            {"name": "soak", "upstream_url": upstream_url, "mount_path": MOUNT_PATH, "spec": SPEC}
        )
        with database.transaction() as uow:
            api = import_api(uow, admin, body, settings)
            offering = create_offering(uow, admin, OfferingCreate(api_id=api.id, name="soak"))
            acquirer = create_organization(
                uow, admin, OrganizationCreate(name="acquirer", kind=OrganizationKind.ACQUIRER)
            )
            acquisition = acquire(
                uow, admin, AcquisitionCreate(offering_id=offering.id, organization_id=acquirer.id)
            )
            holder = create_member(
                uow,
                admin,
                MemberCreate(
                    email="holder@example.com",
                    name="Holder",
                    roles=["acquirer"],
                    organization_ids=[acquirer.id],
                ),
            )
            admin_key = issue_account_key(
                uow, admin, AccountKeyCreate(name="soak revoker", permissions=["*:*"])
            )
        if admin_key.key is None:
            raise RuntimeError("issue_account_key answered without a secret")
        with database.transaction(write=False) as uow:
            acting = actor_for_member(uow, bench.workspace_id, holder.id, Via.SYSTEM)
        keys: list[IssuedKey] = []
        while len(keys) < key_count:
            with database.transaction() as uow:
                for _ in range(min(KEYS_PER_TRANSACTION, key_count - len(keys))):
                    created = create_key(
                        uow,
                        acting,
                        acquisition.id,
                        AcquisitionKeyCreate(name=f"soak {len(keys) + 1}"),
                        settings,
                    )
                    if created.key is None:
                        raise RuntimeError("create_key answered without a secret")
                    keys.append(IssuedKey(created.id, created.key))
        yield Population(admin_key.key, tuple(keys))


# Processes, their memory and their sockets, read from /proc.


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, ()))
    return sorted(found)


def rss_kib(pid: int) -> int | None:
    """The resident set of `pid` in KiB; None once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _proc_address(host: str, port: int) -> str:
    """An IPv4 address as /proc/net/tcp spells it: the address's bytes in host order, hex."""
    return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"


def _socket_inodes(local: str | None, remote: str | None, state: str | None) -> set[str]:
    found = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if local is not None and fields[1] != local and not fields[1].endswith(local):
                continue
            if remote is not None and fields[2] != remote:
                continue
            if state is not None and fields[3] != state:
                continue
            found.add(fields[9])
    return found


def _holders(inodes: set[str], pids: Sequence[int]) -> list[int]:
    """Which of `pids` hold one of the sockets `inodes`."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holding = []
    for pid in pids:
        with suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                        holding.append(pid)
                        break
    return holding


def listening(port: int, pids: Sequence[int]) -> list[int]:
    """Which of `pids` listen on 127.0.0.1:`port` (the gateway's workers each hold a socket)."""
    inodes = _socket_inodes(f":{port:04X}", None, "0A")
    return _holders(inodes, pids) if inodes else []


def serving_worker(client: tuple[str, int], port: int, workers: Sequence[int]) -> int:
    """The index in `workers` of the process that accepted the connection from `client`; -1
    when none holds it (not yet accepted, or closed)."""
    inodes = _socket_inodes(_proc_address("127.0.0.1", port), _proc_address(*client), None)
    holding = _holders(inodes, workers) if inodes else []
    return workers.index(holding[0]) if holding else -1


# `keyward serve`


@dataclass(frozen=True, slots=True)
class Server:
    pid: int
    api_port: int
    gateway_port: int
    log: Path


def _status(port: int, key: str | None, path: str = OPERATIONS[0][2]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={KEY_HEADER: key} if key else {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@contextmanager
def serving(
    database_url: str, log: Path, key: str, settings: Sequence[str] = ()
) -> Iterator[Server]:
    """`keyward serve` with a gateway of GATEWAY_WORKERS processes, from when the API is healthy
    and every gateway worker listens and forwards `key`; SIGTERM (by process id) afterwards."""
    api_port, gateway_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    environment.update(
        {
            "KEYWARD_DATABASE_URL": database_url,
            "KEYWARD_SECRET_KEY": SERVER_SECRET,
            "KEYWARD_UPSTREAM_ALLOW": UPSTREAM_ALLOW,
            "KEYWARD_GATEWAY_WORKERS": str(GATEWAY_WORKERS),
            **dict(setting.split("=", 1) for setting in settings),
        }
    )
    command = [KEYWARD, "serve", "all", "--port", str(api_port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--gateway-port", str(gateway_port)],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"keyward serve exited early:\n{log.read_text()}")
            with suppress(OSError, http.client.HTTPException):
                workers = listening(gateway_port, descendants(process.pid))
                if (
                    _status(api_port, None, "/healthz") == 200
                    and len(workers) == GATEWAY_WORKERS
                    and _status(gateway_port, key) == 200
                ):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"keyward serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(process.pid, api_port, gateway_port, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# What every request's record holds, in arrays (a 10-minute run makes a few hundred thousand).


@dataclass(slots=True)
class Records:
    sent: "array[float]" = field(default_factory=lambda: array("d"))  # time.monotonic()
    latency: "array[float]" = field(default_factory=lambda: array("d"))  # seconds
    status: "array[int]" = field(default_factory=lambda: array("h"))
    key: "array[int]" = field(default_factory=lambda: array("i"))  # index in the keys; -1: none
    kind: "array[int]" = field(default_factory=lambda: array("b"))
    operation: "array[int]" = field(default_factory=lambda: array("b"))
    worker: "array[int]" = field(default_factory=lambda: array("b"))  # -1: not known

    def add(
        self,
        exchange: tuple[float, float, int],
        key: int,
        kind: int,
        operation: int,
        worker: int,
    ) -> None:
        self.sent.append(exchange[0])
        self.latency.append(exchange[1])
        self.status.append(exchange[2])
        self.key.append(key)
        self.kind.append(kind)
        self.operation.append(operation)
        self.worker.append(worker)

    def extend(self, other: "Records") -> None:
        for name in self.__slots__:
            getattr(self, name).extend(getattr(other, name))

    def __len__(self) -> int:
        return len(self.sent)

    def save(self, path: Path) -> None:
        """Every column, one after the other, after their length."""
        with path.open("wb") as sink:
            sink.write(len(self).to_bytes(8, "little"))
            for name in self.__slots__:
                getattr(self, name).tofile(sink)

    @classmethod
    def load(cls, path: Path) -> "Records":
        records = cls()
        with path.open("rb") as source:
            length = int.from_bytes(source.read(8), "little")
            for name in cls.__slots__:
                getattr(records, name).fromfile(source, length)
        return records


class GatewayConnection:
    """A keep-alive connection to the gateway from one address, knowing which worker holds it."""

    def __init__(
        self,
        port: int,
        workers: Sequence[int],
        address: str = "127.0.0.1",
        *,
        identify: bool = True,
    ) -> None:
        self._port = port
        self._workers = list(workers)
        self._address = address
        self._identify = identify
        self._connection: http.client.HTTPConnection | None = None
        self._local = ("", 0)
        self.worker = -1
        self.used = 0
        self._unidentified = False

    def _open(self) -> http.client.HTTPConnection:
        self.close()
        connection = http.client.HTTPConnection(
            "127.0.0.1", self._port, timeout=REQUEST_TIMEOUT, source_address=(self._address, 0)
        )
        connection.connect()
        if connection.sock is not None:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local = connection.sock.getsockname()
        self._connection, self.worker, self.used = connection, -1, 0
        self._unidentified = self._identify
        return connection

    def _once(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> tuple[float, float, int]:
        sent = time.monotonic()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answered = time.monotonic()
        if self._unidentified:  # once per connection: it reads /proc
            self._unidentified = False
            self.worker = serving_worker(self._local, self._port, self._workers)
        response.read()
        if response.will_close:
            self.close()
        return sent, answered - sent, response.status

    def exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[float, float, int]:
        """(sent, seconds until the answer's head, status); status 0 when none came. A reused
        connection the gateway had closed is opened again once."""
        reused = self._connection is not None
        try:
            connection = self._connection or self._open()
            self.used += 1
            return self._once(connection, method, path, headers, body)
        except (OSError, http.client.HTTPException):
            self.close()
            if not reused:
                return time.monotonic(), 0.0, NO_ANSWER
        try:
            return self._once(self._open(), method, path, headers, body)
        except (OSError, http.client.HTTPException):
            self.close()
            return time.monotonic(), 0.0, NO_ANSWER

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(frozen=True, slots=True)
class Shared:
    """What the revoker tells the clients: keys whose revoke was sent (no longer asked as valid)
    and, in order, those whose revoke was answered."""

    revoking: Any  # RawArray of bytes, one per key
    revoked: Any  # RawArray of key indexes, in the order of their receipts
    revoked_count: Any  # RawValue of the count of `revoked`
    stop: Any  # multiprocessing Event


def _choose(rng: random.Random, shared: Shared, key_count: int, unknown: float) -> tuple[int, int]:
    """(kind, key index) of the next request; `unknown` is the share of unknown keys."""
    draw = rng.random()
    count = shared.revoked_count.value
    if draw < SHARE_REVOKED:
        if count:  # before the first receipt, a valid key instead
            # Half the time the latest revoked key, the one whose receipt is newest.
            position = count - 1 if rng.random() < 0.5 else rng.randrange(count)
            return REVOKED, shared.revoked[position]
    elif draw < SHARE_REVOKED + unknown:
        return UNKNOWN, -1
    elif draw < SHARE_REVOKED + unknown + SHARE_NO_KEY:
        return NO_KEY, -1
    for _ in range(20):
        index = rng.randrange(key_count)
        if not shared.revoking[index]:
            return VALID, index
    return NO_KEY, -1


def drive(
    number: int,
    port: int,
    workers: Sequence[int],
    secrets: Sequence[str],
    shared: Shared,
    rate: float,
    unknown: float,
    output: Path,
) -> None:
    """One client process: requests at `rate` a second until told to stop; records to `output`."""
    rng = random.Random(number)
    records = Records()
    own = GatewayConnection(port, workers, f"127.0.{10 + number}.1")
    weights = [operation[4] for operation in OPERATIONS]
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not shared.stop.is_set():
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)
        # A late client does not catch up in a burst: it is one interval behind at most.
        next_at = max(next_at + interval, time.monotonic() - interval)
        kind, key = _choose(rng, shared, len(secrets), unknown)
        operation = rng.choices(range(len(OPERATIONS)), weights)[0]
        _, method, path, body, _ = OPERATIONS[operation]
        path = path.format(n=rng.randrange(1000))
        headers = {"content-type": "application/json"} if body else {}
        if kind == UNKNOWN:
            headers[KEY_HEADER] = generate_key().secret
            address = (
                f"127.{100 + number}.{rng.randrange(UNKNOWN_ADDRESSES)}.{rng.randrange(1, 255)}"
            )
            once = GatewayConnection(port, workers, address, identify=False)
            exchange = once.exchange(method, path, headers, body)
            once.close()
            records.add(exchange, key, kind, operation, -1)
            continue
        if key >= 0:
            headers[KEY_HEADER] = secrets[key]
        if own.used >= RECONNECT_AFTER:
            own.close()
        exchange = own.exchange(method, path, headers, body)
        records.add(exchange, key, kind, operation, own.worker)
    own.close()
    records.save(output)


# The revoker: revocations through the REST API, each followed by a probe of every worker.


@dataclass(frozen=True, slots=True)
class Receipt:
    key: int
    answered: float  # time.monotonic() when the answer's head arrived
    took: float  # seconds from sending the revoke
    enforcement: Any  # the answer's "enforcement", None when it has none
    attempts: int

    @property
    def lagging(self) -> bool:
        """Whether the answer said some gateway had not applied the revocation yet."""
        enforcement = self.enforcement
        if not isinstance(enforcement, dict):
            return False
        return enforcement.get("enforced_at") is None or bool(enforcement.get("lagging"))


@dataclass(frozen=True, slots=True)
class FailedRevoke:
    key: int
    at: float
    status: int
    answer: str


class Revoker:
    def __init__(
        self,
        server: Server,
        workers: Sequence[int],
        population: Population,
        shared: Shared,
        every: float,
    ) -> None:
        self._server = server
        self._workers = list(workers)
        self._population = population
        self._shared = shared
        self._every = every
        order = list(range(1, len(population.keys)))  # key 0 is the one that checks readiness
        random.Random(NAME).shuffle(order)
        self._order = order
        self.receipts: list[Receipt] = []
        self.failures: list[FailedRevoke] = []
        self.probes = Records()
        self._api: http.client.HTTPConnection | None = None
        self._probing: list[GatewayConnection] = []
        self.thread = threading.Thread(target=self._run, name="revoker", daemon=True)

    def _probe_connection(self, worker: int) -> GatewayConnection:
        """A connection that `worker` accepted (the kernel chooses: opened until it does)."""
        ready = {KEY_HEADER: self._population.keys[0].secret}
        for _ in range(100):
            connection = GatewayConnection(self._server.gateway_port, self._workers)
            connection.exchange("GET", OPERATIONS[0][2], ready)
            if connection.worker == worker:
                return connection
            connection.close()
        raise RuntimeError(f"no connection reached gateway worker {self._workers[worker]}")

    def _revoke(self, key: int, attempts: int) -> Receipt | FailedRevoke:
        """Revoke `key` through the REST API; its receipt, or why there is none."""
        key_id = self._population.keys[key].id
        headers = {
            "Authorization": f"Bearer {self._population.admin_key}",
            "content-type": "application/json",
        }
        body = json.dumps({"reason": "soak"})
        for reused in (self._api is not None, False):
            if self._api is None:
                self._api = http.client.HTTPConnection(
                    "127.0.0.1", self._server.api_port, timeout=REQUEST_TIMEOUT
                )
            sent = time.monotonic()
            try:
                self._api.request("POST", f"/v1/keys/{key_id}/revoke", body, headers)
                response = self._api.getresponse()
                answered = time.monotonic()
                text = response.read().decode(errors="replace")
            except (OSError, http.client.HTTPException) as error:
                self._api.close()
                self._api = None
                if reused:
                    continue  # a keep-alive connection the server had closed
                return FailedRevoke(key, time.monotonic(), NO_ANSWER, repr(error))
            if response.status != 200:
                return FailedRevoke(key, answered, response.status, text[:300])
            enforcement = json.loads(text).get("enforcement")
            return Receipt(key, answered, answered - sent, enforcement, attempts)
        raise AssertionError("unreachable: the second try is on a new connection")

    def _probe(self, key: int) -> None:
        secret = self._population.keys[key].secret
        order = self._probing if len(self.receipts) % 2 else self._probing[::-1]
        for connection in order:
            worker = connection.worker
            exchange = connection.exchange("GET", OPERATIONS[0][2], {KEY_HEADER: secret})
            self.probes.add(exchange, key, PROBE, 0, connection.worker)
            if connection.worker != worker:  # reopened elsewhere: find that worker again
                connection.close()
                position = self._probing.index(connection)
                self._probing[position] = self._probe_connection(worker)

    def _run(self) -> None:
        self._probing = [self._probe_connection(worker) for worker in range(len(self._workers))]
        retry: list[tuple[int, int]] = []  # (key, attempts so far)
        turn = time.monotonic()
        while not self._shared.stop.is_set():
            if retry:
                key, attempts = retry.pop(0)
            else:
                key, attempts = self._order.pop(), 0
                self._shared.revoking[key] = 1
            outcome = self._revoke(key, attempts + 1)
            if isinstance(outcome, FailedRevoke):
                self.failures.append(outcome)
                retry.append((key, attempts + 1))
            else:
                self.receipts.append(outcome)
                self._shared.revoked[self._shared.revoked_count.value] = key
                self._shared.revoked_count.value += 1
                self._probe(key)
            turn += self._every
            self._shared.stop.wait(max(0.0, turn - time.monotonic()))
        for connection in self._probing:
            connection.close()
        if self._api is not None:
            self._api.close()


# The run.


@dataclass(slots=True)
class Memory:
    """RSS in KiB of each process of `keyward serve`, by time since the end of the warm-up."""

    names: dict[int, str] = field(default_factory=dict)
    samples: list[tuple[float, dict[int, int]]] = field(default_factory=list)

    def sample(self, root: int, since: float) -> None:
        pids = descendants(root)
        for pid in pids:
            self.names.setdefault(pid, command_line(pid))
        found = {pid: kib for pid in pids if (kib := rss_kib(pid)) is not None}
        self.samples.append((time.monotonic() - since, found))

    def growth(self) -> dict[int, tuple[int, int | None]]:
        """Each process's (first, last) RSS; last is None for one that has gone."""
        first, last = self.samples[0][1], self.samples[-1][1]
        return {pid: (kib, last.get(pid)) for pid, kib in first.items()}


@dataclass(slots=True)
class Run:
    started: float = 0.0  # traffic began (time.monotonic())
    measured: float = 0.0  # the warm-up ended
    ended: float = 0.0
    blip: tuple[float, float] = (0.0, 0.0)
    workers: list[int] = field(default_factory=list)
    server_pid: int = 0
    records: Records = field(default_factory=Records)
    receipts: list[Receipt] = field(default_factory=list)
    failures: list[FailedRevoke] = field(default_factory=list)
    memory: Memory = field(default_factory=Memory)
    key_ids: tuple[str, ...] = ()
    log: Path = Path()


def soak(arguments: argparse.Namespace, results: Path, stamp: str) -> Run:
    run = Run()
    context = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="keyward-soak-")))
        url = stack.enter_context(postgres_database())
        upstream_url = stack.enter_context(upstream())
        progress(NAME, f"setting up {arguments.keys:,} keys")
        population = stack.enter_context(populated(url, arguments.keys, upstream_url))
        run.key_ids = tuple(key.id for key in population.keys)
        relay: Relay = stack.enter_context(relay_to(url))
        run.log = results / f"soak-{stamp}.log"
        server = stack.enter_context(
            serving(relay.url_for(url), run.log, population.keys[0].secret, arguments.setting)
        )
        run.server_pid = server.pid
        run.workers = listening(server.gateway_port, descendants(server.pid))
        progress(
            NAME,
            f"keyward serve (pid {server.pid}) ready; gateway workers {run.workers}; "
            f"{arguments.clients} clients at {arguments.rate:g} requests/s",
        )
        count = len(population.keys)
        shared = Shared(
            context.RawArray("b", count),
            context.RawArray("i", count),
            context.RawValue("i", 0),
            context.Event(),
        )
        secrets = [key.secret for key in population.keys]
        outputs = [directory / f"client-{number}.pickle" for number in range(arguments.clients)]
        clients = [
            context.Process(
                target=drive,
                args=(
                    number,
                    server.gateway_port,
                    run.workers,
                    secrets,
                    shared,
                    arguments.rate / arguments.clients,
                    arguments.unknown,
                    output,
                ),
                name=f"soak-client-{number}",
            )
            for number, output in enumerate(outputs)
        ]
        revoker = Revoker(server, run.workers, population, shared, arguments.revoke_every)
        try:
            for client in clients:
                client.start()
            run.started = time.monotonic()
            revoker.thread.start()
            _timeline(run, arguments, relay, shared)
        finally:
            shared.stop.set()
            revoker.thread.join(REQUEST_TIMEOUT * 3)
            for client in clients:
                client.join(REQUEST_TIMEOUT * 2)
                if client.is_alive():
                    client.terminate()
        run.ended = time.monotonic()
        alive = descendants(server.pid)
        gone = [pid for pid in run.memory.growth() if pid not in alive]
        if gone:
            progress(NAME, f"processes of keyward serve ended during the run: {gone}")
        for output in outputs:
            run.records.extend(Records.load(output))
        run.records.extend(revoker.probes)
        run.receipts, run.failures = revoker.receipts, revoker.failures
    return run


def _timeline(run: Run, arguments: argparse.Namespace, relay: Relay, shared: Shared) -> None:
    """Warm-up, RSS samples, the blip halfway, until the end; in the calling thread."""
    run.measured = run.started + arguments.warmup
    end = run.measured + arguments.duration
    blip_at = run.measured + arguments.duration / 2 - arguments.blip / 2
    blipped = not arguments.blip
    next_sample = run.measured
    next_report = run.started + REPORT_EVERY
    while (now := time.monotonic()) < end:
        if now >= next_sample:
            if not run.memory.samples:
                progress(NAME, "warm-up over: RSS measured, the soak counts from here")
            run.memory.sample(run.server_pid, run.measured)
            next_sample += RSS_EVERY
        if not blipped and now >= blip_at:
            progress(NAME, f"storage blip: the relay is cut for {arguments.blip:g} s")
            relay.cut()
            cut = time.monotonic()
            time.sleep(arguments.blip)
            relay.restore()
            run.blip = (cut, time.monotonic())
            blipped = True
            progress(NAME, "storage blip over: the relay relays again")
        if now >= next_report:
            progress(NAME, f"{now - run.started:.0f} s, {shared.revoked_count.value} revoked")
            next_report += REPORT_EVERY
        time.sleep(min(0.25, max(0.0, end - time.monotonic())))
    run.memory.sample(run.server_pid, run.measured)


# Figures.


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (sorted or not); nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def figures(run: Run, arguments: argparse.Namespace) -> dict[str, Any]:
    records = run.records
    receipts = {receipt.key: receipt for receipt in run.receipts}
    wrong: list[dict[str, Any]] = []
    served_while_lagging: list[dict[str, Any]] = []
    judged = 0
    for i in range(len(records)):
        receipt = receipts.get(records.key[i])
        if receipt is None or records.sent[i] <= receipt.answered:
            continue
        judged += 1
        if not 200 <= records.status[i] < 300:
            continue
        worker = records.worker[i]
        found = {
            "key_id": run.key_ids[records.key[i]],
            "sent_after_answer_ms": round((records.sent[i] - receipt.answered) * 1000, 3),
            "status": records.status[i],
            "request": KINDS[records.kind[i]],
            "operation": OPERATIONS[records.operation[i]][0],
            "gateway_pid": run.workers[worker] if worker >= 0 else None,
            "revoke_took_ms": round(receipt.took * 1000, 1),
            "enforcement": receipt.enforcement,
            "during_blip": run.blip[0] <= records.sent[i] <= run.blip[1],
        }
        (served_while_lagging if receipt.lagging else wrong).append(found)
    wrong.sort(key=lambda found: found["sent_after_answer_ms"])

    answered = [i for i in range(len(records)) if records.status[i] != NO_ANSWER]
    latency = {
        "all": [records.latency[i] for i in answered if records.kind[i] != PROBE],
        **{
            KINDS[kind]: [records.latency[i] for i in answered if records.kind[i] == kind]
            for kind in range(len(KINDS))
        },
    }
    in_blip = [i for i in range(len(records)) if run.blip[0] <= records.sent[i] <= run.blip[1]]
    growth = run.memory.growth()
    took = [receipt.took for receipt in run.receipts]
    lagging = [receipt for receipt in run.receipts if receipt.lagging]
    memory = [
        {
            "pid": pid,
            "process": _process_name(run, pid),
            "rss_after_warmup_kib": first,
            "rss_at_end_kib": last,
            "growth": None if last is None else round(last / first - 1, 4),
            "max_kib": max(sample.get(pid, 0) for _, sample in run.memory.samples),
        }
        for pid, (first, last) in sorted(growth.items())
    ]
    seconds = run.ended - run.started
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "parameters": {
            "duration_s": arguments.duration,
            "warmup_s": arguments.warmup,
            "keys": arguments.keys,
            "clients": arguments.clients,
            "rate_per_s": arguments.rate,
            "unknown_share": arguments.unknown,
            "revoke_every_s": arguments.revoke_every,
            "blip_s": arguments.blip,
            "gateway_workers": GATEWAY_WORKERS,
            "database": "postgresql, through a TCP relay",
            "settings": arguments.setting,
        },
        "seconds": round(seconds, 1),
        "requests": len(records),
        "requests_per_s": round(len(records) / seconds, 1) if seconds else None,
        "by_kind": {KINDS[kind]: records.kind.count(kind) for kind in range(len(KINDS))},
        "by_status": {
            str(status): count for status, count in sorted(Counter(records.status).items())
        },
        "by_gateway_worker": {
            (str(run.workers[worker]) if worker >= 0 else "not known"): count
            for worker, count in sorted(Counter(records.worker).items())
        },
        "probes_by_gateway_worker": {
            str(run.workers[worker]) if worker >= 0 else "not known": count
            for worker, count in sorted(
                Counter(
                    records.worker[i] for i in range(len(records)) if records.kind[i] == PROBE
                ).items()
            )
        },
        "by_status_during_blip": {
            str(status): count
            for status, count in sorted(Counter(records.status[i] for i in in_blip).items())
        },
        "latency_ms": {
            name: {
                "count": len(values),
                "p50": _ms(percentile(values, 0.50)),
                "p99": _ms(percentile(values, 0.99)),
                "max": _ms(max(values, default=math.nan)),
            }
            for name, values in latency.items()
        },
        "revocations": {
            "answered": len(run.receipts),
            "failed_attempts": len(run.failures),
            "failures": [
                {
                    "key_id": run.key_ids[failure.key],
                    "seconds_into_run": round(failure.at - run.started, 1),
                    "status": failure.status,
                    "answer": failure.answer,
                }
                for failure in run.failures[:20]
            ],
            "answers_saying_a_gateway_lags": len(lagging),
            "answers_without_enforcement": sum(r.enforcement is None for r in run.receipts),
            "first_enforcement": run.receipts[0].enforcement if run.receipts else None,
            "lagging": [
                {
                    "key_id": run.key_ids[receipt.key],
                    "seconds_into_run": round(receipt.answered - run.started, 1),
                    "enforcement": receipt.enforcement,
                }
                for receipt in lagging[:20]
            ],
            "answer_p50_ms": _ms(percentile(took, 0.50)),
            "answer_p99_ms": _ms(percentile(took, 0.99)),
            "answer_max_ms": _ms(max(took, default=math.nan)),
        },
        "requests_with_a_revoked_key_after_its_answer": judged,
        "wrong_answers": len(wrong),
        "wrong": wrong[:WRONG_LISTED],
        "served_while_answer_said_lagging": len(served_while_lagging),
        "served_while_lagging": served_while_lagging[:WRONG_LISTED],
        "blip": {
            "seconds_into_run": round(run.blip[0] - run.started, 1),
            "seconds": round(run.blip[1] - run.blip[0], 2),
        }
        if run.blip[1]
        else None,
        "gateway_workers": run.workers,
        "memory": memory,
        "processes_started_during_run": {
            str(pid): _process_name(run, pid)
            for pid in sorted(set(run.memory.samples[-1][1]) - set(growth))
        },
        "rss_samples": [
            {"s": round(at, 1), "kib": {str(pid): kib for pid, kib in sample.items()}}
            for at, sample in run.memory.samples
        ],
    }


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 2)


def _process_name(run: Run, pid: int) -> str:
    if pid == run.server_pid:
        return "keyward serve (API, worker)"
    if pid in run.workers:
        return f"gateway worker {run.workers.index(pid) + 1}"
    line = run.memory.names.get(pid, "?")
    return "multiprocessing " + ("resource tracker" if "resource_tracker" in line else "child")


def missed(found: dict[str, Any]) -> list[str]:
    """Why the run missed its goals, one sentence each."""
    reasons = []
    if found["wrong_answers"]:
        first = found["wrong"][0]
        reasons.append(
            f"{found['wrong_answers']} wrong answers: a revoked key served after its revoke was "
            f"answered (first: key {first['key_id']}, {first['sent_after_answer_ms']} ms after "
            f"the answer, gateway pid {first['gateway_pid']})."
        )
    if not found["requests_with_a_revoked_key_after_its_answer"]:
        reasons.append("no request asked with a revoked key after its revoke was answered.")
    for process in found["memory"]:
        if process["growth"] is None:
            reasons.append(f"{process['process']} (pid {process['pid']}) ended during the run.")
        elif process["growth"] > RSS_GOAL:
            reasons.append(
                f"{process['process']} (pid {process['pid']}) grew {process['growth']:.1%} "
                f"(over {RSS_GOAL:.0%})."
            )
    return reasons


def summary(found: dict[str, Any]) -> str:
    latency = found["latency_ms"]
    revocations = found["revocations"]
    lines = [
        f"{found['seconds']:g} s of traffic (warm-up {found['parameters']['warmup_s']:g} s), "
        f"{found['requests']:,} requests ({found['requests_per_s']}/s), "
        f"{GATEWAY_WORKERS} gateway workers, PostgreSQL through a relay; "
        f"load average at the end {found['load_average'][0]:.1f}.",
        "requests by kind: "
        + ", ".join(f"{kind} {count:,}" for kind, count in found["by_kind"].items()),
        "answers by status: "
        + ", ".join(f"{status} {count:,}" for status, count in found["by_status"].items())
        + " (0: no answer)",
        (
            f"storage blip of {found['blip']['seconds']:g} s at "
            f"{found['blip']['seconds_into_run']:g} s: answers by status "
            + ", ".join(
                f"{status} {count:,}" for status, count in found["by_status_during_blip"].items()
            )
            if found["blip"]
            else "no storage blip"
        ),
        "latency (ms)       count      p50      p99      max",
    ]
    for name, figure in latency.items():
        lines.append(
            f"  {name:<18}{figure['count']:>7,}"
            + "".join(f"{'' if figure[p] is None else figure[p]:>9}" for p in ("p50", "p99", "max"))
        )
    lines += [
        f"revocations answered {revocations['answered']} (failed attempts "
        f"{revocations['failed_attempts']}), answer p50 {revocations['answer_p50_ms']} ms, "
        f"p99 {revocations['answer_p99_ms']} ms; answers saying a gateway lags "
        f"{revocations['answers_saying_a_gateway_lags']}, without enforcement "
        f"{revocations['answers_without_enforcement']}",
        f"requests with a revoked key after its answer: "
        f"{found['requests_with_a_revoked_key_after_its_answer']:,}; "
        f"WRONG answers (2xx): {found['wrong_answers']}; served while the answer said a gateway "
        f"lags: {found['served_while_answer_said_lagging']}",
        "RSS (MiB)                      after warm-up     end   growth",
    ]
    for process in found["memory"]:
        end = process["rss_at_end_kib"]
        lines.append(
            f"  {process['process'] + ' ' + str(process['pid']):<30}"
            f"{process['rss_after_warmup_kib'] / 1024:>12.1f}"
            + (f"{end / 1024:>8.1f}{process['growth']:>+9.1%}" if end else "    ended")
        )
    for pid, name in found["processes_started_during_run"].items():
        lines.append(f"  started during the run: {name} {pid}")
    return "\n".join(lines)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="Mixed traffic against keyward serve on PostgreSQL, with revocations and a "
        "storage blip: wrong answers, RSS growth, latency.",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=DURATION,
        help=f"seconds measured after the warm-up (default {DURATION:g})",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=WARMUP,
        help=f"seconds of traffic before RSS is first read (default {WARMUP:g})",
    )
    parser.add_argument("--keys", type=int, default=KEYS, help=f"keys (default {KEYS:,})")
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help=f"client processes (default {CLIENTS})"
    )
    parser.add_argument(
        "--rate",
        type=_positive,
        default=RATE,
        help=f"requests a second, all clients together (default {RATE:g})",
    )
    parser.add_argument(
        "--revoke-every",
        type=_positive,
        default=REVOKE_EVERY,
        help=f"seconds between revocations (default {REVOKE_EVERY:g})",
    )
    parser.add_argument(
        "--blip",
        type=float,
        default=BLIP,
        help=f"seconds the relay to PostgreSQL is cut, halfway (default {BLIP:g}; 0: none)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="where the JSON figures and the server's log go (default benchmarks/results)",
    )
    parser.add_argument(
        "--unknown",
        type=float,
        default=SHARE_UNKNOWN,
        help=f"share of requests with an unknown key (default {SHARE_UNKNOWN:g})",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEYWARD_NAME=VALUE",
        help="a setting of keyward serve (repeatable), e.g. KEYWARD_ENFORCEMENT_WAIT=0",
    )
    arguments = parser.parse_args(argv)
    if not all(setting.startswith("KEYWARD_") and "=" in setting for setting in arguments.setting):
        parser.error("--setting takes KEYWARD_NAME=VALUE")
    revocations = (arguments.warmup + arguments.duration) / arguments.revoke_every
    if arguments.keys < revocations + 10:
        parser.error(f"--keys must exceed the revocations made ({revocations:.0f}) by 10")
    if arguments.clients < 1 or arguments.warmup < 0 or arguments.blip < 0:
        parser.error("--clients must be 1 or more, --warmup and --blip 0 or more")
    if not 0 <= arguments.unknown <= 1 - SHARE_REVOKED - SHARE_NO_KEY:
        parser.error(f"--unknown must be from 0 to {1 - SHARE_REVOKED - SHARE_NO_KEY:g}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    arguments.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run = soak(arguments, arguments.results, stamp)
    found = figures(run, arguments)
    path = arguments.results / f"soak-{stamp}.json"
    path.write_text(json.dumps(found, indent=2) + "\n")
    print(summary(found))
    print(f"figures: {path}; keyward serve's log: {run.log}")
    reasons = missed(found)
    for reason in reasons:
        print(f"{NAME}: {reason}", file=sys.stderr)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
