"""How fast a revocation reaches every gateway: p99 at most 100 ms on PostgreSQL, 1 s on SQLite.

`python -m benchmarks.propagation` starts two `keyward serve gateway` processes on one database
(PostgreSQL, then SQLite), in front of a small upstream in this process. For each of 200 keys it
makes sure both gateways forward the key (so both have it cached as valid), revokes it through
`keys.service.revoke_key`, and times from the commit until each gateway refuses it, asking each
in a tight loop on a keep-alive connection of its own. A key's figure is the later of the two.
It prints one table and exits 1 when a goal is missed.
"""

import argparse
import http.client
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from benchmarks.gateway_setup import (
    KEY_HEADER,
    MOUNT_PATH,
    RESOURCE,
    GatewayProcess,
    OkUpstream,
    Population,
    gateways,
    populated,
    postgres_database,
    progress,
    sqlite_url,
)
from keyward.domains.keys.service import revoke_key

NAME = "propagation"
REVOCATIONS = 200
GATEWAYS = 2
POSTGRESQL = "postgresql"
SQLITE = "sqlite"
BACKENDS = (POSTGRESQL, SQLITE)
GOALS = {POSTGRESQL: 0.100, SQLITE: 1.0}  # p99 of the time until both gateways refuse, seconds
FEEDS = {POSTGRESQL: "LISTEN/NOTIFY", SQLITE: "polled every 0.25 s"}
# Before each revocation a pause of up to this long, at random: a revocation then falls anywhere
# in the followers' poll cycle, instead of just after the poll that found the previous one.
PAUSE = 0.3
PAUSE_SEED = 20261124
GIVE_UP = 10.0  # seconds a gateway may take to refuse a revoked key before the run stops
TARGET = f"/{MOUNT_PATH}{RESOURCE}"


@contextmanager
def upstream() -> Iterator[str]:
    """An upstream on a free 127.0.0.1 port answering every GET with 200; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), OkUpstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="upstream", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Prober:
    """Asks one gateway about keys over one keep-alive connection, from a thread of its own."""

    def __init__(self, gateway: GatewayProcess) -> None:
        self._port = gateway.port
        self._connection = self._connect()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"probe-{self._port}")

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self._port, timeout=GIVE_UP)

    def _status(self, secret: str) -> int:
        try:
            self._connection.request("GET", TARGET, headers={KEY_HEADER: secret})
            response = self._connection.getresponse()
            response.read()
            return response.status
        except (http.client.HTTPException, OSError):
            # A connection the gateway closed: retried once on a new one.
            self._connection.close()
            self._connection = self._connect()
            self._connection.request("GET", TARGET, headers={KEY_HEADER: secret})
            response = self._connection.getresponse()
            response.read()
            return response.status

    def status(self, secret: str) -> int:
        return self._executor.submit(self._status, secret).result()

    def first_refusal(self, secret: str, go: threading.Event) -> "Future[float | None]":
        """From `go` on, ask about `secret` until refused (401); when that request was sent."""

        def ask() -> float | None:
            go.wait()
            give_up = time.perf_counter() + GIVE_UP
            while True:
                sent = time.perf_counter()
                status = self._status(secret)
                if status == 401:
                    return sent
                if status != 200:
                    raise RuntimeError(f"the gateway answered {status} for a key being revoked")
                if sent > give_up:
                    return None

        return self._executor.submit(ask)

    def close(self) -> None:
        self._executor.shutdown()
        self._connection.close()


@dataclass(frozen=True, slots=True)
class Propagation:
    """Seconds from each revocation's commit until both gateways refused the key."""

    backend: str
    both: tuple[float, ...]
    each: tuple[tuple[float, ...], ...]  # per gateway
    timed_out: bool

    def percentile(self, fraction: float) -> float:
        """The nearest-rank percentile of `both`; infinite when a gateway never refused."""
        if self.timed_out:
            return math.inf
        ordered = sorted(self.both)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]

    @property
    def goal(self) -> float:
        return GOALS[self.backend]

    @property
    def met(self) -> bool:
        return self.percentile(0.99) <= self.goal


def measure(population: Population, pair: Sequence[GatewayProcess], count: int) -> Propagation:
    """Revoke `count` keys one at a time and time how long each gateway keeps accepting it."""
    backend = population.database.dialect
    probers = [Prober(gateway) for gateway in pair]
    both: list[float] = []
    each: list[list[float]] = [[] for _ in probers]
    pauses = random.Random(PAUSE_SEED)
    try:
        for number, key in enumerate(population.keys[:count], 1):
            for prober in probers:
                status = prober.status(key.secret)
                if status != 200:
                    raise RuntimeError(f"a gateway answered {status} for a valid key")
            time.sleep(pauses.uniform(0, PAUSE))
            go = threading.Event()
            refusals = [prober.first_refusal(key.secret, go) for prober in probers]
            try:
                with population.database.transaction() as uow:
                    revoke_key(uow, population.admin, key.id)
                committed = time.perf_counter()
            finally:
                go.set()
            sent = [refusal.result() for refusal in refusals]
            if any(moment is None for moment in sent):
                progress(
                    NAME, f"{backend}: a gateway still accepted key {number} after {GIVE_UP:g} s"
                )
                return Propagation(backend, tuple(both), tuple(map(tuple, each)), timed_out=True)
            delays = [moment - committed for moment in sent if moment is not None]
            for found, delay in zip(each, delays, strict=True):
                found.append(delay)
            both.append(max(delays))
            if number % 50 == 0:
                progress(NAME, f"{backend}: {number} revocations")
    finally:
        for prober in probers:
            prober.close()
    return Propagation(backend, tuple(both), tuple(map(tuple, each)), timed_out=False)


def run_backend(backend: str, count: int) -> Propagation:
    """Set up `backend` with `count` keys and two gateways, then measure."""
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="keyward-prop-")))
        if backend == POSTGRESQL:
            url = stack.enter_context(postgres_database())
        else:
            url = sqlite_url(directory)
        upstream_url = stack.enter_context(upstream())
        population = stack.enter_context(populated(url, count, upstream_url))
        first = population.keys[0].secret
        pair = stack.enter_context(gateways(url, GATEWAYS, directory, first))
        progress(NAME, f"{backend}: {count} keys, {len(pair)} gateways forwarding")
        return measure(population, pair, count)


def _milliseconds(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds * 1000:.1f}"


def table(results: Sequence[Propagation]) -> str:
    header = (
        "backend",
        "feed",
        "revocations",
        "p50 ms",
        "p99 ms",
        "max ms",
        "mean ms",
        "each gateway's p50 ms",
        "goal (p99)",
        "",
    )
    lines = [header]
    for result in results:
        measured = len(result.both)
        lines.append(
            (
                result.backend,
                FEEDS[result.backend],
                f"{measured}" + (" (stopped)" if result.timed_out else ""),
                _milliseconds(result.percentile(0.5)),
                _milliseconds(result.percentile(0.99)),
                _milliseconds(result.percentile(1.0)),
                _milliseconds(statistics.fmean(result.both)) if measured else "",
                ", ".join(
                    f"{statistics.median(found) * 1000:.1f}" for found in result.each if found
                ),
                f"≤ {result.goal * 1000:,.0f} ms",
                "ok" if result.met else "MISSED",
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.propagation",
        description="Time revocations until two gateway processes both refuse the key.",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        action="append",
        help="measure only this database (repeatable); default: both",
    )
    parser.add_argument(
        "--revocations",
        type=int,
        default=REVOCATIONS,
        help=f"keys revoked per backend (default {REVOCATIONS})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    if arguments.revocations < 1:
        raise SystemExit(f"{NAME}: --revocations must be 1 or more")
    results = [
        run_backend(backend, arguments.revocations) for backend in arguments.backend or BACKENDS
    ]
    print(f"{GATEWAYS} gateway processes per backend; a key's figure is the later of the two.")
    print(table(results))
    missed = [result for result in results if not result.met]
    for result in missed:
        print(
            f"{NAME}: on {result.backend}, p99 {_milliseconds(result.percentile(0.99))} ms is over "
            f"the goal of {result.goal * 1000:g} ms.",
            file=sys.stderr,
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
