"""Importing a big OpenAPI document: the issue's budget is 10 s for the 4 MB GitHub spec.

The import, as far as it is pure, is `load` (bytes to a JSON-like dict, hostile input refused),
`check` (our rules and openapi-spec-validator) and `operations` (the operation index with its
fingerprints). The issue states an absolute budget, so the checked figure is in seconds; the
budget column shows it as a ratio to `json.loads` of the same bytes timed in the same rounds,
which is also the context the other figures give.
"""

import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.rounds import Contestant, Figure, Scale, Timing, interleave
from keyward.core.openapi.loading import load
from keyward.core.openapi.operations import operations
from keyward.core.openapi.validation import check

NAME = "openapi_import"
BUDGET_SECONDS = 10.0
# One round imports two 4 MB documents, 5-8 s; the suite's default 300 rounds give 4 here.
ROUNDS_DIVISOR = 75
WARMUP_ROUNDS = 1

# Where tests/fixtures.py finds the shared corpus (read in place, never copied).
OPENAPI_FIXTURES = Path(
    os.environ.get(
        "KEYWARD_OPENAPI_FIXTURES",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "openapi",
    )
)
GITHUB = OPENAPI_FIXTURES / "real-world" / "github-api-2022-07.json"
STRIPE = OPENAPI_FIXTURES / "real-world" / "stripe-spec3-2022-04.json"

GITHUB_REFERENCE = "json.loads(GitHub, 4.0 MB)"
GITHUB_LOAD = "load(GitHub)"
GITHUB_INDEX = "operations(GitHub), 874 operations"
GITHUB_IMPORT = "load + check + operations(GitHub)"
STRIPE_REFERENCE = "json.loads(Stripe, 4.2 MB)"
STRIPE_IMPORT = "load + check + operations(Stripe)"
# Each figure's ratio is to the json.loads of its own document.
REFERENCES = {
    GITHUB_REFERENCE: GITHUB_REFERENCE,
    GITHUB_LOAD: GITHUB_REFERENCE,
    GITHUB_INDEX: GITHUB_REFERENCE,
    GITHUB_IMPORT: GITHUB_REFERENCE,
    STRIPE_REFERENCE: STRIPE_REFERENCE,
    STRIPE_IMPORT: STRIPE_REFERENCE,
}


def _progress(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def timed(work: Callable[[], Any]) -> Contestant:
    """One call of `work` per round, with the garbage collector on.

    `interleave` turns the collector off, but an import allocates millions of objects and the
    collections they trigger are part of what an import costs in a server; each round collects
    what it left behind afterwards, untimed, so no round pays for another's garbage.
    """

    def run(number: int) -> int:
        gc.enable()
        try:
            start = time.perf_counter_ns()
            work()
            took = time.perf_counter_ns() - start
        finally:
            gc.disable()
        gc.collect()
        return took

    return Contestant(run, 1)


def imported(raw: bytes) -> int:
    """The pure part of an import; the operation count, so nothing is optimised away."""
    loaded = load(raw)
    problems = check(loaded)
    if problems:
        raise RuntimeError(f"benchmark set-up is wrong: the document has problems: {problems[:3]}")
    return len(operations(loaded.document))


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise SystemExit(
            f"{NAME}: {path.name} is not in the OpenAPI corpus at {OPENAPI_FIXTURES}; set "
            "KEYWARD_OPENAPI_FIXTURES to where it is."
        )
    return path.read_bytes()


def run(scale: Scale) -> list[Figure]:
    """Time json.loads, load, the operation index and the whole import in interleaved rounds."""
    github, stripe = _read(GITHUB), _read(STRIPE)
    github_document = load(github).document
    contestants = {
        GITHUB_REFERENCE: timed(lambda: json.loads(github)),
        GITHUB_LOAD: timed(lambda: load(github)),
        GITHUB_INDEX: timed(lambda: operations(github_document)),
        GITHUB_IMPORT: timed(lambda: imported(github)),
        STRIPE_REFERENCE: timed(lambda: json.loads(stripe)),
        STRIPE_IMPORT: timed(lambda: imported(stripe)),
    }
    rounds = max(2, scale.rounds // ROUNDS_DIVISOR)
    started = time.perf_counter()
    timings = interleave(contestants, rounds=rounds, warmup=WARMUP_ROUNDS)
    _progress(f"timed {rounds} rounds in {time.perf_counter() - started:.1f} s")
    return figures(timings)


def figures(timings: dict[str, Timing]) -> list[Figure]:
    """One figure per contestant; the GitHub import's budget is 10 s, as a ratio to its json.loads.

    The framework checks ratios; 10 s over the reference's median is the same limit.
    """
    github_reference = timings[GITHUB_REFERENCE].median
    budget = BUDGET_SECONDS * 1e9 / github_reference
    return [
        Figure(
            NAME,
            name,
            timing.median,
            timing.ratio(timings[REFERENCES[name]]),
            budget if name == GITHUB_IMPORT else None,
        )
        for name, timing in timings.items()
    ]
