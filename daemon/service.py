"""The service loop: each job on its own interval, until stopped.

Each job has a place in a timetable kept on the monotonic clock, which never
goes back: a wall clock set back (NTP at boot, a restored snapshot, a user
fixing it) or the repeated hour of a DST fall-back holds no job. What is stored
are UTC instants: at start each job is due at its last success plus its
interval (never later than one interval from now), or now when it never ran or
failed last, so a restart runs at once what fell due while the service was down.
At each wake the loop compares how far the wall, monotonic and boot clocks went:
a step of the wall clock or a suspend is said in one log line and the timetable
planned again at once, each job at the sooner of its place and what the store
says, so what fell due by the wall clock runs now and nothing waits for a clock
that went back. Jobs that know their own hour (the summary, each feed's next
poll) are asked again then.

The sources (mail, interviews, feeds) each run in a thread of their own, on an
App of their own (its own SQLite connection and connectors: neither is shared
between threads); the loop runs the local work (plan, calendar, drafts, summary)
itself, one job at a time, so a slow feed or a long first mail sync never holds
the calendar file. A job that fails is retried after a backoff
(`[service] retry_after`, doubled up to its interval) and never stops the
others. Planning and pushing follow changes: they run right after a source that
stored something, and after a command the user typed changed the store. With an
IMAP mailbox the loop waits on IMAP IDLE instead of sleeping, and new mail runs
the mail job at once. A full disk stops the job it hit, never the service: it
says so once, starts no job until there is room again, then runs them all.

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
import math
import os
import queue
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TypeVar

from pursuit.daemon.app import App
from pursuit.daemon.errors import ConfigError, PursuitError, Stopped, StoreError, UserError
from pursuit.daemon.jobs import Job, Outcome, is_disk_full, run_job

log = logging.getLogger(__name__)

T = TypeVar("T")

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


#: Wall-clock and monotonic progress that disagree by more than this between two
#: wakes mean the wall clock was stepped (NTP at boot, a snapshot restored, a user
#: fixing it) or the machine slept: the timetable is planned again at once.
CLOCK_JUMP = 5.0
#: The jobs that read an outside source (a mailbox, calendars, feeds). Each runs in a
#: thread of its own, on an app of its own (its own store connection and
#: connectors), so local work (plan, calendar, drafts) never waits behind one.
SOURCE_JOBS = frozenset({"mail", "interviews", "feeds"})
#: A stop waits this long for the sources' threads to end their current batch.
STOP_WAIT = 8.0


def source_app(app: App) -> App:
    """A source job's own app: the same settings and clock, with a store connection
    and connectors of its own (neither SQLite connections nor most clients are shared
    between threads)."""
    return App(app.settings, clock=app._clock)


def boottime() -> float:
    """Seconds since boot, counting suspend (Linux's CLOCK_BOOTTIME): against the
    monotonic clock, which stops while the machine sleeps, it tells a suspend."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()


@dataclass(frozen=True)
class Reading:
    """The three clocks read together at one wake."""

    wall: float
    monotonic: float
    boot: float


@dataclass
class Slot:
    """A job's place in the timetable: when it is next due on the monotonic clock,
    which never goes back (a wall clock stepped back, or the repeated hour of a DST
    fall-back, never holds a job)."""

    job: Job
    due: float
    failures: int = 0
    #: True while the job runs in its thread (a source).
    running: bool = False


class Worker:
    """One source job's thread, for the life of a config. It owns an app of its own
    (an SQLite connection serves only the thread that opened it, and most clients
    are not to be shared between threads), runs the job each time it is asked and
    hands back the outcome."""

    def __init__(
        self,
        name: str,
        make_app: Callable[[Worker], App],
        done: Callable[[Slot, Outcome | None], None],
    ) -> None:
        self.name = name
        self._done = done
        self._asks: queue.SimpleQueue[Slot | None] = queue.SimpleQueue()
        #: Whether the last run's mail server refused the login or could not be reached.
        self.mail_refused = False
        #: When the run under way began or last showed progress (a batch); None when idle.
        self.progressed: float | None = None
        self._thread = threading.Thread(
            target=self._serve, args=(make_app,), name=f"pursuit-{name}", daemon=True
        )
        self._thread.start()

    def run(self, slot: Slot) -> None:
        self.progressed = time.monotonic()
        self._asks.put(slot)

    def beat(self) -> None:
        """The run under way made progress (called between batches)."""
        if self.progressed is not None:
            self.progressed = time.monotonic()

    def stalled(self, limit: float) -> bool:
        """True when the run under way showed no progress for `limit` seconds."""
        progressed = self.progressed
        return progressed is not None and time.monotonic() - progressed > limit

    def retire(self) -> None:
        """End the thread after its current run, closing its app."""
        self._asks.put(None)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _serve(self, make_app: Callable[[Worker], App]) -> None:
        app = make_app(self)
        try:
            while (slot := self._asks.get()) is not None:
                outcome: Outcome | None = None
                try:
                    job = next((j for j in app.jobs() if j.name == self.name), slot.job)
                    outcome = run_job(app.store, job, app.now())
                except Stopped:
                    continue  # the service is stopping: nothing to plan
                except PursuitError as exc:  # its own store could not be opened (a full disk)
                    log.error("job %s failed: %s", self.name, exc)
                    outcome = Outcome(self.name, error=str(exc), disk_full=is_disk_full(exc))
                except Exception as exc:  # run_job records a job's failure: a bug of ours
                    log.exception("job %s crashed", self.name)
                    outcome = Outcome(self.name, error=f"{type(exc).__name__}: {exc}")
                self.mail_refused = app._mail_refused
                self.progressed = None
                self._done(slot, outcome)
        finally:
            try:
                app.close()
            except Exception:
                log.exception("closing the %s job's connections", self.name)


class Service:
    """The loop over one App; `reload` builds another from the config file."""

    def __init__(
        self,
        app: App,
        *,
        load_app: Callable[[], App] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        boot_clock: Callable[[], float] = boottime,
        worker_app: Callable[[App], App] | None = None,
    ) -> None:
        worker_app = source_app if worker_app is None else worker_app
        self.app = app
        self._load_app = load_app
        self._monotonic = monotonic
        self._boottime = boot_clock
        #: How a source job's own app is made from the loop's.
        self._worker_app = worker_app
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reload = False
        self._data_version = -1
        interval = watchdog_interval()
        self.watchdog = Watchdog(interval) if interval else None
        self.slots: list[Slot] = []
        self._workers: dict[str, Worker] = {}
        #: Every worker started, retired ones too: a stop waits for them all.
        self._every_worker: list[Worker] = []
        self._finished: queue.SimpleQueue[tuple[Slot, Outcome | None]] = queue.SimpleQueue()
        self._clocks = self._read_clocks()
        #: Free bytes on the database's disk when it filled; None while there is room.
        self._disk_full_at: int | None = None

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

    def _every(self, job: Job) -> timedelta:
        return job.every or self.app.settings.service.plan_every

    def _timetable(self) -> list[Slot]:
        """Each job due from its last success in the store (now when never, or failed).

        What is stored is a UTC instant; a last success that lies ahead (the clock
        was set back while pursuit was down) never holds a job longer than its
        interval."""
        runs = self.app.store.job_runs()
        now = self.app.now()
        monotonic = self._monotonic()
        slots: list[Slot] = []
        for job in self.app.jobs():
            run = runs.get(job.name)
            due = monotonic
            if (
                not job.follows_changes
                and run is not None
                and run.last_ok is not None
                and run.last_error is None
            ):
                due = monotonic + self._wait_after(job, run.last_ok, now)
            slots.append(Slot(job, due))
        return slots

    def _wait_after(self, job: Job, ran: datetime, now: datetime) -> float:
        """Seconds from `now` until `job`, which last ran at `ran`, is due again: its
        interval, or sooner when it knows better (feeds, the summary); never more than
        the interval from now, whatever the wall clock did."""
        every = self._every(job)
        due = ran.astimezone(UTC) + every
        if job.next_due is not None:
            known = job.next_due(ran)
            if known is not None:
                due = min(due, known.astimezone(UTC))
        wait = (due - now.astimezone(UTC)).total_seconds()
        return min(max(wait, 0.0), every.total_seconds())

    def _retry(self, slot: Slot) -> float:
        """Seconds until a failing job is tried again: doubling, up to its interval."""
        every = self._every(slot.job)
        base = self.app.settings.service.retry_after
        backoff: timedelta = base * 2 ** min(slot.failures - 1, 20)
        return max(base, min(backoff, every)).total_seconds()

    def _follow_changes(self) -> None:
        now = self._monotonic()
        for slot in self.slots:
            if slot.job.follows_changes and not slot.running:
                slot.due = min(slot.due, now)

    def _changed_elsewhere(self) -> bool:
        """True when another program (a command typed) changed the store since last asked."""
        version = self.app.store.data_version()
        changed = self._data_version not in (-1, version)
        self._data_version = version
        return changed

    # --- the clock

    def _read_clocks(self) -> Reading:
        return Reading(self.app.now().timestamp(), self._monotonic(), self._boottime())

    def _notice_clock(self) -> None:
        """Compare how far the wall clock and the monotonic clock went since the last
        wake: a step of the wall clock, or a suspend, re-plans the timetable at once."""
        now = self._read_clocks()
        last, self._clocks = self._clocks, now
        elapsed = now.monotonic - last.monotonic
        slept = (now.boot - last.boot) - elapsed
        stepped = (now.wall - last.wall) - elapsed - max(slept, 0.0)
        noticed = []
        if slept > CLOCK_JUMP:
            noticed.append(f"the machine slept {_span(slept)}")
        if abs(stepped) > CLOCK_JUMP:
            way = "forward" if stepped > 0 else "back"
            noticed.append(f"the wall clock jumped {way} {_span(abs(stepped))}")
        if noticed:
            log.warning("%s; planning the jobs again from now", " and ".join(noticed))
            if stepped < 0:
                self._move_feed_polls(stepped)
            self._replan()

    def _move_feed_polls(self, seconds: float) -> None:
        """Each feed's next poll is stored as an instant, planned on a clock that was
        `-seconds` ahead: moved back as much, or no feed would be polled for as long."""
        try:
            self.app.store.move_feed_polls(seconds, after=self.app.now())
        except StoreError as exc:  # a full disk: the polls come when the clock catches up
            log.warning("the feeds' next polls stay as they were: %s", exc)

    def _replan(self) -> None:
        """Each job at the sooner of its place in the timetable and what the store says
        (its last success plus its interval, by the wall clock now): a clock that went
        forward, or a suspend, runs at once what fell due; one that went back holds
        nothing."""
        fresh = {slot.job.name: slot.due for slot in self._timetable()}
        for slot in self.slots:
            if not slot.running:
                slot.due = min(slot.due, fresh.get(slot.job.name, slot.due))

    # --- a full disk

    def _room(self) -> int:
        return free_space(self.app.settings.database.parent)

    def _disk_filled(self, outcome: Outcome) -> None:
        if self._disk_full_at is not None:
            return
        self._disk_full_at = self._room()
        log.error(
            "%s: the disk is full; the jobs wait until there is room again, then go on "
            "where they stopped (nothing is lost)",
            self.app.settings.database.parent,
        )
        notify(f"STATUS=waiting for room on the disk: {outcome.error}")

    def _waiting_for_room(self) -> bool:
        """True while the disk stays full: no job is started. Once some room is freed,
        every job is due again."""
        if self._disk_full_at is None:
            return False
        free = room_again(self.app.settings.database.parent, self._disk_full_at)
        if free is None:
            return True
        log.warning("there is room on the disk again (%s free); the jobs go on", _bytes(free))
        self._disk_full_at = None
        now = self._monotonic()
        for slot in self.slots:
            if not slot.running:
                slot.failures = 0
                slot.due = min(slot.due, now)
        return False

    # --- running

    def _beat(self) -> None:
        """Progress for the watchdog, unless a source's thread is hung: then systemd
        restarts the service, as it would for a hung loop."""
        if self.watchdog is not None and not any(
            w.stalled(self.watchdog.stall_limit) for w in self._workers.values()
        ):
            self.watchdog.beat()

    def _run_due(self) -> list[tuple[Slot, Outcome | None]]:
        """Run what is due until nothing is: the local jobs here, one at a time; each
        source in its own thread, whose outcome joins a later round. A round's outcomes."""
        ran = self._collect()
        while not self._stop.is_set() and not self._waiting_for_room():
            now = self._monotonic()
            due = next((s for s in self.slots if not s.running and s.due <= now), None)
            if due is None:
                break
            self._beat()
            if due.job.name == MAIL_JOB and not due.failures and self.app.waits_for_mail:
                # Marks the mailbox as read up to here: what comes during this round
                # wakes the next wait at once.
                self.app.wait_for_mail(0)
            if due.job.name in SOURCE_JOBS:
                self._start_source(due)
                continue
            notify(f"STATUS=running {due.job.name}")
            started = self.app.now()
            outcome = run_job(self.app.store, due.job, started)
            self._beat()
            self._settle(due, outcome)
            ran.append((due, outcome))
        return ran

    def _settle(self, slot: Slot, outcome: Outcome | None) -> None:
        """A job's next place in the timetable, from its outcome."""
        now = self.app.now()
        monotonic = self._monotonic()
        slot.running = False
        if outcome is None:  # its source is paused: look again later
            slot.due = monotonic + self._every(slot.job).total_seconds()
        elif outcome.error is not None:
            slot.failures += 1
            slot.due = monotonic + self._retry(slot)
            if outcome.disk_full:
                self._disk_filled(outcome)
        else:
            slot.failures = 0
            slot.due = monotonic + self._wait_after(slot.job, now, now)
            if not slot.job.follows_changes and outcome.stored_something:
                self._follow_changes()

    def _start_source(self, slot: Slot) -> None:
        """Run a source job in its own thread, on its own app."""
        worker = self._workers.get(slot.job.name)
        if worker is None:
            loop_app = self.app

            def make_app(worker: Worker) -> App:
                app = self._worker_app(loop_app)
                app.stopping = loop_app.stopping
                app.heartbeat = worker.beat
                return app

            worker = Worker(slot.job.name, make_app, self._source_done)
            self._workers[slot.job.name] = worker
            self._every_worker.append(worker)
        slot.running = True
        slot.due = math.inf
        worker.run(slot)

    def _source_done(self, slot: Slot, outcome: Outcome | None) -> None:
        """Called in a source's thread: the loop takes the outcome at its next wake."""
        self._finished.put((slot, outcome))
        self._wake.set()

    def _collect(self) -> list[tuple[Slot, Outcome | None]]:
        """The outcomes of the sources that finished since the last round."""
        ran: list[tuple[Slot, Outcome | None]] = []
        while True:
            try:
                slot, outcome = self._finished.get_nowait()
            except queue.Empty:
                break
            worker = self._workers.get(slot.job.name)
            if slot.job.name == MAIL_JOB and worker is not None:
                # The drafts of the same account wait for the next round, not fail twice.
                self.app._mail_refused = worker.mail_refused
            if slot in self.slots:
                self._settle(slot, outcome)
            ran.append((slot, outcome))
        if ran:
            # A source's own writes are no command typed: planning follows what it stored.
            self._changed_elsewhere()
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
        running = [s.job.name for s in self.slots if s.running]
        parts = []
        if done:
            parts.append("ran " + ", ".join(done))
        if failed:
            parts.append("failed " + ", ".join(failed))
        if paused:
            parts.append("paused " + ", ".join(paused))
        if running:
            parts.append("still running " + ", ".join(running))
        if upcoming is not None and not upcoming.running:
            parts.append(f"next {upcoming.job.name} at {self._wall(upcoming.due):%H:%M:%S}")
        log.info("round: %s", "; ".join(parts))
        pause = self.app.pause()
        if pause is not None:
            name = pause[0].name
            status = f"{name.capitalize()} paused: sign in again with `pursuit auth {name}`"
        elif failed:
            status = "failing: " + ", ".join(o.job for _, o in ran if o is not None and o.error)
        else:
            tz = self.app.settings.timezone
            status = f"idle; last round ok at {self.app.now().astimezone(tz):%H:%M}"
        if upcoming is not None and not upcoming.running:
            status += f"; next {upcoming.job.name} at {self._wall(upcoming.due):%H:%M}"
        notify(f"STATUS={status}")

    def _wall(self, due: float) -> datetime:
        """A place in the timetable as the user's wall-clock time."""
        now = self.app.now()
        return (now + timedelta(seconds=due - self._monotonic())).astimezone(
            self.app.settings.timezone
        )

    def _sleep(self) -> None:
        now = self._monotonic()
        upcoming = min((s.due for s in self.slots), default=math.inf)
        if self._disk_full_at is not None:
            upcoming = now + min(self.app.settings.service.retry_after.total_seconds(), MAX_SLEEP)
        wait = min(max(upcoming - now, 0.0), MAX_SLEEP)
        if wait > 0:
            self._wait(wait)
        self._wake.clear()

    def _wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, or until a signal or a source's end; with IMAP, on
        IDLE, where new mail makes the mail job due at once. A failing mail job's
        server is left alone until the job succeeds again: it is retried, and logged,
        by the job."""
        mail = next((s for s in self.slots if s.job.name == MAIL_JOB), None)
        if mail is None or mail.failures or mail.running or not self.app.waits_for_mail:
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
                mail.due = min(mail.due, self._monotonic())
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
        # The sources still running finish on the old config; their next run is on the new.
        for worker in self._workers.values():
            worker.retire()
        self._workers = {}
        running = {s.job.name: s for s in self.slots if s.running}
        self._data_version = -1
        self.slots = [running.get(s.job.name, s) for s in self._timetable()]
        log.info("config reloaded; it takes effect from the next jobs")
        notify("READY=1\nSTATUS=config reloaded")

    def serve(self) -> None:
        self._install_signals()
        self.app.heartbeat = self._beat
        wait_for_room(self.app.sync_config, self.app.settings.database.parent)
        self.slots = self._timetable()
        self._clocks = self._read_clocks()
        self._changed_elsewhere()
        if self.watchdog is not None:
            self.watchdog.start()
        # Config and store are sound: systemd may call us started, before any long sync.
        notify("READY=1\nSTATUS=started; running the jobs that are due")
        # The jobs this config has, no others: no "mail every 5 min" without a mailbox.
        timed = [f"{s.job.name} every {s.job.every}" for s in self.slots if s.job.every]
        following = [s.job.name for s in self.slots if s.job.follows_changes]
        log.info(
            "pursuit is running: %s%s",
            ", ".join(timed),
            f"; also after each change: {', '.join(following)}" if following else "",
        )
        stop_dashboard = self._start_dashboard()
        try:
            while not self._stop.is_set():
                self._beat()
                if self._reload:
                    self.reload()
                self._notice_clock()
                if self._changed_elsewhere():
                    self._follow_changes()
                try:
                    ran = self._run_due()
                except Stopped:
                    break
                if ran:
                    self._report(ran)
                self._sleep()
        finally:
            notify("STOPPING=1\nSTATUS=stopping")
            if stop_dashboard is not None:
                stop_dashboard()
            self._end_workers()
            if self.watchdog is not None:
                self.watchdog.stop()
        log.info("pursuit stopped")

    def _start_dashboard(self) -> Callable[[], None] | None:
        """The dashboard in a thread of its own when the config asks (`[web] serve`), its
        pages on Apps of their own; returns what stops it. A port it cannot have is
        logged, and the rest runs without it."""
        if not self.app.settings.web.serve:
            return None
        from pursuit.daemon.web.serve import serve_for_service

        dashboard = serve_for_service(self.app.settings)
        return None if dashboard is None else dashboard.stop

    def _end_workers(self) -> None:
        """Let each source's thread end its batch (they were told to stop) and close its
        app; one that does not end in time is left to the process's exit."""
        self.app.stopping.set()
        for worker in self._every_worker:
            worker.retire()
        give_up = time.monotonic() + STOP_WAIT
        for worker in self._every_worker:
            if not worker.join(max(0.0, give_up - time.monotonic())):
                log.warning("job %s did not stop in time", worker.name)


#: Free space that must come back before a full disk counts as having room again.
ROOM_AGAIN = 1024 * 1024


def free_space(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def room_again(folder: Path, full_at: int) -> int | None:
    """The free bytes once some room was freed since the disk filled with `full_at`
    free (a megabyte, or a twentieth of a small disk); None while it stays full."""
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return None
    if usage.free < full_at + min(ROOM_AGAIN, usage.total // 20):
        return None
    return usage.free


def wait_for_room(attempt: Callable[[], T], folder: Path) -> T:
    """`attempt()` at the service's start, waiting out a full disk: said once, tried
    again once there is room. systemd hears the service started, and its watchdog is
    fed, meanwhile (a running service waits in its loop instead)."""
    said = False
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            full_at = free_space(folder)
            if not said:
                log.debug("starting: %s", exc)
                log.error(
                    "%s: the disk is full; the service waits, and starts once there is room "
                    "(nothing is lost)",
                    folder,
                )
                notify("READY=1\nSTATUS=waiting for room on the disk")
                said = True
        interval = watchdog_interval()
        while (free := room_again(folder, full_at)) is None:
            if interval:
                notify("WATCHDOG=1")
            time.sleep(min(interval or 1.0, 1.0))
        log.warning("there is room on the disk again (%s free); starting", _bytes(free))


def _span(seconds: float) -> str:
    """A duration as people say it: 2 h 05 min, 3 min 20 s, 12 s."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _bytes(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB"


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
