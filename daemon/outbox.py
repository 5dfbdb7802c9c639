"""The outbox: every side effect is a row in the store, performed once.

A side effect (create or move a calendar event, remove one, write a draft) is
queued with a key derived from what it is for, so queuing it twice is harmless,
and performed by `deliver`, which records a failure on its entry and marks an
entry done only once the side effect is durable. A crash between the call and
the record repeats the call; the target makes the repeat harmless (an event id
the client chooses, a draft found by its `X-Pursuit-Key` header).

Key formats (target: key):

- a calendar (`ics`, `google`): `{calendar}:{event key}:{sequence}` to create or
  change an event, `{calendar}:{event key}:{sequence}:delete` to remove it. The
  event key is the planner's (`thank_you:{interview}`, `follow_up:{interview}:{contact}`
  or `follow_up:{interview}:org` when nobody is named,
  `check_in:{organization}:{day}`); the payload's `key` adds `#{generation}` when an
  event pursuit removed came back.
  After a calendar was lost, `{calendar}:{event key}:{sequence}:rebuilt:{uuid}`
  queues each live event again.
- `drafts`: `draft:{duty key}` (the duty key being `thank_you:{interview}:{contact}`)
  for a thank-you's first draft, `draft:{duty key}:v{version}` for each new version
  of it (`daemon/drafts.py`: written over the mailbox's draft only while the user has
  not edited it). The draft itself carries `draft:{install id}:{duty key}`, whatever
  its version (`draft_key`): the duty key is local row numbers, which another install
  on the same mailbox, or a database made anew, repeats.
- `summary`: `summary:{ISO year}-W{week}`, one a week (see `daemon/summary.py`).

A new target is a codec pair (what the payload holds) and a call of `deliver`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pursuit.connectors.base import CalendarEvent
from pursuit.daemon.errors import ItemError, PursuitError
from pursuit.daemon.models import ManagedEvent, OutboxEntry, calendar_key
from pursuit.daemon.store import Store, from_db, to_db

log = logging.getLogger(__name__)

DRAFTS = "drafts"
UPSERT = "upsert"
DELETE = "delete"
DRAFT = "draft"


# --- payload codecs


def encode_event(event: CalendarEvent) -> dict[str, Any]:
    return {
        "key": event.key,
        "start": to_db(event.start),
        "end": to_db(event.end),
        "summary": event.summary,
        "description": event.description,
        "reminder_minutes": event.reminder_minutes,
        "sequence": event.sequence,
        "stamp": to_db(event.stamp),
    }


def decode_event(payload: dict[str, Any]) -> CalendarEvent:
    return CalendarEvent(
        key=payload["key"],
        start=from_db(payload["start"]),
        end=from_db(payload["end"]),
        summary=payload["summary"],
        description=payload["description"],
        sequence=payload["sequence"],
        stamp=from_db(payload["stamp"]),
        reminder_minutes=payload["reminder_minutes"],
    )


def encode_draft(
    raw: bytes, *, draft: str | None = None, duty: int | None = None
) -> dict[str, Any]:
    """A draft's payload: the message, the key it carries, and its duty's id."""
    payload: dict[str, Any] = {"raw": raw.decode()}
    if draft is not None:
        payload["draft"] = draft
    if duty is not None:
        payload["duty"] = duty
    return payload


def decode_draft(payload: dict[str, Any]) -> bytes:
    return str(payload["raw"]).encode()


# --- queuing


def queue_event(
    store: Store, calendar: str, planned_key: str, event: CalendarEvent, *, now: datetime
) -> bool:
    """Queue creating or changing an event, once per sequence; False if already queued."""
    key = f"{calendar}:{planned_key}:{event.sequence}"
    return store.enqueue(key, UPSERT, calendar, encode_event(event), now=now)


def queue_event_removal(
    store: Store, calendar: str, planned_key: str, event_key: str, sequence: int, *, now: datetime
) -> bool:
    key = f"{calendar}:{planned_key}:{sequence}:delete"
    return store.enqueue(key, DELETE, calendar, {"key": event_key}, now=now)


def as_calendar_event(event: ManagedEvent) -> CalendarEvent:
    """The event a calendar holds for a managed event, under its key of this generation."""
    return CalendarEvent(
        key=calendar_key(event.key, event.generation),
        start=event.start,
        end=event.end,
        summary=event.summary,
        description=event.description,
        sequence=event.sequence,
        stamp=event.stamp,
        reminder_minutes=event.reminder_minutes,
    )


def queue_rebuild(store: Store, calendar: str, *, now: datetime) -> int:
    """Queue every live event of a calendar again, as it is: what a calendar that was
    deleted or moved aside needs to be whole again. Returns how many were queued."""
    queued = 0
    with store.transaction():
        for planned_key, event in store.managed_events(calendar).items():
            if not event.live:
                continue
            # A key of its own each time: the calendar may be lost again in the same second.
            key = f"{calendar}:{planned_key}:{event.sequence}:rebuilt:{uuid.uuid4()}"
            payload = encode_event(as_calendar_event(event))
            queued += store.enqueue(key, UPSERT, calendar, payload, now=now)
    return queued


def queue_draft(
    store: Store,
    duty_key: str,
    duty_id: int,
    version: int,
    raw: bytes,
    *,
    carries: str,
    now: datetime,
) -> bool:
    """Queue a version of a thank-you's draft (0: the first), whose message carries
    the key `carries` (`draft_key`); False if already queued."""
    key = f"draft:{duty_key}" + (f":v{version}" if version else "")
    payload = encode_draft(raw, draft=carries, duty=duty_id)
    return store.enqueue(key, DRAFT, DRAFTS, payload, now=now)


def draft_key(duty_key: str, install_id: str) -> str:
    """The key a thank-you's draft carries in the mailbox, whatever its version:
    `draft:{install id}:{duty key}`, the duty key being this database's row numbers.
    An install from before install ids (`install_id` "") writes `draft:{duty key}`,
    as every install did before draft keys carried the install."""
    return f"draft:{install_id}:{duty_key}" if install_id else f"draft:{duty_key}"


_DRAFT_KEY = re.compile(r"draft:(?:(?P<install>[0-9a-f]+):)?(?P<duty>[a-z_]+:.+)")


def parse_draft_key(key: str) -> tuple[str, str] | None:
    """(install id, duty key) of a key `draft_key` made (the install "" for a key
    without one); None when `key` is not a thank-you draft's."""
    found = _DRAFT_KEY.fullmatch(key)
    return None if found is None else (found["install"] or "", found["duty"])


# --- performing


def deliver(
    store: Store,
    target: str,
    perform: Callable[[OutboxEntry], object],
    now: datetime,
    *,
    flush: Callable[[], None] | None = None,
    subject: Callable[[OutboxEntry], str] | None = None,
    holds: Callable[[OutboxEntry], bool] | None = None,
) -> int:
    """Perform what is queued for `target`, oldest first; returns the entries done.

    `flush` makes the side effects performed so far durable (a file written
    once for all); without it each one is durable when `perform` returns.
    Entries about the same `subject` supersede one another: only the newest is
    performed. A failure is recorded on its entry; an `ItemError` skips that
    entry, any other error stops the round (the next round tries again). An entry
    `holds` says is in doubt (an attempt that may still land) stays queued, untouched.
    """
    about = subject or (lambda entry: entry.key)
    entries = store.pending_outbox(target)
    newest = {about(entry): entry.id for entry in entries}
    ready: list[int] = []  # performed (or superseded), not yet recorded as done
    recorded = 0

    def record_done() -> None:
        nonlocal recorded, ready
        with store.transaction():
            for entry_id in ready:
                store.outbox_done(entry_id, now=now)
        recorded += len(ready)
        ready = []

    for entry in entries:
        if holds is not None and holds(entry):
            continue
        if newest[about(entry)] != entry.id:
            ready.append(entry.id)  # a newer change of the same thing replaces it
            continue
        try:
            perform(entry)
        except ItemError as exc:
            log.warning("%s: %s skipped this round: %s", target, entry.key, exc)
            store.outbox_failed(entry.id, str(exc))
            continue
        except PursuitError as exc:
            store.outbox_failed(entry.id, str(exc))
            raise
        ready.append(entry.id)
        if flush is None:
            record_done()
    if flush is not None:
        flush()
    record_done()
    return recorded
