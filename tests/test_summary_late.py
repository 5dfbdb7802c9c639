"""Every week's summary is accounted for (issue 20): a week whose hour passed with pursuit
not running (a closed laptop on Sunday evening, a mail outage) is sent late, saying so,
until Thursday 00:00; a week missed for longer is skipped for good, logged once and named
by `pursuit doctor`; and still each week goes once."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support import clock as test_clock
from support.app import PARIS, Clock, make_settings
from support.cli import Pursuit
from support.summary import SUNDAY_6PM

from pursuit.connectors.memory import MemorySender
from pursuit.daemon import doctor, summary
from pursuit.daemon.app import App
from pursuit.daemon.errors import SourceError
from pursuit.daemon.jobs import run_jobs

USER = "sam@example.test"
MONDAY_9AM = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
W49_LATE = (
    "This is last week's summary, sent late on Mon 07 Dec 09:00: pursuit could not send it "
    "at its hour (Sun 06 Dec 18:00)."
)


@pytest.fixture
def user(tmp_path: Path, clock: Clock) -> Iterator[App]:
    """pursuit installed on Monday 30 November 09:00, its first round run then."""
    app = App(make_settings(tmp_path, summary={"to": USER}), clock=clock)
    assert run_jobs(app.store, app.jobs(), clock.now) == []
    yield app
    app.close()


def rounds(app: App, clock: Clock, *moments: datetime) -> None:
    """The service's rounds at these moments (the machine off in between)."""
    for moment in moments:
        clock.now = moment
        assert run_jobs(app.store, app.jobs(), moment) == []


def outbox(tmp_path: Path) -> dict[str, EmailMessage]:
    """The summaries the user has, by week (the .eml folder, no account connected)."""
    folder = tmp_path / "outbox"
    found = {}
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found[path.stem.removeprefix("summary-")] = message
    return found


def text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("&#39;", "'")


def test_a_sunday_off_is_sent_late_on_monday_once_saying_so(
    user: App, clock: Clock, tmp_path: Path
) -> None:
    rounds(user, clock, SUNDAY_6PM - timedelta(hours=3))  # closed before the hour
    assert outbox(tmp_path) == {}
    rounds(user, clock, MONDAY_9AM, MONDAY_9AM + timedelta(minutes=5))  # twice
    [(week, message)] = outbox(tmp_path).items()
    assert week == "2026-W49"
    assert message["X-Pursuit-Key"] == "summary:2026-W49"
    assert "week 49" in str(message["Subject"]) and "sent late" in str(message["Subject"])
    assert W49_LATE in text(message)
    assert W49_LATE in html(message)
    assert "Your job search, week 2026-W49 (Mon 30 Nov to Sun 06 Dec)" in text(message)
    # the next week's goes at its own hour, on time, saying nothing of lateness
    rounds(user, clock, SUNDAY_6PM + timedelta(days=7))
    on_time = outbox(tmp_path)["2026-W50"]
    assert "sent late" not in text(on_time) and "sent late" not in str(on_time["Subject"])
    assert len(outbox(tmp_path)) == 2


def test_the_normal_week_is_sent_at_its_hour_once_and_never_late(
    user: App, clock: Clock, tmp_path: Path
) -> None:
    rounds(user, clock, SUNDAY_6PM, SUNDAY_6PM + timedelta(hours=1), MONDAY_9AM)
    [message] = outbox(tmp_path).values()
    assert "sent late" not in text(message)
    assert message["Date"] == "Sun, 06 Dec 2026 18:00:00 +0100"


def test_two_weeks_off_the_older_is_skipped_for_good_the_newer_sent_late(
    user: App, clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tuesday = datetime(2026, 12, 15, 10, 0, tzinfo=PARIS)  # off from Mon 30 Nov to here
    with caplog.at_level(logging.WARNING, logger="pursuit.daemon.summary"):
        rounds(user, clock, tuesday, tuesday + timedelta(hours=1))
    assert list(outbox(tmp_path)) == ["2026-W50"]
    late = outbox(tmp_path)["2026-W50"]
    assert "This is last week's summary, sent late on Tue 15 Dec 10:00" in text(late)
    why = "pursuit was not running from its hour (Sun 06 Dec 18:00) to Thu 10 Dec 00:00"
    skipped = [r.getMessage() for r in caplog.records if "skipped for good" in r.getMessage()]
    assert skipped == [f"the weekly summary 2026-W49 was skipped for good: {why}"]  # once
    said = doctor.render(doctor.checks(user, clock.now, probe=False))
    assert f"summary: the summary of 2026-W49 was never sent: {why}\n" in said
    assert "2026-W50 was never sent" not in said
    assert "Nothing needs you." in said  # told, with nothing to do about it


def test_back_after_the_last_day_nothing_is_sent_and_the_week_is_named(
    user: App, clock: Clock, tmp_path: Path
) -> None:
    thursday = datetime(2026, 12, 10, 0, 0, tzinfo=PARIS)
    rounds(user, clock, thursday)
    assert outbox(tmp_path) == {}
    assert "the summary of 2026-W49 was never sent" in doctor.render(
        doctor.checks(user, clock.now, probe=False)
    )
    rounds(user, clock, SUNDAY_6PM + timedelta(days=7))
    assert list(outbox(tmp_path)) == ["2026-W50"]


def test_a_fresh_install_on_monday_owes_no_summary_for_last_week(
    tmp_path: Path, clock: Clock
) -> None:
    clock.now = MONDAY_9AM
    app = App(make_settings(tmp_path, summary={"to": USER}), clock=clock)
    rounds(app, clock, MONDAY_9AM, MONDAY_9AM + timedelta(days=2))
    assert outbox(tmp_path) == {}
    assert "never sent" not in doctor.render(doctor.checks(app, clock.now, probe=False))
    app.close()


class Outage(MemorySender):
    """The user's mail server, refusing while it is down."""

    down = True

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        if self.down:
            raise SourceError("smtp", "127.0.0.1:2525: cannot connect (Connection refused)")
        return super().send(message, begin=begin)


def test_a_mail_outage_on_sunday_evening_sends_it_late_on_monday_saying_so(
    user: App, clock: Clock
) -> None:
    server = Outage(USER)
    user.summary_sender = lambda to: server  # type: ignore[method-assign]
    for moment in (SUNDAY_6PM, SUNDAY_6PM + timedelta(hours=5)):
        clock.now = moment
        with pytest.raises(SourceError):
            user.send_summary(moment)
    server.down = False
    assert user.send_summary(MONDAY_9AM) == 1
    assert user.send_summary(MONDAY_9AM + timedelta(hours=1)) == 0
    [message] = server.sent.values()
    assert W49_LATE in text(message)


def test_a_mail_outage_until_thursday_skips_the_week_and_says_why(user: App, clock: Clock) -> None:
    server = Outage(USER)
    user.summary_sender = lambda to: server  # type: ignore[method-assign]
    with pytest.raises(SourceError):
        user.send_summary(SUNDAY_6PM)
    server.down = False
    assert user.send_summary(datetime(2026, 12, 10, 8, 0, tzinfo=PARIS)) == 0
    assert server.sent == {}
    said = doctor.render(doctor.checks(user, clock.now, probe=False))
    assert (
        "the summary of 2026-W49 was never sent: it could not be sent before Thu 10 Dec "
        "00:00 (smtp: 127.0.0.1:2525: cannot connect (Connection refused))" in said
    )


def test_summary_message_ids_carry_the_install_id(tmp_path: Path, clock: Clock) -> None:
    ids = []
    for install in ("a", "b"):
        app = App(make_settings(tmp_path / install, summary={"to": USER}), clock=clock)
        rounds(app, clock, SUNDAY_6PM)
        [message] = outbox(tmp_path / install).values()
        assert message["X-Pursuit-Key"] == "summary:2026-W49"
        assert message["Message-ID"] == summary.message_id_for(
            "summary:2026-W49", app.store.install_id()
        )
        ids.append(message["Message-ID"])
        app.close()
    assert ids[0] != ids[1]
    # an install from before install ids keeps the Message-ID it always had
    assert summary.message_id_for("summary:2026-W49", "") == (
        "<pursuit-cfc3dedeee836c12a27df8a4f31d3dd4@pursuit.invalid>"
    )


class Crash(BaseException):
    """The process dies: nothing after it runs."""


class RemoteServer(MemorySender):
    """A server where a message sent may land a while after its sender died (Google's)."""

    in_doubt = timedelta(minutes=10)


class DiesMidSend(RemoteServer):
    """The send leaves, and pursuit dies before any answer: Google may or may not have it."""

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        if begin is not None:
            begin()
        raise Crash()


def test_a_send_in_doubt_waits_its_window_and_the_service_wakes_for_it(
    user: App, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    user.summary_sender = lambda to: DiesMidSend(USER)  # type: ignore[method-assign]
    clock.now = SUNDAY_6PM
    with pytest.raises(Crash):
        user.send_summary(SUNDAY_6PM)
    # the service looks again by the end of the longest window, not an hour later
    assert user._next_summary(SUNDAY_6PM) == SUNDAY_6PM + summary.IN_DOUBT_FOR
    server = RemoteServer(USER)
    user.summary_sender = lambda to: server  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="pursuit.daemon.summary"):
        assert user.send_summary(SUNDAY_6PM + timedelta(minutes=5)) == 0
    assert "may still land" in caplog.text
    assert server.sent == {}
    # past the server's window it is looked for, not found (it never landed), sent once
    assert user.send_summary(SUNDAY_6PM + server.in_doubt) == 1
    assert user.send_summary(SUNDAY_6PM + server.in_doubt + timedelta(minutes=1)) == 0
    assert len(server.sent) == 1


def test_a_send_to_the_eml_folder_is_never_in_doubt(
    user: App, clock: Clock, tmp_path: Path
) -> None:
    from pursuit.connectors.eml import EmlFolder

    class DiesBeforeWriting(EmlFolder):
        def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
            if begin is not None:
                begin()
            raise Crash()

    folder = tmp_path / "outbox"
    user.summary_sender = lambda to: DiesBeforeWriting(folder, USER)  # type: ignore[method-assign]
    with pytest.raises(Crash):
        user.send_summary(SUNDAY_6PM)
    user.summary_sender = lambda to: EmlFolder(folder, USER)  # type: ignore[method-assign]
    assert user.send_summary(SUNDAY_6PM + timedelta(minutes=1)) == 1  # written at once
    assert list(outbox(tmp_path)) == ["2026-W49"]


def test_three_weeks_off_two_skipped_weeks_are_one_doctor_line(
    user: App, clock: Clock, tmp_path: Path
) -> None:
    rounds(user, clock, datetime(2026, 12, 22, 8, 0, tzinfo=PARIS))  # back on Tuesday W52
    assert list(outbox(tmp_path)) == ["2026-W51"]
    said = doctor.render(doctor.checks(user, clock.now, probe=False))
    assert (
        "summary: the summaries of 2026-W49, 2026-W50 were never sent; the last: pursuit was "
        "not running from its hour (Sun 13 Dec 18:00) to Thu 17 Dec 00:00\n" in said
    )


def test_a_clock_set_a_year_ahead_then_fixed_stops_no_summary(
    user: App, clock: Clock, tmp_path: Path
) -> None:
    rounds(user, clock, SUNDAY_6PM + timedelta(days=365))  # a wrong clock, for one round
    wrong = set(outbox(tmp_path))
    rounds(user, clock, SUNDAY_6PM)  # fixed: this Sunday's summary still goes
    assert set(outbox(tmp_path)) - wrong == {"2026-W49"}


def test_a_week_lost_to_a_failing_summary_job_says_so(user: App, clock: Clock) -> None:
    user.store.record_job_run(
        "summary", now=SUNDAY_6PM + timedelta(hours=1), error="summary template summary.txt: oops"
    )
    rounds(user, clock, datetime(2026, 12, 10, 9, 0, tzinfo=PARIS))
    assert (
        "the summary of 2026-W49 was never sent: the summary job failed (summary template "
        "summary.txt: oops) from its hour (Sun 06 Dec 18:00) to Thu 10 Dec 00:00"
    ) in doctor.render(doctor.checks(user, clock.now, probe=False))


def test_summary_send_on_monday_says_last_weeks_went_too(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config='[summary]\nto = "sam@example.test"\n')
    p.ok("run", "--once", env=test_clock.at(SUNDAY_6PM - timedelta(hours=1)))
    said = p.ok("summary", "--send", env=test_clock.at(MONDAY_9AM))
    assert "The summary of 2026-W49, missed at its hour, went too, late." in said
    folder = p.data_home / "pursuit" / "outbox"
    assert sorted(f.name for f in folder.iterdir()) == [
        "summary-2026-W49.eml",
        "summary-2026-W50.eml",
    ]


def test_a_summary_turned_off_owes_no_week(tmp_path: Path, clock: Clock) -> None:
    app = App(make_settings(tmp_path, summary={"to": USER, "enabled": False}), clock=clock)
    rounds(app, clock, clock.now, MONDAY_9AM)  # installed on 30 Nov; no summary job
    assert app.send_summary(MONDAY_9AM, force=True) == 1  # `summary --send`: this week's
    assert list(outbox(tmp_path)) == ["2026-W50"]
    assert "never sent" not in doctor.render(doctor.checks(app, clock.now, probe=False))
    app.close()
