"""Invitations and password resets: single-use, expiring links sent by e-mail.

A link is a row (`PasswordLink`) and an outbox message. The worker makes the link's token when it
sends the e-mail and stores only its SHA-256, so no token exists anywhere but in the e-mail: a
retried sending makes a new one (the earlier e-mail, never delivered, had none that works). A
link sets the member's password once, before it expires; setting it uses up every other open
link of the member and ends the member's portal sessions, as any new password does.

Asking for a reset answers the same whether or not the address is a member's (no account
oracle); a member is sent at most `password_resets_per_hour` reset e-mails an hour.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from keyward.core.actors import Actor
from keyward.core.errors import Conflict
from keyward.core.ids import new_id
from keyward.core.keys import generate_key
from keyward.core.sessions import token_digest
from keyward.db.engine import UnitOfWork
from keyward.db.models import Member, PasswordLink
from keyward.domains import access, rates
from keyward.domains.audit import service as audit
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberOut, MemberUpdate
from keyward.domains.outbox import service as outbox
from keyward.domains.passwords.schemas import InvitationOut, Purpose
from keyward.domains.sessions import service as sessions
from keyward.settings import Settings

# The outbox kind of a password link's e-mail.
LINK_EMAIL = "member.password_link"
# A link's token is shaped like a key (`pwl_…`), so that every log line masks it as it masks
# keys, should a link's address be logged.
TOKEN_PREFIX = "pwl"  # noqa: S105 (a prefix, not a secret)
# The e-mail event (template) of each purpose.
EVENTS = {Purpose.INVITATION: "member.invited", Purpose.RESET: "member.password_reset"}


def _open_link(
    uow: UnitOfWork, member: Member, purpose: Purpose, lifetime: int, created_by: str | None
) -> PasswordLink:
    now = uow.clock.now()
    link = PasswordLink(
        id=new_id("pwl"),
        workspace_id=member.workspace_id,
        member_id=member.id,
        purpose=purpose.value,
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    )
    uow.session.add(link)
    uow.session.flush()
    outbox.enqueue(uow, member.workspace_id, LINK_EMAIL, {"link_id": link.id})
    return link


def invite(uow: UnitOfWork, actor: Actor, member_id: str, settings: Settings) -> InvitationOut:
    """Send the member an invitation: an e-mail with a link to set their password. Inviting
    needs the right to update the member (as setting their password does)."""
    member = access.find(uow, actor, access.MEMBERS, member_id, "update")
    if not member.active:
        raise Conflict(
            "The member is deactivated; activate them before inviting them.",
            code="member_inactive",
        )
    rates.check_invitation(uow, actor.member_id, Purpose.INVITATION.value)
    link = _open_link(
        uow, member, Purpose.INVITATION, settings.invitation_lifetime, actor.member_id
    )
    audit.record(
        uow,
        actor,
        "member.invite",
        target_type="member",
        target_id=member.id,
        details={"link_id": link.id, "expires_at": link.expires_at.isoformat()},
    )
    return InvitationOut(
        id=link.id, member_id=member.id, email=member.email, expires_at=link.expires_at
    )


def request_reset(
    uow: UnitOfWork, workspace_id: str, email: str, actor: Actor, settings: Settings
) -> None:
    """Send a password reset link to the active member with this e-mail address, if there is
    one and they have not been sent too many this hour; the caller answers the same anyway."""
    member = members.member_signing_in(uow, workspace_id, email)
    if member is None:
        audit.record(uow, actor, "member.password_reset", outcome="refused", code="no_member")
        return
    since = uow.clock.now() - timedelta(hours=1)
    recent = uow.session.scalar(
        select(PasswordLink.id)
        .where(
            PasswordLink.member_id == member.id,
            PasswordLink.purpose == Purpose.RESET.value,
            PasswordLink.created_at > since,
        )
        .offset(settings.password_resets_per_hour - 1)
        .limit(1)
    )
    if recent is not None:
        audit.record(
            uow,
            actor,
            "member.password_reset",
            target_type="member",
            target_id=member.id,
            outcome="refused",
            code="too_many_resets",
        )
        return
    link = _open_link(uow, member, Purpose.RESET, settings.password_reset_lifetime, None)
    audit.record(
        uow,
        actor,
        "member.password_reset",
        target_type="member",
        target_id=member.id,
        details={"link_id": link.id},
    )


@dataclass(frozen=True, slots=True)
class Sending:
    """What the e-mail of a link says: to whom, the token, until when."""

    purpose: Purpose
    member: Member
    token: str
    link: PasswordLink


def prepare_sending(uow: UnitOfWork, link_id: str) -> Sending | None:
    """A fresh token for the link's e-mail (only its hash is stored), or None when there is
    nothing to send any more: used, expired, its member gone or deactivated."""
    link = uow.session.get(PasswordLink, link_id, with_for_update=True)
    if link is None or link.used_at is not None or link.expires_at <= uow.clock.now():
        return None
    member = members.active_member(uow, link.workspace_id, link.member_id)
    if member is None:
        return None
    token = generate_key(TOKEN_PREFIX).secret
    link.token_hash = token_digest(token)
    link.sent_at = uow.clock.now()
    uow.session.flush()
    return Sending(Purpose(link.purpose), member, token, link)


def usable_link(uow: UnitOfWork, workspace_id: str, token: str) -> PasswordLink | None:
    """The open link with this token, if it may still be used."""
    if not token or len(token) > 100:
        return None
    link = uow.session.scalar(
        select(PasswordLink).where(
            PasswordLink.token_hash == token_digest(token),
            PasswordLink.workspace_id == workspace_id,
        )
    )
    if link is None or link.used_at is not None or link.expires_at <= uow.clock.now():
        return None
    if members.active_member(uow, workspace_id, link.member_id) is None:
        return None
    return link


def link_holder(uow: UnitOfWork, workspace_id: str, token: str) -> Member | None:
    """The member whose password the open link with this token sets, if it may be used."""
    link = usable_link(uow, workspace_id, token)
    return members.active_member(uow, workspace_id, link.member_id) if link else None


def set_password(
    uow: UnitOfWork, workspace_id: str, token: str, password: str, actor: Actor
) -> Member | None:
    """Set the password of the member the link names and use the link up (with every other
    open link of the member); None when the link is unknown, used or expired. The password
    must have passed `members.schemas.password_problem`."""
    link = usable_link(uow, workspace_id, token)
    if link is None:
        audit.record(uow, actor, "member.password_set", outcome="refused", code="link_unusable")
        return None
    member = members.active_member(uow, workspace_id, link.member_id)
    if member is None:
        return None
    now = uow.clock.now()
    member.password_hash = members.hash_password(password)
    uow.session.execute(
        update(PasswordLink)
        .where(PasswordLink.member_id == member.id, PasswordLink.used_at.is_(None))
        .values(used_at=now)
    )
    ended = sessions.end_sessions_of(uow, member.id)
    audit.record(
        uow,
        actor,
        "member.password_set",
        target_type="member",
        target_id=member.id,
        details={"link_id": link.id, "purpose": link.purpose, "sessions_ended": ended},
    )
    return member


def update_member(uow: UnitOfWork, actor: Actor, member_id: str, body: MemberUpdate) -> MemberOut:
    """`members.update_member`; a new password also ends the member's portal sessions, as a
    reset does, so that whoever knew the old one is signed out."""
    updated = members.update_member(uow, actor, member_id, body)
    if body.password is not None:
        sessions.end_sessions_of(uow, member_id)
    return updated
