"""Dates and times as the user types them on the command line.

Everything typed is checked before anything is stored: a date must fall in a
window around today (a year outside it is a typo, such as 0026 for 2026), and a
wall-clock time must exist exactly once in the user's time zone (not in the hour
skipped or repeated when the clocks change), unless it carries its own offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import NoReturn
from zoneinfo import ZoneInfo

from pursuit.config.settings import WEEKDAYS, parse_duration
from pursuit.daemon.errors import UserError

# A job search spans months; a date years away is a typo (0026 for 2026).
YEARS_AROUND = 5
MAX_OFFSET = timedelta(days=365 * YEARS_AROUND)

MOMENT_FORMS = (
    "YYYY-MM-DD HH:MM or a day and a time (today 14:00, tomorrow 9:30, friday 10:00), "
    "optionally with an offset such as 2026-12-01 14:00+01:00"
)
#: A day in words and a time of day: "today 14:00", "friday 9:30", "yesterday 16:00".
_DAY_AND_TIME = re.compile(r"^([^\d\s]\S*)\s+(\d{1,2}):(\d{2})$")


def date_window(today: date) -> tuple[date, date]:
    """The first and last day a typed date may name: anything outside is a typo."""
    return date(today.year - YEARS_AROUND, 1, 1), date(today.year + YEARS_AROUND, 12, 31)


def check_in_window(text: str, day: date, today: date) -> None:
    first, last = date_window(today)
    if not first <= day <= last:
        raise UserError(
            f"{text!r}: the year {day.year:04d} looks like a typo; expected a date from "
            f"{first} to {last} (within {YEARS_AROUND} years of today)"
        )


def parse_day(text: str, today: date) -> date:
    """'2026-12-04', 'friday' (the next one after today), 'today', 'tomorrow',
    'yesterday'."""
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    if word == "yesterday":
        return today - timedelta(days=1)
    for index, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            ahead = (index - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    try:
        day = date.fromisoformat(word)
    except ValueError:
        raise UserError(
            f"{text!r} is not a date: expected YYYY-MM-DD, a weekday such as friday, "
            "today, tomorrow or yesterday"
        ) from None
    check_in_window(text, day, today)
    return day


def parse_moment(
    text: str,
    tz: ZoneInfo,
    *,
    default_time: time | None = None,
    today: date | None = None,
) -> datetime:
    """'2026-12-01 14:00' (in the user's zone), an ISO 8601 time with offset, or a day.

    A day alone is accepted only with a `default_time`. `today` (default: today
    in `tz`) centres the window of accepted dates.
    """
    cleaned = text.strip()
    today = today or datetime.now(tz).date()
    try:
        moment = datetime.fromisoformat(cleaned.replace(" ", "T", 1))
    except ValueError:
        moment = None
    if moment is not None and re.search(r"\d[T ]\d", cleaned):
        # Before any conversion: year 9999 plus an offset overflows.
        check_in_window(text, moment.date(), today)
        if moment.tzinfo is not None:
            return moment.astimezone(tz)
        return wall_time(text, moment, tz)
    spoken = _DAY_AND_TIME.match(cleaned)
    if spoken is not None and int(spoken[2]) < 24 and int(spoken[3]) < 60:
        day = parse_day(spoken[1], today)
        return wall_time(text, datetime.combine(day, time(int(spoken[2]), int(spoken[3]))), tz)
    if default_time is not None:
        day = parse_day(cleaned, today)
        # The user named no time: one that the clocks skip moves past the change.
        return datetime.combine(day, default_time, tzinfo=tz).astimezone(UTC).astimezone(tz)
    raise UserError(f"{text!r} is not a date and time: expected {MOMENT_FORMS}")


def wall_time(text: str, naive: datetime, tz: ZoneInfo) -> datetime:
    """`naive` in `tz`, refused when the clocks skip it or show it twice (DST)."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    if before == after or before is None or after is None:
        return first
    zone = tz.key or str(tz)
    actual = first.astimezone(UTC).astimezone(tz)
    if actual.replace(tzinfo=None) != naive:
        _refuse_skipped(text, actual, after - before, zone)
    _refuse_repeated(text, first, second, zone)


def _refuse_skipped(text: str, actual: datetime, jump: timedelta, zone: str) -> NoReturn:
    raise UserError(
        f"{text!r} does not exist in {zone}: the clocks go forward by {_duration(jump)} "
        f"that night; expected a time that exists, such as {actual:%Y-%m-%d %H:%M}"
    )


def _refuse_repeated(text: str, first: datetime, second: datetime, zone: str) -> NoReturn:
    def written(moment: datetime) -> str:
        return moment.isoformat(sep=" ", timespec="minutes")

    raise UserError(
        f"{text!r} happens twice in {zone}: the clocks go back that night; give the offset: "
        f"{written(first)} for the first ({first.tzname()}) or "
        f"{written(second)} for the second ({second.tzname()})"
    )


def _duration(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if rest == 0:
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{hours}:{rest:02d}"


def parse_offset(text: str) -> timedelta:
    """'5d', '2w': a delay after a day, at most `MAX_OFFSET`."""
    try:
        return parse_duration(text, limit=MAX_OFFSET)
    except ValueError as exc:
        raise UserError(f"{text!r}: {exc}") from None
