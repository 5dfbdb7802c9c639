"""The weekly summary under the running service (issue 20): `pursuit run`, a real process,
run before Sunday 18:00 and then off (a laptop closed for the evening), started on
Monday morning, sends last week's summary late, saying so, once; started after two weeks
away it sends the newer late and names the older in `pursuit doctor`.

The service is a process of its own started at a moment of the test's choosing
(support/clock.py), ticking from there; the other runs are in the test process at theirs.
The summaries are the .eml files of the outbox folder (no account connected).
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support import clock
from support.app import PARIS
from support.cli import Pursuit, pursuit_command

pytestmark = pytest.mark.reliability

SUNDAY_5PM = datetime(2026, 12, 6, 17, 0, tzinfo=PARIS)


def outbox(p: Pursuit) -> dict[str, EmailMessage]:
    folder = p.data_home / "pursuit" / "outbox"
    found = {}
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found[path.stem.removeprefix("summary-")] = message
    return found


def service_at(p: Pursuit, moment: datetime) -> str:
    """`pursuit run` started at `moment`, stopped (SIGTERM) once it has done its first
    round and said so to systemd (`STATUS=idle` on $NOTIFY_SOCKET); returns its log."""
    folder = tempfile.mkdtemp(prefix="pn-", dir="/tmp")  # AF_UNIX paths are short
    path = os.path.join(folder, "notify")
    log = p.root / f"service-{time.monotonic_ns()}.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(60)
        with log.open("w") as out:
            service = subprocess.Popen(
                [*pursuit_command(), "-v", "run"],
                env=p.env({"NOTIFY_SOCKET": path, **clock.at(moment)}),
                cwd=p.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            while "STATUS=idle" not in sock.recv(4096).decode():
                pass
        finally:
            service.send_signal(signal.SIGTERM)
            code = service.wait(timeout=10)
            os.unlink(path)
            os.rmdir(folder)
    output = log.read_text()
    assert code == 0 and "Traceback" not in output, output
    return output


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_the_service_stopped_on_sunday_evening_sends_the_week_late_on_monday_once(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path, config='[summary]\nto = "sam@example.test"\n')
    p.ok("run", "--once", env=clock.at(SUNDAY_5PM))  # then the laptop is closed
    assert outbox(p) == {}
    log = service_at(p, datetime(2026, 12, 7, 9, 0, tzinfo=PARIS))
    assert "summary:2026-W49 sent" in log, log
    p.ok("run", "--once", env=clock.at(datetime(2026, 12, 7, 9, 30, tzinfo=PARIS)))
    [(week, message)] = outbox(p).items()
    assert week == "2026-W49"
    assert "This is last week's summary, sent late on Mon 07 Dec 09:0" in text_of(message)
    assert "sent late" in str(message["Subject"])


def test_the_service_back_after_two_weeks_sends_one_late_and_names_the_other(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path, config='[summary]\nto = "sam@example.test"\n')
    p.ok("run", "--once", env=clock.at(SUNDAY_5PM))
    log = service_at(p, datetime(2026, 12, 15, 10, 0, tzinfo=PARIS))
    assert "the weekly summary 2026-W49 was skipped for good: pursuit was not running" in log
    assert list(outbox(p)) == ["2026-W50"]
    with_clock = clock.at(datetime(2026, 12, 15, 10, 5, tzinfo=PARIS))
    doctor = p.run("doctor", env=with_clock)
    assert (
        "summary: the summary of 2026-W49 was never sent: pursuit was not running from its "
        "hour (Sun 06 Dec 18:00) to Thu 10 Dec 00:00"
    ) in doctor.out, str(doctor)
