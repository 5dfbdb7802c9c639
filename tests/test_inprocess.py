"""The command line run inside the test process (support/inprocess.py) gives what its
own process gives: the same exit code, stdout and stderr, a crash included, and leaves
the test process as it found it. (In-process explicitly: these hold whatever
PURSUIT_TESTS_IN_PROCESS says.)"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.cli import Pursuit, Result

# Written on 30 November 2026 against fixed dates: run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

CONFIG = (
    '[feeds]\nnews_search = false\n[[organization]]\nname = "Acme"\ndomains = ["acme.com"]\n'
    'feeds = [{ url = "http://127.0.0.1:9/feed", kind = "press" }]\n'
)

#: What the user types, in order, on a new machine: every kind of answer and exit.
COMMANDS: list[tuple[str, ...]] = [
    ("--version",),
    ("--help",),
    ("interview", "--help"),
    ("status",),
    ("org", "add", "Globex", "--domain", "globex.com"),
    ("interview", "add", "Acme", "--at", "2026-12-01 14:00", "--with", "Jane <jane@acme.com>"),
    ("interview", "add", "Acme", "--at", "someday"),
    ("-v", "run", "--once"),
    ("status", "--json"),
    ("week",),
    ("export", "--format", "ics"),
    ("export", "--format", "csv", "--table", "duties"),
    ("forget", "Globex"),
    ("history", "nobody@nowhere.example"),
    ("no-such-command",),
    ("status", "--limit", "lots"),
    ("-vv", "doctor"),
]


def seen(result: Result, p: Pursuit) -> tuple[int, str, str]:
    """What the user sees, but the clock's seconds, the machine's folder and the
    install's own random event ids."""

    def clean(text: str) -> str:
        text = text.replace(str(p.root), "ROOT")
        text = re.sub(r"(?m)^(UID|DTSTAMP|X-PURSUIT-INSTALL):.*$", r"\1:...", text)
        return re.sub(r"\d\d:\d\d:\d\d(\.\d+)?", "hh:mm:ss", text)

    return result.code, clean(result.out), clean(result.err)


def test_each_command_answers_in_the_test_process_as_in_its_own(tmp_path: Path) -> None:
    here = Pursuit(tmp_path / "here", config=CONFIG)
    there = Pursuit(tmp_path / "there", config=CONFIG, process=True)
    for args in COMMANDS:
        assert seen(here.run_in_process(*args), here) == seen(there.run(*args), there), args
    assert here.export()["organizations"]


def test_a_crash_is_exit_1_and_a_traceback_as_in_a_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception nothing catches: Python's traceback on stderr, exit 1 (here the
    status view fails; in the process a sitecustomize hook makes it fail the same way)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import pursuit.daemon.views as views\n"
        "def broken(*args, **kwargs):\n"
        "    raise RuntimeError('status is broken (simulated)')\n"
        "views.status = broken\n"
    )
    p = Pursuit(tmp_path / "user")
    p.ok("org", "add", "Acme")
    process = p.run_process("status", env={"PYTHONPATH": str(hook)})

    from pursuit.daemon import views

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("status is broken (simulated)")

    monkeypatch.setattr(views, "status", broken)
    here = p.run_in_process("status")
    for result in (process, here):
        assert result.code == 1, str(result)
        assert result.err.startswith("Traceback (most recent call last):\n"), str(result)
        assert result.err.endswith("RuntimeError: status is broken (simulated)\n"), str(result)
        assert result.out == "", str(result)


def test_a_string_exit_is_printed_to_stderr_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pursuit.daemon import views

    def leaves(*args: object, **kwargs: object) -> None:
        raise SystemExit("pursuit: gone (simulated)")

    monkeypatch.setattr(views, "status", leaves)
    result = Pursuit(tmp_path).run_in_process("status")
    assert (result.code, result.out, result.err) == (1, "", "pursuit: gone (simulated)\n")


def test_a_log_line_of_a_server_thread_of_the_test_is_no_part_of_the_commands_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go, logged = threading.Event(), threading.Event()

    def server() -> None:
        go.wait(10)
        logging.getLogger("some.server").error("a line of the test's server")
        logged.set()

    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    from pursuit.daemon import views

    real = views.status

    def status(*args: Any, **kwargs: Any) -> Any:
        logging.getLogger("pursuit.daemon.views").warning("a line of the command")
        go.set()
        assert logged.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "status", status)
    result = Pursuit(tmp_path).run_in_process("status")
    thread.join(10)
    assert result.code == 0, str(result)
    assert "a line of the command" in result.err
    assert "test's server" not in result.err


CUSTOM_ZONE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0300
TZOFFSETTO:+0300
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:1@test
DTSTART;TZID=Customized Time Zone:20261201T100000
SUMMARY:Interview
END:VEVENT
END:VCALENDAR
"""


def test_time_zones_icalendar_read_in_the_test_are_none_of_the_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """icalendar keeps a VTIMEZONE it read for the rest of the process, by its TZID: a
    command in its own process starts without those the test (or an earlier command) read."""
    import icalendar
    import icalendar.timezone

    def cached() -> dict[str, Any]:
        cache: dict[str, Any] = icalendar.timezone.tzp._TZP__tz_cache  # type: ignore[attr-defined]
        return cache

    icalendar.Calendar.from_ical(CUSTOM_ZONE)
    before = dict(cached())
    assert "Customized Time Zone" in before
    from pursuit.daemon import views

    real = views.status
    seen: list[dict[str, Any]] = []

    def status(*args: Any, **kwargs: Any) -> Any:
        seen.append(dict(cached()))
        icalendar.Calendar.from_ical(CUSTOM_ZONE.replace("+0300", "-0500"))
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "status", status)
    assert Pursuit(tmp_path).run_in_process("status").code == 0
    assert seen == [{}]
    assert cached() == before


def test_the_test_process_is_left_as_it_was(tmp_path: Path) -> None:
    """Environment, folder, time zone, logging, signal handlers and streams: all back."""
    root = logging.getLogger()
    before = (
        dict(os.environ),
        os.getcwd(),
        time.tzname,
        list(root.handlers),
        root.level,
        logging.getLogger("pursuit").level,
        [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)],
        (sys.stdin, sys.stdout, sys.stderr, sys.argv),
    )
    p = Pursuit(tmp_path, timezone="America/Los_Angeles", config=CONFIG)
    assert p.run_in_process("-vv", "run", "--once", env={"PURSUIT_RUN_WAIT": "1"}).code == 0
    assert p.run_in_process("no-such-command").code == 2
    after = (
        dict(os.environ),
        os.getcwd(),
        time.tzname,
        list(root.handlers),
        root.level,
        logging.getLogger("pursuit").level,
        [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)],
        (sys.stdin, sys.stdout, sys.stderr, sys.argv),
    )
    assert after == before


def test_what_only_a_process_honours_is_refused_in_the_test_process(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    for env in ({"PYTHONPATH": str(tmp_path)}, {"JOURNAL_STREAM": "1:2"}):
        with pytest.raises(ValueError, match="needs a process"):
            p.run_in_process("status", env=env)
