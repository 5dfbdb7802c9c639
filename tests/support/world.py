"""A whole user's world for the reliability suite: mail on the Google emulator, an
interview on its calendar, an organization's feed on the feed server, and what
pursuit made of it as the user sees it (export, calendar file, outbox files).

Stories are written the way a user's week goes; everything is reached through
the real connectors, with pursuit run through its command line (support.cli.Pursuit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import icalendar

from support.cli import Pursuit
from support.google_emulator import GoogleEmulator

ME = "me@example.test"


def rss(items: Sequence[tuple[str, str]]) -> bytes:
    """RSS 2.0 with (guid, title) items, titles escaped as a feed does."""
    entries = "".join(
        f"<item><title>{escape(title)}</title>"
        f"<link>https://acme.example/jobs/{escape(guid)}</link>"
        f'<guid isPermaLink="false">{escape(guid)}</guid>'
        "<pubDate>Mon, 06 Jan 2025 10:00:00 +0100</pubDate></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Acme</title><link>https://acme.example/</link><description>d</description>"
        f"{entries}</channel></rss>"
    ).encode()


def interview_yesterday(
    emu: GoogleEmulator,
    *,
    title: str = "Interview: Network Engineer",
    attendees: Sequence[tuple[str, str]] = (("jane@acme.com", "Jane Doe"),),
    event_id: str = "interview1",
    now: datetime | None = None,
) -> datetime:
    start = (now or datetime.now(UTC)) - timedelta(days=1)
    start = start.replace(minute=0, second=0, microsecond=0)
    emu.put_event(
        "primary",
        {
            "id": event_id,
            "summary": title,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
            "attendees": [
                {"email": emu.user_email, "self": True},
                *({"email": email, "displayName": name} for email, name in attendees),
            ],
        },
    )
    return start


def google_section(token: Path, emu: GoogleEmulator) -> str:
    return (
        f'[google]\ncredentials_file = "{token}"\n'
        f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
    )


#: A summary due at once whatever the day: the week's summary is sent in the first run.
SUMMARY_DUE = '[summary]\nday = "monday"\ntime = "00:00"\n'

#: What changes from one install or one run to the next, left out of a comparison.
_VOLATILE = {"id", "first_seen", "last_seen", "gone", "disappeared", "seen", "logged_at"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in sorted(value.items()) if k not in _VOLATILE}
    if isinstance(value, list):
        return sorted((_stable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def what_the_user_has(p: Pursuit) -> dict[str, Any]:
    """Everything pursuit holds for the user, without what differs between installs:
    the export, the calendar file's events, the outbox folder's messages."""
    export = _stable(p.export())
    for event in export.get("events", []):
        event.pop("duty", None)
        event.pop("duties", None)
    events = []
    if p.ics.exists():
        for event in icalendar.Calendar.from_ical(p.ics.read_bytes()).walk("VEVENT"):
            events.append((str(event["SUMMARY"]), event.decoded("DTSTART").isoformat()))
    outbox = p.data_dir / "outbox"
    mails = sorted(f.name for f in outbox.iterdir()) if outbox.is_dir() else []
    return {"export": export, "ics": sorted(events), "outbox": mails}
