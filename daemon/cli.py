"""The command line: a thin layer over the functions the service runs."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Concatenate, NoReturn, ParamSpec, TypeVar

import click

from pursuit.config.settings import EXAMPLE_CONFIG, load_settings, resolve_config_path
from pursuit.daemon import actions
from pursuit.daemon.accounts import IcsAccount
from pursuit.daemon.app import App
from pursuit.daemon.errors import PursuitError, UserError
from pursuit.daemon.interviews import quoted_name, where_briefly
from pursuit.daemon.models import CHANNELS, ORG_STATUSES, Duty, DutyState, Organization

log = logging.getLogger("pursuit")

#: The largest number the store can hold: a larger id or limit is refused at the door.
SQLITE_MAX = 2**63 - 1
RECORD_ID = click.IntRange(max=SQLITE_MAX)

P = ParamSpec("P")
R = TypeVar("R")


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config
        self._app: App | None = None

    @property
    def app(self) -> App:
        """The app as it is: what a command that only reads may use."""
        if self._app is None:
            self._app = App(load_settings(self.config))
        return self._app

    @property
    def writable_app(self) -> App:
        """The app of a command that changes data: the config's organizations are in the
        store first, so the change sees them. Reading commands never write."""
        app = self.app
        app.store.require_writable()  # said first, before any question or partial work
        app.store.check_intact()  # and nothing written to a damaged file
        app.sync_config()
        return app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


pass_ctx = click.make_pass_decorator(Context)


def reads_data(command: Callable[Concatenate[App, P], R]) -> Callable[P, R]:
    """A command that only reads: it gets the app, and writes nothing."""

    @functools.wraps(command)
    def with_app(state: Context, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return command(state.app, *args, **kwargs)

    return pass_ctx(with_app)


def changes_data(command: Callable[Concatenate[App, P], R]) -> Callable[P, R]:
    """A command that changes data: it gets the writable app (see `Context.writable_app`)."""

    @functools.wraps(command)
    def with_app(state: Context, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return command(state.writable_app, *args, **kwargs)

    return pass_ctx(with_app)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="PURSUIT_CONFIG",
    help="Config file (default: $XDG_CONFIG_HOME/pursuit/config.toml).",
)
@click.option("-v", "--verbose", count=True, help="More detail in the log (repeat for debug).")
@click.version_option(package_name="pursuit", prog_name="pursuit", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int) -> None:
    """pursuit: follows up after your job interviews, so you don't forget to."""
    from pursuit.daemon.logs import setup_logging

    setup_logging(verbose)
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
    from pursuit.daemon.files import make_private_dirs, write_atomically

    make_private_dirs(path.parent)
    write_atomically(path, EXAMPLE_CONFIG.read_bytes())  # 0600: it may name secret commands
    click.echo(f"Wrote {path}. Edit it, then run `pursuit run --once`.")


# --- organizations


@cli.group()
def org() -> None:
    """Organizations you are talking to."""


@org.command("add")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, help="Mail domain, e.g. acme.com (repeatable).")
@click.option("--position", "positions", multiple=True, help="Position applied for (repeatable).")
@changes_data
def org_add(app: App, name: str, domains: tuple[str, ...], positions: tuple[str, ...]) -> None:
    """Track an organization (or add domains and positions to a tracked one)."""
    added = actions.add_organization(app.store, name, domains, positions, now=app.now())
    found = added.organization
    if not added.existed:
        click.echo(f"{found.name}: {', '.join(found.domains) or 'no domain'} ({found.status})")
        return
    new = [f"domain {d}" for d in added.new_domains] + [
        f"position {p!r}" for p in added.new_positions
    ]
    click.echo(
        f"{found.name} is already tracked; "
        + (f"added {', '.join(new)}" if new else "nothing new to add")
        + f" (domains: {', '.join(found.domains) or 'none'}; "
        f"positions: {', '.join(found.positions) or 'none'})"
    )


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
@reads_data
def org_list(app: App, as_json: bool) -> None:
    """List tracked organizations."""
    from pursuit.daemon.export import organization_record

    orgs = app.store.organizations()
    if as_json:
        click.echo(json.dumps([organization_record(o) for o in orgs], indent=2))
        return
    if not orgs:
        click.echo("No organization yet: add one with `pursuit org add NAME --domain example.com`.")
    from pursuit.daemon.views import clean, pad

    for o in orgs:
        click.echo(f"{pad(clean(o.name), 30)} {o.status:<10} {clean(', '.join(o.domains))}")


@org.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@reads_data
def org_show(app: App, name: str, as_json: bool) -> None:
    """Show an organization: domains, people, interviews, duties."""
    from pursuit.daemon import views

    found = app.store.find_organization(name)
    record = views.organization_detail(app.store, found, app.settings.timezone, app.now())
    click.echo(_json_text(record) if as_json else views.render_organization(record), nl=False)


@org.command("status")
@click.argument("name")
@click.argument("status", type=click.Choice(ORG_STATUSES))
@changes_data
def org_status(app: App, name: str, status: str) -> None:
    """Set where a pursuit stands: active, offer, rejected, withdrawn or closed."""
    before = app.store.find_organization(name)
    actions.set_status(app.store, app.settings, app.now(), name, status)
    click.echo(actions.status_words(app.settings, before, status))


# --- interviews and people


@cli.group()
def interview() -> None:
    """Interviews: add, move, cancel, list."""


@interview.command("list")
@click.argument("organization", required=False)
@click.option("--json", "as_json", is_flag=True)
@reads_data
def interview_list(app: App, organization: str | None, as_json: bool) -> None:
    """List interviews (of one organization), oldest first, with their ids."""
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
                "location": i.location,
                "meeting_link": i.meeting_link,
                "zone": i.zone,
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
        where = where_briefly(i.location, i.meeting_link)
        from pursuit.daemon.views import clean

        line = f"{orgs.get(i.organization_id, '?')}{position}, with {who}{mark}"
        line += f", {where}" if where else ""
        click.echo(f"#{i.id:<5} {i.start.astimezone(tz):%a %d %b %Y %H:%M}  {clean(line)}")


@interview.command("add")
@click.argument("organization")
@click.option("--at", "start", required=True, help='Start, e.g. "2026-12-01 14:00".')
@click.option("--end", help="End (default: one hour after the start).")
@click.option("--position", help="The position interviewed for.")
@click.option("--with", "people", multiple=True, help='"Jane Doe <jane@acme.com>" (repeatable).')
@click.option(
    "--where",
    help='Where: a place ("Acme HQ, room 4"), a link to join (https://...), or both.',
)
@changes_data
def interview_add(
    app: App,
    organization: str,
    start: str,
    end: str | None,
    position: str | None,
    people: tuple[str, ...],
    where: str | None,
) -> None:
    """Record an interview and its interviewers."""
    added = actions.add_interview(
        app.store,
        app.settings,
        app.now(),
        organization,
        start=start,
        end=end,
        position=position,
        people=people,
        where=where,
    )
    who = ", ".join(c.display for c in added.interviewers) or "nobody named yet"
    if added.already:
        click.echo(
            f"Already recorded as interview #{added.id}: {added.organization.name}, "
            f"{added.start:%a %d %b %Y %H:%M}, with {who}; nothing added"
        )
        return
    place = where_briefly(added.location, added.meeting_link)
    click.echo(
        f"Interview #{added.id}: {added.organization.name}, "
        f"{added.start:%a %d %b %Y %H:%M}, with {who}{', ' + place if place else ''}"
    )
    if added.notice:
        click.echo(added.notice)


@interview.command("move")
@click.argument("interview_id", type=RECORD_ID)
@click.option("--at", "start", required=True)
@click.option("--end")
@changes_data
def interview_move(app: App, interview_id: int, start: str, end: str | None) -> None:
    """Move an interview; its duties and events move with it."""
    moved = actions.move_interview(
        app.store, app.settings, app.now(), interview_id, start=start, end=end
    )
    click.echo(f"Interview #{interview_id} moved to {moved.start:%a %d %b %Y %H:%M}")
    for change in moved.changes:
        click.echo(f"  {change[0].upper()}{change[1:]}")


@interview.command("cancel")
@click.argument("interview_id", type=RECORD_ID)
@changes_data
def interview_cancel(app: App, interview_id: int) -> None:
    """Cancel an interview; its pending duties are cancelled."""
    if actions.cancel_interview(app.store, app.settings, app.now(), interview_id):
        click.echo(f"Interview #{interview_id} cancelled")
    else:
        click.echo(
            f"Interview #{interview_id} was already cancelled "
            f"(`pursuit interview restore {interview_id}` undoes it)"
        )


@interview.command("restore")
@click.argument("interview_id", type=RECORD_ID)
@changes_data
def interview_restore(app: App, interview_id: int) -> None:
    """Undo a cancellation: the interview's duties are planned again."""
    restored = actions.restore_interview(app.store, app.settings, app.now(), interview_id)
    if restored.already:
        click.echo(f"Interview #{interview_id} is not cancelled; nothing to restore")
        return
    click.echo(f"Interview #{interview_id} restored")
    tz = app.settings.timezone
    for duty in restored.pending:
        click.echo(
            f"  #{duty.id} {_duty_words(app, duty)}, "
            f"due {duty.due.astimezone(tz):%a %d %b %Y %H:%M}"
        )
    if restored.why_not:
        click.echo(f"  No duty planned: {restored.why_not}")


@interview.command("confirm-gone")
@click.argument("calendar", required=False)
@changes_data
def interview_confirm_gone(app: App, calendar: str | None) -> None:
    """Say that the interviews of a calendar that came back empty are really gone: the
    next sync cancels them (`pursuit doctor` names the calendars held)."""
    held = [h for h in app.store.emptied_sources() if h.source.startswith("calendar:")]
    if calendar is not None:
        held = [h for h in held if h.source in (calendar, f"calendar:{calendar}")]
    if not held:
        where = f" named {calendar}" if calendar else ""
        click.echo(f"No calendar{where} is held: nothing to confirm")
        return
    for h in held:
        app.store.confirm_emptied(h.source, now=app.now())
        click.echo(
            f"{h.source}: its {h.count} interviews will be cancelled at the next sync "
            "(`pursuit run --once` to do it now)"
        )


def _duty_words(app: App, duty: Duty) -> str:
    kind = {"thank_you": "thank-you", "follow_up": "follow-up", "check_in": "check-in"}[duty.kind]
    if duty.contact_id is None:
        return kind
    contact = app.store.contact(duty.contact_id)
    if len(contact.organization_ids) > 1:  # which of their organizations it is for
        return f"{kind} to {contact.display} ({app.store.organization(duty.organization_id).name})"
    return f"{kind} to {contact.display}"


@cli.command()
@click.argument("contact")
@click.option("--on", "on_day", help="The promised day: 2026-12-04, friday, tomorrow.")
@click.option("--in", "after", help="Days after the interview: 5d, 2w.")
@click.option("--org", "organization", help="For someone at several organizations: which one.")
@changes_data
def commit(
    app: App, contact: str, on_day: str | None, after: str | None, organization: str | None
) -> None:
    """Record the day you promised to follow up with someone."""
    promise = actions.commit(
        app.store,
        app.settings,
        app.now(),
        contact,
        on_day=on_day,
        after=after,
        organization=organization,
    )
    who = promise.contact.display
    if promise.instead is not None:
        click.echo(
            f"Promised {who} a follow-up on {promise.day:%a %d %b %Y}, but {promise.instead}"
        )
    elif promise.already:
        click.echo(f"Already promised: follow up with {who} on {promise.day:%a %d %b %Y}")
    else:
        click.echo(f"Follow up with {who} on {promise.day:%a %d %b %Y}")
    _say_chosen(promise.chose)


def _say_chosen(chose: actions.Chosen | None) -> None:
    """Which of a person's organizations a command chose, why, and how to name another."""
    if chose is None:
        return
    other = chose.others[0].name if len(chose.others) == 1 else "another"
    names = " or ".join(quoted_name(o.name) for o in chose.others)
    click.echo(f"  About {chose.organization.name}: {chose.why} (for {other}, add --org {names})")


@cli.command()
@click.argument("contact")
@click.argument("text")
@click.option("--org", "organization", help="For someone at several organizations: which one.")
@click.option(
    "--thank-you",
    "thank_you",
    is_flag=True,
    help="TEXT is a line for their thank-you note, placed in it as you wrote it, on a "
    "line of its own (the latest one given counts).",
)
@changes_data
def note(app: App, contact: str, text: str, organization: str | None, thank_you: bool) -> None:
    """Add a private note on someone: your calendar's talking points, `history` and
    `org show` show it, a draft to anyone never does. Each note adds to the others.

    With --thank-you, TEXT is what their thank-you should say instead, e.g.
    pursuit note raj@acme.com --thank-you "I enjoyed hearing about your BGP migration."
    """
    if not thank_you:
        noted = actions.note(
            app.store, app.settings, app.now(), contact, text, organization=organization
        )
        click.echo(f"Noted for {noted.contact.display} (private, never in a draft): {text}")
        _say_chosen(noted.chose)
        return
    line = actions.thank_you_line(
        app.store, app.settings, app.now(), contact, text, organization=organization
    )
    who = line.contact.display
    click.echo(f"{who}'s thank-you says, on a line of its own: {text.strip()}")
    _say_chosen(line.chose)
    if line.replaced is not None and line.replaced != text.strip():
        click.echo(f"  (instead of: {line.replaced})")
    if line.duty.state == DutyState.DONE:
        click.echo(f"  The thank-you to {who} is done already (#{line.duty.id}).")
    else:
        click.echo(f"  See it: pursuit draft {line.duty.id}")


@cli.command("log")
@click.argument("channel", type=click.Choice(CHANNELS))
@click.argument("contact")
@click.argument("text")
@click.option("--in", "inbound", is_flag=True, help="They reached you (default: you reached them).")
@click.option("--at", "when", help="When (default: now).")
@click.option("--org", "organization", help="For someone at several organizations: which one.")
@changes_data
def log_entry(
    app: App,
    channel: str,
    contact: str,
    text: str,
    inbound: bool,
    when: str | None,
    organization: str | None,
) -> None:
    """Log a call, an email or a note by hand."""
    logged = actions.log_by_hand(
        app.store,
        app.settings,
        app.now(),
        channel,
        contact,
        text,
        inbound=inbound,
        when=when,
        organization=organization,
    )
    who = logged.contact.display
    if logged.already:
        at = logged.when.astimezone(app.settings.timezone)
        click.echo(f"Already logged: {channel} with {who} at {at:%H:%M}; not logged twice")
        return
    click.echo(f"Logged {channel} with {who}")
    _say_chosen(logged.chose)
    for duty in logged.fulfilled:
        click.echo(f"  Duty #{duty.id} done: {_duty_words(app, duty)}")


@interview.command("add-person")
@click.argument("interview_id", type=RECORD_ID)
@click.argument("person")
@changes_data
def interview_add_person(app: App, interview_id: int, person: str) -> None:
    """Add someone to an interview: PERSON is "Jane Doe <jane@acme.com>" or an address."""
    contact = actions.add_person_to_interview(
        app.store, app.settings, app.now(), interview_id, person
    )
    click.echo(f"{contact.display} added to interview #{interview_id}")


@interview.command("remove-person")
@click.argument("interview_id", type=RECORD_ID)
@click.argument("person")
@changes_data
def interview_remove_person(app: App, interview_id: int, person: str) -> None:
    """Remove someone from an interview (an address or a name); their duties for it go."""
    contact = actions.remove_person_from_interview(
        app.store, app.settings, app.now(), interview_id, person
    )
    click.echo(f"{contact.display} removed from interview #{interview_id}")


@cli.group()
def contact() -> None:
    """People: add, rename, give another address, show."""


@contact.command("add")
@click.argument("person")
@click.option("--org", "organization", help="An organization they belong to.")
@click.option("--role", help="Their role there: recruiter, hiring manager, ...")
@changes_data
def contact_add(app: App, person: str, organization: str | None, role: str | None) -> None:
    """Add someone ("Jane Doe <jane@acme.com>"), or add a known person to an organization."""
    added = actions.add_contact(app.store, app.now(), person, organization=organization, role=role)
    who = f"{added.contact.display} <{added.contact.address}>"
    at = f" at {added.organization.name}" if added.organization else ""
    if added.created:
        click.echo(f"Added {who}{at}")
    elif added.linked:
        click.echo(f"{who} is known; now also{at}")
    else:
        click.echo(f"{who} is already known{at}; nothing changed")


@contact.command("rename")
@click.argument("contact_name", metavar="CONTACT")
@click.argument("name")
@changes_data
def contact_rename(app: App, contact_name: str, name: str) -> None:
    """Give someone their right name."""
    old, renamed = actions.rename_contact(app.store, contact_name, name)
    click.echo(f"{old} is now {renamed.display}")


@contact.command("address-add")
@click.argument("contact_name", metavar="CONTACT")
@click.argument("address")
@changes_data
def contact_address_add(app: App, contact_name: str, address: str) -> None:
    """Give someone another address (mail from it is then theirs)."""
    found = actions.add_address(app.store, contact_name, address)
    click.echo(f"{found.display}: {', '.join(found.addresses)}")


@contact.command("show")
@click.argument("contact_name", metavar="CONTACT")
@click.option("--json", "as_json", is_flag=True)
@reads_data
def contact_show(app: App, contact_name: str, as_json: bool) -> None:
    """Show someone: organizations, addresses, notes, interviews, duties, last correspondence."""
    from pursuit.daemon import views

    found = app.store.find_contact(contact_name)
    record = views.contact_detail(app.store, found, app.settings.timezone, app.now())
    click.echo(json.dumps(record, indent=2) if as_json else views.render_contact(record))


# --- duties


@cli.command()
@click.argument("duty_id", type=RECORD_ID)
@click.option(
    "--sent",
    is_flag=True,
    help="You sent it yourself, outside pursuit's mailbox: logged as an email to them.",
)
@changes_data
def done(app: App, duty_id: int, sent: bool) -> None:
    """Mark a duty done."""
    mark = actions.mark_sent if sent else actions.mark_done
    duty, already = mark(app.store, app.settings, app.now(), duty_id)
    click.echo(actions.done_words(duty, already, app.settings.timezone, sent=sent))


@cli.command()
@click.argument("duty_id", type=RECORD_ID)
@changes_data
def reopen(app: App, duty_id: int) -> None:
    """Make a done duty pending again (then `snooze` it to a later day if you like)."""
    duty, already = actions.reopen(app.store, app.settings, app.now(), duty_id)
    click.echo(actions.reopen_words(duty, already, app.settings.timezone))


@cli.command()
@click.argument("duty_id", type=RECORD_ID)
@click.option("--to", "to", required=True, help="New day (friday, 2026-12-04) or day and time.")
@changes_data
def snooze(app: App, duty_id: int, to: str) -> None:
    """Move a pending duty to a later day (a done one: `reopen` it first)."""
    moment = actions.snooze(app.store, app.settings, app.now(), duty_id, to)
    click.echo(actions.snoozed_words(duty_id, moment))


@cli.command()
@click.argument("duty_id", type=RECORD_ID)
@click.option(
    "--eml",
    "eml_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write it as an .eml file to open in your mail client.",
)
@reads_data
def draft(app: App, duty_id: int, eml_file: Path | None) -> None:
    """Print the thank-you note of a thank-you duty, ready to send (no account needed).

    It is the draft pursuit leaves in your mailbox: none of your notes (they are
    private), the line you gave with `pursuit note CONTACT --thank-you "..."` on a
    line of its own, or a placeholder for it."""
    from email.message import EmailMessage

    from pursuit.daemon import drafts
    from pursuit.daemon.views import clean

    found, message = drafts.shown_draft(
        app.store, app.settings.drafts, duty_id, app.now(), from_address=app.your_address() or ""
    )
    body = message.get_body(("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    if message["From"] is not None:
        click.echo(f"From: {clean(str(message['From']))}")
    click.echo(f"To: {clean(str(message['To']))}")
    click.echo(f"Subject: {clean(str(message['Subject']))}")
    click.echo("")
    click.echo(clean(text, multiline=True), nl=False)
    # What to do next goes to stderr: standard output is the note, to copy whole.
    if found.personal_line is None:
        click.echo(
            f"No line of your own yet: pursuit note {found.to} --thank-you "
            '"..." puts one in place of the [...] line.',
            err=True,
        )
    if message["From"] is None:
        click.echo(
            "No From: pursuit does not know your address yet; give it in config.toml "
            '([drafts] address = "you@example.com"), or connect your mailbox.',
            err=True,
        )
    mailbox = drafts.in_the_mailbox(app.store, duty_id, found.raw)
    if mailbox is not None:
        click.echo(mailbox, err=True)
    if eml_file is not None:
        message["X-Unsent"] = "1"  # Outlook and Windows Mail open it as a draft to send
        try:
            eml_file.write_bytes(message.as_bytes())
        except OSError as exc:
            raise UserError(f"cannot write {eml_file}: {exc.strerror}") from None
        click.echo(f"Wrote {eml_file}: open it in your mail client, then send it.", err=True)


@cli.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@changes_data
def forget(app: App, name: str, yes: bool) -> None:
    """Remove an organization or a contact with all their records."""
    target = actions.resolve(app.store, name)
    if isinstance(target, Organization):
        what = f"organization {target.name}"
    else:
        what = f"contact {target.display}"
    if not yes and sys.stdin.isatty():
        click.confirm(f"Forget {what} and all its records?", abort=True)
    actions.forget(app.store, app.settings, app.now(), target)
    click.echo(f"Forgot {what}")


# --- views


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(min=0, max=SQLITE_MAX),
    help="Duties of each kind to show.",
)
@click.option("--all", "show_all", is_flag=True, help="Show every overdue and upcoming duty.")
@click.option("--overdue", "overdue_only", is_flag=True, help="Only the duties that are late.")
@reads_data
def status(app: App, as_json: bool, limit: int, show_all: bool, overdue_only: bool) -> None:
    """Each organization at a glance, overdue duties first, then the next ones."""
    from pursuit.daemon import views
    from pursuit.daemon.export import to_json

    record = views.status(
        app.store,
        app.settings.timezone,
        app.now(),
        limit=None if show_all else limit,
        settings=app.settings,
    )
    if overdue_only:
        record = {key: record[key] for key in ("now", "overdue_count", "overdue")}
    from pursuit.daemon.doctor import warning

    problem = warning(app)
    if as_json:
        click.echo(to_json({**record, "warning": problem}), nl=False)
        return
    if problem:
        click.echo(problem)
    if overdue_only:
        click.echo(views.render_overdue(record), nl=False)
    else:
        click.echo(views.render_status(record), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@reads_data
def week(app: App, as_json: bool) -> None:
    """This week: what happened in the past 7 days, what is due in the next 7."""
    from pursuit.daemon import views
    from pursuit.daemon.export import to_json

    record = views.week(app.store, app.settings.timezone, app.now())
    click.echo(to_json(record) if as_json else views.render_week(record), nl=False)


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@reads_data
def history(app: App, name: str, as_json: bool) -> None:
    """The record of an organization or a contact, newest first."""
    from pursuit.daemon import views

    target = actions.resolve(app.store, name)
    record = views.history(app.store, target, app.settings.timezone)
    click.echo(_json_text(record) if as_json else views.render_history(record), nl=False)


@cli.command()
@click.argument("interview_name", metavar="[INTERVIEW]", required=False)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the sheet as a page to FILE, printable on one or two pages.",
)
@click.option("--json", "as_json", is_flag=True)
@reads_data
def prep(app: App, interview_name: str | None, html_file: Path | None, as_json: bool) -> None:
    """The prep sheet of an interview: an id (12), or an organization (its next one);
    without INTERVIEW, the next coming interview."""
    from pursuit.daemon import prep as sheets

    now = app.now()
    found = sheets.find_interview(app.store, interview_name, now)
    record = sheets.prep_sheet(app.store, app.settings, found.id, now)
    if html_file is not None:
        sheets.write_page(html_file, record)
        click.echo(f"Wrote {html_file}.", err=as_json)
    if as_json:
        click.echo(_json_text(record), nl=False)
    elif html_file is None:
        click.echo(sheets.render_prep_text(record), nl=False)


EXPORT_TABLES = (
    "organizations",
    "contacts",
    "interviews",
    "duties",
    "correspondence",
    "feed_items",
    "events",
)  # export.SECTIONS, named here so the command line need not import the export


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "ics"]), default="json", show_default=True
)
@click.option(
    "--table",
    type=click.Choice(EXPORT_TABLES),
    help="CSV: the one table to write to standard output.",
)
@click.option(
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="CSV: write one file per table (TABLE.csv) into this folder.",
)
@click.option("--excel", is_flag=True, help="CSV for Excel: a UTF-8 byte-order mark, CRLF lines.")
@reads_data
def export(app: App, fmt: str, table: str | None, output_dir: Path | None, excel: bool) -> None:
    """Write everything to standard output (CSV: one table, or one file per table)."""
    from pursuit.daemon import export as exporting

    if fmt != "csv" and (table or output_dir or excel):
        raise UserError("--table, --output and --excel go with --format csv")
    if fmt == "csv" and (table is None) == (output_dir is None):
        raise UserError(
            "a CSV file holds one table: give --table TABLE (one of "
            f"{', '.join(EXPORT_TABLES)}) or --output DIR for one file per table"
        )
    if fmt == "ics":
        sys.stdout.buffer.write(exporting.to_ics(app.store))
        return
    data = exporting.export_data(app.store, app.settings.timezone, app.now())
    if fmt == "json":
        click.echo(exporting.to_json(data), nl=False)
    elif table is not None:
        sys.stdout.buffer.write(exporting.to_csv(data[table], excel=excel))
        sys.stdout.buffer.flush()
    else:
        assert output_dir is not None
        for path, rows in exporting.write_csv_tables(data, output_dir, excel=excel):
            click.echo(f"{path}: {rows} {'row' if rows == 1 else 'rows'}")


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
@reads_data
def news(app: App, organization: str | None, as_json: bool) -> None:
    """Press and news items of the organizations you track, newest first."""
    from pursuit.daemon import views

    rows = _feed_rows(app, organization, ("press", "news"), False)
    if as_json:
        click.echo(_json_text(rows), nl=False)
    else:
        click.echo(views.render_items(rows, "No news yet."), nl=False)


@cli.command()
@click.argument("organization", required=False)
@click.option("--new", is_flag=True, help="Only open ones first seen in the last 7 days.")
@click.option("--json", "as_json", is_flag=True)
@reads_data
def openings(app: App, organization: str | None, new: bool, as_json: bool) -> None:
    """Job openings on the organizations' careers feeds and boards."""
    from pursuit.daemon import views

    rows = _feed_rows(app, organization, ("opening",), new)
    if as_json:
        click.echo(_json_text(rows), nl=False)
    else:
        click.echo(views.render_items(rows, "No opening seen yet."), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-probe", is_flag=True, help="Do not ask signed-in accounts whether they answer.")
@click.option("--audit", is_flag=True, help="Compare the mailbox with the log (`pursuit audit`).")
@reads_data
def doctor(app: App, as_json: bool, no_probe: bool, audit: bool) -> None:
    """Check the config, the store and each source, and say what to do (exit 1 if needed)."""
    from pursuit.daemon import doctor as checking
    from pursuit.daemon import views

    found = checking.examine(app, app.now(), probe=not no_probe)
    if audit and found.store_read:
        found.checks.extend(checking.audit_checks(app, app.now()))
    if as_json:
        click.echo(json.dumps(found.record(), indent=2))
    else:
        if found.store_read:  # else it holds no feed to speak of
            click.echo(views.render_doctor(found.failing_feeds), nl=False)
        click.echo(checking.render(found.checks), nl=False)
    if found.needs_you:
        raise SystemExit(1)


@cli.command()
@click.option("--fix", is_flag=True, help="Log the messages the log lacks, as a sync would.")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=5000,
    show_default=True,
    help="The most messages read from the mailbox (5 Gmail quota units each).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def audit(state: Context, fix: bool, limit: int, as_json: bool) -> None:
    """Compare the mailbox with the correspondence log over the look-back, by Message-ID,
    and name each message with tracked people the log lacks (exit 1 if any)."""
    from pursuit.daemon import mail

    app = state.writable_app if fix else state.app
    account = app.roles.mail
    if account is None:
        raise UserError(
            "no mailbox is configured ([google], [imap] or [microsoft]): nothing to audit"
        )
    mailbox = account.mailbox()
    if app.store.cursor(mailbox.name) is None:
        raise UserError(
            f"{account.name}: the first sync has not finished; run `pursuit run --once` first"
        )
    now = app.now()
    found = mail.audit_mail(
        app.store, mailbox, now, lookback=account.lookback, account=account.name, limit=limit
    )
    fixed = 0
    if fix and found.missing:
        me = app.store.account_address(account.name) or ""
        with app.store.transaction():
            fixed = mail.store_messages(app.store, found.missing, me, now)
    tz = app.settings.timezone
    missing = [
        {
            "message_id": m.message_id,
            "from": m.sender.email if m.sender else None,
            "date": m.date.astimezone(tz).isoformat(),
            "subject": m.subject,
        }
        for m in found.missing
    ]
    if as_json:
        record = {
            "account": account.name,
            "since": (now - account.lookback).astimezone(tz).isoformat(),
            "read": found.read,
            "expected": found.expected,
            "missing": missing,
            "complete": found.complete,
            "fixed": fixed,
        }
        click.echo(_json_text(record))
    else:
        since = (now - account.lookback).astimezone(tz)
        click.echo(
            f"{account.name}: {found.read} messages with tracked people and domains since "
            f"{since:%Y-%m-%d}; {found.expected} concern someone tracked, "
            f"{found.expected - len(found.missing)} of them in the log."
        )
        if not found.complete:
            click.echo(f"Stopped at {limit} messages (--limit reads more); the rest unchecked.")
        if missing:
            click.echo(f"Not in the log ({len(missing)}):")
            for m in found.missing:
                sender = m.sender.email if m.sender else "unknown sender"
                click.echo(
                    f"  {m.date.astimezone(tz):%Y-%m-%d %H:%M}  {mail.printable(sender)}  "
                    f"{mail.printable(m.message_id)}  {mail.printable(m.subject)[:60]}"
                )
            if fix:
                click.echo(f"Logged {fixed} of them, as a sync would have.")
            else:
                click.echo("  -> `pursuit audit --fix` logs them, as a sync would have")
        else:
            click.echo("Nothing missing.")
    if missing and not fix:
        raise SystemExit(1)


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
    store = state.app.store
    if store.read_only is None:  # the summary and doctor warn before a Testing grant ends
        store.record_grant("google", now=state.app.now())
    else:
        log.warning("the sign-in date is not recorded: %s is read-only", store.path)
    if state.app.settings.google is None:
        click.echo("Add a [google] section to your config to use it (see `pursuit init`).")


@auth.command("microsoft")
@pass_ctx
def auth_microsoft(state: Context) -> None:
    """Sign in to Outlook.com or Microsoft 365: calendars and mail, with a code to type
    in a browser on any device (works over SSH and on a machine without one)."""
    from pursuit.connectors.microsoft_auth import MicrosoftSignIn

    section = state.app.settings.microsoft
    if section is None:
        raise UserError(
            "no [microsoft] section in the config: add one with your app registration's "
            'client_id (`client_id = "..."`; see config/example.toml), then sign in again'
        )
    signin = MicrosoftSignIn(
        section.client_id,
        section.tenant,
        section.token_cache,
        login_endpoint=section.login_endpoint,
        timeout=section.timeout.total_seconds(),
    )
    who = signin.sign_in(click.echo, mail=section.mail)
    reach = "calendars and mail" if section.mail else "calendars"
    click.echo(f"Signed in as {who} ({reach}); the sign-in is kept in {section.token_cache}.")


# --- the dashboard


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="The port to listen on (default: [web] port, 8765; 0: any free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the link only; open no browser.")
@click.option(
    "--url", "url_only", is_flag=True, help="Print the link of the service's dashboard and exit."
)
@reads_data
def web(app: App, port: int | None, no_browser: bool, url_only: bool) -> None:
    """Open the dashboard in your browser: Today, the pipeline, each organization.

    It serves this machine only ([web] address), until Ctrl-C; its link carries an
    access token. When the service serves the dashboard ([web] serve = true), this
    opens the service's instead."""
    # Flask and waitress are imported here only: `pursuit status` never loads them.
    from pursuit.daemon.web.serve import served_url, why_not_served

    settings = app.settings
    served = served_url(settings) if port is None or url_only else None
    if url_only:
        if served is None:
            raise UserError(
                f"no dashboard to link to: {why_not_served(settings)}; `pursuit web` serves "
                "one until you stop it"
            )
        click.echo(served)
        return
    if served is not None:
        click.echo(f"The service serves the dashboard: {served}")
        _open_browser(served, no_browser)
        return
    _serve_dashboard(app, port, no_browser)


def _serve_dashboard(app: App, port: int | None, no_browser: bool) -> None:
    import signal
    import threading

    from pursuit.daemon.web.security import new_token
    from pursuit.daemon.web.serve import Dashboard, with_port

    dashboard = Dashboard(with_port(app.settings, port), token=new_token())
    thread = dashboard.start()
    click.echo(f"pursuit's dashboard: {dashboard.login_url}")
    click.echo("Open that link (it carries this session's access token); Ctrl-C stops it.")
    _open_browser(dashboard.login_url, no_browser)
    stopped = threading.Event()

    def on_stop(_signum: int, _frame: object) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, on_stop)
    try:
        while thread.is_alive() and not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        dashboard.stop()
        thread.join(timeout=10)
    click.echo("Dashboard stopped.")


def _open_browser(url: str, no_browser: bool) -> None:
    if no_browser:
        return
    import webbrowser

    if not webbrowser.open(url):
        log.info("no browser could be opened: open the link above yourself")


# --- the service


@cli.command()
@click.option("--once", is_flag=True, help="Run every job once and exit.")
@pass_ctx
def run(state: Context, once: bool) -> None:
    """Run the service: sync, plan and push events, on a schedule (or once).

    One pursuit runs per data directory: a second one exits at once naming the first.
    SIGTERM stops it within seconds, SIGHUP reloads the config file.
    """
    from pursuit.daemon.runlock import SERVICE, RunLock, once_wait

    # A database that cannot be written, or is damaged, is said so before any lock is taken.
    if not once:  # the service waits out a full disk, saying so once
        from pursuit.daemon.service import wait_for_room

        wait_for_room(lambda: state.app.store, state.app.settings.database.parent)
    state.app.store.require_writable()
    state.app.store.check_intact()
    # The service holds the data directory's run lock for as long as it runs;
    # `run --once` for its round: two rounds would both perform the same outbox entry.
    lock = RunLock.beside(state.app.settings.database)
    with lock.hold("run --once" if once else SERVICE, wait=once_wait()):
        _run_locked(state, once)


def _run_locked(state: Context, once: bool) -> None:
    from pursuit.daemon.jobs import run_jobs

    app = state.writable_app
    if not once:
        from pursuit.daemon.service import Service, wait_for_room

        wait_for_room(
            lambda: actions.rebuild_lost_calendar_file(app.store, app.settings, app.now()),
            app.settings.database.parent,
        )

        service = Service(app, load_app=lambda: App(load_settings(state.config)))
        try:
            service.serve()
        finally:
            state._app = service.app  # the app of the last config loaded: closed at exit
        return
    actions.rebuild_lost_calendar_file(app.store, app.settings, app.now())
    failures = run_jobs(app.store, app.jobs(), app.now())  # each failure is logged with its fix
    pending = actions.pending_duties(app.store)
    click.echo(f"pursuit: {len(pending)} pending duties; calendar: {_calendar_where(app)}")
    if failures:
        names = ", ".join(name for name, _ in failures)
        failed = "1 job" if len(failures) == 1 else f"{len(failures)} jobs"
        click.echo(f"pursuit: {failed} failed ({names}); see the message above", err=True)
        raise SystemExit(1)


# --- the weekly summary


@cli.command()
@click.option("--preview", is_flag=True, help="Print this week's summary (its text part).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Write this week's summary as HTML to FILE.",
)
@click.option("--send", is_flag=True, help="Send this week's summary now (still once a week).")
@pass_ctx
def summary(state: Context, preview: bool, html_file: str | None, send: bool) -> None:
    """The weekly summary email: preview it, save its HTML, or send it now."""
    from pathlib import Path

    from pursuit.daemon import summary as weekly

    app = state.writable_app if send else state.app
    now = app.now()
    templates = app.settings.summary.templates
    if preview or html_file or not send:
        record = weekly.gather(app.store, app.settings, now)
        if html_file:
            Path(html_file).write_text(weekly.render_html(record, templates), encoding="utf-8")
            click.echo(f"Wrote {html_file}.", err=preview)
        if preview or not html_file:
            click.echo(weekly.render_text(record, templates), nl=False)
    if not send:
        return
    week = weekly.Week.of(now, app.settings.timezone)
    sent = weekly.sent_at(app.store, week)
    if sent is None:
        missed = [w for w in weekly.owed_weeks(app.store, app.settings, now) if w != week]
        app.send_summary(now, force=True)
        for earlier in missed:
            if weekly.sent_at(app.store, earlier) is not None:
                click.echo(f"The summary of {earlier.label}, missed at its hour, went too, late.")
        sent = weekly.sent_at(app.store, week)
        if sent is None:
            raise PursuitError(f"the summary of {week.label} was not sent; see the log above")
        folder = app.summary_folder
        if folder is None:
            click.echo(f"Sent the summary of {week.label} to {app.summary_address()}.")
            return
        written = folder / f"summary-{week.label}.eml"
        click.echo(
            f"Wrote the summary of {week.label} to {written if written.exists() else folder}: "
            "no account sends mail (connect Google, or add [smtp]), so open the file with "
            "your mail program. It counts as this week's summary: the next is next week's."
        )
        return
    when = sent.astimezone(app.settings.timezone).strftime("%a %d %b %H:%M")
    click.echo(f"The summary of {week.label} was already sent ({when}); it goes once a week.")


@cli.group()
def service() -> None:
    """Run pursuit unattended under systemd."""


@service.command("install")
@click.option("--user", "scope", flag_value="user", default=True, help="A user unit (default).")
@click.option("--system", "scope", flag_value="system", help="A system template, pursuit@USER.")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    help="Write the system unit under this directory instead of / (packaging).",
)
def service_install(scope: str, root: str | None) -> None:
    """Write the systemd unit pointing at this pursuit, and say how to enable it."""
    from pathlib import Path

    from pursuit.daemon import units

    system = scope == "system"
    target = units.install(system=system, root=Path(root) if root else None)
    click.echo(f"Wrote {target}. To start pursuit now and at every boot:")
    for command in units.enable_commands(system=system):
        click.echo(f"  {'sudo ' if system else ''}{command}")


def _calendar_where(app: App) -> str:
    calendar = app.roles.calendar
    return str(calendar.path) if isinstance(calendar, IcsAccount) else calendar.name


def _json_text(data: object) -> str:
    from pursuit.daemon.export import to_json

    return to_json(data)


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        cli.main(args=argv, prog_name="pursuit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        raise SystemExit(1) from None
    except click.UsageError as exc:  # one line, as for every other mistake, and where to look
        where = exc.ctx.command_path if exc.ctx else "pursuit"
        problem = " ".join(exc.format_message().split()).rstrip(".")
        click.echo(f"pursuit: {problem}; see `{where} --help`", err=True)
        raise SystemExit(2) from None
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
