"""CalDAV against a real Radicale on 127.0.0.1: pursuit's calendar passes the
calendar contract, the reader the reader contract (with sync tokens, and by
ETags for servers without them), and failures name the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from support.contracts import NOW, CalendarContract, CalendarReaderContract, event
from support.radicale_server import PASSWORD, USER, RadicaleServer, running

from pursuit.connectors.base import Calendar, CalendarReader
from pursuit.connectors.caldav import CALENDAR_SLUG, CaldavCalendar, CaldavCalendarReader
from pursuit.daemon.errors import AuthError, SourceError


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    yield from running(tmp_path)


def pursuit_calendar(server: RadicaleServer, **options: Any) -> CaldavCalendar:
    return CaldavCalendar(server.url, username=USER, password=lambda: PASSWORD, **options)


class TestCaldavCalendar(CalendarContract):
    @pytest.fixture
    def reopen(self, radicale: RadicaleServer) -> Callable[[], Calendar]:
        return lambda: pursuit_calendar(radicale, install_id="ab" * 16)


class RadicaleCalendars:
    """The user's own calendar on Radicale, changed the way a calendar app would."""

    def __init__(self, server: RadicaleServer, *, use_sync_tokens: bool = True) -> None:
        self.server = server
        self.use_sync_tokens = use_sync_tokens
        self.owner = pursuit_calendar(server)
        principal = self.owner._principal_of()
        self.calendar = principal.make_calendar(name="Personal", cal_id="personal")
        self.calendar_id = str(self.calendar.url)

    def reader(self) -> CalendarReader:
        return CaldavCalendarReader(
            self.server.url,
            username=USER,
            password=lambda: PASSWORD,
            use_sync_tokens=self.use_sync_tokens,
        )

    def put(
        self,
        event_id: str,
        summary: str,
        start: datetime,
        *,
        attendees: Sequence[tuple[str, str]] = (),
    ) -> None:
        vevent = icalendar.Event()
        vevent.add("uid", event_id)
        vevent.add("dtstamp", datetime.now(UTC))
        vevent.add("dtstart", start)
        vevent.add("dtend", start + timedelta(hours=1))
        vevent.add("summary", summary)
        for address, name in attendees:
            vevent.add("attendee", f"mailto:{address}", parameters={"CN": name})
        cal = icalendar.Calendar()
        cal.add("prodid", "-//a calendar app//EN")
        cal.add("version", "2.0")
        cal.add_component(vevent)
        href = str(self.calendar.url.join(f"{event_id}.ics"))
        answer = self.owner._client().put(href, cal.to_ical(), {"Content-Type": "text/calendar"})
        assert answer.status in (201, 204)

    def cancel(self, event_id: str) -> None:
        answer = self.owner._client().delete(str(self.calendar.url.join(f"{event_id}.ics")))
        assert answer.status in (200, 204)

    def expire_cursors(self) -> None:
        self.server.expire_sync_tokens()


class TestCaldavCalendarReader(CalendarReaderContract):
    @pytest.fixture
    def calendars(self, radicale: RadicaleServer) -> RadicaleCalendars:
        return RadicaleCalendars(radicale)


class TestCaldavCalendarReaderByEtags(CalendarReaderContract):
    """A server without sync tokens: compared by ETags; nothing there expires."""

    @pytest.fixture
    def calendars(self, radicale: RadicaleServer) -> RadicaleCalendars:
        return RadicaleCalendars(radicale, use_sync_tokens=False)

    def test_an_expired_cursor_raises_cursor_expired(self, calendars: Any) -> None:
        pytest.skip("ETags do not expire")


# --------------------------------------------------------------- one implementation


def test_pursuits_calendar_is_made_once_and_found_again(radicale: RadicaleServer) -> None:
    pursuit_calendar(radicale).upsert(event())
    pursuit_calendar(radicale).upsert(event("thank_you:1"))
    made = [p for m, p in radicale.requests if m == "MKCALENDAR"]
    assert made == [f"/{USER}/{CALENDAR_SLUG}/"]
    assert set(pursuit_calendar(radicale).events()) == {"follow_up:1:1", "thank_you:1"}
    # the user's calendars for interviews never include pursuit's own
    reader = CaldavCalendarReader(radicale.url, username=USER, password=lambda: PASSWORD)
    assert reader.calendar_ids() == []


def test_a_server_that_refuses_to_create_a_calendar_says_how_to_name_one(
    radicale: RadicaleServer,
) -> None:
    mine = pursuit_calendar(radicale)._principal_of().make_calendar(name="Work", cal_id="work")
    radicale.refuse_mkcalendar = True
    with pytest.raises(SourceError) as raised:
        pursuit_calendar(radicale).upsert(event())
    message = str(raised.value)
    assert message.startswith(f"caldav 127.0.0.1:{radicale.url.rsplit(':', 1)[1].rstrip('/')}:")
    assert "refused to create the calendar 'Job search (pursuit)' (403 Forbidden)" in message
    assert '[calendar] calendar = "..."' in message and "'Work'" in message

    named = pursuit_calendar(radicale, existing="Work")
    named.upsert(event())
    assert list(named.events()) == ["follow_up:1:1"]
    assert len(mine.get_events()) == 1

    with pytest.raises(SourceError, match=r"no calendar named 'Holidays'.*'Work'"):
        pursuit_calendar(radicale, existing="Holidays").upsert(event())


def test_a_server_answering_500_is_a_source_error_naming_it_and_nothing_is_doubled(
    radicale: RadicaleServer,
) -> None:
    calendar = pursuit_calendar(radicale)
    calendar.upsert(event())
    radicale.failing = True
    with pytest.raises(SourceError) as raised:
        calendar.upsert(event(summary="Moved"))
    assert str(raised.value).startswith("caldav 127.0.0.1:")
    assert "500" in str(raised.value) and "storage exploded" not in str(raised.value)
    with pytest.raises(SourceError, match="500"):
        pursuit_calendar(radicale).events()
    radicale.failing = False
    calendar.upsert(event(summary="Moved"))  # the outbox repeats it
    assert pursuit_calendar(radicale).events() == {"follow_up:1:1": event(summary="Moved")}


def test_a_wrong_password_is_an_auth_error_naming_the_server(radicale: RadicaleServer) -> None:
    calendar = CaldavCalendar(radicale.url, username=USER, password=lambda: "wrong")
    with pytest.raises(AuthError, match=r"caldav 127\.0\.0\.1:\d+: login refused for me"):
        calendar.events()


def test_interview_details_are_read_and_cleaned(radicale: RadicaleServer) -> None:
    world = RadicaleCalendars(radicale)
    world.put(
        "iv",
        "Interview\u202e with Acme",
        NOW + timedelta(days=1),
        attendees=[("Jane@Acme.test", "Jane\r\nDoe"), (f"{USER}@example.test", "Me")],
    )
    [entry] = world.reader().changes(world.calendar_id, None, since=NOW).entries
    assert entry.summary == "Interview with Acme"
    assert next((a.email, a.name) for a in entry.attendees) == ("jane@acme.test", "Jane Doe")
