"""Shared fixtures: a settings object on a temporary directory and a fixed clock.

Helpers live in the support package; test modules import them from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from support import cli as support_cli
from support import clock as test_clock
from support.app import PARIS, Clock, make_settings

from pursuit.config.settings import Settings, parse_settings
from pursuit.daemon.app import App
from pursuit.daemon.store import Store

#: The reliability suite's long cases run first (support/schedule.py); pursuit is
#: compiled once before the suite (support/bytecode.py).
pytest_plugins = ["support.schedule", "support.bytecode"]


@pytest.fixture(autouse=True)
def _isolated_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever touches the real user's config or data."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("PURSUIT_CONFIG", raising=False)


@pytest.fixture(autouse=True, scope="module")
def _processes_where_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module marked `processes` runs every `pursuit` command as a subprocess, those
    of its module-scoped fixtures too, not in the test process (support/cli.py)."""
    if request.node.get_closest_marker("processes") is None:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(support_cli, "IN_PROCESS", False)
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 30, 9, 0, tzinfo=PARIS))


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[App]:
    application = App(make_settings(tmp_path), clock=clock)
    yield application
    application.close()


@pytest.fixture
def written_now() -> Iterator[datetime]:
    """Today is 30 November 2026 for this test and the `pursuit` it runs (support/clock.py)."""
    with test_clock.written_now() as now:
        yield now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A user's settings on tmp_path: Paris time, the local calendar file."""
    return parse_settings(
        {
            "timezone": "Europe/Paris",
            "database": str(tmp_path / "state.sqlite3"),
            "calendar": {"kind": "ics", "ics_file": str(tmp_path / "calendar.ics")},
        },
        "test config",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The store of those settings, empty."""
    opened = Store.open(settings.database)
    yield opened
    opened.close()
