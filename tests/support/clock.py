"""A fixed "now" for the tests written against fixed dates.

Tests that type dates ("2026-12-01 14:00") and expect what pursuit prints about
them ("Tue 01 Dec", "2 days late") were written on 30 November 2026 and would
rot as the real date moves on. The `written_now` fixture (tests/conftest.py)
moves the test process to that day with time-machine, and every `pursuit`
subprocess the test starts (support.cli.Pursuit) to the same instant through
`frozen_time/sitecustomize.py` (a `pursuit` run in the test process travels there
with time-machine: `split`). The clock keeps ticking from there, so waits and
timeouts behave as usual; only the calendar date is fixed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine

WRITTEN_AT = datetime(2026, 11, 30, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
NOW_VARIABLE = "PURSUIT_TEST_NOW"
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
