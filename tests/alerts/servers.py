"""Real servers for the alert tests: an SMTP server (aiosmtpd) that requires STARTTLS and AUTH, and an HTTPS
webhook receiver, both with certificates of a test CA (trustme, made with cryptography)."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-secret-never-logged"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoCa:
    ca: trustme.CA
    ca_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
        return context


def make_ca(folder: Path) -> DemoCa:
    ca = trustme.CA()
    path = folder / "alerts-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return DemoCa(ca, path)


@dataclass
class Mailbox:
    """What the SMTP server received: one parsed mail per accepted DATA, with its envelope recipients."""

    port: int
    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    starttls_used: list[bool] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [mail for recipients, mail in self.mails if address in recipients]


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        self.box.mails.append((list(envelope.rcpt_tos), mail))
        self.box.starttls_used.append(session.ssl is not None)
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@contextmanager
def smtp_server(ca: DemoCa, port: int | None = None) -> Iterator[Mailbox]:
    box = Mailbox(port or free_port())
    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=box.port,
        server_hostname="localhost",
        tls_context=ca.server_context(),
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Webhook:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def webhook_receiver(ca: DemoCa) -> Iterator[Webhook]:
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ca.server_context().wrap_socket(server.socket, server_side=True)
    hook.url = f"https://localhost:{server.server_address[1]}/hooks/xgw?token=webhook-token-never-logged"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
