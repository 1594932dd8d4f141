"""Running a gateway: the server, its verifier and catalog following the change feed, usage flushes.

Several gateway processes may run against one database; each follows the change feed on its
own (PostgreSQL wakes them with NOTIFY), so a change made anywhere reaches every one. Before
refusing a request, a gateway reads the feed once more (`Enforcer`), so what was committed
before a request arrived is what decides it, whatever the feed's pace.
"""

import asyncio
import gc
import logging
import logging.handlers
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from multiprocessing.connection import Connection
from typing import Final

import uvloop

from keyward import __version__
from keyward.db.engine import Database
from keyward.db.feed import Change
from keyward.domains.egress import upstream_policy
from keyward.gateway.catalog import load_catalog, updated_catalog
from keyward.gateway.enforcement import Enforcer
from keyward.gateway.floods import FailedKeys
from keyward.gateway.http import COMPILED, GatewayServer, Limits, Reply, new_event_loop
from keyward.gateway.metrics import ExchangeCounts
from keyward.gateway.refusals import RefusalLog, record_refusals
from keyward.gateway.workers import Workers
from keyward.logs import MASKS, configure_logging
from keyward.metrics import REPORT_EVERY, KeywardCollector, MetricsHub, Snapshot, serve_metrics
from keyward.metrics import forward as forward_metrics
from keyward.readiness import ALIVE, StorageCheck, json_bytes, not_ready, readiness
from keyward.settings import Settings
from keyward.verifier import FeedFollower, Verifier
from keyward.verifier.heartbeat import Heartbeat
from keyward.verifier.limits import rate_limiter
from keyward.verifier.usage import UsageRecorder, add_usage

log: Final = logging.getLogger("keyward.gateway")
access_log: Final = logging.getLogger("keyward.gateway.access")

# Above every level: `access_log.isEnabledFor` is false, so no request formats a line for nothing.
_ACCESS_LOG_OFF: Final = logging.CRITICAL + 1
_JSON: Final = (b"content-type", b"application/json")


def _alive() -> Reply:
    return Reply(200, [_JSON], json_bytes(ALIVE))


class Gateway:
    """One gateway: call `start` and `stop` from its event loop."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._database = database
        self.verifier = Verifier.serving(database, settings)
        self._preload = settings.cache_preload
        self._usage_interval = settings.usage_flush_interval
        self._heartbeat_interval = settings.gateway_heartbeat
        self.usage = UsageRecorder(database.clock)
        self._limiter = rate_limiter(
            settings.redis_url, database, processes=settings.gateway_workers
        )
        self._follower = FeedFollower(
            database,
            self.verifier,
            interval=settings.feed_interval,
            usage_interval=settings.usage_flush_interval,
            listener=self.reload,
        )
        self.enforcer = Enforcer(
            self.verifier,
            self._limiter,
            cors_preflight=settings.gateway_cors_preflight,
            encoded_separators=settings.gateway_allow_encoded_separators,
            catch_up=self._follower.catch_up,
            failed_keys=FailedKeys(
                settings.failed_auth_per_address,
                settings.failed_auth_per_prefix,
                settings.failed_auth_window,
            ),
        )
        self._server = GatewayServer(
            self.enforcer,
            Limits(max_connections_per_client=settings.gateway_max_connections_per_client),
            egress=upstream_policy(settings),
            observer=self._count,
            probes={b"/healthz": _alive, b"/livez": _alive, b"/readyz": self._readiness},
        )
        self._flush_timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Future[int] | None = None
        self.refusals = RefusalLog()
        self._recording: asyncio.Future[None] | None = None
        self.counts = ExchangeCounts()
        self._storage = StorageCheck(database)
        self._max_feed_lag = settings.ready_max_feed_lag
        self._catalog_loaded = False

    def _count(self, status: int, fields: Mapping[str, str]) -> None:
        """Metrics of every answer; usage per key: every answer to a request whose key was
        identified."""
        self.counts.count(status, fields)
        key_id = fields.get("key_id")
        if key_id and status:
            self.usage.record(key_id, fields["workspace_id"], status)
        if "refusal" in fields and self.refusals.note(status, fields):
            self._record_refusals()

    def _record_refusals(self) -> None:
        """Write the refusals noted for the audit log in a thread, one write at a time: the
        one running takes what was noted meanwhile when it ends."""
        if self._recording is not None:
            return
        taken = self.refusals.take()
        if not taken:
            return
        loop = asyncio.get_running_loop()
        recording = self._recording = loop.run_in_executor(
            None, record_refusals, self._database, taken
        )

        def recorded(done: "asyncio.Future[None]") -> None:
            self._recording = None
            self._record_refusals()

        recording.add_done_callback(recorded)

    def apply(self, changes: Sequence[Change]) -> None:
        """Changes this process committed itself: seen at once, before the feed reports them."""
        self.verifier.apply(changes)
        self.reload(list(changes))

    def reload(self, changes: list[Change] | None) -> None:
        """Update the catalog for changes to APIs or offerings; rebuild it whole when changes
        may have been missed (None)."""
        if changes is None:
            self.enforcer.catalog = load_catalog(self._database)
        else:
            self.enforcer.catalog = updated_catalog(self._database, self.enforcer.catalog, changes)

    def _flush_later(self) -> None:
        loop = asyncio.get_running_loop()
        self._flush_timer = loop.call_later(self._usage_interval, self._flush_in_background)

    def _flush_in_background(self) -> None:
        """Take the usage counts on the event loop, which counts them, and write them in a
        thread; counting needs no lock, and requests never wait for the write."""
        taken = self.usage.take()
        if not taken:
            self._flush_later()
            return
        loop = asyncio.get_running_loop()
        writing = self._writing = loop.run_in_executor(None, add_usage, self._database, taken)

        def written(done: asyncio.Future[int]) -> None:
            self._writing = None
            failure = None if done.cancelled() else done.exception()
            if done.cancelled() or failure is not None:
                log.error(
                    "usage flush failed; the counts are kept for the next one", exc_info=failure
                )
                self.usage.restore(taken)
            if self._flush_timer is not None:
                self._flush_later()

        writing.add_done_callback(written)

    def _flush_once(self) -> None:
        try:
            self.usage.flush(self._database)
        except Exception:
            log.exception("usage flush failed; the counts are kept for the next one")

    @property
    def port(self) -> int:
        return self._server.port

    def snapshot(self) -> Snapshot:
        """What this process counted so far, for the metrics (on the event loop)."""
        verify = self.verifier.counts
        return Snapshot(
            dict(self.counts.requests),
            verify.hits,
            verify.misses,
            verify.stale,
            tuple(verify.lookups),
            verify.lookup_seconds,
            self._follower.current_at,
            1,
        )

    def _readiness(self) -> Reply:
        """/readyz from what this process knows, without waiting: storage by its last check
        (another starts in a thread when that one is a second old), the catalog, and the
        follower's last read to the end of the feed."""
        lag = max(0.0, self._database.clock.timestamp() - self._follower.current_at)
        status, body = readiness(
            not_ready(
                storage=self._storage.reachable(),
                catalog=self._catalog_loaded,
                feed_lag=lag,
                max_feed_lag=self._max_feed_lag,
            )
        )
        return Reply(status, [_JSON], json_bytes(body))

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.enforcer.catalog = await loop.run_in_executor(None, load_catalog, self._database)
        self._catalog_loaded = True
        await loop.run_in_executor(None, partial(self._storage.reachable, wait=True))
        heartbeat = self._follower.heartbeat = Heartbeat(
            self._database,
            address=f"{host}:{port}",
            version=__version__,
            interval=self._heartbeat_interval,
        )
        self._follower.start()
        started = time.perf_counter()
        cached = await loop.run_in_executor(None, self.verifier.preload, self._preload)
        if cached:
            elapsed = time.perf_counter() - started
            log.info("cached %d key%s in %.1f s", cached, "" if cached == 1 else "s", elapsed)
        self._flush_later()
        await self._server.start(host, port, reuse_port=reuse_port)
        heartbeat.address = f"{host}:{self._server.port}"
        log.info("gateway listening on http://%s:%d", host, self._server.port)
        if not COMPILED:
            log.warning("the gateway runs interpreted, at about 1.5× the CPU; `make` compiles it")

    async def stop(self) -> None:
        await self._server.close()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._writing is not None:
            await asyncio.wait([self._writing])  # counts it fails to write are put back
        if self._recording is not None:
            await asyncio.wait([self._recording])
        record_refusals(self._database, self.refusals.take())
        self._follower.stop()
        await self._limiter.close()
        self._flush_once()


class GatewayThread:
    """A gateway on an event loop of its own, in a thread: inside `keyward serve` and tests."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.gateway = gateway
        self._host, self._port = host, port
        self._loop = new_event_loop()
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._loop_thread = threading.Thread(target=self._run, name="keyward-gateway", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.gateway.start(self._host, self._port))
        except BaseException as error:
            self._failure = error
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._loop_thread.start()
        self._started.wait()
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        if self._failure is None:
            asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(30)
        self._loop.close()


@contextmanager
def access_logging(enabled: bool) -> Iterator[None]:
    """Access lines to stderr, written by a thread of their own so requests never wait on it.

    They are a stream apart from keyward's log (`keyward.logs`): they do not also pass through
    its handler, which would write each again, and while disabled they are not even made,
    whatever KEYWARD_LOG_LEVEL says.
    """
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.handlers.QueueHandler(lines)
    written = logging.StreamHandler(sys.stderr)
    written.addFilter(MASKS)
    writer = logging.handlers.QueueListener(lines, written)
    propagated, level = access_log.propagate, access_log.level
    access_log.propagate = False
    access_log.setLevel(logging.INFO if enabled else _ACCESS_LOG_OFF)
    if enabled:
        access_log.addHandler(handler)
        writer.start()
    try:
        yield
    finally:
        if enabled:
            access_log.removeHandler(handler)
            writer.stop()
        access_log.propagate = propagated
        access_log.setLevel(level)


def run_gateway(
    settings: Settings,
    host: str,
    port: int,
    started: "Connection | None" = None,
    metrics: "Connection | None" = None,
) -> None:
    """Serve until SIGINT or SIGTERM, in `settings.gateway_workers` processes sharing the port.

    Each worker is a whole gateway on uvloop with its own connections, cache and feed
    follower, as separate gateway processes are; the kernel spreads connections among them.
    This process is one of them, and replaces any other that dies (`Workers`).
    `started`, if given, is told None once the first one listens, or why it could not.
    The processes' metrics are summed here: sent on `metrics` every second when given (to
    `keyward serve`, which serves them), else served on settings.metrics_port if set.
    """
    hub = MetricsHub()
    stop_listener: Callable[[], None] | None = None
    if metrics is None and settings.metrics_port is not None:
        try:
            stop_listener = serve_metrics(
                settings.metrics_host, settings.metrics_port, KeywardCollector(hub)
            )
        except OSError as error:
            where = f"{settings.metrics_host}:{settings.metrics_port}"
            reason = f"the metrics listener cannot listen on {where}: {error.strerror or error}"
            if started is None:
                raise RuntimeError(reason) from error
            started.send(reason)
            return
    workers = Workers(partial(_work, settings, host, port), settings.gateway_workers - 1, hub)
    workers.start()
    forwarding = threading.Event()
    if metrics is not None:
        forward_metrics(hub, metrics, forwarding)
    try:
        _serve(settings, host, port, bool(workers), started, partial(hub.update, "worker-0"))
    finally:
        forwarding.set()
        workers.stop()
        if stop_listener is not None:
            stop_listener()


def _work(settings: Settings, host: str, port: int, metrics: Connection) -> None:
    """A worker process of `run_gateway`: serves, and sends its snapshots on `metrics`."""
    _serve(settings, host, port, True, report=metrics.send)


class GatewayProcess:
    """`run_gateway` in a process of its own, as `keyward serve` runs it beside the API: an
    import, a spec check or anything else the API does never holds the gateway's interpreter.
    The process stops with its parent, however the parent ends."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._started, told = context.Pipe(duplex=False)
        self.metrics, metrics = context.Pipe(duplex=False)
        """Where the sum of the gateway's processes' metrics arrives every second."""
        self._process = context.Process(
            target=run_gateway,
            args=(settings, host, port, told, metrics),
            name="keyward-gateway",
        )
        self._process.start()
        told.close()
        metrics.close()

    def wait_started(self, timeout: float) -> None:
        """Return once the gateway listens; RuntimeError saying why if it cannot."""
        try:
            if not self._started.poll(timeout):
                raise RuntimeError(f"the gateway did not start within {timeout:g} s")
            failure = self._started.recv()
        except EOFError:
            failure = f"the gateway process ended (exit code {self._process.exitcode})"
        if failure is not None:
            self.stop()
            raise RuntimeError(failure)

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._started.close()
        self.metrics.close()


def _serve(
    settings: Settings,
    host: str,
    port: int,
    reuse_port: bool,
    started: "Connection | None" = None,
    report: Callable[[Snapshot], None] | None = None,
) -> None:
    configure_logging(settings.log_level)  # a spawned worker starts a new interpreter

    async def main() -> None:
        database = Database.connect(settings.database_url)
        gateway = Gateway(settings, database)
        try:
            await gateway.start(host, port, reuse_port=reuse_port)
        except OSError as error:
            if started is None:
                raise
            reason = os.strerror(error.errno) if error.errno else str(error)
            started.send(f"the gateway cannot listen on {host}:{port}: {reason}")
            database.dispose()
            return
        if started is not None:
            started.send(None)
        # What the process has loaded by now (modules, the catalog, the warmed cache) lives as
        # long as it does: out of the collector's sight, a full collection no longer walks it,
        # which took tens of milliseconds and stalled every request meanwhile.
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if report is not None:
            _report_every_second(loop, gateway, report)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        parent = multiprocessing.parent_process()
        if parent is not None:
            # A worker stops with its parent, however the parent ended: one killed before it
            # could stop its workers would otherwise leave them serving the port for good.
            # The sentinel becomes readable when the parent's end of it closes.
            loop.add_reader(parent.sentinel, stop.set)
        await stop.wait()
        await gateway.stop()
        database.dispose()

    with access_logging(settings.gateway_access_log):
        uvloop.run(main())


def _report_every_second(
    loop: asyncio.AbstractEventLoop, gateway: Gateway, report: Callable[[Snapshot], None]
) -> None:
    """Hand `report` the gateway's snapshot now and every `REPORT_EVERY` seconds after, until
    it fails (the parent is gone)."""
    try:
        report(gateway.snapshot())
    except (OSError, ValueError):
        return
    loop.call_later(REPORT_EVERY, _report_every_second, loop, gateway, report)
