"""The start of a message's text, the same from every mailbox (issue 19).

The core reads the first `TEXT_CHARS` characters of a message's text for a rejection
or an offer. Gmail's own snippet is some 200 characters, and real rejections say what
they are later than that, so the Gmail connector reads the text parts
(`format=full`) as the IMAP connector reads the start of the body, and both read it
from the same part in the same way. Here each MIME layout goes through the real
Gmail client against the emulator and through the IMAP connector's parsing.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support.google_emulator import GoogleEmulator
from support.mail_input import fetch_answer

from pursuit.connectors import gmail, imap
from pursuit.connectors.gmail import GmailMailbox
from pursuit.connectors.headers import TEXT_CHARS

WHEN = datetime.now(UTC) - timedelta(days=1)
OPENING = (
    "Hi Sam, thank you for taking the time to speak with us about the Network Engineer"
    " role. We know how much effort goes into an application, and we are grateful for the"
    " care you put into yours and into your conversations with the team. "
)
DECISION = "After careful consideration, we have decided to move forward with other candidates."
TEXT = OPENING * 3 + DECISION  # the decision some 600 characters in
HTML = (
    "<html><head><style>body{font-family:Arial}" + "td{padding:0}" * 200 + "</style></head>"
    "<body><!-- a comment --><script>var x = 1;</script><table><tr><td>"
    f"<p>{OPENING * 3}</p><p>{DECISION}</p><p>Caf&eacute; &amp; co &#39;22</p>"
    "</td></tr></table></body></html>"
)


def headers(content_type: str, cte: str = "7bit") -> bytes:
    return (
        "From: Acme <no-reply@ashbyhq.com>\r\nTo: sam@example.test\r\nSubject: Update\r\n"
        "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m@acme.example>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode()


def qp(text: str, charset: str = "utf-8") -> bytes:
    return quopri.encodestring(text.encode(charset))


def b64(text: str) -> bytes:
    return base64.encodebytes(text.encode())


def part(content_type: str, cte: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n{extra}\r\n"
    ).encode() + body


def multipart(kind: str, *parts: bytes) -> bytes:
    inner = b"".join(b"--b-" + kind.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return inner + b"--b-" + kind.encode() + b"--\r\n"


LAYOUTS: dict[str, bytes] = {
    "plain, quoted-printable": headers('text/plain; charset="utf-8"', "quoted-printable")
    + qp(TEXT),
    "HTML alone, base64, a long head": headers('text/html; charset="utf-8"', "base64") + b64(HTML),
    "plain and HTML alternatives": headers('multipart/alternative; boundary="b-alt"')
    + multipart(
        "alt",
        part('text/plain; charset="utf-8"', "quoted-printable", qp(TEXT)),
        part('text/html; charset="utf-8"', "base64", b64(HTML)),
    ),
    "a text attachment before the body": headers('multipart/mixed; boundary="b-mix"')
    + multipart(
        "mix",
        part(
            'text/plain; charset="utf-8"; name="notes.txt"',
            "7bit",
            b"Attached notes, not the message.",
            'Content-Disposition: attachment; filename="notes.txt"\r\n',
        ),
        part('text/html; charset="utf-8"', "quoted-printable", qp(HTML)),
    ),
    "longer than IMAP fetches, base64": headers('text/html; charset="utf-8"', "base64")
    + b64(HTML + "<p>more words</p>" * 3000),
    "Latin-1": headers('text/plain; charset="iso-8859-1"', "quoted-printable")
    + qp(
        "Nous sommes au regret de vous informer que votre candidature n'a pas été retenue.",
        "latin-1",
    ),
    "no text at all": headers('multipart/mixed; boundary="b-pdf"')
    + multipart(
        "pdf",
        part('application/pdf; name="offer.pdf"', "base64", base64.encodebytes(b"%PDF-1.4")),
    ),
}


@pytest.fixture(scope="module")
def through_gmail() -> Iterator[dict[str, str]]:
    with GoogleEmulator(user_email="sam@example.test") as emu:
        ids = {name: emu.add_message(raw, internal_date=WHEN) for name, raw in LAYOUTS.items()}
        mailbox = GmailMailbox(emu.credentials(), None, api_endpoint=emu.base_url)
        read = {m.source_id: m.snippet for m in mailbox._fetch(list(ids.values()))}
        yield {name: read[gmail_id] for name, gmail_id in ids.items()}


def through_imap(raw: bytes) -> str:
    return imap.parse(fetch_answer(raw, WHEN), "INBOX/1/1", False).snippet


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gmail_and_imap_hand_the_core_the_same_text(
    through_gmail: dict[str, str], layout: str
) -> None:
    assert through_gmail[layout] == through_imap(LAYOUTS[layout])


def test_the_text_reaches_a_decision_late_in_the_message_and_no_further(
    through_gmail: dict[str, str],
) -> None:
    for layout in ("plain, quoted-printable", "HTML alone, base64, a long head"):
        text = through_gmail[layout]
        assert text.startswith("Hi Sam, thank you"), layout  # no style, script or comment
        assert DECISION in text, layout
        assert len(text) <= TEXT_CHARS
    assert through_gmail["plain and HTML alternatives"] == through_gmail["plain, quoted-printable"]
    assert through_gmail["a text attachment before the body"].startswith("Hi Sam")
    assert "n'a pas été retenue" in through_gmail["Latin-1"]
    assert through_gmail["no text at all"] == ""


def test_html_entities_are_read_as_characters() -> None:
    raw = headers('text/html; charset="utf-8"') + b"<p>Caf&eacute; &amp; co &#39;22</p>"
    assert through_imap(raw) == "Café & co '22"


def test_a_text_part_gmail_serves_apart_falls_back_to_gmails_snippet() -> None:
    resource = {
        "id": "g1",
        "labelIds": ["INBOX"],
        "internalDate": str(int(WHEN.timestamp() * 1000)),
        "snippet": "Hi Sam, thank you &amp; sorry",
        "payload": {
            "mimeType": "text/plain",
            "headers": [
                {"name": "From", "value": "Acme <no-reply@ashbyhq.com>"},
                {"name": "Received", "value": "from somewhere"},
            ],
            "body": {"attachmentId": "att-1", "size": 3_000_000},
        },
    }
    message = gmail.parse(resource)
    assert message is not None
    assert message.snippet == "Hi Sam, thank you & sorry"
    assert message.headers == ()  # only the headers the core reads, as IMAP fetches them
