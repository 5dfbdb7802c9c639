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
