"""What every connector hands the core, and the contracts connectors fulfil.

The core sees plain objects (a managed calendar event, a feed item, a message);
only connectors know a protocol. The contracts the core uses:

* `Calendar` -- where pursuit writes its follow-up events (Google, a .ics file);
* `Mailbox` -- the mail the correspondence log reads (Gmail; IMAP next);
* `CalendarReader` -- the user's calendars, where interviews are found;
* `DraftBox` -- where thank-you drafts are left for the user to send;
* `Sender` -- sends a message to the user alone (the weekly summary).

`connectors/memory.py` holds a reference implementation of each, and
`tests/support/contracts.py` one test suite per contract that every implementation passes.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage, Message
from typing import Protocol

#: The header that carries a side effect's idempotency key on a draft or a sent message.
KEY_HEADER = "X-Pursuit-Key"

#: The headers of a message the core reads (the matcher, the log, drafts found again):
#: what a mailbox fetches, and nothing else.
HEADERS_READ = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Id",
    "Precedence",
    "Auto-Submitted",
    KEY_HEADER,
)


def outgoing_key(message: Message, user: str) -> str:
    """The `X-Pursuit-Key` of a message pursuit is about to send, checked: a message
    without one, or addressed to anyone but the user, raises ValueError and is not
    sent. Every `Sender` calls it first."""
    key = str(message.get(KEY_HEADER) or "").strip()
    if not key:
        raise ValueError(f"a message pursuit sends carries {KEY_HEADER}")
    check_only_to(message, user)
    return key


def message_id_for(key: str) -> str:
    """The Message-ID of a message sent with this key (one that came without its own):
    the same in every process, so a sender finds what an earlier try sent."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<pursuit-{digest}@pursuit.invalid>"


def outgoing_copy(message: EmailMessage, user: str) -> tuple[str, EmailMessage, str]:
    """(key, the copy to send, its Message-ID) of a message about to be sent to the
    user alone (`outgoing_key`), the copy given the key's Message-ID when it has none."""
    key = outgoing_key(message, user)
    outgoing = copy.deepcopy(message)
    if not outgoing.get("Message-ID"):
        outgoing["Message-ID"] = message_id_for(key)
    return key, outgoing, str(outgoing["Message-ID"]).strip()


def check_only_to(message: Message, user: str) -> None:
    """ValueError unless the message is addressed (To, Cc, Bcc) to the user alone."""
    recipients = [
        address.lower()
        for _, address in email.utils.getaddresses(
            [str(v) for field in ("To", "Cc", "Bcc") for v in message.get_all(field) or []]
        )
        if address
    ]
    if not recipients or any(r != user.lower() for r in recipients):
        raise ValueError(f"pursuit sends mail to the user alone ({user}), not {recipients}")


def event_id_for(key: str, install_id: str = "") -> str:
    """A stable event id for a managed event key of one install.

    base32hex (0-9, a-v) is what Google Calendar accepts for client-chosen ids,
    and it is a fine iCalendar UID as well, so one id serves every calendar.
    `install_id` (random, made once per database) keeps two installs, or one
    database and its replacement, from making the same ids; an install that had
    events before it existed keeps "" and so its ids.
    """
    text = f"{install_id}/{key}" if install_id else key
    digest = hashlib.sha256(text.encode()).digest()[:20]
    return base64.b32hexencode(digest).decode().lower().rstrip("=")


@dataclass(frozen=True)
class CalendarEvent:
    """An event pursuit owns: created once, moved in place, removed when void."""

    key: str
    start: datetime
    end: datetime
    summary: str
    description: str
    sequence: int
    stamp: datetime
    reminder_minutes: int = 15

    @property
    def event_id(self) -> str:
        return event_id_for(self.key)

    @property
    def uid(self) -> str:
        return f"{self.event_id}@pursuit"


class Attempts(Protocol):
    """Creates begun whose outcome is not known yet, kept by the core across restarts:
    one whose answer a crash lost may still land for a while after (Google's)."""

    def begun(self, what: str) -> datetime | None:
        """When the create of `what` began, if it has not been seen to land since."""
        ...

    def begin(self, what: str) -> datetime:
        """Note, durably, that the create of `what` begins now; returns now."""
        ...

    def landed(self, what: str) -> None:
        """The create of `what` is known to have landed (or to be moot)."""
        ...


class Calendar(ABC):
    """A calendar pursuit writes its follow-up events to.

    `upsert` and `delete` must be idempotent: the outbox may repeat a call after
    a crash, and the repeat must leave exactly one event (or none).
    """

    name: str
    #: Mixed into every event id (see `event_id_for`); given by whoever builds the calendar.
    install_id: str = ""
    #: Where a create that cannot carry an id of pursuit's choosing (Google's calendars)
    #: is noted before it is sent; set by the core before each round.
    attempts: Attempts | None = None

    def event_id(self, key: str) -> str:
        return event_id_for(key, self.install_id)

    def other_installs(self) -> frozenset[str]:
        """Other pursuit installs seen writing to this calendar so far (their ids; ""
        for one of a version from before install ids): their events are never
        returned, changed nor deleted."""
        return frozenset()

    @abstractmethod
    def upsert(self, event: CalendarEvent) -> None:
        """Create the event, or update the one with the same key in place."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the event with this key; a missing event is not an error."""

    @abstractmethod
    def events(self) -> dict[str, CalendarEvent]:
        """The managed events the calendar holds now, by key."""

    def flush(self) -> None:  # noqa: B027 - optional hook, a no-op for direct APIs
        """Make every change so far durable (a file calendar writes here)."""

    def location(self) -> str:
        """Where the calendar is, when the config can move it (a file's path): the core
        puts every event back when it changes. "" when it cannot move."""
        return ""

    def recreated(self) -> bool:
        """True when the calendar was gone (the user deleted it, the file was moved
        away) and is now there again, empty, or when a second copy of it was merged
        into the one kept: the core then puts every event back.
        Asked once per round, before the queued changes; `upsert` may instead raise
        `CalendarGone` when it finds out mid-round."""
        return False


# --- mail


@dataclass(frozen=True)
class Address:
    name: str
    email: str  # lower-cased


@dataclass(frozen=True)
class MailMessage:
    """A message as the core sees it: headers and a snippet, never a body."""

    source_id: str  # the mailbox's own id (Gmail id, IMAP UID)
    message_id: str  # the RFC 5322 Message-ID, "<...>"; synthesized when missing
    thread: str | None
    date: datetime  # aware
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str  # decoded (RFC 2047)
    snippet: str
    outgoing: bool  # sent by the user (Gmail SENT label, IMAP Sent folder)
    headers: tuple[tuple[str, str], ...] = ()  # other headers, names lower-cased

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)


@dataclass(frozen=True)
class MailChanges:
    """What changed in a mailbox since a cursor, and the cursor to save after storing it."""

    messages: tuple[MailMessage, ...]
    cursor: str
    skipped: int = 0  # messages that could not be read, each logged with a warning
    #: folders the user named that are gone from the mailbox (renamed or deleted): their
    #: new mail is not read, and the core says so until they are back or unnamed
    gone: tuple[str, ...] = ()


class Mailbox(Protocol):
    """The user's mail, read: a first search, then the changes since a cursor.

    `name` names the mailbox's saved cursors in the store. Mail in spam or
    trash is not the user's correspondence and is never returned.
    """

    name: str

    def profile(self) -> tuple[str, str]:
        """(the user's address, lower-cased; a cursor for `changes` from now on)."""
        ...

    def search(
        self,
        *,
        addresses: Sequence[str],
        domains: Sequence[str],
        since: datetime,
        progress: Callable[[int, int], None] | None = None,
        known: Collection[str] = (),
        organizations: Sequence[str] = (),
        hiring_systems: Sequence[str] = (),
    ) -> Iterator[list[MailMessage]]:
        """Each message since `since` from, to or cc'd to an address or a domain
        (or one of its subdomains), once, in batches the caller stores as they come;
        `progress(done, total)` after each batch. Mail from a `hiring_systems`
        domain (or subdomain) naming one of the `organizations` in its subject or
        its sender (the address too: a tenant's name such as acme@myworkday.com) is
        included where the mailbox can search for it (Gmail, IMAP). Messages whose
        `source_id` is in `known` (stored by an earlier, interrupted search) may be
        left out."""
        ...

    def changes(self, cursor: str) -> MailChanges:
        """Each message added since `cursor`, once, and the cursor to save after them.

        Sent mail has `outgoing` set. A cursor the mailbox no longer knows (Gmail's
        history 404, a changed IMAP UIDVALIDITY) raises `CursorExpired`: search again.
        """
        ...


class DraftBox(Protocol):
    """Where drafts are left for the user to read, edit and send; never sent by pursuit.

    A draft carries its idempotency key in an `X-Pursuit-Key` header, so a repeat
    after a crash (even in a new process) finds it instead of writing a second.
    The core reads a draft back before it changes it, so that one the user edited
    (or deleted, or sent) is left alone: the connector reports what is there, the
    core decides.
    """

    #: How long a create sent by a process that died may still land in the mailbox:
    #: a restart that does not find the draft writes it again only after this.
    in_doubt: timedelta

    def create_draft(self, raw: bytes, key: str) -> str:
        """Create the draft (an RFC 5322 message) unless one with this key exists;
        returns the draft's id either way."""
        ...

    def find_draft(self, key: str) -> str | None:
        """The id of the draft carrying this key, if there is one."""
        ...

    def read_draft(self, key: str) -> bytes | None:
        """The draft carrying this key as the mailbox holds it now (an RFC 5322
        message), or None when there is none (the user deleted or sent it)."""
        ...

    def replace_draft(self, key: str, raw: bytes) -> str | None:
        """Put `raw` (carrying the same key) in place of the draft carrying this key,
        leaving one draft with the key; returns its id. None, and nothing written,
        when no draft carries the key: a draft the user deleted is not made again."""
        ...

    def draft_keys(self) -> dict[str, int]:
        """How many drafts carry each `X-Pursuit-Key`, as the mailbox holds them now:
        this install's, and any other's (a fresh look, not what was seen before)."""
        ...

    def drafts_with_key(self, key: str) -> list[tuple[str, bytes]]:
        """Every draft carrying exactly this key: its id and the message, as held now."""
        ...

    def delete_draft(self, draft_id: str) -> None:
        """Remove a draft `drafts_with_key` named; one gone already is no error."""
        ...


class MailAccount(Mailbox, DraftBox, Protocol):
    """A mailbox that also keeps the user's drafts (Gmail; IMAP with a Drafts folder)."""


class Sender(Protocol):
    """Sends a message to the user alone (the weekly summary), once per key.

    The message carries its key in an `X-Pursuit-Key` header. Any recipient but
    the user, or a message without a key, raises ValueError and sends nothing:
    pursuit never writes to anyone on the user's behalf.
    """

    #: How long a message sent by a process that died may still reach where `find_sent`
    #: looks: a send in doubt is looked for, and made again, only after this.
    in_doubt: timedelta

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        """Send the message, with its own Message-ID, unless it was sent already;
        returns the sent message's id either way. `begin` is called just before the
        message leaves, after any look: a crash before it cannot have sent anything."""
        ...

    def find_sent(self, key: str, message_id: str) -> str | None:
        """The id of the message sent earlier with this key and this Message-ID, if
        there is one. The core chooses the Message-ID (it carries the install's id), so
        another install's message with the same key is never taken for this one's."""
        ...

    @property
    def keeps_record(self) -> bool:
        """True when `find_sent` finds whatever `send` delivered (Gmail's Sent, the .eml
        folder, the INBOX an SMTP summary comes back to): "not found" then means "not
        delivered", so a send a crash cut short is made again rather than given up."""
        ...


# --- calendar events the user owns (interviews come from here)


#: RFC 5545 CUTYPE values that are places or things, never people one meets.
NOT_PEOPLE = ("room", "resource")


@dataclass(frozen=True)
class Attendee:
    """A person (or room, or group) on an event, as the calendar gives them.

    `kind` is RFC 5545's CUTYPE and `role` its ROLE, lower-cased, whatever the
    source (Google's `resource` flag is kind "resource"). Whether someone is an
    interviewer is the core's decision (`daemon/interviews.py`), not a reader's.
    """

    email: str  # lower-cased
    name: str = ""
    #: The calendar says this is the user (Google's `self`); the core also knows
    #: the user by every address they own.
    is_self: bool = False
    kind: str = "individual"  # individual, group, room, resource, unknown
    role: str = "req-participant"  # chair, req-participant, opt-participant, non-participant

    @property
    def is_resource(self) -> bool:
        return self.kind in NOT_PEOPLE


#: When an event happens as its calendar gives it: an aware datetime, a naive one
#: for a floating time (the user's local time), or a date for an all-day event.
When = datetime | date


def latest_instant(when: When) -> datetime:
    """The latest moment a start or end could be, whatever the user's zone (a date or
    a floating time is local somewhere between UTC-12 and UTC+14): for a reader's
    window, which keeps an event when it might be in it and lets the core decide."""
    if isinstance(when, datetime) and when.tzinfo is not None:
        return when
    if not isinstance(when, datetime):
        when = datetime.combine(when, time(0))
    return when.replace(tzinfo=UTC) + timedelta(hours=12)


#: How far after `since` a reader that expands recurring events itself (CalDAV) lists
#: their occurrences; Google expands them on its side.
RECURRENCE_WINDOW = timedelta(days=730)


@dataclass(frozen=True)
class CalendarEntry:
    """An event of the user's calendar, as read; `cancelled` covers deleted ones.

    Facts only: the organizer apart from the attendees, all-day events as dates,
    floating times naive. `daemon/interviews.py` decides what they mean.

    Each occurrence of a recurring event is an entry of its own: it shares the
    event's `event_id` and carries its `occurrence`, when the series put it (RFC
    5545's RECURRENCE-ID, Google's originalStartTime), wherever it was moved since.
    A cancelled entry without an occurrence cancels the event and all of them.
    """

    calendar_id: str
    event_id: str
    cancelled: bool
    summary: str = ""
    start: When | None = None  # None for cancelled entries
    end: When | None = None
    attendees: tuple[Attendee, ...] = ()
    description: str = ""
    organizer: Attendee | None = None
    occurrence: When | None = None  # None for an event that does not recur
    #: Where, as the invitation writes it (LOCATION, Google's `location`), its lines
    #: kept: a room, an address, a link or a mix; the core says which.
    location: str = ""
    #: The join addresses the source names apart from the text, in its order (Google's
    #: hangoutLink and video entry points; iCalendar's X-GOOGLE-CONFERENCE, Teams'
    #: X-MICROSOFT-* links, RFC 7986 CONFERENCE), unchecked: the core keeps http(s) ones.
    conference_links: tuple[str, ...] = ()
    #: The zone-database name of the zone the start is written in (Google's
    #: `start.timeZone`, a DTSTART TZID the zone database knows, Windows names mapped);
    #: None when it has none (all-day, floating, a zone of the sender's own rules).
    start_zone: str | None = None


@dataclass(frozen=True)
class CalendarChanges:
    entries: tuple[CalendarEntry, ...]
    cursor: str  # the sync token to save after the entries are stored
    skipped: int = 0  # events that could not be read, each logged with a warning
    #: Event ids read whole (a CalDAV resource is): every occurrence of each from
    #: `since` on is among the entries, so one not listed is gone (an EXDATE added,
    #: a series cut short) even though no entry says so.
    whole_events: tuple[str, ...] = ()


class CalendarReader(Protocol):
    """The user's own calendars, read (never written): where interviews are found."""

    def changes(self, calendar_id: str, cursor: str | None, *, since: datetime) -> CalendarChanges:
        """The calendar's entries changed since `cursor`, and the cursor to save after them.

        With no cursor: every entry not cancelled that ends after `since`. With one:
        each entry changed since, once, whenever it is; a cancelled or deleted event
        comes back as an entry with `cancelled` set. A cursor the calendar no longer
        knows (Google's 410) raises `CursorExpired`: read again with none.
        """
        ...
