"""Sending the e-mail of a password link (an invitation or a password reset), its token made
as it is sent (`domains.passwords.service`)."""

from keyward.db.engine import Database
from keyward.db.models import Member, OutboxMessage
from keyward.domains.passwords import service as passwords
from keyward.domains.passwords.schemas import Purpose
from keyward.jobs import mail
from keyward.settings import Settings

PAGES = {Purpose.INVITATION: "welcome", Purpose.RESET: "reset"}


def deliver_password_link(database: Database, settings: Settings, message: OutboxMessage) -> None:
    with database.transaction() as uow:
        sending = passwords.prepare_sending(uow, message.payload["link_id"])
        if sending is None:
            return  # used, expired or its member gone: nothing to send
        link, member = sending.link, sending.member
        inviter = uow.session.get(Member, link.created_by) if link.created_by else None
        payload = {
            "event": passwords.EVENTS[sending.purpose],
            "event_id": link.id,
            "occurred_at": uow.clock.now().isoformat(),
            "to": {"member_id": member.id, "email": member.email, "name": member.name},
            "data": {
                "link": f"{settings.portal_base()}/{PAGES[sending.purpose]}/{sending.token}",
                "sign_in": f"{settings.portal_base()}/login",
                "expires_at": link.expires_at.isoformat(),
                "invited_by": inviter.name if inviter is not None else None,
            },
        }
    mail.send(settings, mail.compose(settings, payload, message.workspace_id))
