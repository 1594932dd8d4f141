"""Notification e-mails: rendered from the Jinja2 templates beside this module (a text and an
HTML part per event, the subject from the text template) and sent over SMTP, or, without an
SMTP server, kept as files a person opens (`KEYWARD_MAIL_DIR`)."""

import logging
import os
import secrets
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

log = logging.getLogger(__name__)


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


def where_mail_goes(settings: Settings) -> str:
    """One line for a person starting keyward: where its e-mails end up."""
    if settings.smtp_host:
        return f"e-mails are sent through {settings.smtp_host}:{settings.smtp_port_or_default()}"
    if settings.mail_dir is not None:
        return (
            "no SMTP server is configured: e-mails are written to "
            f"{settings.mail_dir.absolute()}/ as .eml files (open them with a mail program "
            "or read them as text)"
        )
    return (
        "no SMTP server is configured (KEYWARD_SMTP_HOST) and no KEYWARD_MAIL_DIR: e-mails "
        "are not sent, only marked failed"
    )


def keep(directory: Path, message: EmailMessage) -> Path:
    """Write `message` whole as a new .eml file in `directory` (made if needed), its text
    readable as it is, the file by its owner only: it may hold a link that sets a password."""
    for part in message.walk():
        if part.get_content_maintype() == "text":
            # Read as text, not quoted-printable: a person opens these in an editor too.
            part.set_content(part.get_content(), subtype=part.get_content_subtype(), cte="8bit")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{message['X-Keyward-Event'] or 'mail'}-{secrets.token_hex(4)}.eml"
    final = directory / name
    staged = directory / f".{name}.new"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(staged, flags, 0o600), "wb") as handle:
        handle.write(message.as_bytes())
    os.replace(staged, final)
    return final


def send(settings: Settings, message: EmailMessage) -> str:
    """Hand `message` to the SMTP server. A refusal the server means (5xx) is permanent;
    unreachable servers, 4xx answers and failed logins are retried. Without a server, the
    message is written to `mail_dir` if set, else given up."""
    host = settings.smtp_host
    if not host and settings.mail_dir is not None:
        try:
            kept = keep(settings.mail_dir, message)
        except OSError as error:
            raise DeliveryFailed(
                f"could not write the e-mail to {settings.mail_dir.absolute()}: "
                f"{error.strerror or type(error).__name__}"
            ) from None
        log.info("e-mail written to %s", kept)
        return f"written to {kept}"
    if not host:
        raise PermanentFailure(
            "no SMTP server is configured (set KEYWARD_SMTP_HOST, or KEYWARD_MAIL_DIR to keep "
            "e-mails as files): the e-mail was not sent"
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
