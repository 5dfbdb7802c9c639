"""The service's parts in-process: the run lock, the log format, the timetable."""

from __future__ import annotations

import io
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Clock, make_settings

from pursuit.daemon.app import App
from pursuit.daemon.errors import SourceError
from pursuit.daemon.jobs import Job
from pursuit.daemon.logs import redact, setup_logging
from pursuit.daemon.runlock import AlreadyRunning, RunLock
from pursuit.daemon.service import Service


def test_the_run_lock_is_held_once_and_names_its_holder(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(AlreadyRunning) as refused:
            RunLock(tmp_path).acquire(wait=0.1)
        assert refused.value.exit_code == 1
        assert f"pid {os.getpid()}" in str(refused.value)
        assert str(tmp_path / "pursuit.lock") in str(refused.value)
    RunLock(tmp_path).acquire()  # released with the block


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
def test_no_secret_reaches_a_log_line(secret: str) -> None:
    assert "hunter2" not in redact(f"fetching {secret} failed")
    stream = io.StringIO()
    setup_logging(1, stream)
    try:
        logging.getLogger("pursuit.test").warning("fetching %s failed", secret)
    finally:
        setup_logging(0)
    assert "hunter2" not in stream.getvalue()
    assert "WARNING pursuit.test: fetching" in stream.getvalue()


def test_log_lines_carry_a_time_except_in_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "log").open("w+") as stream:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        setup_logging(1, stream)  # type: ignore[arg-type]
        logging.getLogger("pursuit.test").info("plain")
        stat = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
        setup_logging(1, stream)  # type: ignore[arg-type]
        logging.getLogger("pursuit.test").error("journal")
        setup_logging(0)
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
    service = Service(app)
    service.slots = service._timetable(clock.now)
    service._run_due()
    assert calls == ["overdue", "flaky"], "only what fell due while it was down"
    flaky = service.slots[2]
    retries = []
    for _ in range(8):
        retries.append(flaky.due - clock.now)
        clock.now = flaky.due
        service._run_due()
    minutes = [r // timedelta(minutes=1) for r in retries]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60], "backoff doubles up to the job's interval"
    # Meanwhile (three hours) the others kept their hours: 50 minutes after the start, then hourly.
    assert calls.count("recent") == 3
    app.close()
