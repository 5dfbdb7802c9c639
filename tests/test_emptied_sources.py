"""A source that suddenly returns nothing never cancels every interview in one round
(issue 20): a calendar that comes back without any of its upcoming interviews keeps
them, `doctor` says so and how to confirm, and `pursuit interview confirm-gone` lets
the next sync cancel them (vdirsyncer refuses to sync a side that came back empty, and
asks for --force-delete, the same way). A mail folder that vanished is named by doctor.

Through the real paths: the Google emulator's calendar emptied, a Radicale calendar
deleted and made again, a Dovecot folder renamed; `pursuit run --once` as the user runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from support.cli import Pursuit
from support.dovecot import PASSWORD, USER, Dovecot
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail
from support.radicale_server import PASSWORD as DAV_PASSWORD
from support.radicale_server import USER as DAV_USER
from support.radicale_server import RadicaleServer, running

from pursuit.connectors.caldav import CaldavCalendar

pytestmark = pytest.mark.reliability

ME = "me@example.test"
BASE = (
    '[feeds]\nnews_search = false\n[drafts]\nyour_name = "Alex Martin"\n'
    '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
)
SOON = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


def google_user(root: Path, emu: GoogleEmulator, calendars: list[str] | None = None) -> Pursuit:
    chosen = "" if calendars is None else f"calendars = {json.dumps(calendars)}\n"
    return Pursuit(
        root,
        config=BASE + emu.signed_in(root) + chosen,
    )


def google_interview(emu: GoogleEmulator, n: int, calendar: str = "primary") -> None:
    start = SOON + timedelta(days=n)
    emu.put_event(
        calendar,
        {
            "id": f"interview{n}",
            "summary": f"Interview {n}: Network Engineer",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
            "attendees": [{"email": ME, "self": True}, {"email": f"p{n}@acme.com"}],
        },
    )


def pending(p: Pursuit) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["due"]) for d in p.export()["duties"] if d["state"] == "pending")


def pursuits_events(emu: GoogleEmulator) -> list[str]:
    """The summaries of the live events on pursuit's own Google calendar."""
    return sorted(
        str(e.get("summary"))
        for c, cal in emu.calendars.items()
        if cal.get("summary") == "Job search (pursuit)"
        for e in emu.events(c).values()
        if e.get("status") != "cancelled"
    )


def live(p: Pursuit) -> list[str]:
    """The start of each interview not cancelled, as the export gives them."""
    return sorted(i["start"] for i in p.export()["interviews"] if not i["cancelled"])


def test_a_google_calendar_emptied_keeps_its_interviews_until_the_user_confirms(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    for n in (1, 2, 3):
        google_interview(emu, n)
    p = google_user(tmp_path, emu)
    p.ok("run", "--once")
    before = live(p)
    assert len(before) == 3
    duties = pending(p)
    events = pursuits_events(emu)
    assert duties and events
    for n in (1, 2, 3):
        emu.cancel_event("primary", f"interview{n}")  # the calendar emptied at once
    run = p.run("run", "--once")
    assert "calendar:primary came back empty: its 3 upcoming interviews are kept" in run.err
    assert live(p) == before  # nothing cancelled, and so no duty and no event dropped
    assert pending(p) == duties
    assert pursuits_events(emu) == events
    doctor = p.run("doctor", "--no-probe").out
    assert "calendar:primary: returned none of its 3 upcoming interviews" in doctor
    assert "`pursuit interview confirm-gone primary`" in doctor
    assert "fix [google] calendars in the config and they stay" in doctor
    assert "Warning: calendar:primary came back empty" in p.ok("status")
    p.ok("run", "--once")  # asked again each round, never cancelled by waiting
    assert live(p) == before
    said = p.ok("interview", "confirm-gone", "primary")
    assert "its 3 interviews will be cancelled at the next sync" in said
    p.ok("run", "--once")
    assert live(p) == []
    assert "calendar:primary" not in p.run("doctor", "--no-probe").out
    assert "came back empty" not in p.ok("status")


def test_one_interview_cancelled_is_cancelled_at_once(tmp_path: Path, emu: GoogleEmulator) -> None:
    google_interview(emu, 1)
    p = google_user(tmp_path, emu)
    p.ok("run", "--once")
    emu.cancel_event("primary", "interview1")  # the recruiter cancelled it: the ordinary case
    p.ok("run", "--once")
    assert live(p) == []
    assert "calendar:primary" not in p.run("doctor", "--no-probe").out


def test_a_calendar_whose_events_come_back_is_no_longer_held(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    for n in (1, 2):
        google_interview(emu, n)
    p = google_user(tmp_path, emu)
    p.ok("run", "--once")
    for n in (1, 2):
        emu.cancel_event("primary", f"interview{n}")
    p.ok("run", "--once")
    assert len(live(p)) == 2
    for n in (1, 2):  # the user restored them (an undo, a re-import)
        google_interview(emu, n)
    p.ok("run", "--once")
    assert len(live(p)) == 2
    assert "calendar:primary" not in p.run("doctor", "--no-probe").out


def test_a_google_calendar_deleted_keeps_its_interviews_and_the_others_are_read(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    work = "work@group.calendar.google.com"
    emu.add_calendar(work, "Work")
    for n in (1, 2):
        google_interview(emu, n, calendar=work)
    p = google_user(tmp_path, emu, calendars=[work, "primary"])
    p.ok("run", "--once")
    before = live(p)
    emu.delete_calendar(work)
    google_interview(emu, 3)  # a new interview on the calendar after it
    run = p.run("run", "--once")
    assert run.code == 1
    failed = [line for line in run.err.splitlines() if "job interviews failed" in line]
    assert failed == [failed[0]] and f"{work}: events.list: HTTP 404" in failed[0], run.err
    assert len(live(p)) == 3 and set(before) < set(live(p))  # kept, and the next one read


# ------------------------------------------------------------------- Radicale


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    yield from running(tmp_path)


def personal(radicale: RadicaleServer, *, make: bool = False) -> Any:
    calendar = CaldavCalendar(radicale.url, username=DAV_USER, password=lambda: DAV_PASSWORD)
    principal = calendar._principal_of()
    if make:
        return principal.make_calendar(name="Personal", cal_id="personal")
    return principal.calendar(cal_id="personal")


def dav_interview(calendar: Any, n: int) -> None:
    start = SOON + timedelta(days=n)
    event = icalendar.Event()
    event.add("uid", f"interview{n}@phone")
    event.add("dtstamp", start)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(hours=1))
    event.add("summary", f"Interview {n}: Network Engineer")
    event.add("attendee", f"mailto:p{n}@acme.com")
    wrapper = icalendar.Calendar()
    wrapper.add("prodid", "-//phone//EN")
    wrapper.add("version", "2.0")
    wrapper.add_component(event)
    calendar.save_event(wrapper.to_ical().decode())


def dav_user(root: Path, radicale: RadicaleServer) -> Pursuit:
    return Pursuit(
        root,
        config=BASE + f'[calendar]\nkind = "caldav"\nurl = "{radicale.url}"\n'
        f'username = "{DAV_USER}"\npassword_command = "echo {DAV_PASSWORD}"\n',
    )


def test_a_radicale_calendar_deleted_keeps_its_interviews_until_the_user_confirms(
    tmp_path: Path, radicale: RadicaleServer
) -> None:
    calendar = personal(radicale, make=True)
    for n in (1, 2):
        dav_interview(calendar, n)
    p = dav_user(tmp_path, radicale)
    p.ok("run", "--once")
    before = live(p)
    assert len(before) == 2
    calendar.delete()  # the user deleted the calendar (a phone's sync did it for them)
    run = p.run("run", "--once")
    assert "is no longer read (deleted, or out of the config): its 2 upcoming" in run.err
    assert live(p) == before
    doctor = p.run("doctor", "--no-probe").out
    assert "returned none of its 2 upcoming interviews" in doctor
    assert "fix [calendar] calendars in the config and they stay" in doctor
    personal(radicale, make=True)  # and it came back empty under the same name
    p.ok("run", "--once")
    assert live(p) == before  # still held: the full listing of the new one holds nothing
    assert "returned none of its 2 upcoming interviews" in p.run("doctor", "--no-probe").out
    p.ok("interview", "confirm-gone")
    p.ok("run", "--once")
    assert live(p) == []
    assert "returned none" not in p.run("doctor", "--no-probe").out


def test_a_radicale_calendar_deleted_for_good_is_cancelled_once_confirmed(
    tmp_path: Path, radicale: RadicaleServer
) -> None:
    calendar = personal(radicale, make=True)
    for n in (1, 2):
        dav_interview(calendar, n)
    p = dav_user(tmp_path, radicale)
    p.ok("run", "--once")
    calendar.delete()
    p.ok("run", "--once")
    assert len(live(p)) == 2
    assert "its 2 interviews will be cancelled" in p.ok("interview", "confirm-gone")
    p.ok("run", "--once")
    assert live(p) == []
    assert "returned none" not in p.run("doctor", "--no-probe").out


# ------------------------------------------------------------------- a mail folder


def test_an_imap_folder_renamed_is_named_by_doctor_until_the_config_follows(
    tmp_path: Path,
) -> None:
    with Dovecot() as dovecot:
        when = datetime.now(UTC) - timedelta(hours=3)
        dovecot.append("Jobs", raw_mail("Jane <jane@acme.com>", ME, "Hello", when, "1@a").encode())
        imap = (
            f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
            f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\naddress = "{ME}"\n'
        )
        p = Pursuit(tmp_path, config=BASE + imap + 'folders = ["Jobs"]\n')
        p.ok("run", "--once")
        assert [m["subject"] for m in p.export()["correspondence"]] == ["Hello"]
        with dovecot.client() as client:
            client.rename_folder("Jobs", "Job search")
        p.ok("run", "--once")
        doctor = p.run("doctor", "--no-probe").out
        assert "the folder 'Jobs' is gone from the mailbox" in doctor, doctor
        assert "folders in the config" in doctor
        assert "Warning: mail:imap:Jobs came back empty" in p.ok("status")
        p.write_config(BASE + imap + 'folders = ["Job search"]\n')
        p.ok("run", "--once")
        assert "'Jobs' is gone" not in p.run("doctor", "--no-probe").out
