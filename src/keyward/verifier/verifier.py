"""Verifying a key: a cache of snapshots by SHA-256, filled from storage on a miss.

A cache hit does no I/O: hash, one dict lookup, a few comparisons. Entries are evicted by the
changes the feed reports (or the local commit listener reports first), and refreshed after
`refresh_after` seconds as a backstop. A load that raced with an eviction is answered but not
cached, so a revocation can never be overwritten by the stale read that preceded it.
"""

import hashlib
import threading
from collections.abc import Iterable

from keyward.core.keys import is_well_formed
from keyward.core.verdicts import UNKNOWN, KeySnapshot, Verdict
from keyward.db.engine import Database
from keyward.db.feed import Change, Entity
from keyward.verifier import store


class _Entry:
    __slots__ = ("refresh_at", "snapshot", "used_at")

    def __init__(self, snapshot: KeySnapshot, refresh_at: float) -> None:
        self.snapshot = snapshot
        self.refresh_at = refresh_at
        self.used_at = 0.0


# `last_used_at` is kept to the second: the hot path buffers a use at most once a second per key.
USAGE_RESOLUTION = 1.0


class Verifier:
    def __init__(
        self,
        database: Database,
        *,
        refresh_after: float = 300.0,
        unknown_ttl: float = 30.0,
        max_entries: int = 500_000,
    ) -> None:
        self._database = database
        self._now = database.clock.timestamp
        self._refresh_after = refresh_after
        self._unknown_ttl = unknown_ttl
        self._max_entries = max_entries
        self._entries: dict[bytes, _Entry] = {}
        self._unknown: dict[bytes, float] = {}
        self._by_key: dict[str, set[bytes]] = {}
        self._by_member: dict[str, set[bytes]] = {}
        self._by_acquisition: dict[str, set[bytes]] = {}
        self._by_workspace: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._last_used: dict[str, float] = {}

    def verify(self, secret: str, workspace_id: str | None = None) -> Verdict:
        """The verdict on `secret`, as seen from `workspace_id` (None: from the key's own).

        A key of another workspace gets exactly the verdict of an unknown key.
        """
        digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
        now = self._now()
        entry = self._entries.get(digest)
        if entry is None or now >= entry.refresh_at:
            return self._verify_uncached(secret, digest, workspace_id, now)
        snapshot = entry.snapshot
        if workspace_id is not None and snapshot.workspace_id != workspace_id:
            return UNKNOWN
        verdict = snapshot.verdict(now)
        if verdict is snapshot.valid and now - entry.used_at >= USAGE_RESOLUTION:
            entry.used_at = now
            self._last_used[snapshot.key_id] = now
        return verdict

    def _verify_uncached(
        self, secret: str, digest: bytes, workspace_id: str | None, now: float
    ) -> Verdict:
        snapshot = self._load(secret, digest, now)
        if snapshot is None or (workspace_id is not None and snapshot.workspace_id != workspace_id):
            return UNKNOWN
        verdict = snapshot.verdict(now)
        if verdict is snapshot.valid:
            self._last_used[snapshot.key_id] = now
        return verdict

    def _load(self, secret: str, digest: bytes, now: float) -> KeySnapshot | None:
        if not is_well_formed(secret):
            return None
        unknown_until = self._unknown.get(digest)
        if unknown_until is not None and now < unknown_until:
            return None
        generation = self._generation
        with self._database.transaction(write=False) as uow:
            snapshot = store.load_snapshot(uow.session, digest)
        with self._lock:
            if generation == self._generation:
                if snapshot is None:
                    self._remember_unknown(digest, now)
                else:
                    self._insert(digest, snapshot, now)
        return snapshot

    def _remember_unknown(self, digest: bytes, now: float) -> None:
        if len(self._unknown) >= self._max_entries:
            self._unknown.clear()
        self._unknown[digest] = now + self._unknown_ttl

    def _insert(self, digest: bytes, snapshot: KeySnapshot, now: float) -> None:
        self._evict(digest)
        if len(self._entries) >= self._max_entries:
            for oldest in list(self._entries)[: self._max_entries // 10]:
                self._evict(oldest)
        self._entries[digest] = _Entry(snapshot, now + self._refresh_after)
        self._by_key.setdefault(snapshot.key_id, set()).add(digest)
        self._by_workspace.setdefault(snapshot.workspace_id, set()).add(digest)
        if snapshot.member_id is not None:
            self._by_member.setdefault(snapshot.member_id, set()).add(digest)
        if snapshot.acquisition is not None:
            self._by_acquisition.setdefault(snapshot.acquisition.acquisition_id, set()).add(digest)

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

    def flush_usage(self) -> None:
        """Write buffered `last_used_at` values in one batch; the hot path never writes."""
        used, self._last_used = self._last_used, {}
        # One C-level copy: a verification racing this swap cannot break the iteration.
        last_used = list(used.items())
        if last_used:
            with self._database.transaction() as uow:
                store.record_usage(uow.session, last_used)

    def __len__(self) -> int:
        return len(self._entries)
