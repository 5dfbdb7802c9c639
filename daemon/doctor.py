"""`pursuit doctor`: is everything sound, and what to do about what is not.

Each check names what it looked at, what it found and, when the user must act,
what to do. The command exits non-zero when any check needs the user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from pursuit.daemon.app import App
from pursuit.daemon.errors import AuthError, PursuitError

#: A job that has not run for this many of its intervals means the service is not running,
#: but never sooner than STALE_FLOOR: a job due every few seconds is late by a slow start.
STALE_AFTER = 3
STALE_FLOOR = timedelta(minutes=15)


@dataclass(frozen=True)
class Check:
    what: str
    found: str
    #: What the user should do; None when nothing needs them.
    fix: str | None = None

    @property
    def needs_you(self) -> bool:
        return self.fix is not None

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "needs_you": self.needs_you}


def job_intervals(app: App) -> dict[str, timedelta]:
    """How often the service runs each job (as `App.jobs` sets them)."""
    service = app.settings.service
    intervals = {
        "feeds": app.settings.feeds.poll_every,
        "plan": service.plan_every,
        "calendar": service.plan_every,
    }
    if app.settings.google is not None:
        intervals |= {
            "gmail": service.mail_every,
            "interviews": service.calendar_every,
            "drafts": service.plan_every,
        }
    if app.settings.imap is not None:  # IMAP's mail job in place of Gmail's
        intervals.pop("gmail", None)
        intervals |= {"imap": service.mail_every, "drafts": service.plan_every}
    if app.settings.calendar.kind == "caldav":
        intervals["interviews"] = service.calendar_every
    if app.settings.summary.enabled:
        intervals["summary"] = service.plan_every
    return intervals


def checks(app: App, now: datetime, *, probe: bool = True) -> list[Check]:
    """Everything the doctor looks at, in order. `probe` asks Google (one cheap call)."""
    source = app.settings.source
    found: list[Check] = [
        Check("config", f"{source}: valid" if source else "no config file: the defaults")
    ]
    try:
        store = app.store
        found.append(Check("store", f"{store.path}: readable, schema up to date"))
    except PursuitError as exc:
        found.append(Check("store", str(exc), "fix or move the file named above"))
        return found
    if app.settings.google is not None:
        google = _google(app, probe)
        found.append(google)
        # a refused or missing sign-in has its own fix; a working one may end soon
        if not google.needs_you or google.found.startswith("not reachable"):
            found += _grant_renewal(app, now)
    found += _jobs(app, now)
    return found


def _google(app: App, probe: bool) -> Check:
    token = app.google.credentials_file
    if not token.exists():
        return Check("google", f"not signed in (no {token})", "run `pursuit auth google`")
    pause = app.google_pause()
    if pause is not None:
        return Check(
            "google",
            f"paused since {pause['since'][:16].replace('T', ' ')}: {pause['error']}",
            "sign in again: `pursuit auth google` (the service resumes by itself)",
        )
    if not probe:
        return Check("google", f"token in {token}")
    try:
        me, _ = app.mailbox.profile()
    except AuthError as exc:
        return Check("google", f"refused: {exc}", "sign in again: `pursuit auth google`")
    except PursuitError as exc:
        return Check("google", f"not reachable: {exc}", "check the network; pursuit retries")
    return Check("google", f"reachable, authorized as {me}")


def _grant_renewal(app: App, now: datetime) -> list[Check]:
    """The summary's warning, from day 5 to day 7 after the sign-in, while it works."""
    from pursuit.daemon.summary import grant_renewal

    if app.store.grant_refused("google") is not None:
        return []
    line = grant_renewal(app.store, now, app.settings.timezone)
    if line is None:
        return []
    return [Check("google sign-in", line, "publish the app, or sign in again by then")]


def _when(moment: datetime, tz: Any) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


def _jobs(app: App, now: datetime) -> list[Check]:
    tz = app.settings.timezone
    runs = app.store.job_runs()
    intervals = job_intervals(app)
    paused = app.google_pause() is not None
    found: list[Check] = []
    for name, every in intervals.items():
        run = runs.get(name)
        if run is None or run.last_run is None:
            found.append(Check(f"job {name}", "never ran (start the service: `pursuit run`)"))
            continue
        last_ok = f"last success {_when(run.last_ok, tz)}" if run.last_ok else "never succeeded"
        next_try = _when(run.last_run + every, tz)
        if run.last_error:
            fix = (
                None
                if paused and name in ("gmail", "interviews", "drafts")
                else ("read the error; pursuit retries it by itself, with backoff")
            )
            found.append(
                Check(
                    f"job {name}",
                    f"failed on {_when(run.last_run, tz)}: {run.last_error}; {last_ok}; "
                    f"next try by {next_try}",
                    fix,
                )
            )
        elif now - run.last_run > max(STALE_AFTER * every, STALE_FLOOR):
            found.append(
                Check(
                    f"job {name}",
                    f"{last_ok}; nothing since",
                    "is the service running? `systemctl --user status pursuit` "
                    "(or `pursuit service install`)",
                )
            )
        else:
            found.append(Check(f"job {name}", f"{last_ok}; next by {next_try}"))
    return found


def render(found: list[Check]) -> str:
    lines = []
    for check in found:
        lines.append(f"{check.what}: {check.found}")
        if check.fix:
            lines.append(f"  -> {check.fix}")
    needing = sum(c.needs_you for c in found)
    lines.append("Nothing needs you." if not needing else f"{needing} to look at (marked ->).")
    return "\n".join(lines) + "\n"


def warning(app: App) -> str | None:
    """One line for `pursuit status` when a source is failing or Google is paused."""
    pause = app.google_pause()
    if pause is not None:
        since = pause["since"][:16].replace("T", " ")
        return (
            f"Warning: Google sync paused since {since}: the sign-in was refused; "
            "run `pursuit auth google`"
        )
    failing = sorted(name for name, run in app.store.job_runs().items() if run.last_error)
    if failing:
        return f"Warning: failing on the last run: {', '.join(failing)}; see `pursuit doctor`"
    return None
