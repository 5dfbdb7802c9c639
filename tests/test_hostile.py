"""A hostile world, the core's side: concurrent runs and starts, poison items,
mass mail, borrowed Message-IDs, interrupted syncs, deleted calendars, endless
feeds, secrets in URLs, file modes and storage faults.

Every hostile input goes through the real connectors (the Google emulator, the
feed server) and pursuit runs as its user runs it, through its command line (a
subprocess of its own where runs and starts race each other).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.cli import Pursuit, pursuit_command
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail

from pursuit.daemon.runlock import RunLock, RunLocked
from pursuit.daemon.store import SCHEMA_VERSION, Store

ME = "me@example.test"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


def google_user(tmp_path: Path, emu: GoogleEmulator, extra: str = "") -> Pursuit:
    token = tmp_path / "token" / "google.json"
    token.parent.mkdir(mode=0o700)
    emu.write_authorized_user_file(str(token))
    config = (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        f'[google]\ncredentials_file = "{token}"\n'
        f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        'positions = ["Network Engineer"]\n' + extra
    )
    return Pursuit(tmp_path, config=config)


def interview_yesterday(emu: GoogleEmulator, *, name: str = "Jane Doe") -> datetime:
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
                {"email": "jane@acme.com", "displayName": name},
            ],
        },
    )
    return start


def owned_calendars(emu: GoogleEmulator) -> list[str]:
    return [c for c, cal in emu.calendars.items() if cal.get("summary") == "Job search (pursuit)"]


def live_events(emu: GoogleEmulator, calendar_id: str) -> list[dict[str, object]]:
    return [e for e in emu.events(calendar_id).values() if e.get("status") != "cancelled"]


# --- two runs at once


def test_two_runs_at_once_never_double_a_draft_a_calendar_or_an_event(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = google_user(tmp_path, emu)
    interview_yesterday(emu)
    runs = [
        subprocess.Popen(
            [*pursuit_command(), "run", "--once"],
            env=p.env(),
            cwd=p.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out + err
        assert "Traceback" not in err
    assert len(emu.drafts) == 1
    [calendar] = owned_calendars(emu)
    summaries = sorted(str(e["summary"]) for e in live_events(emu, calendar))
    assert summaries == sorted(set(summaries)) and summaries


def test_a_run_while_another_holds_the_lock_waits_then_says_who_holds_it(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("run", "--once")
    lock = RunLock.beside(p.database)
    assert lock.try_acquire("service")
    try:
        err = p.fails("run", "--once", code=1, env={"PURSUIT_RUN_WAIT": "0.5"})
        assert f"service (pid {os.getpid()}) is running a round" in err
        assert err.count("Traceback") == 0
    finally:
        lock.release()
    p.ok("run", "--once", env={"PURSUIT_RUN_WAIT": "0.5"})


def test_the_run_lock_is_exclusive_between_processes_and_freed_when_its_holder_dies(
    tmp_path: Path,
) -> None:
    lock = RunLock(tmp_path / "data" / "x.lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from pursuit.daemon.runlock import RunLock
                RunLock(Path({str(lock.path)!r})).acquire("service")
                print("held", flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=rf"service \(pid {holder.pid}\)"):
            lock.acquire("run --once", wait=0.3)
    finally:
        holder.kill()
        holder.wait()
    lock.acquire("run --once")  # the kernel freed it with its dead holder
    lock.release()
    assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600


# --- a new data directory opened by many at once


def test_many_processes_opening_a_new_data_directory_at_once_all_succeed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from pursuit.daemon.store import Store
        Store.open(sys.argv[1]).close()
        """
    )
    for trial in range(3):
        database = tmp_path / f"trial{trial}" / "pursuit.sqlite3"
        starts = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(database)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(12)
        ]
        for start in starts:
            _, err = start.communicate(timeout=120)
            assert start.returncode == 0, err
        store = Store.open(database)
        assert store.version == SCHEMA_VERSION
        store.close()


def test_many_commands_on_a_new_data_directory_at_once_all_succeed(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    starts = [
        subprocess.Popen(
            [*pursuit_command(), *args],
            env=p.env(),
            cwd=p.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in [("status",), ("org", "add", "Globex", "--domain", "globex.com")] * 4
    ]
    for start in starts:
        out, err = start.communicate(timeout=120)
        assert start.returncode == 0, out + err


# --- files pursuit writes


def test_every_file_pursuit_writes_is_private_whatever_the_umask(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=None)
    old = os.umask(0o022)
    try:
        p.ok("init")
        p.ok("run", "--once")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.data_dir.stat().st_mode) == 0o700
    written = [f for f in p.data_dir.iterdir() if f.is_file()]
    assert p.database in written
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_database_left_readable_by_others_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    Store.open(database).close()
    database.chmod(0o644)
    Store.open(database).close()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


# --- one message must never stop a job


def test_a_message_the_core_cannot_store_is_skipped_named_and_counted_and_later_mail_is_logged(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = google_user(tmp_path, emu)
    now = datetime.now(UTC) - timedelta(hours=2)
    # A Date the connector accepts (year 9999) that is past year 9999 in UTC: the
    # core cannot store it. Two of them, around the good message.
    for n in (1, 2):
        poison = raw_mail("X <x@acme.com>", ME, "Hi", now, f"poison{n}@acme.com")
        poison = re.sub(r"Date: [^\r]*", "Date: Fri, 31 Dec 9999 23:00:00 -1200", poison)
        emu.add_message(poison, internal_date=now)
    emu.add_message(raw_mail("Jane <jane@acme.com>", ME, "After it", now, "ok1@acme.com"))
    p.ok("run", "--once")
    subjects = [m["subject"] for m in p.export()["correspondence"]]
    assert "After it" in subjects
    # Later mail, read from the saved cursor, is logged too: the cursor moved on.
    emu.add_message(raw_mail("Jane <jane@acme.com>", ME, "Later", now, "ok2@acme.com"))
    p.ok("run", "--once")
    assert "Later" in [m["subject"] for m in p.export()["correspondence"]]
    doctor = p.ok("doctor")
    assert "mail: skipped 2 items it could not handle" in doctor, doctor
    assert "<poison" in doctor and "OverflowError" in doctor
    [skipped] = json.loads(p.ok("doctor", "--json"))["skipped"]
    assert skipped["source"] == "mail" and skipped["count"] == 2


def test_mass_mail_creates_no_contacts_and_list_mail_none_either(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = google_user(tmp_path, emu)
    now = datetime.now(UTC) - timedelta(hours=2)
    crowd = ", ".join(f"person{n}@acme.com" for n in range(3000))
    emu.add_message(raw_mail("Jane <jane@acme.com>", f"{ME}, {crowd}", "All hands", now, "m1@acme"))
    emu.add_message(
        raw_mail(
            "HR <hr@acme.com>", ME, "Newsletter", now, "m2@acme", "List-Id: <news.acme.com>\r\n"
        )
    )
    emu.add_message(raw_mail("Raj <raj@acme.com>", ME, "Coffee?", now, "m3@acme"))
    p.ok("run", "--once")
    data = p.export()
    assert sorted(m["subject"] for m in data["correspondence"]) == [
        "All hands",
        "Coffee?",
        "Newsletter",
    ]
    assert [c["email"] for c in data["contacts"]] == ["raj@acme.com"]


def test_a_stranger_reusing_a_message_id_never_replaces_nor_hides_the_real_message(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = google_user(tmp_path, emu)
    now = datetime.now(UTC) - timedelta(hours=3)
    emu.add_message(raw_mail("Jane <jane@acme.com>", ME, "The real one", now, "same@acme.com"))
    p.ok("run", "--once")
    emu.add_message(
        raw_mail(
            "Mallory <mallory@acme.com>", ME, "Impostor", now + timedelta(hours=1), "same@acme.com"
        )
    )
    p.ok("run", "--once")
    # A resync from scratch sees both again: still one record each.
    emu.expire_history()
    p.ok("run", "--once")
    logged = sorted((m["subject"], m["message_id"]) for m in p.export()["correspondence"])
    assert logged == [("Impostor", "<same@acme.com>#2"), ("The real one", "<same@acme.com>")]


def test_a_huge_subject_is_stored_bounded(tmp_path: Path, emu: GoogleEmulator) -> None:
    p = google_user(tmp_path, emu)
    now = datetime.now(UTC) - timedelta(hours=2)
    emu.add_message(raw_mail("Jane <jane@acme.com>", ME, "A" * 200_000, now, "big@acme.com"))
    p.ok("run", "--once")
    [message] = p.export()["correspondence"]
    assert 0 < len(message["subject"]) <= 998
    assert "snippet" not in message  # no body text is kept


def test_an_invitation_to_a_crowd_makes_no_contacts_and_a_poison_event_stops_nothing(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = google_user(tmp_path, emu)
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    crowd = [{"email": f"p{n}@acme.com"} for n in range(500)]
    emu.put_event(
        "primary",
        {
            "id": "allhands",
            "summary": "Interview panel",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
            "attendees": [{"email": ME, "self": True}, *crowd],
        },
    )
    emu.put_event(
        "primary",
        {
            "id": "poison",
            "summary": "Interview",
            "start": {"dateTime": "9999-12-31T23:00:00-12:00"},
            "end": {"dateTime": "9999-12-31T23:30:00-12:00"},
            "attendees": [{"email": ME, "self": True}, {"email": "eve@acme.com"}],
        },
    )
    interview_yesterday(emu)
    p.ok("run", "--once")
    data = p.export()
    assert "jane@acme.com" in [c["email"] for c in data["contacts"]]
    assert len(data["contacts"]) <= 2
    doctor = p.ok("doctor")
    assert "calendar:primary: skipped 1 item" in doctor and "'poison'" in doctor, doctor


# --- an interrupted first sync


class Interrupted(Exception):
    pass


def test_an_interrupted_first_gmail_sync_resumes_without_fetching_again(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    from pursuit.connectors.gmail import GmailMailbox
    from pursuit.daemon import mail

    now = datetime.now(UTC)
    for n in range(270):
        emu.add_message(
            raw_mail(
                "Jane <jane@acme.com>", ME, f"Mail {n}", now - timedelta(hours=n + 1), f"{n}@acme"
            )
        )
    token = tmp_path / "token.json"
    emu.write_authorized_user_file(str(token))
    store = Store.open(tmp_path / "state.sqlite3")
    store.add_organization("Acme", ["acme.com"], [], now=now)

    def mailbox() -> GmailMailbox:
        # Unpaced (the emulator enforces no quota here): what resumes is the question,
        # not how fast; pacing has its own tests (test_google_connectors.py).
        return GmailMailbox(
            emu.credentials(),
            None,
            api_endpoint=emu.base_url,
            batch_size=50,
            quota_units_per_second=100_000,
        )

    def stop_in_the_third_batch(done: int, total: int) -> None:
        if done >= 150:
            raise Interrupted  # as a kill would, after two batches were stored

    with pytest.raises(Interrupted):
        mail.sync_mail(
            store, mailbox(), now, lookback=timedelta(days=30), progress=stop_in_the_third_batch
        )
    assert len(store.correspondence()) == 100
    emu.reset_counters()
    mail.sync_mail(store, mailbox(), now, lookback=timedelta(days=30))
    assert len(store.correspondence()) == 270
    fetched = emu.call_count("gmail/v1/users/me/messages/", method="GET")
    assert fetched == 170  # only the messages the first try did not store
    # Then the normal incremental sync takes over, from the history before the search.
    emu.add_message(raw_mail("Jane <jane@acme.com>", ME, "New", now, "new@acme"))
    assert mail.sync_mail(store, mailbox(), now, lookback=timedelta(days=30)) == 1
    store.close()


# --- what the user deleted comes back


def test_a_calendar_made_again_empty_gets_every_live_event_back(tmp_path: Path) -> None:
    from pursuit.connectors.base import CalendarEvent
    from pursuit.connectors.memory import MemoryCalendar
    from pursuit.daemon.errors import CalendarGone
    from pursuit.daemon.jobs import push_events, queue_event_changes
    from pursuit.daemon.planner import PlannedEvent

    class DeletableCalendar(MemoryCalendar):
        """Deleted by the user: noticed at the start of a round, or at the next upsert."""

        gone = False
        noticed_on_upsert = False

        def recreated(self) -> bool:
            if self.gone and not self.noticed_on_upsert:
                self.gone = False
                return True
            return False

        def upsert(self, event: CalendarEvent) -> None:
            if self.gone:
                self.gone = False
                raise CalendarGone("memory", "the calendar was deleted; made again")
            super().upsert(event)

    now = datetime(2026, 11, 30, 9, tzinfo=UTC)
    store = Store.open(tmp_path / "state.sqlite3")
    calendar = DeletableCalendar()
    planned = [
        PlannedEvent(
            f"check_in:1:{n}",
            (),
            now + timedelta(days=n),
            now + timedelta(days=n, hours=1),
            f"Check in {n}",
            "",
            15,
        )
        for n in range(3)
    ]
    queue_event_changes(store, calendar.name, planned, now)
    push_events(store, calendar, now)
    assert len(calendar.events()) == 3

    for noticed_on_upsert in (False, True):
        calendar._events.clear()  # the user deleted the calendar
        calendar.gone, calendar.noticed_on_upsert = True, noticed_on_upsert
        if noticed_on_upsert:  # something changed, so an upsert finds out
            planned[0] = dataclasses.replace(planned[0], summary="Check in 0, moved")
            queue_event_changes(store, calendar.name, planned, now)
        push_events(store, calendar, now)
        assert sorted(e.summary for e in calendar.events().values()) == sorted(
            p.summary for p in planned
        )
    store.close()


# --- storage faults


def test_a_full_disk_stops_the_job_with_one_clear_line_loses_nothing_and_resumes(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    from pursuit.connectors.gmail import GmailMailbox
    from pursuit.daemon import mail
    from pursuit.daemon.errors import StoreError

    now = datetime.now(UTC)
    for n in range(60):
        emu.add_message(
            raw_mail(
                "Jane <jane@acme.com>",
                ME,
                f"Mail {n} " + "x" * 900,
                now - timedelta(hours=n + 1),
                f"{n}@a",
            )
        )
    path = tmp_path / "state.sqlite3"
    store = Store.open(path)
    store.add_organization("Acme", ["acme.com"], [], now=now)
    mailbox = GmailMailbox(  # unpaced: the full disk is the question, not the quota
        emu.credentials(),
        None,
        api_endpoint=emu.base_url,
        batch_size=50,
        quota_units_per_second=100_000,
    )
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # a real SQLITE_FULL
    with pytest.raises(StoreError) as failure:
        mail.sync_mail(store, mailbox, now, lookback=timedelta(days=30))
    assert str(failure.value).startswith(f"{path}: the disk is full")
    assert "\n" not in str(failure.value)
    assert store.counts()["skipped"] == 0  # a full disk is no bad message
    store._db.execute("PRAGMA max_page_count = 1000000")  # space freed
    mail.sync_mail(store, mailbox, now, lookback=timedelta(days=30))
    assert len(store.correspondence()) == 60
    store.close()
