"""Idempotent event sync: one event per live duty, whatever crashes or repeats happen."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from support.app import Clock
from support.events import MONDAY_2PM, add_week, sync

from pursuit.connectors.base import CalendarEvent
from pursuit.connectors.ics import IcsCalendar
from pursuit.daemon.app import App
from pursuit.daemon.export import export_data, to_ics
from pursuit.daemon.jobs import plan, run_jobs
from pursuit.daemon.models import DutyKind, DutyState, OrgStatus

PARIS = ZoneInfo("Europe/Paris")


def file_events(path: Path) -> list[icalendar.cal.Component]:
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return list(cal.walk("VEVENT"))


def summaries(path: Path) -> list[str]:
    return sorted(str(e["summary"]) for e in file_events(path))


EXPECTED = [
    "Follow up with Jane Doe (Acme Networks)",
    "Follow up with Raj Patel (Acme Networks)",
    # recorded the same morning: its prep sheet's event at once, not the evening before
    "Prepare: interview at Acme Networks, today 14:00",
    "Send thank-you notes: Acme Networks (Jane Doe, Raj Patel)",
]


def test_running_again_changes_nothing(app: App) -> None:
    add_week(app)
    path = app.settings.calendar.ics_file
    sync(app)
    first = path.read_bytes()
    assert summaries(path) == EXPECTED
    for _ in range(3):
        sync(app)
    assert path.read_bytes() == first
    assert not app.store.pending_outbox("ics")


def test_a_moved_interview_moves_its_events_in_place(app: App, clock: Clock) -> None:
    interview_id = add_week(app)
    path = app.settings.calendar.ics_file
    sync(app)
    before = {str(e["uid"]): e for e in file_events(path)}
    tuesday = MONDAY_2PM + timedelta(days=1)
    app.store.move_interview(interview_id, tuesday, tuesday + timedelta(hours=1))
    clock.now += timedelta(minutes=5)
    sync(app)
    after = {str(e["uid"]): e for e in file_events(path)}
    assert set(after) == set(before)  # same identities, no duplicate
    thank_you = next(e for e in after.values() if "thank-you" in str(e["summary"]))
    assert thank_you.decoded("dtstart") == datetime(2026, 12, 1, 17, 0, tzinfo=PARIS)
    assert thank_you.decoded("sequence") > before[str(thank_you["uid"])].decoded("sequence")


def test_a_cancelled_interview_removes_its_events(app: App) -> None:
    interview_id = add_week(app)
    path = app.settings.calendar.ics_file
    sync(app)
    app.store.cancel_interview(interview_id)
    sync(app)
    assert file_events(path) == []
    assert {d.state for d in app.store.duties()} == {"cancelled"}


def test_a_done_thank_you_says_so_on_the_calendar(app: App) -> None:
    add_week(app)
    path = app.settings.calendar.ics_file
    sync(app)
    for duty in app.store.duties(kinds=(DutyKind.THANK_YOU,)):
        app.store.mark_done(duty.id, when=app.now(), evidence="sent")
    sync(app)
    assert "Thank-you notes sent: Acme Networks (Jane Doe, Raj Patel)" in summaries(path)


def test_a_rejection_swaps_follow_ups_for_a_check_in(app: App) -> None:
    add_week(app)
    path = app.settings.calendar.ics_file
    sync(app)
    org = app.store.find_organization("acme")
    app.store.set_organization_status(org.id, OrgStatus.REJECTED, now=app.now())
    sync(app)
    assert summaries(path) == ["Check in with Acme Networks (Jane Doe)"]
    [check_in] = app.store.duties(kinds=(DutyKind.CHECK_IN,))
    assert check_in.due == datetime(2027, 1, 14, 10, 0, tzinfo=PARIS)


def test_events_that_come_back_get_new_ids_and_the_old_ones_go(app: App) -> None:
    add_week(app)
    path = app.settings.calendar.ics_file
    sync(app)
    first = {str(e["summary"]): str(e["uid"]) for e in file_events(path)}
    org = app.store.find_organization("acme")
    app.store.set_organization_status(org.id, OrgStatus.REJECTED, now=app.now())
    plan(app.store, app.settings, "ics", app.now())  # removals queued, not yet performed
    app.store.set_organization_status(org.id, OrgStatus.ACTIVE, now=app.now())
    sync(app)
    again = {str(e["summary"]): str(e["uid"]) for e in file_events(path)}
    assert sorted(again) == EXPECTED
    # Each event was removed and came back: under a new id, as Google never frees
    # a deleted one; the old ones are gone from the calendar.
    assert set(again.values()).isdisjoint(first.values())
    assert not app.store.pending_outbox("ics")
    exported = export_data(app.store, PARIS, app.now())["events"]
    assert sorted(f"{e['id']}@pursuit" for e in exported) == sorted(again.values())
    assert to_ics(app.store) == path.read_bytes()


class Killed(BaseException):
    """Stands for the process being killed: nothing catches it."""


class DyingCalendar(IcsCalendar):
    """An .ics calendar whose process dies after `budget` operations, flush included."""

    def __init__(self, path: Path, budget: int) -> None:
        super().__init__(path)
        self.budget = budget

    def _spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise Killed

    def upsert(self, event: CalendarEvent) -> None:
        self._spend()
        super().upsert(event)

    def delete(self, key: str) -> None:
        self._spend()
        super().delete(key)

    def flush(self) -> None:
        self._spend()
        super().flush()


def changes(app: App, clock: Clock, interview_id: int) -> None:
    """A busy day: the interview moves, a note arrives, Raj's thank-you is done."""
    tuesday = MONDAY_2PM + timedelta(days=1)
    app.store.move_interview(interview_id, tuesday, tuesday + timedelta(hours=1))
    raj = app.store.find_contact("raj@acme.com")
    app.store.set_interviewer(interview_id, raj.id, note="asked about the data center")
    [duty] = app.store.duties(kinds=(DutyKind.THANK_YOU,), contact=raj.id)
    app.store.mark_done(duty.id, when=app.now(), evidence="sent")
    clock.now += timedelta(hours=1)


@pytest.mark.parametrize("budget", range(0, 9))
def test_killed_at_any_step_then_run_again_leaves_exactly_one_event_per_duty(
    tmp_path: Path, clock: Clock, budget: int
) -> None:
    from support.app import make_settings

    # The reference: the same story with nothing going wrong.
    reference = App(make_settings(tmp_path / "reference"), clock=Clock(clock.now))
    interview_id = add_week(reference)
    sync(reference)
    changes(reference, reference._clock, interview_id)  # type: ignore[arg-type]
    sync(reference)
    expected = sorted(
        (str(e["uid"]), str(e["summary"]), str(e["description"]), e.decoded("dtstart"))
        for e in file_events(reference.settings.calendar.ics_file)
    )

    app = App(make_settings(tmp_path / "crashing"), clock=clock)
    interview_id = add_week(app)
    path = app.settings.calendar.ics_file
    with pytest.raises(Killed):
        sync(app, DyingCalendar(path, budget))
        changes(app, clock, interview_id)
        sync(app, DyingCalendar(path, budget))
        raise Killed  # the budget outlived both rounds: still a valid run
    if not app.store.duties(state=DutyState.DONE):
        changes(app, clock, interview_id)
    sync(app)  # the restart
    sync(app)
    got = sorted(
        (str(e["uid"]), str(e["summary"]), str(e["description"]), e.decoded("dtstart"))
        for e in file_events(path)
    )
    assert got == expected
    assert len({uid for uid, *_ in got}) == len(got) == 4  # and the interview's prep sheet


def test_a_failing_job_is_named_and_the_others_still_run(app: App, tmp_path: Path) -> None:
    from pursuit.daemon.jobs import Job

    add_week(app)
    ran: list[str] = []

    def broken(now: datetime) -> None:
        raise RuntimeError("boom")

    jobs = [Job("broken", broken), *app.jobs(), Job("after", lambda now: ran.append("after"))]
    failures = run_jobs(app.store, jobs, app.now())
    assert failures == [("broken", "RuntimeError: boom")]
    assert ran == ["after"]
    assert summaries(app.settings.calendar.ics_file) == EXPECTED
    assert app.store.job_runs()["broken"].last_error == "RuntimeError: boom"
