"""The command line as its user sees it: its output, real files, an isolated home.

Every test runs `pursuit` as its process would run (support.cli.Pursuit: in the test
process, or a subprocess where only a process shows it) and looks only at what the
user can see: the text it prints, its exit code, the files it leaves, and
`pursuit export`.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import icalendar
import pytest
from support import clock
from support.cli import Pursuit, duties_by, pursuit_command
from support.clock import WRITTEN_AT

from pursuit.daemon.cli import cli

# Written on 30 November 2026 against fixed dates: run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example.toml"
PARIS = ZoneInfo("Europe/Paris")

SECTIONS = {
    "organizations",
    "contacts",
    "interviews",
    "duties",
    "correspondence",
    "feed_items",
    "events",
}
CONTRACT = {
    "duties": {"id", "kind", "contact", "organization", "due", "state"},
    "events": {"id", "duty", "calendar", "start", "summary"},
    "correspondence": {
        "message_id",
        "direction",
        "date",
        "organization",
        "contacts",
        "subject",
        "channel",
    },
    "interviews": {"id", "organization", "start", "end", "position", "interviewers"},
    "organizations": {"name", "domains", "status"},
}

ACME_WEEK = (
    ("org", "add", "Acme Networks", "--domain", "acme.com"),
    (
        "interview",
        "add",
        "acme",
        "--at",
        "2026-12-01 14:00",
        "--position",
        "Network Engineer",
        "--with",
        "Jane Doe <jane@acme.com>",
        "--with",
        "Raj Patel <raj@acme.com>",
    ),
)


def expected_state(due: str) -> str:
    """What a pending duty is called now: the tests do not depend on today's date."""
    return "pending" if datetime.fromisoformat(due) > datetime.now(UTC) else "overdue"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def by_key(events: list[icalendar.cal.Component]) -> dict[str, icalendar.cal.Component]:
    return {str(e["X-PURSUIT-KEY"]): e for e in events}


def day_at(days_from_today: int, clock: str) -> str:
    """A local date and time relative to today, as typed on the command line."""
    day = datetime.now(PARIS).date() + timedelta(days=days_from_today)
    return f"{day.isoformat()} {clock}"


# --- a fresh machine, the config file


def test_fresh_machine_runs_on_defaults_in_the_system_time_zone(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, timezone="America/New_York", config=None)

    out = p.ok("run", "--once")

    assert p.database.is_file()
    assert p.ics.is_file()
    assert str(p.ics) in out
    assert p.calendar_events() == []
    assert not p.config_path.exists(), "running must not write a config file"
    assert not (p.home / ".local").exists(), "XDG_DATA_HOME is honoured"
    assert not (p.home / ".config").exists(), "XDG_CONFIG_HOME is honoured"

    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("interview", "add", "Acme Networks", "--at", "2026-12-01 14:00", "--with", "j@acme.com")
    data = p.export()
    assert data["interviews"][0]["start"] == "2026-12-01T14:00:00-05:00"
    assert [d["due"] for d in duties_by(data, "thank_you")] == ["2026-12-01T17:00:00-05:00"]


def test_doctor_says_when_the_service_has_stopped_running_the_jobs(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("run", "--once")
    assert "nothing since" not in p.ok("doctor"), "the jobs just ran"
    # Seconds after a run the jobs are never called late, whatever their interval.
    fast = Pursuit(tmp_path / "fast", config='[feeds]\npoll_every = "1s"\n')
    fast.ok("run", "--once")
    later = clock.at(WRITTEN_AT + timedelta(minutes=2))
    assert "nothing since" not in fast.ok("doctor", env=later)

    next_day = clock.at(WRITTEN_AT + timedelta(days=1))
    stopped = p.run("doctor", env=next_day)
    assert stopped.code == 1, stopped
    assert "job feeds: last success 2026-11-30 12:00; nothing since" in stopped.out
    assert "is the service running? `systemctl --user status pursuit`" in stopped.out


def test_config_file_is_found_in_xdg_config_home_or_named(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=f'database = "{tmp_path}/a/state.sqlite3"\n')
    named = p.write_config(
        f'database = "{tmp_path}/b/state.sqlite3"\n'
        f'[calendar]\nics_file = "{tmp_path}/b/calendar.ics"\n',
        tmp_path / "named.toml",
    )
    from_env = p.write_config(f'database = "{tmp_path}/c/state.sqlite3"\n', tmp_path / "env.toml")

    p.ok("run", "--once")
    assert (tmp_path / "a" / "state.sqlite3").is_file()
    assert not p.database.exists()

    p.ok("--config", str(named), "run", "--once")
    assert (tmp_path / "b" / "state.sqlite3").is_file()
    assert (tmp_path / "b" / "calendar.ics").is_file()

    p.ok("run", "--once", env={"PURSUIT_CONFIG": str(from_env)})
    assert (tmp_path / "c" / "state.sqlite3").is_file()

    # --config wins over PURSUIT_CONFIG; a relative path is relative to the working directory
    p.ok("--config", "named.toml", "org", "add", "Beta", env={"PURSUIT_CONFIG": str(from_env)})
    assert "Beta" in p.ok("--config", str(named), "org", "list")
    assert "Beta" not in p.ok("org", "list", env={"PURSUIT_CONFIG": str(from_env)})
    assert "Beta" not in p.ok("org", "list")

    err = p.one_line_error("--config", str(tmp_path / "missing.toml"), "status")
    assert str(tmp_path / "missing.toml") in err
    assert "no such config file" in err
    err = p.one_line_error("status", env={"PURSUIT_CONFIG": str(tmp_path / "gone.toml")})
    assert str(tmp_path / "gone.toml") in err


def test_init_writes_the_example_and_never_overwrites_it_silently(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=None)

    out = p.ok("init")
    assert str(p.config_path) in out
    assert p.config_path.read_bytes() == EXAMPLE.read_bytes()
    assert "No organization tracked yet" in p.ok("status"), "the written file loads"

    p.config_path.write_text('timezone = "Asia/Tokyo"\n')
    err = p.one_line_error("init")
    assert str(p.config_path) in err
    assert "--force" in err
    assert p.config_path.read_text() == 'timezone = "Asia/Tokyo"\n'

    p.ok("init", "--force")
    assert p.config_path.read_bytes() == EXAMPLE.read_bytes()

    custom = tmp_path / "custom" / "my.toml"
    p.ok("--config", str(custom), "init")
    assert custom.read_bytes() == EXAMPLE.read_bytes()
    from_env = tmp_path / "env" / "pursuit.toml"
    p.ok("init", env={"PURSUIT_CONFIG": str(from_env)})
    assert from_env.read_bytes() == EXAMPLE.read_bytes()


# --- the user's week


def test_the_users_week(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    assert "Acme Networks: acme.com (active)" in p.ok(*ACME_WEEK[0])
    out = p.ok(*ACME_WEEK[1])
    assert "Interview #1: Acme Networks, Tue 01 Dec 2026 14:00" in out
    assert "Jane Doe, Raj Patel" in out

    # Every way of saying when: a weekday after the interview, a number of days, a date.
    assert "Fri 04 Dec 2026" in p.ok("commit", "jane@acme.com", "--on", "friday")
    assert "Sun 06 Dec 2026" in p.ok("commit", "jane@acme.com", "--in", "5d")
    assert "Fri 04 Dec 2026" in p.ok("commit", "Jane Doe", "--on", "2026-12-04")
    assert "liked my BGP" in p.ok("note", "raj@acme.com", "liked my BGP migration story")

    assert "4 pending duties" in p.ok("run", "--once")

    data = p.export()
    [interview] = data["interviews"]
    assert interview["start"] == "2026-12-01T14:00:00+01:00"
    assert interview["end"] == "2026-12-01T15:00:00+01:00"
    assert interview["position"] == "Network Engineer"
    assert interview["interviewers"] == ["jane@acme.com", "raj@acme.com"]
    assert {c["email"]: c["name"] for c in data["contacts"]} == {
        "jane@acme.com": "Jane Doe",
        "raj@acme.com": "Raj Patel",
    }
    due = {(d["kind"], d["contact"]): d["due"] for d in data["duties"]}
    assert due == {
        ("thank_you", "jane@acme.com"): "2026-12-01T17:00:00+01:00",
        ("thank_you", "raj@acme.com"): "2026-12-01T17:00:00+01:00",
        ("follow_up", "jane@acme.com"): "2026-12-04T10:00:00+01:00",  # as promised
        ("follow_up", "raj@acme.com"): "2026-12-08T10:00:00+01:00",  # the default week
    }
    for duty in data["duties"]:
        assert duty["organization"] == "Acme Networks"
        assert duty["state"] == expected_state(duty["due"])
    duty_ids = {d["id"] for d in data["duties"]}
    assert len(data["events"]) == 4  # the duties' three, and the prep sheet's (no duty)
    assert all(e["calendar"] == "ics" for e in data["events"])
    assert all(e["duty"] in duty_ids for e in data["events"] if e["key"] != "prep:1")

    events = p.calendar_events()
    assert len(events) == 4
    [prep] = [e for e in events if str(e["SUMMARY"]).startswith("Prepare: interview")]
    assert prep.decoded("DTSTART") == utc(2026, 11, 30, 18, 0)  # the evening before, 19:00
    assert "Full sheet: pursuit prep 1" in str(prep["DESCRIPTION"])
    [thanks] = [e for e in events if "thank-you" in str(e["SUMMARY"])]
    assert "Acme Networks" in str(thanks["SUMMARY"])
    assert "Jane Doe" in str(thanks["SUMMARY"]) and "Raj Patel" in str(thanks["SUMMARY"])
    assert thanks.decoded("DTSTART") == utc(2026, 12, 1, 16, 0)
    assert "liked my BGP migration story" in str(thanks["DESCRIPTION"])
    [jane] = [e for e in events if e["SUMMARY"] == "Follow up with Jane Doe (Acme Networks)"]
    assert jane.decoded("DTSTART") == utc(2026, 12, 4, 9, 0)
    assert "Network Engineer" in str(jane["DESCRIPTION"])
    assert "Has a decision been made?" in str(jane["DESCRIPTION"])
    [raj] = [e for e in events if e["SUMMARY"] == "Follow up with Raj Patel (Acme Networks)"]
    assert raj.decoded("DTSTART") == utc(2026, 12, 8, 9, 0)
    assert "liked my BGP migration story" in str(raj["DESCRIPTION"])
    assert len({str(e["UID"]) for e in events}) == 4

    # Running again changes nothing: the same file, byte for byte.
    before = p.ics.read_bytes()
    p.ok("run", "--once")
    assert p.ics.read_bytes() == before


def test_late_interview_is_thanked_the_next_morning(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok(
        "interview",
        "add",
        "Acme Networks",
        "--at",
        "2026-12-01 15:30",
        "--end",
        "2026-12-01 16:30",
        "--with",
        "jane@acme.com",
    )
    [thanks] = duties_by(p.export(), "thank_you")
    assert thanks["due"] == "2026-12-02T09:00:00+01:00"


# --- organizations


def test_org_add_list_show(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    assert "No organization yet" in p.ok("org", "list")
    assert json.loads(p.ok("org", "list", "--json")) == []

    p.ok(
        "org",
        "add",
        "Globex",
        "--domain",
        "globex.com",
    )
    out = p.ok(
        "org",
        "add",
        "Acme Networks",
        "--domain",
        "acme.com",
        "--domain",
        "@ACME.io",
        "--position",
        "Network Engineer",
    )
    assert "Acme Networks: acme.com, acme.io (active)" in out
    lines = p.ok("org", "list").splitlines()
    assert [line.split()[0] for line in lines] == ["Acme", "Globex"]
    assert "active" in lines[0] and "acme.com, acme.io" in lines[0]
    listed = json.loads(p.ok("org", "list", "--json"))
    assert [(o["name"], o["domains"], o["status"]) for o in listed] == [
        ("Acme Networks", ["acme.com", "acme.io"], "active"),
        ("Globex", ["globex.com"], "active"),
    ]

    p.ok(
        "interview", "add", "acme", "--at", "2026-12-01 14:00", "--with", "Jane Doe <jane@acme.com>"
    )
    shown = p.ok("org", "show", "acme.io")  # by a domain
    assert shown.startswith("Acme Networks (active)")
    assert "domains: acme.com, acme.io" in shown
    assert "positions: Network Engineer" in shown
    assert "Jane Doe <jane@acme.com>, interviewer" in shown
    assert "#1 Tue 01 Dec 14:00" in shown
    assert "thank-you" in shown and "follow-up" in shown
    record = json.loads(p.ok("org", "show", "Acme Networks", "--json"))
    assert record["contacts"] == [
        {"name": "Jane Doe", "email": "jane@acme.com", "role": "interviewer"}
    ]
    assert [i["interviewers"] for i in record["interviews"]] == [["jane@acme.com"]]
    assert sorted(d["kind"] for d in record["duties"]) == ["follow_up", "thank_you"]

    before = p.export()
    assert "already belongs to Acme Networks" in p.one_line_error(
        "org", "add", "Initech", "--domain", "acme.com"
    )
    assert "--domain 'not a domain'" in p.one_line_error(
        "org", "add", "Initech", "--domain", "not a domain"
    )
    assert "empty" in p.one_line_error("org", "add", "  ")
    assert p.export() == before


def test_commands_that_change_data_know_the_organizations_of_the_config(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config='[[organization]]\nname = "Globex"\ndomains = ["globex.com"]\n')
    out = p.ok(
        "interview", "add", "globex.com", "--at", "2026-12-01 14:00", "--with", "h@globex.com"
    )
    assert "Interview #1: Globex, Tue 01 Dec 2026 14:00" in out
    initech = '[[organization]]\nname = "Initech"\ndomains = ["initech.com"]\n'
    p.write_config(f'timezone = "{p.timezone}"\n{initech}')  # Globex leaves the config
    assert "Initech: rejected" in p.ok("org", "status", "initech.com", "rejected")
    assert [o["name"] for o in p.export()["organizations"]] == ["Globex", "Initech"]


def test_org_status_rejected_plans_a_check_in_and_closing_cancels(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    names = {"Acme": "rejected", "Globex": "offer", "Initech": "withdrawn", "Umbrella": "closed"}
    for name in names:
        domain = f"{name.lower()}.com"
        p.ok("org", "add", name, "--domain", domain)
        p.ok("interview", "add", name, "--at", day_at(10, "14:00"), "--with", f"x@{domain}")
    assert all(d["state"] == "pending" for d in p.export()["duties"])

    out = p.ok("org", "status", "acme", "rejected")
    assert "Acme: rejected" in out and "check-in" in out and "45 days" in out
    for name, status in list(names.items())[1:]:
        assert f"{name}: {status}; pending duties cancelled" in p.ok("org", "status", name, status)

    data = p.export()
    assert {o["name"]: o["status"] for o in data["organizations"]} == names
    today = datetime.now(PARIS).date()
    check_in_due = datetime.combine(today + timedelta(days=45), time(10), tzinfo=PARIS)
    [check_in] = duties_by(data, "check_in")
    assert check_in["organization"] == "Acme"
    assert check_in["contact"] == "x@acme.com"
    assert check_in["due"] == check_in_due.isoformat()
    assert check_in["state"] == "pending"
    others = [d for d in data["duties"] if d["kind"] != "check_in"]
    assert len(others) == 8
    assert {d["state"] for d in others} == {"cancelled"}

    p.ok("run", "--once")
    summaries = [str(e["SUMMARY"]) for e in p.calendar_events()]
    assert summaries == ["Check in with Acme (x@acme.com)"]

    # Back to active: the check-in goes, the interview's duties come back.
    p.ok("org", "status", "acme", "active")
    data = p.export()
    assert duties_by(data, "check_in")[0]["state"] == "cancelled"
    acme = [d for d in data["duties"] if d["organization"] == "Acme" and d["kind"] != "check_in"]
    assert {d["state"] for d in acme} == {"pending"}


# --- duties by hand


def test_done_and_snooze(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    p.ok(
        "interview", "add", "acme", "--at", "2026-12-01 14:00", "--with", "Jane Doe <jane@acme.com>"
    )
    data = p.export()
    [thanks] = duties_by(data, "thank_you")
    [follow] = duties_by(data, "follow_up")

    assert f"Duty #{thanks['id']} done" in p.ok("done", str(thanks["id"]))
    assert f"Duty #{thanks['id']} was already done on " in p.ok("done", str(thanks["id"]))
    out = p.ok("snooze", str(follow["id"]), "--to", "2026-12-20")
    assert "now due Sun 20 Dec 2026 10:00" in out  # the day changes, the time of day stays
    p.ok("run", "--once")

    data = p.export()
    [thanks] = duties_by(data, "thank_you")
    [follow] = duties_by(data, "follow_up")
    assert thanks["state"] == "done" and thanks["done_at"]
    assert follow["due"] == "2026-12-20T10:00:00+01:00"
    assert follow["state"] == "pending"
    events = by_key(p.calendar_events())
    assert str(events["thank_you:1"]["SUMMARY"]) == "Thank-you notes sent: Acme (Jane Doe)"
    assert events["follow_up:1:1"].decoded("DTSTART") == utc(2026, 12, 20, 9, 0)

    # A day and a time; and a snoozed duty stays put when its interview moves.
    p.ok("snooze", str(follow["id"]), "--to", "2026-12-21 08:15")
    p.ok("interview", "move", "1", "--at", "2026-12-02 14:00")
    [follow] = duties_by(p.export(), "follow_up")
    assert follow["due"] == "2026-12-21T08:15:00+01:00"


# --- correspondence and history


def test_log_and_history_newest_first(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok(*ACME_WEEK[0])
    p.ok(*ACME_WEEK[1])
    assert "Logged call with Jane Doe" in p.ok(
        "log", "call", "jane@acme.com", "first call", "--at", "2026-11-02 09:00"
    )
    assert "Logged email with Raj Patel" in p.ok(
        "log", "email", "Raj Patel", "sent my portfolio", "--at", "2026-11-03 10:00"
    )
    p.ok("log", "note", "jane@acme.com", "she liked the demo", "--at", "2026-11-04 11:00", "--in")

    text = p.ok("history", "acme")
    assert text.splitlines()[0] == "Acme Networks"
    order = [text.index(s) for s in ("she liked the demo", "sent my portfolio", "first call")]
    assert order == sorted(order), text
    assert "2026-11-02 09:00  -> call" in text
    assert "2026-11-04 11:00  <- note" in text

    text = p.ok("history", "jane@acme.com")
    assert text.splitlines()[0] == "Jane Doe <jane@acme.com>"
    assert "she liked the demo" in text and "first call" in text
    assert "sent my portfolio" not in text
    assert text.index("she liked the demo") < text.index("first call")
    assert "Network Engineer" in text  # her interview is part of her record

    record = json.loads(p.ok("history", "Raj Patel", "--json"))
    assert record["title"] == "Raj Patel <raj@acme.com>"
    dates = [datetime.fromisoformat(e["date"]) for e in record["entries"]]
    assert dates == sorted(dates, reverse=True)
    assert [e["text"] for e in record["entries"] if e["type"] == "email"] == ["sent my portfolio"]

    logged = {m["subject"]: m for m in p.export()["correspondence"]}
    assert logged["first call"]["channel"] == "call"
    assert logged["first call"]["direction"] == "out"
    assert logged["first call"]["date"] == "2026-11-02T09:00:00+01:00"
    assert logged["first call"]["contacts"] == ["jane@acme.com"]
    assert logged["first call"]["organization"] == "Acme Networks"
    assert logged["she liked the demo"]["direction"] == "in"
    assert logged["she liked the demo"]["channel"] == "note"
    assert logged["sent my portfolio"]["channel"] == "email"

    # Without --at, now: the newest correspondence of all.
    p.ok("log", "call", "raj@acme.com", "just now")
    entries = json.loads(p.ok("history", "acme", "--json"))["entries"]
    calls = [e["text"] for e in entries if e["type"] in ("call", "email", "note")]
    assert calls[0] == "just now"


# --- forget


def forget_fixture(p: Pursuit) -> None:
    p.ok(*ACME_WEEK[0])
    p.ok(*ACME_WEEK[1])
    p.ok("org", "add", "Globex", "--domain", "globex.com")
    p.ok(
        "interview", "add", "globex", "--at", "2026-12-02 10:00", "--with", "Gail <gail@globex.com>"
    )
    p.ok("log", "call", "raj@acme.com", "talked to Raj")
    p.ok("log", "call", "jane@acme.com", "talked to Jane")
    p.ok("log", "note", "gail@globex.com", "talked to Gail")
    p.ok("run", "--once")


def test_forget_an_organization_or_a_contact(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    forget_fixture(p)

    # Standard input is no terminal (a script, a process of its own): nothing is asked.
    assert "Forgot contact Raj Patel" in p.ok("forget", "raj@acme.com", process=True)
    assert "Forgot organization Globex" in p.ok("forget", "Globex")
    p.ok("run", "--once")

    data = p.export()
    assert [o["name"] for o in data["organizations"]] == ["Acme Networks"]
    assert [c["email"] for c in data["contacts"]] == ["jane@acme.com"]
    assert [i["interviewers"] for i in data["interviews"]] == [["jane@acme.com"]]
    assert {d["contact"] for d in data["duties"]} == {"jane@acme.com"}
    subjects = [m["subject"] for m in data["correspondence"]]
    assert "talked to Jane" in subjects and "talked to Gail" not in subjects
    assert all(m["contacts"] in ([], ["jane@acme.com"]) for m in data["correspondence"])
    text = json.dumps(data)
    assert "Raj Patel" not in text and "Globex" not in text and "Gail" not in text
    ics = p.ics.read_text()
    assert "Raj" not in ics and "Globex" not in ics and "Gail" not in ics
    summaries = sorted(str(e["SUMMARY"]) for e in p.calendar_events())
    assert summaries == [
        "Follow up with Jane Doe (Acme Networks)",
        "Prepare: interview at Acme Networks, tomorrow 14:00",
        "Send thank-you notes: Acme Networks (Jane Doe)",
    ]


def test_forget_a_contact_leaves_no_trace_of_their_address(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    forget_fixture(p)
    p.ok("forget", "raj@acme.com")
    data = p.export()
    assert [m["subject"] for m in data["correspondence"]] == ["talked to Jane", "talked to Gail"]
    assert "raj@acme.com" not in json.dumps(data)


# --- status


def test_status_shows_overdue_first_then_next(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    assert "No organization tracked yet" in p.ok("status")
    empty = json.loads(p.ok("status", "--json"))
    assert (empty["organizations"], empty["overdue"], empty["upcoming"]) == ([], [], [])

    p.ok("org", "add", "Acme", "--domain", "acme.com")
    p.ok("org", "add", "Globex", "--domain", "globex.com")
    p.ok("interview", "add", "acme", "--at", day_at(-3, "10:00"), "--with", "Jane <jane@acme.com>")
    p.ok(
        "interview",
        "add",
        "globex",
        "--at",
        day_at(10, "10:00"),
        "--with",
        "Gail <gail@globex.com>",
    )

    text = p.ok("status")
    assert text.index("Organizations") < text.index("Acme") < text.index("Globex")
    assert text.index("Globex") < text.index("Overdue") < text.index("Next")
    overdue_part = text[text.index("Overdue") : text.index("Next")]
    assert "thank-you" in overdue_part and "Jane (Acme)" in overdue_part
    assert "Gail" not in overdue_part
    next_part = text[text.index("Next") :]
    assert "follow-up  Jane (Acme)" in next_part  # three days ago plus a week: still ahead
    assert "thank-you  Gail (Globex)" in next_part
    assert "pursuit done ID" in text

    record = json.loads(p.ok("status", "--json"))
    assert [(o["name"], o["status"], o["interviews"]) for o in record["organizations"]] == [
        ("Acme", "active", 1),
        ("Globex", "active", 1),
    ]
    assert [(d["kind"], d["contact"], d["state"]) for d in record["overdue"]] == [
        ("thank_you", "jane@acme.com", "overdue")
    ]
    assert {(d["kind"], d["contact"]) for d in record["upcoming"]} == {
        ("follow_up", "jane@acme.com"),
        ("thank_you", "gail@globex.com"),
        ("follow_up", "gail@globex.com"),
    }
    assert {d["state"] for d in record["upcoming"]} == {"pending"}
    dues = [d["due"] for d in record["upcoming"]]
    assert dues == sorted(dues)
    assert [d["state"] for d in duties_by(p.export(), "thank_you", "jane@acme.com")] == ["overdue"]


# --- interviews move and cancel


def test_interview_move_and_cancel_reach_the_calendar(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    p.ok(
        "interview", "add", "acme", "--at", "2026-12-01 14:00", "--with", "Jane Doe <jane@acme.com>"
    )
    p.ok(
        "interview", "add", "acme", "--at", "2026-12-03 11:00", "--with", "Raj Patel <raj@acme.com>"
    )
    p.ok("run", "--once")
    before = by_key(p.calendar_events())
    assert set(before) == {
        *("thank_you:1", "thank_you:2", "follow_up:1:1", "follow_up:2:2"),
        *("prep:1", "prep:2"),  # each interview's prep sheet, the evening before
    }

    assert "moved to Wed 02 Dec 2026 09:30" in p.ok(
        "interview", "move", "1", "--at", "2026-12-02 09:30"
    )
    assert "Interview #2 cancelled" in p.ok("interview", "cancel", "2")
    p.ok("run", "--once")

    events = p.calendar_events()
    after = by_key(events)
    assert set(after) == {"thank_you:1", "follow_up:1:1", "prep:1"}
    assert len(events) == 3
    assert after["prep:1"].decoded("DTSTART") == utc(2026, 12, 1, 18, 0)
    thanks = after["thank_you:1"]
    assert thanks.decoded("DTSTART") == utc(2026, 12, 2, 16, 0)
    assert str(thanks["UID"]) == str(before["thank_you:1"]["UID"])
    assert thanks.decoded("SEQUENCE") > before["thank_you:1"].decoded("SEQUENCE")
    assert after["follow_up:1:1"].decoded("DTSTART") == utc(2026, 12, 9, 9, 0)
    assert "Raj" not in p.ics.read_text()

    data = p.export()
    assert [i["cancelled"] for i in data["interviews"]] == [False, True]
    assert {d["state"] for d in data["duties"] if d["contact"] == "raj@acme.com"} == {"cancelled"}
    assert {d["due"] for d in data["duties"] if d["contact"] == "jane@acme.com"} == {
        "2026-12-02T17:00:00+01:00",
        "2026-12-09T10:00:00+01:00",
    }
    assert len(data["events"]) == 3

    listing = p.ok("interview", "list")
    assert "#1" in listing and "Wed 02 Dec 2026 09:30" in listing
    assert "(cancelled)" in listing.splitlines()[1]
    assert "no interview with id 9" in p.one_line_error(
        "interview", "move", "9", "--at", "2026-12-05 10:00"
    )
    assert "no interview with id 9" in p.one_line_error("interview", "cancel", "9")


# --- export


def test_export_json_csv_ics(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok(*ACME_WEEK[0])
    p.ok(*ACME_WEEK[1])
    two_days_on = clock.at(WRITTEN_AT + timedelta(days=2))
    p.ok(
        "log", "email", "jane@acme.com", "thanks again", "--at", "2026-12-01 18:00", env=two_days_on
    )
    p.ok("run", "--once")

    data = p.export()
    assert set(data) == SECTIONS
    for section, keys in CONTRACT.items():
        assert data[section], section
        for record in data[section]:
            assert keys <= set(record), (section, keys - set(record))
    for duty in data["duties"]:
        assert duty["kind"] in ("thank_you", "follow_up", "check_in")
        assert duty["state"] in ("pending", "done", "overdue", "cancelled")
        assert datetime.fromisoformat(duty["due"]).utcoffset() is not None
        assert "@" in duty["contact"]
    for interview in data["interviews"]:
        assert datetime.fromisoformat(interview["start"]).utcoffset() is not None
        assert datetime.fromisoformat(interview["end"]).utcoffset() is not None
    [mail] = data["correspondence"]
    assert (mail["direction"], mail["channel"], mail["contacts"]) == (
        "out",
        "email",
        ["jane@acme.com"],
    )
    assert data["feed_items"] == []

    p.ok("export", "--format", "csv", "--output", str(tmp_path / "tables"))
    for section in SECTIONS:
        text = (tmp_path / "tables" / f"{section}.csv").read_text(encoding="utf-8")
        assert len(list(csv.DictReader(io.StringIO(text)))) == len(data[section]), section
    duties = list(
        csv.DictReader(io.StringIO(p.ok("export", "--format", "csv", "--table", "duties")))
    )
    assert {"kind", "contact", "due", "state"} <= set(duties[0])

    ics = subprocess.run(
        [*pursuit_command(), "export", "--format", "ics"],
        env=p.env(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    ).stdout
    calendar = icalendar.Calendar.from_ical(ics)
    uids = {str(e["UID"]) for e in calendar.walk("VEVENT")}
    assert uids == {f"{e['id']}@pursuit" for e in data["events"]}
    assert ics == p.ics.read_bytes()


# --- bad input on the command line


def test_bad_command_line_input_is_one_line_exit_2_and_changes_nothing(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("org", "add", "Acme Labs", "--domain", "acmelabs.com")
    p.ok(
        "interview",
        "add",
        "Acme Networks",
        "--at",
        "2026-12-01 14:00",
        "--with",
        "Jane <jane@acme.com>",
    )
    p.ok(
        "interview",
        "add",
        "Acme Labs",
        "--at",
        "2026-12-02 14:00",
        "--with",
        "Jane <jane@acmelabs.com>",
    )
    p.ok("run", "--once")
    before = p.export()
    calendar_before = p.ics.read_bytes()

    cases: list[tuple[tuple[str, ...], list[str]]] = [
        (
            ("interview", "add", "acme", "--at", "2026-12-03 14:00", "--with", "x@acme.com"),
            ["'acme' is ambiguous", "Acme Labs", "Acme Networks"],
        ),
        (
            ("interview", "add", "Nowhere", "--at", "2026-12-03 14:00"),
            ["no organization named 'Nowhere'"],
        ),
        (
            ("interview", "add", "Acme Networks", "--at", "next blursday"),
            ["'next blursday' is not a date"],
        ),
        (("interview", "add", "Acme Networks", "--at", "2026-13-01 14:00"), ["'2026-13-01 14:00'"]),
        (
            (
                "interview",
                "add",
                "Acme Networks",
                "--at",
                "2026-12-03 14:00",
                "--end",
                "2026-12-03 13:00",
            ),
            ["is not after"],
        ),
        (
            ("interview", "add", "Acme Networks", "--at", "2026-12-03 14:00", "--with", "Bob"),
            ["--with 'Bob'"],
        ),
        (
            ("commit", "Jane", "--on", "friday"),
            ["'Jane' is ambiguous", "jane@acme.com", "jane@acmelabs.com"],
        ),
        (
            ("commit", "nobody@acme.com", "--on", "friday"),
            ["no contact with address 'nobody@acme.com'"],
        ),
        (("commit", "Nobody", "--on", "friday"), ["no contact named 'Nobody'"]),
        (("commit", "jane@acme.com", "--on", "someday"), ["'someday' is not a date"]),
        (("commit", "jane@acme.com", "--on", "2026-02-30"), ["'2026-02-30' is not a date"]),
        (("commit", "jane@acme.com", "--in", "5 fortnights"), ["'5 fortnights'", "duration"]),
        (("commit", "jane@acme.com"), ["exactly one of --on"]),
        (("commit", "jane@acme.com", "--on", "2026-11-20"), ["before the interview"]),
        (("note", "Jane", "nice"), ["ambiguous"]),
        (("log", "call", "nobody@x.com", "hello"), ["nobody@x.com"]),
        (("log", "call", "jane@acme.com", "hello", "--at", "noonish"), ["'noonish' is not a date"]),
        (("done", "999"), ["no duty with id 999"]),
        (("snooze", "999", "--to", "2026-12-20"), ["no duty with id 999"]),
        (("snooze", "1", "--to", "blursday"), ["'blursday' is not a date"]),
        (("org", "status", "Nowhere", "rejected"), ["no organization named 'Nowhere'"]),
        (("org", "show", "Nowhere"), ["no organization named 'Nowhere'"]),
        (("history", "Nowhere"), ["no organization or contact named 'Nowhere'"]),
        (("history", "Jane"), ["ambiguous"]),
        (("forget", "Nowhere", "--yes"), ["no organization or contact named 'Nowhere'"]),
        (("forget", "Jane", "--yes"), ["ambiguous"]),
        (("forget", "acme", "--yes"), ["ambiguous"]),
    ]
    for args, fragments in cases:
        line = p.one_line_error(*args)
        for fragment in fragments:
            assert fragment in line, (args, line)

    # mistakes click finds: the same one line, naming the problem and where to look
    for args, fragment, where in (
        (("org", "status", "Acme", "happy"), "'happy' is not one of", "pursuit org status"),
        (("bogus",), "No such command 'bogus'", "pursuit"),
        (("done", "one"), "'one' is not a valid integer", "pursuit done"),
        (("status", "--colour"), "No such option '--colour'", "pursuit status"),
    ):
        line = p.one_line_error(*args)
        assert fragment in line and line.endswith(f"; see `{where} --help`"), line

    assert p.export() == before
    p.ok("run", "--once")
    assert p.ics.read_bytes() == calendar_before


def test_a_newer_or_broken_database_is_refused(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    with sqlite3.connect(p.database) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()

    for args in (("status",), ("run", "--once"), ("org", "add", "Globex")):
        err = p.one_line_error(*args)
        assert str(p.database) in err
        assert "schema version 99" in err and "upgrade pursuit" in err
    with sqlite3.connect(p.database) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99
        assert db.execute("SELECT count(*) FROM organizations").fetchone()[0] == 1
    db.close()

    other = Pursuit(tmp_path / "other")
    other.data_dir.mkdir(parents=True)
    other.database.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    err = other.one_line_error("status")
    assert str(other.database) in err and "the state database is damaged" in err


# --- run --once failing, named


def test_run_once_names_the_job_that_failed_and_keeps_the_rest(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    p.ok("interview", "add", "acme", "--at", "2026-12-01 14:00", "--with", "jane@acme.com")
    p.data_dir.mkdir(parents=True, exist_ok=True)
    p.ics.write_text("BEGIN:VCALENDAR\nthis is not iCalendar\n")

    result = p.run("run", "--once")
    assert result.code == 1 and "Traceback" not in result.err, result
    err = result.err
    assert "job calendar failed" in err
    assert str(p.ics) in err
    assert "job plan failed" not in err
    assert err.count(str(p.ics)) == 1, "said once"
    assert "pursuit: 1 job failed (calendar)" in err
    assert "2 pending duties" in result.out
    assert p.ics.read_text() == "BEGIN:VCALENDAR\nthis is not iCalendar\n", "the file is kept"
    assert len(p.export()["events"]) == 3, "planning still ran"

    p.ics.unlink()
    p.ok("run", "--once")
    assert len(p.calendar_events()) == 3


def test_google_calendar_without_a_google_account_is_a_clear_error(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config='[calendar]\nkind = "google"\n')
    result = p.run("run", "--once")
    assert result.code == 2
    assert "Traceback" not in result.err
    assert "calendar.kind: 'google' needs a [google] section" in result.err
    assert "pursuit auth google" in result.err


# --- help, and what a command imports


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def test_help_of_every_command(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    top = p.ok("--help")
    assert "Usage: pursuit" in top
    for name in cli.commands:
        assert name in top
    paths = list(command_paths(cli))
    assert ("interview", "list") in paths, "`interview --help` promises a list command"
    for path in paths:
        out = p.ok(*path, "--help")
        assert out.startswith(f"Usage: pursuit {' '.join(path)}"), out
    assert p.ok("status", "-h") == p.ok("status", "--help")
    assert not p.database.exists(), "help touches nothing"


def test_status_imports_no_google_microsoft_or_web_library(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok(*ACME_WEEK[0])
    p.ok(*ACME_WEEK[1])
    report = tmp_path / "modules.json"
    script = "\n".join(
        [
            "import json, sys",
            "from pursuit.daemon.cli import main",
            "def call(*argv):",
            "    try:",
            "        main(list(argv))",
            "    except SystemExit as exc:",
            "        assert exc.code == 0, (argv, exc.code)",
            "    return sorted(sys.modules)",
            "report = {'status': call('status'), 'status_json': call('status', '--json')}",
            "report['all'] = [",
            "    *call('org', 'list'), *call('export'), *call('run', '--once'),",
            "    *call('done', '--help'),",
            "]",
            f"open({str(report)!r}, 'w').write(json.dumps(report))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=p.env(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules: dict[str, list[str]] = json.loads(report.read_text())

    def google(names: list[str]) -> list[str]:
        return [n for n in names if n.split(".")[0] in ("google", "googleapiclient", "httplib2")]

    assert google(modules["status_json"]) == []
    assert google(modules["all"]) == []
    # The dashboard's libraries load only in `pursuit web` and a service serving it.
    web = ("flask", "werkzeug", "waitress", "itsdangerous", "blinker")
    for command, names in modules.items():
        assert [n for n in names if n.split(".")[0] in web] == [], command
    for heavy in ("feedparser", "imapclient", "google_auth_oauthlib", "msal", "requests"):
        assert heavy not in modules["status"]
    # Microsoft's sign-in library (about 120 ms to import) loads only where an account uses it.
    assert [n for n in modules["all"] if n.split(".")[0] == "msal"] == []
