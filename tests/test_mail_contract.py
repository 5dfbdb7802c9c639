"""The mail contracts, run against every implementation.

`Mailbox` (the mail the correspondence log reads) and `DraftBox` (where the
thank-you drafts go): in memory, Gmail through the local emulator, and
IMAP through a real Dovecot (tests/support/dovecot.py) for both.
`Sender` (the weekly summary, to the user alone): in memory; SMTP in
tests/test_smtp.py; Gmail's `messages.send` when it implements it.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from support.contracts import (
    NOW,
    DraftBoxContract,
    GoogleAccount,
    MailboxContract,
    OnGoogleEmulator,
    SenderContract,
)
from support.dovecot import USER as IMAP_USER
from support.dovecot import Dovecot, OnDovecot, imap_mailbox
from support.graph_emulator import GraphEmulator

from pursuit.connectors.base import KEY_HEADER, Address, DraftBox, Mailbox, MailMessage, Sender
from pursuit.connectors.gmail import GmailMailbox
from pursuit.connectors.imap import ImapMailbox
from pursuit.connectors.memory import MemoryDraftBox, MemoryMailbox, MemorySender

USER = "sam.seeker@example.test"


def _addresses(value: str) -> tuple[Address, ...]:
    if not value:
        return ()
    return tuple(Address(name, addr.lower()) for name, addr in email.utils.getaddresses([value]))


def _gmail(google: GoogleAccount) -> GmailMailbox:
    return GmailMailbox(
        google.credentials(),
        google.token_file,
        api_endpoint=google.emu.gmail_endpoint,
        quota_units_per_second=100_000,
    )


# -------------------------------------------------------------------------- Mailbox


class MemoryMail:
    user = USER

    def __init__(self) -> None:
        self.shared = MemoryMailbox(USER)
        self._serial = count(1)

    def mailbox(self) -> Mailbox:
        return self.shared

    def deliver(
        self,
        sender: str,
        to: str,
        subject: str,
        *,
        when: datetime = NOW - timedelta(days=1),
        cc: str = "",
        outgoing: bool = False,
    ) -> None:
        n = next(self._serial)
        [from_address] = _addresses(sender)
        self.shared.deliver(
            MailMessage(
                source_id=f"m{n}",
                message_id=f"<m{n}@memory.test>",
                thread=f"t{n}",
                date=when,
                sender=from_address,
                to=_addresses(to),
                cc=_addresses(cc),
                reply_to=(),
                subject=subject,
                snippet="",
                outgoing=outgoing,
            )
        )

    def expire_cursors(self) -> None:
        self.shared.expire_cursors()


class GmailMail:
    user = OnGoogleEmulator.USER

    def __init__(self, google: GoogleAccount) -> None:
        self.google = google
        self._serial = count(1)

    def mailbox(self) -> Mailbox:
        return _gmail(self.google)

    def deliver(
        self,
        sender: str,
        to: str,
        subject: str,
        *,
        when: datetime = NOW - timedelta(days=1),
        cc: str = "",
        outgoing: bool = False,
    ) -> None:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        if cc:
            message["Cc"] = cc
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(when)
        message["Message-ID"] = f"<m{next(self._serial)}@mail.test>"
        message.set_content("Thanks for your time.\n")
        self.google.emu.add_message(
            message.as_bytes(),
            label_ids=["SENT"] if outgoing else ["INBOX"],
            internal_date=when,
        )

    def expire_cursors(self) -> None:
        self.google.emu.expire_history()


class ImapMail:
    """The account on a real Dovecot: mail is APPENDed to INBOX or Sent."""

    user = IMAP_USER

    def __init__(self, server: Dovecot, **login: Any) -> None:
        self.server = server
        self.login = login  # how the connector signs in (a password unless told)
        self._serial = count(1)
        self.opened: list[ImapMailbox] = []

    def mailbox(self) -> Mailbox:
        box = imap_mailbox(self.server, **self.login)
        self.opened.append(box)
        return box

    def deliver(
        self,
        sender: str,
        to: str,
        subject: str,
        *,
        when: datetime = NOW - timedelta(days=1),
        cc: str = "",
        outgoing: bool = False,
    ) -> None:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        if cc:
            message["Cc"] = cc
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(when)
        message["Message-ID"] = f"<m{next(self._serial)}@mail.test>"
        message.set_content("Thanks for your time.\n")
        self.server.append("Sent" if outgoing else "INBOX", message.as_bytes(), when=when)

    def expire_cursors(self) -> None:
        """The server rebuilt INBOX: a new UIDVALIDITY."""
        self.server.set_uidvalidity("INBOX", int(datetime.now().timestamp()) + 1000)

    def close(self) -> None:
        for box in self.opened:
            box.close()


class TestMemoryMailbox(MailboxContract):
    @pytest.fixture
    def mail(self) -> MemoryMail:
        return MemoryMail()


class TestGmailMailbox(OnGoogleEmulator, MailboxContract):
    @pytest.fixture
    def mail(self, google: GoogleAccount) -> GmailMail:
        return GmailMail(google)


class TestImapMailbox(OnDovecot, MailboxContract):
    @pytest.fixture
    def mail(self, dovecot: Dovecot) -> Iterator[ImapMail]:
        world = ImapMail(dovecot)
        yield world
        world.close()


# ------------------------------------------------------------------------- DraftBox


class MemoryDrafts:
    def __init__(self) -> None:
        self.shared = MemoryDraftBox()

    def box(self) -> DraftBox:
        return self.shared

    def drafts(self) -> list[bytes]:
        return list(self.shared.drafts.values())

    def user_edits(self, key: str, raw: bytes) -> None:
        draft_id = self.shared.find_draft(key)
        assert draft_id is not None
        self.shared.drafts[draft_id] = raw

    def user_deletes(self, key: str) -> None:
        draft_id = self.shared.find_draft(key)
        assert draft_id is not None
        del self.shared.drafts[draft_id]

    def lands(self, raw: bytes) -> None:
        self.shared.drafts[f"landed-{len(self.shared.drafts)}"] = raw


class GmailDrafts:
    def __init__(self, google: GoogleAccount) -> None:
        self.google = google

    def box(self) -> DraftBox:
        return _gmail(self.google)

    def drafts(self) -> list[bytes]:
        return [d.message.raw for d in self.google.emu.drafts.values()]

    def _id(self, key: str) -> str:
        [draft_id] = [
            i for i, d in self.google.emu.drafts.items() if d.message.header(KEY_HEADER) == key
        ]
        return draft_id

    def user_edits(self, key: str, raw: bytes) -> None:
        self.google.emu.user_edits_draft(self._id(key), raw)

    def user_deletes(self, key: str) -> None:
        self.google.emu.user_deletes_draft(self._id(key))

    def lands(self, raw: bytes) -> None:
        self.google.emu.add_draft(raw)


class ImapDrafts:
    def __init__(self, server: Dovecot, **login: Any) -> None:
        self.server = server
        self.login = login
        self.opened: list[ImapMailbox] = []

    def box(self) -> DraftBox:
        box = imap_mailbox(self.server, **self.login)
        self.opened.append(box)
        return box

    def drafts(self) -> list[bytes]:
        return self.server.messages("Drafts")

    def _keyed(self, client: IMAPClient, key: str) -> list[int]:
        client.select_folder("Drafts")
        uids = client.search(["HEADER", KEY_HEADER, key])
        assert uids, key
        return list(uids)

    def user_edits(self, key: str, raw: bytes) -> None:
        """As Thunderbird saves an edited draft: a new message, the old one deleted."""
        client = self.server.client()
        try:
            old = self._keyed(client, key)
            client.append("Drafts", raw, flags=[b"\\Draft", b"\\Seen"])
            client.delete_messages(old)
            client.expunge()
        finally:
            client.logout()

    def user_deletes(self, key: str) -> None:
        client = self.server.client()
        try:
            client.delete_messages(self._keyed(client, key))
            client.expunge()
        finally:
            client.logout()

    def lands(self, raw: bytes) -> None:
        client = self.server.client()
        try:
            client.append("Drafts", raw, flags=[b"\\Draft", b"\\Seen"])
        finally:
            client.logout()


class TestImapDraftBox(OnDovecot, DraftBoxContract):
    @pytest.fixture
    def drafts(self, dovecot: Dovecot) -> Iterator[ImapDrafts]:
        world = ImapDrafts(dovecot)
        yield world
        for box in world.opened:
            box.close()


class OnOutlook:
    """Mixed in: Dovecot standing for Outlook's IMAP server, taking XOAUTH2 logins whose
    token it asks the Graph emulator about (as Exchange checks Entra's tokens), and the
    connector signing in with the mail token of one Microsoft sign-in, as the Microsoft
    account builds it."""

    @pytest.fixture
    def outlook(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[tuple[Dovecot, dict[str, Any]]]:
        from pursuit.connectors.microsoft_auth import MicrosoftSignIn

        with GraphEmulator(user=IMAP_USER) as emu:
            for name, value in emu.env().items():
                monkeypatch.setenv(name, value)
            signin = MicrosoftSignIn(
                emu.client_id,
                "organizations",
                tmp_path / "microsoft-token.json",
                login_endpoint=emu.login_endpoint,
            )
            signin.sign_in(lambda message: None, mail=True)
            with Dovecot(introspection_url=emu.introspection_url) as server:
                yield server, {"auth": "oauth2", "password": signin.mail_token}


class TestOutlookMailbox(OnOutlook, MailboxContract):
    @pytest.fixture
    def mail(self, outlook: tuple[Dovecot, dict[str, Any]]) -> Iterator[ImapMail]:
        server, login = outlook
        world = ImapMail(server, **login)
        yield world
        world.close()


class TestOutlookDraftBox(OnOutlook, DraftBoxContract):
    @pytest.fixture
    def drafts(self, outlook: tuple[Dovecot, dict[str, Any]]) -> Iterator[ImapDrafts]:
        server, login = outlook
        world = ImapDrafts(server, **login)
        yield world
        for box in world.opened:
            box.close()


class TestMemoryDraftBox(DraftBoxContract):
    @pytest.fixture
    def drafts(self) -> MemoryDrafts:
        return MemoryDrafts()


class TestGmailDraftBox(OnGoogleEmulator, DraftBoxContract):
    @pytest.fixture
    def drafts(self, google: GoogleAccount) -> GmailDrafts:
        return GmailDrafts(google)


# --------------------------------------------------------------------------- Sender


class MemorySent:
    user = USER

    def __init__(self) -> None:
        self.shared = MemorySender(USER)

    def sender(self) -> Sender:
        return self.shared

    def sent(self) -> list[EmailMessage]:
        return list(self.shared.sent.values())


class TestMemorySender(SenderContract):
    @pytest.fixture
    def outgoing(self) -> MemorySent:
        return MemorySent()


class GmailSent:
    user = OnGoogleEmulator.USER

    def __init__(self, google: GoogleAccount) -> None:
        self.google = google

    def sender(self) -> Sender:
        return _gmail(self.google)

    def sent(self) -> list[EmailMessage]:
        import email
        import email.policy

        return [
            email.message_from_bytes(m.raw, policy=email.policy.default)
            for m in self.google.emu.sent
        ]


class TestGmailSender(OnGoogleEmulator, SenderContract):
    @pytest.fixture
    def outgoing(self, google: GoogleAccount) -> GmailSent:
        return GmailSent(google)
