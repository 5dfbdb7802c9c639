"""`pursuit doctor`: is everything sound, and what to do about what is not.

Each check names what it looked at, what it found and, when the user must act,
what to do. The command exits non-zero when any check needs the user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from pursuit.daemon.accounts import Account
from pursuit.daemon.app import App
from pursuit.daemon.errors import AuthError, DamagedDatabase, PursuitError, UserError

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


@dataclass(frozen=True)
class Examination:
    """What `pursuit doctor` found: the checks, and the records `--json` gives."""

    checks: list[Check]
    failing_feeds: list[dict[str, Any]]
    jobs: dict[str, dict[str, Any]]
    skipped: list[dict[str, Any]]

    @property
    def needs_you(self) -> bool:
        return any(check.needs_you for check in self.checks)

    @property
    def store_read(self) -> bool:
        """False when the store could not be read (the failing feeds are unknown)."""
        return not any(check.what == "store" and check.needs_you for check in self.checks)

    def record(self) -> dict[str, Any]:
        return {
            "failing_feeds": self.failing_feeds,
            "jobs": self.jobs,
            "skipped": self.skipped,
            "checks": [check.record() for check in self.checks],
            "needs_you": self.needs_you,
        }


def examine(app: App, now: datetime, *, probe: bool = True) -> Examination:
    """Every check, with the failing feeds and what the core could not handle."""
    from pursuit.daemon import views

    found = checks(app, now, probe=probe)
    if found[-1].what == "store" and found[-1].needs_you:
        return Examination(found, [], {}, [])
    tz = app.settings.timezone
    failing = views.status(app.store, tz, now, limit=0)["failing_feeds"]
    stopped = [f for f in failing if not f["active"]]
    if stopped:
        found.append(
            Check(
                "feeds",
                f"{len(stopped)} stopped for good (listed above)",
                "fix or remove them in the config",
            )
        )
    jobs = {
        name: {"last_run": run.last_run and run.last_run.isoformat(), "last_error": run.last_error}
        for name, run in app.store.job_runs().items()
    }
    skipped = []
    for item in app.store.skipped():  # what the core could not handle: shown, needs nobody
        when = item.last_at.astimezone(tz)
        skipped.append(
            {
                "source": item.source,
                "count": item.count,
                "last_item": item.last_item,
                "last_error": item.last_error,
                "last_at": when.isoformat(),
            }
        )
        times = "1 item" if item.count == 1 else f"{item.count} items"
        found.append(
            Check(
                item.source,
                f"skipped {times} it could not handle; last "
                f"{when:%Y-%m-%d %H:%M}: {item.last_item}: {item.last_error}",
            )
        )
    found += _emptied_sources(app)
    found += _templates(app)
    return Examination(found, failing, jobs, skipped)


def _templates(app: App) -> list[Check]:
    """The user's own templates, loaded as their jobs load them: a mistake there is
    otherwise met only when a thank-you is drafted or an evening-before event planned
    (the event then falls back to the built-in questions, the log alone saying so)."""
    from pursuit.daemon import drafts, prep

    settings = app.settings
    found = []
    for what, path, load in (
        ("thank-you template", settings.drafts.template, drafts.load_template),
        ("questions template", settings.prep.questions_template, prep.load_questions),
    ):
        if path is None:
            continue
        try:
            load(path)
        except UserError as exc:
            found.append(Check(what, str(exc), f"fix it, or take it out of the config ({path})"))
        else:
            found.append(Check(what, f"{path}: loads"))
    return found


def _emptied_sources(app: App) -> list[Check]:
    """Sources that came back empty while pursuit held things from them: a calendar
    whose upcoming interviews all vanished in one round (kept until the user says),
    a mail folder that is gone (its mail no longer read)."""
    found = []
    tz = app.settings.timezone
    reader = app.roles.calendar_reader
    calendars_key = "[calendar] calendars" if reader is None else reader.calendars_key
    for held in app.store.emptied_sources():
        since = _when(held.since, tz)
        if held.source.startswith("calendar:"):
            calendar = held.source.removeprefix("calendar:")
            state = "cancelled at the next sync" if held.confirmed else "kept, not cancelled"
            found.append(
                Check(
                    held.source,
                    f"returned none of its {held.count} upcoming interviews since {since} "
                    f"(emptied, deleted, or out of the config); they are {state}",
                    None
                    if held.confirmed
                    else "if the calendar was replaced, renamed or is failing, fix "
                    f"{calendars_key} in the config and they stay; if they are really gone, "
                    f"`pursuit interview confirm-gone {calendar}`",
                )
            )
        else:
            account, _, folder = held.source.removeprefix("mail:").partition(":")
            found.append(
                Check(
                    held.source,
                    f"the folder {folder!r} is gone from the mailbox since {since} (renamed or "
                    "deleted): its new mail is not read",
                    f"name its new name in [{account}] folders in the config, or take it out "
                    "of the list",
                )
            )
    return found


#: The messages `doctor --audit` names one by one; `pursuit audit` names them all.
AUDIT_SHOWN = 20


def audit_checks(app: App, now: datetime) -> list[Check]:
    """`doctor --audit`: the mailbox against the correspondence log (`mail.audit_mail`),
    each message the log lacks named with its date and sender."""
    from pursuit.daemon import mail

    account = app.roles.mail
    if account is None:
        return [Check("mail audit", "no mailbox is configured: nothing to compare")]
    try:
        mailbox = account.mailbox()
        if app.store.cursor(mailbox.name) is None:
            return [Check("mail audit", "the first sync has not finished", "`pursuit run --once`")]
        found = mail.audit_mail(
            app.store, mailbox, now, lookback=account.lookback, account=account.name
        )
    except PursuitError as exc:
        return [Check("mail audit", f"not done: {exc}", "see the checks above; then again")]
    tz = app.settings.timezone
    since = f"{now - account.lookback:%Y-%m-%d}"
    limit = "" if found.complete else f" (the first {found.read}: `pursuit audit --limit N`)"
    summary = (
        f"{found.read} messages with tracked people since {since}{limit}: "
        f"{found.expected - len(found.missing)} of {found.expected} in the log"
    )
    if not found.missing:
        return [Check("mail audit", summary)]
    named = [
        Check(
            "mail audit",
            f"not in the log: {m.date.astimezone(tz):%Y-%m-%d %H:%M} from "
            f"{mail.printable(m.sender.email if m.sender else 'unknown sender')} "
            f"{mail.printable(m.message_id)}",
        )
        for m in found.missing[:AUDIT_SHOWN]
    ]
    more = len(found.missing) - len(named)
    fix = "`pursuit audit --fix` logs them as a sync would" + (
        f" (`pursuit audit` names the {more} more)" if more else ""
    )
    return [*named, Check("mail audit", f"{summary}; {len(found.missing)} missing", fix)]


def checks(app: App, now: datetime, *, probe: bool = True) -> list[Check]:
    """Everything the doctor looks at, in order. `probe` asks each signed-in account
    whether it answers (one cheap call)."""
    source = app.settings.source
    found: list[Check] = [
        Check("config", f"{source}: valid" if source else "no config file: the defaults")
    ]
    try:
        store = app.store
        store.check_intact()
        found.append(Check("store", f"{store.path}: readable, intact, schema up to date"))
    except DamagedDatabase as exc:
        found.append(Check("store", exc.found, exc.fix))
        return found
    except PursuitError as exc:
        found.append(Check("store", str(exc), "fix or move the file named above"))
        return found
    for account in app.roles.guarded:
        signin = _signin(app, account, probe)
        found.append(signin)
        # a refused or missing sign-in has its own fix; a working one may end soon
        if not signin.needs_you or signin.found.startswith("not reachable"):
            found += _grant_renewal(app, account, now)
    found += _jobs(app, now)
    found += _skipped_summaries(app, now)
    found += _other_installs(app, now)
    found += _dashboard(app)
    return found


def glance(app: App, now: datetime) -> list[Check]:
    """What the dashboard's Today shows of the doctor: the sign-ins as the store knows
    them (no call to any server), each job's last run and error, sources held empty,
    the dashboard's own exposure. Neither a probe nor a read of the whole file."""
    found = [_signin(app, account, probe=False) for account in app.roles.guarded]
    return found + _jobs(app, now) + _emptied_sources(app) + _dashboard(app)


def _dashboard(app: App) -> list[Check]:
    """A dashboard listening beyond this machine: allowed, and said (so is it in the log)."""
    import ipaddress

    web = app.settings.web
    if ipaddress.ip_address(web.address).is_loopback:
        return []
    by = "the service" if web.serve else "`pursuit web`"
    return [
        Check(
            "dashboard",
            f"{by} serves it on {web.address} ([web] address), reachable from that network "
            "by anyone who has its link (plain http: the link and its token travel "
            "unencrypted); 127.0.0.1 keeps it to this machine",
        )
    ]


#: How far back `doctor` names the weekly summaries skipped for good.
SKIPPED_SUMMARIES_SHOWN = timedelta(weeks=8)


def _skipped_summaries(app: App, now: datetime) -> list[Check]:
    """Weeks whose summary was never sent (pursuit was off from their hour until too
    late to send them): named, so a missing one is explained; nothing to do now."""
    from pursuit.daemon.summary import skipped_weeks

    skipped = skipped_weeks(app.store, since=now - SKIPPED_SUMMARIES_SHOWN)
    if not skipped:
        return []
    weeks = [entry.key.removeprefix("summary:") for entry in skipped]
    why = skipped[-1].payload.get("why", "skipped")
    if len(weeks) == 1:
        return [Check("summary", f"the summary of {weeks[0]} was never sent: {why}")]
    return [
        Check(
            "summary",
            f"the summaries of {', '.join(weeks)} were never sent; the last: {why}",
        )
    ]


def _signin(app: App, account: Account, probe: bool) -> Check:
    name = account.name
    token = account.token_file()
    if token is not None and not token.exists():
        return Check(name, f"not signed in (no {token})", f"run `pursuit auth {name}`")
    refused = app.paused(account)
    if refused is not None:
        from pursuit.daemon.summary import testing_grant_ended

        tz = app.settings.timezone
        testing = testing_grant_ended(app.store, refused.since, tz) if name == "google" else None
        return Check(
            name,
            f"paused since {_when(refused.since, tz)}: {refused.error}"
            + (f"; {testing}" if testing else ""),
            f"sign in again: `pursuit auth {name}` (the service resumes by itself)",
        )
    if not probe:
        return Check(name, f"token in {token}")
    try:
        me = account.probe()
    except AuthError as exc:
        return Check(name, f"refused: {exc}", f"sign in again: `pursuit auth {name}`")
    except PursuitError as exc:
        return Check(name, f"not reachable: {exc}", "check the network; pursuit retries")
    return Check(name, f"reachable, authorized as {me}")


def _grant_renewal(app: App, account: Account, now: datetime) -> list[Check]:
    """The summary's warning, from day 5 to day 7 after the sign-in, while it works:
    Google's alone (a Google Cloud app in Testing); no other sign-in ends on day 7."""
    from pursuit.daemon.summary import grant_renewal

    if account.name != "google" or app.store.grant_refused(account.name) is not None:
        return []
    line = grant_renewal(app.store, now, app.settings.timezone)
    if line is None:
        return []
    return [Check(f"{account.name} sign-in", line, "publish the app, or sign in again by then")]


def _when(moment: datetime, tz: Any) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


#: What to do about a job's error, by what mends it (`PursuitError.mended_by`).
RETRIED = "read the error; pursuit retries it by itself, with backoff"
MENDING = {
    "config": (
        "a retry cannot mend this: change the config as the error says, then "
        "`systemctl --user reload pursuit` (or restart `pursuit run`)"
    ),
    "password": (
        "a retry sends the same login: check the account's password_command "
        "(or sign in again); the next try uses what it prints"
    ),
}


def _jobs(app: App, now: datetime) -> list[Check]:
    tz = app.settings.timezone
    runs = app.store.job_runs()
    table = app.job_table()
    intervals = {str(entry.name): entry.every for entry in table}
    paused = {
        str(e.name): e.account.name
        for e in table
        if e.account is not None and app.paused(e.account)
    }
    waits_for = {str(e.name): str(e.waits_for) for e in table if e.waits_for is not None}
    found: list[Check] = []
    for name, every in intervals.items():
        run = runs.get(name)
        if run is None or run.last_run is None:
            first = runs.get(waits_for.get(name, ""))
            if first is not None and first.last_error:
                found.append(
                    Check(f"job {name}", f"waits for the {waits_for[name]} job to succeed")
                )
            else:
                found.append(Check(f"job {name}", "never ran (start the service: `pursuit run`)"))
            continue
        last_ok = f"last success {_when(run.last_ok, tz)}" if run.last_ok else "never succeeded"
        next_try = _when(run.last_run + every, tz)
        if run.last_error:
            fix = None if name in paused else MENDING.get(run.last_error_kind or "", RETRIED)
            found.append(
                Check(
                    f"job {name}",
                    f"failed on {_when(run.last_run, tz)}: {run.last_error}; {last_ok}; "
                    f"next try by {next_try}",
                    fix,
                )
            )
        elif name in paused:  # not stale: held back, the sign-in's check says what to do
            found.append(
                Check(
                    f"job {name}",
                    f"{last_ok}; paused until you sign in again (`pursuit auth {paused[name]}`)",
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
    """One line for `pursuit status` when a source is failing or an account is paused."""
    pause = app.pause()
    if pause is not None:
        account, refused = pause
        return (
            f"Warning: {account.name.capitalize()} sync paused since "
            f"{_when(refused.since, app.settings.timezone)}: the sign-in was refused; "
            f"run `pursuit auth {account.name}`"
        )
    failing = sorted(name for name, run in app.store.job_runs().items() if run.last_error)
    if failing:
        return f"Warning: failing on the last run: {', '.join(failing)}; see `pursuit doctor`"
    held = [h for h in app.store.emptied_sources() if not h.confirmed]
    if held:  # said once in the log: a user who reads only `status` must see it too
        sources = ", ".join(h.source for h in held)
        return f"Warning: {sources} came back empty, nothing was cancelled; see `pursuit doctor`"
    return None


#: How long `doctor` names another install after it was last seen.
OTHER_INSTALLS_SHOWN = timedelta(days=14)


def _other_installs(app: App, now: datetime) -> list[Check]:
    """Other pursuit installs seen in an account this one uses: each leaves the
    other's drafts and events alone, but both act on the same mail."""
    unknown = "of an earlier version, or a data directory made anew"
    return [
        Check(
            other.account,
            f"another pursuit install ({other.install_id or unknown}) leaves "
            f"{other.seen_in} in this account, last seen "
            f"{_when(other.last_seen, app.settings.timezone)}; pursuit leaves them alone",
            "if both follow the same job search, stop one of the two (its drafts and events "
            "then stay as they are); if one is old, delete what it left when you no longer "
            "want it",
        )
        for other in app.store.other_installs()
        if now - other.last_seen <= OTHER_INSTALLS_SHOWN
    ]
