"""A CalDAV calendar holding more events than the server answers in one query (issue 20).

Radicale refuses (400) a REPORT whose answer would hold more than `[reporting]
max_expand_occurrence` events, 10,000 by default; the test server is given 5 so that
20 interviews are "too many". pursuit reads such a calendar in smaller ranges, and
the changes since a sync token in smaller multigets: every interview is found.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from support.radicale_server import PASSWORD, USER, RadicaleServer, running

from pursuit.connectors.caldav import CaldavCalendar, CaldavCalendarReader

LIMIT = 5

pytestmark = pytest.mark.reliability


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    yield from running(tmp_path, max_events=LIMIT)


def put_interviews(calendar: Any, start: datetime, count: int, prefix: str) -> None:
    for n in range(count):
        vevent = icalendar.Event()
        vevent.add("uid", f"{prefix}{n}@phone")
        vevent.add("dtstamp", start)
        vevent.add("dtstart", start + timedelta(hours=5 * n))
        vevent.add("dtend", start + timedelta(hours=5 * n + 1))
        vevent.add("summary", f"Interview {prefix}{n}")
        vevent.add("attendee", f"mailto:jane{n}@acme.com")
        cal = icalendar.Calendar()
        cal.add("prodid", "-//phone//EN")
        cal.add("version", "2.0")
        cal.add_component(vevent)
        calendar.save_event(cal.to_ical().decode())


@pytest.mark.parametrize("use_sync_tokens", [True, False], ids=["sync tokens", "etags"])
def test_more_events_than_one_query_returns_are_all_read(
    radicale: RadicaleServer, use_sync_tokens: bool
) -> None:
    owner = CaldavCalendar(radicale.url, username=USER, password=lambda: PASSWORD)
    personal = owner._principal_of().make_calendar(name="Personal", cal_id="personal")
    now = datetime.now(UTC).replace(microsecond=0)
    put_interviews(personal, now + timedelta(days=1), 20, "a")
    with pytest.raises(Exception, match="400"):  # the server does refuse one query
        personal.search(event=True, start=now, expand=False)

    reader = CaldavCalendarReader(
        radicale.url, username=USER, password=lambda: PASSWORD, use_sync_tokens=use_sync_tokens
    )
    calendar_id = str(personal.url)
    first = reader.changes(calendar_id, None, since=now - timedelta(days=1))
    assert sorted(e.summary for e in first.entries) == sorted(f"Interview a{n}" for n in range(20))

    # twenty more, read as changes since the cursor (a multiget of twenty: refused too)
    put_interviews(personal, now + timedelta(days=30), 20, "b")
    later = reader.changes(calendar_id, first.cursor, since=now - timedelta(days=1))
    assert sorted(e.summary for e in later.entries) == sorted(f"Interview b{n}" for n in range(20))
