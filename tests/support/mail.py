"""Mail messages as a mailbox hands them to the core, for the matching tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pursuit.connectors.base import Address, MailMessage

PARIS = ZoneInfo("Europe/Paris")
ME = "sam.seeker@gmail.com"
MONDAY_2PM = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
AFTER = MONDAY_2PM + timedelta(hours=2)  # the interview ends at 15:00


def person(email_address: str, name: str = "") -> Address:
    return Address(name, email_address.lower())


_serial = iter(range(1, 1_000_000))


def message(
    sender: Address | None,
    to: Sequence[Address] = (person(ME, "Sam Seeker"),),
    *,
    cc: Sequence[Address] = (),
    reply_to: Sequence[Address] = (),
    subject: str = "Hello",
    snippet: str = "",
    when: datetime = AFTER,
    outgoing: bool = False,
    headers: Sequence[tuple[str, str]] = (),
) -> MailMessage:
    n = next(_serial)
    return MailMessage(
        source_id=f"g{n:05d}",
        message_id=f"<m{n}@test.example>",
        thread=f"t{n}",
        date=when,
        sender=sender,
        to=tuple(to),
        cc=tuple(cc),
        reply_to=tuple(reply_to),
        subject=subject,
        snippet=snippet,
        outgoing=outgoing,
        headers=tuple(headers),
    )


def raw_mail(
    sender: str,
    to: str,
    subject: str,
    when: datetime,
    msgid: str,
    extra: str = "",
    *,
    body: str = "Hello",
) -> str:
    """A message as it arrives: the headers given (`extra`: more header lines, each
    ending in CRLF), a Message-ID of `msgid`, and a short body."""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{msgid}>\r\n{extra}\r\n{body}\r\n"
    )
