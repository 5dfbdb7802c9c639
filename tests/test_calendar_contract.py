"""The calendar contract, run against every calendar pursuit can write to.

Each implementation gets a fixture that builds it and `reopen`, which returns a
fresh connector on the same storage (a new process, as far as it can tell).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pursuit.connectors.base import Calendar, CalendarEvent, event_id_for
from pursuit.connectors.ics import IcsCalendar
from pursuit.connectors.memory import MemoryCalendar

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

Factory = Callable[[], Calendar]


def event(key: str = "follow_up:1:1", **changes: object) -> CalendarEvent:
    fields: dict[str, object] = dict(
        key=key,
        start=START,
        end=START + timedelta(minutes=30),
        summary="Follow up with Jane Doe (Acme Networks)",
        description="Ask:\n- Has a decision been made?",
        sequence=0,
        stamp=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        reminder_minutes=15,
    )
    fields.update(changes)
    return CalendarEvent(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "ics"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "memory":
        shared = MemoryCalendar()
        return lambda: shared
    return lambda: IcsCalendar(tmp_path / "calendar.ics")


class TestCalendarContract:
    def test_upsert_then_read_back(self, reopen: Factory) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.flush()
        assert reopen().events() == {"follow_up:1:1": event()}

    def test_upserting_twice_keeps_one_event(self, reopen: Factory) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.upsert(event())
        cal.flush()
        cal = reopen()
        cal.upsert(event())
        cal.flush()
        assert list(reopen().events()) == ["follow_up:1:1"]

    def test_an_update_changes_the_event_in_place(self, reopen: Factory) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.flush()
        moved = event(
            start=START + timedelta(days=1),
            end=START + timedelta(days=1, hours=1),
            summary="Moved",
            sequence=1,
        )
        cal = reopen()
        cal.upsert(moved)
        cal.flush()
        assert reopen().events() == {"follow_up:1:1": moved}

    def test_delete_removes_and_a_missing_event_is_no_error(self, reopen: Factory) -> None:
        cal = reopen()
        cal.upsert(event())
        cal.upsert(event("thank_you:1"))
        cal.flush()
        cal = reopen()
        cal.delete("follow_up:1:1")
        cal.delete("follow_up:1:1")
        cal.delete("never-existed")
        cal.flush()
        assert list(reopen().events()) == ["thank_you:1"]

    def test_text_survives_any_characters(self, reopen: Factory) -> None:
        tricky = event(
            summary="Merci, Zoë; <b>not bold</b> \\ done",
            description="Line one\nLine two, with; commas\n\n- “quotes”",
        )
        cal = reopen()
        cal.upsert(tricky)
        cal.flush()
        assert reopen().events()["follow_up:1:1"] == tricky


def test_event_ids_are_valid_google_ids_and_stable() -> None:
    ident = event_id_for("follow_up:1:1")
    assert ident == event_id_for("follow_up:1:1") != event_id_for("follow_up:1:2")
    assert 5 <= len(ident) <= 1024
    assert set(ident) <= set("0123456789abcdefghijklmnopqrstuv")


def test_the_ics_file_keeps_others_events_out_and_reports_a_broken_file(tmp_path: Path) -> None:
    from pursuit.daemon.errors import SourceError

    path = tmp_path / "calendar.ics"
    path.write_text("this is not a calendar")
    with pytest.raises(SourceError, match=r"calendar\.ics.*not a readable iCalendar file"):
        IcsCalendar(path).events()
    assert path.read_text() == "this is not a calendar"  # nothing lost


def test_the_ics_file_is_replaced_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calendar.ics"
    cal = IcsCalendar(path)
    cal.upsert(event())
    cal.flush()
    before = path.read_bytes()

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", fail)
    cal = IcsCalendar(path)
    cal.upsert(event("thank_you:1"))
    with pytest.raises(OSError, match="disk full"):
        cal.flush()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["calendar.ics"]  # no temporary left
