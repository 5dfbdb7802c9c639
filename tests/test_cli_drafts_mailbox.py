"""The drafts pursuit leaves in the mailbox, through the command line: Gmail (the
local Google emulator) and IMAP (a real Dovecot). A private note never reaches
them; the mailbox's draft says what `pursuit draft` says, brought up to date at the
next round while it is still what pursuit wrote; a draft the user edited or deleted
there is never overwritten nor made again."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.cli import Pursuit, Result, duties_by
from support.dovecot import PASSWORD, USER, Dovecot
from support.google_emulator import GoogleEmulator

from pursuit.connectors.base import KEY_HEADER

ME = "me@example.test"
SECRET = "She seemed unconvinced about my salary ask - don't mention it"
LINE = "I enjoyed hearing how you moved the backbone to BGP."
PLACEHOLDER = "[a line of your own: what you enjoyed talking about]"
MINE = "Dear Jane,\n\nI rewrote this one myself.\n\nAlex\n"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content()).replace("\r\n", "\n").rstrip("\n")


def yesterdays_interview(p: Pursuit) -> None:
    """Jane and Raj at Acme, yesterday at 10:00 (Paris)."""
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok(
        "interview", "add", "acme", "--at", f"{day} 10:00", "--position", "Network Engineer",
        "--with", "Jane Doe <jane@acme.com>", "--with", "Raj Patel <raj@acme.com>",
    )  # fmt: skip


def pursuit_draft(p: Pursuit, who: str) -> Result:
    [duty] = duties_by(p.export(), "thank_you", who)
    result = p.run("draft", str(duty["id"]))
    assert result.code == 0, result
    return result


def agree(p: Pursuit, who: str, held: EmailMessage) -> Result:
    """The mailbox's draft to `who` says what `pursuit draft` prints."""
    shown = pursuit_draft(p, who)
    head, _, body = shown.out.partition("\n\n")
    assert f"Subject: {held['Subject']}" in head.splitlines()
    assert body.rstrip("\n") == text_of(held)
    return shown


class MailboxDrafts:
    """The same week through a mailbox: `drafts()` reads what it holds, by recipient."""

    def drafts(self) -> dict[str, EmailMessage]:
        raise NotImplementedError

    def user_edits(self, to: str, text: str) -> None:
        raise NotImplementedError

    def user_deletes(self, to: str) -> None:
        raise NotImplementedError


def the_rule(p: Pursuit, box: MailboxDrafts, me: str) -> None:
    """What every mailbox shows, from the first round on."""
    yesterdays_interview(p)
    p.ok("note", "jane@acme.com", SECRET)
    p.ok("run", "--once")
    drafts = box.drafts()
    assert sorted(drafts) == ["jane@acme.com", "raj@acme.com"]
    jane = drafts["jane@acme.com"]
    assert jane["From"] == f"Alex Martin <{me}>"
    assert jane["To"] == "Jane Doe <jane@acme.com>"
    assert jane["Subject"] == "Thank you – Network Engineer interview"
    assert "salary" not in text_of(jane) and PLACEHOLDER in text_of(jane).splitlines()
    assert "says the same" in agree(p, "jane@acme.com", jane).err

    # A line for Jane's thank-you: `pursuit draft` shows it at once, the mailbox's
    # draft at the next round, in place (still one draft to Jane).
    p.ok("note", "jane@acme.com", "--thank-you", LINE)
    assert "gets this version at the next round" in pursuit_draft(p, "jane@acme.com").err
    p.ok("run", "--once")
    drafts = box.drafts()
    assert sorted(drafts) == ["jane@acme.com", "raj@acme.com"]
    assert LINE in text_of(drafts["jane@acme.com"]).splitlines()
    assert "salary" not in text_of(drafts["jane@acme.com"])
    assert "says the same" in agree(p, "jane@acme.com", drafts["jane@acme.com"]).err
    p.ok("run", "--once")  # nothing new: nothing rewritten
    assert text_of(box.drafts()["jane@acme.com"]) == text_of(drafts["jane@acme.com"])

    # The user edits Jane's draft and deletes Raj's: neither is touched again.
    box.user_edits("jane@acme.com", MINE)
    box.user_deletes("raj@acme.com")
    p.ok("note", "jane@acme.com", "--thank-you", "Thanks again for the lab tour.")
    p.ok("note", "raj@acme.com", "--thank-you", "Your on-call stories were great.")
    p.ok("run", "--once")
    p.ok("run", "--once")
    drafts = box.drafts()
    assert list(drafts) == ["jane@acme.com"], "Raj's draft is not made again"
    assert text_of(drafts["jane@acme.com"]) == MINE.rstrip("\n")
    jane_now = pursuit_draft(p, "jane@acme.com")
    assert "Thanks again for the lab tour." in jane_now.out  # pursuit's version
    # (Gmail's editor may drop pursuit's header: then the draft reads as one saved anew)
    assert "pursuit leaves it" in jane_now.err
    raj_now = pursuit_draft(p, "raj@acme.com")
    assert "Your on-call stories were great." in raj_now.out
    assert "does not write it again" in raj_now.err


# ------------------------------------------------------------------------- Gmail


class GmailDrafts(MailboxDrafts):
    def __init__(self, emu: GoogleEmulator) -> None:
        self.emu = emu

    def _ids(self) -> dict[str, str]:
        return {
            parsed(d.message.raw)["To"].addresses[0].addr_spec: i
            for i, d in self.emu.drafts.items()
        }

    def drafts(self) -> dict[str, EmailMessage]:
        return {to: parsed(self.emu.drafts[i].message.raw) for to, i in self._ids().items()}

    def user_edits(self, to: str, text: str) -> None:
        """As Gmail's editor saves it: the same draft, a message of its own (no key)."""
        edited = EmailMessage()
        edited["From"], edited["To"] = f"Alex Martin <{ME}>", "Jane Doe <jane@acme.com>"
        edited["Subject"] = "Thank you – Network Engineer interview"
        edited.set_content(text)
        self.emu.user_edits_draft(self._ids()[to], edited.as_bytes())

    def user_deletes(self, to: str) -> None:
        self.emu.user_deletes_draft(self._ids()[to])


def test_gmail_drafts_follow_pursuit_draft_until_the_user_edits_them(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    token = tmp_path / "token" / "google.json"
    token.parent.mkdir(mode=0o700)
    emu.write_authorized_user_file(str(token))
    p = Pursuit(
        tmp_path,
        config=(
            "[feeds]\nnews_search = false\n"
            '[drafts]\nyour_name = "Alex Martin"\n'
            f'[google]\ncredentials_file = "{token}"\n'
            f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        ),
    )
    the_rule(p, GmailDrafts(emu), ME)
    assert emu.sent == [], "a draft is never sent"


def test_a_gmail_draft_is_updated_in_place(tmp_path: Path, emu: GoogleEmulator) -> None:
    token = tmp_path / "token" / "google.json"
    token.parent.mkdir(mode=0o700)
    emu.write_authorized_user_file(str(token))
    p = Pursuit(
        tmp_path,
        config=(
            "[feeds]\nnews_search = false\n"
            f'[google]\ncredentials_file = "{token}"\n'
            f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        ),
    )
    yesterdays_interview(p)
    p.ok("run", "--once")
    box = GmailDrafts(emu)
    before = box._ids()
    p.ok("note", "jane@acme.com", "--thank-you", LINE)
    p.ok("run", "--once")
    assert box._ids() == before, "the same Gmail drafts, by id"
    held = box.drafts()["jane@acme.com"]
    assert held[KEY_HEADER] is not None and LINE in text_of(held)


# -------------------------------------------------------------------------- IMAP


class ImapDrafts(MailboxDrafts):
    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def drafts(self) -> dict[str, EmailMessage]:
        held = [parsed(raw) for raw in self.server.messages("Drafts")]
        found = {m["To"].addresses[0].addr_spec: m for m in held}
        assert len(found) == len(held), "one draft per person"
        return found

    def _uids(self, to: str) -> list[int]:
        client = self.server.client()
        try:
            client.select_folder("Drafts")
            return list(client.search(["TO", to]))
        finally:
            client.logout()

    def user_edits(self, to: str, text: str) -> None:
        """As Thunderbird saves an edited draft: a new message (keeping the key
        header here), the old one deleted."""
        old = self.drafts()[to]
        edited = EmailMessage()
        for name in ("From", "To", "Subject", KEY_HEADER):
            edited[name] = str(old[name])
        edited.set_content(text)
        uids = self._uids(to)
        client = self.server.client()
        try:
            client.append("Drafts", edited.as_bytes(), flags=[b"\\Draft", b"\\Seen"])
            client.select_folder("Drafts")
            client.delete_messages(uids)
            client.expunge()
        finally:
            client.logout()

    def user_deletes(self, to: str) -> None:
        uids = self._uids(to)
        client = self.server.client()
        try:
            client.select_folder("Drafts")
            client.delete_messages(uids)
            client.expunge()
        finally:
            client.logout()


def test_imap_drafts_follow_pursuit_draft_until_the_user_edits_them(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    p = Pursuit(
        tmp_path,
        config=(
            "[feeds]\nnews_search = false\n"
            '[drafts]\nyour_name = "Alex Martin"\n'
            f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
            f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\n'
        ),
    )
    the_rule(p, ImapDrafts(dovecot), USER)
