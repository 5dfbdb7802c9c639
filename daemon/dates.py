"""Dates and times as the user types them on the command line."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pursuit.config.settings import parse_duration
from pursuit.daemon.errors import UserError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_day(text: str, today: date) -> date:
    """'2026-12-04', 'friday' (the next one after today), 'today', 'tomorrow'."""
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    for index, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            ahead = (index - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise UserError(
            f"{text!r} is not a date: expected YYYY-MM-DD, a weekday such as friday, "
            "today or tomorrow"
        ) from None


def parse_moment(text: str, tz: ZoneInfo, *, default_time: time | None = None) -> datetime:
    """'2026-12-01 14:00' (in the user's zone), an ISO 8601 time with offset, or a day."""
    cleaned = text.strip()
    try:
        moment = datetime.fromisoformat(cleaned.replace(" ", "T", 1))
    except ValueError:
        moment = None
    if moment is not None and re.search(r"\d[T ]\d", cleaned):
        return moment.astimezone(tz) if moment.tzinfo else moment.replace(tzinfo=tz)
    if default_time is not None:
        day = parse_day(cleaned, datetime.now(tz).date())
        return datetime.combine(day, default_time, tzinfo=tz)
    raise UserError(f"{text!r} is not a date and time: expected YYYY-MM-DD HH:MM")


def parse_offset(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UserError(f"{text!r}: {exc}") from None
