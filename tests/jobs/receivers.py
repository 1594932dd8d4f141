"""Real receivers of notifications for the tests: an SMTP server (aiosmtpd, plain, STARTTLS
with login, or implicit TLS, with a self-signed certificate) and an HTTP webhook receiver that
answers the statuses a test asks for and tracks overlapping requests."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.certificates import Certificate
from tests.e2e.processes import free_port


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None = None  # the user the client logged in as, if it did

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return cast(str, body.get_content())


@dataclass
class Mailbox:
    host: str
    port: int
    mails: list[Mail] = field(default_factory=list)
    # An SMTP reply to give to the next RCPT commands instead of accepting them.
    refuse_next: list[str] = field(default_factory=list)
    # The one login accepted, as (user, password); None: the server asks for none.
    account: tuple[str, str] | None = None
    refused_logins: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self._mailbox.refuse_next:
            return self._mailbox.refuse_next.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self._mailbox.mails.append(
            Mail(str(envelope.mail_from), list(envelope.rcpt_tos), message, login)
        )
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        account = self._mailbox.account
        if isinstance(data, LoginPassword) and account is not None:
            user, password = data.login.decode(), data.password.decode()
            if (user, password) == account:
                return AuthResult(success=True, auth_data=data)
            self._mailbox.refused_logins.append(user)
        return AuthResult(success=False, handled=False)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 (no TLS, no login) that keeps every message."""
    mailbox = Mailbox("127.0.0.1", free_port())
    controller = Controller(_Handler(mailbox), hostname=mailbox.host, port=mailbox.port)
    with _running(controller):
        yield mailbox


@contextmanager
def starttls_smtp_server(certificate: Certificate, user: str, password: str) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 that accepts mail only after STARTTLS and a login as
    `user` with `password`."""
    mailbox = Mailbox("127.0.0.1", free_port(), account=(user, password))
    handler = _Handler(mailbox)
    controller = Controller(
        handler,
        hostname=mailbox.host,
        port=mailbox.port,
        tls_context=certificate.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=handler.authenticate,
    )
    with _running(controller):
        yield mailbox


@contextmanager
def tls_smtp_server(certificate: Certificate) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 that speaks TLS from the first byte (no login)."""
    mailbox = Mailbox("127.0.0.1", free_port())
    controller = Controller(
        _Handler(mailbox),
        hostname=mailbox.host,
        port=mailbox.port,
        ssl_context=certificate.server_context(),
    )
    with _running(controller):
        yield mailbox


@contextmanager
def _running(controller: Controller) -> Iterator[None]:
    # aiosmtpd's readiness probe connects without checking the certificate, so start() works
    # with an ssl_context too.
    controller.start()
    try:
        yield
    finally:
        controller.stop()


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes


@dataclass
class HookReceiver:
    """Records every POST it answers 2xx; `statuses` are answered first, one per request."""

    url: str
    received: list[Hook] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    refused: int = 0
    delay: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def hook_receiver() -> Iterator[HookReceiver]:
    port = free_port()
    receiver = HookReceiver(f"http://127.0.0.1:{port}/keyward/events")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            with receiver.lock:
                receiver.in_flight += 1
                receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                status = receiver.statuses.pop(0) if receiver.statuses else 204
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(receiver.delay)
            with receiver.lock:
                receiver.in_flight -= 1
                if 200 <= status < 300:
                    receiver.received.append(Hook(dict(self.headers), body))
                else:
                    receiver.refused += 1
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
