"""Portal sessions over plain data: tokens, their digests, CSRF tokens, timeouts, throttling.

A session is named by an opaque random token that only the browser holds (in a cookie); storage
keeps its SHA-256. The CSRF token of a session is derived from its token, so it is a per-session
secret that storage cannot reproduce, and it is compared in constant time. A session ends when
it has been idle too long or has lived too long, whichever comes first.
"""

import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

TOKEN_BYTES = 32
_CSRF_CONTEXT = b"keyward portal csrf token"


def new_token() -> str:
    """A fresh session (or sign-in form) token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """What storage keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def email_digest(email: str) -> bytes:
    """What storage keeps of an e-mail address sign-in attempts named (trimmed, lower case)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8", "surrogateescape")).digest()


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: an HMAC of a fixed context under the session token."""
    mac = hmac.new(session_token.encode("utf-8", "surrogateescape"), _CSRF_CONTEXT, "sha256")
    return mac.hexdigest()


def same_secret(expected: str, given: str | None) -> bool:
    """Whether `given` is `expected`, compared in constant time; a missing value never is."""
    if not given or not expected:
        return False
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogateescape"), given.encode("utf-8", "surrogateescape")
    )


class SessionPhase(StrEnum):
    ACTIVE = "active"
    IDLE = "idle"  # no request for longer than the idle timeout
    EXPIRED = "expired"  # older than the absolute lifetime


@dataclass(frozen=True, slots=True)
class SessionLimits:
    idle: timedelta
    lifetime: timedelta

    @property
    def touch_every(self) -> timedelta:
        """How stale `last_seen_at` may get before a request writes it again: a tenth of the
        idle timeout, at most a minute, so that active sessions cost few writes and an idle
        session still ends on time (to within that much)."""
        return min(self.idle / 10, timedelta(minutes=1))


def session_phase(
    created_at: datetime, last_seen_at: datetime, now: datetime, limits: SessionLimits
) -> SessionPhase:
    if now >= created_at + limits.lifetime:
        return SessionPhase.EXPIRED
    if now >= last_seen_at + limits.idle:
        return SessionPhase.IDLE
    return SessionPhase.ACTIVE


def needs_touch(last_seen_at: datetime, now: datetime, limits: SessionLimits) -> bool:
    return now - last_seen_at >= limits.touch_every


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most `limit` failures within `window`."""

    limit: int
    window: timedelta

    def wait(self, failures: Sequence[datetime], now: datetime) -> timedelta | None:
        """How long until another attempt is allowed, given the times of the failures that
        count (those within the window); None when one is allowed now."""
        recent = sorted(t for t in failures if t > now - self.window)
        if len(recent) < self.limit:
            return None
        # Allowed again once enough of them have left the window.
        return recent[len(recent) - self.limit] + self.window - now


def whole_minutes(wait: timedelta) -> int:
    """A wait as people are told it: in minutes, rounded up, at least one."""
    return max(1, math.ceil(wait.total_seconds() / 60))
