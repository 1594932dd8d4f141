"""Notification e-mails: rendered from the Jinja2 templates beside this module (a text and an
HTML part per event, the subject from the text template) and sent over SMTP."""

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape

from keyward.jobs.transports import DeliveryFailed, PermanentFailure
from keyward.settings import Settings, SmtpSecurity

TEMPLATES = Path(__file__).with_name("templates")


def _when(value: object) -> str:
    """An ISO-8601 time (or datetime) as people read it: `2026-06-15 12:00 UTC`."""
    if isinstance(value, Undefined) or value is None:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["when"] = _when
    return environment


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(event: str, context: dict[str, Any]) -> Rendered:
    """The subject, text and HTML of the e-mail about `event`; `context` holds the message's
    `data` at its top level plus `to`, `event`, `occurred_at` and `workspace_id`."""
    environment = _environment()
    text_template = environment.get_template(f"{event}.txt")
    subject_block = text_template.blocks["subject"]
    subject = "".join(subject_block(text_template.new_context(context))).strip()
    subject = " ".join(subject.split())  # one line, whatever the data held
    html = environment.get_template(f"{event}.html").render({**context, "subject": subject})
    return Rendered(subject, text_template.render(context), html)


def has_template(event: str) -> bool:
    return (TEMPLATES / f"{event}.txt").is_file() and (TEMPLATES / f"{event}.html").is_file()


def compose(settings: Settings, payload: dict[str, Any], workspace_id: str) -> EmailMessage:
    """The e-mail for one `notification.email` outbox message."""
    to = payload["to"]
    context = {
        **payload["data"],
        "to": to,
        "event": payload["event"],
        "occurred_at": payload["occurred_at"],
        "workspace_id": workspace_id,
        # Where e-mails about keys and key requests link to (/keys, /approvals).
        "portal": settings.portal_base(),
    }
    rendered = render(payload["event"], context)
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = settings.smtp_from
    message["To"] = formataddr((to.get("name") or "", to["email"]))
    message["Message-ID"] = make_msgid(idstring=payload["event_id"], domain="keyward")
    message["X-Keyward-Event"] = payload["event"]
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def send(settings: Settings, message: EmailMessage) -> str:
    """Hand `message` to the SMTP server. A refusal the server means (5xx) is permanent;
    unreachable servers, 4xx answers and failed logins are retried."""
    host = settings.smtp_host
    if not host:
        raise PermanentFailure(
            "no SMTP server is configured (set KEYWARD_SMTP_HOST): the e-mail was not sent"
        )
    port = settings.smtp_port_or_default()
    timeout = settings.smtp_timeout
    # Verification stays on: a private relay is trusted through its CA, never by skipping it.
    context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    try:
        client = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if settings.smtp_security is SmtpSecurity.TLS
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with client:
            if settings.smtp_security is SmtpSecurity.STARTTLS:
                client.starttls(context=context)
            if settings.smtp_username:
                password = settings.smtp_password
                client.login(
                    settings.smtp_username, password.get_secret_value() if password else ""
                )
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as refused:
        codes = sorted({code for code, _ in refused.recipients.values()})
        failure = f"the SMTP server refused the recipient (SMTP {', '.join(map(str, codes))})"
        if all(code >= 500 for code in codes):
            raise PermanentFailure(failure) from None
        raise DeliveryFailed(failure) from None
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryFailed(
            f"the SMTP server refused the login (SMTP {error.smtp_code})"
        ) from None
    except smtplib.SMTPResponseException as error:
        failure = f"the SMTP server answered {error.smtp_code}"
        if error.smtp_code >= 500:
            raise PermanentFailure(failure) from None
        raise DeliveryFailed(failure) from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"{type(error).__name__} talking to the SMTP server") from None
    return f"sent to {message['To']}"
