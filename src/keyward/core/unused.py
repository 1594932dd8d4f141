"""The unused keys policy of a workspace: when a key left unused is announced to its owner, and
when it is revoked.

A key is idle since its last use, or since its creation if it was never used; a use starts a
new idle period. Once idle for `warn_after` its owner is warned, once per idle period. It is
revoked once idle for `revoke_after`, but never sooner than `revoke_after - warn_after` after
its warning: an owner always has the time the policy promises between warning and revocation,
also when the policy is switched on for keys idle for long already, or the worker was stopped.
Without `warn_after` keys are revoked without a warning; without `revoke_after` only warned.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class UnusedStep(StrEnum):
    NOTHING = "nothing"
    WARN = "warn"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class UnusedPolicy:
    warn_after: timedelta | None
    revoke_after: timedelta | None

    @property
    def active(self) -> bool:
        return self.warn_after is not None or self.revoke_after is not None

    @property
    def first_step_after(self) -> timedelta | None:
        """How long a key is idle before the policy does anything about it."""
        return self.warn_after if self.warn_after is not None else self.revoke_after

    def revokes_at(self, idle_since: datetime, warned_at: datetime | None) -> datetime | None:
        """When a key idle since `idle_since`, warned at `warned_at` (None: not yet), is due
        for revocation; None: not before a warning, or never."""
        if self.revoke_after is None:
            return None
        due = idle_since + self.revoke_after
        if self.warn_after is None:
            return due
        if warned_at is None:
            return None
        return max(due, warned_at + (self.revoke_after - self.warn_after))

    def step(self, idle_since: datetime, warned_at: datetime | None, now: datetime) -> UnusedStep:
        """What is due now for a key idle since `idle_since` and warned for this idle period
        at `warned_at` (None: not warned)."""
        revokes_at = self.revokes_at(idle_since, warned_at)
        if revokes_at is not None and now >= revokes_at:
            return UnusedStep.REVOKE
        if (
            self.warn_after is not None
            and warned_at is None
            and now >= idle_since + self.warn_after
        ):
            return UnusedStep.WARN
        return UnusedStep.NOTHING
