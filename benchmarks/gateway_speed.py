"""The gateway beside nginx: at least 0.6 times nginx + key map's req/s, p99 at most twice its.

`python -m benchmarks.gateway_speed` runs the team's reference harness (`../shared/bench/run.sh`,
copied to a temporary directory, as it writes beside itself) with three targets on 127.0.0.1:
nginx answering 200 (the upstream), nginx checking `X-API-Key` against a `map` of 10,000 keys
and proxying to it (the native anchor), and `keyward serve gateway` over a SQLite database of
10,000 acquisition keys, forwarding to the same upstream, in as many processes as nginx has
workers (one per CPU, unless `--workers` says otherwise). wrk loads one target at a time, with
one key. A second invocation compares the two proxies again with all 10,000 keys sent in turn.
Prints one table; exits 1 when a goal is missed.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.gateway_setup import (
    KEYWARD,
    MOUNT_PATH,
    RESOURCE,
    free_port,
    gateway_environment,
    populated,
    progress,
    sqlite_url,
)

NAME = "gateway_speed"
HARNESS = Path(
    os.environ.get(
        "KEYWARD_BENCH_HARNESS", Path(__file__).resolve().parents[2] / "shared" / "bench"
    )
)
UPSTREAM_URL = "http://127.0.0.1:18080"  # the harness's upstream, nginx answering 200
KEYS = 10_000
RUNS = 3
DURATION = 10
# In the run with every key in turn, the gateway's backstop re-read of cached keys (5 minutes by
# default) is pushed past the end of the run: were the harness to wait out other tenants between
# runs, 10,000 re-reads could otherwise fall inside a measured one.
CACHE_REFRESH = 3600
# Gateway processes: as many as nginx_proxy's workers, which the harness runs with
# `worker_processes auto`, one per CPU.
WORKERS = os.cpu_count() or 1
TOOLS = ("nginx", "wrk", "curl")
# run.sh sends nginx the key on this line of its generated keys; the gateway gets its own key of
# the same number.
HARNESS_KEY_LINE = 1235

REQUESTS_GOAL = 0.6  # gateway req/s at least this times nginx_proxy's
P99_GOAL = 2.0  # gateway p99 at most this times nginx_proxy's
NGINX = "nginx_proxy"
GATEWAY = "gateway"
ONE_KEY = "one key"

# Each request carries the next of the target's keys (KEYWARD_BENCH_KEYS, one per line), from
# requests prepared once; every thread walks all the keys, the threads half of them apart.
ROTATE_LUA = """\
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

function init(args)
   local headers = {}
   for name, value in pairs(wrk.headers) do headers[name] = value end
   requests = {}
   for key in io.lines(os.getenv("KEYWARD_BENCH_KEYS")) do
      if key ~= "" then
         headers["X-API-Key"] = key
         requests[#requests + 1] = wrk.format(nil, nil, headers)
      end
   end
   position = (id * math.floor(#requests / 2)) % #requests
end

function request()
   position = position % #requests + 1
   return requests[position]
end
"""

# run.sh calls `wrk ... -H "X-API-Key: K" URL`; this wrk, first on its PATH, adds the script
# above with the keys of the target the URL names. Before the gateway's warm-up (the call without
# --latency) it sends every key once with curl, on one connection: a key's first use reads it
# from storage, and the runs are to find every key cached, as nginx finds every key in its map.
WRK_SHIM = """\
#!/bin/sh
for url; do :; done
if [ "$url" = {gateway_url} ]; then
  keys={gateway_keys}
  case " $* " in
    *" --latency "*) ;;
    *) curl -K {first_use} > {first_use_statuses} ;;
  esac
else
  keys={harness_keys}
fi
KEYWARD_BENCH_KEYS="$keys" exec {wrk} -s {script} "$@"
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One target of one harness invocation: medians over its runs."""

    target: str
    requests_per_second: float
    all_runs: tuple[float, ...]
    p50_ms: float
    p99_ms: float
    cpu_percent: float
    cpu_us_per_request: float
    other_cpu_percent_max: float
    non_2xx: int

    @classmethod
    def from_summary(cls, target: str, summary: Mapping[str, object]) -> "Row":
        def number(name: str) -> float:
            value = summary[name]
            if not isinstance(value, int | float):
                raise TypeError(f"summary.json: {target}.{name} is not a number")
            return float(value)

        runs = summary["rps_all"]
        if not isinstance(runs, list):
            raise TypeError(f"summary.json: {target}.rps_all is not a list")
        return cls(
            target,
            number("rps_median"),
            tuple(float(run) for run in runs),
            number("p50_ms"),
            number("p99_ms"),
            number("server_cpu_pct"),
            number("cpu_us_per_req"),
            number("other_cpu_pct_max"),
            int(number("non2xx")),
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """The gateway against nginx_proxy in one harness invocation."""

    name: str
    rows: tuple[Row, ...]

    def row(self, target: str) -> Row:
        return next(row for row in self.rows if row.target == target)

    @property
    def requests_ratio(self) -> float:
        return self.row(GATEWAY).requests_per_second / self.row(NGINX).requests_per_second

    @property
    def p99_ratio(self) -> float:
        return self.row(GATEWAY).p99_ms / self.row(NGINX).p99_ms

    def misses(self) -> list[str]:
        found = []
        if self.requests_ratio < REQUESTS_GOAL:
            found.append(
                f"{self.name}: the gateway serves {self.requests_ratio:.3f}× nginx_proxy's "
                f"req/s, under the goal of {REQUESTS_GOAL:g}×."
            )
        if self.p99_ratio > P99_GOAL:
            found.append(
                f"{self.name}: the gateway's p99 is {self.p99_ratio:.2f}× nginx_proxy's, over "
                f"the goal of {P99_GOAL:g}×."
            )
        return found


def ensure_tools() -> None:
    """Install nginx, wrk and curl with apt-get when one is missing."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    progress(NAME, f"installing {' '.join(missing)} with apt-get")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *TOOLS]
    if subprocess.run(install, env=environment, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=environment, check=True)
        subprocess.run(install, env=environment, check=True)


def harness_copy(directory: Path) -> Path:
    """A writable copy of the harness: run.sh writes its venv, keys and results beside itself.

    The copy's venv is bare: the Python anchors that need its packages are not run here, and
    run.sh uses its interpreter only to generate the keys of nginx's map.
    """
    if not (HARNESS / "run.sh").is_file():
        raise SystemExit(
            f"{NAME}: no run.sh in {HARNESS}; set KEYWARD_BENCH_HARNESS to the harness."
        )
    copy = directory / "bench"
    shutil.copytree(
        HARNESS, copy, ignore=shutil.ignore_patterns(".venv", "runtime", "results", ".git")
    )
    for path in (copy, *copy.rglob("*")):
        path.chmod(path.stat().st_mode | 0o200)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", copy / ".venv"], check=True)
    return copy


def run_harness(
    harness: Path,
    results: Path,
    targets: Sequence[str],
    settings: Mapping[str, str],
    path_first: Path | None = None,
) -> dict[str, Row]:
    """run.sh with `settings` (its environment variables); its summary, by target."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    environment.update(
        settings,
        TARGETS=" ".join(targets),
        OUTDIR=str(results),
        MICRO="0",
    )
    if path_first is not None:
        environment["PATH"] = f"{path_first}{os.pathsep}{environment.get('PATH', '')}"
    # The harness's own tables and progress go to stderr; stdout is this benchmark's table.
    done = subprocess.run(
        ["bash", "run.sh"], cwd=harness, env=environment, stdout=sys.stderr, check=False
    )
    summary_file = results / "summary.json"
    if done.returncode != 0 or not summary_file.is_file():
        raise SystemExit(f"{NAME}: run.sh failed (exit {done.returncode}); see {results}")
    summary = json.loads(summary_file.read_text())
    rows = {target: Row.from_summary(target, summary[target]) for target in summary}
    missing = [target for target in targets if target not in rows]
    if missing:
        raise SystemExit(f"{NAME}: run.sh measured nothing for {', '.join(missing)}; see {results}")
    for row in rows.values():
        if row.non_2xx:
            # A target answering errors would be measured doing the wrong thing.
            raise SystemExit(
                f"{NAME}: {row.target} answered {row.non_2xx} requests with a non-2xx status; "
                f"see {results}"
            )
    return rows


@dataclass(frozen=True, slots=True)
class Shim:
    """A directory whose `wrk` sends each target's keys in turn, and its first-use record."""

    directory: Path
    first_use_statuses: Path

    def check(self, key_count: int) -> None:
        """Fail unless the first-use pass sent every key once and each was forwarded."""
        statuses = self.first_use_statuses.read_text().split() if self.exists else []
        if len(statuses) != key_count or set(statuses) != {"200"}:
            raise SystemExit(
                f"{NAME}: the first use of every key did not run as it should "
                f"({len(statuses)} answers, statuses {sorted(set(statuses))})"
            )

    @property
    def exists(self) -> bool:
        return self.first_use_statuses.is_file()


def first_use_config(gateway_url: str, secrets: Sequence[str]) -> str:
    """A curl config sending one GET per key, one after another on one connection."""
    sections = [
        f'url = "{gateway_url}"\nheader = "X-API-Key: {secret}"\noutput = "/dev/null"\n'
        'write-out = "%{http_code}\\n"\nsilent\n'
        for secret in secrets
    ]
    return "next\n".join(sections)


def wrk_shim(directory: Path, gateway_url: str, secrets: Sequence[str], harness: Path) -> Shim:
    """A directory whose `wrk` sends each target's keys in turn (see WRK_SHIM)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(f"{NAME}: wrk is not installed")
    shim = directory / "wrk-keys-in-turn"
    shim.mkdir()
    script = shim / "rotate.lua"
    script.write_text(ROTATE_LUA)
    gateway_keys = shim / "gateway-keys.txt"
    gateway_keys.write_text("\n".join(secrets) + "\n")
    first_use = shim / "first-use.curl"
    first_use.write_text(first_use_config(gateway_url, secrets))
    statuses = shim / "first-use-statuses.txt"
    executable = shim / "wrk"
    executable.write_text(
        WRK_SHIM.format(
            gateway_url=shlex.quote(gateway_url),
            gateway_keys=shlex.quote(str(gateway_keys)),
            first_use=shlex.quote(str(first_use)),
            first_use_statuses=shlex.quote(str(statuses)),
            harness_keys=shlex.quote(str(harness / "runtime" / "keys.txt")),
            wrk=shlex.quote(wrk),
            script=shlex.quote(str(script)),
        )
    )
    executable.chmod(0o755)
    return Shim(shim, statuses)


def gateway_command(database_url: str, port: int, **extra: str) -> str:
    """`keyward serve gateway` with its environment, as run.sh's GATEWAY_CMD."""
    assignments = [
        f"{name}={value}"
        for name, value in gateway_environment(database_url, port, **extra).items()
    ]
    return shlex.join(["env", *assignments, KEYWARD, "serve", GATEWAY])


def run(
    key_count: int,
    runs: int,
    duration: int,
    keys_in_turn: bool,
    output: Path | None,
    workers: int = WORKERS,
) -> list[Comparison]:
    """Set up the database, then run the harness once with one key and once with every key."""
    ensure_tools()
    comparisons = []
    results = output or Path(tempfile.mkdtemp(prefix="keyward-gateway-speed-results-"))
    progress(NAME, f"the harness's output goes to {results}")
    with tempfile.TemporaryDirectory(prefix="keyward-gateway-speed-") as scratch:
        directory = Path(scratch)
        harness = harness_copy(directory)
        database_url = sqlite_url(directory)
        started = time.perf_counter()
        with populated(database_url, key_count, UPSTREAM_URL) as population:
            progress(NAME, f"issued {key_count} keys in {time.perf_counter() - started:.0f} s")
        secrets = [key.secret for key in population.keys]
        port = free_port()
        processes = {"KEYWARD_GATEWAY_WORKERS": str(workers)}
        gateway_url = f"http://127.0.0.1:{port}/{MOUNT_PATH}{RESOURCE}"
        settings = {
            "RUNS": str(runs),
            "DUR": str(duration),
            "NKEYS": str(key_count),
            "GATEWAY_CMD": gateway_command(database_url, port, **processes),
            "GATEWAY_URL": gateway_url,
            "GATEWAY_KEY": secrets[HARNESS_KEY_LINE - 1],
        }
        progress(NAME, f"run.sh, one key: upstream, {NGINX}, {GATEWAY}")
        rows = run_harness(harness, results / "one-key", ["upstream", NGINX, GATEWAY], settings)
        comparisons.append(Comparison(ONE_KEY, tuple(rows.values())))
        if keys_in_turn:
            shim = wrk_shim(directory, gateway_url, secrets, harness)
            refresh = {"KEYWARD_CACHE_REFRESH": str(CACHE_REFRESH), **processes}
            settings["GATEWAY_CMD"] = gateway_command(database_url, port, **refresh)
            progress(NAME, f"run.sh, every key in turn: {NGINX}, {GATEWAY}")
            rows = run_harness(
                harness,
                results / "keys-in-turn",
                [NGINX, GATEWAY],
                settings,
                path_first=shim.directory,
            )
            shim.check(key_count)
            comparisons.append(Comparison(f"{key_count:,} keys in turn", tuple(rows.values())))
    return comparisons


def table(comparisons: Sequence[Comparison]) -> str:
    """The figures as aligned text: one row per target of each harness invocation."""
    header = (
        "keys sent",
        "target",
        "req/s",
        "runs",
        "× nginx",
        "p50 ms",
        "p99 ms",
        "p99 × nginx",
        "CPU %",
        "CPU µs/req",
        "other CPU %",
    )
    lines = [header]
    for comparison in comparisons:
        nginx = comparison.row(NGINX)
        for row in comparison.rows:
            lines.append(
                (
                    comparison.name,
                    row.target,
                    f"{row.requests_per_second:,.0f}",
                    " ".join(f"{run:,.0f}" for run in row.all_runs),
                    f"{row.requests_per_second / nginx.requests_per_second:.3f}",
                    f"{row.p50_ms:.2f}",
                    f"{row.p99_ms:.2f}",
                    f"{row.p99_ms / nginx.p99_ms:.2f}",
                    f"{row.cpu_percent:.0f}",
                    f"{row.cpu_us_per_request:.0f}" if row.cpu_percent else "",
                    f"{row.other_cpu_percent_max:.0f}",
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


def _key_count(text: str) -> int:
    value = int(text)
    if value < HARNESS_KEY_LINE:
        raise argparse.ArgumentTypeError(
            f"must be {HARNESS_KEY_LINE:,} or more: the harness sends its key number "
            f"{HARNESS_KEY_LINE:,} to nginx"
        )
    return value


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gateway_speed",
        description="The gateway beside nginx + key map in the reference harness, one run.",
    )
    parser.add_argument("--runs", type=int, default=RUNS, help=f"wrk runs per target ({RUNS})")
    parser.add_argument(
        "--duration", type=int, default=DURATION, help=f"seconds per run ({DURATION})"
    )
    parser.add_argument(
        "--keys", type=_key_count, default=KEYS, help=f"keys of each side ({KEYS:,})"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"gateway processes on the port ({WORKERS}: one per CPU, as nginx_proxy's workers)",
    )
    parser.add_argument(
        "--one-key-only",
        action="store_true",
        help="skip the second invocation, which sends every key in turn",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="where the harness's output goes (default: a new directory in the temp dir)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    comparisons = run(
        arguments.keys,
        arguments.runs,
        arguments.duration,
        not arguments.one_key_only,
        arguments.results,
        arguments.workers,
    )
    print(
        f"{arguments.keys:,} keys; wrk -t2 -c64, {arguments.runs} × {arguments.duration} s per "
        f"target; {os.cpu_count()} CPUs; {arguments.workers} gateway process(es). "
        f"Goals: req/s ≥ {REQUESTS_GOAL:g}× {NGINX}, p99 ≤ {P99_GOAL:g}× {NGINX}'s."
    )
    print(table(comparisons))
    missed = [miss for comparison in comparisons for miss in comparison.misses()]
    for miss in missed:
        print(miss, file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
