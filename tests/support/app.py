"""An App on a temporary directory: its settings, time zone and a clock the test moves."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pursuit.config.settings import Settings, parse_settings

PARIS = ZoneInfo("Europe/Paris")


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
