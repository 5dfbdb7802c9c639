"""What every connector hands the core, and the contracts connectors fulfil.

The core sees plain objects (a managed calendar event, a feed item, a message);
only connectors know a protocol. A contract test suite in `tests/` runs against
every implementation of each contract.
"""

from __future__ import annotations

import base64
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime


def event_id_for(key: str) -> str:
    """A stable event id for a managed event key.

    base32hex (0-9, a-v) is what Google Calendar accepts for client-chosen ids,
    and it is a fine iCalendar UID as well, so one id serves every calendar.
    """
    digest = hashlib.sha256(key.encode()).digest()[:20]
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


class Calendar(ABC):
    """A calendar pursuit writes its follow-up events to.

    `upsert` and `delete` must be idempotent: the outbox may repeat a call after
    a crash, and the repeat must leave exactly one event (or none).
    """

    name: str

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


# --- calendar events the user owns (interviews come from here)


@dataclass(frozen=True)
class Attendee:
    email: str  # lower-cased
    name: str = ""
    is_self: bool = False
    is_resource: bool = False
    organizer: bool = False


@dataclass(frozen=True)
class CalendarEntry:
    """An event of the user's calendar, as read; `cancelled` covers deleted ones."""

    calendar_id: str
    event_id: str
    cancelled: bool
    summary: str = ""
    start: datetime | None = None  # aware; None for cancelled entries
    end: datetime | None = None
    attendees: tuple[Attendee, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CalendarChanges:
    entries: tuple[CalendarEntry, ...]
    cursor: str  # the sync token to save after the entries are stored
    skipped: int = 0  # events that could not be read, each logged with a warning
