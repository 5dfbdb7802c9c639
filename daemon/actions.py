"""What the user can do by hand: the rules behind each command that changes data.

Each use case is a plain function of the store (and the settings and the time
where it needs them) that takes the user's words as typed, checks them, changes
the store, brings the duties up to date and returns what the command line prints
from. Every problem is a `UserError` whose message is what the user reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING

from pursuit.config.settings import parse_domain
from pursuit.daemon.dates import parse_day, parse_moment, parse_offset
from pursuit.daemon.errors import AmbiguousName, UserError
from pursuit.daemon.models import (
    Channel,
    Contact,
    Direction,
    Duty,
    DutyState,
    NoteKind,
    Organization,
    OrgStatus,
)
from pursuit.daemon.store import Store

if TYPE_CHECKING:
    from pursuit.config.settings import Settings


# --- names


def resolve(store: Store, name: str) -> Organization | Contact:
    """The one organization or contact NAME designates.

    A name matching one of each is ambiguous, unless it matches one of them exactly
    (name, domain or address) and the other only in part.
    """
    org_error = contact_error = None
    try:
        org: Organization | None = store.find_organization(name)
    except UserError as exc:
        org, org_error = None, exc
    try:
        contact: Contact | None = store.find_contact(name)
    except UserError as exc:
        contact, contact_error = None, exc
    if org is not None and contact is not None:
        folded = name.casefold()
        org_exact = org.name.casefold() == folded or folded in org.domains
        contact_exact = contact.name.casefold() == folded or folded in contact.addresses
        if org_exact != contact_exact:
            return org if org_exact else contact
        raise AmbiguousName(
            name,
            [org.name, f"{contact.display} <{contact.address}>"],
            f"{name!r} is ambiguous: it matches organization {org.name} and contact "
            f"{contact.display} <{contact.address}>; give the full name or the address",
        )
    if org is not None:
        return org
    if contact is not None:
        return contact
    for error in (org_error, contact_error):
        if isinstance(error, AmbiguousName):
            raise error
    raise UserError(f"no organization or contact named {name!r} (see `pursuit org list`)")


# --- organizations


def add_organization(
    store: Store, name: str, domains: Iterable[str], positions: Iterable[str], *, now: datetime
) -> Organization:
    """Track an organization (or add domains and positions to a tracked one)."""
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
    return store.add_organization(name.strip(), clean, tuple(positions), now=now)


@dataclass(frozen=True)
class OrganizationAdded:
    organization: Organization
    existed: bool  # it was tracked already: what was new is added, nothing replaced
    new_domains: tuple[str, ...]
    new_positions: tuple[str, ...]


def track_organization(
    store: Store, name: str, domains: Iterable[str], positions: Iterable[str], *, now: datetime
) -> OrganizationAdded:
    """`org add`: a new organization, or what is new for one already tracked."""
    try:
        before: Organization | None = store.find_organization(name.strip())
    except UserError:
        before = None
    if before is not None and before.name.casefold() != name.strip().casefold():
        before = None  # a prefix or a domain of another organization: this one is new
    positions = tuple(positions)
    after = add_organization(store, name, domains, positions, now=now)
    old_domains = before.domains if before else ()
    old_positions = before.positions if before else ()
    return OrganizationAdded(
        after,
        before is not None,
        tuple(d for d in after.domains if d not in old_domains),
        tuple(p for p in after.positions if p not in old_positions),
    )


def set_status(
    store: Store, settings: Settings, now: datetime, name: str, status: str
) -> Organization:
    """Set where a pursuit stands; the planner cancels or plans duties to match."""
    found = store.find_organization(name)
    store.set_organization_status(found.id, OrgStatus(status), now=now)
    replan(store, settings, now)
    return store.organization(found.id)


# --- interviews


@dataclass(frozen=True)
class ScheduledInterview:
    id: int
    organization: Organization
    start: datetime
    interviewers: tuple[Contact, ...]
    notice: str | None = None  # what became of a closed organization, said plainly


def add_interview(
    store: Store,
    settings: Settings,
    now: datetime,
    organization: str,
    *,
    start: str,
    end: str | None = None,
    position: str | None = None,
    people: Iterable[str] = (),
) -> ScheduledInterview:
    """Record an interview; its interviewers become contacts of the organization."""
    tz = settings.timezone
    found = store.find_organization(organization)
    begins = parse_moment(start, tz)
    ends = parse_moment(end, tz) if end else begins + timedelta(hours=1)
    if ends <= begins:
        raise UserError(f"--end {end!r} is not after --at {start!r}")
    persons = [_person(p) for p in people]
    with store.transaction():
        contacts = tuple(
            store.ensure_contact(address, person_name, found.id, role="interviewer")
            for person_name, address in persons
        )
        interview_id = store.add_interview(
            found.id, begins, ends, [c.id for c in contacts], position=position
        )
        notice = _interview_at_closed_organization(store, found, begins, now)
    replan(store, settings, now)
    return ScheduledInterview(interview_id, store.organization(found.id), begins, contacts, notice)


def _interview_at_closed_organization(
    store: Store, org: Organization, start: datetime, now: datetime
) -> str | None:
    """An interview after a rejection (or a withdrawal, a closing) means the organization
    came back: it is active again and the interview's duties are planned. An interview
    at an offer stays under the offer (a meeting about it is no new application), and an
    interview from before the status changed is only a record; both say how to plan."""
    if org.status == OrgStatus.ACTIVE:
        return None
    since = f"{org.status_changed:%d %b %Y}"
    if org.status != OrgStatus.OFFER and start >= org.status_changed:
        store.set_organization_status(org.id, OrgStatus.ACTIVE, now=now)
        return (
            f"{org.name} was {org.status} on {since}; this interview makes it active again "
            f"and plans its thank-you and follow-up (to undo: "
            f"`pursuit org status {_quoted(org.name)} {org.status}`)"
        )
    why = (
        f"{org.name} is at the offer stage (since {since})"
        if org.status == OrgStatus.OFFER
        else f"{org.name} was {org.status} on {since}, after this interview"
    )
    return (
        f"{why}: no thank-you or follow-up is planned for this interview "
        f"(to plan them: `pursuit org status {_quoted(org.name)} active`)"
    )


def _quoted(name: str) -> str:
    return f'"{name}"' if any(c.isspace() for c in name) else name


def _person(text: str) -> tuple[str, str]:
    name, address = parseaddr(text)
    if "@" not in address or " " in address:
        raise UserError(f'--with {text!r}: expected "Name <address@example.com>" or an address')
    return name.strip(), address.lower()


def move_interview(
    store: Store,
    settings: Settings,
    now: datetime,
    interview_id: int,
    *,
    start: str,
    end: str | None = None,
) -> datetime:
    """Move an interview (keeping its length unless END is given); returns the new start."""
    tz = settings.timezone
    found = store.interview(interview_id)
    begins = parse_moment(start, tz)
    ends = parse_moment(end, tz) if end else begins + (found.end - found.start)
    store.move_interview(interview_id, begins, ends)
    replan(store, settings, now)
    return begins


def cancel_interview(store: Store, settings: Settings, now: datetime, interview_id: int) -> None:
    store.interview(interview_id)  # an unknown id is the user's error, said as such
    store.cancel_interview(interview_id)
    replan(store, settings, now)


# --- what was said with whom


@dataclass(frozen=True)
class Promise:
    contact: Contact
    day: date


def commit(
    store: Store,
    settings: Settings,
    now: datetime,
    contact: str,
    *,
    on_day: str | None = None,
    after: str | None = None,
    organization: str | None = None,
) -> Promise:
    """The day you promised CONTACT to follow up: ON_DAY, or AFTER the interview."""
    if bool(on_day) == bool(after):
        raise UserError("give exactly one of --on DATE or --in DURATION")
    tz = settings.timezone
    found, interview_id = _latest_interview(store, contact, organization)
    interview_day = store.interview(interview_id).start.astimezone(tz).date()
    day = parse_day(on_day, interview_day) if on_day else interview_day + parse_offset(after or "")
    if day < interview_day:
        raise UserError(
            f"{on_day or after!r}: {day:%a %d %b %Y} is before the interview "
            f"({interview_day:%a %d %b %Y})"
        )
    store.set_interviewer(interview_id, found.id, promised=day, now=now)
    replan(store, settings, now)
    return Promise(found, day)


def note(
    store: Store,
    settings: Settings,
    now: datetime,
    contact: str,
    text: str,
    *,
    organization: str | None = None,
) -> Contact:
    """Add to the notes on CONTACT: at their latest interview (at ORGANIZATION), where the
    thank-you and the follow-up use them; a person not interviewed yet keeps it in their
    record. A second note adds, never replaces."""
    text = text.strip()
    if not text:
        raise UserError("the note is empty: write what you want to remember")
    found = store.find_contact(contact)
    org = _organization_of(store, found, organization)
    interview_id = store.latest_interview_with(found.id, org)
    if interview_id is not None:
        store.set_interviewer(interview_id, found.id, note=text, now=now)
    else:
        store.add_note(
            NoteKind.NOTE,
            text,
            now=now,
            organization_id=org or store.latest_organization_of(found.id),
            contact_id=found.id,
        )
    replan(store, settings, now)
    return found


def _organization_of(store: Store, contact: Contact, organization: str | None) -> int | None:
    """The organization the user named, which must be one of the person's."""
    if organization is None:
        return None
    org = store.find_organization(organization)
    if org.id not in contact.organization_ids:
        raise UserError(
            f"{contact.display} is not at {org.name} (add them: "
            f"`pursuit contact add {contact.address} --org {_quoted(org.name)}`)"
        )
    return org.id


def _latest_interview(
    store: Store, contact: str, organization: str | None = None
) -> tuple[Contact, int]:
    found = store.find_contact(contact)
    org = _organization_of(store, found, organization)
    interview_id = store.latest_interview_with(found.id, org)
    if interview_id is None:
        at = f" at {store.organization(org).name}" if org else ""
        raise UserError(
            f"{found.display} has no interview{at} yet (add one with `pursuit interview add`)"
        )
    return found, interview_id


def log_by_hand(
    store: Store,
    settings: Settings,
    now: datetime,
    channel: str,
    contact: str,
    text: str,
    *,
    inbound: bool = False,
    when: str | None = None,
) -> Contact:
    """Log a call, an email or a note with CONTACT (at WHEN, default now)."""
    found = store.find_contact(contact)
    moment = parse_moment(when, settings.timezone) if when else now
    store.log_correspondence(
        message_id=f"<manual-{uuid.uuid4()}@pursuit>",
        direction=Direction.IN if inbound else Direction.OUT,
        when=moment,
        channel=Channel(channel),
        organization_id=store.latest_organization_of(found.id),
        contact_ids=[found.id],
        subject=text,
        people=found.addresses,
    )
    return found


# --- duties


def mark_done(store: Store, settings: Settings, now: datetime, duty_id: int) -> Duty:
    duty = store.duty(duty_id)
    if duty.state != "pending":
        raise UserError(f"duty #{duty_id} is {duty.state}, not pending")
    store.mark_done(duty_id, when=now, evidence="marked done by you")
    replan(store, settings, now)
    return store.duty(duty_id)


def snooze(store: Store, settings: Settings, now: datetime, duty_id: int, to: str) -> datetime:
    """Move a duty to TO (a day keeps the duty's time of day); returns the new due time."""
    duty = store.duty(duty_id)
    if duty.state == "cancelled":
        raise UserError(f"duty #{duty_id} is cancelled")
    tz = settings.timezone
    moment = parse_moment(to, tz, default_time=duty.due.astimezone(tz).time())
    store.snooze(duty_id, moment)
    replan(store, settings, now)
    return moment


def pending_duties(store: Store) -> list[Duty]:
    return store.duties(state=DutyState.PENDING)


# --- forgetting


def forget(store: Store, settings: Settings, now: datetime, target: Organization | Contact) -> None:
    """Remove an organization or a contact (from `resolve`) with all their records."""
    if isinstance(target, Organization):
        store.forget_organization(target.id)
    else:
        store.forget_contact(target.id)
    replan(store, settings, now)


def replan(store: Store, settings: Settings, now: datetime) -> None:
    """After a change by hand, duties follow at once; events reach the calendar on the next run."""
    from pursuit.daemon.jobs import plan  # the planner is not needed by read-only commands

    plan(store, settings, settings.calendar.kind, now)


# --- people


def _parsed_person(text: str) -> tuple[str, str]:
    """ "Name <address>" or an address, as `interview add --with` takes it."""
    try:
        return _person(text)
    except UserError as exc:
        raise UserError([p.removeprefix("--with ") for p in exc.problems]) from None


def _clean_name(name: str) -> str:
    if any(c in name for c in "\r\n"):
        raise UserError(f"{name!r}: a name is one line")
    if not name.strip():
        raise UserError("the name is empty")
    return name.strip()


@dataclass(frozen=True)
class ContactAdded:
    contact: Contact
    created: bool  # False: the address was known already
    organization: Organization | None
    linked: bool  # the person is now also at the organization


def add_contact(
    store: Store,
    now: datetime,
    person: str,
    *,
    organization: str | None = None,
    role: str | None = None,
) -> ContactAdded:
    """Know a person without an interview; a known one is added to another organization."""
    name, address = _parsed_person(person)
    org = store.find_organization(organization) if organization else None
    with store.transaction():
        known = store.contact_by_address(address)
        contact = store.ensure_contact(address, name, None, role=role)
        linked = org is not None and store.link_contact(contact.id, org.id, role=role, since=now)
    return ContactAdded(store.contact(contact.id), known is None, org, linked)


def rename_contact(store: Store, contact: str, name: str) -> tuple[str, Contact]:
    """Give a person their right name; returns the old name and the contact renamed."""
    found = store.find_contact(contact)
    store.rename_contact(found.id, _clean_name(name))
    return found.display, store.contact(found.id)


def add_address(store: Store, contact: str, address: str) -> Contact:
    """Another address of the same person, so mail from it is theirs."""
    found = store.find_contact(contact)
    _, clean = _parsed_person(address)
    store.add_address(found.id, clean)
    return store.contact(found.id)


def add_person_to_interview(
    store: Store, settings: Settings, now: datetime, interview_id: int, person: str
) -> Contact:
    """Someone joins an interview (named after it was recorded); their duties are planned."""
    found = store.interview(interview_id)
    name, address = _parsed_person(person)
    with store.transaction():
        contact = store.ensure_contact(address, name, found.organization_id, role="interviewer")
        if not store.add_interviewer(interview_id, contact.id):
            raise UserError(f"{contact.display} is already in interview #{interview_id}")
    replan(store, settings, now)
    return store.contact(contact.id)


def remove_person_from_interview(
    store: Store, settings: Settings, now: datetime, interview_id: int, person: str
) -> Contact:
    """Someone was not in the interview after all; their duties for it are cancelled."""
    store.interview(interview_id)
    contact = store.find_contact(person)
    if not store.remove_interviewer(interview_id, contact.id):
        raise UserError(f"{contact.display} is not in interview #{interview_id}")
    replan(store, settings, now)
    return contact
