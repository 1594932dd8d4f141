"""E-mail over an encrypted connection to a real aiosmtpd server with a self-signed
certificate: STARTTLS with a login, implicit TLS, and refusing a server the client can't trust."""

from pathlib import Path
from typing import Any

import pytest

from keyward.db.models import OutboxMessage
from keyward.domains.notifications.events import EMAIL
from keyward.jobs.notifications import deliver_email
from keyward.jobs.transports import DeliveryFailed, PermanentFailure
from keyward.settings import Settings
from tests.certificates import Certificate, self_signed_certificate
from tests.conftest import settings_for
from tests.jobs.receivers import Mailbox, starttls_smtp_server, tls_smtp_server

USER = "keyward-relay"
PASSWORD = "a relay password"


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed_certificate(tmp_path)


def revoked_key_email() -> OutboxMessage:
    """A `notification.email` outbox message as `notify` queues it (never stored)."""
    payload: dict[str, Any] = {
        "to": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "event": "key.revoked",
        "event_id": "ntf_tls",
        "occurred_at": "2026-06-01T12:00:00+00:00",
        "data": {
            "key": {
                "id": "key_tls",
                "name": "billing",
                "kind": "acquisition",
                "start": "kw_live_ab",
                "acquisition_id": "acq_tls",
                "expires_at": None,
            },
            "api": {"id": "api_tls", "name": "Weather API"},
        },
    }
    return OutboxMessage(id="msg_tls", workspace_id="ws_tls", kind=EMAIL, payload=payload)


def tls_settings(mailbox: Mailbox, security: str, **overrides: object) -> Settings:
    return settings_for(
        "sqlite://",
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_security=security,
        smtp_from="keyward@example.com",
        smtp_timeout=5,
        **overrides,
    )


def test_starttls_with_the_right_login_delivers(certificate: Certificate) -> None:
    with starttls_smtp_server(certificate, USER, PASSWORD) as mailbox:
        settings = tls_settings(
            mailbox,
            "starttls",
            smtp_ca_file=certificate.pem,
            smtp_username=USER,
            smtp_password=PASSWORD,
        )
        deliver_email(settings, revoked_key_email())
    [mail] = mailbox.mails
    assert mail.recipients == ["ada@example.com"]
    assert mail.message["Subject"] == "Key “billing” revoked"
    assert mail.login == USER


def test_starttls_with_a_wrong_password_is_not_delivered_and_is_retried(
    certificate: Certificate,
) -> None:
    with starttls_smtp_server(certificate, USER, PASSWORD) as mailbox:
        settings = tls_settings(
            mailbox,
            "starttls",
            smtp_ca_file=certificate.pem,
            smtp_username=USER,
            smtp_password="not the password",
        )
        # DeliveryFailed, not PermanentFailure: the worker tries again later, so fixing
        # KEYWARD_SMTP_PASSWORD in time still gets the e-mail out.
        with pytest.raises(DeliveryFailed, match=r"refused the login \(SMTP 535\)"):
            deliver_email(settings, revoked_key_email())
    assert set(mailbox.refused_logins) == {USER}, "smtplib tries each mechanism offered"
    assert mailbox.mails == []


def test_no_login_for_a_server_that_wants_one_is_given_up(certificate: Certificate) -> None:
    with starttls_smtp_server(certificate, USER, PASSWORD) as mailbox:
        settings = tls_settings(mailbox, "starttls", smtp_ca_file=certificate.pem)
        # The server answers MAIL FROM with 530, a 5xx: permanent, unlike a refused login.
        with pytest.raises(PermanentFailure, match="answered 530"):
            deliver_email(settings, revoked_key_email())
    assert mailbox.mails == []


def test_implicit_tls_delivers(certificate: Certificate) -> None:
    with tls_smtp_server(certificate) as mailbox:
        settings = tls_settings(mailbox, "tls", smtp_ca_file=certificate.pem)
        deliver_email(settings, revoked_key_email())
    [mail] = mailbox.mails
    assert mail.recipients == ["ada@example.com"]
    assert mail.message["Subject"] == "Key “billing” revoked"
    assert mail.login is None


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_server_certificate_the_client_does_not_trust_is_refused(
    certificate: Certificate, security: str
) -> None:
    server = (
        starttls_smtp_server(certificate, USER, PASSWORD)
        if security == "starttls"
        else tls_smtp_server(certificate)
    )
    with server as mailbox:
        settings = tls_settings(
            mailbox, security, smtp_ca_file=None, smtp_username=USER, smtp_password=PASSWORD
        )
        with pytest.raises(DeliveryFailed, match="SSLCertVerificationError"):
            deliver_email(settings, revoked_key_email())
    assert mailbox.mails == []
    assert mailbox.refused_logins == [], "the password never reached an untrusted server"
