"""Where an interview takes place: the facts each calendar reader hands over (the
LOCATION, the conference's links, the zone the start is written in), what the core
makes of them (a place, a link to join by, the invitation's zone), the store that
keeps them, and what the user sees and types (`interview add --where`, `list`,
`org show`, the export).

The same invitations read through every reader give the same answers in
tests/test_one_meaning.py; here each rule is shown on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.invitations import fixture, google_events

from pursuit.connectors.google_calendar import parse_entry
from pursuit.connectors.ical import event_entries

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
