"""The IMAP connector against a real Dovecot: what the contract suites do not cover.

UIDVALIDITY changes, a server restarting mid-sync, IDLE, drafts threaded and
found by their exact key, bad passwords, TLS, deleted folders, odd encodings.
"""

from __future__ import annotations

import email.utils
import ssl
import sysconfig
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.imapclient import SENT
from support.contracts import draft
from support.dovecot import USER, Dovecot, OnDovecot, imap_mailbox
from support.tlscert import client_context

import pursuit.connectors.imap as imap
from pursuit.connectors.base import MailMessage
from pursuit.connectors.imap import SENT_NAMES, ImapMailbox, _special
from pursuit.daemon.errors import AuthError, ConfigError, CursorExpired, SourceError

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=90)


def message(
    subject: str, *, n: int, sender: str = "Jane Doe <jane@acme.test>", **headers: str
) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = USER
    m["Subject"] = subject
    m["Date"] = email.utils.format_datetime(NOW - timedelta(hours=n))
    m["Message-ID"] = f"<m{n}@acme.test>"
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content("Unfortunately we have decided not to move forward.\n")
    return m.as_bytes()


def search_all(box: ImapMailbox) -> list[str]:
    found = box.search(addresses=[], domains=["acme.test"], since=SINCE)
    return sorted(m.subject for batch in found for m in batch)


class TestImap(OnDovecot):
    def test_a_new_uidvalidity_expires_the_cursor_and_a_resync_doubles_nothing(
        self, dovecot: Dovecot
    ) -> None:
        dovecot.append("Applications", message("Kept", n=1))
        box = imap_mailbox(dovecot, folders=["Applications"])
        _, cursor = box.profile()
        first = box.search(addresses=[], domains=["acme.test"], since=SINCE)
        ids = [m.message_id for batch in first for m in batch]
        # the folder is deleted and made again: same mail, new UIDVALIDITY
        other = dovecot.client()
        other.delete_folder("Applications")
        other.logout()
        dovecot.append("Applications", message("Kept", n=1))
        dovecot.set_uidvalidity("Applications", int(time.time()) + 5000)
        dovecot.append("Applications", message("New", n=2))
        with pytest.raises(CursorExpired, match="new UIDVALIDITY"):
            box.changes(cursor)
        _, fresh = box.profile()
        again = [
            m
            for batch in box.search(addresses=[], domains=["acme.test"], since=SINCE)
            for m in batch
        ]
        assert sorted(m.subject for m in again) == ["Kept", "New"]
        assert ids[0] in {m.message_id for m in again}  # the core's key: no second record
        assert box.changes(fresh).messages == ()

    def test_a_server_restarting_mid_sync_loses_nothing(
        self, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(imap, "BATCH", 2)
        for n in range(1, 6):
            dovecot.append("INBOX", message(f"Mail {n}", n=n))
        box = imap_mailbox(dovecot)
        _, cursor = box.profile()
        batches = box.search(addresses=["jane@acme.test"], domains=[], since=SINCE)
        assert len(next(batches)) == 2
        dovecot.stop()
        with pytest.raises(SourceError, match=rf"127\.0\.0\.1:{dovecot.port}"):
            list(batches)
        with pytest.raises(SourceError, match="cannot connect"):
            box.changes(cursor)
        dovecot.start()
        dovecot.append("INBOX", message("After the restart", n=6))
        # the same instance reconnects; the next round has everything, once
        assert search_all(box) == ["After the restart", *(f"Mail {n}" for n in range(1, 6))]
        assert [m.subject for m in box.changes(cursor).messages] == ["After the restart"]

    def test_a_dropped_connection_is_reopened_silently(self, dovecot: Dovecot) -> None:
        box = imap_mailbox(dovecot)
        _, cursor = box.profile()
        dovecot.restart()
        dovecot.append("INBOX", message("Hello", n=1))
        assert [m.subject for m in box.changes(cursor).messages] == ["Hello"]

    def test_idle_wakes_when_mail_arrives(self, dovecot: Dovecot) -> None:
        box = imap_mailbox(dovecot)
        assert box.wait_for_mail(0.5) is False
        timer = threading.Timer(0.5, dovecot.append, ("INBOX", message("Reply", n=1)))
        timer.start()
        try:
            assert box.wait_for_mail(60) is True
        finally:
            timer.cancel()
            box.close()

    def test_mail_that_came_between_two_waits_wakes_the_second(self, dovecot: Dovecot) -> None:
        box = imap_mailbox(dovecot)
        try:
            assert box.wait_for_mail(0) is False  # where the next wait starts from
            dovecot.append("INBOX", message("Reply", n=1))  # while the caller is busy
            assert box.wait_for_mail(0) is True
            assert box.wait_for_mail(0.2) is False, "once"
        finally:
            box.close()

    def test_without_idle_a_plain_wait_still_sees_new_mail(
        self, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        box = imap_mailbox(dovecot)
        monkeypatch.setattr(IMAPClient, "has_capability", lambda self, name: name != "IDLE")
        timer = threading.Timer(0.2, dovecot.append, ("INBOX", message("Reply", n=1)))
        timer.start()
        assert box.wait_for_mail(1.5) is True
        assert box.wait_for_mail(0.2) is False

    def test_a_draft_answering_a_message_is_threaded(self, dovecot: Dovecot) -> None:
        dovecot.append("INBOX", message("Interview", n=1, References="<root@acme.test>"))
        raw = draft("draft:thank_you:1:2").replace(
            b"Subject:", b"In-Reply-To: <m1@acme.test>\nSubject:", 1
        )
        imap_mailbox(dovecot).create_draft(raw, "draft:thank_you:1:2")
        [held] = dovecot.messages("Drafts")
        parsed = email.message_from_bytes(held)
        assert parsed["In-Reply-To"] == "<m1@acme.test>"
        assert parsed["References"] == "<root@acme.test> <m1@acme.test>"

    def test_a_draft_key_is_matched_exactly(self, dovecot: Dovecot) -> None:
        box = imap_mailbox(dovecot)
        long_key = box.create_draft(draft("draft:thank_you:1:23"), "draft:thank_you:1:23")
        assert box.find_draft("draft:thank_you:1:2") is None
        short_key = box.create_draft(draft("draft:thank_you:1:2"), "draft:thank_you:1:2")
        assert short_key != long_key
        assert len(dovecot.messages("Drafts")) == 2

    def test_a_wrong_password_is_an_auth_error_naming_the_server(self, dovecot: Dovecot) -> None:
        box = imap_mailbox(dovecot, password=lambda: "wrong")
        with pytest.raises(AuthError, match=rf"127\.0\.0\.1:{dovecot.port}: login refused"):
            box.profile()

    def test_tls_and_starttls_with_a_trusted_certificate(self, dovecot: Dovecot) -> None:
        dovecot.append("INBOX", message("Secure", n=1))
        trusted = client_context(dovecot.cert)
        for security, port in (("ssl", dovecot.tls_port), ("starttls", dovecot.port)):
            box = imap_mailbox(dovecot, security=security, port=port, ssl_context=trusted)
            assert search_all(box) == ["Secure"]
            box.close()

    def test_an_untrusted_certificate_is_a_tls_failure(self, dovecot: Dovecot) -> None:
        box = imap_mailbox(
            dovecot, security="ssl", port=dovecot.tls_port, ssl_context=ssl.create_default_context()
        )
        with pytest.raises(SourceError, match=rf"127\.0\.0\.1:{dovecot.tls_port}: TLS failed"):
            box.profile()

    def test_a_missing_or_deleted_folder_is_skipped_and_the_rest_syncs(
        self, dovecot: Dovecot
    ) -> None:
        dovecot.append("Applications", message("Filed", n=1))
        box = imap_mailbox(dovecot, folders=["Applications", "Typo"])
        _, cursor = box.profile()
        other = dovecot.client()
        other.delete_folder("Applications")
        other.logout()
        dovecot.append("INBOX", message("Still logged", n=2))
        changes = box.changes(cursor)
        assert [m.subject for m in changes.messages] == ["Still logged"]
        assert box.changes(changes.cursor).messages == ()

    def test_odd_encodings_from_pythons_email_corpus(self, dovecot: Dovecot) -> None:
        corpus = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
        files = sorted(corpus.glob("msg_*.txt"))
        if not files:
            pytest.skip(f"this Python ships no email test corpus ({corpus})")
        box = imap_mailbox(dovecot)
        _, cursor = box.profile()
        for path in files:
            dovecot.append("INBOX", path.read_bytes())
        found = box.changes(cursor).messages
        assert len(found) > len(files) // 2  # some have no address at all: skipped
        for m in found:
            assert m.subject.isprintable() and m.snippet.isprintable()
            assert m.message_id.startswith("<") and m.date.tzinfo is not None
        assert len({m.message_id for m in found}) == len(found)

    def test_a_message_without_message_id_keeps_one_id_across_resyncs(
        self, dovecot: Dovecot
    ) -> None:
        raw = message("No id", n=1).replace(b"Message-ID: <m1@acme.test>\n", b"")
        dovecot.append("INBOX", raw)
        dovecot.append("Sent", raw)
        first = [m.message_id for m in box_search(dovecot)]
        second = [m.message_id for m in box_search(dovecot)]
        assert first == second and len(first) == 1 and "pursuit.invalid" in first[0]

    def test_the_snippet_is_the_texts_start(self, dovecot: Dovecot) -> None:
        dovecot.append("INBOX", message("Your application", n=1))
        [m] = box_search(dovecot)
        assert m.snippet.startswith("Unfortunately we have decided")


def box_search(dovecot: Dovecot) -> list[MailMessage]:
    box = imap_mailbox(dovecot)
    found = box.search(addresses=["jane@acme.test"], domains=[], since=SINCE)
    return [m for batch in found for m in batch]


def test_plain_text_to_a_remote_server_is_refused() -> None:
    with pytest.raises(ConfigError, match="only for a server on this machine"):
        ImapMailbox("imap.example.com", 143, security="none", username=USER, password=lambda: "x")


def test_the_sent_folder_is_found_by_use_else_by_a_usual_name() -> None:
    assert _special([((b"\\Sent",), b"/", "Posted")], SENT, SENT_NAMES) == "Posted"
    listing = [((), b".", "INBOX"), ((), b".", "INBOX.Gesendet"), ((), b".", "Archive")]
    assert _special(listing, SENT, SENT_NAMES) == "INBOX.Gesendet"
    assert _special([((), b"/", "INBOX")], SENT, SENT_NAMES) is None


class TestHiringSystemMail(OnDovecot):
    """The first sync also finds hiring-system mail naming a tracked organization."""

    def test_only_hiring_system_mail_naming_a_tracked_organization_is_fetched(
        self, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        mail = [  # UIDs 1.. in this order
            message("Your application to Acme Networks", n=1, sender="no-reply@greenhouse.io"),
            message(
                "Interview invitation",
                n=2,
                sender="Acme Networks Hiring Team <no-reply@us.greenhouse-mail.io>",
            ),
            message("Your application to Initech", n=3, sender="no-reply@greenhouse.io"),
            message("Acme Networks is hiring", n=4, sender="news@jobs-digest.test"),
            message(
                "=?utf-8?q?Ihre_Bewerbung_bei_M=C3=BCller_Logistik?=",
                n=5,
                sender="no-reply@hire.lever.co",
            ),
            message("Your application to Acme Networks", n=6, sender="x@notgreenhouse.io.test"),
        ]
        for raw in mail:
            dovecot.append("INBOX", raw)
        old = message("Interview at Acme Networks", n=4800, sender="no-reply@greenhouse.io")
        dovecot.append("INBOX", old, when=NOW - timedelta(days=200))  # before the lookback
        fetched: list[int] = []
        real_fetch = IMAPClient.fetch

        def counting_fetch(client: IMAPClient, uids: list[int], *args: object) -> object:
            fetched.extend(uids)
            return real_fetch(client, uids, *args)

        monkeypatch.setattr(IMAPClient, "fetch", counting_fetch)
        found = imap_mailbox(dovecot).search(
            addresses=["someone@elsewhere.test"],
            domains=[],
            since=SINCE,
            organizations=["Acme Networks", "Müller Logistik"],
            hiring_systems=["greenhouse.io", "greenhouse-mail.io", "lever.co"],
        )
        subjects = sorted(m.subject for batch in found for m in batch)
        assert subjects == [
            "Ihre Bewerbung bei Müller Logistik",
            "Interview invitation",
            "Your application to Acme Networks",
        ]
        # the untracked company, the newsletter and the old mail never left the server;
        # the look-alike domain matched IMAP's substring search and was dropped here
        assert sorted(fetched) == [1, 2, 5, 6]

    def test_a_server_refusing_the_hiring_search_still_syncs_the_rest(
        self, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """As a server without CHARSET UTF-8 answers NO [BADCHARSET]; here a key
        Dovecot does not know makes it answer BAD."""
        dovecot.append("INBOX", message("Hello", n=1))
        dovecot.append("INBOX", message("Bewerbung bei Müller", n=2, sender="a@lever.co"))

        def refused(*args: Any) -> list[tuple[list[Any], str | None]]:
            return [(["SINCE", SINCE.date(), "X-NO-SUCH-KEY", "Müller"], "UTF-8")]

        monkeypatch.setattr(imap, "_hiring_criteria", refused)
        box = imap_mailbox(dovecot)
        found = box.search(
            addresses=["jane@acme.test"],
            domains=[],
            since=SINCE,
            organizations=["Müller"],
            hiring_systems=["lever.co"],
        )
        assert [m.subject for batch in found for m in batch] == ["Hello"]
        assert f"{dovecot.port}: hiring mail not searched" in caplog.text

    def test_without_organizations_no_hiring_system_mail_is_fetched(self, dovecot: Dovecot) -> None:
        dovecot.append("INBOX", message("Your application to Acme", n=1, sender="a@greenhouse.io"))
        found = imap_mailbox(dovecot).search(
            addresses=[], domains=[], since=SINCE, hiring_systems=["greenhouse.io"]
        )
        assert [m for batch in found for m in batch] == []


class TestBulkLoad(OnDovecot):
    def test_mail_written_into_the_maildir_is_read_by_its_received_date(
        self, dovecot: Dovecot
    ) -> None:
        """`Dovecot.load` (the benchmark's loader) gives Dovecot real, dated mail."""
        loaded = dovecot.load(
            "INBOX",
            [
                (message("Recent", n=1), NOW - timedelta(days=1)),
                (message("Too old", n=2), NOW - timedelta(days=200)),
            ],
        )
        assert loaded == 2
        assert search_all(imap_mailbox(dovecot)) == ["Recent"]
