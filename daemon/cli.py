"""The command line: a thin layer over the functions the service runs."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import NoReturn

import click

from pursuit.config.settings import EXAMPLE_CONFIG, load_settings, resolve_config_path
from pursuit.daemon.app import App
from pursuit.daemon.dates import parse_day, parse_moment, parse_offset
from pursuit.daemon.errors import PursuitError, UserError
from pursuit.daemon.models import (
    CHANNELS,
    ORG_STATUSES,
    Channel,
    Contact,
    Direction,
    DutyState,
    Organization,
    OrgStatus,
)

log = logging.getLogger("pursuit")


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config
        self._app: App | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = App(load_settings(self.config))
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="PURSUIT_CONFIG",
    help="Config file (default: $XDG_CONFIG_HOME/pursuit/config.toml).",
)
@click.option("-v", "--verbose", count=True, help="More detail in the log (repeat for debug).")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int) -> None:
    """pursuit: follows up after your job interviews, so you don't forget to."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    state = Context(config)
    ctx.obj = state
    ctx.call_on_close(state.close)


# --- setup


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@pass_ctx
def init(state: Context, force: bool) -> None:
    """Write a commented config file explaining every setting."""
    path, _ = resolve_config_path(state.config)
    if path.exists() and not force:
        raise UserError(f"{path} already exists (use --force to overwrite it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"Wrote {path}. Edit it, then run `pursuit run --once`.")


# --- organizations


@cli.group()
def org() -> None:
    """Organizations you are talking to."""


@org.command("add")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, help="Mail domain, e.g. acme.com (repeatable).")
@click.option("--position", "positions", multiple=True, help="Position applied for (repeatable).")
@pass_ctx
def org_add(
    state: Context, name: str, domains: tuple[str, ...], positions: tuple[str, ...]
) -> None:
    """Track an organization."""
    from pursuit.config.settings import parse_domain

    if not name.strip():
        raise UserError("the organization's name is empty")
    # The same validation as the config file, so both paths accept the same domains.
    problems: list[str] = []
    clean: list[str] = []
    for domain in domains:
        try:
            clean.append(parse_domain(domain))
        except ValueError as exc:
            problems.append(f"--domain {domain!r}: {exc}")
    if problems:
        raise UserError(problems)
    app = state.app
    app.sync_config()
    created = app.store.add_organization(name.strip(), clean, positions, now=app.now())
    click.echo(f"{created.name}: {', '.join(created.domains) or 'no domain'} ({created.status})")


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def org_list(state: Context, as_json: bool) -> None:
    """List tracked organizations."""
    from pursuit.daemon.export import organization_record

    orgs = state.app.store.organizations()
    if as_json:
        click.echo(json.dumps([organization_record(o) for o in orgs], indent=2))
        return
    if not orgs:
        click.echo("No organization yet: add one with `pursuit org add NAME --domain example.com`.")
    for o in orgs:
        click.echo(f"{o.name:<30} {o.status:<10} {', '.join(o.domains)}")


@org.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def org_show(state: Context, name: str, as_json: bool) -> None:
    """Show an organization: domains, people, interviews, duties."""
    from pursuit.daemon import views

    app = state.app
    found = app.store.find_organization(name)
    record = views.organization_detail(app.store, found, app.settings.timezone, app.now())
    click.echo(json.dumps(record, indent=2) if as_json else views.render_organization(record))


@org.command("status")
@click.argument("name")
@click.argument("status", type=click.Choice(ORG_STATUSES))
@pass_ctx
def org_status(state: Context, name: str, status: str) -> None:
    """Set where a pursuit stands: active, offer, rejected, withdrawn or closed."""
    app = state.app
    app.sync_config()
    found = app.store.find_organization(name)
    app.store.set_organization_status(found.id, OrgStatus(status), now=app.now())
    _replan(app)
    message = f"{found.name}: {status}"
    if status == "rejected":
        delay = app.settings.planner.check_in_delay.days
        message += f"; pending duties cancelled, a check-in is planned in {delay} days"
    elif status != "active":
        message += "; pending duties cancelled"
    click.echo(message)


# --- interviews and people


@cli.group()
def interview() -> None:
    """Interviews: add, move, cancel, list."""


@interview.command("list")
@click.argument("organization", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def interview_list(state: Context, organization: str | None, as_json: bool) -> None:
    """List interviews (of one organization), oldest first, with their ids."""
    app = state.app
    tz = app.settings.timezone
    org_id = app.store.find_organization(organization).id if organization else None
    orgs = {o.id: o.name for o in app.store.organizations()}
    found = app.store.interviews(org_id)
    if as_json:
        from pursuit.daemon.export import iso

        records = [
            {
                "id": i.id,
                "organization": orgs.get(i.organization_id),
                "start": iso(i.start, tz),
                "end": iso(i.end, tz),
                "position": i.position,
                "interviewers": [p.contact.address for p in i.interviewers],
                "cancelled": i.cancelled,
            }
            for i in found
        ]
        click.echo(json.dumps(records, indent=2))
        return
    if not found:
        click.echo("No interview yet: add one with `pursuit interview add ORG --at ...`.")
    for i in found:
        who = ", ".join(p.contact.display for p in i.interviewers) or "nobody named"
        mark = " (cancelled)" if i.cancelled else ""
        position = f", {i.position}" if i.position else ""
        click.echo(
            f"#{i.id:<5} {i.start.astimezone(tz):%a %d %b %Y %H:%M}  "
            f"{orgs.get(i.organization_id, '?')}{position}, with {who}{mark}"
        )


def _person(text: str) -> tuple[str, str]:
    from email.utils import parseaddr

    name, address = parseaddr(text)
    if "@" not in address or " " in address:
        raise UserError(f'--with {text!r}: expected "Name <address@example.com>" or an address')
    return name.strip(), address.lower()


@interview.command("add")
@click.argument("organization")
@click.option("--at", "start", required=True, help='Start, e.g. "2026-12-01 14:00".')
@click.option("--end", help="End (default: one hour after the start).")
@click.option("--position", help="The position interviewed for.")
@click.option("--with", "people", multiple=True, help='"Jane Doe <jane@acme.com>" (repeatable).')
@pass_ctx
def interview_add(
    state: Context,
    organization: str,
    start: str,
    end: str | None,
    position: str | None,
    people: tuple[str, ...],
) -> None:
    """Record an interview and its interviewers."""
    app = state.app
    app.sync_config()
    tz = app.settings.timezone
    org_found = app.store.find_organization(organization)
    begins = parse_moment(start, tz)
    ends = parse_moment(end, tz) if end else begins + timedelta(hours=1)
    if ends <= begins:
        raise UserError(f"--end {end!r} is not after --at {start!r}")
    persons = [_person(p) for p in people]
    with app.store.transaction():
        contacts = [
            app.store.ensure_contact(address, name, org_found.id, role="interviewer")
            for name, address in persons
        ]
        interview_id = app.store.add_interview(
            org_found.id, begins, ends, [c.id for c in contacts], position=position
        )
    _replan(app)
    who = ", ".join(c.display for c in contacts) or "nobody named yet"
    click.echo(
        f"Interview #{interview_id}: {org_found.name}, {begins:%a %d %b %Y %H:%M}, with {who}"
    )


@interview.command("move")
@click.argument("interview_id", type=int)
@click.option("--at", "start", required=True)
@click.option("--end")
@pass_ctx
def interview_move(state: Context, interview_id: int, start: str, end: str | None) -> None:
    """Move an interview; its duties and events move with it."""
    app = state.app
    app.sync_config()
    tz = app.settings.timezone
    found = app.store.interview(interview_id)
    begins = parse_moment(start, tz)
    ends = parse_moment(end, tz) if end else begins + (found.end - found.start)
    app.store.move_interview(interview_id, begins, ends)
    _replan(app)
    click.echo(f"Interview #{interview_id} moved to {begins:%a %d %b %Y %H:%M}")


@interview.command("cancel")
@click.argument("interview_id", type=int)
@pass_ctx
def interview_cancel(state: Context, interview_id: int) -> None:
    """Cancel an interview; its pending duties are cancelled."""
    app = state.app
    app.sync_config()
    app.store.interview(interview_id)
    app.store.cancel_interview(interview_id)
    _replan(app)
    click.echo(f"Interview #{interview_id} cancelled")


def _interview_for(app: App, contact_text: str) -> tuple[int, int, str]:
    contact = app.store.find_contact(contact_text)
    interview_id = app.store.latest_interview_with(contact.id)
    if interview_id is None:
        raise UserError(
            f"{contact.display} has no interview yet (add one with `pursuit interview add`)"
        )
    return contact.id, interview_id, contact.display


@cli.command()
@click.argument("contact")
@click.option("--on", "on_day", help="The promised day: 2026-12-04, friday, tomorrow.")
@click.option("--in", "after", help="Days after the interview: 5d, 2w.")
@pass_ctx
def commit(state: Context, contact: str, on_day: str | None, after: str | None) -> None:
    """Record the day you promised to follow up with someone."""
    if bool(on_day) == bool(after):
        raise UserError("give exactly one of --on DATE or --in DURATION")
    app = state.app
    app.sync_config()
    tz = app.settings.timezone
    contact_id, interview_id, name = _interview_for(app, contact)
    found = app.store.interview(interview_id)
    interview_day = found.start.astimezone(tz).date()
    day = parse_day(on_day, interview_day) if on_day else interview_day + parse_offset(after or "")
    if day < interview_day:
        raise UserError(
            f"{on_day or after!r}: {day:%a %d %b %Y} is before the interview "
            f"({interview_day:%a %d %b %Y})"
        )
    app.store.set_interviewer(interview_id, contact_id, promised=day)
    _replan(app)
    click.echo(f"Follow up with {name} on {day:%a %d %b %Y}")


@cli.command()
@click.argument("contact")
@click.argument("text")
@pass_ctx
def note(state: Context, contact: str, text: str) -> None:
    """Record the positive point you discussed with someone (used in the thank-you note)."""
    app = state.app
    app.sync_config()
    contact_id, interview_id, name = _interview_for(app, contact)
    app.store.set_interviewer(interview_id, contact_id, note=text)
    _replan(app)
    click.echo(f"Noted for {name}: {text}")


@cli.command("log")
@click.argument("channel", type=click.Choice(CHANNELS))
@click.argument("contact")
@click.argument("text")
@click.option("--in", "inbound", is_flag=True, help="They reached you (default: you reached them).")
@click.option("--at", "when", help="When (default: now).")
@pass_ctx
def log_entry(
    state: Context, channel: str, contact: str, text: str, inbound: bool, when: str | None
) -> None:
    """Log a call, an email or a note by hand."""
    import uuid

    app = state.app
    app.sync_config()
    found = app.store.find_contact(contact)
    moment = parse_moment(when, app.settings.timezone) if when else app.now()
    app.store.log_correspondence(
        message_id=f"<manual-{uuid.uuid4()}@pursuit>",
        direction=Direction.IN if inbound else Direction.OUT,
        when=moment,
        channel=Channel(channel),
        organization_id=found.organization_id,
        contact_ids=[found.id],
        subject=text,
        people=found.addresses,
    )
    click.echo(f"Logged {channel} with {found.display}")


# --- duties


@cli.command()
@click.argument("duty_id", type=int)
@pass_ctx
def done(state: Context, duty_id: int) -> None:
    """Mark a duty done."""
    app = state.app
    app.sync_config()
    duty = app.store.duty(duty_id)
    if duty.state != "pending":
        raise UserError(f"duty #{duty_id} is {duty.state}, not pending")
    app.store.mark_done(duty_id, when=app.now(), evidence="marked done by you")
    _replan(app)
    click.echo(f"Duty #{duty_id} done")


@cli.command()
@click.argument("duty_id", type=int)
@click.option("--to", "to", required=True, help="New day (friday, 2026-12-04) or day and time.")
@pass_ctx
def snooze(state: Context, duty_id: int, to: str) -> None:
    """Move a duty to a later day."""
    app = state.app
    app.sync_config()
    duty = app.store.duty(duty_id)
    if duty.state == "cancelled":
        raise UserError(f"duty #{duty_id} is cancelled")
    tz = app.settings.timezone
    moment = parse_moment(to, tz, default_time=duty.due.astimezone(tz).time())
    app.store.snooze(duty_id, moment)
    _replan(app)
    click.echo(f"Duty #{duty_id} now due {moment:%a %d %b %Y %H:%M}")


@cli.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def forget(state: Context, name: str, yes: bool) -> None:
    """Remove an organization or a contact with all their records."""
    app = state.app
    app.sync_config()
    store = app.store
    target: tuple[str, Callable[[], None]]
    found_org, found = _organization_or_contact(app, name)
    if found_org is not None:
        org_id = found_org.id
        target = (f"organization {found_org.name}", lambda: store.forget_organization(org_id))
    else:
        assert found is not None
        contact_id = found.id
        target = (f"contact {found.display}", lambda: store.forget_contact(contact_id))
    if not yes and sys.stdin.isatty():
        click.confirm(f"Forget {target[0]} and all its records?", abort=True)
    target[1]()
    _replan(app)
    click.echo(f"Forgot {target[0]}")


def _organization_or_contact(app: App, name: str) -> tuple[Organization | None, Contact | None]:
    """The one organization or contact NAME designates; a name matching both is ambiguous."""
    try:
        org: Organization | None = app.store.find_organization(name)
        org_error: UserError | None = None
    except UserError as exc:
        org, org_error = None, exc
    try:
        contact: Contact | None = app.store.find_contact(name)
        contact_error: UserError | None = None
    except UserError as exc:
        contact, contact_error = None, exc
    if org is not None and contact is not None:
        # An exact name, domain or address beats a partial match of the other kind.
        folded = name.casefold()
        org_exact = org.name.casefold() == folded or folded in org.domains
        contact_exact = contact.name.casefold() == folded or folded in contact.addresses
        if org_exact != contact_exact:
            return (org, None) if org_exact else (None, contact)
        raise UserError(
            f"{name!r} is ambiguous: it matches organization {org.name} and contact "
            f"{contact.display} <{contact.address}>; give the full name or the address"
        )
    if org is not None or contact is not None:
        return org, contact
    for error in (org_error, contact_error):
        if error is not None and "ambiguous" in str(error):
            raise error
    raise UserError(f"no organization or contact named {name!r} (see `pursuit org list`)")


# --- views


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=10, show_default=True, help="Duties of each kind to show.")
@click.option("--all", "show_all", is_flag=True, help="Show every overdue and upcoming duty.")
@pass_ctx
def status(state: Context, as_json: bool, limit: int, show_all: bool) -> None:
    """Each organization at a glance, overdue duties first, then the next ones."""
    from pursuit.daemon import views

    app = state.app
    record = views.status(
        app.store,
        app.settings.timezone,
        app.now(),
        limit=None if show_all else limit,
        settings=app.settings,
    )
    if as_json:
        click.echo(json.dumps(record, indent=2))
    else:
        click.echo(views.render_status(record), nl=False)


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def history(state: Context, name: str, as_json: bool) -> None:
    """The record of an organization or a contact, newest first."""
    from pursuit.daemon import views

    app = state.app
    record = views.history(app.store, name, app.settings.timezone)
    click.echo(json.dumps(record, indent=2) if as_json else views.render_history(record))


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "ics"]), default="json", show_default=True
)
@pass_ctx
def export(state: Context, fmt: str) -> None:
    """Write everything to standard output."""
    from pursuit.daemon import export as exporting

    app = state.app
    if fmt == "ics":
        sys.stdout.buffer.write(exporting.to_ics(app.store))
        return
    data = exporting.export_data(app.store, app.settings.timezone, app.now())
    click.echo(exporting.to_json(data) if fmt == "json" else exporting.to_csv(data), nl=False)


# --- company news and openings


def _feed_rows(
    app: App, org: str | None, kinds: tuple[str, ...], new: bool
) -> list[dict[str, object]]:
    from pursuit.daemon import feeds

    org_id = app.store.find_organization(org).id if org else None
    since = app.now() - timedelta(days=7) if new else None
    rows = feeds.items(app.store, organization_id=org_id, kinds=kinds, since=since, open_only=new)
    tz = app.settings.timezone
    return [feeds.item_record(r, tz) for r in feeds.surfaced(app.store, app.settings, rows)]


@cli.command()
@click.argument("organization", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def news(state: Context, organization: str | None, as_json: bool) -> None:
    """Press and news items of the organizations you track, newest first."""
    from pursuit.daemon import views

    rows = _feed_rows(state.app, organization, ("press", "news"), False)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(views.render_items(rows, "No news yet."), nl=False)


@cli.command()
@click.argument("organization", required=False)
@click.option("--new", is_flag=True, help="Only open ones first seen in the last 7 days.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def openings(state: Context, organization: str | None, new: bool, as_json: bool) -> None:
    """Job openings on the organizations' careers feeds and boards."""
    from pursuit.daemon import views

    rows = _feed_rows(state.app, organization, ("opening",), new)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(views.render_items(rows, "No opening seen yet."), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def doctor(state: Context, as_json: bool) -> None:
    """What is failing and why: feeds, and the last run of each job."""
    from pursuit.daemon import views

    app = state.app
    record = views.status(app.store, app.settings.timezone, app.now(), limit=0)
    failing = record["failing_feeds"]
    jobs = {
        name: {"last_run": run.last_run and run.last_run.isoformat(), "last_error": run.last_error}
        for name, run in app.store.job_runs().items()
    }
    if as_json:
        click.echo(json.dumps({"failing_feeds": failing, "jobs": jobs}, indent=2))
        return
    click.echo(views.render_doctor(failing), nl=False)
    for name, run in sorted(jobs.items()):
        if run["last_error"]:
            click.echo(f"job {name} failed on its last run: {run['last_error']}")


# --- accounts


@cli.group()
def auth() -> None:
    """Connect accounts."""


@auth.command("google")
@click.option("--no-browser", is_flag=True, help="Print the sign-in address instead (headless).")
@click.option("--port", type=int, default=0, help="Loopback port for the sign-in answer.")
@pass_ctx
def auth_google(state: Context, no_browser: bool, port: int) -> None:
    """Sign in to Google: Gmail and Google Calendar."""
    from pursuit.config.settings import GoogleSettings
    from pursuit.connectors.google_auth import run_consent_flow

    google = state.app.settings.google or GoogleSettings()
    if no_browser and not port:
        port = 8765  # a fixed port, so the ssh -L hint can name it
    run_consent_flow(
        google.client_secrets_file,
        google.credentials_file,
        port=port,
        open_browser=not no_browser,
        print_fn=click.echo,
    )
    click.echo(f"Signed in; token saved to {google.credentials_file}.")
    if state.app.settings.google is None:
        click.echo("Add a [google] section to your config to use it (see `pursuit init`).")


# --- the service


@cli.command()
@click.option("--once", is_flag=True, help="Run every job once and exit.")
@pass_ctx
def run(state: Context, once: bool) -> None:
    """Run the service: sync, plan and push events, on a schedule (or once)."""
    from pursuit.daemon.jobs import run_jobs

    app = state.app
    if not once:
        from pursuit.daemon.service import serve

        serve(app)
        return
    failures = run_jobs(app.store, app.jobs(), app.now())  # each failure is logged with its fix
    pending = app.store.duties(state=DutyState.PENDING)
    click.echo(f"pursuit: {len(pending)} pending duties; calendar: {_calendar_where(app)}")
    if failures:
        names = ", ".join(name for name, _ in failures)
        failed = "1 job" if len(failures) == 1 else f"{len(failures)} jobs"
        click.echo(f"pursuit: {failed} failed ({names}); see the message above", err=True)
        raise SystemExit(1)


def _calendar_where(app: App) -> str:
    if app.settings.calendar.kind == "ics":
        return str(app.settings.calendar.ics_file)
    return app.settings.calendar.kind


def _replan(app: App) -> None:
    """After a change by hand, duties follow at once; events reach the calendar on the next run."""
    from pursuit.daemon.jobs import plan

    plan(app.store, app.settings, app.calendar_name, app.now())


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        cli.main(args=argv, prog_name="pursuit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        raise SystemExit(1) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(2) from None
    except UserError as exc:
        for problem in exc.problems:
            click.echo(f"pursuit: {problem}", err=True)
        raise SystemExit(exc.exit_code) from None
    except PursuitError as exc:
        click.echo(f"pursuit: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(0)
