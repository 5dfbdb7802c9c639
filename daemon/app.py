"""Wiring at the edge: settings in, store and connectors out.

This is the only place that reads configuration and picks connectors; the
engine (planner, jobs) receives what it needs. Connectors are imported only
when used, so a command that only reads the store never loads Google's libraries.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from functools import cached_property
from typing import Any

from pursuit.config.settings import Settings
from pursuit.connectors.base import Calendar
from pursuit.daemon.jobs import Job, plan, push_events, sync_config_organizations
from pursuit.daemon.store import Store

CALENDARS = {
    "ics": "pursuit.connectors.ics:IcsCalendar",
}


def load_class(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class App:
    def __init__(self, settings: Settings, *, clock: Any = None) -> None:
        self.settings = settings
        self._clock = clock

    def now(self) -> datetime:
        if self._clock is not None:
            return self._clock()  # type: ignore[no-any-return]
        return datetime.now(self.settings.timezone)

    @cached_property
    def store(self) -> Store:
        store = Store.open(self.settings.database)
        sync_config_organizations(store, self.settings, self.now())
        return store

    @property
    def calendar_name(self) -> str:
        return self.settings.calendar.kind

    @cached_property
    def calendar(self) -> Calendar:
        kind = self.settings.calendar.kind
        cls = load_class(CALENDARS[kind])
        calendar: Calendar = cls(self.settings.calendar.ics_file)
        return calendar

    def jobs(self) -> list[Job]:
        return [
            Job("plan", lambda now: plan(self.store, self.settings, self.calendar_name, now)),
            Job("calendar", lambda now: push_events(self.store, self.calendar, now)),
        ]

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
