"""`pursuit run` as systemd runs it: a real process, a notify socket bound by the test,
signals, a Google emulator with latency for a long first sync.

The waits below are generous upper bounds for something to happen, never
assertions about speed (speed is measured in bench/idle_bench.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.cli import Pursuit, pursuit_command
from support.feed_server import FeedServer, Reply
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail

from pursuit.daemon.runlock import RunLock
from pursuit.daemon.store import Store

ME = "me@example.com"
FIRST_SYNC_MESSAGES = 300  # six batches of 50: a first sync of several seconds at the latency


class NotifySocket:
    """What systemd would hear: the datagrams sent to $NOTIFY_SOCKET, read as they come."""

    def __init__(self) -> None:
        # A short path: AF_UNIX addresses are limited to 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="pn-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def wait_for(self, what: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The first message (from the start) for which `what` is true, waiting for it."""
        give_up = time.monotonic() + timeout
        while True:
            found = next((m for m in list(self.messages) if what(m)), None)
            if found is not None:
                return found
            assert time.monotonic() < give_up, f"never notified; heard {self.messages}"
            time.sleep(0.05)

    def count(self, text: str) -> int:
        return sum(text in m for m in list(self.messages))

    def close(self) -> None:
        self._closed.set()
        self._reader.join()
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


class Daemon:
    """`pursuit run` in the background, as systemd starts it."""

    def __init__(self, p: Pursuit, notify: NotifySocket, env: dict[str, str] | None = None):
        self.p = p
        self.log = p.root / f"daemon-{time.monotonic_ns()}.log"
        extra = {"NOTIFY_SOCKET": notify.path, **(env or {})}
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [*pursuit_command(), "-v", "run"],
                env=p.env(extra),
                cwd=p.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM, then the exit code; it must come within the 10 s systemd is promised."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"not stopped 10 s after SIGTERM:\n{self.output}") from None


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    give_up = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < give_up, f"timed out waiting: {what}"
        time.sleep(0.05)


def google_user(tmp_path: Path, emu: GoogleEmulator, service: str = "") -> Pursuit:
    token = tmp_path / "token" / "google.json"
    token.parent.mkdir(mode=0o700, exist_ok=True)
    emu.write_authorized_user_file(str(token))
    return Pursuit(tmp_path, config=google_config(tmp_path, emu, service))


def google_config(tmp_path: Path, emu: GoogleEmulator, service: str = "", extra: str = "") -> str:
    token = tmp_path / "token" / "google.json"
    return (
        f"[service]\n{service}\n"
        "[feeds]\nnews_search = false\n"
        f'[google]\ncredentials_file = "{token}"\n'
        f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n' + extra
    )


def mail_from_acme(emu: GoogleEmulator, count: int, start: int = 0) -> None:
    when = datetime.now(UTC) - timedelta(days=2)
    for n in range(start, start + count):
        emu.add_message(
            raw_mail(f"Person {n} <p{n}@acme.com>", ME, f"Message {n}", when, f"m{n}@acme.com"),
            internal_date=when,
        )


def logged_ids(p: Pursuit) -> list[str]:
    store = Store.open(p.database)
    try:
        return [c.message_id for c in store.correspondence()]
    finally:
        store.close()


def gmail_cursor(p: Pursuit) -> str | None:
    if not p.database.exists():
        return None
    store = Store.open(p.database)
    try:
        return store.cursor("gmail")
    finally:
        store.close()


# --- a long first sync under systemd


def test_ready_comes_before_a_long_first_sync_which_keeps_the_watchdog_fed_and_stops_on_sigterm(
    tmp_path: Path, notify: NotifySocket, daemons: list[Daemon]
) -> None:
    with GoogleEmulator(user_email=ME, latency=0.6) as emu:
        mail_from_acme(emu, FIRST_SYNC_MESSAGES)
        p = google_user(tmp_path, emu)
        daemon = Daemon(p, notify, env={"WATCHDOG_USEC": "400000"})
        daemons.append(daemon)

        notify.wait_for(lambda m: "READY=1" in m)
        assert gmail_cursor(p) is None, "READY only after the first sync: too late for systemd"
        # The watchdog is fed while the sync runs (pings every 0.2 s, batches of 0.6 s).
        wait_until(lambda: len(logged_ids(p)) > 0, "a first batch stored")
        wait_until(lambda: notify.count("WATCHDOG=1") >= 3, "watchdog pings during the sync")
        assert gmail_cursor(p) is None, "the sync was already over: make it longer"

        # Stopped in the middle: exit 0 within 10 s, nothing half-done.
        assert daemon.stop() == 0, daemon.output
        notify.wait_for(lambda m: "STOPPING=1" in m)
        stored = logged_ids(p)
        assert 0 < len(stored) < FIRST_SYNC_MESSAGES, "stopped mid-sync"
        assert gmail_cursor(p) is None, "the cursor is saved only once the sync is complete"
        assert "Traceback" not in daemon.output

        # The next start finishes the job: every message once, none twice.
        emu.latency = 0.0
        p.ok("run", "--once")
        stored = logged_ids(p)
        assert len(stored) == len(set(stored)) == FIRST_SYNC_MESSAGES
        assert gmail_cursor(p) is not None


def test_a_second_run_is_refused_at_once_naming_the_running_one(
    tmp_path: Path, notify: NotifySocket, daemons: list[Daemon]
) -> None:
    p = Pursuit(tmp_path, config="[feeds]\nnews_search = false\n")
    daemon = Daemon(p, notify)
    daemons.append(daemon)
    notify.wait_for(lambda m: "READY=1" in m)

    for args in (("run",), ("run", "--once")):
        err = p.fails(*args, code=1)
        assert f"pid {daemon.proc.pid}" in err, err
        assert str(RunLock.beside(p.database).path) in err, err
        assert "Traceback" not in err

    # The kernel releases the lock of a process that dies, however it dies.
    daemon.proc.kill()
    daemon.proc.wait()
    p.ok("run", "--once")


# --- jobs on a short schedule


def test_jobs_run_on_their_schedule_and_a_failing_job_never_stops_the_others(
    tmp_path: Path, notify: NotifySocket, daemons: list[Daemon]
) -> None:
    with GoogleEmulator(user_email=ME) as emu:
        mail_from_acme(emu, 1)
        p = google_user(
            tmp_path, emu, 'mail_every = "1s"\ncalendar_every = "1s"\nretry_after = "1s"\n'
        )
        daemon = Daemon(p, notify)
        daemons.append(daemon)
        wait_until(lambda: len(logged_ids(p)) == 1, "the first message logged")

        # Gmail breaks: its job fails (logged, told to systemd), the calendar's goes on.
        emu.inject_fault(400, count=1000, path_contains="gmail/v1/users/me/history")
        wait_until(lambda: "job mail failed" in daemon.output, "the mail job's failure logged")
        emu.reset_counters()
        wait_until(
            lambda: emu.call_count("calendar/v3/calendars/primary/events") >= 2,
            "interviews still read while gmail fails",
        )
        notify.wait_for(lambda m: "STATUS=failing: mail" in m)

        # Gmail comes back: the failed job is retried and catches up.
        emu.clear_faults()
        mail_from_acme(emu, 1, start=1)
        wait_until(lambda: len(logged_ids(p)) == 2, "the mail sent meanwhile logged")
        assert daemon.proc.poll() is None
        assert "round: ran" in daemon.output, "one INFO line per round"
        assert daemon.stop() == 0


# --- SIGHUP


def test_sighup_reloads_a_good_config_and_refuses_a_bad_one_keeping_the_old(
    tmp_path: Path, notify: NotifySocket, daemons: list[Daemon]
) -> None:
    base = '[feeds]\nnews_search = false\n[[organization]]\nname = "Acme"\ndomains = ["acme.com"]\n'
    p = Pursuit(tmp_path, config=base)
    daemon = Daemon(p, notify)
    daemons.append(daemon)
    notify.wait_for(lambda m: "READY=1" in m)

    good = p.config_path.read_text()
    p.config_path.write_text(good + '[planner]\nfollow_up_delay = "soon"\n')
    daemon.signal(signal.SIGHUP)
    reloading = notify.wait_for(lambda m: "RELOADING=1" in m)
    assert "MONOTONIC_USEC=" in reloading
    refused = notify.wait_for(lambda m: "config reload refused" in m)
    assert "READY=1" in refused
    # The same message as at start: file, key, problem.
    start_message = p.fails("status").strip().removeprefix("pursuit: ")
    wait_until(lambda: start_message in daemon.output, "the problem named in the log")
    assert daemon.proc.poll() is None, "a bad config never stops the running service"

    p.config_path.write_text(good + '[[organization]]\nname = "Globex"\ndomains = ["globex.com"]\n')
    daemon.signal(signal.SIGHUP)
    notify.wait_for(lambda m: "STATUS=config reloaded" in m)
    assert "Globex" in p.ok("org", "list")
    assert daemon.stop() == 0


# --- catching up after downtime


def test_a_restart_runs_at_once_what_fell_due_while_it_was_down(
    tmp_path: Path, notify: NotifySocket, daemons: list[Daemon]
) -> None:
    with GoogleEmulator(user_email=ME) as emu:
        p = google_user(tmp_path, emu, 'mail_every = "1h"\ncalendar_every = "1h"\n')
        p.ok("run", "--once")  # every job succeeded just now
        emu.reset_counters()

        # Started again at once: nothing is due before an hour.
        daemon = Daemon(p, notify)
        daemons.append(daemon)
        notify.wait_for(lambda m: "STATUS=idle" in m)
        time.sleep(1.0)
        assert emu.call_count("gmail/v1/users/me/history") == 0, "ran what was not due"
        assert daemon.stop() == 0

        # The service was down for two hours: gmail fell due and runs at once.
        store = Store.open(p.database)
        past = datetime.now(UTC) - timedelta(hours=2)
        store.record_job_run("mail", now=past, error=None)
        store.close()
        daemon = Daemon(p, notify)
        daemons.append(daemon)
        wait_until(
            lambda: emu.call_count("gmail/v1/users/me/history") >= 1, "gmail caught up at start"
        )
        assert emu.call_count("calendar/v3/calendars/primary/events") == 0, "not due yet"
        assert daemon.stop() == 0


# --- the doctor and the status


def test_doctor_and_status_tell_a_revoked_grant_and_what_to_do(tmp_path: Path) -> None:
    with GoogleEmulator(user_email=ME) as emu:
        p = google_user(tmp_path, emu)
        p.ok("run", "--once")
        report = p.ok("doctor")
        assert f"google: reachable, authorized as {ME}" in report
        assert "Nothing needs you." in report
        assert "Warning" not in p.ok("status")

        emu.revoke()
        mail_from_acme(emu, 1)
        assert p.run("run", "--once").code == 1
        # A separate process sees the pause: it is in the store.
        first = p.ok("status").splitlines()[0]
        assert first.startswith("Warning: Google sync paused since ")
        assert "`pursuit auth google`" in first
        result = p.run("doctor")
        assert result.code == 1, result
        assert "google: paused since" in result.out
        assert "-> sign in again: `pursuit auth google`" in result.out
        assert json.loads(p.run("doctor", "--json").out)["needs_you"] is True

        # Signed in again: no longer paused at once; the failure stays shown until a run.
        emu.sign_in_again()
        token = tmp_path / "token" / "google.json"
        emu.write_authorized_user_file(str(token) + ".new")
        os.replace(str(token) + ".new", token)
        assert "paused" not in p.ok("status")
        p.ok("run", "--once")
        assert "Warning" not in p.ok("status")
        assert len(logged_ids(p)) == 1


def test_sigterm_in_the_middle_of_a_slow_feed_fetch_stops_at_once_and_blames_no_feed(
    tmp_path: Path, notify: NotifySocket, daemons: list[Daemon]
) -> None:
    with FeedServer() as server:
        url = server.route("/slow.xml", Reply(body=b"<rss/>", delay=120.0))
        config = (
            '[feeds]\nnews_search = false\ntimeout = "60s"\n'
            '[[organization]]\nname = "Acme"\ndomains = ["acme.com"]\n'
            f'feeds = [{{ url = "{url}", kind = "press" }}]\n'
        )
        p = Pursuit(tmp_path, config=config)
        daemon = Daemon(p, notify)
        daemons.append(daemon)
        wait_until(lambda: len(server.requests) > 0, "the slow fetch under way")
        assert daemon.stop() == 0, daemon.output
        assert "Traceback" not in daemon.output
        report = json.loads(p.run("doctor", "--json").out)
        assert report["failing_feeds"] == [], "a fetch cut short by a stop is no feed's failure"


# --- IMAP: new mail as it comes


def test_with_imap_a_reply_is_logged_as_it_arrives_and_sigterm_still_stops_at_once(
    tmp_path: Path, notify: NotifySocket, daemons: list[Daemon]
) -> None:
    from support.dovecot import PASSWORD, USER, Dovecot

    with Dovecot() as dovecot:
        config = (
            # Mail only every hour: what arrives in between is seen by IMAP IDLE alone.
            '[service]\nmail_every = "1h"\n'
            "[feeds]\nnews_search = false\n"
            f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
            f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\n'
            '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        )
        p = Pursuit(tmp_path, config=config)
        daemon = Daemon(p, notify, env={"WATCHDOG_USEC": "1000000"})
        daemons.append(daemon)

        def mail_synced() -> bool:
            if not p.database.exists():
                return False
            store = Store.open(p.database)
            try:
                run = store.job_runs().get("mail")
                return run is not None and run.last_ok is not None
            finally:
                store.close()

        wait_until(mail_synced, "the first IMAP sync")
        when = datetime.now(UTC)
        dovecot.append(
            "INBOX",
            raw_mail("Jane <jane@acme.com>", USER, "Re: interview", when, "r1@acme.com").encode(),
        )
        wait_until(lambda: "<r1@acme.com>" in logged_ids(p), "the reply logged, by IDLE")
        # The watchdog is still fed while the loop waits on the server.
        pings = notify.count("WATCHDOG=1")
        wait_until(lambda: notify.count("WATCHDOG=1") > pings, "a watchdog ping while idle")

        assert daemon.stop() == 0, daemon.output
        assert "Traceback" not in daemon.output
        assert "new mail: running the mail job now" in daemon.output
