"""The service loop: each job on its own interval, until stopped.

Each job has a due time. At start it comes from the store (the job's last
success plus its interval, or now when it never ran or failed last), so a
restart runs at once what fell due while the service was down. The loop runs
what is due, one job at a time, then sleeps until the next due time. A job that
fails is retried after a backoff (`[service] retry_after`, doubled up to its
interval) and never stops the others. Planning and pushing follow changes: they
run right after a job that stored something, and after a command the user typed
changed the store. With an IMAP mailbox the loop waits on IMAP IDLE instead of
sleeping, and new mail runs the mail job at once.

Signals: SIGTERM and SIGINT finish the current step (a long sync stops at its
next batch, feed fetches under way end at once) and exit; SIGHUP reloads the
config, keeping the running one when the new one is invalid.

systemd (`Type=notify`) hears READY=1 once the config and store are sound,
before any long first sync; STATUS= lines; WATCHDOG=1 from a small thread while
the loop makes progress, so a long job is not mistaken for a hung one; and
RELOADING=1 / READY=1 around a reload, STOPPING=1 at the end.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from pursuit.daemon.app import App
from pursuit.daemon.errors import ConfigError, PursuitError, Stopped, UserError
from pursuit.daemon.jobs import Job, Outcome, run_job

log = logging.getLogger(__name__)

#: The loop wakes at least this often: a change typed by the user is planned within
#: it, and a clock that jumped (a laptop resumed) is noticed.
MAX_SLEEP = 60.0
#: While waiting on IMAP IDLE, the loop looks at least this often whether it was
#: asked to stop or reload (a signal cannot end a wait on the server).
MAIL_WAIT_STEP = 5.0
#: The job that reads the mailbox: where the mailbox can say so (IMAP IDLE), new
#: mail makes it due at once.
MAIL_JOB = "mail"
#: A job that shows no progress this long is hung: the watchdog stops pinging and
#: systemd restarts the service.
STALL_LIMIT = 15 * 60.0


def notify(message: str) -> None:
    """One datagram to systemd's notify socket, when there is one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        # A listener that stopped reading must never hang the service.
        sock.settimeout(1.0)
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError as exc:
            log.debug("cannot notify systemd: %s", exc)


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings: half what systemd asks (WATCHDOG_USEC)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Watchdog:
    """Pings systemd's watchdog from a thread, while the loop shows progress.

    The loop (and each long job, between batches) calls `beat()`. A loop that
    stopped beating for `STALL_LIMIT` is hung: the pings stop and systemd
    restarts the service, which is what a watchdog is for.
    """

    def __init__(self, interval: float, stall_limit: float = STALL_LIMIT) -> None:
        self.interval = interval
        self.stall_limit = stall_limit
        self._last_beat = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pursuit-watchdog", daemon=True)

    def beat(self) -> None:
        self._last_beat = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        main = threading.main_thread()
        while not self._done.wait(self.interval):
            if not main.is_alive():
                return
            stalled = time.monotonic() - self._last_beat
            if stalled > self.stall_limit:
                log.error("no progress for %.0f s; leaving systemd to restart pursuit", stalled)
                continue
            notify("WATCHDOG=1")


@dataclass
class Slot:
    """A job's place in the timetable."""

    job: Job
    due: datetime
    failures: int = 0


class Service:
    """The loop over one App; `reload` builds another from the config file."""

    def __init__(
        self,
        app: App,
        *,
        load_app: Callable[[], App] | None = None,
    ) -> None:
        self.app = app
        self._load_app = load_app
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reload = False
        self._data_version = -1
        interval = watchdog_interval()
        self.watchdog = Watchdog(interval) if interval else None
        self.slots: list[Slot] = []

    # --- what the signals ask

    def request_stop(self) -> None:
        self._stop.set()
        self.app.stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload = True
        self._wake.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping on %s", signal.Signals(signum).name)
            self.request_stop()

        def on_reload(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_reload)

    # --- the timetable

    def _timetable(self, now: datetime) -> list[Slot]:
        """Each job due from its last success in the store (now when never, or failed)."""
        runs = self.app.store.job_runs()
        slots: list[Slot] = []
        for job in self.app.jobs():
            run = runs.get(job.name)
            due = now
            if (
                not job.follows_changes
                and run is not None
                and run.last_ok is not None
                and run.last_error is None
            ):
                due = self._next(job, run.last_ok)
            slots.append(Slot(job, due))
        return slots

    def _next(self, job: Job, ran: datetime) -> datetime:
        every = job.every or self.app.settings.service.plan_every
        if job.next_due is not None:
            known = job.next_due(ran)
            if known is not None:
                return min(known, ran + every)
        return ran + every

    def _retry(self, slot: Slot, now: datetime) -> datetime:
        every = slot.job.every or self.app.settings.service.plan_every
        base = self.app.settings.service.retry_after
        backoff: timedelta = base * 2 ** min(slot.failures - 1, 20)
        return now + max(base, min(backoff, every))

    def _follow_changes(self, now: datetime) -> None:
        for slot in self.slots:
            if slot.job.follows_changes:
                slot.due = min(slot.due, now)

    def _changed_elsewhere(self) -> bool:
        """True when another program (a command typed) changed the store since last asked."""
        version = self.app.store.data_version()
        changed = self._data_version not in (-1, version)
        self._data_version = version
        return changed

    # --- running

    def _beat(self) -> None:
        if self.watchdog is not None:
            self.watchdog.beat()

    def _run_due(self) -> list[tuple[Slot, Outcome | None]]:
        """Run what is due, one job at a time, until nothing is; a round's outcomes."""
        ran: list[tuple[Slot, Outcome | None]] = []
        while not self._stop.is_set():
            now = self.app.now()
            due = next((s for s in self.slots if s.due <= now), None)
            if due is None:
                break
            notify(f"STATUS=running {due.job.name}")
            self._beat()
            if due.job.name == MAIL_JOB and not due.failures and self.app.waits_for_mail:
                # Marks the mailbox as read up to here: what comes during this round
                # wakes the next wait at once.
                self.app.wait_for_mail(0)
            outcome = run_job(self.app.store, due.job, now)
            self._beat()
            finished = self.app.now()
            if outcome is None:  # its source is paused: look again later
                due.due = finished + (due.job.every or self.app.settings.service.plan_every)
            elif outcome.error is not None:
                due.failures += 1
                due.due = self._retry(due, finished)
            else:
                due.failures = 0
                due.due = self._next(due.job, finished)
                if not due.job.follows_changes and outcome.stored_something:
                    self._follow_changes(finished)
            ran.append((due, outcome))
        return ran

    def _report(self, ran: list[tuple[Slot, Outcome | None]]) -> None:
        """One INFO line per round, and the STATUS systemd shows."""
        done = [
            f"{o.job} ({_result_words(o.result)})"
            for _, o in ran
            if o is not None and o.error is None
        ]
        failed = [f"{o.job} ({o.error})" for _, o in ran if o is not None and o.error]
        paused = [slot.job.name for slot, o in ran if o is None]
        upcoming = min(self.slots, key=lambda s: s.due, default=None)
        tz = self.app.settings.timezone
        parts = []
        if done:
            parts.append("ran " + ", ".join(done))
        if failed:
            parts.append("failed " + ", ".join(failed))
        if paused:
            parts.append("paused " + ", ".join(paused))
        if upcoming is not None:
            parts.append(f"next {upcoming.job.name} at {upcoming.due.astimezone(tz):%H:%M:%S}")
        log.info("round: %s", "; ".join(parts))
        pause = self.app.pause()
        if pause is not None:
            name = pause[0].name
            status = f"{name.capitalize()} paused: sign in again with `pursuit auth {name}`"
        elif failed:
            status = "failing: " + ", ".join(o.job for _, o in ran if o is not None and o.error)
        else:
            status = f"idle; last round ok at {self.app.now().astimezone(tz):%H:%M}"
        if upcoming is not None:
            status += f"; next {upcoming.job.name} at {upcoming.due.astimezone(tz):%H:%M}"
        notify(f"STATUS={status}")

    def _sleep(self) -> None:
        now = self.app.now()
        upcoming = min((s.due for s in self.slots), default=now + timedelta(seconds=MAX_SLEEP))
        wait = min(max((upcoming - now).total_seconds(), 0.0), MAX_SLEEP)
        if wait > 0:
            self._wait(wait)
        self._wake.clear()

    def _wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, or until a signal; with IMAP, on IDLE, where new mail
        makes the mail job due at once. A failing mail job's server is left alone
        until the job succeeds again: it is retried, and logged, by the job."""
        mail = next((s for s in self.slots if s.job.name == MAIL_JOB), None)
        if mail is None or mail.failures or not self.app.waits_for_mail:
            self._wake.wait(seconds)
            return
        step = MAIL_WAIT_STEP
        if self.watchdog is not None:
            step = min(step, self.watchdog.interval)
        deadline = time.monotonic() + seconds
        while not self._wake.is_set() and (left := deadline - time.monotonic()) > 0:
            self._beat()
            if self.app.wait_for_mail(min(left, step)):
                log.info("new mail: running the %s job now", mail.job.name)
                mail.due = min(mail.due, self.app.now())
                return

    def reload(self) -> None:
        """Read the config again: valid, it serves the next jobs; invalid, it is refused
        with the same messages as at start and the running one kept."""
        self._reload = False
        notify(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec()}\nSTATUS=reloading the config")
        if self._load_app is None:
            notify("READY=1")
            return
        fresh: App | None = None
        try:
            fresh = self._load_app()
            if fresh.settings.database != self.app.settings.database:
                raise ConfigError(
                    f"database: {fresh.settings.database}: the state database cannot change "
                    "while pursuit runs; restart it to use another"
                )
            fresh.stopping = self.app.stopping
            fresh.heartbeat = self._beat
            fresh.sync_config()  # the new organizations are in the store for the next jobs
        except PursuitError as exc:
            if fresh is not None:
                fresh.close()
            problems = exc.problems if isinstance(exc, UserError) else [str(exc)]
            for problem in problems:
                log.error("config reload refused: %s", problem)
            log.error("config reload refused; still running on the config it had")
            notify(f"READY=1\nSTATUS=config reload refused: {problems[0]}")
            return
        old, self.app = self.app, fresh
        old.close()
        self._data_version = -1
        self.slots = self._timetable(self.app.now())
        log.info("config reloaded; it takes effect from the next jobs")
        notify("READY=1\nSTATUS=config reloaded")

    def serve(self) -> None:
        self._install_signals()
        self.app.heartbeat = self._beat
        self.app.sync_config()
        self.slots = self._timetable(self.app.now())
        self._changed_elsewhere()
        if self.watchdog is not None:
            self.watchdog.start()
        # Config and store are sound: systemd may call us started, before any long sync.
        notify("READY=1\nSTATUS=started; running the jobs that are due")
        every = self.app.settings.service
        log.info(
            "pursuit is running: mail every %s, calendar every %s, each feed every %s",
            every.mail_every,
            every.calendar_every,
            self.app.settings.feeds.poll_every,
        )
        try:
            while not self._stop.is_set():
                self._beat()
                if self._reload:
                    self.reload()
                if self._changed_elsewhere():
                    self._follow_changes(self.app.now())
                try:
                    ran = self._run_due()
                except Stopped:
                    break
                if ran:
                    self._report(ran)
                self._sleep()
        finally:
            notify("STOPPING=1\nSTATUS=stopping")
            if self.watchdog is not None:
                self.watchdog.stop()
        log.info("pursuit stopped")


def _result_words(result: object) -> str:
    """What a job's result says, in a few words."""
    if result is None:
        return "done"
    if isinstance(result, int):
        return str(result)
    fields = getattr(result, "__dataclass_fields__", None)
    if fields:
        return " ".join(f"{name}={getattr(result, name)}" for name in fields)
    return type(result).__name__


def serve(app: App, *, load_app: Callable[[], App] | None = None) -> None:
    """Run the service until SIGTERM or SIGINT; SIGHUP builds a new app with `load_app`."""
    Service(app, load_app=load_app).serve()
