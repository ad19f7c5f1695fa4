"""Real local receivers for the notifiers: a Starlette webhook endpoint under uvicorn and an
SMTP server (aiosmtpd), both on loopback.

The webhook receiver checks the signature the way README's snippet does (its own HMAC code,
not the helper's), refuses bad or old ones with 401, and can be told to answer with given
statuses first (a receiver that fails) or to hold requests (a slow one).
"""

from __future__ import annotations

import datetime
import email
import email.policy
import hashlib
import hmac
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_server.runner import MockServer


@dataclass
class Delivery:
    """One request the webhook receiver accepted."""

    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict[str, Any]:
        import json  # noqa: PLC0415

        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class WebhookReceiver:
    """The receiver's state: accepted deliveries, refused requests, scripted answers."""

    secret: str
    deliveries: list[Delivery] = field(default_factory=list)
    refused: int = 0
    requests: int = 0
    answers: list[int] = field(default_factory=list)  # answered first, one per request
    hold: threading.Event | None = None  # set: answer; unset: hold the request
    held_for: float = 0.0  # how long a request is held at most
    url: str = ""

    def signature_ok(self, body: bytes, headers: dict[str, str]) -> bool:
        timestamp = headers.get("oob-helper-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False  # an old timestamp: a replay
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest("sha256=" + expected.hexdigest(), headers.get("oob-helper-signature", ""))

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        self.requests += 1
        if self.hold is not None and not self.hold.is_set():
            hold = self.hold
            await anyio.to_thread.run_sync(lambda: hold.wait(self.held_for))
        if not self.signature_ok(body, headers):
            self.refused += 1
            return Response(status_code=401)
        if self.answers:
            return Response(status_code=self.answers.pop(0), headers={"Retry-After": "0"})
        self.deliveries.append(Delivery(body, headers))
        return Response(status_code=204)


@contextmanager
def webhook_receiver(secret: str, path: str = "/hooks/notify") -> Iterator[WebhookReceiver]:
    """A receiver at ``path`` on a free loopback port."""
    receiver = WebhookReceiver(secret)
    app = Starlette(routes=[Route(path, receiver.endpoint, methods=["POST"])])
    with MockServer(app=app) as server:
        receiver.url = server.url + path
        yield receiver
        if receiver.hold is not None:
            receiver.hold.set()
        server.check_errors()


@dataclass
class Inbox:
    """What the SMTP server accepted."""

    user: str | None = None
    password: str | None = None
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.user is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], message))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A test CA and a certificate for 127.0.0.1: (the server's context, a client's that trusts it).
    The CA's certificate is left in ``directory / "ca.pem"``."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oob-helper test CA")])
    ca = (
        x509.CertificateBuilder(issuer_name=ca_name, subject_name=ca_name, public_key=ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder(
            issuer_name=ca_name,
            subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
            public_key=key.public_key(),
        )
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "cert.pem").write_bytes(cert.public_bytes(pem))
    (directory / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client


@contextmanager
def smtp_server(
    user: str | None = None, password: str | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[Inbox]:
    """An SMTP server on loopback; with ``user``, mail needs that login; with ``tls``, STARTTLS
    is required first (and logins only after it)."""
    inbox = Inbox(user=user, password=password)
    options: dict[str, Any] = {}
    if user is not None:
        options = {"auth_require_tls": tls is not None, "authenticator": inbox.authenticate}
    if tls is not None:
        options |= {"tls_context": tls, "require_starttls": True}
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()
