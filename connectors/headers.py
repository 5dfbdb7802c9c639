"""A message's headers read once, the same way for every mailbox (Gmail, IMAP).

A mailbox connector gathers a message's header values (Gmail's `format=metadata`
resource, an IMAP FETCH of the header fields) and its own few facts (its id, the
thread, the date it received it, whether it was sent); this turns them into the
`MailMessage` the core sees: the addresses parsed, names and subjects decoded
where the mailbox has not, every value cleaned and bounded. A rule written in two
parsers drifts apart; here it is written once.
"""

from __future__ import annotations

import contextlib
import email.errors
import email.header
import email.utils
import hashlib
import html
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from pursuit.connectors.base import Address, MailMessage
from pursuit.connectors.text import (
    ADDRESS_LIMIT,
    HEADER_LIMIT,
    NAME_LIMIT,
    SUBJECT_LIMIT,
    clean_text,
)

#: The headers a MailMessage holds as fields; the others go to `headers`.
FIELD_HEADERS = frozenset(
    {"from", "to", "cc", "reply-to", "subject", "date", "message-id"}
    | {"content-type", "content-transfer-encoding"}
)


#: How much of a message's text reaches the core, the same from every mailbox: enough
#: for the decision of a rejection, which real ones give after a paragraph of thanks,
#: 300 to 500 characters in (tests/fixtures/hiring_mail/README.md). The core reads it
#: (a rejection? an offer?) and keeps none of it.
TEXT_CHARS = 1000


def text_part(parts: Sequence[tuple[str, bool]]) -> int | None:
    """Which of a message's parts (its content types in order, and whether each is an
    attachment) its text is read from: the first plain text, else the first HTML."""
    for wanted in ("text/plain", "text/html"):
        for n, (content_type, attachment) in enumerate(parts):
            if content_type == wanted and not attachment:
                return n
    return None


def text_excerpt(data: bytes, charset: str | None, *, is_html: bool) -> str:
    """The start of a text part as a person reads it (`TEXT_CHARS` at most): decoded
    with its charset (UTF-8 when unknown), an HTML part's head, scripts, styles,
    comments and tags dropped and its entities decoded, white space collapsed."""
    try:
        text = data.decode(charset or "utf-8", "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    if is_html:
        text = re.sub(r"(?is)<(head|script|style)\b.*?</\1\s*>|<!--.*?-->", " ", text)
        text = html.unescape(re.sub(r"<[^>]*(?:>|$)", " ", text))  # a tag cut short too
    return clean_text(text, TEXT_CHARS)


def decoded(value: str) -> str:
    """A header value as a person reads it: RFC 2047 decoded, raw 8-bit read as
    UTF-8 (else Latin-1). Cleaning (controls, bidi, length) is `clean_text`'s."""
    if any("\udc80" <= c <= "\udcff" for c in value):  # undecodable bytes from the parser
        raw = value.encode("ascii", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")
    # a broken encoded word (bad base64, unknown charset) is shown as it came
    with contextlib.suppress(
        ValueError, LookupError, UnicodeError, AssertionError, email.errors.HeaderParseError
    ):
        value = str(email.header.make_header(email.header.decode_header(value)))
    return value


def as_given(value: str) -> str:
    """For a mailbox that decodes header values itself (Gmail): decoding again
    would turn a name that merely looks like an encoded word into something else."""
    return value


def addresses(
    values: Sequence[str], decode: Callable[[str], str] = as_given
) -> tuple[Address, ...]:
    """The addresses in these header values; an address is stored and shown too, so it
    is cleaned, bounded and one word, and display names are decoded and cleaned."""
    out: list[Address] = []
    for name, addr in email.utils.getaddresses(list(values)):
        addr = clean_text(addr, ADDRESS_LIMIT + 1).lower()
        if "@" in addr and len(addr) <= ADDRESS_LIMIT and " " not in addr:
            out.append(Address(clean_text(decode(name), NAME_LIMIT).strip('"').strip(), addr))
    return tuple(out)


def sent_date(header: str | None, received: datetime | None) -> datetime:
    """The Date header, else when the mailbox received the message."""
    if header:
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None and 1970 <= parsed.year <= 9999:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if received is None:
        raise ValueError("no usable Date header and no date of receipt")
    return received if received.tzinfo else received.replace(tzinfo=UTC)


def synthesized_message_id(headers: Mapping[str, Sequence[str]]) -> str:
    """A stable Message-ID for a message without one: the same in every mailbox, every
    folder and after any resync, since it is made of the message's own headers."""
    parts = [next(iter(headers.get(h, ())), "") for h in ("date", "from", "to", "cc", "subject")]
    digest = hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return f"<imap-{digest[:32]}@pursuit.invalid>"


def message_from_headers(
    headers: Mapping[str, Sequence[str]],
    *,
    source_id: str,
    outgoing: bool,
    received: datetime | None,
    decode: Callable[[str], str] = as_given,
    thread: str | None = None,
    snippet: str = "",
) -> MailMessage:
    """The MailMessage of one message's header values (names lower-cased).

    `thread` is the mailbox's own thread id where it has one (Gmail), else the thread
    is read from References and In-Reply-To. ValueError for a message with no sender
    and no recipient, or no date at all.
    """

    def first(name: str) -> str | None:
        found = headers.get(name)
        return found[0] if found else None

    senders = addresses(headers.get("from", []), decode)
    to = addresses(headers.get("to", []), decode)
    cc = addresses(headers.get("cc", []), decode)
    if not senders and not to and not cc:
        raise ValueError("no sender and no recipient")
    # ids are stored and shown: cleaned like any text from outside
    message_id = clean_text(first("message-id") or "", HEADER_LIMIT)
    if not message_id:
        message_id = synthesized_message_id(headers)
    elif not message_id.startswith("<"):
        message_id = f"<{message_id.strip('<>')}>"
    if thread is None:
        references = clean_text(first("references") or "", HEADER_LIMIT).split()
        replied_to = clean_text(first("in-reply-to") or "", HEADER_LIMIT)
        thread = references[0] if references else replied_to or message_id
    return MailMessage(
        source_id=source_id,
        message_id=message_id,
        thread=thread,
        date=sent_date(first("date"), received),
        sender=senders[0] if senders else None,
        to=to,
        cc=cc,
        reply_to=addresses(headers.get("reply-to", []), decode),
        subject=clean_text(decode(first("subject") or ""), SUBJECT_LIMIT),
        snippet=snippet,
        outgoing=outgoing,
        headers=tuple(
            (clean_text(name, NAME_LIMIT), clean_text(decode(value), HEADER_LIMIT))
            for name, values in headers.items()
            if name not in FIELD_HEADERS
            for value in values
        ),
    )
