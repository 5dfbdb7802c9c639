"""A calendar held in memory: the reference implementation of the contract.

Used in tests, and as the model of what every real calendar must do.
"""

from __future__ import annotations

from pursuit.connectors.base import Calendar, CalendarEvent


class MemoryCalendar(Calendar):
    name = "memory"

    def __init__(self) -> None:
        self._events: dict[str, CalendarEvent] = {}
        self.calls = 0

    def upsert(self, event: CalendarEvent) -> None:
        self.calls += 1
        self._events[event.key] = event

    def delete(self, key: str) -> None:
        self.calls += 1
        self._events.pop(key, None)

    def events(self) -> dict[str, CalendarEvent]:
        return dict(self._events)
