"""What signing in gives and takes: the client, the limits, the outcome, the signed-in member."""

from dataclasses import dataclass
from datetime import timedelta

from keyward.core.actors import Actor
from keyward.core.sessions import SessionLimits, Throttle

SIGN_IN_REFUSED = "The e-mail address or password is not right."


@dataclass(frozen=True, slots=True)
class Client:
    """Where a portal request comes from, as the audit log records it."""

    ip: str | None
    user_agent: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    limits: SessionLimits
    per_account: Throttle
    per_address: Throttle


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session. `token` goes to the browser once and is stored nowhere."""

    token: str
    session_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class SignInRefused:
    """Why signing in did not work, said the same way whatever was wrong; `wait` when the
    e-mail address or the client has failed too often lately."""

    code: str
    message: str
    wait: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Signed:
    """A member signed in through a live session, acting with their current standing."""

    session_id: str
    actor: Actor
    name: str
    email: str
