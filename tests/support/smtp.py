"""A real aiosmtpd server on loopback: it keeps what it receives, or delivers it to a Dovecot.

XOAUTH2 logins are checked against the fixed TOKEN, or, given an `introspection_url`
(the Graph emulator's), asked of that RFC 7662 endpoint as Dovecot's oauth2 passdb
asks it: the token must be live and the login's user the one it was issued to."""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import ssl
import urllib.parse
import urllib.request
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

    def __init__(
        self,
        dovecot: Dovecot | None = None,
        reject: str | None = None,
        *,
        introspection_url: str | None = None,
    ) -> None:
        self.dovecot = dovecot
        self.reject = reject
        self.introspection_url = introspection_url
        self.received: list[tuple[list[str], bytes]] = []
        #: Each XOAUTH2 login: (user, accepted).
        self.logins: list[tuple[str, bool]] = []

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
        user = fields[0].removeprefix("user=")
        token = fields[1].removeprefix("auth=Bearer ")
        if self.introspection_url is None:
            ok = user == USER and token == TOKEN
        else:
            ok = await asyncio.to_thread(self._introspect, user, token)
        self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False)

    def _introspect(self, user: str, token: str) -> bool:
        assert self.introspection_url is not None
        body = urllib.parse.urlencode({"token": token}).encode()
        with urllib.request.urlopen(self.introspection_url, body, timeout=10) as answer:
            found = json.load(answer)
        return bool(found.get("active")) and str(found.get("username", "")).lower() == user.lower()


def password_ok(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        b"secret",
    )
    return AuthResult(success=ok, handled=False)


class LongAuthSMTP(SMTPServer):
    """aiosmtpd with room for an OAuth token: RFC 4954 lets an AUTH line run to 12288
    octets (a Microsoft access token is a few thousand), where aiosmtpd stops at 512."""

    AUTH_LINE = 12288

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the class keeps one table for every server: this one gets its own
        self.command_size_limits = collections.defaultdict(
            lambda: SMTPServer.command_size_limit, {"AUTH": self.AUTH_LINE}
        )


class _Controller(Controller):
    def factory(self) -> SMTPServer:
        return LongAuthSMTP(self.handler, **self.SMTP_kwargs)


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
        self.controller = _Controller(
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
