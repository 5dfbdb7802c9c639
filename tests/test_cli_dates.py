"""Dates refused at the door, as the user meets them: exit 2, a message, nothing stored.

Every command that takes a date is fed a year typo, a far year, an absurd offset
and a wall-clock time the clocks skip or repeat; `pursuit export` and `pursuit
status` afterwards show the records exactly as they were.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.cli import Pursuit, duties_by

NEXT_YEAR = date.today().year + 1


def last_sunday(year: int, month: int) -> date:
    """Europe changes its clocks on the last Sunday of March and of October, at 01:00 UTC."""
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


SKIPPED = f"{last_sunday(NEXT_YEAR, 3)} 02:30"  # does not exist in Paris
REPEATED = f"{last_sunday(NEXT_YEAR, 10)} 02:30"  # happens twice in Paris
SOON = f"{date.today() + timedelta(days=10)} 14:00"


@pytest.fixture
def acme(tmp_path: Path) -> Pursuit:
    """One interview with Jane at Acme, its duties planned."""
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("interview", "add", "acme", "--at", SOON, "--with", "Jane Doe <jane@acme.com>")
    return p


def without_clock(status: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if key != "now"}


BAD_DATES = (
    (
        ("interview", "add", "acme", "--at", "0026-12-01 14:00", "--with", "x@acme.com"),
        "pursuit: '0026-12-01 14:00': the year 0026 looks like a typo; expected a date from",
    ),
    (
        ("interview", "add", "acme", "--at", "9999-12-31 23:59"),
        "'9999-12-31 23:59': the year 9999 looks like a typo",
    ),
    (
        ("interview", "add", "acme", "--at", SOON, "--end", "0026-12-01 15:00"),
        "the year 0026 looks like a typo",
    ),
    (
        ("interview", "add", "acme", "--at", SKIPPED),
        f"'{SKIPPED}' does not exist in Europe/Paris: the clocks go forward by 1 hour",
    ),
    (
        ("interview", "add", "acme", "--at", REPEATED, "--with", "x@acme.com"),
        f"'{REPEATED}' happens twice in Europe/Paris: the clocks go back that night; "
        f"give the offset: {REPEATED}+02:00 for the first (CEST) or {REPEATED}+01:00",
    ),
    (
        ("log", "email", "jane@acme.com", "Thank you", "--at", "0005-12-01 18:00"),
        "'0005-12-01 18:00': the year 0005 looks like a typo",
    ),
    (("log", "call", "jane@acme.com", "Called", "--at", SKIPPED), "does not exist"),
    (
        ("log", "email", "jane@acme.com", "Thank you", "--at", SOON),  # a wrong month, say
        f"'{SOON}' ({datetime.fromisoformat(SOON):%a %d %b %Y %H:%M}) is in the future; "
        "log what has happened",
    ),
    (("commit", "jane@acme.com", "--in", "99999999d"), "expected a duration of at most 1825d"),
    (("commit", "jane@acme.com", "--in", "9" * 30 + "w"), "at most 1825d"),
    (("commit", "jane@acme.com", "--on", "0026-12-04"), "the year 0026 looks like a typo"),
    (("interview", "move", "1", "--at", "0026-12-01 14:00"), "the year 0026 looks like"),
    (("interview", "move", "1", "--at", REPEATED), "happens twice"),
)


def test_a_bad_date_is_refused_and_nothing_is_stored(acme: Pursuit) -> None:
    before, status = acme.export(), acme.status()
    for args, expected in BAD_DATES:
        line = acme.one_line_error(*args)
        assert expected in line, args
        assert acme.export() == before, f"{args} stored something"
    assert without_clock(acme.status()) == without_clock(status)


def test_snooze_refuses_a_year_typo_and_keeps_the_duty_where_it_was(acme: Pursuit) -> None:
    [follow_up] = duties_by(acme.export(), "follow_up")
    before, status = acme.export(), acme.status()
    for target, expected in (
        ("0026-12-04", "'0026-12-04': the year 0026 looks like a typo"),
        ("9999-12-31 23:59", "the year 9999 looks like a typo"),
        (SKIPPED, "does not exist in Europe/Paris"),
    ):
        assert expected in acme.one_line_error("snooze", str(follow_up["id"]), "--to", target)
    assert acme.export() == before
    assert without_clock(acme.status()) == without_clock(status)


def test_the_offset_the_message_suggests_is_accepted(acme: Pursuit) -> None:
    out = acme.ok("interview", "add", "acme", "--at", f"{REPEATED}+01:00", "--with", "x@acme.com")
    assert "Interview #2" in out
    [interview] = [i for i in acme.export()["interviews"] if i["id"] == 2]
    start = datetime.fromisoformat(interview["start"]).astimezone(UTC)
    assert start == datetime.fromisoformat(f"{REPEATED}+01:00").astimezone(UTC)


def test_a_weekend_follow_up_moves_to_monday_but_a_promised_saturday_stays(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    today = date.today()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 + 7)
    p.ok("interview", "add", "acme", "--at", f"{saturday} 11:00", "--with", "jane@acme.com")
    [follow_up] = duties_by(p.export(), "follow_up")
    monday = saturday + timedelta(days=9)
    assert datetime.fromisoformat(follow_up["due"]).date() == monday

    promised = saturday + timedelta(days=7)
    out = p.ok("commit", "jane@acme.com", "--on", str(promised))
    assert f"Follow up with jane@acme.com on {promised:%a %d %b %Y}" in out
    [follow_up] = duties_by(p.export(), "follow_up")
    assert datetime.fromisoformat(follow_up["due"]).date() == promised


def test_a_day_in_words_and_a_time_as_people_type_them(
    tmp_path: Path, written_now: datetime
) -> None:
    """'today 09:00' right after an interview, 'friday 10:00' for one to come: the day
    words `commit --on` takes, with a time (written on Monday 30 November 2026)."""
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    added = p.ok("interview", "add", "acme", "--at", "today 09:00", "--with", "jane@acme.com")
    assert "Mon 30 Nov 2026 09:00" in added or "Mon 30 Nov 09:00" in added
    added = p.ok("interview", "add", "acme", "--at", "fri 10:00", "--with", "raj@acme.com")
    assert "Fri 04 Dec" in added and "10:00" in added
    p.ok("log", "call", "jane@acme.com", "Called back", "--at", "yesterday 16:00")
    assert "2026-11-29 16:00  -> call      Called back" in p.ok("history", "jane@acme.com")
    line = p.one_line_error("interview", "add", "acme", "--at", "friday 25:00")
    assert "a day and a time (today 14:00" in line
