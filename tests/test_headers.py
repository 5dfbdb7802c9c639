"""One header reader for every mailbox: the same message read as Gmail gives it and
as an IMAP FETCH gives it is the same MailMessage (but for the mailbox's own ids)."""

from __future__ import annotations

import dataclasses
import email.header
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from pursuit.connectors import gmail, imap
from pursuit.connectors.base import MailMessage

RECEIVED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

MESSAGES = {
    "encoded names and subject": (
        b"From: =?utf-8?q?J=C3=A9r=C3=B4me_Dupont?= <Jerome.Dupont@Acme.test>\r\n"
        b'To: "Doe, Jane" <jane@acme.test>, me@example.test\r\n'
        b"Cc: Bob <bob@acme.test>\r\n"
        b"Reply-To: Talent Team <talent@acme.test>\r\n"
        b"Subject: =?utf-8?b?RW50cmV0aWVuIMOgIDE0aA==?=\r\n"
        b"Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n"
        b"Message-ID: <first@acme.test>\r\n"
        b"List-Id: <news.acme.test>\r\n"
        b"\r\n"
    ),
    "no Message-ID, no Date, a reply": (
        b"From: Jane <jane@acme.test>\r\n"
        b"To: me@example.test\r\n"
        b"Subject: Re: next steps\r\n"
        b"In-Reply-To: <first@acme.test>\r\n"
        b"References: <first@acme.test> <second@acme.test>\r\n"
        b"\r\n"
    ),
    "hostile name": (
        b'From: "Jane\\" <evil@x>, Bcc: a@b" <jane@acme.test>\r\n'
        b"To: me@example.test\r\n"
        b"Subject: Hello \xe2\x80\xae there\r\n"
        b"Date: not a date\r\n"
        b"\r\n"
    ),
}


def as_gmail(raw: bytes) -> MailMessage | None:
    """The metadata resource Gmail returns: header values decoded, as Gmail does."""
    parsed = message_from_bytes(raw, policy=policy.compat32)
    headers = [
        {"name": name, "value": str(email.header.make_header(email.header.decode_header(value)))}
        for name, value in parsed.items()
    ]
    resource = {
        "id": "g1",
        "labelIds": ["INBOX"],
        "internalDate": str(int(RECEIVED.timestamp() * 1000)),
        "payload": {"headers": headers},
        "snippet": "",
    }
    return gmail.parse(resource)


def as_imap(raw: bytes) -> MailMessage:
    return imap.parse(
        {b"BODY[HEADER.FIELDS (FROM)]": raw, b"BODY[TEXT]<0>": b"", b"INTERNALDATE": RECEIVED},
        "7",
        False,
    )


@pytest.mark.parametrize("name", MESSAGES)
def test_gmail_and_imap_read_the_same_headers_the_same_way(name: str) -> None:
    raw = MESSAGES[name]
    through_gmail = as_gmail(raw)
    through_imap = as_imap(raw)
    assert through_gmail is not None

    def facts(message: MailMessage) -> MailMessage:  # without the mailbox's own ids
        return dataclasses.replace(message, source_id="-", thread="-", message_id="-")

    assert facts(through_gmail) == facts(through_imap)
    assert through_imap.sender is not None and "@" in through_imap.sender.email


def test_what_the_shared_reader_decides() -> None:
    first = as_imap(MESSAGES["encoded names and subject"])
    assert first.sender is not None
    assert (first.sender.name, first.sender.email) == ("Jérôme Dupont", "jerome.dupont@acme.test")
    assert first.subject == "Entretien à 14h"
    assert [a.email for a in first.to] == ["jane@acme.test", "me@example.test"]
    reply = as_imap(MESSAGES["no Message-ID, no Date, a reply"])
    assert reply.thread == "<first@acme.test>"  # the thread's first message
    assert reply.message_id.endswith("@pursuit.invalid>")
    assert reply.date == RECEIVED  # no Date: when the mailbox received it
    hostile = as_imap(MESSAGES["hostile name"])
    assert hostile.sender is not None and hostile.sender.email == "jane@acme.test"
    assert "\u202e" not in hostile.subject
