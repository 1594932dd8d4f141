"""The measuring method every benchmark shares: interleaved rounds, per-call medians, ratios.

On a shared, noisy machine an absolute figure says little; a ratio to a reference timed in the
same rounds does. Each round times every contestant once, in an order that rotates and reverses
from round to round, so drift in clock speed or neighbour load falls on all of them alike. Medians
of rounds ignore the rounds a neighbour spoiled.
"""

import gc
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# One round of one contestant: given the round's number, runs `calls` operations and returns the
# nanoseconds they took. Contestants compared with each other use the number to pick the same data.
Round = Callable[[int], int]


@dataclass(frozen=True, slots=True)
class Contestant:
    """Something timed in rounds: `run` performs `calls` operations per round."""

    run: Round
    calls: int


@dataclass(frozen=True, slots=True)
class Timing:
    """Nanoseconds per call, one figure per measured round."""

    per_call: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.per_call)

    def ratio(self, reference: "Timing") -> "Ratio":
        """This timing against one taken in the same rounds."""
        return Ratio(
            self.median / reference.median,
            tuple(s / r for s, r in zip(self.per_call, reference.per_call, strict=True)),
        )


@dataclass(frozen=True, slots=True)
class Ratio:
    """Median over median, plus the ratio within each round to show how much rounds disagree."""

    value: float
    by_round: tuple[float, ...]

    def quartiles(self) -> tuple[float, float]:
        """The 25th and 75th percentiles of the per-round ratios."""
        low, _, high = statistics.quantiles(self.by_round, n=4, method="inclusive")
        return low, high


@dataclass(frozen=True, slots=True)
class Figure:
    """One line of the report: a cost per call, its ratio to the reference, and its budget."""

    benchmark: str
    name: str
    nanoseconds: float
    ratio: Ratio
    budget: float | None = None

    @property
    def within_budget(self) -> bool:
        return self.budget is None or self.ratio.value <= self.budget


@dataclass(frozen=True, slots=True)
class Scale:
    """How much work a run does: measured rounds, and the data size (None: the benchmark's own)."""

    rounds: int
    size: int | None = None


def interleave(
    contestants: Mapping[str, Contestant], *, rounds: int, warmup: int = 3
) -> dict[str, Timing]:
    """Time every contestant in each of `warmup + rounds` rounds; keep the last `rounds`.

    The garbage collector is off while timing (as `timeit` does), so a collection triggered by
    one contestant's allocations is not charged to whichever contestant runs next.
    """
    if rounds < 2:
        raise ValueError("at least two rounds are needed for quartiles")
    names = list(contestants)
    elapsed: dict[str, list[float]] = {name: [] for name in names}
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for number in range(warmup + rounds):
            shift = number % len(names)
            order = names[shift:] + names[:shift]
            if number % 2:
                order.reverse()
            for name in order:
                contestant = contestants[name]
                took = contestant.run(number)
                if number >= warmup:
                    elapsed[name].append(took / contestant.calls)
    finally:
        if collecting:
            gc.enable()
    return {name: Timing(tuple(values)) for name, values in elapsed.items()}
