"""In-memory reference implementations of every contract in `connectors.base`.

Each does what the contract promises and nothing a real service would not; the
tests use them as stand-ins, and the contract suites in `tests/support/contracts.py`
check them exactly as they check the real connectors. Cursors are positions in
a log of changes, as Gmail's history ids are.
"""

from __future__ import annotations

import copy
import email.utils
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage

from pursuit.connectors.base import (
    KEY_HEADER,
    Calendar,
    CalendarChanges,
    CalendarEntry,
    CalendarEvent,
    MailChanges,
    MailMessage,
    latest_instant,
    outgoing_key,
)
from pursuit.daemon.errors import CursorExpired


class MemoryCalendar(Calendar):
    name = "memory"

    def __init__(self) -> None:
        self._events: dict[str, CalendarEvent] = {}
        self.calls = 0

    def upsert(self, event: CalendarEvent) -> None:
        self.calls += 1
        self._events[event.key] = event

    def delete(self, key: str) -> None:
        self.calls += 1
        self._events.pop(key, None)

    def events(self) -> dict[str, CalendarEvent]:
        return dict(self._events)


def _concerns(message: MailMessage, addresses: set[str], domains: Sequence[str]) -> bool:
    for who in (*([message.sender] if message.sender else []), *message.to, *message.cc):
        domain = who.email.rpartition("@")[2]
        if who.email in addresses or any(domain == d or domain.endswith("." + d) for d in domains):
            return True
    return False


class MemoryMailbox:
    """A mailbox in memory; the cursor is the number of messages delivered so far.

    `searches` and `changes_calls` record what the core asked, so a test can
    count the calls a sync costs.
    """

    name = "memory"

    def __init__(self, address: str, *messages: MailMessage, batch: int = 2) -> None:
        self.address = address.lower()
        self.messages = list(messages)
        self.batch = batch
        self._oldest_cursor = 0
        self.searches: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self.changes_calls: list[str] = []

    def deliver(self, *messages: MailMessage) -> None:
        self.messages.extend(messages)

    def expire_cursors(self) -> None:
        """Forget the past, as Gmail forgets old history: earlier cursors expire."""
        self._oldest_cursor = len(self.messages)

    def profile(self) -> tuple[str, str]:
        return self.address, str(len(self.messages))

    def search(
        self,
        *,
        addresses: Sequence[str],
        domains: Sequence[str],
        since: datetime,
        progress: Callable[[int, int], None] | None = None,
        known: Collection[str] = (),  # a hint only: the core stores each message once
        organizations: Sequence[str] = (),
        hiring_systems: Sequence[str] = (),
    ) -> Iterator[list[MailMessage]]:
        self.searches.append((tuple(addresses), tuple(domains)))
        wanted = {a.lower() for a in addresses}
        found = [
            m
            for m in self.messages
            if m.date >= since
            and (
                _concerns(m, wanted, domains)
                or _from_hiring_system(m, hiring_systems, organizations)
            )
        ]
        if progress is not None:
            progress(0, len(found))
        for start in range(0, len(found), self.batch):
            yield found[start : start + self.batch]
            if progress is not None:
                progress(min(start + self.batch, len(found)), len(found))

    def changes(self, cursor: str) -> MailChanges:
        self.changes_calls.append(cursor)
        if int(cursor) < self._oldest_cursor:
            raise CursorExpired(self.name, f"history id {cursor} expired")
        return MailChanges(tuple(self.messages[int(cursor) :]), str(len(self.messages)))


class MemoryCalendarReader:
    """The user's calendars in memory; a calendar's cursor is the length of its change log.

    An entry is known by its event id and occurrence (each occurrence of a recurring
    event is put on its own). `calls` records the cursor of each read.
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[tuple[str, str], CalendarEntry]] = {}
        self._log: dict[str, list[tuple[str, str]]] = {}
        self._oldest_cursor: dict[str, int] = {}
        self.calls: list[str | None] = []

    def put(self, entry: CalendarEntry) -> None:
        """The user creates, moves or (with `cancelled` set) deletes an event or occurrence."""
        key = (entry.event_id, "" if entry.occurrence is None else entry.occurrence.isoformat())
        self._entries.setdefault(entry.calendar_id, {})[key] = entry
        self._log.setdefault(entry.calendar_id, []).append(key)

    def expire_cursors(self) -> None:
        """Every calendar forgets its past: cursors older than the latest change expire."""
        self._oldest_cursor = {calendar: len(log) for calendar, log in self._log.items()}

    def changes(self, calendar_id: str, cursor: str | None, *, since: datetime) -> CalendarChanges:
        self.calls.append(cursor)
        entries = self._entries.get(calendar_id, {})
        log = self._log.get(calendar_id, [])
        if cursor is None:
            found = [
                e
                for e in entries.values()
                if not e.cancelled and (e.end is None or latest_instant(e.end) > since)
            ]
        elif int(cursor) < self._oldest_cursor.get(calendar_id, 0):
            raise CursorExpired("calendar", f"sync token {cursor} of {calendar_id} expired")
        else:
            found = [entries[i] for i in dict.fromkeys(log[int(cursor) :])]
        return CalendarChanges(tuple(found), str(len(log)))


def _key(raw: bytes) -> str | None:
    message = email.message_from_bytes(raw)
    value = message.get(KEY_HEADER)
    return None if value is None else str(value).strip()


class MemoryDraftBox:
    """Drafts in memory, by id; found again by the key each carries in its header."""

    in_doubt = timedelta(0)  # a create is done or not, at once

    def __init__(self) -> None:
        self.drafts: dict[str, bytes] = {}
        self._made = 0  # ids are never reused, even after the user deleted a draft

    def find_draft(self, key: str) -> str | None:
        return next((i for i, raw in self.drafts.items() if _key(raw) == key), None)

    def create_draft(self, raw: bytes, key: str) -> str:
        existing = self.find_draft(key)
        if existing is not None:
            return existing
        if _key(raw) != key:
            raise ValueError(f"the draft must carry {KEY_HEADER}: {key}")
        self._made += 1
        draft_id = f"draft-{self._made}"
        self.drafts[draft_id] = raw
        return draft_id

    def read_draft(self, key: str) -> bytes | None:
        found = self.find_draft(key)
        return None if found is None else self.drafts[found]

    def replace_draft(self, key: str, raw: bytes) -> str | None:
        if _key(raw) != key:
            raise ValueError(f"the draft must carry {KEY_HEADER}: {key}")
        found = self.find_draft(key)
        if found is not None:
            self.drafts[found] = raw
        return found

    def draft_keys(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for raw in self.drafts.values():
            if (key := _key(raw)) is not None:
                counts[key] = counts.get(key, 0) + 1
        return counts

    def drafts_with_key(self, key: str) -> list[tuple[str, bytes]]:
        return [(i, raw) for i, raw in self.drafts.items() if _key(raw) == key]

    def delete_draft(self, draft_id: str) -> None:
        self.drafts.pop(draft_id, None)


class MemorySender:
    """Mail sent to the user, kept in memory by id."""

    in_doubt = timedelta(0)  # a send is done or not, at once

    def __init__(self, address: str) -> None:
        self.address = address.lower()
        self.sent: dict[str, EmailMessage] = {}

    keeps_record = True

    def find_sent(self, key: str, message_id: str) -> str | None:
        return next(
            (
                i
                for i, message in self.sent.items()
                if message.get(KEY_HEADER) == key
                and str(message.get("Message-ID", "")).strip() == message_id
            ),
            None,
        )

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        key = outgoing_key(message, self.address)
        existing = self.find_sent(key, str(message.get("Message-ID", "")).strip())
        if existing is not None:
            return existing
        message_id = f"sent-{len(self.sent) + 1}"
        if begin is not None:
            begin()
        self.sent[message_id] = copy.deepcopy(message)
        return message_id


def _from_hiring_system(
    message: MailMessage, systems: Sequence[str], organizations: Sequence[str]
) -> bool:
    """Sent from a hiring system's domain, naming one of the organizations in its
    sender (the address too, as IMAP's FROM reads it), its subject or its text (as
    Gmail's search does)."""
    sender = message.sender
    if sender is None:
        return False
    domain = sender.email.rpartition("@")[2]
    if not any(domain == d or domain.endswith("." + d) for d in systems):
        return False
    text = f"{sender.name}\n{sender.email}\n{message.subject}\n{message.snippet}".casefold()
    return any(o.casefold() in text for o in organizations)
