"""What the gateway benchmarks share: a database with one API and its keys, and gateway processes.

The API is set up through the services, as `POST /v1/apis` and the acquisition routes would do
it: a workspace, an API whose one operation is `GET /v1/resource`, an offering of it, an acquirer
organization that acquired it, and `key_count` keys of that acquisition. The gateways are real
`keyward serve gateway` processes on free 127.0.0.1 ports, started and stopped by process id.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from benchmarks.databases import migrated
from keyward.core.actors import Actor, Via
from keyward.db.engine import Database
from keyward.domains.acquisitions.schemas import AcquisitionCreate, AcquisitionKeyCreate
from keyward.domains.acquisitions.service import acquire, create_key
from keyward.domains.apis.schemas import ApiImport
from keyward.domains.apis.service import import_api
from keyward.domains.members.schemas import MemberCreate
from keyward.domains.members.service import create_member
from keyward.domains.offerings.schemas import OfferingCreate
from keyward.domains.offerings.service import create_offering
from keyward.domains.organizations.schemas import OrganizationCreate, OrganizationKind
from keyward.domains.organizations.service import create_organization
from keyward.domains.workspaces.service import actor_for_member
from keyward.settings import Settings

KEYWARD = str(Path(sys.executable).with_name("keyward"))
POSTGRES_SERVER = os.environ.get("KEYWARD_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
# The throw-away gateways' server secret: they seal nothing that outlives a run.
SERVER_SECRET = "the gateway benchmarks' server secret"  # noqa: S105
UPSTREAM_ALLOW = "127.0.0.1"

MOUNT_PATH = "bench"
RESOURCE = "/v1/resource"
# No apiKey scheme of its own: keyward adds its default, the key in header X-API-Key.
SPEC = f"""\
openapi: 3.0.3
info: {{title: Bench, version: "1.0"}}
paths:
  {RESOURCE}:
    get:
      operationId: getResource
      responses:
        "200": {{description: a small JSON document}}
"""
KEY_HEADER = "X-API-Key"
UPSTREAM_BODY = b'{"ok":true}'
KEYS_PER_TRANSACTION = 2_500
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class OkUpstream(BaseHTTPRequestHandler):
    """An upstream answering every GET with 200 and a small JSON document."""

    protocol_version = "HTTP/1.1"
    # The answer leaves in one segment, at once: written in two with Nagle's algorithm on, its
    # second part would wait for the gateway's delayed ACK, some 40 ms.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(UPSTREAM_BODY)))
        self.end_headers()
        self.wfile.write(UPSTREAM_BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


def progress(name: str, message: str) -> None:
    print(f"[{name}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    secret: str


@dataclass(frozen=True, slots=True)
class Population:
    """A migrated database with the benchmark API, its admin, and valid acquisition keys."""

    database: Database
    admin: Actor
    keys: tuple[IssuedKey, ...]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'gateway-bench.db'}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throw-away database on the PostgreSQL server, dropped when the block ends."""
    name = f"keyward_bench_{os.getpid()}"
    with psycopg.connect(POSTGRES_SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_SERVER, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def populated(url: str, key_count: int, upstream_url: str) -> Iterator[Population]:
    """Migrate the database at `url` and set up the API with `key_count` keys, many per commit."""
    with migrated(url) as bench:
        database, admin = bench.database, bench.admin
        body = ApiImport.model_validate(
            {"name": "bench", "upstream_url": upstream_url, "mount_path": MOUNT_PATH, "spec": SPEC}
        )
        with database.transaction() as uow:
            # One acquisition holds every benchmark key: the cap is raised to the population.
            settings = Settings(
                database_url=url,
                upstream_allow=UPSTREAM_ALLOW,
                max_keys_per_acquisition=max(key_count, 1),
            )
            api = import_api(uow, admin, body, settings)
            offering = create_offering(uow, admin, OfferingCreate(api_id=api.id, name="bench"))
            acquirer = create_organization(
                uow, admin, OrganizationCreate(name="acquirer", kind=OrganizationKind.ACQUIRER)
            )
            acquisition = acquire(
                uow,
                admin,
                AcquisitionCreate(offering_id=offering.id, organization_id=acquirer.id),
            )
            # Only the acquiring organization's members hold keys of its acquisition.
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
        with database.transaction(write=False) as uow:
            acting = actor_for_member(uow, bench.workspace_id, holder.id, Via.SYSTEM)
        keys: list[IssuedKey] = []
        while len(keys) < key_count:
            with database.transaction() as uow:
                for _ in range(min(KEYS_PER_TRANSACTION, key_count - len(keys))):
                    name = f"key {len(keys) + 1}"
                    created = create_key(
                        uow, acting, acquisition.id, AcquisitionKeyCreate(name=name), settings
                    )
                    if created.key is None:
                        raise RuntimeError("create_key answered without a secret")
                    keys.append(IssuedKey(created.id, created.key))
        yield Population(database, admin, tuple(keys))


def gateway_environment(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The variables `keyward serve gateway` reads, on 127.0.0.1 and `port`."""
    return {
        "KEYWARD_DATABASE_URL": database_url,
        "KEYWARD_GATEWAY_HOST": "127.0.0.1",
        "KEYWARD_GATEWAY_PORT": str(port),
        "KEYWARD_SECRET_KEY": SERVER_SECRET,
        # The benchmark's upstream listens on loopback, which upstreams may not by default.
        "KEYWARD_UPSTREAM_ALLOW": UPSTREAM_ALLOW,
        **extra,
    }


def resource_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/{MOUNT_PATH}{RESOURCE}"


def status_of(port: int, key: str, timeout: float = 2.0) -> int:
    """The gateway's status for one GET of the resource with `key`, on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", f"/{MOUNT_PATH}{RESOURCE}", headers={KEY_HEADER: key})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@dataclass(frozen=True, slots=True)
class GatewayProcess:
    port: int
    process: "subprocess.Popen[bytes]"
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def wait_until_accepting(gateway: GatewayProcess, key: str) -> None:
    """Return once the gateway forwards a request with `key` (200); fail if it exits or stalls."""
    deadline = time.monotonic() + START_TIMEOUT
    status = 0
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(
                f"keyward serve gateway exited early:\n{gateway.log.read_text(errors='replace')}"
            )
        try:
            status = status_of(gateway.port, key)
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"the gateway on port {gateway.port} did not forward within {START_TIMEOUT:g} s "
        f"(last status {status}):\n{gateway.log.read_text(errors='replace')}"
    )


def _stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gateways(
    database_url: str, count: int, log_dir: Path, key: str, **extra: str
) -> Iterator[Sequence[GatewayProcess]]:
    """`count` gateway processes on one database, each forwarding with `key` before they are
    handed over; stopped (SIGTERM, by process id) when the block ends."""
    with ExitStack() as stack:
        started: list[GatewayProcess] = []
        for _ in range(count):
            port = free_port()
            log = log_dir / f"gateway-{port}.log"
            environment = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
            environment.update(gateway_environment(database_url, port, **extra))
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [KEYWARD, "serve", "gateway"],
                    env=environment,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            stack.callback(_stop, process)
            started.append(GatewayProcess(port, process, log))
        for gateway in started:
            wait_until_accepting(gateway, key)
        yield started
