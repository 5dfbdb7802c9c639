"""One invitation, one meaning: the same events read through CalDAV (a real Radicale,
with sync tokens and by ETags), through Google Calendar (the emulator, with the real
client libraries), through Microsoft Graph (the emulator, over HTTPS with the real
msal and requests) and straight from their iCalendar text (the memory reader) give
the same interviews, because the readers hand over facts and `daemon/interviews.py`
alone decides what they mean.

The corpus (tests/fixtures/invitations, each file naming the public sample it
follows) holds what real invitations do: Outlook and Exchange's Windows zone names
with and without their VTIMEZONE, Outlook's "Customized Time Zone" from two senders
with two sets of rules, a zone of Exchange's own naming on a daily series, a Zoom or
Calendly booking whose one other person is its ORGANIZER, a room, an all-day onsite,
a Google series with an EXDATE and an occurrence moved with another interviewer, a
Thunderbird series with a cancelled occurrence; and where each takes place: a Google
Meet conference, Teams' link in its X-MICROSOFT property and in its text, a Webex link
as LOCATION, an address over several lines, a hostile invitation's javascript: and
data: addresses, a location of over 2,000 characters. Then the organizers change them:
a cancellation, a move (SEQUENCE up), an EXDATE added, an occurrence moved and another
cancelled, an onsite moved to another building, an event deleted; each interview (its
place, link and zone too) and its duties follow, on every path.

On Outlook each invitation is what Exchange makes of it (`GraphEmulator.import_ics`):
UTC times with the sender's zone in `originalStartTimeZone` (Graph's custom-zone
marker for a zone of the sender's own), the DESCRIPTION as the body, Teams' link as
`onlineMeeting`, each instance of a series listed with an id of its own, its
`seriesMasterId` and `originalStart`; an update replaces the item of its UID, and a
deleted event stays on the calendar cancelled. It is read twice: from the delta
link, where an EXDATE added or an occurrence gone comes back as its instance id
alone (`@removed`), and with the delta link expired (410), where the window is read
whole again and what is no longer listed is cancelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from support.google_emulator import GoogleEmulator
from support.graph_emulator import GraphEmulator
from support.invitations import cancellation, fixture, google_events, google_id, uid_of
from support.radicale_server import PASSWORD, USER, RadicaleServer, running

from pursuit.config.settings import Settings, parse_settings
from pursuit.connectors.base import CalendarEntry, CalendarReader
from pursuit.connectors.caldav import CaldavCalendar, CaldavCalendarReader
from pursuit.connectors.google_auth import load_credentials
from pursuit.connectors.google_calendar import GoogleCalendarReader
from pursuit.connectors.graph import GraphClient
from pursuit.connectors.ical import event_entries
from pursuit.connectors.memory import MemoryCalendarReader
from pursuit.connectors.microsoft_auth import MicrosoftSignIn
from pursuit.connectors.outlook_calendar import OutlookCalendarReader
from pursuit.connectors.text import LOCATION_LIMIT
from pursuit.daemon.interviews import sync_interviews
from pursuit.daemon.jobs import plan
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


# ------------------------------------------------------------------ the corpus


#: The organizations the user follows, by the domain their people write from.
ORGANIZATIONS = {
    "Acme Networks": "acme.test",
    "Globex": "globex.test",
    "Initech": "initech.test",
    "Umbrella": "umbrella.test",
    "Hooli": "hooli.test",
    "Vandelay Industries": "vandelay.test",
    "Pied Piper": "piedpiper.test",
    "Soylent": "soylent.test",
    "Wonka Industries": "wonka.test",
    "Stark Industries": "stark.test",
    "Massive Dynamic": "massive.test",
    "Cyberdyne": "cyberdyne.test",
    "Initrode": "initrode.test",
    "Oscorp": "oscorp.test",
    "Tyrell": "tyrell.test",
    "Weyland-Yutani": "weyland.test",
}
CORPUS = (
    "teams-pacific",
    "exchange-w-europe",
    "outlook-customized-europe",
    "outlook-customized-eastern",
    "exchange-cdo-daily",
    "zoom-host",
    "google-loop",
    "calendly-booking",
    "icloud-onsite",
    "thunderbird-series",
    "google-meet",
    "teams-london",
    "webex-scheduler",
    "icloud-address",
    "hostile-javascript",
    "hostile-long-location",
)
#: What the organizers do next: each file replaces the event of the first name.
UPDATES = {
    "teams-pacific": "teams-pacific-cancelled",
    "outlook-customized-europe": "outlook-customized-europe-moved",
    "exchange-cdo-daily": "exchange-cdo-daily-exdate",
    "google-loop": "google-loop-updated",
    "icloud-address": "icloud-address-moved",
}
DELETED = ("zoom-host", "thunderbird-series")
#: The IANA zone Google gives a series whose TZID is the sender's own.
GOOGLE_ZONES = {"GMT +0100 (Standard) / GMT +0200 (Daylight)": "Europe/Berlin"}
LOOKBACK = timedelta(days=30)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


#: The place of the invitation whose LOCATION is over 2,000 characters: its first
#: LOCATION_LIMIT (1,000), the link at its end cut off with the rest.
LONG_PLACE = ("Weyland-Yutani Corp, Building 4, " + "Hadley's Hope colony road, " * 80)[
    :LOCATION_LIMIT
].strip(" ,")
TEAMS_LONDON = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_Y3liZXJkeW5lLWludGVydmlldw"
    "%40thread.v2/0?context=%7b%22Tid%22%3a%2211111111-2222-3333-4444-555555555555%22"
    "%2c%22Oid%22%3a%2266666666-7777-8888-9999-000000000000%22%7d"
)
#: (place, meeting link, the invitation's zone) of each file: the place without the
#: links or a service's name, the conference's link first, the zone only where its
#: clock differs from Paris's (not Berlin's, not a time written in UTC).
WHERE: dict[str, tuple[str | None, str | None, str | None]] = {
    "teams-pacific": (
        "Conf Room Rainier (8)",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_example%40thread.v2/0",
        "America/Los_Angeles",
    ),
    "exchange-w-europe": ("Initech HQ, Raum 2.14", None, None),
    "zoom-host": (None, "https://us06web.zoom.us/j/81234567890?pwd=example", "America/New_York"),
    "google-meet": (None, "https://meet.google.com/ybx-kqwe-tpn", "America/Chicago"),
    "teams-london": (None, TEAMS_LONDON, "Europe/London"),
    "webex-scheduler": (
        None,
        "https://initrode.webex.com/initrode/j.php?MTID=m4f1c2a9b7d3e5f60718293a4b5c6d7e8",
        "Asia/Calcutta",
    ),
    "icloud-address": (
        "Oscorp Tower, 1200 Fifth Avenue, New York NY 10029, United States",
        None,
        "America/New_York",
    ),
    "hostile-javascript": (None, "https://tyrell.zoom.us/j/5550100?pwd=Nexus6&from=addon", None),
    "hostile-long-location": (LONG_PLACE, None, None),
}


def row(
    name: str, occurrence: str, org: str, start: datetime, end: datetime, *people: str
) -> tuple[Any, ...]:
    """An interview as `interviews_held` gives it; people by the part before the @."""
    addresses = sorted(f"{p}@{ORGANIZATIONS[org]}" for p in people)
    return (name, occurrence, org, start, end, addresses, False, *WHERE.get(name, (None,) * 3))


VANDELAY = "Vandelay Industries"
#: (file, occurrence, organization, start, end, interviewers, cancelled, place, link,
#: zone), in UTC
EXPECTED = [
    row("calendly-booking", "", "Soylent", utc(1, 17), utc(1, 17, 30), "alex.rivera"),
    row("exchange-cdo-daily", "20261214T090000Z", VANDELAY, utc(14, 9), utc(14, 9, 30), "art"),
    row("exchange-cdo-daily", "20261215T090000Z", VANDELAY, utc(15, 9), utc(15, 9, 30), "art"),
    row("exchange-cdo-daily", "20261216T090000Z", VANDELAY, utc(16, 9), utc(16, 9, 30), "art"),
    row(
        "exchange-w-europe",
        "",
        "Initech",
        utc(7, 13),
        utc(7, 14),
        "bill.lumbergh",
        "joanna.kowalski",
    ),
    row(
        "google-loop",
        "20261204T130000Z",
        "Pied Piper",
        utc(4, 13),
        utc(4, 14),
        "gilfoyle",
        "monica.hall",
    ),
    row(
        "google-loop",
        "20261218T130000Z",
        "Pied Piper",
        utc(18, 15),
        utc(18, 16),
        "monica.hall",
        "richard",
    ),
    row(
        "google-meet",
        "",
        "Massive Dynamic",
        utc(10, 15),
        utc(10, 16),
        "nina.sharp",
        "walter.bishop",
    ),
    row("hostile-javascript", "", "Tyrell", utc(16, 15), utc(16, 16), "rachael"),
    row("hostile-long-location", "", "Weyland-Yutani", utc(17, 14), utc(17, 15), "ripley"),
    row("icloud-address", "", "Oscorp", utc(15, 18), utc(15, 21), "harry", "liz"),
    row("icloud-onsite", "", "Wonka Industries", utc(8, 23), utc(9, 23), "charlie"),
    row(
        "outlook-customized-eastern",
        "",
        "Hooli",
        utc(8, 14),
        utc(8, 15),
        "erlich.bachman",
        "jared.dunn",
    ),
    row("outlook-customized-europe", "", "Umbrella", utc(8, 8), utc(8, 9), "albert.wesker"),
    row("teams-london", "", "Cyberdyne", utc(11, 10), utc(11, 11), "miles.dyson", "kate.brewster"),
    row("teams-pacific", "", "Globex", utc(3, 18), utc(3, 19), "erik.lindqvist", "priya.okafor"),
    row(
        "thunderbird-series",
        "20261214T080000Z",
        "Stark Industries",
        utc(14, 8),
        utc(14, 9),
        "pepper",
    ),
    row(
        "thunderbird-series",
        "20261216T080000Z",
        "Stark Industries",
        utc(16, 8),
        utc(16, 9),
        "pepper",
    ),
    row(
        "webex-scheduler", "", "Initrode", utc(14, 13), utc(14, 14), "bill.lumbergh", "priya.raman"
    ),
    row("zoom-host", "", "Acme Networks", utc(2, 20), utc(2, 21), "jane.doe"),
]


def after_updates(rows: list[Any]) -> list[Any]:
    """EXPECTED once UPDATES and DELETED are through."""
    changed: dict[tuple[str, str], dict[str, Any]] = {
        ("teams-pacific", ""): {"cancelled": True},
        ("outlook-customized-europe", ""): {"start": utc(9, 10), "end": utc(9, 11)},
        ("exchange-cdo-daily", "20261215T090000Z"): {"cancelled": True},
        ("google-loop", "20261204T130000Z"): {"start": utc(5, 9), "end": utc(5, 10)},
        ("google-loop", "20261218T130000Z"): {"cancelled": True},
        ("zoom-host", ""): {"cancelled": True},
        ("thunderbird-series", "20261214T080000Z"): {"cancelled": True},
        ("thunderbird-series", "20261216T080000Z"): {"cancelled": True},
        ("icloud-address", ""): {
            "place": "Oscorp Labs, 3 Research Park Drive, Brooklyn NY 11201, United States"
        },
    }
    out = []
    for name, occurrence, org, start, end, people, cancelled, place, link, zone in rows:
        change = changed.get((name, occurrence), {})
        start, end = change.get("start", start), change.get("end", end)
        cancelled = change.get("cancelled", cancelled)
        place = change.get("place", place)
        out.append((name, occurrence, org, start, end, people, cancelled, place, link, zone))
    return sorted(out)


class World(Protocol):
    """The user's calendar on one path, and what the invitations do to it."""

    calendar_id: str
    names: dict[str, str]  # the path's event id -> the fixture it came from

    def reader(self) -> CalendarReader: ...

    def put(self, name: str, data: bytes) -> None:
        """The invitation arrives, or replaces the earlier one of `name`."""

    def delete(self, name: str) -> None: ...


class RadicaleWorld:
    """Each invitation one resource on a real CalDAV server, as a calendar app puts it."""

    def __init__(self, server: RadicaleServer, *, use_sync_tokens: bool) -> None:
        self.server = server
        self.use_sync_tokens = use_sync_tokens
        self.owner = CaldavCalendar(server.url, username=USER, password=lambda: PASSWORD)
        principal = self.owner._principal_of()
        self.calendar = principal.make_calendar(name="Personal", cal_id=f"cal-{use_sync_tokens}")
        self.calendar_id = str(self.calendar.url)
        self.names: dict[str, str] = {}

    def reader(self) -> CalendarReader:
        return CaldavCalendarReader(
            self.server.url,
            username=USER,
            password=lambda: PASSWORD,
            use_sync_tokens=self.use_sync_tokens,
        )

    def put(self, name: str, data: bytes) -> None:
        self.names[uid_of(data)] = name
        href = str(self.calendar.url.join(f"{name}.ics"))
        answer = self.owner._client().put(href, data.decode(), {"Content-Type": "text/calendar"})
        assert answer.status in (201, 204)

    def delete(self, name: str) -> None:
        answer = self.owner._client().delete(str(self.calendar.url.join(f"{name}.ics")))
        assert answer.status in (200, 204)


class GoogleWorld:
    """Each invitation on a Google calendar, as Google's API gives it (the emulator)."""

    calendar_id = "primary"

    def __init__(self, emu: GoogleEmulator, token: Path) -> None:
        self.emu = emu
        self.token = token
        self.names: dict[str, str] = {}

    def reader(self) -> CalendarReader:
        return GoogleCalendarReader(
            load_credentials(self.token, token_uri=self.emu.token_uri),
            self.token,
            api_endpoint=self.emu.calendar_endpoint,
        )

    def put(self, name: str, data: bytes) -> None:
        self.names[google_id(uid_of(data))] = name
        for event in google_events(data, GOOGLE_ZONES):
            self.emu.put_event(self.calendar_id, event)

    def delete(self, name: str) -> None:
        [event_id] = [i for i, n in self.names.items() if n == name]
        self.emu.cancel_event(self.calendar_id, event_id)


#: Events per Graph delta page: the corpus's rounds span pages (`@odata.nextLink`).
GRAPH_PAGE = 4


class GraphWorld:
    """Each invitation on an Outlook calendar as Exchange shows it (the Graph emulator's
    `import_ics`; an update, by the invitation's UID, updates the item), read through
    Graph's calendarView/delta after msal's sign-in.

    A deleted invitation: Exchange keeps the item, cancelled (each instance of a
    series too), whether its cancellation is modelled by the emulator (`cancel_event`)
    or arrives as the organizer's CANCEL message (`by_message`). With `delta_expires`,
    each round after the first finds its deltaLink expired (410), so the reader reads
    the window whole again and the core cancels what is no longer listed."""

    def __init__(
        self,
        emu: GraphEmulator,
        signin: MicrosoftSignIn,
        *,
        delta_expires: bool = False,
        by_message: bool = False,
    ) -> None:
        self.emu = emu
        self.signin = signin
        self.delta_expires = delta_expires
        self.by_message = by_message
        self.calendar_id = emu.default_calendar_id
        self.names: dict[str, str] = {}
        self.reads = 0

    def reader(self) -> CalendarReader:
        self.reads += 1
        if self.delta_expires and self.reads > 1:
            self.emu.expire_delta_tokens()
        client = GraphClient(
            self.signin.graph_token, endpoint=self.emu.graph_endpoint, mailbox=self.emu.user
        )
        return OutlookCalendarReader(client, page_size=GRAPH_PAGE)

    def put(self, name: str, data: bytes) -> None:
        event_id, *_ = self.emu.import_ics(self.calendar_id, data)
        self.names[event_id] = name

    def delete(self, name: str) -> None:
        if self.by_message:
            self.put(name, cancellation(fixture(name)))
            return
        [event_id] = [i for i, n in self.names.items() if n == name]
        self.emu.cancel_event(event_id)


class MemoryWorld:
    """Each invitation read straight from its text (`event_entries`), the calendar in
    memory telling each change: an occurrence gone from a series comes back cancelled."""

    calendar_id = "file"

    def __init__(self) -> None:
        self.memory = MemoryCalendarReader()
        self.names: dict[str, str] = {}
        self._held: dict[str, list[CalendarEntry]] = {}

    def reader(self) -> CalendarReader:
        return self.memory

    def put(self, name: str, data: bytes) -> None:
        uid, entries = event_entries(self.calendar_id, data, since=NOW - LOOKBACK)
        self.names[uid] = name
        now_there = {e.occurrence for e in entries}
        for gone in self._held.get(name, []):
            if gone.occurrence not in now_there:
                self.memory.put(
                    CalendarEntry(self.calendar_id, uid, True, occurrence=gone.occurrence)
                )
        for entry in entries:
            self.memory.put(entry)
        self._held[name] = entries

    def delete(self, name: str) -> None:
        [uid] = [i for i, n in self.names.items() if n == name]
        self.memory.put(CalendarEntry(self.calendar_id, uid, cancelled=True))


_OCCURRENCE = re.compile(r"(?P<event>.+)_(?P<stamp>\d{8}(?:T\d{6}Z?)?)")


def interviews_held(store: Store, world: World) -> list[Any]:
    """(file, occurrence, organization, start, end, interviewers, cancelled, place,
    meeting link, zone) of each interview the store holds from the world's calendar,
    in UTC."""
    orgs = {o.id: o.name for o in store.organizations()}
    rows = []
    prefix = f"{world.calendar_id}:"
    for key, interview in store.interviews_by_source(prefix).items():
        event_id, stamp = key[len(prefix) :], ""
        if found := _OCCURRENCE.fullmatch(event_id):
            event_id, stamp = found["event"], found["stamp"]
        rows.append(
            (
                world.names[event_id],
                stamp,
                orgs[interview.organization_id],
                interview.start.astimezone(UTC),
                interview.end.astimezone(UTC),
                sorted(p.contact.address for p in interview.interviewers),
                interview.cancelled,
                interview.location,
                interview.meeting_link,
                interview.zone,
            )
        )
    return sorted(rows)


def duties_held(store: Store) -> list[Any]:
    """(organization, kind, person, due in Paris, state) of each duty."""
    orgs = {o.id: o.name for o in store.organizations()}
    people = {c.id: c.address for c in store.contacts()}
    return sorted(
        (
            orgs[d.organization_id],
            str(d.kind),
            people.get(d.contact_id) if d.contact_id is not None else None,
            d.due.astimezone(PARIS),
            str(d.state),
        )
        for d in store.duties()
    )


def live_through(world: World, folder: Path, settings: Settings) -> dict[str, list[Any]]:
    """The corpus through one path: read, planned; changed by its organizers; read
    again from the cursor, planned again."""
    folder.mkdir()
    store = Store.open(folder / "state.sqlite3")
    try:
        with store.transaction():
            for name, domain in ORGANIZATIONS.items():
                store.add_organization(name, [domain], [], now=NOW)
            store.set_account_address("imap", ME)

        def sync_and_plan() -> None:
            sync_interviews(
                store, world.reader(), [world.calendar_id], NOW, lookback=LOOKBACK, timezone=PARIS
            )
            plan(store, settings, "ics", NOW)

        for name in CORPUS:
            world.put(name, fixture(name))
        sync_and_plan()
        seen = {"interviews": interviews_held(store, world), "duties": duties_held(store)}
        for name, update in UPDATES.items():
            world.put(name, fixture(update))
        for name in DELETED:
            world.delete(name)
        sync_and_plan()
        seen |= {"updated": interviews_held(store, world), "updated duties": duties_held(store)}
        return seen
    finally:
        store.close()


def through_graph(folder: Path, settings: Settings, **variant: bool) -> dict[str, list[Any]]:
    """The corpus through an Outlook calendar: its own emulator and mailbox, signed in
    through msal's device flow as `pursuit auth microsoft` does."""
    with GraphEmulator(user=ME) as graph, pytest.MonkeyPatch.context() as env:
        for name, value in graph.env().items():
            env.setenv(name, value)
        signin = MicrosoftSignIn(
            graph.client_id,
            "organizations",
            folder.parent / f"{folder.name}-token.json",
            login_endpoint=graph.login_endpoint,
        )
        signin.sign_in(lambda message: None, mail=False)
        world = GraphWorld(graph, signin, **variant)
        return live_through(world, folder, settings)


@pytest.fixture(scope="module")
def through_every_path(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[Any]]]:
    """The corpus through each path once, for the tests below to look at."""
    folder = tmp_path_factory.mktemp("every-path")
    settings = parse_settings(
        {"timezone": "Europe/Paris", "calendar": {"ics_file": str(folder / "calendar.ics")}},
        "test config",
    )
    seen = {"memory": live_through(MemoryWorld(), folder / "memory", settings)}
    for server in running(folder):
        for tokens, label in ((True, "caldav"), (False, "caldav by etags")):
            world = RadicaleWorld(server, use_sync_tokens=tokens)
            seen[label] = live_through(world, folder / label.replace(" ", "-"), settings)
    with GoogleEmulator(user_email=ME) as emu:
        token = folder / "google-token.json"
        emu.write_authorized_user_file(str(token))
        seen["google"] = live_through(GoogleWorld(emu, token), folder / "google", settings)
    for label, variant in (
        ("microsoft", {}),
        ("microsoft, delta expired", {"delta_expires": True, "by_message": True}),
    ):
        path = folder / label.replace(", ", "-").replace(" ", "-")
        seen[label] = through_graph(path, settings, **variant)
    return seen


def same_everywhere(seen: dict[str, dict[str, list[Any]]], what: str) -> list[Any]:
    first = seen["memory"][what]
    for path, held in seen.items():
        assert held[what] == first, f"{what} through {path} differ from the memory reader's"
    return first


def test_the_corpus_gives_the_same_interviews_through_every_reader(
    through_every_path: dict[str, dict[str, list[Any]]],
) -> None:
    assert same_everywhere(through_every_path, "interviews") == EXPECTED


def test_updates_cancellations_and_deletions_move_the_interviews_on_every_path(
    through_every_path: dict[str, dict[str, list[Any]]],
) -> None:
    assert same_everywhere(through_every_path, "updated") == after_updates(EXPECTED)


def test_the_duties_follow_the_interviews_on_every_path(
    through_every_path: dict[str, dict[str, list[Any]]],
) -> None:
    before = same_everywhere(through_every_path, "duties")
    after = same_everywhere(through_every_path, "updated duties")

    def thank_you(rows: list[Any], org: str, person: str) -> list[Any]:
        return [
            (due, state)
            for o, kind, p, due, state in rows
            if (o, kind, p) == (org, "thank_you", person)
        ]

    evening = datetime(2026, 12, 9, 17, 0, tzinfo=PARIS)
    # the all-day onsite: the thank-you is that day's evening, not the next day's
    assert thank_you(before, "Wonka Industries", "charlie@wonka.test") == [(evening, "pending")]
    # a moved interview moves its thank-you (to the day it moved to)
    assert thank_you(before, "Umbrella", "albert.wesker@umbrella.test") == [
        (datetime(2026, 12, 8, 17, 0, tzinfo=PARIS), "pending")
    ]
    assert thank_you(after, "Umbrella", "albert.wesker@umbrella.test") == [(evening, "pending")]
    # a cancelled or deleted interview cancels its pending duties
    for org, person in [
        ("Globex", "priya.okafor@globex.test"),
        ("Acme Networks", "jane.doe@acme.test"),
        ("Pied Piper", "richard@piedpiper.test"),
    ]:
        assert [state for _, state in thank_you(after, org, person)] == ["cancelled"], org
    assert all(
        state == "cancelled"
        for o, _, _, _, state in after
        if o in ("Globex", "Acme Networks", "Stark Industries")
    )
    # an occurrence moved to the next morning: its thank-you is that evening
    assert (datetime(2026, 12, 5, 17, 0, tzinfo=PARIS), "pending") in thank_you(
        after, "Pied Piper", "gilfoyle@piedpiper.test"
    )


# ----------------------------------------------------------------- one by one


def starts_of(text: str | bytes) -> list[Any]:
    _, entries = event_entries("cal", text, ME, since=NOW - LOOKBACK)
    return [e.start for e in entries]


def starts(name: str) -> list[Any]:
    return starts_of(fixture(name))


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
        starts(name)  # both read once, in this order
    assert starts("outlook-customized-europe") == [utc(8, 8)]
    assert starts("outlook-customized-eastern") == [utc(8, 14)]


def test_windows_zone_names_are_their_iana_zones_with_or_without_a_vtimezone() -> None:
    [pacific] = starts("teams-pacific")
    [berlin] = starts("exchange-w-europe")
    assert (pacific, str(pacific.tzinfo)) == (utc(3, 18), "America/Los_Angeles")
    assert (berlin, str(berlin.tzinfo)) == (utc(7, 13), "Europe/Berlin")


def test_a_tzid_no_one_defines_is_a_floating_time() -> None:
    """A TZID neither the zone database nor the resource knows: the user's local time,
    never the offsets of a zone another invitation defined under that name."""
    starts("outlook-customized-eastern")  # icalendar now holds a "Customized Time Zone"
    text = fixture("outlook-customized-europe").decode()
    cut = text.index("END:VTIMEZONE\n") + len("END:VTIMEZONE\n")
    text = text[: text.index("BEGIN:VTIMEZONE")] + text[cut:]
    [start] = starts_of(text)
    assert start == datetime(2026, 12, 8, 9, 0)  # naive: floating


def test_an_occurrence_has_one_key_whichever_reader_gave_it() -> None:
    """The core's key of an occurrence is Google's instance id: `{event}_{original
    start in UTC}`, or `_{day}` all-day; the keys of interviews Google gave before
    occurrences were told apart stay what they were."""
    from pursuit.connectors.google_calendar import parse_entry
    from pursuit.daemon.interviews import source_key

    uid, entries = event_entries("cal", fixture("google-loop"), ME, since=NOW - LOOKBACK)
    assert [source_key(e) for e in entries] == [
        f"cal:{uid}_20261204T130000Z",
        f"cal:{uid}_20261218T130000Z",
    ]
    elsewhere = [
        {
            "id": "abc123_20261218T130000Z",
            "recurringEventId": "abc123",
            "originalStartTime": {"dateTime": "2026-12-18T14:00:00+01:00"},
            "start": {"dateTime": "2026-12-18T16:00:00+01:00"},
            "end": {"dateTime": "2026-12-18T17:00:00+01:00"},
        },
        {
            "id": "abc123_20261209",
            "recurringEventId": "abc123",
            "originalStartTime": {"date": "2026-12-09"},
            "start": {"date": "2026-12-10"},
            "end": {"date": "2026-12-11"},
        },
    ]
    for instance in [*google_events(fixture("google-loop"))[1:], *elsewhere]:
        entry = parse_entry("primary", instance, "Europe/Paris")
        assert entry is not None and entry.occurrence is not None
        assert source_key(entry) == f"primary:{instance['id']}"


def test_a_cancelled_instance_google_gives_by_its_id_alone_is_that_occurrence() -> None:
    """Google only promises a cancelled exception's id, recurringEventId and
    originalStartTime; with the id alone it is still that occurrence, not the series."""
    from pursuit.connectors.google_calendar import parse_entry

    for item, occurrence in [
        ({"id": "abc123_20261218T130000Z", "status": "cancelled"}, utc(18, 13)),
        ({"id": "abc123_20261209", "status": "cancelled"}, date(2026, 12, 9)),
        ({"id": "abc123", "status": "cancelled"}, None),
    ]:
        entry = parse_entry("primary", item, "Europe/Paris")
        assert entry is not None
        assert (entry.event_id, entry.occurrence, entry.cancelled) == ("abc123", occurrence, True)


def test_an_invitation_to_one_occurrence_alone_is_that_occurrence() -> None:
    """An attendee invited to one occurrence of someone's series gets it without the
    series: a VEVENT with a RECURRENCE-ID and no master."""
    text = fixture("google-loop").decode()
    master = text.index("BEGIN:VEVENT", text.index("END:VEVENT"))
    only = text[:master] + "END:VCALENDAR\n"
    uid, entries = event_entries("cal", only, ME, since=NOW - LOOKBACK)
    assert [(e.event_id, e.occurrence, e.start) for e in entries] == [
        (uid, datetime(2026, 12, 18, 14, 0, tzinfo=ZoneInfo("Europe/Paris")), utc(18, 15))
    ]
