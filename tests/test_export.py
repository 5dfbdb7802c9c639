"""The export contract and the golden .ics: what other tools and calendar apps read."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from support.app import Clock
from support.events import add_week, sync
from support.golden import check_golden

from pursuit.daemon.app import App
from pursuit.daemon.export import export_data, to_csv, to_ics, to_json
from pursuit.daemon.models import Channel, Direction
from pursuit.daemon.views import render_overdue, render_status, render_week, status, week


def story(app: App, clock: Clock) -> None:
    add_week(app)
    sync(app)
    jane = app.store.find_contact("jane@acme.com")
    app.store.log_correspondence(
        message_id="<thanks-1@mail.example>",
        direction=Direction.OUT,
        when=clock.now,
        channel=Channel.EMAIL,
        organization_id=jane.organization_id,
        contact_ids=[jane.id],
        subject="Thank you",
        people=["jane@acme.com"],
    )
    clock.now += timedelta(days=2)
    sync(app)


def test_the_calendar_file_matches_the_golden_file(app: App, clock: Clock) -> None:
    story(app, clock)
    check_golden("calendar.ics", app.settings.calendar.ics_file.read_bytes())
    # The export writes the same calendar.
    assert to_ics(app.store) == app.settings.calendar.ics_file.read_bytes()


def test_json_export_follows_the_contract(app: App, clock: Clock) -> None:
    story(app, clock)
    data = json.loads(to_json(export_data(app.store, app.settings.timezone, app.now())))
    assert list(data) == [
        "organizations",
        "contacts",
        "interviews",
        "duties",
        "correspondence",
        "feed_items",
        "events",
    ]
    assert (
        data["organizations"][0].items()
        >= {"name": "Acme Networks", "domains": ["acme.com"], "status": "active"}.items()
    )
    [interview] = data["interviews"]
    assert (
        interview.items()
        >= {
            "id": 1,
            "organization": "Acme Networks",
            "start": "2026-11-30T14:00:00+01:00",
            "end": "2026-11-30T15:00:00+01:00",
            "position": "Network Engineer",
            "interviewers": ["jane@acme.com", "raj@acme.com"],
        }.items()
    )
    duties = {(d["kind"], d["contact"]): d for d in data["duties"]}
    assert set(duties) == {
        ("thank_you", "jane@acme.com"),
        ("thank_you", "raj@acme.com"),
        ("follow_up", "jane@acme.com"),
        ("follow_up", "raj@acme.com"),
    }
    thank_jane = duties[("thank_you", "jane@acme.com")]
    assert thank_jane["due"] == "2026-11-30T17:00:00+01:00"
    assert thank_jane["state"] == "overdue"  # two days later, still not done
    assert thank_jane["organization"] == "Acme Networks"
    assert duties[("follow_up", "raj@acme.com")]["state"] == "pending"
    assert all(isinstance(d["id"], int) for d in data["duties"])
    [mail] = data["correspondence"]
    assert (
        mail.items()
        >= {
            "message_id": "<thanks-1@mail.example>",
            "direction": "out",
            "date": "2026-11-30T09:00:00+01:00",
            "organization": "Acme Networks",
            "contacts": ["jane@acme.com"],
            "subject": "Thank you",
            "channel": "email",
        }.items()
    )
    assert data["feed_items"] == []
    assert len(data["events"]) == 4
    for event in data["events"]:
        assert set(event) >= {"id", "duty", "calendar", "start", "summary"}
        assert event["calendar"] == "ics"
        if event["key"].startswith("prep:"):  # an interview's prep sheet: no duty behind it
            assert (event["duty"], event["duties"]) == (None, [])
        else:
            assert event["duty"] in {d["id"] for d in data["duties"]}


def test_csv_export_is_one_table_per_file(app: App, clock: Clock) -> None:
    story(app, clock)
    data = export_data(app.store, app.settings.timezone, app.now())
    for table, records in data.items():
        rows = list(csv.DictReader(io.StringIO(to_csv(records).decode("utf-8"))))
        assert len(rows) == len(records), table
        if records:
            assert list(rows[0]) == list(records[0]), "the columns are the JSON keys"
    duties = list(csv.DictReader(io.StringIO(to_csv(data["duties"]).decode())))
    assert {r["state"] for r in duties} == {"overdue", "pending"}
    [interview] = csv.DictReader(io.StringIO(to_csv(data["interviews"]).decode()))
    assert interview["interviewers"] == "jane@acme.com raj@acme.com"
    excel = to_csv(data["duties"], excel=True)
    assert excel.startswith(b"\xef\xbb\xbf") and b"\r\n" in excel


def test_status_and_week_match_their_golden_files(app: App, clock: Clock) -> None:
    """The text a user reads, on a fixed clock: overdue with how late, last and next
    interviews, the past and next 7 days."""
    story(app, clock)
    store = app.store
    globex = store.add_organization("Globex 10", ["globex.com"], now=clock.now)
    store.add_organization("globex 2", ["globex2.com"], now=clock.now)
    wang = store.ensure_contact("wang@globex.com", "王秀英", globex.id)
    start = clock.now + timedelta(days=3, hours=1)
    store.add_interview(globex.id, start, start + timedelta(hours=1), [wang.id], position="SRE")
    sync(app)
    tz, now = app.settings.timezone, clock.now
    check_golden("status.txt", render_status(status(store, tz, now)).encode())
    check_golden("status-overdue.txt", render_overdue(status(store, tz, now)).encode())
    check_golden("week.txt", render_week(week(store, tz, now)).encode())
