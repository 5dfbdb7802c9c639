"""The user's week with a Google account: `pursuit run --once` against the emulator.

The real google-api-python-client and google-auth talk HTTP to the local
emulator; pursuit runs through its command line (support.cli: in the test process, a
subprocess where only a process shows it), configured as a user would.
"""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.app import make_settings
from support.cli import Pursuit, duties_by, pursuit_command
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail

from pursuit.daemon.app import App
from pursuit.daemon.jobs import run_jobs

ME = "me@example.test"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


def setup_user(tmp_path: Path, emu: GoogleEmulator) -> Pursuit:
    token = tmp_path / "token" / "google.json"
    token.parent.mkdir(mode=0o700)
    emu.write_authorized_user_file(str(token))
    config = (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        f'[google]\ncredentials_file = "{token}"\n'
        f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        'positions = ["Network Engineer"]\n'
    )
    return Pursuit(tmp_path, config=config)


def the_week(emu: GoogleEmulator) -> datetime:
    """Yesterday's interview with Jane and Raj; Raj already thanked; Jane wrote."""
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    emu.put_event(
        "primary",
        {
            "id": "interview1",
            "summary": "Interview: Network Engineer",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
            "attendees": [
                {"email": ME, "self": True},
                {"email": "jane@acme.com", "displayName": "Jane Doe"},
                {"email": "Raj@Acme.com", "displayName": "Raj Patel"},
                {"email": "room-4@resource.calendar.google.com", "resource": True},
            ],
        },
    )
    emu.add_message(
        raw_mail(
            "Jane Doe <jane@acme.com>", ME, "Next steps", start - timedelta(days=3), "j1@acme.com"
        ),
        internal_date=start - timedelta(days=3),
    )
    emu.add_message(
        raw_mail(ME, "Raj Patel <raj@acme.com>", "Thank you", start + timedelta(hours=3), "t1@me"),
        label_ids=("SENT",),
        internal_date=start + timedelta(hours=3),
    )
    emu.add_message(
        raw_mail("Newsletter <news@example.org>", ME, "Deals", start, "n1@example.org"),
        internal_date=start,
    )
    return start


def test_a_run_logs_mail_finds_the_interview_fulfils_and_drafts(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    the_week(emu)
    p.ok("run", "--once")
    data = p.export()

    [interview] = data["interviews"]
    assert interview["interviewers"] == ["jane@acme.com", "raj@acme.com"]
    assert interview["organization"] == "Acme Networks"
    assert sorted(m["subject"] for m in data["correspondence"]) == ["Next steps", "Thank you"]
    [raj_thanks] = duties_by(data, "thank_you", "raj@acme.com")
    [jane_thanks] = duties_by(data, "thank_you", "jane@acme.com")
    assert raj_thanks["state"] == "done" and "Thank you" in raj_thanks["evidence"]
    assert jane_thanks["state"] == "overdue"

    # One draft, to Jane (Raj is thanked already), never sent.
    drafts = [d.message for d in emu.drafts.values()]
    assert [d.header("To") for d in drafts] == ["Jane Doe <jane@acme.com>"]
    assert "Network Engineer" in drafts[0].subject
    assert emu.sent == [] or all(m.header("To") == ME for m in emu.sent)

    # pursuit's own calendar holds the follow-ups, tagged with their duty keys.
    owned = [c for c, cal in emu.calendars.items() if cal.get("summary") == "Job search (pursuit)"]
    assert len(owned) == 1
    events = [e for e in emu.events(owned[0]).values() if e.get("status") != "cancelled"]
    summaries = sorted(e["summary"] for e in events)
    assert summaries == [
        "Follow up with Jane Doe (Acme Networks)",
        "Follow up with Raj Patel (Acme Networks)",
        "Send thank-you notes: Acme Networks (Jane Doe, Raj Patel)",
    ]
    assert all(e["extendedProperties"]["private"]["pursuitKey"] for e in events)
    assert {e["calendar"] for e in data["events"]} == {"google"}


def test_a_quiet_poll_costs_one_call_per_source_and_repeats_nothing(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    the_week(emu)
    p.ok("run", "--once")
    before = p.export()
    drafts = len(emu.drafts)
    emu.reset_counters()
    p.ok("run", "--once")
    assert emu.call_count("gmail/") == 1  # history.list
    assert emu.call_count("calendar/v3/calendars/primary/events") == 1  # sync token
    after = p.export()
    assert after["correspondence"] == before["correspondence"]
    assert len(emu.drafts) == drafts


def test_expired_cursors_resync_without_duplicates(tmp_path: Path, emu: GoogleEmulator) -> None:
    p = setup_user(tmp_path, emu)
    start = the_week(emu)
    p.ok("run", "--once")
    emu.expire_history()
    emu.expire_sync_tokens()
    emu.add_message(
        raw_mail(
            "Jane <jane@acme.com>", ME, "One more thing", start + timedelta(hours=5), "j2@acme"
        ),
        internal_date=start + timedelta(hours=5),
    )
    p.ok("run", "--once")
    data = p.export()
    subjects = sorted(m["subject"] for m in data["correspondence"])
    assert subjects == ["Next steps", "One more thing", "Thank you"]
    assert len(data["interviews"]) == 1


def test_a_moved_and_a_cancelled_interview(tmp_path: Path, emu: GoogleEmulator) -> None:
    p = setup_user(tmp_path, emu)
    start = the_week(emu)
    p.ok("run", "--once")
    later = start + timedelta(days=2)
    event = emu.events("primary")["interview1"]
    event["start"] = {"dateTime": later.isoformat()}
    event["end"] = {"dateTime": (later + timedelta(hours=1)).isoformat()}
    emu.put_event("primary", event)
    p.ok("run", "--once")
    [interview] = p.export()["interviews"]
    assert datetime.fromisoformat(interview["start"]) == later
    emu.cancel_event("primary", "interview1")
    p.ok("run", "--once")
    data = p.export()
    assert data["interviews"][0]["cancelled"] is True
    assert {d["state"] for d in data["duties"] if d["kind"] != "thank_you"} <= {"cancelled"}
    assert live_follow_ups(emu) == []

    # The user restores the interview: its follow-ups come back on pursuit's calendar,
    # although Google keeps the ids of the events pursuit deleted taken.
    event = emu.events("primary")["interview1"]
    event["status"] = "confirmed"
    emu.put_event("primary", event)
    p.ok("run", "--once")
    assert p.export()["interviews"][0]["cancelled"] is False
    assert live_follow_ups(emu) == [
        "Follow up with Jane Doe (Acme Networks)",
        "Follow up with Raj Patel (Acme Networks)",
    ]


def test_someone_removed_from_the_invitation_is_no_longer_owed_anything(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    the_week(emu)
    event = emu.events("primary")["interview1"]
    event["attendees"].append({"email": "li@acme.com", "displayName": "Li Wei"})
    emu.put_event("primary", event)
    p.ok("run", "--once")
    p.ok("note", "li@acme.com", "the on-call rotation story")
    assert len(live_follow_ups(emu)) == 3

    # The organizer takes Raj and Li off the invitation; Li has a note from the user.
    event = emu.events("primary")["interview1"]
    event["attendees"] = [
        a for a in event["attendees"] if a["email"] not in ("Raj@Acme.com", "li@acme.com")
    ]
    emu.put_event("primary", event)
    p.ok("run", "--once")
    data = p.export()
    assert data["interviews"][0]["interviewers"] == ["jane@acme.com", "li@acme.com"]
    [raj_follow_up] = duties_by(data, "follow_up", "raj@acme.com")
    assert raj_follow_up["state"] == "cancelled"
    assert duties_by(data, "follow_up", "li@acme.com")[0]["state"] != "cancelled"
    assert live_follow_ups(emu) == [
        "Follow up with Jane Doe (Acme Networks)",
        "Follow up with Li Wei (Acme Networks)",
    ]


def test_a_first_sync_on_a_terminal_shows_a_progress_bar(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    the_week(emu)
    terminal, stderr = pty.openpty()
    with subprocess.Popen(
        [*pursuit_command(), "run", "--once"],
        env=p.env(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    ) as process:
        os.close(stderr)
        shown = b""
        while True:  # read as it comes, so a full terminal buffer never blocks pursuit
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # EIO: pursuit exited and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=60) == 0, shown
    os.close(terminal)
    text = shown.decode()
    assert "google: logging past mail" in text
    assert "2/2" in text and "100%" in text, text
    # A pipe (the journal, a cron mail) gets no bar.
    (tmp_path / "piped").mkdir()
    piped = setup_user(tmp_path / "piped", emu).run("run", "--once")
    assert piped.code == 0 and "logging past mail" not in piped.err, piped


def test_a_revoked_grant_pauses_google_once_until_the_user_signs_in_again(
    tmp_path: Path, emu: GoogleEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The service's view: rounds of jobs in one process, as `pursuit run` runs them."""
    token = tmp_path / "token" / "google.json"
    token.parent.mkdir(mode=0o700)
    emu.write_authorized_user_file(str(token))
    settings = make_settings(
        tmp_path,
        calendar={"kind": "google"},
        feeds={"news_search": False},
        google={
            "credentials_file": str(token),
            "api_endpoint": emu.base_url,
            "token_uri": emu.token_uri,
        },
        organization=[{"name": "Acme Networks", "domains": ["acme.com"]}],
    )
    app = App(settings)
    try:
        the_week(emu)
        assert run_jobs(app.store, app.jobs(), app.now()) == []
        emu.revoke()
        emu.add_message(
            raw_mail("Jane <jane@acme.com>", ME, "Any news?", datetime.now(UTC), "j9@acme.com"),
            internal_date=datetime.now(UTC),
        )
        app.store.add_organization("Globex", ["globex.com"], now=app.now())

        # The round that finds out: one failure, with the fix; the other Google
        # jobs wait instead of failing too; planning runs.
        failures = run_jobs(app.store, app.jobs(), app.now())
        assert [name for name, _ in failures] == ["mail"]
        assert "pursuit auth google" in failures[0][1]
        assert sum("Google sync paused" in r.getMessage() for r in caplog.records) == 1
        assert "plan" in app.store.job_runs()

        # Later rounds: Google is not asked again, nothing is reported again.
        emu.reset_counters()
        caplog.clear()
        for _ in range(3):
            assert run_jobs(app.store, app.jobs(), app.now()) == []
        assert emu.http_requests == 0 and emu.token_requests == 0
        assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]

        # `pursuit auth google` writes a new token: the next round resumes, and the
        # mail that came in meanwhile is logged.
        emu.sign_in_again()
        emu.write_authorized_user_file(str(token) + ".new")
        os.replace(str(token) + ".new", token)
        assert run_jobs(app.store, app.jobs(), app.now()) == []
        subjects = [m.subject for m in app.store.correspondence(newest_first=False)]
        assert "Any news?" in subjects
    finally:
        app.close()


def live_follow_ups(emu: GoogleEmulator) -> list[str]:
    [owned] = [
        c for c, cal in emu.calendars.items() if cal.get("summary") == "Job search (pursuit)"
    ]
    return sorted(
        e["summary"]
        for e in emu.events(owned).values()
        if e.get("status") != "cancelled" and e["summary"].startswith("Follow up")
    )


def test_a_revoked_grant_is_reported_with_the_fix_and_the_rest_runs(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    the_week(emu)
    p.ok("run", "--once")
    emu.revoke()
    p.ok("interview", "add", "acme", "--at", "2030-01-07 10:00", "--with", "Kim <kim@acme.com>")
    result = p.run("run", "--once")
    assert result.code == 1
    assert "pursuit auth google" in result.err
    assert "Traceback" not in result.err
    assert "job mail failed" in result.err
    # Planning still ran: the new interview has its duties.
    assert duties_by(p.export(), "follow_up", "kim@acme.com")


def test_a_strangers_subject_or_attendee_name_never_stops_a_job(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    emu.put_event(
        "primary",
        {
            "id": "interview1",
            "summary": "Interview\r\nBcc: evil@x",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
            "attendees": [
                {"email": ME, "self": True},
                {"email": "jane@acme.com", "displayName": "Jane\r\nBcc: evil@x"},
            ],
        },
    )
    # Gmail decodes it once, to text that looks like an encoded word
    lookalike = "=?utf-8?q?=3D=3Futf-8=3Fb=3Fabcde=3F=3D?="
    emu.add_message(
        raw_mail("jane@acme.com", ME, lookalike, start - timedelta(days=2), "j1@acme.com"),
        internal_date=start - timedelta(days=2),
    )
    p.ok("run", "--once")
    emu.add_message(
        raw_mail("jane@acme.com", ME, "Later", start + timedelta(hours=2), "j2@acme.com"),
        internal_date=start + timedelta(hours=2),
    )
    p.ok("run", "--once")
    data = p.export()
    subjects = sorted(m["subject"] for m in data["correspondence"])
    assert subjects == ["=?utf-8?b?abcde?=", "Later"]
    # the thank-you draft to Jane was made, with her name on one line
    [draft] = [d.message for d in emu.drafts.values()]
    # no specials, and a word with an @ is an address, not a name
    assert draft.header("To") == "Jane Bcc <jane@acme.com>"
    assert draft.header("Bcc") is None


def test_the_first_sync_logs_past_hiring_system_mail_about_a_tracked_organization(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    for sender, subject, msgid in [
        ("Acme Networks <no-reply@greenhouse-mail.io>", "Thank you for applying", "g1@gh"),
        ("Recruiting <jobs@hire.lever.co>", "Your application to Acme Networks", "l1@lever"),
        ("Globex Talent <no-reply@greenhouse-mail.io>", "Your application to Globex", "g2@gh"),
        ("Deals <news@shop.example>", "Acme Networks routers on sale", "n1@shop"),
    ]:
        emu.add_message(raw_mail(sender, ME, subject, week_ago, msgid), internal_date=week_ago)
    p.ok("run", "--once")
    logged = sorted(m["subject"] for m in p.export()["correspondence"])
    # before the first sync, from hiring systems, naming the tracked organization: logged
    assert logged == ["Thank you for applying", "Your application to Acme Networks"]
    # the untracked organization's and the shop's mail were never even fetched
    fetched = [c.path for c in emu.calls if c.path.startswith("/gmail/v1/users/me/messages/")]
    assert len(fetched) == 2


def test_pursuits_calendar_deleted_by_the_user_comes_back_with_every_pending_event(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = setup_user(tmp_path, emu)
    the_week(emu)

    def owned() -> dict[str, list[str]]:
        """pursuit's calendars, each with the summaries of its live events."""
        return {
            cid: sorted(
                e["summary"] for e in emu.events(cid).values() if e.get("status") != "cancelled"
            )
            for cid, cal in emu.calendars.items()
            if cal.get("summary") == "Job search (pursuit)"
        }

    p.ok("run", "--once")
    [(first_id, pending)] = owned().items()
    assert len(pending) >= 2  # the follow-ups and the thank-you of the week

    emu.delete_calendar(first_id)
    p.ok("run", "--once")  # nothing new was planned: the calendar is missed all the same
    [(second_id, rebuilt)] = owned().items()
    assert second_id != first_id and rebuilt == pending

    p.ok("run", "--once")
    assert owned() == {second_id: pending}  # nothing doubled, no third calendar
