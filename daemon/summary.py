"""The weekly summary email: where the search stands, and whether pursuit itself is well.

`gather` reads a week from the store into plain data; `render_text` and
`render_html` put it through Jinja2 templates (daemon/templates/summary.*, or
the user's own from `[summary] templates`), the HTML with its CSS inlined so
every mail client shows it. Sending goes through the outbox, one entry per ISO
week (`summary:{iso year}-W{week}`) marked done only once the server accepted
the message.

Every week is accounted for. A week whose hour passed with pursuit not running
(a closed laptop, a mail outage) is sent late, saying so, until `SEND_LATE_FOR`
after its week ended (never once the next week's is due); after that it is
skipped for good: a done entry of action `skip`, a warning in the log, a line in
`pursuit doctor`. A send that began and was neither recorded nor refused (pursuit
died during it) is in doubt: it is looked for by its Message-ID, which carries
the install's id, only once the sender's `in_doubt` has passed (a request the
server had received may still land until then: Gmail 10 minutes, SMTP 15, the .eml
folder none), and made again only when not found.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pursuit.config.settings import Settings, SummarySettings
from pursuit.connectors.base import KEY_HEADER, Sender
from pursuit.daemon import outbox
from pursuit.daemon.errors import UserError
from pursuit.daemon.export import status_changes
from pursuit.daemon.models import Direction, Duty, DutyKind, DutyState, OrgStatus, OutboxEntry
from pursuit.daemon.store import Store, from_db, to_db

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

TARGET = "summary"
SEND = "send"
TEMPLATES = Path(__file__).with_name("templates")
#: Organizations shown in detail; the rest are counted, with `pursuit status` for them.
SHOWN_ORGANIZATIONS = 20
#: Duties listed per section; the rest are counted.
SHOWN_DUTIES = 15
#: Marks on an organization's line of events, the newest.
SHOWN_MARKS = 10
#: Days without an answer after your last message before the summary says so.
NO_REPLY_AFTER = timedelta(days=3)
#: Google ends the grant of an OAuth app left in "Testing" this long after the sign-in;
#: pursuit cannot ask Google which mode the app is in, so it warns from RENEWAL_WARNING_FROM.
TESTING_GRANT_LIFETIME = timedelta(days=7)
RENEWAL_WARNING_FROM = timedelta(days=5)
#: A week's summary missed at its hour is still sent, late, until this long after the
#: week ended (Thursday 00:00 with the usual Sunday hour), and never once the next
#: week's is due: a summary days old would only crowd the next one.
SEND_LATE_FOR = timedelta(days=3)
#: A send pursuit began and never saw answered (it died, the connection dropped) may
#: still be carried out for a while (each sender's `in_doubt`: Google holds a request
#: up to its deadline, SMTP may queue a message before it reaches the INBOX); the
#: longest of them, by when the service looks again without knowing the sender.
IN_DOUBT_FOR = timedelta(minutes=15)
#: Weeks looked back for a summary owed, at most (a year off is not 52 lines).
OWED_WEEKS_BACK = 8
SKIP = "skip"

KIND_LABELS = {
    DutyKind.THANK_YOU: "thank-you",
    DutyKind.FOLLOW_UP: "follow-up",
    DutyKind.CHECK_IN: "check-in",
}
JOB_LABELS = {
    "mail": "Mail",
    "interviews": "Your calendars (interviews)",
    "feeds": "Company feeds",
    "plan": "Planning",
    "calendar": "Follow-up calendar",
    "drafts": "Thank-you drafts",
    "summary": "Weekly summary",
}
#: What each mark on an organization's line means, and its letter in the text part.
MARKS = {
    "contact": ("first contact", "o"),
    "interview": ("interview", "I"),
    "done": ("done", "+"),
    "missed": ("missed", "!"),
    "coming": ("coming", "."),
}


@dataclass(frozen=True)
class Week:
    """An ISO week in the user's zone: Monday 00:00 to the next Monday 00:00."""

    year: int
    number: int
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def key(self) -> str:
        return f"summary:{self.label}"

    @classmethod
    def of(cls, moment: datetime, tz: ZoneInfo) -> Week:
        local = moment.astimezone(tz)
        year, number, weekday = local.isocalendar()
        monday = local.date() - timedelta(days=weekday - 1)
        start = datetime.combine(monday, time(0), tz)
        end = datetime.combine(monday + timedelta(days=7), time(0), tz)
        return cls(year, number, start, end)

    @classmethod
    def of_key(cls, key: str, tz: ZoneInfo) -> Week:
        """The week of a summary's outbox key (`summary:2026-W49`)."""
        year, number = key.removeprefix("summary:").split("-W")
        return cls.of(
            datetime.combine(date.fromisocalendar(int(year), int(number), 1), time(12), tz), tz
        )

    def due(self, settings: SummarySettings) -> datetime:
        """When this week's summary is due: its day and time, in the user's zone."""
        day = self.start.date() + timedelta(days=settings.day)
        return datetime.combine(day, settings.at, self.start.tzinfo)

    @property
    def following(self) -> Week:
        tz = self.start.tzinfo
        assert isinstance(tz, ZoneInfo)
        return Week.of(self.end, tz)

    def late_until(self, settings: SummarySettings) -> datetime:
        """Until when this week's summary may still be sent late (see SEND_LATE_FOR)."""
        return min(self.end + SEND_LATE_FOR, self.following.due(settings))


# --- gathering


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M") if moment else "never"


def _day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b")


def _ago(delta: timedelta) -> str:
    days = delta.days
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = max(1, int(delta.total_seconds() // 3600))
    return f"{hours} hour{'s' if hours != 1 else ''}"


def gather(
    store: Store, settings: Settings, now: datetime, *, week: Week | None = None
) -> dict[str, Any]:
    """The week's summary as plain data, in the order the email shows it: the week
    `now` is in, or an earlier `week` sent late (its mail and news; duties and health
    as they are now)."""
    from pursuit.daemon.feeds import failing_feeds, rejected_with_openings, surfaced

    tz = settings.timezone
    week = week or Week.of(now, tz)
    orgs = {o.id: o for o in store.organizations()}
    contacts = {c.id: c for c in store.contacts()}
    duties = store.duties(state=(DutyState.PENDING, DutyState.DONE))
    interviews = store.interviews(include_cancelled=False)

    def duty_line(duty: Duty) -> dict[str, Any]:
        person = contacts.get(duty.contact_id or -1)
        late = now - duty.due
        return {
            "id": duty.id,
            "what": KIND_LABELS[duty.kind],
            "who": person.display if person else "",
            "organization": orgs[duty.organization_id].name,
            "due": _when(duty.due, tz),
            "late": _ago(late) + " late" if late > timedelta(0) else "",
            "close": f"pursuit done {duty.id}",
        }

    pending = [d for d in duties if d.state == DutyState.PENDING]
    overdue = [d for d in pending if d.due < now]
    coming = [d for d in pending if now <= d.due < now + timedelta(days=7)]

    week_mail = store.correspondence(since=week.start, newest_first=False)
    mail_in: dict[int, int] = {}
    mail_out: dict[int, int] = {}
    for message in week_mail:
        if message.organization_id is None or message.date >= week.end:
            continue
        counts = mail_in if message.direction == Direction.IN else mail_out
        counts[message.organization_id] = counts.get(message.organization_id, 0) + 1
    new_items = surfaced(store, settings, store.feed_items(since=week.start))
    news: dict[int, list[str]] = {}
    openings: dict[int, list[str]] = {}
    for item in new_items:
        if not week.start <= item.first_seen < week.end:
            continue
        if item.kind == "opening":
            if item.closed is None:
                where = f" ({item.location})" if item.location else ""
                openings.setdefault(item.organization_id, []).append(item.title + where)
        else:
            news.setdefault(item.organization_id, []).append(item.title)
    suggestions: dict[str, list[str]] = {}
    for s in rejected_with_openings(store, settings):
        suggestions.setdefault(s["organization"], []).append(s["suggestion"])

    by_org_duties: dict[int, list[Duty]] = {}
    for duty in duties:
        by_org_duties.setdefault(duty.organization_id, []).append(duty)
    by_org_interviews: dict[int, list[datetime]] = {}
    for interview in interviews:
        by_org_interviews.setdefault(interview.organization_id, []).append(interview.start)

    cards = []
    for org in orgs.values():
        last = next(iter(store.correspondence(organization_id=org.id, limit=1)), None)
        first = next(
            iter(store.correspondence(organization_id=org.id, limit=1, newest_first=False)), None
        )
        starts = sorted(by_org_interviews.get(org.id, []))
        own = by_org_duties.get(org.id, [])
        marks: list[tuple[datetime, str, str]] = []
        if first is not None:
            marks.append((first.date, "contact", _day(first.date, tz)))
        marks += [(s, "interview" if s < now else "coming", _day(s, tz)) for s in starts]
        for d in own:
            if d.state == DutyState.DONE:
                at = d.done_at or d.due
                marks.append((at, "done", f"{KIND_LABELS[d.kind]} {_day(at, tz)}"))
            else:
                state = "missed" if d.due < now else "coming"
                marks.append((d.due, state, f"{KIND_LABELS[d.kind]} {_day(d.due, tz)}"))
        marks.sort(key=lambda m: m[0])
        no_reply = ""
        if (
            last is not None
            and last.direction == Direction.OUT
            and now - last.date >= (NO_REPLY_AFTER)
        ):
            no_reply = f"no reply for {_ago(now - last.date)}"
        card: dict[str, Any] = {
            "name": org.name,
            "status": str(org.status),
            "flag": org.flag or "",
            "interviews": len(starts),
            "next_interview": next((_when(s, tz) for s in starts if s >= now), ""),
            "mail_in": mail_in.get(org.id, 0),
            "mail_out": mail_out.get(org.id, 0),
            "last_message": (
                {
                    "when": _day(last.date, tz),
                    "direction": "from them" if last.direction == Direction.IN else "from you",
                    "subject": (last.subject or last.snippet or last.channel)[:80],
                }
                if last is not None
                else None
            ),
            "no_reply": no_reply,
            "news": news.get(org.id, [])[:3],
            "news_more": max(0, len(news.get(org.id, [])) - 3),
            "openings": openings.get(org.id, [])[:3],
            "openings_more": max(0, len(openings.get(org.id, [])) - 3),
            "suggestions": suggestions.get(org.name, [])[:2],
            "marks": [
                {"kind": kind, "label": MARKS[kind][0], "letter": MARKS[kind][1], "title": text}
                for _, kind, text in marks[-SHOWN_MARKS:]
            ],
            "marks_hidden": max(0, len(marks) - SHOWN_MARKS),
            "overdue": sum(1 for d in own if d.state == DutyState.PENDING and d.due < now),
            "pending": sum(1 for d in own if d.state == DutyState.PENDING),
            "activity": mail_in.get(org.id, 0) + mail_out.get(org.id, 0),
        }
        cards.append(card)
    # What needs the user first: overdue, then this week's activity, then open ones.
    cards.sort(
        key=lambda c: (
            -c["overdue"],
            not c["flag"],
            -c["activity"],
            c["status"] != OrgStatus.ACTIVE,
            -c["pending"],
            c["name"].casefold(),
        )
    )
    active_count = sum(1 for o in orgs.values() if o.status == OrgStatus.ACTIVE)
    return {
        "week": week.label,
        "period": f"{_day(week.start, tz)} to {_day(week.end - timedelta(seconds=1), tz)}",
        "generated": _when(now, tz),
        "late": (
            {"due": _when(week.due(settings.summary), tz), "sent": _when(now, tz)}
            if now >= week.end
            else None
        ),
        "status_changes": [
            {**change, "date": _day(datetime.fromisoformat(change["date"]), tz)}
            for change in status_changes(store, tz, week.start, min(now, week.end))
        ],
        "overdue_count": len(overdue),
        "overdue": [duty_line(d) for d in overdue[:SHOWN_DUTIES]],
        "overdue_more": max(0, len(overdue) - SHOWN_DUTIES),
        "coming_count": len(coming),
        "coming": [duty_line(d) for d in coming[:SHOWN_DUTIES]],
        "coming_more": max(0, len(coming) - SHOWN_DUTIES),
        "organization_count": len(orgs),
        "active_count": active_count,
        "organizations": cards[:SHOWN_ORGANIZATIONS],
        "organizations_more": max(0, len(cards) - SHOWN_ORGANIZATIONS),
        "marks": [{"kind": k, "label": v[0], "letter": v[1]} for k, v in MARKS.items()],
        "health": health(store, settings, now, week, failing_feeds(store)),
    }


def health(
    store: Store, settings: Settings, now: datetime, week: Week, failing: list[Any]
) -> dict[str, Any]:
    """Each source's last success and error, a refused sign-in, failing feeds."""
    tz = settings.timezone
    runs = store.job_runs()
    order = list(JOB_LABELS) + sorted(set(runs) - set(JOB_LABELS))
    sources = []
    for name in order:
        run = runs.get(name)
        if run is None:
            continue
        failing_now = bool(run.last_error)
        sources.append(
            {
                "name": JOB_LABELS.get(name, name),
                "last_ok": _when(run.last_ok, tz),
                "error": (run.last_error or "").splitlines()[0][:200] if failing_now else "",
                "failing_since": (
                    f"no success for {_ago(now - run.last_ok)}"
                    if failing_now and run.last_ok is not None
                    else ("never succeeded" if failing_now else "")
                ),
            }
        )
    failed_this_week = [
        s["name"]
        for name, s in zip([n for n in order if n in runs], sources, strict=True)
        if s["error"] and (runs[name].last_run or now) >= week.start
    ]
    grant = None
    renewal = None
    signed_in = {"google": settings.google, "microsoft": settings.microsoft}
    for account in [name for name, section in signed_in.items() if section is not None]:
        refused = store.grant_refused(account)
        if refused is not None and grant is None:
            grant = {
                "account": account.capitalize(),
                "since": _when(refused.since, tz),
                "error": refused.error.splitlines()[0][:200],
                "fix": f"pursuit auth {account}",
                "testing": (
                    testing_grant_ended(store, refused.since, tz) if account == "google" else None
                ),
            }
        elif refused is None and account == "google":  # a Testing app's 7 days are Google's
            renewal = grant_renewal(store, now, tz)
    feeds = store.feeds()
    shown_failing = failing[:10]
    answered = [f for f in feeds if f.active and not f.last_error and f.last_ok is not None]
    oldest = min((f.last_ok for f in answered if f.last_ok), default=None)
    return {
        "never_ran": not runs,
        "sources": sources,
        "failed_this_week": failed_this_week,
        "grant": grant,
        "grant_renewal": renewal,
        "feeds_ok": len(answered),
        "feeds_oldest_ok": _when(oldest, tz) if oldest else "",
        "feeds_failing_count": len(failing),
        "feeds_failing": [
            {
                "organization": f.organization,
                "url": f.configured_url,
                "error": (f.last_error or "").splitlines()[0][:160] if f.last_error else "",
                "last_ok": _when(f.last_ok, tz),
                "stopped": not f.active,
            }
            for f in shown_failing
        ],
        "feeds_failing_more": max(0, len(failing) - len(shown_failing)),
        "healthy": (
            not any(s["error"] for s in sources)
            and grant is None
            and renewal is None
            and not failing
        ),
    }


#: A refusal this close to day 7 after the sign-in is the Testing pattern (the token is
#: refreshed hourly while pursuit runs). Later, it is the pattern only when no job that
#: now fails on the sign-in had succeeded past day 7 (pursuit was off around day 7).
TESTING_PATTERN_SLACK = timedelta(days=1)


def testing_grant_ended(store: Store, refused_since: datetime, tz: ZoneInfo) -> str | None:
    """What to say when the Google grant was refused about 7 days after the sign-in:
    Google ends the refresh tokens of an OAuth app whose publishing status is
    "Testing" after 7 days (invalid_grant, "Token has been expired or revoked.");
    None for any other refusal."""
    made = store.grant_made("google")
    if made is None:
        return None
    ends = made + TESTING_GRANT_LIFETIME
    if refused_since < ends - timedelta(hours=1):
        return None
    probably = ""
    if refused_since > ends + TESTING_PATTERN_SLACK:
        refused_jobs = [r for r in store.job_runs().values() if r.last_error_kind == "password"]
        worked_past_day_7 = any(r.last_ok and r.last_ok > ends for r in refused_jobs)
        if worked_past_day_7 or not refused_jobs:
            return None
        probably = "probably "
    return (
        f"Google {probably}ended the sign-in of {_day(made, tz)} after 7 days, as it does for "
        'an OAuth app whose publishing status is "Testing". Sign in again with `pursuit auth '
        'google`; to make it last, set the app\'s publishing status to "In production" '
        '(Google Cloud console, OAuth consent screen, "Publish app"), or use an OAuth '
        "client of an app of your own that is in production."
    )


def grant_renewal(store: Store, now: datetime, tz: ZoneInfo) -> str | None:
    """One line from day 5 to day 7 after the Google sign-in: the grant ends on day 7
    if the user's Google Cloud app is still in Testing. Past day 7 a working grant means
    the app is published, so nothing. The caller knows the grant is not refused."""
    made = store.grant_made("google")
    if made is None or not RENEWAL_WARNING_FROM <= now - made < TESTING_GRANT_LIFETIME:
        return None
    return (
        f"Google sign-in made on {_day(made, tz)}: if your Google Cloud app is still in "
        f"Testing, Google ends it on {_day(made + TESTING_GRANT_LIFETIME, tz)}; publish it "
        "(README, Connecting Google, step 2) or run `pursuit auth google` again then."
    )


# --- rendering


def _environment(user_templates: Path | None, *, html: bool) -> jinja2.Environment:
    import jinja2  # only a round that sends a summary renders one

    loaders: list[jinja2.BaseLoader] = []
    if user_templates is not None:
        loaders.append(jinja2.FileSystemLoader(user_templates))
    loaders.append(jinja2.FileSystemLoader(TEMPLATES))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=html,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(name: str, record: dict[str, Any], user_templates: Path | None, html: bool) -> str:
    import jinja2

    try:
        template = _environment(user_templates, html=html).get_template(name)
        return template.render(record)
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(
            f"summary template {exc.filename or name}, line {exc.lineno}: {exc.message}"
        ) from None
    except jinja2.TemplateError as exc:
        raise UserError(f"summary template {name}: {exc}") from None


def render_text(record: dict[str, Any], user_templates: Path | None = None) -> str:
    return _render("summary.txt", record, user_templates, html=False)


def render_html(record: dict[str, Any], user_templates: Path | None = None) -> str:
    """The HTML part: tables and inline styles only (what Gmail and phones show)."""
    import css_inline

    page = _render("summary.html", record, user_templates, html=True)
    return str(css_inline.inline(page))


def subject(record: dict[str, Any]) -> str:
    week = record["week"].split("-W")[1].lstrip("0")
    parts = ["sent late"] if record.get("late") else []
    if record["overdue_count"]:
        parts.append(f"{record['overdue_count']} overdue")
    if record["coming_count"]:
        parts.append(f"{record['coming_count']} coming")
    if not record["health"]["healthy"]:
        parts.append("needs attention")
    return f"pursuit: your job search, week {week}" + (f" ({', '.join(parts)})" if parts else "")


def message_id_for(key: str, install_id: str) -> str:
    """The summary's Message-ID, the same in every process of one install and never
    another install's: two installs on one account neither collide nor adopt each
    other's summary. An install from before install ids ("") keeps the id it had."""
    seed = f"{install_id}:{key}" if install_id else key
    return f"<pursuit-{hashlib.sha256(seed.encode()).hexdigest()[:32]}@pursuit.invalid>"


def build_message(
    record: dict[str, Any],
    *,
    to: str,
    key: str,
    install_id: str,
    now: datetime,
    user_templates: Path | None,
) -> EmailMessage:
    message = EmailMessage(policy=email.policy.SMTP)
    message["To"] = to
    message["From"] = email.utils.formataddr(("pursuit", to))
    message["Subject"] = subject(record)
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = message_id_for(key, install_id)
    message[KEY_HEADER] = key
    message.set_content(render_text(record, user_templates))
    message.add_alternative(render_html(record, user_templates), subtype="html")
    return message


# --- sending, once per week


def owed_weeks(store: Store, settings: Settings, now: datetime) -> list[Week]:
    """The weeks, oldest first, whose summary fell due by `now` (this week's only once
    due) and that have no entry yet: after the newest week with one, an earlier week
    only when it fell due since this install began, at most OWED_WEEKS_BACK weeks back.
    Reads the store alone."""
    tz = settings.timezone
    week = current = Week.of(now, tz)
    weeks: list[Week] = []
    for _ in range(OWED_WEEKS_BACK + 1):
        weeks.insert(0, week)
        week = Week.of(week.start - timedelta(days=1), tz)
    # Rows of weeks after this one (a clock that was set ahead, then fixed) owe nothing.
    starts = [Week.of_key(key, tz).start for key in store.outbox_keys(TARGET)]
    newest = max((s for s in starts if s <= current.start), default=None)
    installed = store.installed_at()
    return [
        w
        for w in weeks
        if w.due(settings.summary) <= now
        and (newest is None or w.start > newest)
        and (w == current or installed is None or w.due(settings.summary) >= installed)
    ]


def waiting(store: Store, settings: Settings, now: datetime) -> bool:
    """True when the summary job has something to do now (the store alone says)."""
    if store.pending_outbox(TARGET):
        return True
    return settings.summary.enabled and bool(owed_weeks(store, settings, now))


def queue_summary(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    to: str,
    force: bool = False,
    week: Week | None = None,
) -> bool:
    """Queue a week's summary (this week's once it is due, or now with `force`);
    False when it was queued (or sent, or skipped) already, or is not due yet."""
    week = week or Week.of(now, settings.timezone)
    if not force and now < week.due(settings.summary):
        return False
    if store.outbox_entry(week.key) is not None:
        return False
    return _enqueue(store, settings, now, week, to)


def _enqueue(store: Store, settings: Settings, now: datetime, week: Week, to: str) -> bool:
    record = gather(store, settings, now, week=week)
    message = build_message(
        record,
        to=to,
        key=week.key,
        install_id=store.install_id(),
        now=now,
        user_templates=settings.summary.templates,
    )
    payload = {
        "raw": base64.b64encode(message.as_bytes()).decode(),
        "until": to_db(week.late_until(settings.summary)),
        "message_id": str(message["Message-ID"]),
        "late": record["late"] is not None,
    }
    return store.enqueue(week.key, SEND, TARGET, payload, now=now)


def queue_summaries(
    store: Store, settings: Settings, now: datetime, *, to: str, force: bool = False
) -> int:
    """Account for every week owed: queue this week's once due (with `force`, now), an
    earlier one missed at its hour late while it may still go, skip for good the rest.
    A queued summary whose week ended before it could go is written again saying it is
    late, unless a send of it is in doubt. Returns how many were queued."""
    tz = settings.timezone
    queued = 0
    # A summary turned off owes no week: `summary --send` then sends this week's alone.
    owed = owed_weeks(store, settings, now) if settings.summary.enabled else []
    for week in owed:
        until = week.late_until(settings.summary)
        if now < until:
            queued += _enqueue(store, settings, now, week, to)
        else:
            due = week.due(settings.summary)
            why = f"{_why_missed(store, due, until)} from its hour ({_when(due, tz)})"
            _skip(store, week.key, now, f"{why} to {_when(until, tz)}")
    if force:
        queued += queue_summary(store, settings, now, to=to, force=True)
    for entry in store.pending_outbox(TARGET):
        week = Week.of_key(entry.key, tz)
        until = from_db(entry.payload["until"])
        if store.sends_begun(entry.key):
            continue  # in doubt: `push_summaries` looks for it before anything else
        if now >= until:
            why = f"it could not be sent before {_when(until, tz)}"
            _skip(
                store, entry.key, now, why + (f" ({entry.last_error})" if entry.last_error else "")
            )
        elif now >= week.end and not entry.payload.get("late"):
            with store.transaction():  # the same key, written again as sent late
                store.drop_outbox_entry(entry.id)
                _enqueue(store, settings, now, week, to)
    return queued


def _why_missed(store: Store, due: datetime, until: datetime) -> str:
    """Why a week got no summary: pursuit was off, or the summary job kept failing."""
    job = store.job_runs().get("summary")  # the job's name in the job table
    if job is not None and job.last_error and job.last_run and due <= job.last_run < until:
        return f"the summary job failed ({job.last_error.splitlines()[0][:200]})"
    return "pursuit was not running"


def _skip(store: Store, key: str, now: datetime, why: str) -> None:
    """A week whose summary is never sent: a done entry of its own, logged once."""
    log.warning("the weekly summary %s was skipped for good: %s", key.removeprefix("summary:"), why)
    with store.transaction():
        existing = store.outbox_entry(key)
        if existing is not None:
            store.drop_outbox_entry(existing.id)
        store.enqueue(key, SKIP, TARGET, {"why": why}, now=now)
        entry = store.outbox_entry(key)
        assert entry is not None
        store.outbox_done(entry.id, now=now)
        store.set_sends_begun(key, 0, now=now)


def in_doubt_until(store: Store, key: str, in_doubt: timedelta = IN_DOUBT_FOR) -> datetime | None:
    """Until when a send of this key that began and was never answered may still land
    (`in_doubt`: the sender's); None when no send is in doubt."""
    if not store.sends_begun(key):
        return None
    began = store.send_begun_at(key)
    return None if began is None else began + in_doubt


def push_summaries(store: Store, sender: Sender, now: datetime) -> int:
    """Send what is queued; each recorded only after the server accepted it. A send in
    doubt is left alone until it can no longer land, then looked for by its Message-ID:
    found, it is done; not found, it is made again (see `Sender.keeps_record`), or, past
    its week's last day for a late summary, skipped for good."""

    def message_id(entry: OutboxEntry) -> str:
        return str(entry.payload.get("message_id") or message_id_for(entry.key, ""))

    def holds(entry: OutboxEntry) -> bool:
        until = in_doubt_until(store, entry.key, sender.in_doubt)
        return until is not None and now < until

    def perform(entry: OutboxEntry) -> None:
        found = sender.find_sent(entry.key, message_id(entry))
        if found is not None:  # sent before a crash kept it from being recorded
            log.info("summary %s was sent already (%s)", entry.key, found)
            return
        begun = store.sends_begun(entry.key)
        if begun >= 2 and not sender.keeps_record:
            # Two sends began and neither was recorded, refused or found: one retry
            # is all a server that keeps no record of it gets. Where the sender keeps
            # one, "not found" means a crash came before the server took it: send.
            log.warning("summary %s: not sent again; it may have arrived already", entry.key)
            return
        message = email.message_from_bytes(
            base64.b64decode(entry.payload["raw"]), policy=email.policy.default
        )
        started: list[bool] = []

        def begin() -> None:  # just before the message leaves: a crash now leaves it in doubt
            store.set_sends_begun(entry.key, begun + 1, now=now)
            started.append(True)

        try:
            sent = sender.send(message, begin=begin)
        except Exception:
            if started:
                store.set_sends_begun(entry.key, begun, now=now)  # refused: not a crash
            raise
        log.info("weekly summary %s sent (%s)", entry.key, sent)

    for entry in store.pending_outbox(TARGET):
        if holds(entry):
            began = store.send_begun_at(entry.key)
            until = in_doubt_until(store, entry.key, sender.in_doubt)
            assert began is not None and until is not None
            log.warning(
                "summary %s: a send began at %s UTC and may still land (pursuit stopped before "
                "the answer); it is looked for, and sent only if missing, from %s UTC",
                entry.key.removeprefix("summary:"),
                f"{began.astimezone(UTC):%H:%M}",
                f"{until.astimezone(UTC):%H:%M}",
            )
        elif from_db(entry.payload["until"]) <= now:  # too late to send it now
            begun = store.sends_begun(entry.key)
            if begun and sender.find_sent(entry.key, message_id(entry)):
                log.info("summary %s was sent already", entry.key)
                store.outbox_done(entry.id, now=now)
            elif begun and not sender.keeps_record:
                log.warning("summary %s: not sent again; it may have arrived already", entry.key)
                store.outbox_done(entry.id, now=now)
            else:
                why = "it could not be sent in time"
                _skip(
                    store,
                    entry.key,
                    now,
                    why + (f" ({entry.last_error})" if entry.last_error else ""),
                )
    return outbox.deliver(store, TARGET, perform, now, holds=holds)


def sent_at(store: Store, week: Week) -> datetime | None:
    entry = store.outbox_entry(week.key)
    return entry.done if entry is not None and entry.action == SEND else None


def skipped_weeks(store: Store, since: datetime) -> list[OutboxEntry]:
    """The weeks skipped for good since `since`, oldest first (for `pursuit doctor`)."""
    return [
        e
        for e in store.outbox_history(TARGET, action=SKIP)
        if e.done is not None and e.done >= since
    ]
