"""Where an interview takes place: the facts each calendar reader hands over (the
LOCATION, the conference's links, the zone the start is written in), what the core
makes of them (a place, a link to join by, the invitation's zone), the store that
keeps them, and what the user sees and types (`interview add --where`, `list`,
`org show`, the export).

The same invitations read through every reader give the same answers in
tests/test_one_meaning.py; here each rule is shown on its own.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit
from support.invitations import fixture, google_events

from pursuit.connectors.google_calendar import parse_entry
from pursuit.connectors.ical import event_entries
from pursuit.connectors.memory import MemoryCalendarReader
from pursuit.daemon.errors import UserError
from pursuit.daemon.interviews import (
    Whereabouts,
    invitation_zone,
    is_meeting_link,
    meeting_link_of,
    place_of,
    safe_link,
    sync_interviews,
    where_given,
)
from pursuit.daemon.store import MIGRATIONS, Store

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
ME = "me@example.test"


def ical_entry(name: str) -> Any:
    _, [entry] = event_entries("cal", fixture(name), ME, since=SINCE)
    return entry


def google_entry(item: dict[str, Any], calendar_zone: str = "Europe/Paris") -> Any:
    entry = parse_entry("primary", {"id": "e1", **item}, calendar_zone)
    assert entry is not None
    return entry


TIMED = {
    "start": {"dateTime": "2026-12-10T09:00:00-06:00", "timeZone": "America/Chicago"},
    "end": {"dateTime": "2026-12-10T10:00:00-06:00", "timeZone": "America/Chicago"},
}


# ----------------------------------------------------------------- the readers' facts


def test_an_icalendar_reader_hands_over_the_location_links_and_zone_as_written() -> None:
    teams = ical_entry("teams-london")
    assert teams.location == "Microsoft Teams Meeting"
    [join, sip] = teams.conference_links  # Teams' URL first, Skype for Business's after
    assert join.startswith("https://teams.microsoft.com/l/meetup-join/19%3ameeting_")
    assert sip.startswith("conf:sip:miles.dyson@cyberdyne.test;gruu;")
    assert teams.start_zone == "Europe/London"  # TZID=GMT Standard Time, a Windows name
    address = ical_entry("icloud-address")
    assert address.location.split("\n") == [
        "Oscorp Tower",
        "1200 Fifth Avenue",
        "New York NY 10029",
        "United States",
    ]
    assert (address.conference_links, address.start_zone) == ((), "America/New_York")
    meet = ical_entry("google-meet")
    assert meet.conference_links == ("https://meet.google.com/ybx-kqwe-tpn",)


def test_a_zone_of_the_senders_own_rules_or_an_all_day_event_has_no_zone_name() -> None:
    assert ical_entry("outlook-customized-eastern").start_zone is None
    assert ical_entry("icloud-onsite").start_zone is None


def test_only_the_video_conference_of_rfc_7986_is_a_join_link() -> None:
    text = fixture("calendly-booking").decode()
    text = text.replace(
        "LOCATION:\n",
        "LOCATION:\nCONFERENCE;VALUE=URI;FEATURE=PHONE,MODERATOR;LABEL=Dial in:tel:+1-41"
        "2-555-0123,,,654321\nCONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Join:https:"
        "//chat.example.com/audio?id=123456\nCONFERENCE;VALUE=URI:https://chat.example.c"
        "om/plain\n",
    )
    _, [entry] = event_entries("cal", text, ME, since=SINCE)
    assert entry.conference_links == (
        "https://chat.example.com/audio?id=123456",
        "https://chat.example.com/plain",
    )


def test_a_long_location_is_bounded_and_a_link_too_long_is_dropped_not_cut() -> None:
    long = ical_entry("hostile-long-location")
    assert len(long.location) == 1000
    assert "zoom" not in long.location  # the link at its end went with the rest
    text = fixture("calendly-booking").decode()
    link = "https://meet.example.test/" + "x" * 2100
    folded = "\n ".join(link[i : i + 70] for i in range(0, len(link), 70))
    text = text.replace("LOCATION:\n", f"LOCATION:\nX-GOOGLE-CONFERENCE:{folded}\n")
    _, [entry] = event_entries("cal", text, ME, since=SINCE)
    assert entry.conference_links == ()


def test_google_hands_over_the_location_the_meet_link_and_video_entry_points_only() -> None:
    entry = google_entry(
        {
            **TIMED,
            "location": "Building 7\nRoom 210",
            "hangoutLink": "https://meet.google.com/abc-defg-hij",
            "conferenceData": {
                "entryPoints": [
                    {"entryPointType": "more", "uri": "https://tel.meet/abc-defg-hij?pin=1"},
                    {"entryPointType": "phone", "uri": "tel:+1-555-0100"},
                    {"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"},
                    {"entryPointType": "video", "uri": "https://acme.zoom.us/j/123"},
                    {"entryPointType": "sip", "uri": "sip:123@zoomcrc.com"},
                ]
            },
        }
    )
    assert entry.location == "Building 7\nRoom 210"
    assert entry.conference_links == (
        "https://meet.google.com/abc-defg-hij",
        "https://acme.zoom.us/j/123",
    )
    assert entry.start_zone == "America/Chicago"


def test_google_gives_the_events_own_zone_never_the_calendars() -> None:
    no_zone = {"dateTime": "2026-12-10T15:00:00Z"}
    assert google_entry({"start": no_zone, "end": no_zone}).start_zone is None
    day = {"date": "2026-12-10", "timeZone": "America/Chicago"}
    assert google_entry({"start": day, "end": {"date": "2026-12-11"}}).start_zone is None


@pytest.mark.parametrize(
    "odd",
    [
        {"conferenceData": "not an object"},
        {"conferenceData": {"entryPoints": "nope"}},
        {"conferenceData": {"entryPoints": [None, 3, {"entryPointType": "video"}]}},
        {"hangoutLink": 42, "location": None},
    ],
)
def test_google_fields_of_the_wrong_shape_leave_the_event_readable(odd: dict[str, Any]) -> None:
    entry = google_entry({**TIMED, **odd})
    assert (entry.location, entry.conference_links) == ("", ())
    assert entry.start == datetime(2026, 12, 10, 15, 0, tzinfo=UTC) + timedelta(0)


def test_google_events_of_the_corpus_carry_its_conference_apart_from_the_text() -> None:
    [event] = google_events(fixture("google-meet"))
    assert event["hangoutLink"] == "https://meet.google.com/ybx-kqwe-tpn"
    assert "meet.google.com" not in event["description"]
    entry = google_entry(event)
    assert entry.conference_links == ("https://meet.google.com/ybx-kqwe-tpn",)


# ------------------------------------------------------------------ what they mean


@pytest.mark.parametrize(
    ("location", "place"),
    [
        ("Initech HQ, Raum 2.14", "Initech HQ, Raum 2.14"),
        (
            "Oscorp Tower\n1200 Fifth Avenue\nNew York NY 10029",
            "Oscorp Tower, 1200 Fifth Avenue, New York NY 10029",
        ),
        ("Microsoft Teams Meeting; Conf Room Rainier (8)", "Conf Room Rainier (8)"),
        ("Microsoft Teams Meeting", None),
        ("Microsoft Teams-møde", None),  # Outlook writes it in the user's language
        ("Zoom: https://acme.zoom.us/j/123", None),
        ("https://us06web.zoom.us/j/81234567890?pwd=example", None),  # a link, not a place
        ("Zoom Room 4", "Zoom Room 4"),  # a room named after the service is a room
        ("javascript:alert(1)", None),
        ("data:text/html;base64,PHNjcmlwdD4= Room 5", "Room 5"),
        ("Room A; https://x.test/a;b=1; Room B", "Room A; Room B"),
        ("", None),
    ],
)
def test_the_place_is_the_words_of_the_location(location: str, place: str | None) -> None:
    assert place_of(location) == place


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://files.example.test/x",
        "conf:sip:jane@acme.test;gruu",
        "https://meet.google.com@evil.example/abc-defg-hij",  # another host, dressed up
        "https://",
        "https://zoom.us:notaport/j/1",
        "https://zoom.us/j/1\u202e",
        "https://zoom.us/j/" + "1" * 2000,
    ],
)
def test_a_link_that_is_not_http_or_https_to_a_plain_host_is_never_kept(link: str) -> None:
    assert safe_link(link) is None
    assert meeting_link_of([link], link, link) is None


def test_a_link_is_taken_from_text_up_to_white_space_and_never_with_it() -> None:
    assert safe_link("https://zoom.us/j/1 2") is None
    assert meeting_link_of([], "https://rooms.acme.test/4 (ask at the desk)", "") == (
        "https://rooms.acme.test/4"
    )


def test_the_conference_comes_first_then_a_link_in_the_location_then_the_description() -> None:
    zoom = "https://acme.zoom.us/j/123"
    meet = "https://meet.google.com/abc-defg-hij"
    room = "https://rooms.acme.test/4"
    assert meeting_link_of([meet], f"Room 4 {room}", zoom) == meet
    assert meeting_link_of(["javascript:x", "conf:sip:x@y"], f"Room 4 {room}", zoom) == room
    assert meeting_link_of([], "Room 4", f"Agenda: https://acme.test/agenda\n{zoom}") == zoom


def test_the_description_gives_only_a_known_meeting_services_join_link() -> None:
    calendly = (
        "Cancel: https://calendly.com/cancellations/EXAMPLE\n"
        "Reschedule: https://calendly.com/reschedulings/EXAMPLE"
    )
    assert meeting_link_of([], "", calendly) is None
    webex = (
        "Global call-in numbers: https://acme.webex.com/acme/globalcallin.php?MTID=m1\n"
        "Meeting options<https://teams.microsoft.com/meetingOptions/?organizerId=1>\n"
        "Join meeting https://acme.webex.com/acme/j.php?MTID=m2."
    )
    assert meeting_link_of([], "", webex) == "https://acme.webex.com/acme/j.php?MTID=m2"
    html = '<a href="https://acme.zoom.us/j/5?pwd=a&amp;b=c">Join</a>'
    assert meeting_link_of([], "", html) == "https://acme.zoom.us/j/5?pwd=a&b=c"
    for lookalike in ("https://zoom.us.evil.test/j/1", "https://evil.test/?zoom.us/j/1"):
        assert not is_meeting_link(lookalike)


PARIS = ZoneInfo("Europe/Paris")
DEC = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "start", "zone"),
    [
        ("America/Chicago", DEC, "America/Chicago"),
        ("Europe/Berlin", DEC, None),  # its clock reads as Paris's
        ("Africa/Lagos", DEC, None),  # +01:00 too, in December
        ("Africa/Lagos", datetime(2026, 7, 1, 9, 0, tzinfo=UTC), "Africa/Lagos"),  # not in July
        ("UTC", DEC, None),  # how a time was written, not where anyone is
        ("Etc/UTC", DEC, None),
        ("Customized Time Zone", DEC, None),
        ("../../etc/passwd", DEC, None),
        (None, DEC, None),
        ("America/Chicago", date(2026, 12, 10), None),  # all-day: no clock to read
        ("America/Chicago", datetime(2026, 12, 10, 9, 0), None),  # floating
    ],
)
def test_the_invitations_zone_is_kept_when_its_clock_differs_from_the_users(
    name: str | None, start: date, zone: str | None
) -> None:
    assert invitation_zone(name, start, PARIS) == zone


def test_interview_add_where_takes_a_link_a_place_or_both() -> None:
    link = "https://acme.zoom.us/j/123"
    assert where_given(link) == Whereabouts(meeting_link=link)
    assert where_given("  Acme HQ,  room 4 ") == Whereabouts(location="Acme HQ, room 4")
    assert where_given(f"Room 4 or {link}") == Whereabouts(location="Room 4 or", meeting_link=link)
    assert where_given("") == Whereabouts()
    for refused in ("javascript:alert(1)", "file:///etc/passwd", "https://a@evil.test/"):
        with pytest.raises(UserError, match="not a link pursuit can keep"):
            where_given(refused)


# ------------------------------------------------------------------------ the store


def test_a_database_of_version_9_keeps_its_interviews_and_learns_where_they_are(
    tmp_path: Path,
) -> None:
    """Migration 10: three columns; the interviews stored before keep everything, with
    no place until their calendar gives it again (migration 11 has it read again)."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:9]:
        db.executescript(script)
    db.executescript(
        "INSERT INTO organizations (id, name, status_changed) VALUES "
        "(1, 'Acme', '2026-11-01T00:00:00+00:00');"
        "INSERT INTO contacts (id, name) VALUES (1, 'Jane');"
        "INSERT INTO addresses (address, contact_id) VALUES ('jane@acme.test', 1);"
        "INSERT INTO interviews (id, organization_id, position, start, end, source, "
        "source_key) VALUES (1, 1, 'SRE', '2026-12-02T13:00:00+00:00', "
        "'2026-12-02T14:00:00+00:00', 'calendar', 'primary:e1');"
        "INSERT INTO interviewers (interview_id, contact_id) VALUES (1, 1);"
        "PRAGMA user_version = 9;"
    )
    db.commit()
    db.close()
    store = Store.open(path)
    try:
        [before] = store.interviews()
        assert (before.position, before.start, before.source) == (
            "SRE",
            datetime(2026, 12, 2, 13, 0, tzinfo=UTC),
            "calendar",
        )
        assert [p.contact.address for p in before.interviewers] == ["jane@acme.test"]
        assert (before.location, before.meeting_link, before.zone) == (None, None, None)
        store.set_interview(
            1,
            start=before.start,
            end=before.end,
            interviewers=[1],
            location="Acme HQ",
            meeting_link="https://acme.zoom.us/j/1",
            zone="America/Chicago",
        )
        after = store.interview(1)
        assert (after.location, after.meeting_link, after.zone) == (
            "Acme HQ",
            "https://acme.zoom.us/j/1",
            "America/Chicago",
        )
        store.move_interview(1, before.start + timedelta(hours=1), before.end + timedelta(hours=1))
        assert store.interview(1).location == "Acme HQ"  # a move keeps where it is
    finally:
        store.close()


def test_after_the_upgrade_each_calendar_is_read_whole_once_and_its_interviews_learn_where(
    tmp_path: Path,
) -> None:
    """Migration 11: the calendars' cursors are forgotten (the other sources' are kept),
    so the next round lists every event again and an interview stored before learns
    its place, link and zone, staying the one interview it was."""
    uid, entries = event_entries("personal", fixture("teams-london"), ME, since=SINCE)
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:9]:
        db.executescript(script)
    db.executescript(
        "INSERT INTO organizations (id, name, status_changed) VALUES "
        "(1, 'Cyberdyne', '2026-11-01T00:00:00+00:00');"
        "INSERT INTO domains (domain, organization_id) VALUES ('cyberdyne.test', 1);"
        "INSERT INTO interviews (id, organization_id, start, end, source, source_key) "
        "VALUES (1, 1, '2026-12-11T10:00:00+00:00', '2026-12-11T11:00:00+00:00', "
        f"'calendar', 'personal:{uid}');"
        "INSERT INTO cursors (source, value, updated) VALUES "
        "('calendar:personal', 'token-9', '2026-11-28T09:00:00+00:00'), "
        "('gmail', '4242', '2026-11-28T09:00:00+00:00');"
        "PRAGMA user_version = 9;"
    )
    db.commit()
    db.close()
    store = Store.open(path)
    try:
        assert store.cursor("calendar:personal") is None
        assert store.cursor("gmail") == "4242"
        reader = MemoryCalendarReader()
        for entry in entries:
            reader.put(entry)
        now = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
        sync_interviews(store, reader, ["personal"], now, lookback=timedelta(days=30))
        [interview] = store.interviews()
        assert interview.id == 1
        assert (interview.location, interview.zone) == (None, "Europe/London")
        assert (interview.meeting_link or "").startswith("https://teams.microsoft.com/l/")
    finally:
        store.close()


# ------------------------------------------------------------- what the user sees


def test_interview_add_where_is_kept_listed_shown_exported_and_kept_by_a_move(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    link = "https://acme.zoom.us/j/5550100?pwd=abc"
    said = p.ok(
        "interview", "add", "acme", "--at", "2026-12-09 14:00", "--with", "jane@acme.com",
        "--where", link,
    )  # fmt: skip
    assert said.strip().endswith("with jane@acme.com, online (acme.zoom.us)")
    said = p.ok(
        "interview", "add", "acme", "--at", "2026-12-10 10:00", "--where", "Acme HQ, room 4"
    )
    assert said.strip().endswith(", at Acme HQ, room 4")
    listed = p.ok("interview", "list").splitlines()
    assert listed[0].endswith("with jane@acme.com, online (acme.zoom.us)")
    assert listed[1].endswith("with nobody named, at Acme HQ, room 4")
    assert "#2 Thu 10 Dec 10:00 at Acme HQ, room 4" in p.ok("org", "show", "acme")
    p.ok("interview", "move", "1", "--at", "2026-12-09 16:00")
    [first, second] = json.loads(p.ok("interview", "list", "--json"))
    assert (first["location"], first["meeting_link"], first["zone"]) == (None, link, None)
    assert (second["location"], second["meeting_link"]) == ("Acme HQ, room 4", None)
    exported = {i["id"]: i for i in p.export()["interviews"]}
    assert exported[1].items() >= {"location": None, "meeting_link": link, "zone": None}.items()
    assert exported[2]["location"] == "Acme HQ, room 4"


def test_interview_add_refuses_a_where_that_is_a_link_of_another_kind(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    error = p.one_line_error(
        "interview", "add", "acme", "--at", "2026-12-09 14:00", "--where", "javascript:alert(1)"
    )
    assert "--where 'javascript:alert(1)' is not a link pursuit can keep" in error
    assert p.export()["interviews"] == []


def test_an_invitations_place_link_and_zone_reach_the_list_and_the_export(
    tmp_path: Path,
) -> None:
    """From the calendar: the Teams invitation from London, read (as any reader gives it)
    into the user's database, then looked at with the commands."""
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Cyberdyne", "--domain", "cyberdyne.test")
    p.ok("org", "add", "Oscorp", "--domain", "oscorp.test")
    reader = MemoryCalendarReader()
    for name in ("teams-london", "icloud-address"):
        for entry in event_entries("personal", fixture(name), ME, since=SINCE)[1]:
            reader.put(entry)
    store = Store.open(p.database)
    try:
        now = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
        sync_interviews(
            store, reader, ["personal"], now, lookback=timedelta(days=30), timezone=PARIS
        )
    finally:
        store.close()
    listed = p.ok("interview", "list", "cyberdyne")
    assert listed.strip().endswith("online (teams.microsoft.com)")
    assert "at Oscorp Tower, 1200 Fifth Avenue, New…" in p.ok("interview", "list", "oscorp")
    exported = {i["organization"]: i for i in p.export()["interviews"]}
    assert exported["Cyberdyne"]["zone"] == "Europe/London"
    assert exported["Cyberdyne"]["meeting_link"].startswith(
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
    )
    assert exported["Oscorp"]["location"] == (
        "Oscorp Tower, 1200 Fifth Avenue, New York NY 10029, United States"
    )
    assert exported["Oscorp"]["zone"] == "America/New_York"
