"""What pursuit writes to each calendar it can write to (issue 20): Google (the
emulator), CalDAV (a real Radicale), the local .ics file.

A reminder pursuit writes never invites anyone: no attendee, no organizer but the
calendar itself. Every event carries the install's id, in its id and as a marker;
a second install writing to the same calendar never deletes, edits nor counts the
first one's events, and each names the other in `doctor`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import icalendar
import pytest
from support.cli import Pursuit
from support.contracts import event as planned
from support.crash import AnymailWorld, GoogleWorld, World, the_now, world_at
from support.reliability import full

from pursuit.connectors.base import event_id_for
from pursuit.connectors.ics import IcsCalendar

#: Google, CalDAV on Radicale, the .ics file (the crash trials' worlds); the second
#: install is tried on Google alone in the normal suite (5 s a sink), on all three in full.
SINKS = ("google", "anymail", "ics")

pytestmark = pytest.mark.reliability


def install_of(p: Pursuit) -> str:
    with sqlite3.connect(p.database) as db:
        row = db.execute("SELECT value FROM cursors WHERE source = 'install_id'").fetchone()
    return str(row[0])


def written(world: World, ics: Path | None = None) -> list[dict[str, Any]]:
    """Each event on pursuit's calendar, as the calendar holds it: key, id or UID, the
    install marker, and whom it would invite."""
    found: list[dict[str, Any]] = []
    if isinstance(world, GoogleWorld) and world.name == "google":
        for cid, calendar in world.emu.calendars.items():
            if calendar["summary"] != "Job search (pursuit)":
                continue
            for item in world.emu.events(cid).values():
                if item.get("status") == "cancelled":
                    continue
                private = item["extendedProperties"]["private"]
                found.append(
                    {
                        "key": private["pursuitKey"],
                        "id": item["id"],
                        "install": private.get("pursuitInstall"),
                        "summary": item["summary"],
                        "attendees": item.get("attendees", []),
                        "organizer": item["organizer"]["email"],
                        "calendar": cid,
                    }
                )
        return found
    if isinstance(world, AnymailWorld):
        root = world.radicale.storage / "collection-root"
        texts = [
            f.read_bytes()
            for f in root.rglob("*.ics")
            if f.parent.name != "personal" and ".Radicale" not in str(f)
        ]
    else:
        texts = [(ics or world.p.ics).read_bytes()]
    for text in texts:
        calendar = icalendar.Calendar.from_ical(text)
        assert calendar.get("METHOD") is None  # not an invitation (RFC 5546)
        for vevent in calendar.walk("VEVENT"):
            found.append(
                {
                    "key": str(vevent["X-PURSUIT-KEY"]),
                    "id": str(vevent["UID"]).removesuffix("@pursuit"),
                    "install": vevent.get("X-PURSUIT-INSTALL"),
                    "summary": str(vevent["SUMMARY"]),
                    "attendees": vevent.get("ATTENDEE", []),
                    "organizer": vevent.get("ORGANIZER"),
                }
            )
    return found


@pytest.mark.parametrize("sink", SINKS)
def test_no_event_invites_anyone_and_each_carries_the_install(sink: str, tmp_path: Path) -> None:
    with world_at(sink, tmp_path / sink, the_now()) as world:
        world.p.ok("run", "--once")
        install = install_of(world.p)
        events = written(world)
    # the interviews' thank-you reminders name the interviewers, who are invited to nothing
    assert any("Jane" in e["summary"] for e in events), events
    for event in events:
        assert not event["attendees"], event
        if sink == "google":
            assert event["organizer"] == event["calendar"], event  # the calendar itself
        else:
            assert event["organizer"] is None, event
        assert event["install"] == install, event
        assert event["id"] == event_id_for(event["key"], install), event


def second_install(world: World, root: Path) -> Pursuit:
    """Another data directory with the same config: a second install on the account."""
    other = Pursuit(root, config=None)
    other.write_config(world.p.config_path.read_text())
    return other


@pytest.mark.parametrize("sink", SINKS if full() else SINKS[:1])
def test_a_second_install_leaves_the_first_ones_events_alone_and_is_named(
    sink: str, tmp_path: Path
) -> None:
    with world_at(sink, tmp_path / sink, the_now()) as world:
        shared = None
        if sink == "ics":  # both write the same file (a synced folder, say)
            shared = tmp_path / "shared" / "pursuit.ics"
            world.p.write_config(
                world.p.config_path.read_text().replace(
                    '[calendar]\nkind = "ics"\n',
                    f'[calendar]\nkind = "ics"\nics_file = "{shared}"\n',
                )
            )
        first = world.p
        first.ok("run", "--once")
        before = {e["id"]: e for e in written(world, shared)}
        second = second_install(world, tmp_path / "second")
        seen_by_second = second.run("run", "--once")
        second.ok("run", "--once")
        seen_by_first = first.run("run", "--once")
        after = written(world, shared)
        a, b = install_of(first), install_of(second)
        assert a != b
        firsts = {e["id"]: e for e in after if e["install"] == a}
        assert firsts == before  # none deleted, none edited
        seconds = [e for e in after if e["install"] == b]
        assert sorted(e["key"] for e in seconds) == sorted(e["key"] for e in before.values())
        assert len(after) == 2 * len(before)  # nothing else, nothing twice
        # each install counts its own alone, and names the other in its log and `doctor`
        for me, seen, them in ((first, seen_by_first, b), (second, seen_by_second, a)):
            events = json.loads(me.ok("export", "--format", "json"))["events"]
            assert len([e for e in events if e.get("live", True)]) == len(before)
            assert seen.code == 0 and f"another pursuit install ({them})" in seen.err, str(seen)
            doctor = me.run("doctor").out
            assert f"another pursuit install ({them}) leaves calendar events" in doctor, doctor


# --- a calendar.ics that is a link


def interview_with_jane(p: Pursuit) -> None:
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("interview", "add", "acme", "--at", "yesterday 14:00", "--with", "jane@acme.com")


def test_a_calendar_file_that_is_a_link_is_written_through_it(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    synced = tmp_path / "Sync" / "pursuit.ics"
    synced.parent.mkdir()
    p.ics.parent.mkdir(parents=True)
    p.ics.symlink_to(synced)
    interview_with_jane(p)
    p.ok("run", "--once")
    assert p.ics.is_symlink() and p.ics.readlink() == synced  # still the link
    summaries = [str(e["SUMMARY"]) for e in p.calendar_events()]
    assert any("jane@" in s for s in summaries), summaries
    assert synced.read_bytes() == p.ics.read_bytes()
    p.ok("interview", "add", "acme", "--at", "today 09:00", "--with", "raj@acme.com")
    p.ok("run", "--once")
    assert p.ics.is_symlink()
    assert any("raj@" in str(e["SUMMARY"]) for e in p.calendar_events())


def test_a_link_pursuit_cannot_write_through_is_refused_and_left(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    gone = tmp_path / "unmounted" / "pursuit.ics"  # a synced folder not mounted now
    p.ics.parent.mkdir(parents=True)
    p.ics.symlink_to(gone)
    interview_with_jane(p)
    result = p.run("run", "--once")
    assert f"calendar file {p.ics}" in result.err and str(gone) in result.err, str(result)
    assert "Traceback" not in result.err
    assert p.ics.is_symlink() and not gone.parent.exists()
    gone.parent.mkdir()  # mounted again: the next round writes through the link
    p.ok("run", "--once")
    assert p.ics.is_symlink() and any("jane@" in str(e["SUMMARY"]) for e in p.calendar_events())


# --- [calendar] ics_file changed after events were written


def test_a_changed_ics_file_gets_every_event(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    interview_with_jane(p)
    p.ok("run", "--once")
    written_first = sorted(str(e["X-PURSUIT-KEY"]) for e in p.calendar_events())
    assert written_first
    # another file that exists already: an empty calendar, made by another app
    other = tmp_path / "Sync" / "job-search.ics"
    other.parent.mkdir()
    other.write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//app//EN\r\nEND:VCALENDAR\r\n")
    p.write_config(f'timezone = "{p.timezone}"\n[calendar]\nics_file = "{other}"\n')
    result = p.run("run", "--once")
    assert result.code == 0, str(result)
    assert f"moved from {p.ics} to {other}" in result.err, str(result)
    events = icalendar.Calendar.from_ical(other.read_bytes()).walk("VEVENT")
    assert sorted(str(e["X-PURSUIT-KEY"]) for e in events) == written_first
    assert sorted(str(e["X-PURSUIT-KEY"]) for e in p.calendar_events()) == written_first  # left
    assert "moved" not in p.run("run", "--once").err  # said once


def test_a_changed_ics_file_holding_the_users_calendar_is_refused_at_once(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path)
    interview_with_jane(p)
    p.ok("run", "--once")
    own = tmp_path / "personal.ics"
    own.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Me//EN\r\nBEGIN:VEVENT\r\n"
        b"UID:dentist@example.org\r\nDTSTAMP:20261101T090000Z\r\n"
        b"DTSTART:20261203T090000Z\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    before = own.read_bytes()
    p.write_config(f'timezone = "{p.timezone}"\n[calendar]\nics_file = "{own}"\n')
    result = p.run("run", "--once")  # nothing new to write, and still refused
    assert result.code == 1 and "Traceback" not in result.err, str(result)
    assert f"calendar file {own}" in result.err and "did not write" in result.err
    assert own.read_bytes() == before


def test_two_services_writing_one_ics_file_keep_each_others_events(tmp_path: Path) -> None:
    """Each service keeps its calendar for months: each round reads the file again, so
    what the other install wrote meanwhile is kept, not overwritten by a stale copy."""
    path = tmp_path / "shared.ics"
    first, second = IcsCalendar(path, install_id="a" * 32), IcsCalendar(path, install_id="b" * 32)
    for calendar, key in (
        (first, "thank_you:1"),
        (second, "thank_you:1"),
        (first, "follow_up:1:1"),
    ):
        calendar.recreated()  # the start of a push round
        calendar.upsert(planned(key))
        calendar.flush()
    installs = sorted(
        (str(v["X-PURSUIT-INSTALL"])[0], str(v["X-PURSUIT-KEY"]))
        for v in icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")
    )
    assert installs == [("a", "follow_up:1:1"), ("a", "thank_you:1"), ("b", "thank_you:1")]
    assert set(first.events()) == {"thank_you:1", "follow_up:1:1"}
    assert set(second.events()) == {"thank_you:1"}


def test_a_service_notices_an_install_that_comes_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service keeps its calendar object for months: the events are read again for
    other installs' once a day (here: every round), not once a process."""
    from support.google_emulator import GoogleEmulator

    from pursuit.connectors import ical
    from pursuit.connectors.google_auth import load_credentials
    from pursuit.connectors.google_calendar import GoogleCalendar

    monkeypatch.setattr(ical, "OTHER_INSTALLS_EVERY", 0.0)
    with GoogleEmulator(user_email="me@example.test") as emu:
        token = tmp_path / "token.json"
        emu.write_authorized_user_file(str(token))

        def install(install_id: str) -> GoogleCalendar:
            credentials = load_credentials(token, token_uri=emu.token_uri)
            return GoogleCalendar(
                credentials, token, api_endpoint=emu.calendar_endpoint, install_id=install_id
            )

        first = install("a" * 32)
        first.upsert(planned("thank_you:1"))
        assert first.other_installs() == frozenset()
        install("b" * 32).upsert(planned("thank_you:1"))  # a second install, a week later
        assert first.other_installs() == {"b" * 32}
        assert set(first.events()) == {"thank_you:1"}
