"""Signing members in to the portal and out again, and finding who a session token belongs to.

Signing in is refused the same way whatever was wrong (no such member, inactive, no password,
another password), so the answer tells nobody whether an account exists; too many failures for
one e-mail address or from one client address refuse further attempts for a while without
checking them. Every attempt is audited. Each sign-in makes a new session, ending the one the
browser presented: a token known before signing in is never one that works after it. A session
ends when idle or old (`core.sessions`), when its member signs out (here or everywhere), is
deactivated or is deleted.
"""

from datetime import datetime

from keyward.core.actors import Actor, Via
from keyward.core.ids import new_id
from keyward.core.ownership import NOBODY
from keyward.core.sessions import (
    SessionPhase,
    email_digest,
    needs_touch,
    new_token,
    session_phase,
    token_digest,
    whole_minutes,
)
from keyward.db.engine import UnitOfWork
from keyward.db.models import LoginAttempt, PortalSession
from keyward.db.rights import member_standing
from keyward.domains.audit import service as audit
from keyward.domains.members import service as members
from keyward.domains.sessions import repository
from keyward.domains.sessions.schemas import (
    SIGN_IN_REFUSED,
    Client,
    SessionPolicy,
    Signed,
    SignedIn,
    SignInRefused,
)

MAX_PASSWORD_LENGTH = 1024


def anonymous(workspace_id: str, client: Client) -> Actor:
    """Whoever is at `client` before signing in: no member, no rights."""
    return Actor(
        workspace_id,
        None,
        None,
        NOBODY,
        Via.PORTAL,
        ip=client.ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
    )


def _throttled(
    uow: UnitOfWork, workspace_id: str, email: str, client: Client, policy: SessionPolicy
) -> SignInRefused | None:
    now = uow.clock.now()
    waits = [
        policy.per_account.wait(
            repository.failures_for_email(
                uow.session, workspace_id, email_digest(email), now - policy.per_account.window
            ),
            now,
        )
    ]
    if client.ip is not None:
        waits.append(
            policy.per_address.wait(
                repository.failures_from(uow.session, client.ip, now - policy.per_address.window),
                now,
            )
        )
    wait = max((w for w in waits if w is not None), default=None)
    if wait is None:
        return None
    minutes = whole_minutes(wait)
    return SignInRefused(
        "sign_in_throttled",
        f"Too many attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        wait,
    )


def _attempt(
    uow: UnitOfWork, workspace_id: str, email: str, client: Client, *, succeeded: bool
) -> None:
    repository.add(
        uow.session,
        LoginAttempt(
            id=new_id("lgn"),
            workspace_id=workspace_id,
            email_hash=email_digest(email),
            address=client.ip,
            succeeded=succeeded,
            attempted_at=uow.clock.now(),
        ),
    )


def _prune(uow: UnitOfWork, policy: SessionPolicy) -> None:
    """Forget attempts no window counts any more and sessions that have ended."""
    now = uow.clock.now()
    window = max(policy.per_account.window, policy.per_address.window)
    repository.delete_attempts_before(uow.session, now - window)
    repository.delete_sessions_before(
        uow.session,
        created_before=now - policy.limits.lifetime,
        seen_before=now - policy.limits.idle,
    )


def sign_in(
    uow: UnitOfWork,
    workspace_id: str,
    email: str,
    password: str,
    client: Client,
    policy: SessionPolicy,
    *,
    replacing: str | None = None,
) -> SignedIn | SignInRefused:
    """Sign a member in with their e-mail address and password: a new session, whose token is
    in the answer only. `replacing`: the session token the browser presented, ended here.

    A refusal is an answer, not an exception: the attempt and its audit event are to be
    committed with it.
    """
    _prune(uow, policy)
    actor = anonymous(workspace_id, client)
    refused = _throttled(uow, workspace_id, email, client, policy)
    if refused is not None:
        audit.record(uow, actor, "session.sign_in", outcome="refused", code=refused.code)
        return refused
    member = (
        members.signing_in(uow, workspace_id, email, password)
        if len(password) <= MAX_PASSWORD_LENGTH
        else None
    )
    _attempt(uow, workspace_id, email, client, succeeded=member is not None)
    if member is None:
        # The log, unlike the answer, says whose account was tried (when it is one).
        tried = members.member_signing_in(uow, workspace_id, email)
        audit.record(
            uow,
            actor,
            "session.sign_in",
            target_type="member" if tried is not None else None,
            target_id=tried.id if tried is not None else None,
            outcome="refused",
            code="sign_in_failed",
        )
        return SignInRefused("sign_in_failed", SIGN_IN_REFUSED)
    if replacing is not None:
        earlier = repository.by_token_hash(uow.session, token_digest(replacing))
        if earlier is not None:
            repository.delete_session(uow.session, earlier)
    now = uow.clock.now()
    token = new_token()
    row = PortalSession(
        id=new_id("ses"),
        workspace_id=workspace_id,
        member_id=member.id,
        token_hash=token_digest(token),
        ip=client.ip,
        user_agent=(client.user_agent or "")[:300] or None,
        created_at=now,
        last_seen_at=now,
    )
    repository.add(uow.session, row)
    audit.record(
        uow,
        Actor(
            workspace_id,
            member.id,
            None,
            NOBODY,
            Via.PORTAL,
            ip=client.ip,
            user_agent=client.user_agent,
            request_id=client.request_id,
        ),
        "session.sign_in",
        target_type="session",
        target_id=row.id,
    )
    return SignedIn(token, row.id, member.id)


def _ended(row: PortalSession, now: datetime, policy: SessionPolicy) -> bool:
    return session_phase(row.created_at, row.last_seen_at, now, policy.limits) is not (
        SessionPhase.ACTIVE
    )


def resume(uow: UnitOfWork, token: str, client: Client, policy: SessionPolicy) -> Signed | None:
    """Who the session `token` signs in, acting with their current standing; None when no
    live session has that token (unknown, timed out, signed out, its member inactive). A
    session that has ended is removed; a live one is marked seen now and then."""
    row = repository.by_token_hash(uow.session, token_digest(token))
    if row is None:
        return None
    now = uow.clock.now()
    member = members.active_member(uow, row.workspace_id, row.member_id)
    if member is None or _ended(row, now, policy):
        repository.delete_session(uow.session, row)
        return None
    if needs_touch(row.last_seen_at, now, policy.limits):
        row.last_seen_at = now
        uow.session.flush()
    actor = Actor(
        row.workspace_id,
        member.id,
        None,
        member_standing(uow.session, member.id),
        Via.PORTAL,
        ip=client.ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
    )
    return Signed(row.id, actor, member.name, member.email)


def sign_out(uow: UnitOfWork, signed: Signed) -> None:
    """End this session."""
    repository.delete_session_by_id(uow.session, signed.actor.workspace_id, signed.session_id)
    audit.record(
        uow, signed.actor, "session.sign_out", target_type="session", target_id=signed.session_id
    )


def sign_out_everywhere(uow: UnitOfWork, signed: Signed) -> int:
    """End every session of the signed-in member, this one included; returns how many."""
    member_id = signed.actor.member_id
    ended = repository.delete_sessions_of(uow.session, member_id) if member_id else 0
    audit.record(
        uow,
        signed.actor,
        "session.sign_out_everywhere",
        target_type="member",
        target_id=member_id,
        details={"sessions": ended},
    )
    return ended


def sessions_of(uow: UnitOfWork, member_id: str) -> int:
    """How many sessions the member has (live or not yet pruned)."""
    return repository.count_sessions_of(uow.session, member_id)


def end_sessions_of(uow: UnitOfWork, member_id: str) -> int:
    """End every session of a member whose password was just set; returns how many."""
    return repository.delete_sessions_of(uow.session, member_id)
