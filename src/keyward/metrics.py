"""Prometheus metrics on the admin listener: what every gateway process counted, summed, and
what the outbox holds.

A gateway process counts in plain numbers on its event loop (`gateway.metrics`,
`verifier.counts`) and takes a `Snapshot` of them every second. Gateway worker processes send
theirs to their parent over a pipe; the parent keeps the last one of each (`MetricsHub`) and
serves their sum. A pipe rather than a file per process: nothing to create, clean or leave
behind on disk, a dead worker is known by its pipe's end as by its sentinel, and a second of
delay suits a scrape. What a dead worker counted stays in the sum, so counters never go back.
"""

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Final, NamedTuple

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from keyward.db.engine import Database
from keyward.domains.outbox import service as outbox
from keyward.gateway.metrics import RequestKey
from keyward.verifier.counts import LOOKUP_BUCKETS

log: Final = logging.getLogger("keyward.metrics")

REPORT_EVERY: Final = 1.0
"""Seconds between two snapshots a gateway process reports."""
_OUTBOX_DEADLINE: Final = 2.0
# Refusals of the limiters (per key and acquisition, failed keys, lookups): how they decided.
_LIMITER_CODES: Final = frozenset(
    {"rate_limited", "too_many_failed_keys", "verification_unavailable"}
)


class Snapshot(NamedTuple):
    """What one gateway process (or several, summed) counted since it started."""

    requests: dict[RequestKey, int]
    hits: int
    misses: int
    stale: int
    lookups: tuple[int, ...]
    """Storage reads per bucket of `LOOKUP_BUCKETS`, not cumulative."""
    lookup_seconds: float
    current_at: float
    """POSIX time before the last read of the change feed that reached its end (the oldest
    among processes); 0 when unknown."""
    processes: int


EMPTY: Final = Snapshot({}, 0, 0, 0, (0,) * (len(LOOKUP_BUCKETS) + 1), 0.0, 0.0, 0)


def merge(snapshots: Iterable[Snapshot]) -> Snapshot:
    """The sum of `snapshots`; their feed position is the one furthest behind."""
    requests: dict[RequestKey, int] = {}
    hits = misses = stale = processes = 0
    lookups = [0] * len(EMPTY.lookups)
    seconds = 0.0
    current_at = 0.0
    for snapshot in snapshots:
        for key, count in snapshot.requests.items():
            requests[key] = requests.get(key, 0) + count
        hits += snapshot.hits
        misses += snapshot.misses
        stale += snapshot.stale
        for bucket, count in enumerate(snapshot.lookups):
            lookups[bucket] += count
        seconds += snapshot.lookup_seconds
        if snapshot.current_at and (not current_at or snapshot.current_at < current_at):
            current_at = snapshot.current_at
        processes += snapshot.processes
    return Snapshot(requests, hits, misses, stale, tuple(lookups), seconds, current_at, processes)


class MetricsHub:
    """The last snapshot of each source (a gateway process, or a parent's sum of them), and what
    sources that ended had counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Snapshot] = {}
        self._ended = EMPTY

    def update(self, source: str, snapshot: Snapshot) -> None:
        with self._lock:
            self._latest[source] = snapshot

    def end(self, source: str) -> None:
        """`source` ended: its counts stay in the sum, its feed position and process do not."""
        with self._lock:
            last = self._latest.pop(source, None)
            if last is not None:
                self._ended = merge([self._ended, last._replace(current_at=0.0, processes=0)])

    def total(self) -> Snapshot:
        with self._lock:
            return merge([self._ended, *self._latest.values()])

    def follow(self, connection: Connection, source: str) -> threading.Thread:
        """Take the snapshots sent on `connection` in a thread, until it closes."""

        def receive() -> None:
            try:
                while True:
                    self.update(source, connection.recv())
            except (EOFError, OSError):
                pass
            finally:
                self.end(source)

        thread = threading.Thread(target=receive, name=f"keyward-metrics-{source}", daemon=True)
        thread.start()
        return thread


def forward(hub: MetricsHub, connection: Connection, stop: threading.Event) -> threading.Thread:
    """Send `hub`'s sum on `connection` every `REPORT_EVERY` seconds, in a thread, until `stop`
    is set or the other end is gone."""

    def send() -> None:
        while not stop.wait(REPORT_EVERY):
            try:
                connection.send(hub.total())
            except (OSError, ValueError):
                return

    thread = threading.Thread(target=send, name="keyward-metrics-forward", daemon=True)
    thread.start()
    return thread


class OutboxCounts:
    """The outbox's pending and failed messages, read with a deadline: a scrape while storage
    hangs answers the last counts read."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._counts: outbox.Backlog | None = None
        self._reading: threading.Thread | None = None

    def read(self) -> outbox.Backlog | None:
        reading = self._reading
        if reading is None or not reading.is_alive():
            reading = self._reading = threading.Thread(
                target=self._read, name="keyward-metrics-outbox", daemon=True
            )
            reading.start()
        reading.join(_OUTBOX_DEADLINE)
        return self._counts

    def _read(self) -> None:
        try:
            with self._database.transaction(write=False) as uow:
                self._counts = outbox.backlog(uow)
        except Exception as error:
            log.warning("could not count the outbox for the metrics: %s", error)


class KeywardCollector:
    """The metric families of a scrape: the gateway processes' sum from `hub`, the outbox from
    `database` (each when given)."""

    def __init__(self, hub: MetricsHub | None, database: Database | None = None) -> None:
        self._hub = hub
        self._outbox = None if database is None else OutboxCounts(database)

    def collect(self) -> Iterator[Metric]:
        if self._hub is not None:
            yield from _gateway_families(self._hub.total())
        if self._outbox is not None:
            counts = self._outbox.read()
            if counts is not None:
                yield GaugeMetricFamily(
                    "keyward_outbox_backlog",
                    "Outbox messages waiting to be delivered (pending, retries included).",
                    value=counts.pending,
                )
                yield GaugeMetricFamily(
                    "keyward_outbox_retrying",
                    "Pending outbox messages whose delivery failed at least once.",
                    value=counts.retrying,
                )
                yield GaugeMetricFamily(
                    "keyward_outbox_failed",
                    "Outbox messages given up after failed deliveries.",
                    value=counts.failed,
                )


def _gateway_families(total: Snapshot) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "keyward_gateway_requests",
        "Requests the gateway answered, by API id, operationId, status and error code.",
        labels=["api", "operation", "status", "code"],
    )
    limited = CounterMetricFamily(
        "keyward_gateway_limiter_refusals",
        "Requests the gateway's limiters refused, by code (rate_limited: a key's or "
        "acquisition's limit; too_many_failed_keys: the client's failed keys; "
        "verification_unavailable: lookups over their bounds or storage unavailable).",
        labels=["code"],
    )
    by_code: dict[str, int] = {}
    for (api, operation, status, code), count in sorted(total.requests.items()):
        requests.add_metric([api, operation, str(status), code], count)
        if code in _LIMITER_CODES:
            by_code[code] = by_code.get(code, 0) + count
    for code in sorted(_LIMITER_CODES):
        limited.add_metric([code], by_code.get(code, 0))
    yield requests
    yield limited
    yield CounterMetricFamily(
        "keyward_verify_cache_hits", "Keys answered from the cache.", value=total.hits
    )
    yield CounterMetricFamily(
        "keyward_verify_cache_misses", "Keys read from storage to be answered.", value=total.misses
    )
    yield CounterMetricFamily(
        "keyward_verify_stale_answers",
        "Keys answered from the cache past its freshness, storage failing or too slow.",
        value=total.stale,
    )
    cumulative = 0
    buckets: list[tuple[str, float]] = []
    for bound, count in zip((*map(str, LOOKUP_BUCKETS), "+Inf"), total.lookups, strict=True):
        cumulative += count
        buckets.append((bound, cumulative))
    yield HistogramMetricFamily(
        "keyward_verify_lookup_seconds",
        "Seconds a key's read from storage took.",
        buckets=buckets,
        sum_value=total.lookup_seconds,
    )
    if total.current_at:
        lag = max(0.0, datetime.now(UTC).timestamp() - total.current_at)
        yield GaugeMetricFamily(
            "keyward_gateway_feed_lag_seconds",
            "Seconds since the gateway process furthest behind last read the change feed to "
            "its end.",
            value=lag,
        )
    yield GaugeMetricFamily(
        "keyward_gateway_processes",
        "Gateway processes reporting their counts.",
        value=total.processes,
    )


AdminListener = Callable[[], None]
"""Stops the admin listener."""


def serve_metrics(host: str, port: int, collector: KeywardCollector) -> AdminListener:
    """Serve `collector`'s metrics at http://host:port/metrics, in a thread; returns what stops
    it. OSError when the port cannot be bound."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
