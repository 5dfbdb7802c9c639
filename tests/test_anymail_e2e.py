"""The user's week without Google: `pursuit run --once` with [imap] on a real Dovecot
and [calendar] kind = "caldav" on a real Radicale, pursuit run through its command
line (support.cli) configured as a user would (passwords by command)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
from support.app import make_settings
from support.cli import Pursuit, duties_by
from support.dovecot import PASSWORD, USER, Dovecot
from support.radicale_server import PASSWORD as DAV_PASSWORD
from support.radicale_server import USER as DAV_USER
from support.radicale_server import RadicaleServer, pursuit_events, running

from pursuit.connectors.caldav import CaldavCalendar
from pursuit.daemon.app import App


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    yield from running(tmp_path)


def mail(sender: str, to: str, subject: str, when: datetime, msgid: str) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    m["Date"] = email.utils.format_datetime(when)
    m["Message-ID"] = f"<{msgid}>"
    m.set_content("Hello\n")
    return m.as_bytes()


def config(dovecot: Dovecot, radicale: RadicaleServer, imap_password: str = PASSWORD) -> str:
    return (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
        f'username = "{USER}"\npassword_command = "echo {imap_password}"\n'
        f'[calendar]\nkind = "caldav"\nurl = "{radicale.url}"\nusername = "{DAV_USER}"\n'
        f'password_command = "echo {DAV_PASSWORD}"\n'
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        'positions = ["Network Engineer"]\n'
    )


def the_week(dovecot: Dovecot, radicale: RadicaleServer) -> CaldavCalendar:
    """Yesterday's interview with Jane and Raj on the user's CalDAV calendar; Raj
    already thanked from the Sent folder; Jane wrote. Returns pursuit's calendar."""
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    pursuits = CaldavCalendar(radicale.url, username=DAV_USER, password=lambda: DAV_PASSWORD)
    personal = pursuits._principal_of().make_calendar(name="Personal", cal_id="personal")
    vevent = icalendar.Event()
    vevent.add("uid", "interview1@phone")
    vevent.add("dtstamp", start)
    vevent.add("dtstart", start)
    vevent.add("dtend", start + timedelta(hours=1))
    vevent.add("summary", "Interview: Network Engineer")
    vevent.add("organizer", f"mailto:{USER}")
    for address, name in (("jane@acme.com", "Jane Doe"), ("Raj@Acme.com", "Raj Patel")):
        vevent.add("attendee", f"mailto:{address}", parameters={"CN": name})
    cal = icalendar.Calendar()
    cal.add("prodid", "-//phone//EN")
    cal.add("version", "2.0")
    cal.add_component(vevent)
    personal.save_event(cal.to_ical().decode())

    dovecot.append(
        "INBOX",
        mail("Jane Doe <jane@acme.com>", USER, "Next steps", start - timedelta(days=3), "j1@a"),
    )
    dovecot.append(
        "Sent",
        mail(USER, "Raj Patel <raj@acme.com>", "Thank you", start + timedelta(hours=3), "t1@me"),
    )
    dovecot.append(
        "INBOX", mail("Newsletter <news@example.org>", USER, "Deals", start, "n1@example.org")
    )
    return pursuits


def drafts(dovecot: Dovecot) -> list[EmailMessage]:
    return [
        email.message_from_bytes(raw, policy=email.policy.default)
        for raw in dovecot.messages("Drafts")
    ]


def test_a_run_on_imap_and_caldav_logs_finds_drafts_and_writes_once(
    tmp_path: Path, dovecot: Dovecot, radicale: RadicaleServer
) -> None:
    the_week(dovecot, radicale)
    p = Pursuit(tmp_path, config=config(dovecot, radicale))
    p.ok("run", "--once")
    data = p.export()

    [interview] = data["interviews"]
    assert interview["interviewers"] == ["jane@acme.com", "raj@acme.com"]
    assert sorted(m["subject"] for m in data["correspondence"]) == ["Next steps", "Thank you"]
    [raj_thanks] = duties_by(data, "thank_you", "raj@acme.com")
    [jane_thanks] = duties_by(data, "thank_you", "jane@acme.com")
    assert raj_thanks["state"] == "done" and "Thank you" in raj_thanks["evidence"]
    assert jane_thanks["state"] == "overdue"

    [draft] = drafts(dovecot)  # to Jane only; Raj is thanked already
    assert draft["To"] == "Jane Doe <jane@acme.com>"
    assert "Network Engineer" in str(draft["Subject"])

    summaries = sorted(e.summary for e in pursuit_events(radicale).values())
    assert summaries == [
        "Follow up with Jane Doe (Acme Networks)",
        "Follow up with Raj Patel (Acme Networks)",
        "Send thank-you notes: Acme Networks (Jane Doe, Raj Patel)",
    ]
    assert {e["calendar"] for e in data["events"]} == {"caldav"}

    # run again: nothing doubled anywhere
    p.ok("run", "--once")
    again = p.export()
    assert len(again["interviews"]) == 1
    assert len(again["correspondence"]) == 2
    assert len(drafts(dovecot)) == 1
    assert sorted(e.summary for e in pursuit_events(radicale).values()) == summaries


def test_a_wrong_imap_password_is_one_line_naming_the_server_and_the_rest_runs(
    tmp_path: Path, dovecot: Dovecot, radicale: RadicaleServer
) -> None:
    the_week(dovecot, radicale)
    p = Pursuit(tmp_path, config=config(dovecot, radicale, imap_password="wrong"))
    result = p.run("run", "--once")
    assert result.code == 1 and "Traceback" not in result.err
    failures = [line for line in result.err.splitlines() if "failed:" in line]
    assert len(failures) == 1, result.err
    assert f"imap: 127.0.0.1:{dovecot.port}: login refused for {USER}" in failures[0]
    assert "1 job failed (mail)" in result.err
    # the interview was found on CalDAV and its events written all the same
    assert len(p.export()["interviews"]) == 1
    assert len(pursuit_events(radicale)) == 3
    # the drafts wait for the same server: doctor says so, not "start the service"
    doctor = p.run("doctor", "--no-probe")
    assert doctor.code == 1, str(doctor)
    assert "job drafts: waits for the mail job to succeed" in doctor.out
    assert "job mail: failed on" in doctor.out and "login refused" in doctor.out
    # a refused password is not mended by waiting: doctor says what is
    assert "a retry sends the same login: check the account's password_command" in doctor.out
    assert "pursuit retries it by itself" not in doctor.out


def test_the_app_waits_for_mail_by_imap_idle(tmp_path: Path, dovecot: Dovecot) -> None:
    imap = {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "username": USER,
        "password_command": f"echo {PASSWORD}",
    }
    app = App(make_settings(tmp_path, imap=imap))
    try:
        assert app.waits_for_mail
        arrival = threading.Timer(
            1.0,
            lambda: dovecot.append(
                "INBOX", mail("Jane <jane@acme.com>", USER, "Hi", datetime.now(UTC), "w1@a")
            ),
        )
        arrival.start()
        assert app.wait_for_mail(60) is True
        arrival.join()
    finally:
        app.close()
    without = App(make_settings(tmp_path))
    assert not without.waits_for_mail and without.wait_for_mail(60) is False
