"""The week most tests start from (Acme's interview with Jane and Raj), and one calendar sync."""

from __future__ import annotations

from datetime import datetime, timedelta

from pursuit.connectors.ics import IcsCalendar
from pursuit.daemon.app import App
from pursuit.daemon.jobs import plan, push_events
from support.app import PARIS

MONDAY_2PM = datetime(2026, 11, 30, 14, 0, tzinfo=PARIS)


def add_week(app: App) -> int:
    """Acme, an interview with Jane and Raj, a note for Raj."""
    store = app.store
    org = store.add_organization("Acme Networks", ["acme.com"], now=app.now())
    jane = store.ensure_contact("jane@acme.com", "Jane Doe", org.id)
    raj = store.ensure_contact("raj@acme.com", "Raj Patel", org.id)
    interview_id = store.add_interview(
        org.id,
        MONDAY_2PM,
        MONDAY_2PM + timedelta(hours=1),
        [jane.id, raj.id],
        position="Network Engineer",
    )
    store.set_interviewer(interview_id, raj.id, note="liked my BGP migration story")
    return interview_id


def sync(app: App, calendar: IcsCalendar | None = None) -> None:
    plan(app.store, app.settings, "ics", app.now())
    push_events(app.store, calendar or IcsCalendar(app.settings.calendar.ics_file), app.now())
