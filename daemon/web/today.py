"""Today (`/`): what to do now, overdue first, and the changes made from there (a duty
done, snoozed, sent by hand, reopened), each through the use case the command line runs
(`daemon/actions.py`), with the words it prints.

Every list is read with a limit, and names are read once for all the rows: the page's
cost stays the same however many records the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request
from werkzeug.wrappers import Response

from pursuit.daemon import actions
from pursuit.daemon.app import App
from pursuit.daemon.errors import UserError
from pursuit.daemon.models import Contact, Duty, DutyKind, DutyState, Interview
from pursuit.daemon.views import KIND_LABELS, failing_feed_records, late_by
from pursuit.daemon.web.common import done, pursuit_app, writable_app

bp = Blueprint("today", __name__)

#: How many rows each list shows at most (the counts are whole).
OVERDUE_SHOWN = 25
TODAY_SHOWN = 25
NEXT_SHOWN = 5
DONE_SHOWN = 20
INTERVIEWS_SHOWN = 20
QUIET_SHOWN = 20
#: How far ahead the interviews are shown.
INTERVIEWS_AHEAD = timedelta(days=7)
#: The kinds of duty that are a message the user sends ("I sent it").
SENT_KINDS = (DutyKind.THANK_YOU, DutyKind.FOLLOW_UP)


@dataclass(frozen=True)
class DutyRow:
    id: int
    kind: str
    what: str  # "thank-you", "follow-up", "check-in"
    who: str | None  # the person, or None when the duty is with the organization
    organization: str
    organization_id: int
    interview_id: int | None
    due: datetime
    late: str | None  # "2 days late", for an overdue duty
    state: str
    done_at: datetime | None
    evidence: str | None

    @property
    def snooze_to(self) -> date:
        """The day after it is due: what the snooze field offers (tomorrow at the soonest)."""
        return self.due.date() + timedelta(days=1)

    @property
    def has_draft(self) -> bool:
        return self.kind == DutyKind.THANK_YOU and self.state == DutyState.PENDING

    @property
    def sendable(self) -> bool:
        return self.kind in SENT_KINDS and self.state == DutyState.PENDING


@dataclass(frozen=True)
class InterviewRow:
    id: int
    organization: str
    organization_id: int
    position: str | None
    start: datetime
    end: datetime
    people: tuple[str, ...]


@dataclass(frozen=True)
class QuietRow:
    organization: str
    organization_id: int
    due: datetime  # when the follow-up was due
    last: datetime | None  # the last exchange, if any


@bp.get("/")
def today() -> str:
    return render_template("today.html", **today_record(pursuit_app()))


def today_record(app: App) -> dict[str, Any]:
    """Everything Today shows, each list bounded."""
    store = app.store
    tz = app.settings.timezone
    now = app.now().astimezone(tz)
    midnight = datetime.combine(now.date(), time(), tzinfo=tz)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=tz)
    pending = DutyState.PENDING
    overdue = store.duties(state=pending, due_before=now, limit=OVERDUE_SHOWN)
    due_today = store.duties(state=pending, due_from=now, due_before=tomorrow, limit=TODAY_SHOWN)
    coming = store.duties(state=pending, due_from=tomorrow, limit=NEXT_SHOWN)
    done_today = store.duties(state=DutyState.DONE, done_from=midnight, limit=DONE_SHOWN)
    overdue_count, pending_count = store.pending_counts(now)
    interviews = store.interviews(
        include_cancelled=False, starts_from=midnight, starts_before=now + INTERVIEWS_AHEAD
    )[:INTERVIEWS_SHOWN]
    quiet = store.quiet_organizations(now, limit=QUIET_SHOWN)

    orgs = store.organization_names()
    people = {
        c.id: c
        for c in store.contacts_by_id(
            {d.contact_id for d in overdue + due_today + coming + done_today if d.contact_id}
        )
    }

    def rows(duties: list[Duty], *, late: bool = False) -> list[DutyRow]:
        return [duty_row(d, people, orgs, now, late=late) for d in duties]

    from pursuit.daemon import doctor
    from pursuit.daemon.feeds import rejected_with_openings

    checks = doctor.glance(app, now)
    return {
        "now": now,
        "tomorrow": tomorrow.date(),
        "has_organizations": bool(orgs),
        "overdue": rows(overdue, late=True),
        "overdue_count": overdue_count,
        "due_today": rows(due_today),
        "coming": rows(coming),
        "later_count": pending_count - overdue_count - len(due_today),
        "done_today": rows(done_today),
        "interviews": [interview_row(i, orgs, tz) for i in interviews],
        "quiet": [
            QuietRow(
                orgs[org_id],
                org_id,
                due.astimezone(tz),
                last.astimezone(tz) if last else None,
            )
            for org_id, due, last in quiet
            if org_id in orgs
        ],
        "suggestions": rejected_with_openings(store, app.settings),
        "checks": checks,
        "needs_you": needs_you(checks),
        "failing_feeds": failing_feed_records(store, tz),
    }


def needs_you(checks: list[Any]) -> list[dict[str, str]]:
    """The checks that need the user, those with the same fix said once: four jobs
    stale because the service is not running are one thing to do, not four."""
    fixes: dict[str, list[str]] = {}
    for check in checks:
        if check.fix is not None:
            fixes.setdefault(check.fix, []).append(check.what)
    return [{"what": ", ".join(names), "fix": fix} for fix, names in fixes.items()]


def duty_row(
    duty: Duty,
    people: dict[int, Contact],
    orgs: dict[int, str],
    now: datetime,
    *,
    late: bool = False,
) -> DutyRow:
    tz = now.tzinfo
    contact = people.get(duty.contact_id) if duty.contact_id is not None else None
    return DutyRow(
        id=duty.id,
        kind=duty.kind,
        what=KIND_LABELS[DutyKind(duty.kind)],
        who=contact.display if contact else None,
        organization=orgs.get(duty.organization_id, ""),
        organization_id=duty.organization_id,
        interview_id=duty.interview_id,
        due=duty.due.astimezone(tz),
        late=late_by(duty.due.isoformat(), now.isoformat()) if late else None,
        state=duty.state,
        done_at=duty.done_at.astimezone(tz) if duty.done_at else None,
        evidence=duty.evidence,
    )


def interview_row(interview: Interview, orgs: dict[int, str], tz: Any) -> InterviewRow:
    return InterviewRow(
        id=interview.id,
        organization=orgs.get(interview.organization_id, ""),
        organization_id=interview.organization_id,
        position=interview.position,
        start=interview.start.astimezone(tz),
        end=interview.end.astimezone(tz),
        people=tuple(person.contact.display for person in interview.interviewers),
    )


# --- the changes: each a use case of `daemon/actions.py`, answered with its words


def existing_duty(duty_id: int) -> App:
    """The writable App of a change to a duty that exists; else a 404 page saying so."""
    try:
        pursuit_app().store.duty(duty_id)
    except UserError as exc:
        abort(404, description=str(exc))
    return writable_app()


@bp.post("/duties/<id:duty_id>/done")
def duty_done(duty_id: int) -> Response:
    app = existing_duty(duty_id)
    duty, already = actions.mark_done(app.store, app.settings, app.now(), duty_id)
    return done(actions.done_words(duty, already, app.settings.timezone))


@bp.post("/duties/<id:duty_id>/sent")
def duty_sent(duty_id: int) -> Response:
    app = existing_duty(duty_id)
    duty, already = actions.mark_sent(app.store, app.settings, app.now(), duty_id)
    return done(actions.done_words(duty, already, app.settings.timezone, sent=True))


@bp.post("/duties/<id:duty_id>/reopen")
def duty_reopen(duty_id: int) -> Response:
    app = existing_duty(duty_id)
    duty, already = actions.reopen(app.store, app.settings, app.now(), duty_id)
    return done(actions.reopen_words(duty, already, app.settings.timezone))


@bp.post("/duties/<id:duty_id>/snooze")
def duty_snooze(duty_id: int) -> Response:
    app = existing_duty(duty_id)
    to = request.form.get("to", "").strip()
    if not to:
        raise UserError(f"duty #{duty_id}: give the day to snooze it to")
    moment = actions.snooze(app.store, app.settings, app.now(), duty_id, to)
    return done(actions.snoozed_words(duty_id, moment))
