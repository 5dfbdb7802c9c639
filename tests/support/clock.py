"""A fixed "now" for the tests written against fixed dates.

Tests that type dates ("2026-12-01 14:00") and expect what pursuit prints about
them ("Tue 01 Dec", "2 days late") were written on 30 November 2026 and would
rot as the real date moves on. The `written_now` fixture (tests/conftest.py)
moves the test process to that day with time-machine, and every `pursuit`
subprocess the test starts (support.cli.Pursuit) to the same instant through
`frozen_time/sitecustomize.py` (a `pursuit` run in the test process travels there
with time-machine: `split`). The clock keeps ticking from there, so waits and
timeouts behave as usual; only the calendar date is fixed.

`WallClock` starts a `pursuit` subprocess at a chosen instant and steps its wall clock
while it runs (the running service against DST, NTP steps and suspends), its
monotonic clock left real.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine

WRITTEN_AT = datetime(2026, 11, 30, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
NOW_VARIABLE = "PURSUIT_TEST_NOW"
STEPS_VARIABLE = "PURSUIT_TEST_CLOCK_STEPS"
_SITE = Path(__file__).resolve().parent / "frozen_time"


@contextmanager
def written_now() -> Iterator[datetime]:
    """This process at WRITTEN_AT (ticking), and its `pursuit` subprocesses with it."""
    # A timestamp, not the aware datetime: time-machine would also set TZ from a ZoneInfo.
    with time_machine.travel(WRITTEN_AT.timestamp(), tick=True):
        yield WRITTEN_AT


def subprocess_env() -> dict[str, str]:
    """What a `pursuit` subprocess needs to start at this process's "now": written_now's
    day, or wherever a test moved this process's clock with time-machine (none if real)."""
    return at(datetime.now(UTC)) if time_machine.escape_hatch.is_travelling() else {}


def at(moment: datetime) -> dict[str, str]:
    """The environment that starts a `pursuit` subprocess at `moment`, ticking from there."""
    path = [str(_SITE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {NOW_VARIABLE: repr(moment.timestamp()), "PYTHONPATH": os.pathsep.join(path)}


def split(env: dict[str, str]) -> tuple[dict[str, str], float | None]:
    """`env` without what `at` put in it, and the timestamp it starts at (None if none):
    what a `pursuit` run inside the test process needs instead of sitecustomize."""
    rest = dict(env)
    now = rest.pop(NOW_VARIABLE, None)
    if now is None:
        return rest, None
    path = rest.get("PYTHONPATH", "").split(os.pathsep)
    if path[0] == str(_SITE):
        if len(path) > 1:
            rest["PYTHONPATH"] = os.pathsep.join(path[1:])
        else:
            del rest["PYTHONPATH"]
    return rest, float(now)


class WallClock:
    """The wall clock of a `pursuit` subprocess started with `env()`: it starts at
    `start` and ticks, and the test steps it while the process runs (`step`), as NTP,
    a restored snapshot or a user fixing the clock would. Its monotonic clock is
    real throughout (frozen_time/sitecustomize.py)."""

    def __init__(self, directory: Path, start: datetime) -> None:
        self.start = start
        self.path = directory / "clock-steps"
        self._done = directory / "clock-steps.done"
        self._steps = 0

    def env(self) -> dict[str, str]:
        return {**at(self.start), STEPS_VARIABLE: str(self.path)}

    def step(self, by: timedelta, *, wait: bool = True) -> None:
        """Step the process's wall clock `by` (back when negative); `wait` until it has
        (not while the process is stopped: then `applied` once it runs again)."""
        self._steps += 1
        part = self.path.with_name(self.path.name + ".part")
        part.write_text(f"{self._steps} {by.total_seconds()}")
        os.replace(part, self.path)
        if wait:
            self.applied()

    def applied(self, timeout: float = 10.0) -> None:
        """Wait until the process has taken the last step."""
        give_up = time.monotonic() + timeout
        while not self._done.exists() or int(self._done.read_text() or 0) < self._steps:
            assert time.monotonic() < give_up, "the pursuit process never stepped its clock"
            time.sleep(0.01)
