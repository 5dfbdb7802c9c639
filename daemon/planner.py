"""The planner: duties from interviews, and calendar events from duties.

Pure functions of the records and the clock, in the user's time zone. The jobs
module applies their result to the store; nothing here reads or writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pursuit.config.settings import PlannerSettings
from pursuit.daemon.models import (
    Contact,
    Correspondence,
    Direction,
    Duty,
    DutyKind,
    DutyState,
    Interview,
    Organization,
    OrgStatus,
)

CLOSING_STATUSES = (OrgStatus.OFFER, OrgStatus.WITHDRAWN, OrgStatus.CLOSED, OrgStatus.REJECTED)


@dataclass(frozen=True)
class PlannedDuty:
    key: str
    kind: DutyKind
    organization_id: int
    contact_id: int | None
    interview_id: int | None
    due: datetime


@dataclass(frozen=True)
class PlannedEvent:
    """What a managed calendar event should say; the store adds sequence and stamp."""

    key: str
    duty_ids: tuple[int, ...]
    start: datetime
    end: datetime
    summary: str
    description: str
    reminder_minutes: int


def at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """A wall-clock time on a day in the user's zone (DST handled by zoneinfo)."""
    return datetime.combine(day, clock, tzinfo=tz)


def thank_you_due(interview: Interview, rules: PlannerSettings, tz: ZoneInfo) -> datetime:
    start, end = interview.start.astimezone(tz), interview.end.astimezone(tz)
    if start.time() == end.time() == time(0) and end > start:
        # An all-day interview (an onsite) ends at the midnight after its last day:
        # the thank-you is that day's evening, not the next day's.
        return at_local(end.date() - timedelta(days=1), rules.thank_you_time, tz)
    if end.time() > rules.late_interview_after:
        return at_local(end.date() + timedelta(days=1), rules.thank_you_next_morning, tz)
    return at_local(end.date(), rules.thank_you_time, tz)


def next_working_day(day: date, rules: PlannerSettings) -> date:
    """`day` itself if it is a working day, else the first working day after it."""
    for ahead in range(7):
        candidate = day + timedelta(days=ahead)
        if candidate.weekday() in rules.working_days:
            return candidate
    return day  # no working day at all: the config refuses that, nothing moves


def follow_up_due(
    interview: Interview, promised: date | None, rules: PlannerSettings, tz: ZoneInfo
) -> datetime:
    """The day promised, as the user gave it, else the delay's next working day.

    A promise that the interview has since moved past (a calendar edit) no longer holds.
    """
    if promised is not None and promised >= interview.start.astimezone(tz).date():
        return at_local(promised, rules.follow_up_time, tz)
    day = interview.start.astimezone(tz).date() + rules.follow_up_delay
    return at_local(next_working_day(day, rules), rules.follow_up_time, tz)


def check_in_due(rejected_on: date, rules: PlannerSettings, tz: ZoneInfo) -> datetime:
    day = next_working_day(rejected_on + rules.check_in_delay, rules)
    return at_local(day, rules.follow_up_time, tz)


def plan_duties(
    organizations: Iterable[Organization],
    interviews: Iterable[Interview],
    contacts: Iterable[Contact],
    rules: PlannerSettings,
    tz: ZoneInfo,
) -> list[PlannedDuty]:
    """Every duty that should exist now. Pending duties not listed get cancelled."""
    orgs = {o.id: o for o in organizations}
    live = [i for i in interviews if not i.cancelled and i.organization_id in orgs]
    planned: list[PlannedDuty] = []
    # (person or None for "nobody named", organization) -> the latest interview, promise
    latest_with: dict[tuple[int | None, int], tuple[Interview, date | None]] = {}
    for interview in sorted(live, key=lambda i: (i.start, i.id)):
        if orgs[interview.organization_id].status != OrgStatus.ACTIVE:
            continue
        if not interview.interviewers:
            # Nobody named yet: the follow-up is with the organization itself.
            latest_with[(None, interview.organization_id)] = (interview, None)
        for person in interview.interviewers:
            planned.append(
                PlannedDuty(
                    key=f"thank_you:{interview.id}:{person.contact.id}",
                    kind=DutyKind.THANK_YOU,
                    organization_id=interview.organization_id,
                    contact_id=person.contact.id,
                    interview_id=interview.id,
                    due=thank_you_due(interview, rules, tz),
                )
            )
            latest_with[(person.contact.id, interview.organization_id)] = (
                interview,
                person.promised,
            )
    # One follow-up per person and organization, from the latest interview there:
    # a recruiter presenting you to two organizations owes you two answers.
    for (contact_id, _), (interview, promised) in latest_with.items():
        planned.append(
            PlannedDuty(
                key=f"follow_up:{interview.id}:{'org' if contact_id is None else contact_id}",
                kind=DutyKind.FOLLOW_UP,
                organization_id=interview.organization_id,
                contact_id=contact_id,
                interview_id=interview.id,
                due=follow_up_due(interview, promised, rules, tz),
            )
        )
    by_org: dict[int, list[Contact]] = {}
    for contact in contacts:
        for org_id in contact.organization_ids:
            by_org.setdefault(org_id, []).append(contact)
    for org in orgs.values():
        if org.status != OrgStatus.REJECTED:
            continue
        rejected_on = org.status_changed.astimezone(tz).date()
        planned.append(
            PlannedDuty(
                key=f"check_in:{org.id}:{rejected_on.isoformat()}",
                kind=DutyKind.CHECK_IN,
                organization_id=org.id,
                contact_id=_check_in_contact(org.id, live, by_org.get(org.id, [])),
                interview_id=None,
                due=check_in_due(rejected_on, rules, tz),
            )
        )
    return planned


def _check_in_contact(
    org_id: int, interviews: Sequence[Interview], people: list[Contact]
) -> int | None:
    """Whom to check in with: the recruiter, else the last interviewer, else anyone."""
    for contact in people:
        if contact.role_at(org_id) == "recruiter":
            return contact.id
    for interview in sorted(interviews, key=lambda i: i.start, reverse=True):
        if interview.organization_id == org_id and interview.interviewers:
            return interview.interviewers[0].contact.id
    return people[0].id if people else None


# --- events


@dataclass(frozen=True)
class EventContext:
    """Everything the event texts draw on, looked up by the caller."""

    organizations: dict[int, Organization]
    contacts: dict[int, Contact]
    interviews: dict[int, Interview]
    last_correspondence: Callable[[int], Correspondence | None]
    since_interview: Callable[[int, datetime], list[str]]
    tz: ZoneInfo


def plan_events(
    duties: Iterable[Duty], ctx: EventContext, rules: PlannerSettings
) -> list[PlannedEvent]:
    """One event per interview for its thank-you notes, one per follow-up and check-in."""
    live = [d for d in duties if d.state != DutyState.CANCELLED]
    thank_yous: dict[int, list[Duty]] = {}
    events: list[PlannedEvent] = []
    for duty in live:
        if duty.kind == DutyKind.THANK_YOU and duty.interview_id is not None:
            thank_yous.setdefault(duty.interview_id, []).append(duty)
        elif duty.kind in (DutyKind.FOLLOW_UP, DutyKind.CHECK_IN):
            events.append(_follow_up_event(duty, ctx, rules))
    for interview_id, group in thank_yous.items():
        events.append(_thank_you_event(interview_id, group, ctx, rules))
    return sorted(events, key=lambda e: (e.start, e.key))


def _names(contact_ids: Iterable[int | None], ctx: EventContext) -> str:
    return ", ".join(ctx.contacts[c].display for c in contact_ids if c in ctx.contacts)


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


def _thank_you_event(
    interview_id: int, group: list[Duty], ctx: EventContext, rules: PlannerSettings
) -> PlannedEvent:
    group.sort(key=lambda d: d.id)
    interview = ctx.interviews[interview_id]
    org = ctx.organizations[interview.organization_id]
    names = _names((d.contact_id for d in group), ctx)
    all_done = all(d.state == DutyState.DONE for d in group)
    summary = (
        f"Thank-you notes sent: {org.name} ({names})"
        if all_done
        else f"Send thank-you notes: {org.name} ({names})"
    )
    notes = {p.contact.id: p.notes for p in interview.interviewers}
    lines_for_them = {p.contact.id: p.thank_you for p in interview.interviewers}
    lines = [
        f"Interview: {_when(interview.start, ctx.tz)}"
        + (f", {interview.position}" if interview.position else ""),
        "",
    ]
    for duty in group:
        contact = ctx.contacts.get(duty.contact_id or -1)
        if contact is None:
            continue
        state = "sent" if duty.state == DutyState.DONE else "to send"
        if duty.state != DutyState.DONE and duty.snoozed:
            state += f" (snoozed to {_when(duty.due, ctx.tz)})"
        lines.append(f"- {contact.display} <{contact.address}>: {state}")
        for noted in notes.get(contact.id, ()):
            lines.append(f"  You noted: {noted}")
        if lines_for_them.get(contact.id):
            lines.append(f"  Your line for the thank-you: {lines_for_them[contact.id]}")
    # The event is when the next note is to be written: a snoozed or sent one
    # does not hold it at an earlier time.
    start = min(d.due for d in [d for d in group if d.state != "done"] or group)
    return PlannedEvent(
        key=f"thank_you:{interview_id}",
        duty_ids=tuple(d.id for d in group),
        start=start,
        end=start + rules.event_duration,
        summary=summary,
        description="\n".join(lines),
        reminder_minutes=int(rules.reminder.total_seconds() // 60),
    )


def _follow_up_event(duty: Duty, ctx: EventContext, rules: PlannerSettings) -> PlannedEvent:
    org = ctx.organizations[duty.organization_id]
    contact = ctx.contacts.get(duty.contact_id or -1)
    who = contact.display if contact else org.name
    interview = ctx.interviews.get(duty.interview_id or -1)
    if duty.kind == DutyKind.FOLLOW_UP:
        verb = "Followed up with" if duty.state == DutyState.DONE else "Follow up with"
        summary = f"{verb} {who} ({org.name})" if contact else f"{verb} {org.name}"
    else:
        verb = "Checked in with" if duty.state == DutyState.DONE else "Check in with"
        summary = f"{verb} {org.name}" + (f" ({who})" if contact else "")
    return PlannedEvent(
        key=duty.key,
        duty_ids=(duty.id,),
        start=duty.due,
        end=duty.due + rules.event_duration,
        summary=summary,
        description=talking_points(duty, org, contact, interview, ctx),
        reminder_minutes=int(rules.reminder.total_seconds() // 60),
    )


def talking_points(
    duty: Duty,
    org: Organization,
    contact: Contact | None,
    interview: Interview | None,
    ctx: EventContext,
) -> str:
    position = (interview.position if interview else None) or ", ".join(org.positions) or None
    lines: list[str] = []
    if contact:
        lines.append(f"With: {contact.display} <{contact.address}>")
    if position:
        lines.append(f"Position: {position}")
    if interview:
        people = ", ".join(p.contact.display for p in interview.interviewers) or "nobody named"
        lines.append(f"Interview: {_when(interview.start, ctx.tz)} with {people}")
        for person in interview.interviewers:
            if contact and person.contact.id == contact.id:
                # every note, oldest first
                lines.extend(f"Your notes: {noted}" for noted in person.notes)
    last = ctx.last_correspondence(contact.id) if contact else None
    if last is not None:
        arrow = "from you" if last.direction == Direction.OUT else "to you"
        subject = f' "{last.subject}"' if last.subject else ""
        lines.append(
            f"Last correspondence: {last.date.astimezone(ctx.tz):%d %b %Y}, "
            f"{last.channel} {arrow}{subject}"
        )
    since = interview.start if interview else org.status_changed
    news = ctx.since_interview(org.id, since)
    if news:
        lines.append("")
        lines.append("Since then:")
        lines.extend(f"- {item}" for item in news)
    lines.append("")
    lines.append("Ask:")
    if duty.kind == DutyKind.CHECK_IN:
        lines.append("- Have new positions opened that would fit me?")
        lines.append("- Could I be considered again?")
    else:
        lines.append("- Has a decision been made?")
        lines.append(
            f"- Am I still being considered for the {position} role?"
            if position
            else "- Am I still being considered?"
        )
        lines.append("- Are there other open positions that would fit me?")
    if duty.state == DutyState.DONE and duty.evidence:
        lines.append("")
        lines.append(f"Done: {duty.evidence}")
    return "\n".join(lines)
