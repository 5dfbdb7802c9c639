"""One invitation, one meaning: the same events read through CalDAV (a real Radicale)
and through Google Calendar (the emulator, with the real client libraries) give the
same interviews, because the readers hand over facts and `daemon/interviews.py`
alone decides what they mean.

The invitations are shaped as real ones are: a Zoom or Calendly booking whose one
other person is its ORGANIZER, an all-day onsite (VALUE=DATE), a floating time,
a room on the invitation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.google_emulator import GoogleEmulator
from support.radicale_server import PASSWORD, USER, RadicaleServer, running

from pursuit.connectors.base import CalendarReader
from pursuit.connectors.caldav import CaldavCalendar, CaldavCalendarReader
from pursuit.connectors.google_auth import load_credentials
from pursuit.connectors.google_calendar import GoogleCalendarReader
from pursuit.connectors.ical import entry_from
from pursuit.daemon.interviews import sync_interviews
from pursuit.daemon.store import Store

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)
ME = f"{USER}@example.test"
ONSITE = date(2026, 12, 9)

#: (uid, summary, start, end, organizer, attendees): start/end as iCalendar text
EVENTS: list[dict[str, Any]] = [
    {  # Zoom: the person one meets organizes; the only attendee is the user
        "uid": "zoom-1",
        "summary": "Zoom meeting: Acme Networks / Sam",
        "start": datetime(2026, 12, 2, 14, 0, tzinfo=PARIS),
        "end": datetime(2026, 12, 2, 15, 0, tzinfo=PARIS),
        "organizer": ("jane@acme.test", "Jane Doe"),
        "attendees": [(ME, "Sam Seeker", "INDIVIDUAL")],
    },
    {  # Teams: organizer, a second interviewer, a room
        "uid": "teams-1",
        "summary": "Technical interview",
        "start": datetime(2026, 12, 3, 10, 0, tzinfo=PARIS),
        "end": datetime(2026, 12, 3, 11, 0, tzinfo=PARIS),
        "organizer": ("raj@acme.test", "Raj Patel"),
        "attendees": [
            ("raj@acme.test", "Raj Patel", "INDIVIDUAL"),
            ("lee@acme.test", "Lee Chen", "INDIVIDUAL"),
            (ME, "Sam Seeker", "INDIVIDUAL"),
            ("boardroom@acme.test", "Boardroom 3", "ROOM"),
        ],
    },
    {  # an all-day onsite: its day in the user's zone, not the evening before
        "uid": "onsite-1",
        "summary": "Onsite at Acme Networks",
        "start": ONSITE,
        "end": ONSITE + timedelta(days=1),
        "organizer": ("jane@acme.test", "Jane Doe"),
        "attendees": [(ME, "Sam Seeker", "INDIVIDUAL")],
    },
]


def ics(event: dict[str, Any]) -> str:
    def when(value: date) -> str:
        if isinstance(value, datetime):
            return f";TZID=Europe/Paris:{value:%Y%m%dT%H%M%S}"
        return f";VALUE=DATE:{value:%Y%m%d}"

    name, address = event["organizer"][1], event["organizer"][0]
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Zoom Video Communications//EN",
        "BEGIN:VEVENT",
        f"UID:{event['uid']}",
        "DTSTAMP:20261125T120000Z",
        f"DTSTART{when(event['start'])}",
        f"DTEND{when(event['end'])}",
        f"SUMMARY:{event['summary']}",
        f"ORGANIZER;CN={name}:mailto:{address}",
        *[
            f"ATTENDEE;CN={n};CUTYPE={kind};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:{a}"
            for a, n, kind in event["attendees"]
        ],
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def google_json(event: dict[str, Any]) -> dict[str, Any]:
    """The same event as Google Calendar's API gives it."""

    def when(value: date) -> dict[str, str]:
        if isinstance(value, datetime):
            return {"dateTime": value.isoformat(), "timeZone": "Europe/Paris"}
        return {"date": value.isoformat()}

    organizer_address, organizer_name = event["organizer"]
    return {
        "id": event["uid"],
        "summary": event["summary"],
        "start": when(event["start"]),
        "end": when(event["end"]),
        "organizer": {"email": organizer_address, "displayName": organizer_name},
        "attendees": [
            {"email": a, "displayName": n, **({"resource": True} if kind == "ROOM" else {})}
            | ({"self": True} if a == ME else {})
            | ({"organizer": True} if a == organizer_address else {})
            for a, n, kind in event["attendees"]
        ],
    }


def interviews_read(tmp_path: Path, reader: CalendarReader, calendar_id: str) -> list[Any]:
    store = Store.open(tmp_path / "state.sqlite3")
    try:
        with store.transaction():
            store.add_organization("Acme Networks", ["acme.test"], [], now=NOW)
            store.set_account_address("imap", ME)  # the user, known from their mail
        sync_interviews(
            store,
            reader,
            [calendar_id],
            NOW,
            lookback=timedelta(days=30),
            timezone=PARIS,
        )
        by_id = {i.id: key.split(":")[-1] for key, i in store.interviews_by_source("").items()}
        return sorted(
            (
                by_id[i.id],
                i.start,
                i.end,
                sorted(p.contact.address for p in i.interviewers),
            )
            for i in store.interviews()
        )
    finally:
        store.close()


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    yield from running(tmp_path)


def test_the_same_invitations_mean_the_same_through_caldav_and_google(
    tmp_path: Path, radicale: RadicaleServer
) -> None:
    owner = CaldavCalendar(radicale.url, username=USER, password=lambda: PASSWORD)
    calendar = owner._principal_of().make_calendar(name="Personal", cal_id="personal")
    for event in EVENTS:
        href = str(calendar.url.join(f"{event['uid']}.ics"))
        answer = owner._client().put(href, ics(event), {"Content-Type": "text/calendar"})
        assert answer.status in (201, 204)
    caldav_reader = CaldavCalendarReader(radicale.url, username=USER, password=lambda: PASSWORD)
    through_caldav = interviews_read(tmp_path / "caldav", caldav_reader, str(calendar.url))

    with GoogleEmulator(user_email=ME) as emu:
        for event in EVENTS:
            emu.put_event("primary", google_json(event))
        token = tmp_path / "google-token.json"
        emu.write_authorized_user_file(str(token))
        google_reader = GoogleCalendarReader(
            load_credentials(token, token_uri=emu.token_uri),
            token,
            api_endpoint=emu.calendar_endpoint,
        )
        through_google = interviews_read(tmp_path / "google", google_reader, "primary")

    assert through_caldav == through_google
    onsite_start = datetime(2026, 12, 9, 0, 0, tzinfo=PARIS)
    assert through_caldav == [
        ("onsite-1", onsite_start, onsite_start + timedelta(days=1), ["jane@acme.test"]),
        (
            "teams-1",
            datetime(2026, 12, 3, 10, 0, tzinfo=PARIS),
            datetime(2026, 12, 3, 11, 0, tzinfo=PARIS),
            ["lee@acme.test", "raj@acme.test"],
        ),
        (
            "zoom-1",
            datetime(2026, 12, 2, 14, 0, tzinfo=PARIS),
            datetime(2026, 12, 2, 15, 0, tzinfo=PARIS),
            ["jane@acme.test"],
        ),
    ]


# ------------------------------------------------------------------- time zones

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "invitations"


def start_of(text: str | bytes) -> Any:
    entry = entry_from("cal", text, ME)
    assert entry is not None
    return entry.start


def start(name: str) -> Any:
    return start_of((FIXTURES / f"{name}.ics").read_bytes())


def utc(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "order",
    [
        ("outlook-customized-europe", "outlook-customized-eastern"),
        ("outlook-customized-eastern", "outlook-customized-europe"),
    ],
)
def test_two_senders_customized_time_zones_keep_their_own_rules(order: tuple[str, str]) -> None:
    """Outlook names every zone of its own making "Customized Time Zone": each
    invitation's times follow the VTIMEZONE it carries, whichever was read first."""
    for name in order:
        start(name)  # both read once, in this order
    assert start("outlook-customized-europe") == utc(8, 8)
    assert start("outlook-customized-eastern") == utc(8, 14)


def test_windows_zone_names_are_their_iana_zones_with_or_without_a_vtimezone() -> None:
    pacific, berlin = start("teams-pacific"), start("exchange-w-europe")
    assert (pacific, str(pacific.tzinfo)) == (utc(3, 18), "America/Los_Angeles")
    assert (berlin, str(berlin.tzinfo)) == (utc(7, 13), "Europe/Berlin")


def test_a_tzid_no_one_defines_is_a_floating_time() -> None:
    """A TZID neither the zone database nor the resource knows: the user's local time,
    never the offsets of a zone another invitation defined under that name."""
    start("outlook-customized-eastern")  # icalendar now holds a "Customized Time Zone"
    text = (FIXTURES / "outlook-customized-europe.ics").read_text()
    cut = text.index("END:VTIMEZONE\n") + len("END:VTIMEZONE\n")
    assert start_of(text[: text.index("BEGIN:VTIMEZONE")] + text[cut:]) == datetime(
        2026, 12, 8, 9, 0
    )  # naive: floating
