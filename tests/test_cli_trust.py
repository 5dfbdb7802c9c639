"""Records a job seeker can trust: ordinary mistakes and situations, through the command line.

Each test feeds `pursuit` a real situation through its command line (support.cli)
and looks at what the user sees: the words printed, the exit code, `pursuit export`
and the calendar file.
Interviews are in the future (days counted from today), so nothing depends on the date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support import clock
from support.cli import Pursuit, duties_by

# Written on 30 November 2026 against fixed dates: run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

PARIS = ZoneInfo("Europe/Paris")


def day(days_from_today: int) -> datetime:
    """A working day about that many days from today, at midnight in Paris."""
    moment = datetime.now(PARIS).replace(hour=0, minute=0, second=0, microsecond=0)
    moment += timedelta(days=days_from_today)
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    return moment


def at(moment: datetime, clock: str = "") -> str:
    return f"{moment:%Y-%m-%d}" + (f" {clock}" if clock else "")


def shown(moment: datetime) -> str:
    """A day as pursuit prints it."""
    return f"{moment:%a %d %b %Y}"


def one(data: dict[str, Any], kind: str, contact: str = "jane@acme.com") -> dict[str, Any]:
    [duty] = duties_by(data, kind, contact)
    return duty


def acme_with_jane(p: Pursuit, start: datetime, *more: str) -> None:
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    p.ok(
        "interview",
        "add",
        "acme",
        "--at",
        at(start, "14:00"),
        "--with",
        "Jane Doe <jane@acme.com>",
        *more,
    )


# --- 1. "done" means done


def test_a_finished_duty_is_not_snoozed_until_reopened(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start)
    thanks = one(p.export(), "thank_you")["id"]
    p.ok("done", str(thanks))

    err = p.one_line_error("snooze", str(thanks), "--to", at(start + timedelta(days=2)))
    assert f"duty #{thanks} is done on " in err and f"`pursuit reopen {thanks}`" in err
    assert one(p.export(), "thank_you")["state"] == "done"

    # done twice: said so, exit 0, nothing changes
    out = p.ok("done", str(thanks))
    assert f"Duty #{thanks} was already done on " in out and "(marked done by you)" in out

    assert f"Duty #{thanks} is pending again, due {shown(start)} 17:00" in p.ok(
        "reopen", str(thanks)
    )
    assert f"Duty #{thanks} is pending already" in p.ok("reopen", str(thanks))
    later = start + timedelta(days=2)
    assert f"now due {shown(later)} 17:00" in p.ok("snooze", str(thanks), "--to", at(later))
    duty = one(p.export(), "thank_you")
    assert duty["state"] == "pending" and duty["due"].startswith(at(later))


def test_a_snooze_into_the_past_or_before_the_interview_is_refused(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start)
    follow = one(p.export(), "follow_up")
    yesterday = datetime.now(PARIS) - timedelta(days=1)
    err = p.one_line_error("snooze", str(follow["id"]), "--to", at(yesterday))
    assert "is in the past; give a later day or time" in err
    err = p.one_line_error("snooze", str(follow["id"]), "--to", at(start - timedelta(days=1)))
    assert "is before the end of its interview (#1, " in err
    assert one(p.export(), "follow_up") == follow


def test_a_cancelled_duty_is_explained_and_its_interview_restored(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start)
    before = p.export()
    thanks = one(before, "thank_you")["id"]
    p.ok("interview", "cancel", "1")
    assert "Interview #1 was already cancelled" in p.ok("interview", "cancel", "1")

    for command in (("snooze", str(thanks), "--to", at(start + timedelta(days=1))), ("done",)):
        args = (*command, str(thanks)) if command == ("done",) else command
        err = p.one_line_error(*args)
        assert "its interview #1 was cancelled (`pursuit interview restore 1`" in err
    assert "`pursuit interview restore 1`" in p.one_line_error("reopen", str(thanks))

    out = p.ok("interview", "restore", "1")
    assert "Interview #1 restored" in out
    assert f"#{thanks} thank-you to Jane Doe, due {shown(start)} 17:00" in out
    after = p.export()
    assert [(d["id"], d["state"], d["due"]) for d in after["duties"]] == [
        (d["id"], d["state"], d["due"]) for d in before["duties"]
    ]
    assert "is not cancelled; nothing to restore" in p.ok("interview", "restore", "1")
    listing = p.ok("interview", "list")
    assert "(cancelled)" not in listing


def test_a_restored_interview_at_a_closed_organization_says_why_nothing_is_planned(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path)
    acme_with_jane(p, day(7))
    p.ok("interview", "cancel", "1")
    p.ok("org", "status", "acme", "withdrawn")
    out = p.ok("interview", "restore", "1")
    assert 'No duty planned: Acme is withdrawn (`pursuit org status "Acme" active`' in out


def test_commit_never_prints_a_day_that_is_then_ignored(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start)
    friday = start + timedelta(days=3)
    follow = one(p.export(), "follow_up")["id"]

    # a snoozed follow-up: the newer promise wins, and the output says the day it is due
    p.ok("snooze", str(follow), "--to", at(start + timedelta(days=20)))
    out = p.ok("commit", "jane@acme.com", "--on", at(friday))
    assert out.strip() == f"Follow up with Jane Doe on {shown(friday)}"
    assert one(p.export(), "follow_up")["due"].startswith(at(friday))

    # the same promise twice: said once more, logged once (the dashboard's form resent too)
    assert f"Already promised: follow up with Jane Doe on {shown(friday)}" in p.ok(
        "commit", "jane@acme.com", "--on", at(friday)
    )
    assert p.ok("history", "acme").count(f"promise   follow up on {friday:%Y-%m-%d}") == 1

    # a follow-up already done: the promise is recorded, and the output says what happens
    p.ok("done", str(follow))
    later = friday + timedelta(days=3)
    out = p.ok("commit", "jane@acme.com", "--on", at(later))
    assert "but the follow-up is already done on " in out
    assert f"`pursuit reopen {follow}` plans it again for {shown(later)}" in out
    assert "Follow up with Jane Doe on" not in out
    p.ok("reopen", str(follow))
    assert one(p.export(), "follow_up")["due"].startswith(at(later))

    # an organization no longer active: no follow-up is planned, and the output says so
    p.ok("org", "status", "acme", "rejected")
    out = p.ok("commit", "jane@acme.com", "--on", at(friday))
    assert "but Acme is rejected, so no follow-up is planned" in out

    # a day before the interview is refused, as before
    err = p.one_line_error("commit", "jane@acme.com", "--on", at(start - timedelta(days=1)))
    assert "is before the interview" in err


# --- 2. moving an interview keeps things consistent


def test_move_refuses_an_end_not_after_the_start(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start)
    before = p.export()
    for end in ("13:00", "14:00"):
        err = p.one_line_error(
            "interview", "move", "1", "--at", at(start, "14:00"), "--end", at(start, end)
        )
        assert "is not after --at" in err
    assert p.export() == before


def test_a_promise_the_interview_moves_past_moves_after_it_and_says_so(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start, "--with", "Raj Patel <raj@acme.com>")
    promised = start + timedelta(days=2)
    p.ok("commit", "jane@acme.com", "--on", at(promised))
    raj_thanks = one(p.export(), "thank_you", "raj@acme.com")["id"]
    p.ok("snooze", str(raj_thanks), "--to", at(start + timedelta(days=1), "09:00"))

    new_start = start + timedelta(days=7)
    out = p.ok("interview", "move", "1", "--at", at(new_start, "14:00"))
    moved_promise = promised + timedelta(days=7)
    assert f"moved to {shown(new_start)} 14:00" in out
    assert (
        f"The follow-up promised to Jane Doe for {promised:%a %d %b} would come before the "
        f"interview: moved to {moved_promise:%a %d %b}"
    ) in out
    assert f"Duty #{raj_thanks} (thank-you to Raj Patel) was snoozed to " in out

    data = p.export()
    jane = one(data, "follow_up")
    assert jane["due"].startswith(at(moved_promise))
    raj = one(data, "thank_you", "raj@acme.com")
    assert raj["due"].startswith(at(new_start)) and raj["state"] == "pending"
    interview_start = data["interviews"][0]["start"]
    assert all(d["due"] > interview_start for d in data["duties"])

    # a move that leaves everything after the interview changes nothing else, and says nothing
    out = p.ok("interview", "move", "1", "--at", at(new_start, "15:00"))
    assert out.strip() == f"Interview #1 moved to {shown(new_start)} 15:00"


# --- 3. a command repeated by mistake


def test_the_same_interview_added_twice_is_recorded_once(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    command = (
        "interview",
        "add",
        "acme",
        "--at",
        at(start, "14:00"),
        "--with",
        "Jane Doe <jane@acme.com>",
        "--with",
        "raj@acme.com",
    )
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    p.ok(*command)
    p.ok("run", "--once")
    before = p.export()
    calendar = p.ics.read_bytes()

    out = p.ok(*command)
    assert out.startswith("Already recorded as interview #1: Acme, ")
    assert "nothing added" in out
    p.ok("run", "--once")
    after = p.export()
    assert len(after["interviews"]) == 1
    assert after["duties"] == before["duties"] and after["events"] == before["events"]
    assert p.ics.read_bytes() == calendar

    # typed again with fewer people, or none, it is still that interview: no second
    # thank-you to Jane
    for fewer in (command[:-2], command[:-4]):
        out = p.ok(*fewer)
        assert out.startswith("Already recorded as interview #1: Acme, "), out
        assert "with Jane Doe, raj@acme.com; nothing added" in out
    assert len(duties_by(p.export(), "thank_you", "jane@acme.com")) == 1
    # another time, or someone who is not on it, is another interview
    assert "Interview #2" in p.ok(*command[:4], at(start, "16:00"), *command[5:])
    assert "Interview #3" in p.ok(*command[:6], "kim@acme.com")


def test_org_add_of_a_tracked_organization_adds_only_what_is_new(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com", "--position", "Network Engineer")
    out = p.ok("org", "add", "acme", "--domain", "acme.com", "--position", "Network Engineer")
    assert out.strip() == (
        "Acme is already tracked; nothing new to add "
        "(domains: acme.com; positions: Network Engineer)"
    )
    out = p.ok("org", "add", "ACME", "--domain", "acme.io", "--position", "SRE")
    assert "Acme is already tracked; added domain acme.io, position 'SRE'" in out
    [org] = p.export()["organizations"]
    assert org["name"] == "Acme"
    assert org["domains"] == ["acme.com", "acme.io"]
    assert org["positions"] == ["Network Engineer", "SRE"]  # added, never replaced


def test_commands_said_twice_change_nothing_the_second_time(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    acme_with_jane(p, day(7))
    p.ok("org", "status", "acme", "rejected")
    before = p.export()
    assert "Acme is already rejected (since " in p.ok("org", "status", "acme", "rejected")
    assert p.export() == before


def test_the_same_log_entry_within_a_minute_is_logged_once(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    acme_with_jane(p, day(7))
    entry = ("log", "call", "jane@acme.com", "asked about the team", "--in")
    assert "Logged call with Jane Doe" in p.ok(*entry)
    assert "Already logged: call with Jane Doe at " in p.ok(*entry)
    # the same words at a time given twice, too
    at_noon = (*entry, "--at", at(day(-3), "12:00"))  # last Friday
    p.ok(*at_noon)
    assert "Already logged" in p.ok(*at_noon)
    # other words, or the other direction, are another entry
    p.ok("log", "call", "jane@acme.com", "asked about the team")
    p.ok("log", "call", "jane@acme.com", "asked about the office", "--in")
    assert len(p.export()["correspondence"]) == 4


# --- 4. addresses and names at the door


def test_what_is_not_an_address_is_refused_naming_it(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    for bad in ("@x", "jane@", "jane@acme", "Jane <jane@acme>", "jane doe@acme.com"):
        err = p.one_line_error(
            "interview", "add", "acme", "--at", at(day(7), "14:00"), "--with", bad
        )
        assert f"--with {bad!r} is not a mail address" in err, err
    assert p.export()["interviews"] == [] and p.export()["contacts"] == []
    # every bad one named at once
    err = p.fails(
        "interview", "add", "acme", "--at", at(day(7), "14:00"), "--with", "@x", "--with", "y@"
    )
    assert "'@x'" in err and "'y@'" in err


def test_a_name_with_a_comma_is_one_person(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    out = p.ok(
        "interview",
        "add",
        "acme",
        "--at",
        at(day(7), "14:00"),
        "--with",
        "Doe, Jane <jd@acme.com>",
        "--with",
        '"Patel, Raj" <raj@acme.com>',
    )
    assert "with Doe, Jane, Patel, Raj" in out
    contacts = {c["addresses"][0]: c["name"] for c in p.export()["contacts"]}
    assert contacts == {"jd@acme.com": "Doe, Jane", "raj@acme.com": "Patel, Raj"}


def test_control_characters_in_names_are_refused(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    err = p.one_line_error("org", "add", "Acme\nEvil", "--domain", "acme.com")
    assert "contains control characters (U+000A)" in err
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    err = p.one_line_error(
        "interview",
        "add",
        "acme",
        "--at",
        at(day(7), "14:00"),
        "--with",
        "Jane\u202eDoe <j@acme.com>",
    )
    assert "U+202E" in err
    assert [o["name"] for o in p.export()["organizations"]] == ["Acme"]


def test_internationalised_domains_are_kept_as_typed_and_found_in_both_forms(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path, config='[[organization]]\nname = "Müller"\ndomains = ["müller.de"]\n')
    p.ok("org", "add", "Bücher", "--domain", "bücher.de")
    p.ok(
        "interview", "add", "bücher", "--at", at(day(7), "14:00"), "--with", "Jörg <jörg@bücher.de>"
    )
    data = p.export()
    assert {o["name"]: o["domains"] for o in data["organizations"]} == {
        "Bücher": ["bücher.de"],
        "Müller": ["müller.de"],
    }
    assert [c["addresses"] for c in data["contacts"]] == [["jörg@bücher.de"]]
    # the same person typed in the ASCII form is the same contact
    assert "Noted for Jörg" in p.ok("note", "jörg@xn--bcher-kva.de", "liked the demo")
    assert "Already recorded as interview #1" in p.ok(
        "interview", "add", "bücher", "--at", at(day(7), "14:00"), "--with", "jörg@xn--bcher-kva.de"
    )
    assert len(p.export()["contacts"]) == 1


# --- 5. what the user records takes effect at once


def test_a_logged_email_or_call_fulfils_its_duty_in_the_same_command(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start)
    data = p.export()
    thanks, follow = one(data, "thank_you")["id"], one(data, "follow_up")["id"]
    afterwards = clock.at(start + timedelta(days=4))  # a log is of what has happened

    # before the interview, an email is not a thank-you
    out = p.ok(
        "log",
        "email",
        "jane@acme.com",
        "Looking forward",
        "--at",
        at(day(1), "10:00"),
        env=afterwards,
    )
    assert "done" not in out
    out = p.ok(
        "log", "email", "jane@acme.com", "Thank you", "--at", at(start, "18:00"), env=afterwards
    )
    assert f"Duty #{thanks} done: thank-you to Jane Doe" in out
    assert one(p.export(), "thank_you")["state"] == "done"
    assert one(p.export(), "follow_up")["state"] == "pending"

    # a call they made is not your follow-up; a call you made is
    p.ok(
        "log",
        "call",
        "jane@acme.com",
        "they called",
        "--in",
        "--at",
        at(start, "19:00"),
        env=afterwards,
    )
    assert one(p.export(), "follow_up")["state"] == "pending"
    later = start + timedelta(days=3)
    out = p.ok(
        "log", "call", "jane@acme.com", "any news?", "--at", at(later, "11:00"), env=afterwards
    )
    assert f"Duty #{follow} done: follow-up to Jane Doe" in out
    duty = one(p.export(), "follow_up")
    assert duty["state"] == "done"
    assert 'called: "any news?"' in duty["evidence"]


# --- 6. the calendar always shows the pending duties


def keys(p: Pursuit) -> dict[str, Any]:
    return {str(e["X-PURSUIT-KEY"]): e for e in p.calendar_events()}


def test_a_calendar_file_deleted_or_moved_aside_is_rebuilt_whole(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    acme_with_jane(p, day(7), "--with", "Raj Patel <raj@acme.com>")
    p.ok("run", "--once")
    before = p.ics.read_bytes()
    assert set(keys(p)) == {"thank_you:1", "follow_up:1:1", "follow_up:1:2", "prep:1"}

    p.ics.unlink()
    p.ok("run", "--once")
    assert p.ics.read_bytes() == before

    p.ics.rename(p.ics.with_name("calendar.ics.old"))  # as pursuit's own message advises
    p.ok("run", "--once")
    assert p.ics.read_bytes() == before


def test_an_ics_file_holding_the_users_own_calendar_is_refused_and_left_intact(
    tmp_path: Path,
) -> None:
    own = tmp_path / "personal.ics"
    own.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Me//EN\r\nBEGIN:VEVENT\r\n"
        b"UID:dentist@example.org\r\nDTSTAMP:20261101T090000Z\r\n"
        b"DTSTART:20261203T090000Z\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    before = own.read_bytes()
    p = Pursuit(tmp_path, config=f'[calendar]\nics_file = "{own}"\n')
    acme_with_jane(p, day(7))
    err = p.fails("run", "--once", code=1)
    assert f"calendar file {own}: it holds 1 entry pursuit did not write" in err
    assert "Set [calendar] ics_file in the config to a file of its own" in err
    assert own.read_bytes() == before
    p.fails("run", "--once", code=1)
    assert own.read_bytes() == before


def test_event_ids_are_unique_to_each_install_and_kept_on_upgrade(tmp_path: Path) -> None:
    import sqlite3

    from pursuit.connectors.base import event_id_for

    uids = []
    for name in ("first", "second"):
        p = Pursuit(tmp_path / name)
        acme_with_jane(p, day(7))
        p.ok("run", "--once")
        uids.append({k: str(e["UID"]) for k, e in keys(p).items()})
        exported = {e["key"]: e["id"] for e in p.export()["events"]}
        assert {k: f"{v}@pursuit" for k, v in exported.items()} == uids[-1]
    assert set(uids[0].values()).isdisjoint(uids[1].values())
    assert uids[0]["thank_you:1"] != f"{event_id_for('thank_you:1')}@pursuit"

    # A database from before install ids (events, no id): its events keep their ids.
    p = Pursuit(tmp_path / "upgraded")
    acme_with_jane(p, day(7))  # plans events; the install id is then removed, as if older
    with sqlite3.connect(p.database) as db:
        db.execute("DELETE FROM cursors WHERE source = 'install_id'")
    db.close()
    p.ok("run", "--once")
    assert keys(p)["thank_you:1"]["UID"] == f"{event_id_for('thank_you:1')}@pursuit"


def test_snoozing_one_persons_thank_you_moves_what_the_calendar_shows(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    start = day(7)
    acme_with_jane(p, start, "--with", "Raj Patel <raj@acme.com>")
    data = p.export()
    jane, raj = one(data, "thank_you")["id"], one(data, "thank_you", "raj@acme.com")["id"]
    later = start + timedelta(days=1)
    p.ok("snooze", str(jane), "--to", at(later, "09:00"))
    p.ok("run", "--once")
    event = keys(p)["thank_you:1"]
    # Raj's note is still due the evening of the interview: the event stays there,
    # and says Jane's is snoozed
    assert event.decoded("DTSTART").astimezone(PARIS) == start.replace(hour=17)
    description = str(event["DESCRIPTION"])
    assert (
        f"Jane Doe <jane@acme.com>: to send (snoozed to {later:%a %d %b %Y} 09:00)" in description
    )

    # once Raj's is sent, the event moves to when Jane's is due
    p.ok("done", str(raj))
    p.ok("run", "--once")
    event = keys(p)["thank_you:1"]
    assert event.decoded("DTSTART").astimezone(PARIS) == later.replace(hour=9)


# --- 7. the README and --version


ROOT = Path(__file__).resolve().parent.parent


def test_version(tmp_path: Path) -> None:
    """The installed `pursuit` script answers (a process: the entry point itself)."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert Pursuit(tmp_path, process=True).ok("--version").strip() == f"pursuit {version}"


def test_the_readme_makes_pursuit_callable_and_names_the_right_weekdays() -> None:
    import re
    from datetime import date

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/pytest -n 4"
    )
    assert test_command in readme and test_command in ci
    assert 'export PATH="$HOME/.local/share/pursuit-venv/bin:$PATH"' in readme
    assert "pipx install ." in readme
    # every "Weekday D Month" and "Wed 01 Dec" of 2026 in the README is that weekday
    for weekday, number, month in re.findall(
        r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\.? (\d{1,2}) (Dec)[a-z]*", readme
    ):
        named = date(2026, 12, int(number))
        assert f"{named:%a}" == weekday, f"{weekday} {number} {month}"
