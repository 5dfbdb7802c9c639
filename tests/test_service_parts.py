"""The service's parts in-process: the run lock, the log format, the timetable."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.app import Clock, make_settings

from pursuit.daemon.app import App
from pursuit.daemon.errors import SourceError
from pursuit.daemon.jobs import Job
from pursuit.daemon.logs import redact, setup_logging
from pursuit.daemon.runlock import SERVICE, RunLock, RunLocked
from pursuit.daemon.service import Service


def test_the_run_lock_is_held_once_and_names_its_holder(tmp_path: Path) -> None:
    lock = RunLock.beside(tmp_path / "pursuit.sqlite3")
    with lock.hold(SERVICE):
        for role in (SERVICE, "run --once"):
            # A service never lets go: nobody waits for it, however long they would.
            with pytest.raises(RunLocked) as refused:
                RunLock(lock.path).acquire(role, wait=600)
            assert refused.value.exit_code == 1
            assert f"service (pid {os.getpid()})" in str(refused.value)
            assert str(lock.path) in str(refused.value)
            assert "after waiting" not in str(refused.value)
    again = RunLock(lock.path)
    again.acquire(SERVICE)  # released with the block
    again.release()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The test's own logging set-up undone after it."""
    root, ours = logging.getLogger(), logging.getLogger("pursuit")
    handlers, levels = list(root.handlers), (root.level, ours.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


@pytest.mark.parametrize(
    "secret",
    [
        "https://alex:hunter2@feeds.example/rss",
        "access_token=ya29.hunter2",
        '"refresh_token": "1//hunter2"',
        "Authorization: Bearer hunter2",
        "password=hunter2",
    ],
)
def test_no_secret_reaches_a_log_line(secret: str, restore_logging: None) -> None:
    assert "hunter2" not in redact(f"fetching {secret} failed")
    stream = io.StringIO()
    setup_logging(1, stream)
    logging.getLogger("pursuit.test").warning("fetching %s failed", secret)
    assert "hunter2" not in stream.getvalue()
    assert "WARNING pursuit.test: fetching" in stream.getvalue()


def test_log_lines_carry_a_time_except_in_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    with (tmp_path / "log").open("w+") as stream:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        setup_logging(1, stream)
        logging.getLogger("pursuit.test").info("plain")
        stat = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
        setup_logging(1, stream)
        logging.getLogger("pursuit.test").error("journal")
        stream.seek(0)
        plain, journal = stream.read().splitlines()
    assert plain[:4].isdigit() and plain.endswith("INFO pursuit.test: plain")
    assert journal == "<3>ERROR pursuit.test: journal"


def test_the_timetable_catches_up_on_what_fell_due_and_backs_off_a_failing_job(
    tmp_path: Path, clock: Clock
) -> None:
    app = App(make_settings(tmp_path, service={"retry_after": "1m"}), clock=clock)
    calls: list[str] = []

    def failing(_now: object) -> None:
        calls.append("flaky")
        raise SourceError("flaky", "down")

    jobs = [
        Job("recent", lambda _: calls.append("recent"), every=timedelta(hours=1)),
        Job("overdue", lambda _: calls.append("overdue"), every=timedelta(hours=1)),
        Job("flaky", failing, every=timedelta(hours=1)),
    ]
    app.jobs = lambda: jobs  # type: ignore[method-assign]
    app.store.record_job_run("recent", now=clock.now - timedelta(minutes=10), error=None)
    app.store.record_job_run("overdue", now=clock.now - timedelta(hours=3), error=None)
    start = clock.now
    elapsed = lambda: (clock.now - start).total_seconds()  # noqa: E731
    service = Service(app, monotonic=elapsed, boot_clock=elapsed)
    service.slots = service._timetable()
    service._run_due()
    assert calls == ["overdue", "flaky"], "only what fell due while it was down"
    flaky = service.slots[2]
    retries = []
    for _ in range(8):
        retries.append(flaky.due - (clock.now - start).total_seconds())
        clock.now = start + timedelta(seconds=flaky.due)
        service._run_due()
    minutes = [int(r // 60) for r in retries]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60], "backoff doubles up to the job's interval"
    # Meanwhile (three hours) the others kept their hours: 50 minutes after the start, then hourly.
    assert calls.count("recent") == 3
    app.close()


def test_a_suspend_is_told_by_the_boot_clock_and_what_fell_due_runs_at_once(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The monotonic clock stops while the machine sleeps; the boot clock and the wall
    clock go on (Linux). A process test cannot suspend the machine: here the clocks are
    the test's."""
    app = App(make_settings(tmp_path), clock=clock)
    calls: list[str] = []
    jobs = [Job("hourly", lambda _: calls.append("hourly"), every=timedelta(hours=1))]
    app.jobs = lambda: jobs  # type: ignore[method-assign]
    monotonic, boot = [0.0], [0.0]
    service = Service(app, monotonic=lambda: monotonic[0], boot_clock=lambda: boot[0])
    service.slots = service._timetable()
    service._run_due()
    assert calls == ["hourly"]

    # Two hours asleep: one second on the monotonic clock.
    clock.now += timedelta(hours=2, seconds=1)
    boot[0] += 7201
    monotonic[0] += 1
    caplog.set_level(logging.WARNING, "pursuit")
    service._notice_clock()
    assert "the machine slept 2 h 00 min; planning the jobs again from now" in caplog.text
    assert "wall clock" not in caplog.text
    service._run_due()
    assert calls == ["hourly", "hourly"], "what fell due while asleep runs at once"
    app.close()
