"""Mail to the user alone (the weekly summary) through any SMTP server.

TLS from the start (``ssl``) or upgraded (``starttls``); ``none`` only for a
server on this machine. Password or XOAUTH2 (an access token from the same
kind of command as IMAP's). SMTP keeps no record of what it sent, so finding a
message sent earlier by its key asks `find_message` (the IMAP mailbox, where
mail to the user arrives); exactly once per week is the core's job anyway.
Once the server has accepted a message, nothing here raises.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import logging
import smtplib
import ssl
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Literal

from pursuit.connectors.base import outgoing_copy
from pursuit.connectors.secrets import is_loopback
from pursuit.daemon.errors import AuthError, ConfigError, SourceError

log = logging.getLogger(__name__)

SOURCE = "smtp"


class SmtpSender:
    """Sends to the user alone, once per key (see the module docstring).

    `password` is called at each login; with ``auth="oauth2"`` it returns an
    access token. `find_message(key, message_id)` returns the Message-ID of a
    message already in the user's mailbox with that key and Message-ID, if any.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Literal["ssl", "starttls", "none"] = "ssl",
        username: str | None,
        password: Callable[[], str] | None,
        address: str,
        auth: Literal["password", "oauth2"] = "password",
        find_message: Callable[[str, str], str | None] | None = None,
        timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("ssl", "starttls", "none"):
            raise ConfigError(f"smtp security {security!r}: use ssl, starttls or none")
        if security == "none" and not is_loopback(host):
            raise ConfigError(
                f"smtp: security = none sends mail and password in the clear; it is allowed "
                f"only for a server on this machine, not {host} (use ssl or starttls)"
            )
        if auth not in ("password", "oauth2"):
            raise ConfigError(f"smtp auth {auth!r}: use password or oauth2")
        self.host = host
        self.port = port or {"ssl": 465, "starttls": 587, "none": 25}[security]
        self.security = security
        self.username = username
        self.password = password
        self.address = address.lower()
        self.auth = auth
        self.find_message = find_message
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._sent: dict[str, str] = {}  # key -> Message-ID, sent by this instance

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    #: A server may queue the message a while before it reaches the INBOX.
    in_doubt = timedelta(minutes=15)

    @property
    def keeps_record(self) -> bool:
        """With an IMAP mailbox to look in: the summary comes back to the user's INBOX."""
        return self.find_message is not None

    def find_sent(self, key: str, message_id: str) -> str | None:
        if key in self._sent and self._sent[key] == message_id:
            return self._sent[key]
        return self.find_message(key, message_id) if self.find_message is not None else None

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        """Send unless sent already; returns the message's Message-ID either way."""
        key, outgoing, message_id = outgoing_copy(message, self.address)
        existing = self.find_sent(key, message_id)
        if existing is not None:
            return existing
        del outgoing["Bcc"]
        if not outgoing.get("From"):
            outgoing["From"] = self.address
        if not outgoing.get("Date"):
            outgoing["Date"] = email.utils.formatdate(localtime=True)
        if begin is not None:
            begin()
        self._deliver(outgoing)
        self._sent[key] = message_id
        return message_id

    def _deliver(self, message: EmailMessage) -> None:
        context = self.ssl_context or ssl.create_default_context()
        step = "connect"
        client: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            client.ehlo()
            if self.security == "starttls":
                step = "STARTTLS"
                if not client.has_extn("starttls"):
                    raise SourceError(SOURCE, f"{self.server}: the server offers no STARTTLS")
                client.starttls(context=context)
                client.ehlo()
            if self.username and self.password is not None:
                step = "login"
                self._login(client)
            step = "send"
            client.send_message(message, from_addr=self.address, to_addrs=[self.address])
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthError(
                SOURCE, f"{self.server}: login refused for {self.username} ({_reply(exc)})"
            ) from None
        except ssl.SSLError as exc:
            raise SourceError(SOURCE, f"{self.server}: TLS failed ({exc})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(_reply(e) for e in exc.recipients.values())
            raise SourceError(SOURCE, f"{self.server}: recipient refused ({refused})") from None
        except smtplib.SMTPResponseException as exc:
            raise SourceError(SOURCE, f"{self.server}: {step} refused ({_reply(exc)})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SourceError(SOURCE, f"{self.server}: cannot {step} ({exc})") from None
        finally:
            if client is not None:
                # after the server accepted the message, a failed QUIT changes nothing
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.quit()

    def _login(self, client: smtplib.SMTP) -> None:
        assert self.username is not None and self.password is not None
        secret = self.password()
        if self.auth == "password":
            if "PLAIN" in client.esmtp_features.get("auth", "").upper().split():
                # one attempt: smtplib.login would try the next mechanism after a refusal
                client.user, client.password = self.username, secret
                client.auth("PLAIN", client.auth_plain)
            else:
                client.login(self.username, secret)
            return
        token = f"user={self.username}\x01auth=Bearer {secret}\x01\x01"
        code, reply = client.docmd("AUTH", "XOAUTH2 " + base64.b64encode(token.encode()).decode())
        if code == 334:  # the server sent an error as a challenge: answer empty to end it
            code, reply = client.docmd("")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)


def _reply(exc: smtplib.SMTPResponseException | tuple[int, bytes]) -> str:
    code, text = (exc.smtp_code, exc.smtp_error) if not isinstance(exc, tuple) else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}"
