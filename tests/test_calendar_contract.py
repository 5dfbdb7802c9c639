"""The calendar contracts, run against every implementation.

`Calendar` (where pursuit writes its events): in memory, a .ics file, Google.
`CalendarReader` (the user's calendars, where interviews are): in memory, Google.
The Google ones run through the local emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from support.contracts import (
    CalendarContract,
    CalendarReaderContract,
    GoogleAccount,
    OnGoogleEmulator,
    event,
)

from pursuit.connectors.base import Attendee, Calendar, CalendarEntry, CalendarReader, event_id_for
from pursuit.connectors.ics import IcsCalendar
from pursuit.connectors.memory import MemoryCalendar, MemoryCalendarReader

# ------------------------------------------------------------------------- Calendar


class TestMemoryCalendar(CalendarContract):
    @pytest.fixture
    def reopen(self) -> Callable[[], Calendar]:
        shared = MemoryCalendar()
        return lambda: shared


class TestIcsCalendar(CalendarContract):
    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], Calendar]:
        return lambda: IcsCalendar(tmp_path / "calendar.ics")


class TestGoogleCalendar(OnGoogleEmulator, CalendarContract):
    @pytest.fixture
    def reopen(self, google: GoogleAccount) -> Callable[[], Calendar]:
        from pursuit.connectors.google_calendar import GoogleCalendar

        return lambda: GoogleCalendar(
            google.credentials(), google.token_file, api_endpoint=google.emu.calendar_endpoint
        )


# ------------------------------------------------------------------- CalendarReader


class MemoryCalendars:
    calendar_id = "primary"

    def __init__(self) -> None:
        self.shared = MemoryCalendarReader()

    def reader(self) -> CalendarReader:
        return self.shared

    def put(
        self,
        event_id: str,
        summary: str,
        start: datetime,
        *,
        attendees: Sequence[tuple[str, str]] = (),
    ) -> None:
        people = tuple(Attendee(address.lower(), name) for address, name in attendees)
        self.shared.put(
            CalendarEntry(
                self.calendar_id,
                event_id,
                cancelled=False,
                summary=summary,
                start=start,
                end=start + timedelta(hours=1),
                attendees=people,
            )
        )

    def cancel(self, event_id: str) -> None:
        self.shared.put(CalendarEntry(self.calendar_id, event_id, cancelled=True))

    def expire_cursors(self) -> None:
        self.shared.expire_cursors()


class GoogleCalendars:
    calendar_id = "primary"

    def __init__(self, google: GoogleAccount) -> None:
        self.google = google

    def reader(self) -> CalendarReader:
        from pursuit.connectors.google_calendar import GoogleCalendarReader

        return GoogleCalendarReader(
            self.google.credentials(),
            self.google.token_file,
            api_endpoint=self.google.emu.calendar_endpoint,
        )

    def put(
        self,
        event_id: str,
        summary: str,
        start: datetime,
        *,
        attendees: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.google.emu.put_event(
            self.calendar_id,
            {
                "id": event_id,
                "summary": summary,
                "start": {"dateTime": start.isoformat()},
                "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
                "attendees": [{"email": a, "displayName": n} for a, n in attendees],
            },
        )

    def cancel(self, event_id: str) -> None:
        self.google.emu.cancel_event(self.calendar_id, event_id)

    def expire_cursors(self) -> None:
        self.google.emu.expire_sync_tokens()


class TestMemoryCalendarReader(CalendarReaderContract):
    @pytest.fixture
    def calendars(self) -> MemoryCalendars:
        return MemoryCalendars()


class TestGoogleCalendarReader(OnGoogleEmulator, CalendarReaderContract):
    @pytest.fixture
    def calendars(self, google: GoogleAccount) -> GoogleCalendars:
        return GoogleCalendars(google)


# --------------------------------------------------------------- one implementation


def test_event_ids_are_valid_google_ids_and_stable() -> None:
    ident = event_id_for("follow_up:1:1")
    assert ident == event_id_for("follow_up:1:1") != event_id_for("follow_up:1:2")
    assert 5 <= len(ident) <= 1024
    assert set(ident) <= set("0123456789abcdefghijklmnopqrstuv")


def test_the_ics_file_keeps_others_events_out_and_reports_a_broken_file(tmp_path: Path) -> None:
    from pursuit.daemon.errors import SourceError

    path = tmp_path / "calendar.ics"
    path.write_text("this is not a calendar")
    with pytest.raises(SourceError, match=r"calendar\.ics.*not a readable iCalendar file"):
        IcsCalendar(path).events()
    assert path.read_text() == "this is not a calendar"  # nothing lost


def test_the_ics_file_is_replaced_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calendar.ics"
    cal = IcsCalendar(path)
    cal.upsert(event())
    cal.flush()
    before = path.read_bytes()

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", fail)
    cal = IcsCalendar(path)
    cal.upsert(event("thank_you:1"))
    with pytest.raises(OSError, match="disk full"):
        cal.flush()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["calendar.ics"]  # no temporary left


USERS_OWN_CALENDAR = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Someone//Their calendar//EN\r
BEGIN:VEVENT\r
UID:dentist-2026@example.org\r
DTSTAMP:20261101T090000Z\r
DTSTART:20261203T090000Z\r
DTEND:20261203T100000Z\r
SUMMARY:Dentist\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_an_ics_file_with_entries_pursuit_did_not_write_is_refused_and_left_intact(
    tmp_path: Path,
) -> None:
    from pursuit.daemon.errors import SourceError

    path = tmp_path / "personal.ics"
    path.write_bytes(USERS_OWN_CALENDAR)
    cal = IcsCalendar(path)
    with pytest.raises(SourceError) as raised:
        cal.upsert(event())
    message = str(raised.value)
    assert str(path) in message and "1 entry pursuit did not write" in message
    assert "Set [calendar] ics_file in the config to a file of its own" in message
    with pytest.raises(SourceError):
        cal.upsert(event())  # asked again: refused again, never taken for empty
    cal.flush()  # nothing was taken in, so nothing is written
    assert path.read_bytes() == USERS_OWN_CALENDAR  # byte for byte


def test_event_ids_differ_between_installs_and_stay_as_they_were_without_one(
    tmp_path: Path,
) -> None:
    key = "thank_you:1"
    assert event_id_for(key, "") == event_id_for(key)  # an upgraded install keeps its ids
    first, second = event_id_for(key, "a1" * 16), event_id_for(key, "b2" * 16)
    assert len({first, second, event_id_for(key)}) == 3
    assert set(first) <= set("0123456789abcdefghijklmnopqrstuv")

    uids = []
    for install in ("a1" * 16, "b2" * 16, ""):
        path = tmp_path / f"{install or 'legacy'}.ics"
        cal = IcsCalendar(path, install_id=install)
        cal.upsert(event(key))
        cal.flush()
        [vevent] = icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")
        uids.append(str(vevent["UID"]))
        assert str(vevent["X-PURSUIT-KEY"]) == key  # the key itself never changes
        assert set(IcsCalendar(path, install_id=install).events()) == {key}
    assert uids == [f"{first}@pursuit", f"{second}@pursuit", f"{event_id_for(key)}@pursuit"]
