"""What a spec import costs, by size and shape, and what it costs the gateway beside it.

`python -m benchmarks.spec_intake` measures two things:

1. **Seconds per MB.** `apis.service.import_api` (load, check, operation index, conversion, both
   documents stored in a migrated SQLite database, committed) of generated OpenAPI 3.0
   documents of about 0.1, 1, 4 and 12 MB (paths of two operations each, with path and query
   parameters, a request body and response schemas) and of one 0.6 MB document whose single
   operation has 10,000 parameters. Each is imported `--rounds` times, interleaved, and the
   median is reported, with `json.loads` of the same bytes for context. Goals: the 12 MB
   document in at most 10 s, and the time per MB within 2x across sizes and shapes (the
   0.1 MB document is reported but left out of that ratio: a fixed cost of milliseconds is
   most of it).
2. **The gateway while the API imports.** `keyward serve` (API, gateway and worker) on a
   SQLite database with one API and one key, in front of an upstream in a process of its own.
   One client sends GETs through the gateway over a keep-alive connection for `--seconds`,
   first with nothing else running, then while eight clients (another process) import the
   1 MB document through `POST /v1/apis` over and over. Goal: gateway p99 while importing at
   most 1.5x idle.

Exit status 1 when a goal is missed.
"""

import argparse
import gc
import http.client
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import ThreadingHTTPServer
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from benchmarks.databases import migrated
from benchmarks.gateway_setup import (
    KEY_HEADER,
    KEYWARD,
    MOUNT_PATH,
    RESOURCE,
    SERVER_SECRET,
    UPSTREAM_ALLOW,
    OkUpstream,
    free_port,
    populated,
    progress,
    sqlite_url,
)
from benchmarks.openapi_import import stored
from keyward.domains.keys.schemas import AccountKeyCreate
from keyward.domains.keys.service import issue_account_key

NAME = "spec_intake"
MB = 1_000_000
SIZES_MB = (0.1, 1.0, 4.0, 12.0)
PARAMETERS = 10_000
BUDGET_12_MB = 10.0
FLAT_WITHIN = 2.0
P99_WITHIN = 1.5
IMPORTERS = 8
START_TIMEOUT = 60.0


def path_item(n: int) -> dict[str, Any]:
    """Two operations as a real API writes them: parameters, a body, schemas, a shared $ref."""
    item = {"type": "object", "properties": {"id": {"type": "string"}, "size": {"type": "integer"}}}
    return {
        "get": {
            "operationId": f"get{n}",
            "tags": [f"group{n % 50}"],
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
            ],
            "responses": {
                "200": {
                    "description": "the resource",
                    "content": {"application/json": {"schema": item}},
                },
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        },
        "put": {
            "operationId": f"put{n}",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {"content": {"application/json": {"schema": item}}},
            "responses": {"204": {"description": "stored"}},
        },
    }


def document(paths: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Generated", "version": "1"},
        "paths": paths,
        "components": {
            "responses": {"NotFound": {"description": "no such resource"}},
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": KEY_HEADER}},
        },
        "security": [{"key": []}],
    }


def of_size(megabytes: float) -> bytes:
    """A document of about `megabytes` MB of JSON, made of `path_item`s."""
    per_item = len(json.dumps({"/resources0/{id}": path_item(0)}))
    count = max(1, round(megabytes * MB / per_item))
    paths = {f"/resources{n}/{{id}}": path_item(n) for n in range(count)}
    return json.dumps(document(paths)).encode()


def many_parameters(count: int = PARAMETERS) -> bytes:
    parameters = [
        {"name": f"p{n}", "in": "query", "schema": {"type": "string"}} for n in range(count)
    ]
    responses = {"200": {"description": "ok"}}
    operation = {"operationId": "search", "parameters": parameters, "responses": responses}
    return json.dumps(document({"/search": {"get": operation}})).encode()


# 1. Seconds per MB


@dataclass(frozen=True, slots=True)
class Intake:
    label: str
    megabytes: float
    seconds: float  # median import
    loads_seconds: float  # median json.loads of the same bytes

    @property
    def per_mb(self) -> float:
        return self.seconds / self.megabytes


def _timed(work: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def intake(rounds: int) -> list[Intake]:
    documents = {f"{size:g} MB, paths": of_size(size) for size in SIZES_MB}
    documents[f"{PARAMETERS:,} parameters on one operation"] = many_parameters()
    seconds: dict[str, list[float]] = {label: [] for label in documents}
    loads: dict[str, list[float]] = {label: [] for label in documents}
    with tempfile.TemporaryDirectory() as directory, migrated(sqlite_url(Path(directory))) as bench:
        work = {
            label: stored(bench.database, bench.admin, raw, prefix=f"document-{n}")
            for n, (label, raw) in enumerate(documents.items())
        }
        for round_ in range(rounds):
            for label, raw in documents.items():
                loads[label].append(_timed(partial(json.loads, raw)))
                seconds[label].append(_timed(work[label]))
            progress(NAME, f"imports: round {round_ + 1} of {rounds}")
    return [
        Intake(
            label,
            len(raw) / MB,
            statistics.median(seconds[label]),
            statistics.median(loads[label]),
        )
        for label, raw in documents.items()
    ]


def intake_table(results: Sequence[Intake]) -> str:
    rows = [("document", "MB", "import s", "s per MB", "x json.loads")]
    rows += [
        (
            result.label,
            f"{result.megabytes:.2f}",
            f"{result.seconds:.2f}",
            f"{result.per_mb:.2f}",
            f"{result.seconds / result.loads_seconds:.0f}",
        )
        for result in results
    ]
    return _aligned(rows)


def flatness(results: Sequence[Intake]) -> float:
    """Largest over smallest time per MB, the 0.1 MB document left out."""
    per_mb = [result.per_mb for result in results if result.megabytes >= 0.5]
    return max(per_mb) / min(per_mb)


# 2. The gateway while the API imports


def _serve_upstream(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), OkUpstream).serve_forever()


@contextmanager
def upstream_process() -> Iterator[str]:
    """An upstream in a process of its own, so it takes nothing from the measuring client."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_upstream, args=(port,), daemon=True
    )
    process.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(10)


@contextmanager
def serving(database_url: str, log: Path) -> Iterator[tuple[int, int]]:
    """`keyward serve` on free ports until the block ends; (API port, gateway port)."""
    port, gateway_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    environment.update(
        KEYWARD_DATABASE_URL=database_url,
        KEYWARD_SECRET_KEY=SERVER_SECRET,
        KEYWARD_UPSTREAM_ALLOW=UPSTREAM_ALLOW,
        KEYWARD_LOG_LEVEL="warning",
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [KEYWARD, "serve", "--port", str(port), "--gateway-port", str(gateway_port)],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port, gateway_port
    finally:
        process.terminate()
        process.wait(30)


def _get(connection: http.client.HTTPConnection, key: str) -> int:
    connection.request("GET", f"/{MOUNT_PATH}{RESOURCE}", headers={KEY_HEADER: key})
    response = connection.getresponse()
    response.read()
    return response.status


def wait_forwarding(gateway_port: int, key: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=2)
            if _get(connection, key) == 200:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the gateway did not forward within {START_TIMEOUT:g} s")


def latencies(gateway_port: int, key: str, seconds: float) -> list[float]:
    """Sequential GETs through the gateway on one keep-alive connection for `seconds`."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=30)
    found = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        status = _get(connection, key)
        found.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"the gateway answered {status}")
    connection.close()
    return found


def _import_forever(api_port: int, admin_key: str, spec: str, client: int, stop: Event) -> None:
    """One importing client: POST /v1/apis of `spec` under new names until `stop` is set."""
    connection = http.client.HTTPConnection("127.0.0.1", api_port, timeout=300)
    for number in itertools.count(1):
        if stop.is_set():
            return
        body = json.dumps(
            {
                "name": f"load-{client}-{number}",
                "upstream_url": "https://upstream.example.com",
                "mount_path": f"load-{client}-{number}",
                "spec": spec,
            }
        )
        headers = {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}
        connection.request("POST", "/v1/apis", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"an import answered {response.status}")


def _importers(api_port: int, admin_key: str, spec: str, stop: Event) -> None:
    with ThreadPoolExecutor(IMPORTERS) as pool:
        for done in [
            pool.submit(_import_forever, api_port, admin_key, spec, client, stop)
            for client in range(IMPORTERS)
        ]:
            done.result()


@dataclass(frozen=True, slots=True)
class Beside:
    idle: list[float]
    importing: list[float]
    imports_running: bool

    @staticmethod
    def percentile(values: list[float], fraction: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def ratio(self) -> float:
        return self.percentile(self.importing, 0.99) / self.percentile(self.idle, 0.99)


def beside_imports(seconds: float) -> Beside:
    spec = of_size(1.0).decode()
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = sqlite_url(directory)
        upstream = stack.enter_context(upstream_process())
        population = stack.enter_context(populated(url, 1, upstream))
        with population.database.transaction() as uow:
            admin_key = issue_account_key(
                uow, population.admin, AccountKeyCreate(name="bench", permissions=["*:*"])
            ).key
        assert admin_key is not None
        population.database.dispose()
        key = population.keys[0].secret
        api_port, gateway_port = stack.enter_context(serving(url, directory / "serve.log"))
        wait_forwarding(gateway_port, key)
        latencies(gateway_port, key, 1.0)  # warm connections and caches
        progress(NAME, f"gateway idle for {seconds:g} s")
        idle = latencies(gateway_port, key, seconds)
        stop = multiprocessing.get_context("spawn").Event()
        load = multiprocessing.get_context("spawn").Process(
            target=_importers, args=(api_port, admin_key, spec, stop), daemon=True
        )
        load.start()
        time.sleep(2.0)  # every importer is under way
        progress(NAME, f"gateway for {seconds:g} s beside {IMPORTERS} importing clients")
        importing = latencies(gateway_port, key, seconds)
        running = load.is_alive()
        stop.set()
        load.join(600)
    return Beside(idle, importing, running)


def beside_table(beside: Beside) -> str:
    rows = [("gateway", "requests", "p50 ms", "p99 ms", "max ms")]
    for label, values in (("idle", beside.idle), ("beside imports", beside.importing)):
        rows.append(
            (
                label,
                str(len(values)),
                f"{beside.percentile(values, 0.5) * 1e3:.2f}",
                f"{beside.percentile(values, 0.99) * 1e3:.2f}",
                f"{max(values) * 1e3:.2f}",
            )
        )
    return _aligned(rows)


def _aligned(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spec_intake", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="imports of each document")
    parser.add_argument("--seconds", type=float, default=10.0, help="of each latency sample")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    results = intake(max(1, arguments.rounds))
    print(intake_table(results))
    [largest] = [result for result in results if result.label.startswith(f"{SIZES_MB[-1]:g} MB")]
    flat = flatness(results)
    print(
        f"\n12 MB import: {largest.seconds:.1f} s (goal <= {BUDGET_12_MB:g} s); "
        f"time per MB, largest over smallest: {flat:.2f}x (goal <= {FLAT_WITHIN:g}x)\n"
    )
    beside = beside_imports(arguments.seconds)
    print(beside_table(beside))
    print(f"\ngateway p99 beside imports / idle: {beside.ratio:.2f}x (goal <= {P99_WITHIN:g}x)")
    if not beside.imports_running:
        print("the importing clients stopped early: see the serve log", file=sys.stderr)
        return 1
    met = largest.seconds <= BUDGET_12_MB and flat <= FLAT_WITHIN and beside.ratio <= P99_WITHIN
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
