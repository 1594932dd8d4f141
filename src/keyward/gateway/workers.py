"""The gateway's worker processes: started, replaced when one dies, and heard from.

A worker that ends while the gateway runs (killed, crashed) is replaced at once, with a log
line; one that keeps ending soon after it started is replaced ever later (doubling up to
`LONGEST_DELAY`), so a worker that cannot start does not spin. Each worker sends its metrics
snapshot on a pipe of its own; a thread of the parent reads every pipe and watches every
worker, without touching the parent's event loop.
"""

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Final

from keyward.metrics import MetricsHub

log: Final = logging.getLogger("keyward.gateway")

SHORT_LIFE: Final = 10.0
"""A worker that ends sooner than this after starting counts as dying at start."""
FIRST_DELAY: Final = 0.5
LONGEST_DELAY: Final = 30.0

Target = Callable[[Connection], None]
"""A worker's body, told the pipe to send its snapshots on; it must be picklable (spawn)."""


class _Slot:
    """One worker's place: the process in it now, its pipe, and how it fared."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.process: BaseProcess | None = None
        self.pipe: Connection | None = None
        self.started_at = 0.0
        self.quick_deaths = 0
        self.restart_at: float | None = None

    @property
    def source(self) -> str:
        return f"worker-{self.number}"


class Workers:
    """`count` worker processes running `target`, supervised by a thread; their snapshots go
    to `hub`."""

    def __init__(self, target: Target, count: int, hub: MetricsHub) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._target = target
        self._hub = hub
        self._slots = [_Slot(n) for n in range(1, count + 1)]
        self._stopping = False
        self._wake_read, self._wake = self._context.Pipe(duplex=False)
        self._thread = threading.Thread(target=self._watch, name="keyward-workers", daemon=True)

    def __bool__(self) -> bool:
        return bool(self._slots)

    @property
    def pids(self) -> list[int]:
        return [
            slot.process.pid
            for slot in self._slots
            if slot.process is not None and slot.process.pid is not None
        ]

    def start(self) -> None:
        for slot in self._slots:
            self._start(slot)
        self._thread.start()

    def stop(self) -> None:
        """Stop supervising, then terminate every worker and wait for them (10 s each)."""
        self._stopping = True
        self._wake.send(None)
        if self._thread.is_alive():
            self._thread.join(10)
        for slot in self._slots:
            if slot.process is not None:
                slot.process.terminate()
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(10)
            if slot.pipe is not None:
                slot.pipe.close()
        self._wake.close()
        self._wake_read.close()

    def _start(self, slot: _Slot) -> None:
        pipe, told = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=self._target, args=(told,), name=f"keyward-gateway-{slot.number}"
        )
        process.start()
        told.close()
        slot.process, slot.pipe = process, pipe
        slot.started_at = time.monotonic()
        slot.restart_at = None

    def _watch(self) -> None:
        while not self._stopping:
            waiting: list[Connection | int] = [self._wake_read]
            for slot in self._slots:
                if slot.process is not None:
                    waiting.append(slot.process.sentinel)
                if slot.pipe is not None:
                    waiting.append(slot.pipe)
            due = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
            timeout = max(0.0, min(due) - time.monotonic()) if due else None
            ready = wait(waiting, timeout)
            if self._stopping:
                return
            for slot in self._slots:
                self._receive(slot, ready)
                process = slot.process
                if process is not None and process.sentinel in ready:
                    self._ended(slot, process)
                if slot.restart_at is not None and time.monotonic() >= slot.restart_at:
                    self._start(slot)

    def _receive(self, slot: _Slot, ready: Sequence[object]) -> None:
        pipe = slot.pipe
        if pipe is None or pipe not in ready:
            return
        try:
            while pipe.poll():
                self._hub.update(slot.source, pipe.recv())
        except (EOFError, OSError):
            pipe.close()
            slot.pipe = None

    def _ended(self, slot: _Slot, process: BaseProcess) -> None:
        process.join()
        if slot.pipe is not None:
            slot.pipe.close()
            slot.pipe = None
        self._hub.end(slot.source)
        slot.process = None
        lived = time.monotonic() - slot.started_at
        slot.quick_deaths = slot.quick_deaths + 1 if lived < SHORT_LIFE else 0
        delay = 0.0
        if slot.quick_deaths > 1:
            delay = min(LONGEST_DELAY, FIRST_DELAY * 2.0 ** (slot.quick_deaths - 2))
        log.warning(
            "gateway worker %d (pid %s) ended with exit code %s after %.1f s; starting another%s",
            slot.number,
            process.pid,
            process.exitcode,
            lived,
            f" in {delay:g} s" if delay else "",
        )
        slot.restart_at = time.monotonic() + delay
