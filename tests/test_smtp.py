"""SMTP delivery of the weekly summary, against a real aiosmtpd server on loopback.

The contract run: the SMTP server delivers into the user's INBOX on a real
Dovecot (as a provider's does), where a new process finds what was sent.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.contracts import SenderContract, summary, summary_id
from support.dovecot import USER, Dovecot, OnDovecot, free_port, imap_mailbox
from support.smtp import TOKEN, Inbox, Server

from pursuit.connectors.base import Sender
from pursuit.connectors.smtp import SmtpSender
from pursuit.daemon.errors import AuthError, ConfigError, SourceError


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[Server]:
    server = Server(Inbox(), tmp_path)
    server.controller.start()
    yield server
    server.controller.stop()


# -------------------------------------------------------------------- the contract


class SmtpSent:
    user = USER

    def __init__(self, server: Server, dovecot: Dovecot) -> None:
        self.server = server
        self.dovecot = dovecot

    def sender(self) -> Sender:
        mailbox = imap_mailbox(self.dovecot)
        return self.server.sender(find_message=mailbox.find_sent)

    def sent(self) -> list[EmailMessage]:
        out = []
        for _, raw in self.server.handler.received:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            out.append(message)
        return out


class TestSmtpSender(OnDovecot, SenderContract):
    @pytest.fixture
    def outgoing(self, dovecot: Dovecot, tmp_path: Path) -> Iterator[SmtpSent]:
        server = Server(Inbox(dovecot), tmp_path)
        server.controller.start()
        yield SmtpSent(server, dovecot)
        server.controller.stop()


# ------------------------------------------------------------------- the transport


def test_plain_on_loopback_sends_to_the_user_alone(smtp: Server) -> None:
    message_id = smtp.sender().send(summary(USER))
    [(recipients, raw)] = smtp.handler.received
    assert recipients == [USER]
    sent = email.message_from_bytes(raw)
    assert sent["Message-ID"] == message_id
    assert sent["From"] == USER
    assert sent["X-Pursuit-Key"] == "summary:2026-W49"


def test_starttls(tmp_path: Path) -> None:
    server = Server(Inbox(), tmp_path, starttls=True, require_starttls=True)
    server.controller.start()
    try:
        server.sender(security="starttls").send(summary(USER))
        assert len(server.handler.received) == 1
    finally:
        server.controller.stop()


def test_implicit_tls_and_xoauth2(tmp_path: Path) -> None:
    server = Server(Inbox(), tmp_path, implicit_tls=True)
    server.controller.start()
    try:
        server.sender(security="ssl", auth="oauth2", password=lambda: TOKEN).send(summary(USER))
        assert len(server.handler.received) == 1
    finally:
        server.controller.stop()


def test_an_untrusted_certificate_is_a_tls_failure_naming_the_server(tmp_path: Path) -> None:
    server = Server(Inbox(), tmp_path, starttls=True)
    server.controller.start()
    try:
        sender = server.sender(security="starttls", ssl_context=ssl.create_default_context())
        with pytest.raises(SourceError, match=rf"127\.0\.0\.1:{server.port}: TLS failed"):
            sender.send(summary(USER))
        assert server.handler.received == []
    finally:
        server.controller.stop()


def test_no_starttls_offered_is_refused_before_the_password_is_sent(smtp: Server) -> None:
    with pytest.raises(SourceError, match="offers no STARTTLS"):
        smtp.sender(security="starttls").send(summary(USER))
    assert smtp.handler.received == []


def test_a_wrong_password_is_an_auth_error_naming_the_server(smtp: Server) -> None:
    sender = smtp.sender(password=lambda: "wrong")
    with pytest.raises(AuthError, match=rf"127\.0\.0\.1:{smtp.port}: login refused for {USER}"):
        sender.send(summary(USER))
    assert smtp.handler.received == []


def test_a_refused_connection_names_the_server() -> None:
    port = free_port()  # nothing listens there
    sender = SmtpSender(
        "127.0.0.1", port, security="none", username=None, password=None, address=USER
    )
    with pytest.raises(SourceError, match=rf"127\.0\.0\.1:{port}: cannot connect"):
        sender.send(summary(USER))


def test_a_5xx_answer_is_a_source_error_and_a_later_send_works(tmp_path: Path) -> None:
    handler = Inbox(reject="554 5.7.1 Message rejected as spam")
    server = Server(handler, tmp_path)
    server.controller.start()
    try:
        sender = server.sender()
        with pytest.raises(SourceError, match=r"554 5\.7\.1 Message rejected as spam"):
            sender.send(summary(USER))
        key = "summary:2026-W49"
        assert sender.find_sent(key, summary_id(key)) is None  # not recorded as sent
        handler.reject = None
        sender.send(summary(USER))
        assert len(handler.received) == 1
    finally:
        server.controller.stop()


def test_plain_text_to_a_remote_server_is_refused() -> None:
    with pytest.raises(ConfigError, match="only for a server on this machine"):
        SmtpSender(
            "smtp.example.com", 25, security="none", username=None, password=None, address=USER
        )


def test_sending_by_smtp_does_not_load_the_imap_library() -> None:
    """The summary by SMTP from a machine whose mail is read by Gmail: imapclient unused."""
    probe = (
        "import sys\n"
        "import pursuit.connectors.smtp\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'imapclient'"
        " or m == 'pursuit.connectors.imap'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout
