"""What a verifier's answers cost: cache hits, misses read from storage, answers served stale,
and how long the reads took; plain numbers, counted where they happen and read by metrics."""

from bisect import bisect_left
from typing import Final

LOOKUP_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds, in seconds, of the storage read histogram's buckets (a last one is unbounded)."""


class VerifyCounts:
    """Counts since the process started. Increments are not locked: a count lost to two threads
    at once is an acceptable error for metrics, a lock on every hit is not."""

    __slots__ = ("hits", "lookup_seconds", "lookups", "misses", "stale")

    def __init__(self) -> None:
        self.hits = 0
        """Answers from the cache, without storage."""
        self.misses = 0
        """Keys read from storage to be answered."""
        self.stale = 0
        """Answers from the cache past its freshness because storage failed or was too slow."""
        self.lookups = [0] * (len(LOOKUP_BUCKETS) + 1)
        """Storage reads per bucket of `LOOKUP_BUCKETS` (not cumulative), the last unbounded."""
        self.lookup_seconds = 0.0

    def looked_up(self, seconds: float) -> None:
        """A storage read took `seconds`."""
        self.lookups[bisect_left(LOOKUP_BUCKETS, seconds)] += 1
        self.lookup_seconds += seconds
