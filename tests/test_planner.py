"""The planner's rules, as pure functions of records and the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pursuit.config.settings import PlannerSettings
from pursuit.daemon.models import Contact, Interview, Interviewer, Organization, OrgStatus
from pursuit.daemon.planner import PlannedDuty, plan_duties

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
RULES = PlannerSettings()

JANE = Contact(id=1, name="Jane Doe", addresses=("jane@acme.com",), organization_id=1)
RAJ = Contact(id=2, name="Raj Patel", addresses=("raj@acme.com",), organization_id=1)
RECRUITER = Contact(
    id=3, name="Rita", addresses=("rita@acme.com",), organization_id=1, role="recruiter"
)


def acme(status: str = "active", changed: datetime | None = None) -> Organization:
    return Organization(
        id=1,
        name="Acme Networks",
        status=OrgStatus(status),
        status_changed=changed or datetime(2026, 11, 1, tzinfo=UTC),
        domains=("acme.com",),
    )


def interview(
    start: datetime,
    minutes: int = 60,
    people: tuple[Interviewer, ...] = (Interviewer(JANE), Interviewer(RAJ)),
    interview_id: int = 10,
    cancelled: bool = False,
) -> Interview:
    return Interview(
        id=interview_id,
        organization_id=1,
        position="Network Engineer",
        start=start,
        end=start + timedelta(minutes=minutes),
        interviewers=people,
        cancelled=cancelled,
    )


def by_key(duties: list[PlannedDuty]) -> dict[str, PlannedDuty]:
    return {d.key: d for d in duties}


def test_thank_you_the_evening_of_the_interview_and_follow_up_a_week_later() -> None:
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
    duties = by_key(plan_duties([acme()], [interview(monday)], [JANE, RAJ], RULES, PARIS))
    assert set(duties) == {
        "thank_you:10:1",
        "thank_you:10:2",
        "follow_up:10:1",
        "follow_up:10:2",
    }
    assert duties["thank_you:10:1"].due == datetime(2026, 11, 30, 17, 0, tzinfo=PARIS)
    assert duties["follow_up:10:2"].due == datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)
    assert duties["follow_up:10:2"].contact_id == RAJ.id


def test_an_interview_ending_late_moves_thank_you_to_the_next_morning() -> None:
    late = datetime(2026, 11, 30, 15, 30, tzinfo=PARIS)  # ends 16:30, after 16:00
    duties = by_key(plan_duties([acme()], [interview(late)], [JANE, RAJ], RULES, PARIS))
    assert duties["thank_you:10:1"].due == datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    on_time = datetime(2026, 11, 30, 15, 0, tzinfo=PARIS)  # ends exactly 16:00
    duties = by_key(plan_duties([acme()], [interview(on_time)], [JANE, RAJ], RULES, PARIS))
    assert duties["thank_you:10:1"].due == datetime(2026, 11, 30, 17, 0, tzinfo=PARIS)


def test_an_all_day_interview_is_thanked_for_that_evening_not_the_next_day() -> None:
    """An all-day onsite ends at the midnight after it: its thank-you is still that
    day's evening (a two-day one's, its last day's), not the next day's."""
    onsite = datetime(2026, 12, 9, 0, 0, tzinfo=PARIS)
    for days, evening in ((1, 9), (2, 10)):
        all_day = interview(onsite, minutes=days * 24 * 60)
        duties = by_key(plan_duties([acme()], [all_day], [JANE, RAJ], RULES, PARIS))
        assert duties["thank_you:10:1"].due == datetime(2026, 12, evening, 17, 0, tzinfo=PARIS)
        assert duties["follow_up:10:1"].due == datetime(2026, 12, 16, 10, 0, tzinfo=PARIS)


def test_times_are_wall_clock_times_in_the_users_zone() -> None:
    # 14:00 in New York is 20:00 in Paris: the thank-you is 17:00 New York time.
    start = datetime(2026, 11, 30, 14, 0, tzinfo=NEW_YORK)
    duties = by_key(plan_duties([acme()], [interview(start)], [JANE, RAJ], RULES, NEW_YORK))
    assert duties["thank_you:10:1"].due == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    # The same instant seen from Paris ended after 16:00: next morning, 09:00 Paris.
    duties = by_key(plan_duties([acme()], [interview(start)], [JANE, RAJ], RULES, PARIS))
    assert duties["thank_you:10:1"].due == datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)


def test_follow_up_across_a_dst_change_stays_at_ten_local() -> None:
    # Paris leaves summer time on Sunday 25 October 2026.
    friday = datetime(2026, 10, 23, 11, 0, tzinfo=PARIS)
    assert friday.utcoffset() == timedelta(hours=2)
    duties = by_key(plan_duties([acme()], [interview(friday)], [JANE, RAJ], RULES, PARIS))
    due = duties["follow_up:10:1"].due
    assert due.astimezone(PARIS).time() == time(10, 0)
    assert due.astimezone(PARIS).utcoffset() == timedelta(hours=1)
    assert due.astimezone(UTC) == datetime(2026, 10, 30, 9, 0, tzinfo=UTC)


def test_a_promised_date_replaces_the_default_delay() -> None:
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
    people = (Interviewer(JANE, promised=date(2026, 12, 4)), Interviewer(RAJ))
    duties = by_key(plan_duties([acme()], [interview(monday, people=people)], [], RULES, PARIS))
    assert duties["follow_up:10:1"].due == datetime(2026, 12, 4, 10, 0, tzinfo=PARIS)
    assert duties["follow_up:10:2"].due == datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)


def test_each_rule_is_configurable() -> None:
    rules = PlannerSettings(
        thank_you_time=time(18, 30),
        late_interview_after=time(18, 0),
        follow_up_delay=timedelta(days=3),
        follow_up_time=time(9, 15),
    )
    monday = datetime(2026, 11, 30, 16, 0, tzinfo=PARIS)
    duties = by_key(plan_duties([acme()], [interview(monday)], [], rules, PARIS))
    assert duties["thank_you:10:1"].due == datetime(2026, 11, 30, 18, 30, tzinfo=PARIS)
    assert duties["follow_up:10:1"].due == datetime(2026, 12, 3, 9, 15, tzinfo=PARIS)


def test_one_follow_up_per_person_from_their_latest_interview() -> None:
    first = interview(datetime(2026, 11, 2, 10, 0, tzinfo=PARIS), interview_id=10)
    second = interview(
        datetime(2026, 11, 20, 10, 0, tzinfo=PARIS), interview_id=11, people=(Interviewer(JANE),)
    )
    duties = by_key(plan_duties([acme()], [second, first], [], RULES, PARIS))
    follow_ups = sorted(k for k in duties if k.startswith("follow_up"))
    assert follow_ups == ["follow_up:10:2", "follow_up:11:1"]
    # Both interviews still get their thank-you notes.
    assert {"thank_you:10:1", "thank_you:10:2", "thank_you:11:1"} <= set(duties)


def test_a_cancelled_interview_plans_nothing() -> None:
    cancelled = interview(datetime(2026, 11, 30, 14, 0, tzinfo=PARIS), cancelled=True)
    assert plan_duties([acme()], [cancelled], [JANE, RAJ], RULES, PARIS) == []


def test_rejection_replaces_duties_with_a_check_in_45_days_later() -> None:
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
    rejected = acme("rejected", changed=datetime(2026, 12, 4, 15, 0, tzinfo=PARIS))
    duties = plan_duties([rejected], [interview(monday)], [JANE, RAJ, RECRUITER], RULES, PARIS)
    assert [d.kind for d in duties] == ["check_in"]
    assert duties[0].due == datetime(2027, 1, 18, 10, 0, tzinfo=PARIS)  # a Monday
    assert duties[0].contact_id == RECRUITER.id  # the recruiter first


def test_check_in_goes_to_the_last_interviewer_without_a_recruiter() -> None:
    rejected = acme("rejected", changed=datetime(2026, 12, 3, 15, 0, tzinfo=PARIS))
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
    duties = plan_duties([rejected], [interview(monday)], [JANE, RAJ], RULES, PARIS)
    assert duties[0].contact_id == JANE.id


@pytest.mark.parametrize("status", ["offer", "withdrawn", "closed"])
def test_offer_withdrawn_and_closed_plan_nothing(status: str) -> None:
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
    assert plan_duties([acme(status)], [interview(monday)], [JANE], RULES, PARIS) == []


# --- working days


def follow_up_after(start: datetime, rules: PlannerSettings = RULES) -> datetime:
    duties = by_key(plan_duties([acme()], [interview(start)], [], rules, PARIS))
    return duties["follow_up:10:1"].due


def test_a_follow_up_landing_on_a_working_day_stays() -> None:
    friday = datetime(2026, 12, 4, 11, 0, tzinfo=PARIS)
    assert follow_up_after(friday) == datetime(2026, 12, 11, 10, 0, tzinfo=PARIS)  # Friday


def test_a_follow_up_on_a_saturday_or_sunday_moves_to_monday() -> None:
    saturday = datetime(2026, 12, 5, 11, 0, tzinfo=PARIS)  # a weekend interview
    sunday = datetime(2026, 12, 6, 11, 0, tzinfo=PARIS)
    monday = datetime(2026, 12, 14, 10, 0, tzinfo=PARIS)
    assert follow_up_after(saturday) == monday
    assert follow_up_after(sunday) == monday
    # The thank-you keeps its evening, weekend or not.
    duties = by_key(plan_duties([acme()], [interview(saturday)], [], RULES, PARIS))
    assert duties["thank_you:10:1"].due == datetime(2026, 12, 5, 17, 0, tzinfo=PARIS)


def test_a_delay_in_days_that_lands_on_a_weekend_moves_on() -> None:
    rules = PlannerSettings(follow_up_delay=timedelta(days=4))
    tuesday = datetime(2026, 12, 1, 11, 0, tzinfo=PARIS)  # + 4 days: Saturday
    assert follow_up_after(tuesday, rules) == datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)


def test_a_check_in_on_a_weekend_moves_to_monday() -> None:
    # Rejected Thursday 3 December 2026: 45 days later is Sunday 17 January 2027.
    rejected = acme("rejected", changed=datetime(2026, 12, 3, 15, 0, tzinfo=PARIS))
    [check_in] = plan_duties([rejected], [], [RECRUITER], RULES, PARIS)
    assert check_in.due == datetime(2027, 1, 18, 10, 0, tzinfo=PARIS)


def test_a_day_the_user_promised_is_kept_even_on_a_saturday() -> None:
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)
    people = (Interviewer(JANE, promised=date(2026, 12, 5)),)
    duties = by_key(plan_duties([acme()], [interview(monday, people=people)], [], RULES, PARIS))
    assert duties["follow_up:10:1"].due == datetime(2026, 12, 5, 10, 0, tzinfo=PARIS)


def test_every_day_a_working_day_turns_the_rule_off() -> None:
    every_day = PlannerSettings(working_days=(0, 1, 2, 3, 4, 5, 6))
    saturday = datetime(2026, 12, 5, 11, 0, tzinfo=PARIS)
    assert follow_up_after(saturday, every_day) == datetime(2026, 12, 12, 10, 0, tzinfo=PARIS)
    rejected = acme("rejected", changed=datetime(2026, 12, 3, 15, 0, tzinfo=PARIS))
    [check_in] = plan_duties([rejected], [], [RECRUITER], every_day, PARIS)
    assert check_in.due == datetime(2027, 1, 17, 10, 0, tzinfo=PARIS)


def test_another_working_week_is_followed() -> None:
    sunday_to_thursday = PlannerSettings(working_days=(6, 0, 1, 2, 3))
    thursday = datetime(2026, 12, 3, 11, 0, tzinfo=PARIS)  # + 7 days: Thursday, stays
    assert follow_up_after(thursday, sunday_to_thursday).date() == date(2026, 12, 10)
    friday = datetime(2026, 12, 4, 11, 0, tzinfo=PARIS)  # + 7 days: Friday, to Sunday
    assert follow_up_after(friday, sunday_to_thursday).date() == date(2026, 12, 13)
