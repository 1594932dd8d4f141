"""A gateway worker process that dies is replaced by its parent: `keyward serve gateway` keeps
answering on its port while one of its workers is killed, and another process takes its place;
a worker that keeps dying as it starts is started again later each time, not in a tight loop."""

import logging
import os
import signal
from pathlib import Path

import httpx2 as httpx
import pytest

from keyward.gateway.workers import Workers
from keyward.metrics import MetricsHub
from tests.e2e.processes import serve_gateway
from tests.e2e.short_lived import exit_at_once
from tests.verifier.support import eventually

pytestmark = pytest.mark.e2e


def _workers_of(pid: int) -> set[int]:
    """The gateway worker processes `pid` started (spawned interpreters, not its resource
    tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        if parent == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _alive(url: str) -> bool:
    return httpx.get(f"{url}/healthz", timeout=10).status_code == 200


def test_a_killed_gateway_worker_is_replaced_and_the_port_keeps_answering(
    fresh_url: str, tmp_path: Path
) -> None:
    with serve_gateway(fresh_url, tmp_path, KEYWARD_GATEWAY_WORKERS="2") as gateway:
        eventually(lambda: len(_workers_of(gateway.pid)) == 1, within=60)
        (worker,) = _workers_of(gateway.pid)
        os.kill(worker, signal.SIGKILL)
        for _ in range(20):  # each on a connection of its own, whichever process takes it
            assert _alive(gateway.url)
        eventually(lambda: len(_workers_of(gateway.pid) - {worker}) == 1, within=60)
        eventually(
            lambda: any(
                f"gateway worker 1 (pid {worker}) ended with exit code -9" in line
                and "starting another" in line
                for line in gateway.lines()
            ),
            within=30,
        )
        (replacement,) = _workers_of(gateway.pid)
        assert replacement != worker
        assert _alive(gateway.url)


def test_a_worker_that_keeps_dying_at_start_is_started_again_ever_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="keyward.gateway")
    workers = Workers(exit_at_once, 1, MetricsHub())
    workers.start()
    try:

        def delays() -> list[str]:
            return [
                record.getMessage().rsplit("starting another", 1)[1]
                for record in caplog.records
                if "starting another" in record.getMessage()
            ]

        eventually(lambda: len(delays()) >= 4, within=60)
    finally:
        workers.stop()
    assert delays()[:4] == ["", " in 0.5 s", " in 1 s", " in 2 s"]
    assert "exit code 3" in caplog.records[0].getMessage()
