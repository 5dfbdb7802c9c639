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
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pursuit.config.settings import parse_domain
from pursuit.daemon.addresses import check_name, other_form, parse_person
from pursuit.daemon.dates import parse_day, parse_moment, parse_offset
from pursuit.daemon.errors import AmbiguousName, UserError
from pursuit.daemon.interviews import (
    position_of,
    quoted_name,
    reopen_for_interview,
    where_given,
)
from pursuit.daemon.matcher import organization_named
from pursuit.daemon.models import (
    Channel,
    Contact,
    Direction,
    Duty,
    DutyKind,
    DutyState,
    Interview,
    NoteKind,
    Organization,
    OrgStatus,
)
from pursuit.daemon.planner import next_working_day
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
        contact_exact = "@" in name or contact.name.casefold() == folded  # an address is exact
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


@dataclass(frozen=True)
class AddedOrganization:
    organization: Organization
    existed: bool  # it was tracked already
    new_domains: tuple[str, ...]
    new_positions: tuple[str, ...]


def add_organization(
    store: Store, name: str, domains: Iterable[str], positions: Iterable[str], *, now: datetime
) -> AddedOrganization:
    """Track an organization, or add domains and positions to a tracked one.

    Positions are added to those already known, never replacing them.
    """
    name = check_name(name, "organization name")
    if not name:
        raise UserError("the organization's name is empty")
    # The same validation as the config file, so both paths accept the same domains.
    problems: list[str] = []
    clean: list[str] = []
    for domain in domains:
        try:
            clean.append(parse_domain(domain))
        except ValueError as exc:
            problems.append(f"--domain {domain!r}: {exc}")
    wanted_positions: list[str] = []
    for position in positions:
        try:
            wanted_positions.append(check_name(position, "--position"))
        except UserError as exc:
            problems.extend(exc.problems)
    if problems:
        raise UserError(problems)
    existing = next(
        (o for o in store.organizations() if o.name.casefold() == name.casefold()), None
    )
    known_positions = list(existing.positions) if existing else []
    new_positions = tuple(
        dict.fromkeys(p for p in wanted_positions if p and p not in known_positions)
    )
    new_domains = tuple(
        dict.fromkeys(d for d in clean if existing is None or d not in existing.domains)
    )
    stored = store.add_organization(
        existing.name if existing else name,
        clean,
        tuple(known_positions) + new_positions if new_positions else (),
        now=now,
    )
    return AddedOrganization(stored, existing is not None, new_domains, new_positions)


def set_status(
    store: Store, settings: Settings, now: datetime, name: str, status: str
) -> Organization:
    """Set where a pursuit stands; the planner cancels or plans duties to match."""
    found = store.find_organization(name)
    if found.status == status and found.flag is None:
        return found  # said twice: nothing changes, the status keeps its date
    with store.transaction():  # the status and its consequences, or neither
        store.set_organization_status(found.id, OrgStatus(status), now=now)
        replan(store, settings, now)
    return store.organization(found.id)


def status_words(settings: Settings, before: Organization, status: str) -> str:
    """What setting BEFORE to STATUS does, in the words `org status` prints after it
    and the dashboard shows before it asks to confirm."""
    if before.status == status and before.flag is None:
        return f"{before.name} is already {status} (since {before.status_changed:%d %b %Y})"
    message = f"{before.name}: {status}"
    if status == OrgStatus.REJECTED:
        delay = settings.planner.check_in_delay.days
        message += f"; pending duties cancelled, a check-in is planned in {delay} days"
    elif status != OrgStatus.ACTIVE:
        message += "; pending duties cancelled"
    return message


# --- interviews


@dataclass(frozen=True)
class ScheduledInterview:
    id: int
    organization: Organization
    start: datetime
    interviewers: tuple[Contact, ...]
    already: bool = False  # the same interview was recorded before: nothing added
    notice: str | None = None  # what became of a closed organization, said plainly
    location: str | None = None  # the place given with --where
    meeting_link: str | None = None  # the link given with --where


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
    where: str | None = None,
) -> ScheduledInterview:
    """Record an interview; its interviewers become contacts of the organization.
    `where` is a place or a link to join by (http or https), or both."""
    tz = settings.timezone
    found = store.find_organization(organization)
    place = where_given(where or "")
    begins = parse_moment(start, tz)
    ends = parse_moment(end, tz) if end else begins + timedelta(hours=1)
    if ends <= begins:
        raise UserError(f"--end {end!r} is not after --at {start!r}")
    persons = _people(store, people)
    same = _same_interview(store, found.id, begins, ends if end else None, persons)
    if same is not None:
        return ScheduledInterview(
            same.id, found, begins, tuple(p.contact for p in same.interviewers), already=True
        )
    with store.transaction():
        contacts = tuple(
            store.ensure_contact(address, person_name, found.id, role="interviewer")
            for person_name, address in persons
        )
        interview_id = store.add_interview(
            found.id,
            begins,
            ends,
            [c.id for c in contacts],
            position=position or position_of(found),
            location=place.location,
            meeting_link=place.meeting_link,
        )
        notice = reopen_for_interview(store, found, begins, now)
        replan(store, settings, now)
    return ScheduledInterview(
        interview_id,
        store.organization(found.id),
        begins,
        contacts,
        notice=notice,
        location=place.location,
        meeting_link=place.meeting_link,
    )


def _people(store: Store, people: Iterable[str]) -> list[tuple[str, str]]:
    """Each --with as (name, address); every bad one is named at once. An address
    known in its other form (Unicode or ASCII domain) is the known contact."""
    problems: list[str] = []
    persons: list[tuple[str, str]] = []
    for text in people:
        try:
            name, address = parse_person(text)
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        persons.append((name, _known_address(store, address)))
    if problems:
        raise UserError(problems)
    return persons


def _known_address(store: Store, address: str) -> str:
    if store.contact_by_address(address) is None:
        other = other_form(address)
        if other is not None and store.contact_by_address(other) is not None:
            return other
    return address


def _same_interview(
    store: Store,
    org_id: int,
    start: datetime,
    end: datetime | None,
    persons: list[tuple[str, str]],
) -> Interview | None:
    """The live interview this command already recorded: the same start, and no one
    named who is not on it (typed again with fewer people, it is still that interview:
    a second one would double their thank-yous)."""
    addresses = {address for _, address in persons}
    for interview in store.interviews(org_id, include_cancelled=False):
        if interview.start != start or (end is not None and interview.end != end):
            continue
        if {a for p in interview.interviewers for a in p.contact.addresses} >= addresses:
            return interview
    return None


@dataclass(frozen=True)
class MovedInterview:
    start: datetime
    #: What moved with it, in words: a promise or a snoozed duty that would have
    #: fallen before the interview.
    changes: tuple[str, ...] = ()


def move_interview(
    store: Store,
    settings: Settings,
    now: datetime,
    interview_id: int,
    *,
    start: str,
    end: str | None = None,
) -> MovedInterview:
    """Move an interview (keeping its length unless END is given).

    Nothing that depends on it is left before it: a promised follow-up day that
    would now come before the interview moves by as many days as the interview (to
    the next working day, `[planner] working_days`), and a duty snoozed to before its
    end is planned again from the new time.
    """
    tz = settings.timezone
    found = store.interview(interview_id)
    begins = parse_moment(start, tz)
    ends = parse_moment(end, tz) if end else begins + (found.end - found.start)
    if ends <= begins:
        raise UserError(f"--end {end!r} is not after --at {start!r}")
    old_day = found.start.astimezone(tz).date()
    new_day = begins.astimezone(tz).date()
    changes: list[str] = []
    with store.transaction():
        for person in found.interviewers:
            who = person.contact.display
            if person.promised is not None and person.promised < new_day:
                # Moved by pursuit, not said by the user: a working day, as planned days are.
                moved = next_working_day(
                    max(person.promised + (new_day - old_day), new_day), settings.planner
                )
                store.set_interviewer(interview_id, person.contact.id, promised=moved)
                changes.append(
                    f"the follow-up promised to {who} for {person.promised:%a %d %b} would "
                    f"come before the interview: moved to {moved:%a %d %b} "
                    f"(change it with `pursuit commit {person.contact.address} --on DAY`)"
                )
            for kind in ("thank_you", "follow_up"):
                duty = store.duty_by_key(f"{kind}:{interview_id}:{person.contact.id}")
                if duty and duty.state == "pending" and duty.snoozed and duty.due < ends:
                    store.clear_snooze(duty.id)
                    changes.append(
                        f"duty #{duty.id} ({_kind_words(kind)} to {who}) was snoozed to "
                        f"{duty.due.astimezone(tz):%a %d %b %H:%M}, before the interview: "
                        "planned again from the new time"
                    )
        store.move_interview(interview_id, begins, ends)
        replan(store, settings, now)
    return MovedInterview(begins, tuple(changes))


def cancel_interview(store: Store, settings: Settings, now: datetime, interview_id: int) -> bool:
    """Cancel an interview; False when it was cancelled already."""
    found = store.interview(interview_id)  # an unknown id is the user's error, said as such
    if found.cancelled:
        return False
    with store.transaction():
        store.cancel_interview(interview_id)
        replan(store, settings, now)
    return True


@dataclass(frozen=True)
class RestoredInterview:
    interview: Interview
    already: bool  # it was not cancelled
    pending: tuple[Duty, ...]  # its duties planned again
    why_not: str | None = None  # why no duty came back, if none did


def restore_interview(
    store: Store, settings: Settings, now: datetime, interview_id: int
) -> RestoredInterview:
    """Undo a cancellation: the interview counts again, its duties are planned again."""
    found = store.interview(interview_id)
    if not found.cancelled:
        return RestoredInterview(found, True, ())
    with store.transaction():
        store.restore_interview(interview_id)
        replan(store, settings, now)
    pending = tuple(
        duty
        for person in found.interviewers
        for kind in ("thank_you", "follow_up")
        if (duty := store.duty_by_key(f"{kind}:{interview_id}:{person.contact.id}"))
        and duty.state == "pending"
    )
    why_not = None
    if not pending:
        org = store.organization(found.organization_id)
        if org.status != "active":
            why_not = (
                f'{org.name} is {org.status} (`pursuit org status "{org.name}" active` '
                "plans them again)"
            )
        elif not found.interviewers:
            why_not = "nobody is named for it, so no thank-you or follow-up is planned"
        else:
            why_not = "its duties are done or belong to a later interview"
    return RestoredInterview(store.interview(interview_id), False, pending, why_not)


def _kind_words(kind: str) -> str:
    return {"thank_you": "thank-you", "follow_up": "follow-up", "check_in": "check-in"}[kind]


# --- what was said with whom


@dataclass(frozen=True)
class Promise:
    contact: Contact
    day: date
    #: The follow-up as planned after the promise (None when none is planned).
    follow_up: Duty | None = None
    already: bool = False  # the same day was promised before
    #: Why the promised day is not when the follow-up is due, in words.
    instead: str | None = None
    #: The organization pursuit chose among the person's several (see `Chosen`).
    chose: Chosen | None = None


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
    """The day you promised CONTACT to follow up: ON_DAY (a weekday is the next one from
    today, as in every command), or AFTER the interview. A day before the interview, or
    in the past, is refused: a promise is of a day to come."""
    if bool(on_day) == bool(after):
        raise UserError("give exactly one of --on DATE or --in DURATION")
    tz = settings.timezone
    found, interview_id = _latest_interview(store, contact, organization)
    interview_day = store.interview(interview_id).start.astimezone(tz).date()
    today = now.astimezone(tz).date()
    if on_day:
        typed, day = repr(on_day), parse_day(on_day, today)
    else:
        typed = f"{after!r} after the interview of {interview_day:%a %d %b}"
        day = interview_day + parse_offset(after or "")
    if day < interview_day:
        raise UserError(
            f"{typed}: {day:%a %d %b %Y} is before the interview ({interview_day:%a %d %b %Y})"
        )
    if day < today:
        raise UserError(
            f"{typed}: {day:%a %d %b %Y} is in the past; a promise is of a day to come "
            f"(friday, {today + timedelta(days=7)}); a follow-up already made is "
            f'logged: `pursuit log email {found.address} "..."`'
        )
    key = f"follow_up:{interview_id}:{found.id}"
    before = store.duty_by_key(key)
    interview = store.interview(interview_id)
    promised_before = next(
        (p.promised for p in interview.interviewers if p.contact.id == found.id), None
    )
    snoozed = before is not None and before.state == "pending" and before.snoozed
    if promised_before != day or before is None or snoozed:  # said again: nothing to do
        with store.transaction():
            if snoozed and before is not None:
                store.clear_snooze(before.id)  # the promise is the newer word: it wins
            store.set_interviewer(interview_id, found.id, promised=day, now=now)
            replan(store, settings, now)
    duty = store.duty_by_key(key)
    already = promised_before == day and before is not None and before == duty
    instead = _why_not_due(store, duty, day, interview, tz)
    chose = None
    if organization is None:
        chose = _chose(
            store, found, interview.organization_id, "the organization of their latest interview"
        )
    return Promise(found, day, duty, already, instead, chose)


def _why_not_due(
    store: Store, duty: Duty | None, day: date, interview: Interview, tz: ZoneInfo
) -> str | None:
    if duty is not None and duty.state == "pending":
        if duty.due.astimezone(tz).date() == day:
            return None
        return f"the follow-up is due {duty.due.astimezone(tz):%a %d %b %Y %H:%M}"
    if duty is not None and duty.state == "done":
        when = f" on {duty.done_at.astimezone(tz):%a %d %b %Y}" if duty.done_at else ""
        return (
            f"the follow-up is already done{when}, so nothing new is planned; "
            f"`pursuit reopen {duty.id}` plans it again for {day:%a %d %b %Y}"
        )
    org = store.organization(interview.organization_id)
    if org.status != "active":
        return (
            f"{org.name} is {org.status}, so no follow-up is planned; "
            f'`pursuit org status "{org.name}" active` plans it for {day:%a %d %b %Y}'
        )
    return "no follow-up is planned for this interview"


def note(
    store: Store,
    settings: Settings,
    now: datetime,
    contact: str,
    text: str,
    *,
    organization: str | None = None,
) -> Noted:
    """Add to the notes on CONTACT: at their latest interview (at ORGANIZATION), where the
    thank-you and the follow-up use them; a person not interviewed yet keeps it in their
    record. A second note adds, never replaces."""
    text = text.strip()
    if not text:
        raise UserError("the note is empty: write what you want to remember")
    found = store.find_contact(contact)
    org = _organization_of(store, found, organization)
    interview_id = store.latest_interview_with(found.id, org)
    at: int | None
    if interview_id is not None:
        at, why = store.interview(interview_id).organization_id, "of their latest interview"
    else:
        at = org or store.latest_organization_of(found.id)
        why = "of their latest message (or the first they were added to)"
    with store.transaction():
        if interview_id is not None:
            store.set_interviewer(interview_id, found.id, note=text, now=now)
        else:
            store.add_note(NoteKind.NOTE, text, now=now, organization_id=at, contact_id=found.id)
        replan(store, settings, now)
    chose = None if org else _chose(store, found, at, f"the organization {why}")
    return Noted(found, chose)


@dataclass(frozen=True)
class Noted:
    contact: Contact
    chose: Chosen | None = None  # the organization chosen among the person's several


@dataclass(frozen=True)
class ThankYouLine:
    contact: Contact
    duty: Duty  # the thank-you it goes into
    replaced: str | None  # the line given before for the same thank-you
    chose: Chosen | None = None  # the organization chosen among the person's several


def thank_you_line(
    store: Store,
    settings: Settings,
    now: datetime,
    contact: str,
    text: str,
    *,
    organization: str | None = None,
) -> ThankYouLine:
    """Give CONTACT's thank-you a line of your own, placed in the draft as written, on a
    line of its own (the latest line given counts; notes never reach a draft). It goes
    into their latest thank-you still to send, else the latest one."""
    text = text.strip()
    if not text:
        raise UserError("the line is empty: write what the thank-you should say")
    found, _ = _latest_interview(store, contact, organization)  # says how to add one
    org = _organization_of(store, found, organization)
    starts = {i.id: i.start for i in store.interviews(include_cancelled=False)}
    thanks = [
        d
        for d in store.duties(kinds=(DutyKind.THANK_YOU,), contact=found.id, organization=org)
        if d.interview_id in starts and d.state != DutyState.CANCELLED
    ]
    if not thanks:
        raise UserError(f"{found.display} has no thank-you to write: none is planned for them")
    duty = max(thanks, key=lambda d: (d.state == DutyState.PENDING, starts[d.interview_id or 0]))
    assert duty.interview_id is not None
    interview = store.interview(duty.interview_id)
    before = next(p.thank_you for p in interview.interviewers if p.contact.id == found.id)
    with store.transaction():
        store.set_interviewer(
            duty.interview_id, found.id, note=text, now=now, note_kind=NoteKind.THANK_YOU
        )
        replan(store, settings, now)
    why = "the organization of their latest thank-you" + (
        " still to send" if duty.state == DutyState.PENDING else ""
    )
    chose = None if org else _chose(store, found, duty.organization_id, why)
    return ThankYouLine(found, duty, before, chose)


@dataclass(frozen=True)
class Chosen:
    """The organization a command chose for someone at several, the user naming none."""

    organization: Organization
    why: str  # "named in what you logged", "the organization of their latest interview"...
    others: tuple[Organization, ...]  # the person's other organizations


def _chose(store: Store, contact: Contact, org_id: int | None, why: str) -> Chosen | None:
    """What to say of the choice of ORG_ID: nothing when the person has one organization."""
    if org_id is None or len(contact.organization_ids) < 2:
        return None
    others = tuple(store.organization(o) for o in contact.organization_ids if o != org_id)
    return Chosen(store.organization(org_id), why, others)


def _organization_of(store: Store, contact: Contact, organization: str | None) -> int | None:
    """The organization the user named, which must be one of the person's."""
    if organization is None:
        return None
    org = store.find_organization(organization)
    if org.id not in contact.organization_ids:
        raise UserError(
            f"{contact.display} is not at {org.name} (add them: "
            f"`pursuit contact add {contact.address} --org {quoted_name(org.name)}`)"
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


#: The same entry logged again within this time is the same entry, typed twice.
#: A time typed for a log may run a little ahead of the clock, never more.
LOG_AHEAD_AT_MOST = timedelta(hours=1)
SAME_ENTRY_WITHIN = timedelta(minutes=1)


@dataclass(frozen=True)
class Logged:
    contact: Contact
    when: datetime
    already: bool = False  # the same entry was logged a moment before: not logged twice
    fulfilled: tuple[Duty, ...] = ()  # duties this entry marked done
    #: The organization pursuit chose among the person's several, and why (None when
    #: the user named it or the person has one).
    chose: Chosen | None = None


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
    organization: str | None = None,
) -> Logged:
    """Log a call, an email or a note with CONTACT (at WHEN, default now), about
    ORGANIZATION for someone at several (else the one TEXT names, else the one of their
    latest interview or message: said in `Logged.chose`).

    It takes effect at once: an email you sent after an interview is that
    person's thank-you (then follow-up), as mail found by the service is; a call
    you made after an interview is that person's follow-up. Either only at the
    organization it is about.
    """
    found = store.find_contact(contact)
    org_id = _organization_of(store, found, organization)
    chose = None
    if org_id is None:
        org_id = organization_named(
            {o: store.organization(o).name for o in found.organization_ids}, text
        )
        why = "named in what you logged"
        if org_id is None:
            org_id = store.latest_organization_of(found.id)
            why = "the organization of their latest interview or message"
        chose = _chose(store, found, org_id, why)
    moment = parse_moment(when, settings.timezone) if when else now
    if moment > now + LOG_AHEAD_AT_MOST:  # a log is of what happened: a later time is a typo
        raise UserError(
            f"{when!r} ({moment:%a %d %b %Y %H:%M}) is in the future; log what has "
            "happened, and plan what is to come (`pursuit interview add`, `pursuit commit`)"
        )
    direction = Direction.IN if inbound else Direction.OUT
    for earlier in store.correspondence(contact_id=found.id, since=moment - SAME_ENTRY_WITHIN):
        if (
            earlier.channel == channel
            and earlier.direction == direction
            and earlier.subject == text
            and abs(earlier.date - moment) <= SAME_ENTRY_WITHIN
        ):
            return Logged(found, earlier.date, already=True, chose=chose)
    message_id = f"<manual-{uuid.uuid4()}@pursuit>"
    pending_before = {d.id for d in pending_duties(store)}
    with store.transaction():
        store.log_correspondence(
            message_id=message_id,
            direction=direction,
            when=moment,
            channel=Channel(channel),
            organization_id=org_id,
            contact_ids=[found.id],
            subject=text,
            people=found.addresses,
        )
        if channel == "call" and not inbound:
            _call_fulfils_follow_up(
                store, found, org_id, moment, text, message_id, settings.timezone
            )
        replan(store, settings, now)  # a sent email fulfils the duty it answers
    fulfilled = tuple(
        duty for duty_id in sorted(pending_before) if (duty := store.duty(duty_id)).state == "done"
    )
    return Logged(found, moment, fulfilled=fulfilled, chose=chose)


def _call_fulfils_follow_up(
    store: Store,
    contact: Contact,
    org_id: int | None,
    moment: datetime,
    text: str,
    message_id: str,
    tz: ZoneInfo,
) -> None:
    interview_id = store.latest_interview_with(contact.id, org_id)
    if interview_id is None or store.interview(interview_id).start > moment:
        return
    duty = store.duty_by_key(f"follow_up:{interview_id}:{contact.id}")
    if duty is not None and duty.state == "pending":
        store.mark_done(
            duty.id,
            when=moment,
            evidence=f'called: "{text}" on {moment.astimezone(tz):%Y-%m-%d %H:%M %Z}',
            message_id=message_id,
        )


# --- duties


def mark_done(store: Store, settings: Settings, now: datetime, duty_id: int) -> tuple[Duty, bool]:
    """Mark a duty done; returns it and whether it was done already (nothing changes then)."""
    duty = store.duty(duty_id)
    if duty.state == "done":
        return duty, True
    if duty.state == "cancelled":
        raise UserError(f"duty #{duty_id} is cancelled: {why_cancelled(store, duty)}")
    with store.transaction():
        store.mark_done(duty_id, when=now, evidence="marked done by you")
        replan(store, settings, now)
    return store.duty(duty_id), False


#: What a duty sent outside pursuit is logged as (`mark_sent`): its kind's word.
SENT_WORDS = {
    DutyKind.THANK_YOU: "thank-you",
    DutyKind.FOLLOW_UP: "follow-up",
    DutyKind.CHECK_IN: "check-in",
}


def mark_sent(store: Store, settings: Settings, now: datetime, duty_id: int) -> tuple[Duty, bool]:
    """The user sent a duty's message outside pursuit's sight (another mailbox, a phone):
    logged as an email sent now to the duty's person, and the duty done with that entry
    as its evidence, so the entry fulfils this duty and no other. Returns the duty and
    whether it was done already (nothing changes then)."""
    duty = store.duty(duty_id)
    if duty.state == "done":
        return duty, True
    if duty.state == "cancelled":
        raise UserError(f"duty #{duty_id} is cancelled: {why_cancelled(store, duty)}")
    contact = store.contact(duty.contact_id) if duty.contact_id is not None else None
    message_id = f"<manual-{uuid.uuid4()}@pursuit>"
    with store.transaction():
        store.log_correspondence(
            message_id=message_id,
            direction=Direction.OUT,
            when=now,
            channel=Channel.EMAIL,
            organization_id=duty.organization_id,
            contact_ids=[contact.id] if contact else [],
            subject=f"{SENT_WORDS[duty.kind]} sent (marked by you)",
            people=contact.addresses if contact else (),
        )
        store.mark_done(duty_id, when=now, evidence="sent by you", message_id=message_id)
        replan(store, settings, now)
    return store.duty(duty_id), False


# What a change to a duty did, in the words `pursuit done`, `reopen` and `snooze` print
# and the dashboard shows after it.


def done_words(duty: Duty, already: bool, tz: ZoneInfo, *, sent: bool = False) -> str:
    if already:
        when = duty.done_at.astimezone(tz) if duty.done_at else None
        return (
            f"Duty #{duty.id} was already done"
            + (f" on {when:%a %d %b %Y %H:%M}" if when else "")
            + (f" ({duty.evidence})" if duty.evidence else "")
        )
    return f"Duty #{duty.id} done" + (": sent by you, logged as an email" if sent else "")


def reopen_words(duty: Duty, already: bool, tz: ZoneInfo) -> str:
    due = duty.due.astimezone(tz)
    again = "already" if already else "again"
    return f"Duty #{duty.id} is pending {again}, due {due:%a %d %b %Y %H:%M}"


def snoozed_words(duty_id: int, moment: datetime) -> str:
    return f"Duty #{duty_id} now due {moment:%a %d %b %Y %H:%M}"


def snooze(store: Store, settings: Settings, now: datetime, duty_id: int, to: str) -> datetime:
    """Move a pending duty to TO, later than now (a day keeps the duty's time of day);
    returns the new due time. A done or cancelled duty is refused: see `reopen`."""
    duty = store.duty(duty_id)
    tz = settings.timezone
    if duty.state == "done":
        when = f" on {duty.done_at.astimezone(tz):%a %d %b %Y}" if duty.done_at else ""
        raise UserError(
            f"duty #{duty_id} is done{when}; to do it again, reopen it first: "
            f"`pursuit reopen {duty_id}`"
        )
    if duty.state == "cancelled":
        raise UserError(f"duty #{duty_id} is cancelled: {why_cancelled(store, duty)}")
    moment = parse_moment(to, tz, default_time=duty.due.astimezone(tz).time())
    if moment <= now:
        raise UserError(
            f"snooze to {to!r} ({moment:%a %d %b %Y %H:%M}): that is in the past; "
            "give a later day or time"
        )
    if duty.interview_id is not None:
        interview = store.interview(duty.interview_id)
        if moment < interview.end:
            raise UserError(
                f"snooze to {to!r} ({moment:%a %d %b %Y %H:%M}): that is before the end of its "
                "interview "
                f"(#{interview.id}, {interview.end.astimezone(tz):%a %d %b %Y %H:%M})"
            )
    with store.transaction():
        store.snooze(duty_id, moment)
        replan(store, settings, now)
    return moment


def reopen(store: Store, settings: Settings, now: datetime, duty_id: int) -> tuple[Duty, bool]:
    """A done duty pending again (at its planned time, or later with `snooze`); returns it
    and whether it was pending already."""
    duty = store.duty(duty_id)
    if duty.state == "pending":
        return duty, True
    if duty.state == "cancelled":
        raise UserError(f"duty #{duty_id} is cancelled: {why_cancelled(store, duty)}")
    with store.transaction():
        store.reopen_duty(duty_id)
        replan(store, settings, now)
    return store.duty(duty_id), False


def why_cancelled(store: Store, duty: Duty) -> str:
    """Why the planner no longer wants a duty, and what would bring it back."""
    org = store.organization(duty.organization_id)
    if duty.interview_id is not None:
        interview = store.interview(duty.interview_id)
        if interview.cancelled:
            return (
                f"its interview #{interview.id} was cancelled "
                f"(`pursuit interview restore {interview.id}` plans it again)"
            )
    if org.status != "active" and duty.kind != "check_in":
        return (
            f'{org.name} is {org.status} (`pursuit org status "{org.name}" active` plans it again)'
        )
    if duty.kind == "follow_up":
        return "a later interview with the same person has its own follow-up"
    return "it is no longer planned"


def pending_duties(store: Store) -> list[Duty]:
    return store.duties(state=DutyState.PENDING)


# --- forgetting


def forget(store: Store, settings: Settings, now: datetime, target: Organization | Contact) -> None:
    """Remove an organization or a contact (from `resolve`) with all their records."""
    with store.transaction():
        if isinstance(target, Organization):
            store.forget_organization(target.id)
        else:
            store.forget_contact(target.id)
        replan(store, settings, now)


# --- the calendar


def rebuild_lost_calendar_file(store: Store, settings: Settings, now: datetime) -> int:
    """A calendar file that is gone gets every pending event again on the next push."""
    if settings.calendar.kind != "ics" or settings.calendar.ics_file.exists():
        return 0
    from pursuit.daemon import outbox

    return outbox.queue_rebuild(store, settings.calendar.kind, now=now)


def replan(store: Store, settings: Settings, now: datetime) -> None:
    """After a change by hand, duties follow at once; events reach the calendar on the next run."""
    from pursuit.daemon.jobs import plan  # the planner is not needed by read-only commands

    plan(store, settings, settings.calendar.kind, now)


# --- people


def _parsed_person(text: str, what: str = "person") -> tuple[str, str]:
    """ "Name <address>" or an address, as `interview add --with` takes it."""
    return parse_person(text, what)


def _clean_name(name: str) -> str:
    name = check_name(name)
    if not name:
        raise UserError("the name is empty")
    return name


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
    address = _known_address(store, address)
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
    _, clean = _parsed_person(address, "address")
    store.add_address(found.id, _known_address(store, clean))
    return store.contact(found.id)


def add_person_to_interview(
    store: Store, settings: Settings, now: datetime, interview_id: int, person: str
) -> Contact:
    """Someone joins an interview (named after it was recorded); their duties are planned."""
    found = store.interview(interview_id)
    name, address = _parsed_person(person)
    address = _known_address(store, address)
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
    with store.transaction():
        if not store.remove_interviewer(interview_id, contact.id):
            raise UserError(f"{contact.display} is not in interview #{interview_id}")
        replan(store, settings, now)
    return contact
