"""Dates as typed on the command line: typos, overflows and DST refused at the door."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pursuit.daemon.dates import date_window, parse_day, parse_moment, parse_offset
from pursuit.daemon.errors import UserError

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
TODAY = date(2026, 11, 30)  # a Monday


def refused(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(UserError) as caught:
        call(*args, **kwargs)
    [message] = caught.value.problems
    return message


# --- a year typo, a year far away


@pytest.mark.parametrize(
    "text", ["0026-12-01 14:00", "0005-01-02 09:30", "9999-12-31 23:59", "2126-12-01 14:00"]
)
def test_a_moment_in_an_absurd_year_is_refused_naming_it_and_the_window(text: str) -> None:
    message = refused(parse_moment, text, PARIS, today=TODAY)
    assert repr(text) in message
    assert f"the year {text[:4]} looks like a typo" in message
    assert "expected a date from 2021-01-01 to 2031-12-31" in message


def test_an_absurd_year_with_an_offset_is_refused_before_it_overflows() -> None:
    message = refused(parse_moment, "9999-12-31 23:59-05:00", PARIS, today=TODAY)
    assert "the year 9999 looks like a typo" in message
    message = refused(parse_moment, "0001-01-01T00:00Z", PARIS, today=TODAY)
    assert "the year 0001 looks like a typo" in message


def test_the_window_is_five_years_either_side() -> None:
    first, last = date_window(TODAY)
    assert (first, last) == (date(2021, 1, 1), date(2031, 12, 31))
    assert parse_moment("2021-01-01 08:00", PARIS, today=TODAY).year == 2021
    assert parse_moment("2031-12-31 18:00", PARIS, today=TODAY).year == 2031
    assert "2020" in refused(parse_moment, "2020-12-31 18:00", PARIS, today=TODAY)
    assert "2032" in refused(parse_moment, "2032-01-01 08:00", PARIS, today=TODAY)


def test_the_window_follows_today_by_default() -> None:
    this_year = datetime.now(PARIS).year
    assert parse_moment(f"{this_year}-06-01 10:00", PARIS).year == this_year
    refused(parse_moment, f"{this_year + 10}-06-01 10:00", PARIS)


def test_a_day_in_an_absurd_year_is_refused() -> None:
    message = refused(parse_day, "0026-12-04", TODAY)
    assert "'0026-12-04': the year 0026 looks like a typo" in message
    assert parse_day("2026-12-04", TODAY) == date(2026, 12, 4)
    # A day with the default time of a snooze goes through the same check.
    message = refused(parse_moment, "9999-01-01", PARIS, default_time=time(10), today=TODAY)
    assert "the year 9999 looks like a typo" in message


def test_weekdays_and_words_stay_as_they_were() -> None:
    assert parse_day("friday", TODAY) == date(2026, 12, 4)
    assert parse_day("mon", TODAY) == date(2026, 12, 7)  # the next one, not today
    assert parse_day("tomorrow", TODAY) == date(2026, 12, 1)
    assert "is not a date" in refused(parse_day, "someday", TODAY)


def test_a_malformed_moment_says_the_forms_accepted() -> None:
    message = refused(parse_moment, "2026-13-01 14:00", PARIS, today=TODAY)
    assert "'2026-13-01 14:00' is not a date and time: expected YYYY-MM-DD HH:MM" in message
    assert "offset" in message
    assert "is not a date and time" in refused(parse_moment, "2026-12-01", PARIS, today=TODAY)


# --- offsets


@pytest.mark.parametrize("text", ["99999999d", "1826d", "261w", "9" * 40 + "d", "9" * 5000 + "s"])
def test_an_offset_beyond_two_years_is_refused_without_overflowing(text: str) -> None:
    message = refused(parse_offset, text)
    assert message.startswith(repr(text[:10])[:-1])
    assert "expected a duration of at most 1825d" in message


def test_an_offset_within_two_years_is_accepted() -> None:
    assert parse_offset("1825d") == timedelta(days=1825)
    assert parse_offset("2w") == timedelta(weeks=2)
    assert parse_offset("0005d") == timedelta(days=5)
    assert "expected a duration such as" in refused(parse_offset, "soon")


# --- the clocks change


def test_a_time_the_clocks_skip_is_refused_with_one_that_exists() -> None:
    message = refused(parse_moment, "2027-03-28 02:30", PARIS, today=TODAY)
    assert message == (
        "'2027-03-28 02:30' does not exist in Europe/Paris: the clocks go forward by "
        "1 hour that night; expected a time that exists, such as 2027-03-28 03:30"
    )
    message = refused(parse_moment, "2027-03-14 02:15", NEW_YORK, today=TODAY)
    assert "does not exist in America/New_York" in message
    assert "such as 2027-03-14 03:15" in message


def test_a_time_the_clocks_show_twice_names_both_offsets() -> None:
    message = refused(parse_moment, "2026-10-25 02:30", PARIS, today=TODAY)
    assert message == (
        "'2026-10-25 02:30' happens twice in Europe/Paris: the clocks go back that night; "
        "give the offset: 2026-10-25 02:30+02:00 for the first (CEST) or "
        "2026-10-25 02:30+01:00 for the second (CET)"
    )
    message = refused(parse_moment, "2026-11-01 01:30", NEW_YORK, today=TODAY)
    assert "01:30-04:00 for the first (EDT)" in message
    assert "01:30-05:00 for the second (EST)" in message


def test_either_offset_the_message_suggests_is_accepted() -> None:
    first = parse_moment("2026-10-25 02:30+02:00", PARIS, today=TODAY)
    second = parse_moment("2026-10-25 02:30+01:00", PARIS, today=TODAY)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert second.isoformat() == "2026-10-25T02:30:00+01:00"
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert first.tzinfo is PARIS and second.tzinfo is PARIS
    assert parse_moment("2026-10-25T00:30Z", PARIS, today=TODAY) == first


def test_times_next_to_a_change_are_accepted() -> None:
    before = parse_moment("2027-03-28 01:59", PARIS, today=TODAY)
    after = parse_moment("2027-03-28 03:00", PARIS, today=TODAY)
    assert after.astimezone(UTC) - before.astimezone(UTC) == timedelta(minutes=1)
    assert parse_moment("2026-10-25 03:00", PARIS, today=TODAY).utcoffset() == timedelta(hours=1)


def test_a_default_time_the_clocks_skip_moves_past_the_change() -> None:
    # `snooze --to 2027-03-28` of a duty due at 02:30: the user named no time.
    moment = parse_moment("2027-03-28", PARIS, default_time=time(2, 30), today=TODAY)
    assert moment == datetime(2027, 3, 28, 3, 30, tzinfo=PARIS)
    assert moment.tzinfo is PARIS
