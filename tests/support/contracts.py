"""One test suite per connector contract, run against every implementation.

As vdirsyncer does for its storages: a base class here holds the tests of a
contract from `connectors/base.py`, and a test module subclasses it once per
implementation (the in-memory reference one, each real one through its local
server), giving it a fixture that builds the connector and moves the world
behind it (delivers mail, moves an event, expires cursors) the way the real
service would. The tests assert only what the core relies on.

This is a support module, not a test module: the base classes are not named
Test* so pytest collects them only through their subclasses.
"""

from __future__ import annotations

import dataclasses
import email.policy
import email.utils
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import pytest

from pursuit.connectors.base import (
    KEY_HEADER,
    Calendar,
    CalendarEvent,
    CalendarReader,
    DraftBox,
    Mailbox,
    MailMessage,
    Sender,
)
from pursuit.daemon.errors import CursorExpired
from support.google_emulator import GoogleEmulator

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
#: Now, to the second: the real services keep whole seconds.
NOW = datetime.now(UTC).replace(microsecond=0)


# ------------------------------------------------------------------ the Google account


@dataclass
class GoogleAccount:
    """A signed-in account on the local Google emulator."""

    emu: GoogleEmulator
    token_file: Path

    def credentials(self) -> Any:
        from pursuit.connectors.google_auth import load_credentials

        return load_credentials(self.token_file, token_uri=self.emu.token_uri)


class OnGoogleEmulator:
    """Mixed into a contract's subclass: a `google` fixture, the emulator signed in."""

    USER = "me@example.test"

    @pytest.fixture
    def google(self, tmp_path: Path) -> Iterator[GoogleAccount]:
        from pursuit.connectors.google_auth import SCOPES

        emu = GoogleEmulator(user_email=self.USER, scopes=SCOPES).start()
        token_file = tmp_path / "google-token.json"
        emu.write_authorized_user_file(str(token_file))
        try:
            yield GoogleAccount(emu, token_file)
        finally:
            emu.stop()


# ------------------------------------------------------------------------- Calendar


def event(key: str = "follow_up:1:1", **changes: Any) -> CalendarEvent:
    """A follow-up event; `changes` replace any of its fields."""
    base = CalendarEvent(
        key=key,
        start=START,
        end=START + timedelta(minutes=30),
        summary="Follow up with Jane Doe (Acme Networks)",
        description="Ask:\n- Has a decision been made?",
        sequence=0,
        stamp=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        reminder_minutes=15,
    )
    return dataclasses.replace(base, **changes)


class CalendarContract:
    """A calendar pursuit writes to. `reopen` returns a connector on the same
    storage, as a new process would make it."""

    def test_upsert_then_read_back(self, reopen: Callable[[], Calendar]) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.flush()
        assert reopen().events() == {"follow_up:1:1": event()}

    def test_upserting_twice_keeps_one_event(self, reopen: Callable[[], Calendar]) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.upsert(event())
        cal.flush()
        cal = reopen()
        cal.upsert(event())
        cal.flush()
        assert list(reopen().events()) == ["follow_up:1:1"]

    def test_an_update_changes_the_event_in_place(self, reopen: Callable[[], Calendar]) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.flush()
        moved = event(
            start=START + timedelta(days=1),
            end=START + timedelta(days=1, hours=1),
            summary="Moved",
            sequence=1,
        )
        cal = reopen()
        cal.upsert(moved)
        cal.flush()
        assert reopen().events() == {"follow_up:1:1": moved}

    def test_delete_removes_and_a_missing_event_is_no_error(
        self, reopen: Callable[[], Calendar]
    ) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.upsert(event("thank_you:1"))
        cal.flush()
        cal = reopen()
        cal.delete("follow_up:1:1")
        cal.delete("follow_up:1:1")
        cal.delete("never-existed")
        cal.flush()
        assert list(reopen().events()) == ["thank_you:1"]

    def test_text_survives_any_characters(self, reopen: Callable[[], Calendar]) -> None:
        tricky = event(
            summary="Merci, Zoë; <b>not bold</b> \\ done",
            description="Line one\nLine two, with; commas\n\n- “quotes”",
        )
        cal = reopen()
        cal.upsert(tricky)
        cal.flush()
        assert reopen().events()["follow_up:1:1"] == tricky


# ------------------------------------------------------------------ CalendarReader


class CalendarWorld(Protocol):
    """The user's calendar `calendar_id` and what the user does to it."""

    calendar_id: str

    def reader(self) -> CalendarReader: ...

    def put(
        self,
        event_id: str,
        summary: str,
        start: datetime,
        *,
        attendees: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Create or move a one-hour event; attendees are (address, name)."""

    def cancel(self, event_id: str) -> None: ...

    def expire_cursors(self) -> None:
        """The service forgets the cursors issued so far (Google's 410 Gone)."""


class CalendarReaderContract:
    """The user's calendars as the interview finder reads them."""

    SINCE = NOW - timedelta(days=30)

    def test_a_first_read_has_every_live_entry_since_the_lookback(
        self, calendars: CalendarWorld
    ) -> None:
        soon = NOW + timedelta(days=2)
        calendars.put("iv1", "Interview", soon, attendees=[("Jane.Doe@Acme.test", "Jane Doe")])
        calendars.put("iv2", "Phone screen", soon + timedelta(days=1))
        calendars.put("gone", "Interview", soon)
        calendars.cancel("gone")
        calendars.put("old", "Interview", self.SINCE - timedelta(days=10))
        first = calendars.reader().changes(calendars.calendar_id, None, since=self.SINCE)
        by_id = {e.event_id: e for e in first.entries}
        assert sorted(by_id) == ["iv1", "iv2"]
        iv1 = by_id["iv1"]
        assert (iv1.calendar_id, iv1.summary, iv1.cancelled) == (
            calendars.calendar_id,
            "Interview",
            False,
        )
        assert (iv1.start, iv1.end) == (soon, soon + timedelta(hours=1))
        guests = [(a.email, a.name) for a in iv1.attendees if not a.is_self]  # the user organizes
        assert guests == [("jane.doe@acme.test", "Jane Doe")]

    def test_nothing_changed_means_no_entries(self, calendars: CalendarWorld) -> None:
        calendars.put("iv1", "Interview", NOW + timedelta(days=2))
        reader = calendars.reader()
        first = reader.changes(calendars.calendar_id, None, since=self.SINCE)
        same = reader.changes(calendars.calendar_id, first.cursor, since=self.SINCE)
        assert same.entries == ()
        again = calendars.reader().changes(calendars.calendar_id, same.cursor, since=self.SINCE)
        assert again.entries == ()

    def test_moved_new_and_cancelled_entries_come_back_once_each(
        self, calendars: CalendarWorld
    ) -> None:
        soon = NOW + timedelta(days=2)
        calendars.put("moved", "Interview", soon)
        calendars.put("cancelled", "Onsite", soon + timedelta(days=1))
        first = calendars.reader().changes(calendars.calendar_id, None, since=self.SINCE)
        calendars.put("moved", "Interview", soon + timedelta(hours=3))
        calendars.put("moved", "Interview", soon + timedelta(hours=4))
        calendars.put("new", "Technical screen", soon + timedelta(days=3))
        calendars.cancel("cancelled")
        later = calendars.reader().changes(calendars.calendar_id, first.cursor, since=NOW)
        assert sorted(e.event_id for e in later.entries) == ["cancelled", "moved", "new"]
        by_id = {e.event_id: e for e in later.entries}
        assert by_id["moved"].start == soon + timedelta(hours=4)
        assert by_id["cancelled"].cancelled and by_id["cancelled"].start is None
        assert not by_id["new"].cancelled
        assert (
            calendars.reader().changes(calendars.calendar_id, later.cursor, since=NOW).entries == ()
        )

    def test_an_expired_cursor_raises_cursor_expired(self, calendars: CalendarWorld) -> None:
        calendars.put("iv1", "Interview", NOW + timedelta(days=2))
        reader = calendars.reader()
        first = reader.changes(calendars.calendar_id, None, since=self.SINCE)
        calendars.put("iv2", "Interview", NOW + timedelta(days=3))
        calendars.expire_cursors()
        with pytest.raises(CursorExpired):
            reader.changes(calendars.calendar_id, first.cursor, since=self.SINCE)
        again = reader.changes(calendars.calendar_id, None, since=self.SINCE)
        assert sorted(e.event_id for e in again.entries) == ["iv1", "iv2"]
        assert reader.changes(calendars.calendar_id, again.cursor, since=self.SINCE).entries == ()


# ------------------------------------------------------------------------- Mailbox


class MailWorld(Protocol):
    """The user's mail account and the mail that arrives in it."""

    user: str

    def mailbox(self) -> Mailbox:
        """A connector on the account, as a new process would make it."""

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
        """Mail arrives (or, `outgoing`, the user sends it); addresses as in a header."""

    def expire_cursors(self) -> None:
        """The service forgets the cursors issued before now (Gmail's history 404)."""


def subjects(messages: Sequence[MailMessage]) -> list[str]:
    return [m.subject for m in messages]


class MailboxContract:
    """The user's mail as the correspondence log reads it."""

    SINCE = NOW - timedelta(days=180)

    def test_the_profile_names_the_user_and_nothing_is_new_since_it(self, mail: MailWorld) -> None:
        mail.deliver("Jane Doe <jane@acme.test>", mail.user, "Before")
        box = mail.mailbox()
        me, cursor = box.profile()
        assert me == mail.user
        nothing = box.changes(cursor)
        assert nothing.messages == ()
        assert box.changes(nothing.cursor).messages == ()

    def test_changes_after_a_cursor_include_each_new_message_once(self, mail: MailWorld) -> None:
        mail.deliver("Jane Doe <jane@acme.test>", mail.user, "Before the cursor")
        _, cursor = mail.mailbox().profile()
        mail.deliver("Jane Doe <jane@acme.test>", mail.user, "First")
        mail.deliver("Raj Patel <raj@acme.test>", mail.user, "Second")
        changes = mail.mailbox().changes(cursor)
        assert subjects(changes.messages) == ["First", "Second"]
        assert len({m.message_id for m in changes.messages}) == 2
        assert mail.mailbox().changes(changes.cursor).messages == ()
        mail.deliver("Jane Doe <jane@acme.test>", mail.user, "Third")
        assert subjects(mail.mailbox().changes(changes.cursor).messages) == ["Third"]

    def test_sent_mail_is_outgoing(self, mail: MailWorld) -> None:
        _, cursor = mail.mailbox().profile()
        mail.deliver("Jane Doe <jane@acme.test>", mail.user, "Next steps")
        mail.deliver(
            f"Sam <{mail.user}>", "Jane Doe <jane@acme.test>", "Re: Next steps", outgoing=True
        )
        changes = mail.mailbox().changes(cursor)
        assert [(m.subject, m.outgoing) for m in changes.messages] == [
            ("Next steps", False),
            ("Re: Next steps", True),
        ]

    def test_the_message_as_the_core_sees_it(self, mail: MailWorld) -> None:
        _, cursor = mail.mailbox().profile()
        when = NOW - timedelta(hours=3)
        mail.deliver(
            "Jane Doe <Jane@Acme.test>",
            f"Sam <{mail.user}>",
            "Merci, Zoë — à lundi",
            cc="Raj Patel <raj@acme.test>",
            when=when,
        )
        [message] = mail.mailbox().changes(cursor).messages
        assert message.sender is not None
        assert (message.sender.name, message.sender.email) == ("Jane Doe", "jane@acme.test")
        assert [a.email for a in message.to] == [mail.user]
        assert [(a.name, a.email) for a in message.cc] == [("Raj Patel", "raj@acme.test")]
        assert message.subject == "Merci, Zoë — à lundi"
        assert message.date == when
        assert message.message_id.startswith("<") and message.message_id.endswith(">")
        assert message.source_id

    def test_an_expired_cursor_raises_cursor_expired(self, mail: MailWorld) -> None:
        box = mail.mailbox()
        _, cursor = box.profile()
        mail.deliver("Jane Doe <jane@acme.test>", mail.user, "Lost in the gap")
        mail.expire_cursors()
        with pytest.raises(CursorExpired):
            box.changes(cursor)
        _, fresh = box.profile()  # the way back: a new cursor, then a search
        assert box.changes(fresh).messages == ()

    def test_a_search_finds_each_matching_message_once(self, mail: MailWorld) -> None:
        mail.deliver("Jane Doe <jane@acme.test>", mail.user, "By address and domain")
        mail.deliver("Talent <talent@eu.acme.test>", mail.user, "By subdomain")
        mail.deliver(
            f"Sam <{mail.user}>", "Bob <bob@acme.test>", "Sent to the domain", outgoing=True
        )
        mail.deliver("Friend <friend@mail.test>", mail.user, "Copied", cc="priya@mail.test")
        mail.deliver("Shop <news@shop.test>", mail.user, "Not concerned")
        mail.deliver(
            "Jane Doe <jane@acme.test>", mail.user, "Too old", when=self.SINCE - timedelta(days=1)
        )
        progress: list[tuple[int, int]] = []
        batches = mail.mailbox().search(
            addresses=["jane@acme.test", "priya@mail.test"],
            domains=["acme.test"],
            since=self.SINCE,
            progress=lambda done, total: progress.append((done, total)),
        )
        found = [m for batch in batches for m in batch]
        assert sorted(subjects(found)) == [
            "By address and domain",
            "By subdomain",
            "Copied",
            "Sent to the domain",
        ]
        assert {m.subject: m.outgoing for m in found}["Sent to the domain"]
        assert progress[-1] == (4, 4)


# ------------------------------------------------------------------------- DraftBox


def draft(
    key: str | None,
    to: str = "Jane Doe <jane@acme.test>",
    text: str = "Dear Jane,\n\nThank you for your time today.\n",
) -> bytes:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = "Thank you – Acme Networks"
    if key is not None:
        message[KEY_HEADER] = key
    message.set_content(text)
    return message.as_bytes()


def text_of(raw: bytes) -> str:
    body = parsed(raw).get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content()).replace("\r\n", "\n")


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


class DraftWorld(Protocol):
    def box(self) -> DraftBox:
        """A connector on the account, as a new process would make it."""

    def drafts(self) -> list[bytes]:
        """Every draft the account holds, as RFC 5322 messages."""

    def user_edits(self, key: str, raw: bytes) -> None:
        """The user edits the draft carrying `key` and saves it, as their mail client
        does there; `raw` is what the client saves."""

    def user_deletes(self, key: str) -> None:
        """The user discards the draft carrying `key`."""

    def lands(self, raw: bytes) -> None:
        """A draft another client made lands in the account: another install's, or a
        create sent before pursuit stopped (a second copy with the same key)."""


class DraftBoxContract:
    """Where thank-you drafts are left for the user."""

    def test_a_draft_is_created_once_per_key(self, drafts: DraftWorld) -> None:
        box = drafts.box()
        first = box.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        assert box.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2") == first
        [held] = drafts.drafts()
        assert parsed(held)["To"] == "Jane Doe <jane@acme.test>"
        assert parsed(held)[KEY_HEADER] == "draft:thank_you:1:2"

    def test_a_new_process_finds_the_draft_again(self, drafts: DraftWorld) -> None:
        first = drafts.box().create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        again = drafts.box()  # after a crash between the call and its record
        assert again.find_draft("draft:thank_you:1:2") == first
        assert again.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2") == first
        assert len(drafts.drafts()) == 1
        raj = draft("draft:thank_you:1:3", to="Raj Patel <raj@acme.test>")
        other = again.create_draft(raj, "draft:thank_you:1:3")
        assert other != first
        assert sorted(parsed(d)["To"] for d in drafts.drafts()) == [
            "Jane Doe <jane@acme.test>",
            "Raj Patel <raj@acme.test>",
        ]

    def test_a_key_never_used_finds_nothing(self, drafts: DraftWorld) -> None:
        drafts.box().create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        assert drafts.box().find_draft("draft:thank_you:9:9") is None
        assert drafts.box().read_draft("draft:thank_you:9:9") is None

    def test_a_draft_reads_back_as_it_was_written(self, drafts: DraftWorld) -> None:
        text = "Dear Jane,\n\nThank you – and merci – for today.\n\nSam\n"
        written = draft("draft:thank_you:1:2", text=text)
        drafts.box().create_draft(written, "draft:thank_you:1:2")
        held = drafts.box().read_draft("draft:thank_you:1:2")  # as a new process reads it
        assert held is not None
        assert parsed(held)["To"] == "Jane Doe <jane@acme.test>"
        assert parsed(held)["Subject"] == "Thank you – Acme Networks"
        assert parsed(held)[KEY_HEADER] == "draft:thank_you:1:2"
        assert text_of(held) == text

    def test_a_draft_is_replaced_in_place(self, drafts: DraftWorld) -> None:
        box = drafts.box()
        box.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        raj = draft("draft:thank_you:1:3", to="Raj Patel <raj@acme.test>")
        box.create_draft(raj, "draft:thank_you:1:3")
        for text in ("Dear Jane,\n\nSecond version.\n", "Dear Jane,\n\nThird version.\n"):
            again = drafts.box()
            assert again.read_draft("draft:thank_you:1:2") is not None
            replaced = again.replace_draft(
                "draft:thank_you:1:2", draft("draft:thank_you:1:2", text=text)
            )
            assert replaced is not None
            assert again.find_draft("draft:thank_you:1:2") == replaced
            held = drafts.box().read_draft("draft:thank_you:1:2")
            assert held is not None and text_of(held) == text
            assert sorted(text_of(d) for d in drafts.drafts()) == sorted(
                [text, "Dear Jane,\n\nThank you for your time today.\n"]
            ), "one draft to Jane, Raj's untouched"

    def test_a_replacement_must_carry_the_key(self, drafts: DraftWorld) -> None:
        box = drafts.box()
        box.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        with pytest.raises(ValueError):
            box.replace_draft("draft:thank_you:1:2", draft("draft:thank_you:1:3"))
        with pytest.raises(ValueError):
            box.replace_draft("draft:thank_you:1:2", draft(None))
        assert [text_of(d) for d in drafts.drafts()] == [
            "Dear Jane,\n\nThank you for your time today.\n"
        ]

    def test_a_draft_the_user_deleted_is_none_and_not_made_again(self, drafts: DraftWorld) -> None:
        box = drafts.box()
        box.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        box.find_draft("draft:thank_you:1:2")  # a connector that has seen it, then...
        drafts.user_deletes("draft:thank_you:1:2")
        assert box.read_draft("draft:thank_you:1:2") is None
        assert box.replace_draft("draft:thank_you:1:2", draft("draft:thank_you:1:2")) is None
        assert drafts.drafts() == []
        assert drafts.box().read_draft("draft:thank_you:1:2") is None

    def test_copies_of_a_key_are_counted_read_and_removed_one_by_one(
        self, drafts: DraftWorld
    ) -> None:
        key, other = "draft:0a1b:thank_you:1:2", "draft:9f8e:thank_you:1:2"
        first = "Dear Jane,\n\nThank you for your time today.\n"
        drafts.box().create_draft(draft(key), key)
        late = "Dear Jane,\n\nThe copy that landed late.\n"
        drafts.lands(draft(key, text=late))
        drafts.lands(draft(other))  # another install's, same local row numbers
        drafts.lands(draft(None))  # the user's own
        box = drafts.box()
        assert box.draft_keys() == {key: 2, other: 1}
        copies = box.drafts_with_key(key)
        assert sorted(text_of(raw) for _, raw in copies) == sorted([first, late])
        [(late_id, _)] = [(i, raw) for i, raw in copies if text_of(raw) == late]
        box.delete_draft(late_id)
        box.delete_draft(late_id)  # gone already: nothing to do
        again = drafts.box()
        assert again.draft_keys() == {key: 1, other: 1}
        held = again.read_draft(key)
        assert held is not None and text_of(held) == first
        assert len(drafts.drafts()) == 3

    def test_a_draft_the_user_edited_reads_back_edited(self, drafts: DraftWorld) -> None:
        box = drafts.box()
        box.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        box.find_draft("draft:thank_you:1:2")
        edited = "Dear Jane,\n\nThank you! I rewrote this myself.\n"
        drafts.user_edits("draft:thank_you:1:2", draft("draft:thank_you:1:2", text=edited))
        for reader in (box, drafts.box()):
            held = reader.read_draft("draft:thank_you:1:2")
            assert held is not None and text_of(held) == edited
        # A client that drops the header: the draft reads as the user's, or as gone,
        # never as what pursuit wrote.
        mine = "Dear Jane,\n\nMy own words, no header kept.\n"
        drafts.user_edits("draft:thank_you:1:2", draft(None, text=mine))
        for reader in (box, drafts.box()):
            held = reader.read_draft("draft:thank_you:1:2")
            assert held is None or text_of(held) == mine


# --------------------------------------------------------------------------- Sender


def summary_id(key: str, install: str = "a") -> str:
    """The Message-ID the core gives a summary of this key from this install."""
    return f"<{key.replace(':', '-')}.{install}@pursuit.invalid>"


def summary(
    to: str, key: str | None = "summary:2026-W49", install: str = "a", **headers: str
) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = "Your job search this week"
    if key is not None:
        message[KEY_HEADER] = key
        message["Message-ID"] = summary_id(key, install)
    for name, value in headers.items():
        message[name] = value
    message.set_content("Three follow-ups are due.\n")
    return message


class SendWorld(Protocol):
    user: str

    def sender(self) -> Sender:
        """A connector on the account, as a new process would make it."""

    def sent(self) -> list[EmailMessage]:
        """Every message the account has sent."""


class SenderContract:
    """Mail to the user alone: the weekly summary."""

    #: False for a sender only one install can use (a folder beside its database).
    shared_by_installs = True

    def test_a_message_is_sent_once_per_key(self, outgoing: SendWorld) -> None:
        sender = outgoing.sender()
        first = sender.send(summary(outgoing.user))
        assert sender.send(summary(outgoing.user)) == first
        [sent] = outgoing.sent()
        assert sent["Subject"] == "Your job search this week"
        assert email.utils.parseaddr(str(sent["To"]))[1] == outgoing.user
        again = outgoing.sender()  # after a crash between the call and its record
        assert again.find_sent("summary:2026-W49", summary_id("summary:2026-W49")) == first
        assert again.send(summary(outgoing.user)) == first
        assert len(outgoing.sent()) == 1
        assert again.send(summary(outgoing.user, "summary:2026-W50")) != first
        assert len(outgoing.sent()) == 2

    def test_a_key_never_sent_finds_nothing(self, outgoing: SendWorld) -> None:
        outgoing.sender().send(summary(outgoing.user))
        assert (
            outgoing.sender().find_sent("summary:2026-W01", summary_id("summary:2026-W01")) is None
        )

    def test_another_installs_summary_of_the_same_week_is_not_taken_for_ours(
        self, outgoing: SendWorld
    ) -> None:
        if not self.shared_by_installs:
            pytest.skip("one install's own folder")
        theirs = outgoing.sender().send(summary(outgoing.user, install="b"))
        assert (
            outgoing.sender().find_sent("summary:2026-W49", summary_id("summary:2026-W49")) is None
        )
        ours = outgoing.sender().send(summary(outgoing.user))
        assert ours != theirs
        ids = sorted(str(m["Message-ID"]) for m in outgoing.sent())
        assert ids == sorted(summary_id("summary:2026-W49", i) for i in "ab")

    @pytest.mark.parametrize(
        "to, headers",
        [
            ("Jane Doe <jane@acme.test>", {}),
            ("{user}", {"Cc": "jane@acme.test"}),
            ("{user}", {"Bcc": "jane@acme.test"}),
            ("{user}, jane@acme.test", {}),
        ],
    )
    def test_mail_to_anyone_but_the_user_is_refused(
        self, outgoing: SendWorld, to: str, headers: dict[str, str]
    ) -> None:
        with pytest.raises(ValueError, match="user alone"):
            outgoing.sender().send(summary(to.format(user=outgoing.user), **headers))
        assert outgoing.sent() == []

    def test_a_message_without_a_key_is_refused(self, outgoing: SendWorld) -> None:
        with pytest.raises(ValueError, match=KEY_HEADER):
            outgoing.sender().send(summary(outgoing.user, key=None))
        assert outgoing.sent() == []
