"""A create the server received but had not carried out when pursuit was killed (issue 20).

pursuit is killed (SIGKILL, a real process) while the Google emulator holds its
`calendars.insert` or `events.insert` unanswered; the restart runs in the test
process, and the emulator carries the held request out when the test says: before
the restart looks, between two restarts, or after the restart made its own. Each
way the user ends with one "Job search (pursuit)" calendar holding each event once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from support.cli import Pursuit
from support.contracts import event
from support.google_emulator import GoogleEmulator, HeldRequests
from support.radicale_server import PASSWORD, USER, hook_requests
from support.radicale_server import running as running_radicale_server

from pursuit.connectors.caldav import CALENDAR_SLUG, CaldavCalendar
from pursuit.connectors.caldav import DEFAULT_NAME as CALDAV_NAME
from pursuit.connectors.google_calendar import DEFAULT_NAME, IN_DOUBT, MARKER

ME = "me@example.test"

pytestmark = pytest.mark.reliability


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


running_radicale = contextmanager(running_radicale_server)


def user(tmp_path: Path, emu: GoogleEmulator) -> Pursuit:
    """Yesterday's interview with Jane and Raj at Acme: pursuit plans events for it."""
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    emu.put_event(
        "primary",
        {
            "id": "interview1",
            "summary": "Interview: Network Engineer",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
            "attendees": [
                {"email": ME, "self": True},
                {"email": "jane@acme.com", "displayName": "Jane Doe"},
                {"email": "raj@acme.com", "displayName": "Raj Patel"},
            ],
        },
    )
    config = (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        f"{emu.signed_in(tmp_path)}"
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
    )
    return Pursuit(tmp_path, config=config)


def killed_while_held(p: Pursuit, held: HeldRequests) -> None:
    p.killed_once(lambda: held.wait_arrived(timeout=60))


def pursuits(emu: GoogleEmulator) -> dict[str, Counter[str]]:
    """Each calendar named as pursuit's, with how many times each event title is on it."""
    return {
        cid: Counter(
            str(e["summary"]) for e in emu.events(cid).values() if e.get("status") != "cancelled"
        )
        for cid, calendar in emu.calendars.items()
        if calendar["summary"] == DEFAULT_NAME
    }


def one_calendar_each_event_once(emu: GoogleEmulator) -> Counter[str]:
    calendars = pursuits(emu)
    assert len(calendars) == 1, calendars
    [events] = calendars.values()
    assert events and set(events.values()) == {1}, events
    return events


def test_a_calendar_create_in_flight_is_waited_for_not_made_twice(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = user(tmp_path, emu)
    held = emu.hold("calendars.insert")
    killed_while_held(p, held)
    assert pursuits(emu) == {}

    # The restart finds no calendar yet, and says why it makes none.
    result = p.run("run", "--once")
    assert "may still be on its way" in result.err + result.out, str(result)
    assert pursuits(emu) == {}

    held.release()  # Google carries out the first attempt; its answer is lost
    p.ok("run", "--once")
    events = one_calendar_each_event_once(emu)
    assert any("Thank" in title or "thank" in title for title in events), events
    assert "may still be on its way" not in p.ok("run", "--once")
    one_calendar_each_event_once(emu)


def test_a_calendar_landing_after_the_window_is_merged_into_one(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = user(tmp_path, emu)
    held = emu.hold("calendars.insert")
    killed_while_held(p, held)

    # Past the window the restart makes the calendar and writes the events...
    with time_machine.travel(datetime.now(UTC) + IN_DOUBT + timedelta(minutes=1), tick=True):
        p.ok("run", "--once")
        written = one_calendar_each_event_once(emu)
        held.release()  # ...then the first attempt lands: a second, empty calendar
        assert len(pursuits(emu)) == 2
        result = p.run("run", "--once")
        assert result.code == 0, str(result)
    assert one_calendar_each_event_once(emu) == written
    assert "was there 2 times" in result.err + result.out, str(result)


def test_a_calendar_landing_full_of_events_leaves_no_duplicate(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    """The measured case: the calendar that landed late had the events too."""
    p = user(tmp_path, emu)
    p.ok("run", "--once")
    written = one_calendar_each_event_once(emu)
    [first] = pursuits(emu)
    # A copy of pursuit's calendar with the same events, as a create that landed late
    # and a process that wrote to it before dying would leave.
    emu.add_calendar(
        "late@group.calendar.google.com", DEFAULT_NAME, app_created=True, description=MARKER
    )
    for item in emu.events(first).values():
        emu.put_event("late@group.calendar.google.com", item)
    assert len(pursuits(emu)) == 2
    p.ok("run", "--once")
    assert one_calendar_each_event_once(emu) == written


def test_an_event_create_in_flight_is_made_once(tmp_path: Path, emu: GoogleEmulator) -> None:
    p = user(tmp_path, emu)
    held = emu.hold("events.insert")
    killed_while_held(p, held)
    p.ok("run", "--once")  # writes every event again, under the same ids
    held.release()  # the first attempt lands late: the id is taken, nothing doubles
    p.ok("run", "--once")
    one_calendar_each_event_once(emu)


def test_a_caldav_calendar_made_meanwhile_is_taken_not_refused(tmp_path: Path) -> None:
    """CalDAV: pursuit's calendar has a path of its own choosing, so a create that lands
    while the restart makes it again is one calendar; the second MKCALENDAR's refusal
    is no error."""
    with running_radicale(tmp_path) as radicale:
        landed: list[str] = []

        def late_create(method: str, path: str, stage: str) -> bool:
            if method == "MKCALENDAR" and stage == "before" and not landed:
                landed.append(path)  # the first attempt lands just before this one
                first = CaldavCalendar(radicale.url, username=USER, password=lambda: PASSWORD)
                first._principal_of().make_calendar(name=CALDAV_NAME, cal_id=CALENDAR_SLUG)
            return False

        hook_requests(radicale, late_create)
        calendar = CaldavCalendar(radicale.url, username=USER, password=lambda: PASSWORD)
        calendar.upsert(event("follow_up:1:1"))
        assert landed
        assert set(calendar.events()) == {"follow_up:1:1"}
        names = [name for _, name in calendar._calendars()]
        assert names == [CALDAV_NAME]


def test_a_calendar_of_the_same_name_that_is_not_pursuits_is_left_and_costs_nothing(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    """A calendar the user made later under pursuit's name is never merged away, and is
    no reason to put every event back at every round."""
    p = user(tmp_path, emu)
    p.ok("run", "--once")
    written = one_calendar_each_event_once(emu)
    emu.add_calendar("mine@group.calendar.google.com", DEFAULT_NAME, app_created=True)
    now = datetime.now(UTC)
    emu.put_event(
        "mine@group.calendar.google.com",
        {
            "id": "dentist1",
            "summary": "Dentist",
            "start": {"dateTime": now.isoformat()},
            "end": {"dateTime": (now + timedelta(hours=1)).isoformat()},
        },
    )
    p.ok("run", "--once")
    emu.reset_counters()
    result = p.run("run", "--once")
    assert result.code == 0 and "was there" not in result.err, str(result)
    writes = [emu.call_count("calendar/v3/calendars", method=m) for m in ("POST", "PUT")]
    assert writes == [0, 0]  # nothing put back
    calendars = pursuits(emu)
    assert calendars.pop("mine@group.calendar.google.com") == Counter({"Dentist": 1})
    assert list(calendars.values()) == [written]
