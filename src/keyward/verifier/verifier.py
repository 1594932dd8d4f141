"""Verifying a key: a cache of snapshots by SHA-256, filled from storage on a miss.

A cache hit does no I/O: hash, one dict lookup, a few comparisons. Entries are evicted by the
changes the feed reports (or the local commit listener reports first), and refreshed after
`refresh_after` seconds as a backstop. A load that raced with an eviction is answered but not
cached, so a revocation can never be overwritten by the stale read that preceded it.

A gateway warms its cache when it starts (`preload`): the keys most recently used are read in
batches of one joined query each, so the first requests find them cached as later ones do.

Stale if error: a follower that reads the feed vouches for the whole cache each time it has
read every change (`confirm_current`), and a load vouches for its own entry. While storage
cannot be reached, cached verdicts are answered for `stale_if_error` seconds after the last
such moment; after that a cached refusal is still answered (a key seen revoked stays revoked)
but a key that cannot be confirmed, or was never cached, gets `verification_unavailable`.

Deadlines: with `storage_timeout`, a read is waited for that long at most, then counts as an
error as above (it goes on in its lookup thread and fills the cache when it returns). Reads run
within the bounds of `Lookups` (so many at once, so many waiting, so many a second); one beyond
them is answered at once as if storage were down. A hit due for its backstop refresh is
answered from the cache while the refresh runs, so a cache hit never waits for storage.
"""

import logging
import math
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import wait
from functools import partial
from hashlib import sha256
from typing import Final

from keyward.core.keys import is_well_formed
from keyward.core.verdicts import UNAVAILABLE, UNKNOWN, KeySnapshot, Verdict
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.settings import Settings
from keyward.verifier import store
from keyward.verifier.counts import VerifyCounts
from keyward.verifier.lookups import Lookups, Pending
from keyward.verifier.usage import record_last_used

log: Final = logging.getLogger(__name__)


class _Entry:
    """A cached key. A hit reads this and the verdict it returns, not the snapshot: with many
    keys in use, every object a hit touches is likely a cache miss."""

    __slots__ = (
        "confirmed_until",
        "good_from",
        "good_until",
        "refresh_at",
        "snapshot",
        "used_at",
        "valid",
        "workspace_id",
    )

    def __init__(self, snapshot: KeySnapshot, refresh_at: float, confirmed_until: float) -> None:
        self.snapshot = snapshot
        self.workspace_id = snapshot.workspace_id
        self.valid = snapshot.valid
        self.good_from = snapshot.good_from
        self.good_until = snapshot.good_until
        self.refresh_at = refresh_at
        self.confirmed_until = confirmed_until
        self.used_at = 0.0


# `last_used_at` is kept to within a minute: the hot path buffers a key's use at most once a
# minute, so a key in constant use costs storage one row update a minute, not one per flush (on
# PostgreSQL every update of a key leaves a dead row behind). The first use after a quiet minute
# is recorded to the second.
LAST_USED_RESOLUTION: Final = 60.0
# After a failed read, cache misses are answered `verification_unavailable` without trying
# storage for this long (or until the follower reads the feed again): threads are not tied up
# waiting on a server that is known to be down.
RETRY_STORAGE_AFTER: Final = 1.0
# Keys read per query (and per transaction) when warming the cache.
PRELOAD_BATCH: Final = 1000
# A batch whose keys changed while it was read is read again at most this many times.
PRELOAD_ATTEMPTS: Final = 3


class Verifier:
    def __init__(
        self,
        database: Database,
        *,
        refresh_after: float = 300.0,
        unknown_ttl: float = 30.0,
        max_entries: int = 500_000,
        stale_if_error: float = 30.0,
        storage_timeout: float | None = None,
        lookup_concurrency: int = 16,
        lookup_queue: int = 64,
        lookups_per_second: int = 0,
    ) -> None:
        self._database = database
        self.counts = VerifyCounts()
        """Hits, misses, stale answers and read times, for the metrics."""
        self.storage_timeout = storage_timeout
        """Seconds a read of a key may take before the key is answered as if storage were
        down (None: reads take as long as storage takes, in the caller's thread)."""
        self._lookups = Lookups(
            concurrency=lookup_concurrency, queue=lookup_queue, per_second=lookups_per_second
        )
        # With a deadline, keys are read on a pool of their own whose waits are bounded too.
        self._reads = (
            database
            if storage_timeout is None
            else database.for_lookups(storage_timeout, lookup_concurrency)
        )
        self._now = database.clock.timestamp
        self._refresh_after = refresh_after
        self._unknown_ttl = unknown_ttl
        self._max_entries = max_entries
        self._stale_if_error = stale_if_error
        self._entries: dict[bytes, _Entry] = {}
        self._unknown: dict[bytes, float] = {}
        self._by_key: dict[str, set[bytes]] = {}
        self._by_member: dict[str, set[bytes]] = {}
        self._by_acquisition: dict[str, set[bytes]] = {}
        self._by_workspace: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._last_used: dict[str, float] = {}
        # Until when a follower vouches for every entry (-inf: no follower ever has).
        self._vouched_until = -math.inf
        # Until when a cache hit is answered without a second look: forever without a follower
        # (entries then only refresh), else as long as the follower vouches.
        self._hits_until = math.inf
        self._storage_retry_at = -math.inf
        self._quiet_until = -math.inf

    @classmethod
    def serving(cls, database: Database, settings: Settings) -> "Verifier":
        """The verifier of a serving process (API or gateway): cache and deadlines as set."""
        return cls(
            database,
            refresh_after=settings.cache_refresh,
            stale_if_error=settings.stale_if_error,
            storage_timeout=settings.storage_timeout,
            lookup_concurrency=settings.lookup_concurrency,
            lookup_queue=settings.lookup_queue,
            lookups_per_second=settings.lookups_per_second,
        )

    @property
    def lookups(self) -> Lookups:
        """The reads of uncached keys in flight, and how many the bounds refused."""
        return self._lookups

    def verify(self, secret: str, workspace_id: str | None = None) -> Verdict:
        """The verdict on `secret`, as seen from `workspace_id` (None: from the key's own).

        A key of another workspace gets exactly the verdict of an unknown key. When storage
        cannot be reached, or does not answer within `storage_timeout`, the answer is the
        cached one while the cache may still be trusted, a cached refusal, or
        `verification_unavailable`; storage errors are never raised.
        """
        digest = sha256(secret.encode("utf-8", "surrogatepass")).digest()
        now = self._now()
        verdict = self._offline(secret, digest, workspace_id, now)
        if verdict is not None:
            return verdict
        if self.storage_timeout is None:
            return self._read_now(digest, workspace_id, now)
        pending = self._submit(digest)
        if pending is not None:
            wait((pending,), timeout=self.storage_timeout)
        return self._settle(digest, workspace_id, pending)

    def peek(self, secret: str, workspace_id: str | None = None) -> Verdict | None:
        """`verify`'s verdict when it can be given without I/O, else None.

        It can for a cached key, a malformed one, a digest recently found unknown, and for a
        miss while storage is known to be down (`verification_unavailable`). Never blocks: an
        event loop calls it and, when it answers None, `look_up` and then `settle`.
        """
        digest = sha256(secret.encode("utf-8", "surrogatepass")).digest()
        return self._offline(secret, digest, workspace_id, self._now())

    def look_up(self, secret: str) -> Pending | None:
        """Start reading the key of `secret` from storage in a lookup thread (or join the read
        of it already running), without waiting; None when the lookup bounds refuse one.

        Wait for the read at most `storage_timeout` seconds, then call `settle`: a read still
        running goes on and fills the cache when it returns.
        """
        digest = sha256(secret.encode("utf-8", "surrogatepass")).digest()
        return self._submit(digest)

    def settle(self, secret: str, workspace_id: str | None, pending: Pending | None) -> Verdict:
        """The verdict on `secret` after `look_up`: from the read if it has returned, else
        (refused, failed or still running) as when storage cannot be reached."""
        digest = sha256(secret.encode("utf-8", "surrogatepass")).digest()
        return self._settle(digest, workspace_id, pending)

    def _settle(self, digest: bytes, workspace_id: str | None, pending: Pending | None) -> Verdict:
        now = self._now()
        if pending is None:
            self._complain(now, "too many keys are being read from storage")
        elif not pending.done():
            self._complain(now, "storage did not answer within the storage timeout")
        elif not pending.cancelled() and pending.exception() is None:
            return self._judge(digest, pending.result(), workspace_id, now)
        elif not pending.cancelled():
            error = pending.exception()
            if error is not None and not isinstance(error, store.STORAGE_ERRORS):
                raise error
        return self._unconfirmed(self._entries.get(digest), workspace_id, now)

    def _submit(self, digest: bytes) -> Pending | None:
        """Read the key of `digest`, or join its read in flight: one begun since the last
        change applied, never one begun before it, which may have read what the change
        replaced."""
        since = digest + self._generation.to_bytes(8, "little")
        return self._lookups.submit(since, partial(self._load, digest))

    def _complain(self, now: float, problem: str) -> None:
        """Log that keys are answered without storage, at most once a second."""
        if now >= self._quiet_until:
            self._quiet_until = now + RETRY_STORAGE_AFTER
            log.warning("%s; answering from the cache or verification_unavailable", problem)

    def _offline(
        self, secret: str, digest: bytes, workspace_id: str | None, now: float
    ) -> Verdict | None:
        entry = self._entries.get(digest)
        if entry is not None:
            if now < entry.refresh_at:
                if now < self._hits_until or now < entry.confirmed_until:
                    self.counts.hits += 1
                    return self._answer(entry, workspace_id, now)
            elif self.storage_timeout is not None and (
                now < self._vouched_until or now < entry.confirmed_until
            ):
                # Due for its backstop refresh, and within the bound a storage error would
                # allow: answered from the cache while the refresh runs, never waiting for it.
                if now >= self._storage_retry_at:
                    self._submit(digest)
                self.counts.hits += 1
                return self._answer(entry, workspace_id, now)
        if not is_well_formed(secret):
            return UNKNOWN
        unknown_until = self._unknown.get(digest)
        if unknown_until is not None and now < unknown_until:
            return UNKNOWN
        if now < self._storage_retry_at:
            return self._unconfirmed(entry, workspace_id, now)
        return None

    def _answer(self, entry: _Entry, workspace_id: str | None, now: float) -> Verdict:
        if workspace_id is not None and entry.workspace_id != workspace_id:
            return UNKNOWN
        if not entry.good_from <= now < entry.good_until:
            return entry.snapshot.verdict(now)
        valid = entry.valid
        if now - entry.used_at >= LAST_USED_RESOLUTION:
            entry.used_at = now
            self._last_used[entry.snapshot.key_id] = now
        return valid

    def _unconfirmed(self, entry: _Entry | None, workspace_id: str | None, now: float) -> Verdict:
        """The verdict when storage cannot be asked about the key."""
        if entry is None or (workspace_id is not None and entry.workspace_id != workspace_id):
            # A key of another workspace is answered exactly like an unknown key, here too.
            return UNAVAILABLE
        if now < self._vouched_until or now < entry.confirmed_until:
            self.counts.stale += 1
            return self._answer(entry, workspace_id, now)
        # Too stale to say yes; a refusal it has seen still stands.
        verdict = entry.snapshot.verdict(now)
        return UNAVAILABLE if verdict is entry.snapshot.valid else verdict

    def _read_now(self, digest: bytes, workspace_id: str | None, now: float) -> Verdict:
        """Read the key in this thread, as long as storage takes."""
        try:
            snapshot = self._load(digest)
        except store.STORAGE_ERRORS:
            return self._unconfirmed(self._entries.get(digest), workspace_id, now)
        return self._judge(digest, snapshot, workspace_id, now)

    def _load(self, digest: bytes) -> KeySnapshot | None:
        """Read one key from storage and cache what was read (unless changes were applied
        meanwhile). A storage error is logged, keeps misses off storage for a moment, and is
        raised."""
        generation = self._generation
        now = self._now()
        self.counts.misses += 1
        started = time.perf_counter()
        try:
            with self._reads.transaction(write=False) as uow:
                snapshot = store.load_snapshot(uow.session, digest)
            self.counts.looked_up(time.perf_counter() - started)
        except store.STORAGE_ERRORS:
            if now >= self._storage_retry_at:
                log.warning(
                    "cannot read keys from storage; answering from the cache", exc_info=True
                )
            self._storage_retry_at = now + RETRY_STORAGE_AFTER
            raise
        with self._lock:
            if generation == self._generation:
                if snapshot is None:
                    self._remember_unknown(digest, now)
                else:
                    self._insert(digest, snapshot, now)
        return snapshot

    def _judge(
        self, digest: bytes, snapshot: KeySnapshot | None, workspace_id: str | None, now: float
    ) -> Verdict:
        """The verdict on a key just read (None: no key has that secret)."""
        if snapshot is None or (workspace_id is not None and snapshot.workspace_id != workspace_id):
            return UNKNOWN
        verdict = snapshot.verdict(now)
        if verdict is snapshot.valid:
            self._last_used[snapshot.key_id] = now
            entry = self._entries.get(digest)
            if entry is not None and entry.snapshot is snapshot:
                entry.used_at = now
        return verdict

    def preload(self, limit: int) -> int:
        """Cache up to `limit` acquisition keys that may work now, most recently used first;
        returns how many keys were cached.

        A batch read while changes were applied is read again, so nothing cached predates a
        change the feed reported. Preloaded entries come due for their backstop refresh spread
        over the second half of `refresh_after`, not all at once. Should storage fail, what was
        cached stays and the rest is read on first use; storage errors are logged, not raised.
        """
        cached = 0
        if limit <= 0:
            return cached
        try:
            with self._database.transaction(write=False) as uow:
                key_ids = store.keys_in_use(uow.session, self._database.clock.now(), limit)
            for start in range(0, len(key_ids), PRELOAD_BATCH):
                batch = key_ids[start : start + PRELOAD_BATCH]
                for _ in range(PRELOAD_ATTEMPTS):
                    loaded = self._cache_batch(batch)
                    if loaded is not None:
                        cached += loaded
                        break
                # The event loop shares this process: let it run between batches.
                time.sleep(0)
        except store.STORAGE_ERRORS:
            log.warning(
                "cannot read keys from storage to warm the cache (%d cached); the others are "
                "read on first use",
                cached,
                exc_info=True,
            )
        return cached

    def _cache_batch(self, key_ids: list[str]) -> int | None:
        """Cache the keys of `key_ids`; how many, or None when changes arrived meanwhile."""
        generation = self._generation
        with self._database.transaction(write=False) as uow:
            found = store.load_snapshots(uow.session, key_ids, self._database.clock.now())
        now = self._now()
        with self._lock:
            if generation != self._generation:
                return None
            for digest, snapshot in found:
                # Spread, so that keys read together do not all come due at once.
                spread = self._refresh_after * random.uniform(0.5, 1.0)  # noqa: S311
                self._insert(digest, snapshot, now, refresh_at=now + spread)
        return len({snapshot.key_id for _, snapshot in found})

    def _remember_unknown(self, digest: bytes, now: float) -> None:
        if len(self._unknown) >= self._max_entries:
            self._unknown.clear()
        self._unknown[digest] = now + self._unknown_ttl

    def _insert(
        self, digest: bytes, snapshot: KeySnapshot, now: float, refresh_at: float | None = None
    ) -> _Entry:
        self._evict(digest)
        if len(self._entries) >= self._max_entries:
            for oldest in list(self._entries)[: self._max_entries // 10]:
                self._evict(oldest)
        entry = self._entries[digest] = _Entry(
            snapshot,
            now + self._refresh_after if refresh_at is None else refresh_at,
            now + self._stale_if_error,
        )
        self._by_key.setdefault(snapshot.key_id, set()).add(digest)
        self._by_workspace.setdefault(snapshot.workspace_id, set()).add(digest)
        if snapshot.member_id is not None:
            self._by_member.setdefault(snapshot.member_id, set()).add(digest)
        if snapshot.acquisition is not None:
            self._by_acquisition.setdefault(snapshot.acquisition.acquisition_id, set()).add(digest)
        return entry

    def _evict(self, digest: bytes) -> None:
        entry = self._entries.pop(digest, None)
        if entry is None:
            return
        snapshot = entry.snapshot
        for index, ident in (
            (self._by_key, snapshot.key_id),
            (self._by_workspace, snapshot.workspace_id),
            (self._by_member, snapshot.member_id),
            (self._by_acquisition, snapshot.acquisition_id),
        ):
            if ident is not None and (digests := index.get(ident)) is not None:
                digests.discard(digest)
                if not digests:
                    del index[ident]

    def apply(self, changes: Iterable[Change]) -> None:
        """Forget every cached decision the changes may affect."""
        with self._lock:
            self._generation += 1
            for change in changes:
                if change.entity is Entity.KEY:
                    # A new key (or a new secret) may be one we cached as unknown.
                    self._unknown.clear()
                    index = self._by_key
                elif change.entity is Entity.MEMBER:
                    index = self._by_member
                elif change.entity is Entity.ACQUISITION:
                    index = self._by_acquisition
                elif change.entity is Entity.WORKSPACE:
                    index = self._by_workspace
                else:
                    continue
                for digest in list(index.get(change.entity_id, ())):
                    self._evict(digest)

    def clear(self) -> None:
        """Forget everything (the follower does this when it may have missed changes)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._unknown.clear()
            self._by_key.clear()
            self._by_member.clear()
            self._by_acquisition.clear()
            self._by_workspace.clear()

    def confirm_current(self, at: float) -> None:
        """The cache reflects every change committed before POSIX time `at`.

        The follower calls this after each read that reached the end of the feed. From the
        first call on, cache hits are answered without I/O only while the last call is less
        than `stale_if_error` seconds old (or the entry itself was loaded that recently).
        """
        self._vouched_until = self._hits_until = at + self._stale_if_error
        self._storage_retry_at = -math.inf

    def flush_usage(self) -> None:
        """Write buffered `last_used_at` values in one batch; the hot path never writes.

        If the write fails the values stay buffered for the next flush, and the error is raised.
        """
        used, self._last_used = self._last_used, {}
        # One C-level copy: a verification racing this swap cannot break the iteration.
        last_used = list(used.items())
        if not last_used:
            return
        try:
            with self._database.transaction() as uow:
                record_last_used(uow.session, last_used)
        except Exception:
            for key_id, at in last_used:
                if self._last_used.get(key_id, -math.inf) < at:
                    self._last_used[key_id] = at
            raise

    def close(self) -> None:
        """Start no more reads, and close the lookup pool's connections once idle."""
        self._lookups.close()
        if self._reads is not self._database:
            self._reads.dispose()

    def __len__(self) -> int:
        return len(self._entries)
