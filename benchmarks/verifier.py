"""The verifier's budget: a cached verify costs at most 3 times `sha256(key)` plus a dict lookup.

The verifier's cache holds every key of a real, migrated SQLite database, so its dict is as
large as the reference's. Both sides walk the same shuffled keys, one chunk per round, so a key's
data was last read a whole cycle of rounds earlier: as in a server with many keys, each verify
pays to fetch its key's cached data from memory, and the reference pays the same for its own.
"""

import gc
import hashlib
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.databases import migrated
from benchmarks.rounds import Contestant, Figure, Scale, Timing, interleave
from keyward.core.keys import BASE62, is_well_formed
from keyward.db.engine import Database
from keyward.domains.keys.schemas import AccountKeyCreate
from keyward.domains.keys.service import issue_account_key
from keyward.verifier import KeyCode, Verifier

NAME = "verifier"
BUDGET = 3.0
KEYS = 10_000
KEYS_PER_TRANSACTION = 2_500
CHUNK = 1_000  # keys per round: short rounds, so a preempted round is an outlier the median drops
COLD_CHUNK = 50  # SQLite reads per cold round
COLD_ROUNDS_DIVISOR = 5  # a cold round takes ~10 hot rounds: a fifth as many

REFERENCE = "sha256(key) + dict.get"
CACHED = "verify(key), cached"
CACHED_IN_WORKSPACE = "verify(key, workspace_id), cached"
MALFORMED = "verify(malformed key), offline"
LOOP = "bare loop (in every row)"
COLD = "verify(key), cold: reads SQLite"
BUDGETS = {CACHED: BUDGET, CACHED_IN_WORKSPACE: BUDGET}
SHUFFLE_SEED = 20261123


@dataclass(frozen=True, slots=True)
class Population:
    """A migrated database with one workspace and `len(secrets)` valid account keys."""

    database: Database
    workspace_id: str
    secrets: tuple[str, ...]


def _progress(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


@contextmanager
def populated(directory: Path, key_count: int) -> Iterator[Population]:
    """Issue `key_count` keys through the service, a few big transactions at a time."""
    with migrated(f"sqlite:///{directory / 'bench.db'}") as bench:
        database, actor = bench.database, bench.admin
        body = AccountKeyCreate(name="bench", permissions=["keys:read", "keys:verify"])
        secrets: list[str] = []
        while len(secrets) < key_count:
            with database.transaction() as uow:
                for _ in range(min(KEYS_PER_TRANSACTION, key_count - len(secrets))):
                    created = issue_account_key(uow, actor, body)
                    if created.key is None:
                        raise RuntimeError("issue_account_key answered without a secret")
                    secrets.append(created.key)
        yield Population(database, bench.workspace_id, tuple(secrets))


def malformed(secret: str) -> str:
    """`secret` with its last checksum character changed: the right shape, a wrong checksum."""
    last = secret[-1]
    replacement = BASE62[(BASE62.index(last) + 1) % len(BASE62)]
    return secret[:-1] + replacement


# Each contestant spells its operation out inline in the same loop, so the loop, the lookup of
# the bound method and the call cost both sides the same; only the work inside differs. Round
# `number` of every contestant walks chunk `number % len(chunks)`: the same keys on both sides,
# and every key in turn over the rounds. The reference and the verifiers share no data but the
# key strings, which each contestant reads untimed first (a server verifies a key it has just
# parsed); so whatever a key's own data costs to fetch, each pays it in every round, not only
# in the rounds where it happens to go first.

Chunks = Sequence[Sequence[str]]


def _touch(keys: Sequence[str]) -> None:
    for key in keys:
        key.encode()


def reference(digests: dict[bytes, str], chunks: Chunks) -> Contestant:
    def run(number: int) -> int:
        keys = chunks[number % len(chunks)]
        _touch(keys)
        start = time.perf_counter_ns()
        for key in keys:
            digests.get(hashlib.sha256(key.encode()).digest())
        return time.perf_counter_ns() - start

    return Contestant(run, len(chunks[0]))


def cached(verifier: Verifier, chunks: Chunks) -> Contestant:
    def run(number: int) -> int:
        keys = chunks[number % len(chunks)]
        _touch(keys)
        start = time.perf_counter_ns()
        for key in keys:
            verifier.verify(key)
        return time.perf_counter_ns() - start

    return Contestant(run, len(chunks[0]))


def cached_in_workspace(verifier: Verifier, chunks: Chunks, workspace_id: str) -> Contestant:
    def run(number: int) -> int:
        keys = chunks[number % len(chunks)]
        _touch(keys)
        start = time.perf_counter_ns()
        for key in keys:
            verifier.verify(key, workspace_id)
        return time.perf_counter_ns() - start

    return Contestant(run, len(chunks[0]))


def cold(database: Database, chunks: Chunks) -> Contestant:
    """Each round a new, empty verifier reads its chunk's keys from SQLite."""

    def run(number: int) -> int:
        keys = chunks[number % len(chunks)]
        verifier = Verifier(database)
        _touch(keys)
        start = time.perf_counter_ns()
        for key in keys:
            verifier.verify(key)
        took = time.perf_counter_ns() - start
        # Sessions leave reference cycles and the collector is off while timing: free this
        # round's (only the youngest generation, so the 10,000 cached entries are not rescanned).
        gc.collect(0)
        return took

    return Contestant(run, len(chunks[0]))


def loop(chunks: Chunks) -> Contestant:
    """The bare loop every other contestant pays for too."""

    def run(number: int) -> int:
        keys = chunks[number % len(chunks)]
        _touch(keys)
        start = time.perf_counter_ns()
        for _key in keys:
            pass
        return time.perf_counter_ns() - start

    return Contestant(run, len(chunks[0]))


def chunked(keys: Sequence[str], size: int) -> list[Sequence[str]]:
    """`keys` cut into chunks of exactly `size` (a short tail is dropped)."""
    return [keys[at : at + size] for at in range(0, len(keys) - size + 1, size)]


def _check(condition: bool, what: str) -> None:
    # A benchmark of a path that answers wrongly would measure the wrong thing.
    if not condition:
        raise RuntimeError(f"benchmark set-up is wrong: {what}")


def warmed(population: Population, digests: dict[bytes, str] | None = None) -> Verifier:
    """A verifier that has verified, and so cached, every key once.

    `digests`, if given, is filled with each key's digest as the verifier caches it: the
    reference's digests then lie in memory among the allocations of a load from storage, as
    they would in a cache filled on misses, rather than packed tightly together.
    """
    verifier = Verifier(population.database)
    for secret in population.secrets:
        _check(verifier.verify(secret).valid, "a freshly issued key is not valid")
        if digests is not None:
            digests[hashlib.sha256(secret.encode()).digest()] = secret
    _check(len(verifier) == len(population.secrets), "the cache does not hold every key")
    return verifier


def run(scale: Scale) -> list[Figure]:
    """Build the population, warm the caches, then time every contestant in interleaved rounds."""
    key_count = scale.size or KEYS
    with tempfile.TemporaryDirectory(prefix="keyward-bench-") as directory:
        started = time.perf_counter()
        with populated(Path(directory), key_count) as population:
            _progress(f"issued {key_count} keys in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            # Two verifiers, so that the plain and the scoped verify do not warm each other's
            # entries within a round.
            digests: dict[bytes, str] = {}
            verifier, scoped_verifier = warmed(population, digests), warmed(population)
            _progress(f"warmed two caches in {time.perf_counter() - started:.1f} s")

            # The dicts were filled in issue order and are read in shuffled order: read in the
            # order of insertion, a dict's entries would be walked sequentially, which flatters it.
            keys = list(population.secrets)
            random.Random(SHUFFLE_SEED).shuffle(keys)
            wrong = [malformed(key) for key in keys]
            _check(not any(is_well_formed(key) for key in wrong), "a malformed key passes")
            _check(
                verifier.verify(wrong[0]).code is KeyCode.KEY_INVALID, "a malformed key is valid"
            )
            _check(
                scoped_verifier.verify(keys[0], population.workspace_id).valid,
                "a key is not valid in its own workspace",
            )

            chunk = min(CHUNK, key_count)
            chunks = chunked(keys, chunk)
            hot = {
                REFERENCE: reference(digests, chunks),
                CACHED: cached(verifier, chunks),
                CACHED_IN_WORKSPACE: cached_in_workspace(
                    scoped_verifier, chunks, population.workspace_id
                ),
                MALFORMED: cached(verifier, chunked(wrong, chunk)),
                LOOP: loop(chunks),
            }
            started = time.perf_counter()
            timings = interleave(hot, rounds=scale.rounds)
            _progress(f"timed {scale.rounds} rounds in {time.perf_counter() - started:.1f} s")

            # Reading SQLite churns the CPU caches: timed apart from the cached path, so that the
            # contestant after it in a round does not pay for refilling them.
            cold_rounds = max(2, scale.rounds // COLD_ROUNDS_DIVISOR)
            started = time.perf_counter()
            against_storage = interleave(
                {
                    REFERENCE: reference(digests, chunks),
                    COLD: cold(population.database, chunked(keys, min(COLD_CHUNK, key_count))),
                },
                rounds=cold_rounds,
            )
            _progress(f"timed {cold_rounds} cold rounds in {time.perf_counter() - started:.1f} s")
    return [*_figures(timings), *_figures({COLD: against_storage[COLD]}, against_storage)]


def _figures(timings: dict[str, Timing], base: dict[str, Timing] | None = None) -> list[Figure]:
    reference_timing = (base or timings)[REFERENCE]
    return [
        Figure(NAME, name, timing.median, timing.ratio(reference_timing), BUDGETS.get(name))
        for name, timing in timings.items()
    ]
