"""Shared fixtures: a settings object on a temporary directory and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pursuit.config.settings import Settings, parse_settings
from pursuit.daemon.app import App

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def _isolated_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever touches the real user's config or data."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("PURSUIT_CONFIG", raising=False)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    data: dict[str, object] = {
        "timezone": "Europe/Paris",
        "database": str(tmp_path / "state.sqlite3"),
        "calendar": {"kind": "ics", "ics_file": str(tmp_path / "calendar.ics")},
    }
    data.update(overrides)
    return parse_settings(data, "test config")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 30, 9, 0, tzinfo=PARIS))


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[App]:
    application = App(make_settings(tmp_path), clock=clock)
    yield application
    application.close()
