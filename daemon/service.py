"""The service loop: runs the jobs on a schedule until stopped.

It sleeps until the next job is due (`schedule.idle_seconds`), catches each
job's failure inside the job (a job that raises is never rescheduled by
`schedule`), and on start runs at once when the last run is older than the
interval, so a restart catches up on what it missed. systemd is told when it
is ready, kept fed while it waits, and shown what the last round did.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import datetime
from types import FrameType

import schedule

from pursuit.daemon.app import App
from pursuit.daemon.jobs import run_jobs

log = logging.getLogger(__name__)


def notify(message: str) -> None:
    """One datagram to systemd's notify socket, when there is one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError as exc:
            log.debug("cannot notify systemd: %s", exc)


def watchdog_interval() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC")
    return int(usec) / 2_000_000 if usec and usec.isdigit() else None


def due_now(app: App, now: datetime) -> bool:
    """True when the jobs last ran longer ago than the interval (or never)."""
    runs = app.store.job_runs()
    last = [r.last_run for r in runs.values() if r.last_run is not None]
    return not last or now - min(last) >= app.settings.run_every


def serve(app: App, *, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on signal %s", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def round_of_jobs() -> None:
        now = app.now()
        failures = run_jobs(app.store, app.jobs(), now)
        state = "ok" if not failures else "failed: " + ", ".join(name for name, _ in failures)
        notify(f"STATUS=last run {now:%Y-%m-%d %H:%M}: {state}")

    scheduler = schedule.Scheduler()
    scheduler.every(int(app.settings.run_every.total_seconds())).seconds.do(round_of_jobs)
    if due_now(app, app.now()):
        round_of_jobs()
    notify("READY=1")
    watchdog = watchdog_interval()
    log.info("pursuit is running; jobs every %s", app.settings.run_every)
    while not stop.is_set():
        scheduler.run_pending()
        idle = scheduler.idle_seconds
        wait = max(0.0, idle if idle is not None else 60.0)
        if watchdog is not None:
            wait = min(wait, watchdog)
            notify("WATCHDOG=1")
        stop.wait(wait)
    notify("STOPPING=1")
