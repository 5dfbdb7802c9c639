"""A real aiosmtpd server on loopback: it keeps what it receives, or delivers it to a Dovecot."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from pursuit.connectors.smtp import SmtpSender
from support.dovecot import USER, Dovecot, free_port
from support.tlscert import client_context, self_signed_cert

TOKEN = "ya29.token"


class Inbox:
    """The server's handler: keeps each message, and delivers it to Dovecot if given one."""

    def __init__(self, dovecot: Dovecot | None = None, reject: str | None = None) -> None:
        self.dovecot = dovecot
        self.reject = reject
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.reject:
            return self.reject
        raw = bytes(envelope.original_content or b"")
        self.received.append((list(envelope.rcpt_tos), raw))
        if self.dovecot is not None:
            self.dovecot.append("INBOX", raw)
        return "250 OK queued"

    async def auth_XOAUTH2(self, server: SMTPServer, args: list[str]) -> AuthResult:
        fields = base64.b64decode(args[1]).decode().split("\x01")
        ok = fields[0] == f"user={USER}" and fields[1] == f"auth=Bearer {TOKEN}"
        return AuthResult(success=ok, handled=False)


def password_ok(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        b"secret",
    )
    return AuthResult(success=ok, handled=False)


class Server:
    def __init__(self, handler: Inbox, tmp: Path, **options: Any) -> None:
        self.handler = handler
        self.port = free_port()
        self.cert, key = self_signed_cert(tmp)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        if options.pop("implicit_tls", False):
            options["ssl_context"] = context
        elif options.pop("starttls", False):
            options["tls_context"] = context
        self.controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=password_ok,
            auth_require_tls=False,
            **options,
        )

    def sender(self, **options: Any) -> SmtpSender:
        settings: dict[str, Any] = {
            "security": "none",
            "username": USER,
            "password": lambda: "secret",
            "address": USER,
            "timeout": 10,
            "ssl_context": client_context(self.cert),
        }
        settings.update(options)
        return SmtpSender("127.0.0.1", self.port, **settings)
