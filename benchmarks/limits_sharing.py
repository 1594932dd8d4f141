"""Quotas without Redis: what the gateway admits against the limit, with 1, 2 and 4 gateway
processes on one database and across a restart; goal: within ±10 % of the limit, never above.

`python -m benchmarks.limits_sharing` sets up the benchmark API (`gateway_setup`) on SQLite and
on PostgreSQL, with a quota of 1,000 requests per hour per key, and for each figure sends 1,500
requests with a key of its own, eight at a time, each on a connection of its own so that the
kernel spreads them over the processes sharing the port (`KEYWARD_GATEWAY_WORKERS`). The restart
figure sends half the quota to a gateway of two processes, stops it, starts it again and sends
1,000 more: together they should still admit the quota once. It prints one table and exits 1
when a goal is missed.
"""

import argparse
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from benchmarks.gateway_setup import (
    Population,
    gateways,
    populated,
    postgres_database,
    progress,
    sqlite_url,
    status_of,
)
from benchmarks.propagation import upstream
from keyward.db.models import Offering
from keyward.domains.offerings.schemas import OfferingUpdate
from keyward.domains.offerings.service import update_offering

NAME = "limits_sharing"
QUOTA = 1000
PERIOD = "PT1H"
SENT = 1500
CLIENTS = 8
PROCESSES = (1, 2, 4)
RESTART_WORKERS = 2
TOLERANCE = 0.10
POSTGRESQL = "postgresql"
SQLITE = "sqlite"
BACKENDS = (SQLITE, POSTGRESQL)


@dataclass(frozen=True, slots=True)
class Admitted:
    """One figure: `admitted` of `sent` requests against a limit of `limit`."""

    backend: str
    case: str
    sent: int
    admitted: int
    limit: int
    failed: int  # answers other than 200 and 429, or no answer

    @property
    def ratio(self) -> float:
        return self.admitted / self.limit

    @property
    def met(self) -> bool:
        return (1 - TOLERANCE) * self.limit <= self.admitted <= self.limit and not self.failed


def _send(port: int, key: str, count: int) -> tuple[int, int]:
    """`count` requests with `key`, CLIENTS at a time: (admitted, failed)."""

    def one(_: int) -> int:
        try:
            return status_of(port, key, timeout=30)
        except OSError:
            return 0

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(one, range(count)))
    return statuses.count(200), sum(status not in (200, 429) for status in statuses)


def _set_quota(population: Population) -> None:
    body = OfferingUpdate.model_validate(
        {"limits": [{"scope": "key", "requests": QUOTA, "per": PERIOD}]}
    )
    with population.database.transaction() as uow:
        offering = uow.session.scalars(select(Offering.id)).one()
        update_offering(uow, population.admin, offering, body)


def run_backend(backend: str) -> list[Admitted]:
    """Set up `backend` with a key per figure (and one to see gateways start), then measure."""
    figures: list[Admitted] = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="keyward-lim-")))
        url = stack.enter_context(postgres_database()) if backend == POSTGRESQL else None
        url = url or sqlite_url(directory)
        upstream_url = stack.enter_context(upstream())
        population = stack.enter_context(populated(url, len(PROCESSES) + 2, upstream_url))
        _set_quota(population)
        starter, *keys = (key.secret for key in population.keys)
        for processes, key in zip(PROCESSES, keys, strict=False):
            workers = {"KEYWARD_GATEWAY_WORKERS": str(processes)}
            with gateways(url, 1, directory, starter, **workers) as (gateway,):
                admitted, failed = _send(gateway.port, key, SENT)
            case = f"{processes} process{'es' if processes > 1 else ''}"
            figures.append(Admitted(backend, case, SENT, admitted, QUOTA, failed))
            progress(NAME, f"{backend}, {case}: {admitted} of {QUOTA} admitted")
        key = keys[-1]
        workers = {"KEYWARD_GATEWAY_WORKERS": str(RESTART_WORKERS)}
        with gateways(url, 1, directory, starter, **workers) as (gateway,):
            before, failed_before = _send(gateway.port, key, QUOTA // 2)
        with gateways(url, 1, directory, starter, **workers) as (gateway,):
            after, failed_after = _send(gateway.port, key, QUOTA)
        case = f"restart ({RESTART_WORKERS} processes): {before} + {after}"
        total = before + after
        figures.append(
            Admitted(backend, case, QUOTA // 2 + QUOTA, total, QUOTA, failed_before + failed_after)
        )
        progress(NAME, f"{backend}, {case}")
    return figures


def table(figures: Sequence[Admitted]) -> str:
    header = ("backend", "gateway", "sent", "admitted", "limit", "admitted/limit", "goal", "")
    lines = [header]
    for figure in figures:
        lines.append(
            (
                figure.backend,
                figure.case,
                f"{figure.sent:,}",
                f"{figure.admitted:,}",
                f"{figure.limit:,}",
                f"{figure.ratio:.3f}",
                f"{1 - TOLERANCE:.2f}–1.00",
                ("ok" if figure.met else "MISSED")
                + (f" ({figure.failed} failed)" if figure.failed else ""),
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
        prog="python -m benchmarks.limits_sharing",
        description="Admitted requests against a quota with 1, 2, 4 gateway processes and "
        "across a restart.",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        action="append",
        help="measure only this database (repeatable); default: both",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    figures = [
        figure for backend in arguments.backend or BACKENDS for figure in run_backend(backend)
    ]
    print(
        f"A quota of {QUOTA:,} requests per hour per key, {CLIENTS} clients, a connection per "
        "request; without Redis."
    )
    print(table(figures))
    missed = [figure for figure in figures if not figure.met]
    for figure in missed:
        print(
            f"{NAME}: on {figure.backend}, {figure.case} admitted {figure.admitted} against a "
            f"limit of {figure.limit} ({figure.failed} requests failed).",
            file=sys.stderr,
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
