"""The position an interview is for, when nobody said: the one the user applied for
there, when there is one alone, whichever path recorded the interview."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support.cli import Pursuit

from pursuit.connectors.base import Attendee, CalendarEntry
from pursuit.connectors.memory import MemoryCalendarReader
from pursuit.daemon.interviews import sync_interviews
from pursuit.daemon.store import Store


@pytest.mark.parametrize(
    ("positions", "subject"),
    [
        (["Network Engineer"], "Subject: Thank you – Network Engineer interview"),
        (["Network Engineer", "SRE"], "Subject: Thank you for your time today"),
        ([], "Subject: Thank you for your time today"),
    ],
)
def test_interview_add_takes_the_one_position_applied_for(
    tmp_path: Path, written_now: datetime, positions: list[str], subject: str
) -> None:
    p = Pursuit(tmp_path)
    flags = [arg for position in positions for arg in ("--position", position)]
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com", *flags)
    p.ok("interview", "add", "acme", "--at", "today 09:00", "--with", "jane@acme.com")
    assert subject in p.ok("draft", "1")


@pytest.mark.parametrize(
    ("positions", "expected"),
    [(("Network Engineer",), "Network Engineer"), (("Network Engineer", "SRE"), None)],
)
def test_the_calendar_path_asks_the_same(
    tmp_path: Path, positions: tuple[str, ...], expected: str | None
) -> None:
    now = datetime.fromisoformat("2026-11-30T09:00:00+01:00")
    store = Store.open(tmp_path / "state.sqlite3")
    try:
        store.add_organization("Acme Networks", ["acme.com"], list(positions), now=now)
        reader = MemoryCalendarReader()
        start = now + timedelta(days=1)
        reader.put(
            CalendarEntry(
                "primary",
                "ev1",
                cancelled=False,
                summary="Chat",
                start=start,
                end=start + timedelta(hours=1),
                attendees=(Attendee("jane@acme.com", "Jane Doe"),),
            )
        )
        sync_interviews(store, reader, ["primary"], now, lookback=timedelta(days=30))
        [interview] = store.interviews()
        assert interview.position == expected
    finally:
        store.close()
