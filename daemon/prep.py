"""The prep sheet of an interview: who you will meet and what you said to them last,
the organization's news and openings since, questions to ask, and what comes after.

`prep_sheet` gathers it as plain data (what `pursuit prep --json` prints and the
dashboard's page renders); `render_prep_text` is the terminal's sheet and
`render_prep_html` the standalone page, printable on one or two pages, both built
on the same record. The HTML fragment `templates/prep_sheet.html` renders it from
the variable `sheet`, for that page and for the dashboard alike: every time and
label it shows is already written in the record, so any Jinja2 environment with
autoescape renders it. Links are live only for http and https URLs (`href`).

Notes are private, and the sheet is the user's own: they are on it. The calendar
event the evening before (`prep_events`) summarises the sheet without them.

The store is asked a bounded number of questions, whatever its size: a person's
exchanges are the last `EXCHANGES` with a count of the rest, the news and openings
at most `FEED_ITEMS` of each.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pursuit.config.settings import Settings
from pursuit.daemon.errors import UserError
from pursuit.daemon.export import iso
from pursuit.daemon.feeds import PLANNING_ITEMS, surfaced
from pursuit.daemon.models import (
    Channel,
    Contact,
    Correspondence,
    Direction,
    Duty,
    DutyKind,
    DutyState,
    FeedItem,
    Interview,
    ManagedEvent,
    NoteKind,
    Organization,
    OrgStatus,
)
from pursuit.daemon.planner import PlannedEvent, at_local, follow_up_due, thank_you_due
from pursuit.daemon.store import Store
from pursuit.daemon.views import KIND_LABELS, clean_record

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
#: The HTML fragment rendering the variable `sheet` (the dashboard includes it too).
FRAGMENT = "prep_sheet.html"
PAGE = "prep.html"
DEFAULT_QUESTIONS = TEMPLATES / "questions.txt"

#: A person's exchanges shown on the sheet: the latest ones, with a count of the rest.
EXCHANGES = 10
#: News items, new openings and closed openings shown, each.
FEED_ITEMS = 6
#: Notes on one person shown (the latest), and people at the organization off the panel.
NOTES = 8
OTHERS = 5
#: The most questions a template gives that the sheet keeps, and the longest one.
QUESTIONS = 12
QUESTION_LENGTH = 300
#: The calendar event's key for an interview's sheet.
EVENT_PREFIX = "prep:"
#: Organizations whose coming interviews get an event, as they get duties: an active one.
PREPARED = (OrgStatus.ACTIVE,)
#: How far ahead an interview gets its evening-before event: its sheet is built at each
#: planning round, so interviews further off wait (a sheet weeks early would be stale).
EVENT_HORIZON = timedelta(days=14)
#: An interview recorded after its evening before: the event is placed at the next
#: quarter hour, never in the past.
LATE_STEP = timedelta(minutes=15)


# --- which interview


def find_interview(store: Store, text: str | None, now: datetime) -> Interview:
    """The interview `text` names: an id (`12`, `#12`), or an organization (its next
    coming interview); None: the next coming interview of all."""
    if text is None or not text.strip():
        later = store.interviews(include_cancelled=False, starts_from=now)
        coming = [i for i in later if i.start > now]
        if not coming:
            raise UserError(
                "no coming interview: name one by id (`pursuit interview list`), or add one "
                "with `pursuit interview add ORG --at ...`"
            )
        return coming[0]
    wanted = text.strip()
    number = wanted.removeprefix("#")
    if number.isascii() and number.isdigit():  # "²" is a digit int() refuses
        # an id beyond what the store can hold names no interview either
        found = store.interviews(interview_id=int(number)) if int(number) < 2**63 else []
        if not found:
            raise UserError(f"no interview #{number} (see `pursuit interview list`)")
        return found[0]
    org = store.find_organization(wanted)
    interviews = store.interviews(org.id)
    live = [i for i in interviews if not i.cancelled]
    coming = [i for i in live if i.start > now]
    if coming:
        return coming[0]
    if not live:
        raise UserError(
            f"{org.name} has no interview recorded: add one with "
            f"`pursuit interview add {_quoted(org.name)} --at ...`"
        )
    latest = live[-1]
    raise UserError(
        f"{org.name} has no coming interview; the latest was #{latest.id} on "
        f"{latest.start.astimezone(now.tzinfo):%a %d %b %Y %H:%M}: "
        f"`pursuit prep {latest.id}` shows its sheet"
    )


def _quoted(name: str) -> str:
    return name if name.replace("-", "").replace(".", "").isalnum() else repr(name)


# --- the sheet as data


def prep_sheet(
    store: Store,
    settings: Settings,
    interview_id: int,
    now: datetime,
    *,
    questions: jinja2.Template | None = None,
) -> dict[str, Any]:
    """The prep sheet of one interview, as JSON-able data (times in the user's zone).

    `questions`: the questions template (default: the config's, else the built-in one;
    a template with an error is a UserError naming its file and line).
    """
    tz = settings.timezone
    now = now.astimezone(tz)
    found = store.interviews(interview_id=interview_id)
    if not found:
        raise UserError(f"no interview #{interview_id} (see `pursuit interview list`)")
    interview = found[0]
    org = store.organization(interview.organization_id)
    names = _organization_names(store)
    at_org = store.interviews(org.id)
    earlier = [i for i in at_org if (i.start, i.id) < (interview.start, interview.id)]
    since, since_text = _since(store, org, interview, earlier, now, tz)
    panel = [
        _person(store, org, p.contact, earlier, names, tz, now) for p in interview.interviewers
    ]
    on_panel = {p.contact.id for p in interview.interviewers}
    people = store.contacts(org.id)
    duties = store.duties(organization=org.id)
    sheet: dict[str, Any] = {
        "id": interview.id,
        "now": iso(now, tz),
        "timezone": tz.key,
        "title": ", ".join(filter(None, (org.name, _position(interview, org)))),
        "interview": _interview_record(interview, org, earlier, tz, now),
        "organization": _organization_record(store, org, tz, now),
        "earlier_interviews": [_earlier_record(i, tz, now) for i in earlier],
        "panel": panel,
        "others": _others(store, org, people, on_panel, names, tz, now),
        "since": iso(since, tz),
        "since_text": since_text,
        **_feed_records(store, settings, org, since, tz, now),
        "open_duties": _open_duties(interview, people, duties, tz, now),
        "after": _after(interview, org, duties, settings, tz, now),
    }
    template = (
        questions if questions is not None else load_questions(settings.prep.questions_template)
    )
    sheet["questions"] = render_questions(template, sheet)
    return sheet


def _organization_names(store: Store) -> Callable[[int], str | None]:
    """An organization's name by id, asked of the store once each: the few another
    organization's exchanges and notes name (a recruiter's other pursuits)."""

    @functools.cache
    def name_of(org_id: int) -> str | None:
        try:
            return store.organization(org_id).name
        except UserError:
            return None

    return name_of


def _position(interview: Interview, org: Organization) -> str | None:
    return interview.position or ", ".join(org.positions) or None


def _day(moment: datetime, now: datetime, zone: ZoneInfo | None = None) -> str:
    """`Tue 01 Dec` in `zone` (default: the user's, `now`'s), with the year when it is
    not the year of `now`."""
    moment = moment.astimezone(zone or now.tzinfo)
    return moment.strftime("%a %d %b" + (" %Y" if moment.year != now.year else ""))


def _moment(moment: datetime, now: datetime, zone: ZoneInfo | None = None) -> str:
    return f"{_day(moment, now, zone)} {moment.astimezone(zone or now.tzinfo):%H:%M}"


def _relative(moment: datetime, now: datetime) -> str:
    days = (moment.astimezone(now.tzinfo).date() - now.date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    return f"in {days} days" if days > 0 else f"{-days} days ago"


def href(url: str | None) -> str | None:
    """`url` when a browser may follow it (http or https to a host), else None: a feed's
    `javascript:` or `data:` link is shown as text, never made a live link."""
    if not url:
        return None
    text = url.strip()
    if any(c.isspace() or ord(c) < 32 or c in "\"'<>`" for c in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _all_day(interview: Interview, tz: ZoneInfo) -> bool:
    start, end = interview.start.astimezone(tz), interview.end.astimezone(tz)
    return start.time() == end.time() == time(0) and end > start


def _span(interview: Interview, zone: ZoneInfo, now: datetime) -> str:
    start, end = interview.start.astimezone(zone), interview.end.astimezone(zone)
    if _all_day(interview, zone):
        last = end - timedelta(days=1)
        if last.date() == start.date():
            return f"{_day(start, now, zone)}, all day"
        return f"{_day(start, now, zone)} to {_day(last, now, zone)}, all day"
    if end.date() != start.date():
        return f"{_moment(start, now, zone)} to {_moment(end, now, zone)}"
    return f"{_day(start, now, zone)}, {start:%H:%M}-{end:%H:%M}"


def _interview_record(
    interview: Interview,
    org: Organization,
    earlier: Sequence[Interview],
    tz: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    other_zone, other_text = None, None
    there = _zone(interview.zone) if interview.zone and interview.zone != tz.key else None
    # The invitation's zone is shown only when its clock reads otherwise then.
    if there is not None and (
        interview.start.astimezone(there).utcoffset() != interview.start.astimezone(tz).utcoffset()
    ):
        other_zone = interview.zone
        start = interview.start.astimezone(there)
        span = _span(interview, there, now)
        if start.date() == interview.start.astimezone(tz).date():
            span = span.partition(", ")[2] or span  # the same day: its hours alone
        other_text = f"{span} in {interview.zone}, the invitation's time zone"
    if interview.cancelled:
        state = "cancelled"
    elif interview.start > now:
        state = "coming"
    elif interview.end > now:
        state = "under way"
    else:
        state = "past"
    return {
        "id": interview.id,
        "start": iso(interview.start, tz),
        "end": iso(interview.end, tz),
        "position": _position(interview, org),
        "state": state,
        "when_text": _span(interview, tz, now),
        "relative_text": _relative(interview.start, now),
        "zone": tz.key,
        "other_zone": other_zone,
        "other_zone_text": other_text,
        "location": interview.location,
        "meeting_link": interview.meeting_link,
        "meeting_href": href(interview.meeting_link),
        "number": 1 + sum(1 for i in earlier if not i.cancelled),
        "source": interview.source,
    }


def _earlier_record(interview: Interview, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    return {
        "id": interview.id,
        "start": iso(interview.start, tz),
        "when_text": _moment(interview.start, now),
        "position": interview.position,
        "with": [p.contact.display for p in interview.interviewers],
        "cancelled": interview.cancelled,
    }


def _organization_record(
    store: Store, org: Organization, tz: ZoneInfo, now: datetime
) -> dict[str, Any]:
    notes = [
        n for n in store.notes(organization=org.id, kinds=[NoteKind.NOTE]) if n.contact_id is None
    ]
    return {
        "id": org.id,
        "name": org.name,
        "status": org.status,
        "status_since": iso(org.status_changed, tz),
        "status_text": f"{org.status} since {_day(org.status_changed, now)}",
        "flag": org.flag,
        "positions": list(org.positions),
        "domains": list(org.domains),
        "notes": [
            {"date": iso(n.created, tz), "day_text": _day(n.created, now), "text": n.text}
            for n in notes[-NOTES:]
        ],
    }


def _since(
    store: Store,
    org: Organization,
    interview: Interview,
    earlier: Sequence[Interview],
    now: datetime,
    tz: ZoneInfo,
) -> tuple[datetime, str]:
    """Since when news and openings are new: your last interview there, else your first
    exchange with them (about when you applied), else when you started tracking them."""
    held = [i for i in earlier if not i.cancelled and i.start <= now]
    if held:
        last = held[-1].start
        return last, f"since your last interview ({_day(last, now)})"
    first = store.correspondence(organization_id=org.id, newest_first=False, limit=1)
    if first and first[0].date < org.status_changed:
        return first[0].date, f"since your first exchange with them ({_day(first[0].date, now)})"
    return org.status_changed, f"since you started tracking them ({_day(org.status_changed, now)})"


_DOING = {
    (Channel.EMAIL, Direction.OUT): "you wrote",
    (Channel.EMAIL, Direction.IN): "they wrote",
    (Channel.CALL, Direction.OUT): "you called",
    (Channel.CALL, Direction.IN): "they called",
    (Channel.NOTE, Direction.OUT): "noted",
    (Channel.NOTE, Direction.IN): "noted",
}


def _exchange(
    message: Correspondence,
    org: Organization,
    names: Callable[[int], str | None],
    tz: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    about = message.organization_id
    return {
        "date": iso(message.date, tz),
        "day_text": _day(message.date, now),
        "channel": message.channel,
        "direction": message.direction,
        "what_text": _DOING[(message.channel, message.direction)],
        "subject": message.subject or message.snippet,
        # The organization it was about, when another (a recruiter's other pursuits).
        "organization": names(about) if about is not None and about != org.id else None,
    }


def _person(
    store: Store,
    org: Organization,
    contact: Contact,
    earlier: Sequence[Interview],
    names: Callable[[int], str | None],
    tz: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    messages = store.correspondence(contact_id=contact.id, limit=EXCHANGES)
    total = (
        len(messages)
        if len(messages) < EXCHANGES
        else store.count_correspondence(contact_id=contact.id)
    )
    notes, promises, thank_you = [], [], None
    for note in store.notes(contact=contact.id):
        about = note.organization_id
        elsewhere = about is not None and about != org.id
        entry = {
            "date": iso(note.created, tz),
            "day_text": _day(note.created, now),
            "text": note.text,
            "organization": names(about) if about is not None and elsewhere else None,
        }
        if note.kind == NoteKind.NOTE:
            notes.append(entry)
        elif note.kind == NoteKind.PROMISE:
            promises.append(entry)
        elif note.kind == NoteKind.THANK_YOU and not elsewhere:
            thank_you = note.text
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.address,
        "display": contact.display,
        "role": contact.role_at(org.id),
        "met": [
            {"id": i.id, "when_text": _day(i.start, now)}
            for i in earlier
            if not i.cancelled and any(p.contact.id == contact.id for p in i.interviewers)
        ],
        "notes": notes[-NOTES:],
        "notes_more": max(0, len(notes) - NOTES),
        "promises": promises[-NOTES:],
        "thank_you_line": thank_you,
        "exchanges": [_exchange(m, org, names, tz, now) for m in messages],
        "exchanges_count": total,
        "exchanges_more": total - len(messages),
    }


def _others(
    store: Store,
    org: Organization,
    people: Sequence[Contact],
    on_panel: set[int],
    names: Callable[[int], str | None],
    tz: ZoneInfo,
    now: datetime,
) -> list[dict[str, Any]]:
    """The people at the organization not on this panel (a recruiter first), each with
    the last exchange with them."""
    others = [c for c in people if c.id not in on_panel]
    others.sort(key=lambda c: (c.role_at(org.id) != "recruiter", c.display.casefold()))
    found = []
    for contact in others[:OTHERS]:
        last = store.correspondence(contact_id=contact.id, limit=1)
        found.append(
            {
                "id": contact.id,
                "name": contact.name,
                "email": contact.address,
                "display": contact.display,
                "role": contact.role_at(org.id),
                "last_exchange": _exchange(last[0], org, names, tz, now) if last else None,
            }
        )
    return found


def _item(item: FeedItem, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    when = item.published or item.first_seen
    return {
        "kind": item.kind,
        "title": item.title,
        "link": item.link,
        "href": href(item.link),
        "date": iso(when, tz),
        "day_text": _day(when, now),
        "location": item.location,
        "department": item.department,
        "closed": iso(item.closed, tz),
        "closed_text": _day(item.closed, now) if item.closed else None,
    }


def _feed_records(
    store: Store,
    settings: Settings,
    org: Organization,
    since: datetime,
    tz: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    def shown(found: list[FeedItem], name: str) -> dict[str, Any]:
        kept = surfaced(store, settings, found)
        return {
            name: [_item(i, tz, now) for i in kept[:FEED_ITEMS]],
            f"{name}_more": max(0, len(kept) - FEED_ITEMS),
        }

    news = store.feed_items(
        organization=org.id, kinds=("press", "news"), since=since, limit=PLANNING_ITEMS
    )
    opened = store.feed_items(
        organization=org.id, kinds=("opening",), since=since, open_only=True, limit=PLANNING_ITEMS
    )
    closed = store.feed_items(
        organization=org.id, kinds=("opening",), closed_since=since, limit=PLANNING_ITEMS
    )
    return {**shown(news, "news"), **shown(opened, "openings"), **shown(closed, "closed_openings")}


def _after(
    interview: Interview,
    org: Organization,
    duties: list[Duty],
    settings: Settings,
    tz: ZoneInfo,
    now: datetime,
) -> list[dict[str, Any]]:
    """What follows the interview: its thank-you notes, the follow-up with each person
    (the duties planned, or as planning will make them)."""
    rules = settings.planner
    people = {p.contact.id: p for p in interview.interviewers}
    mine = [d for d in duties if d.interview_id == interview.id and d.state != DutyState.CANCELLED]
    after: list[dict[str, Any]] = []

    def entry(kind: str, due: datetime, text: str, state: str = "pending") -> dict[str, Any]:
        return {
            "kind": kind,
            "due": iso(due, tz),
            "due_text": _moment(due, now),
            "state": state,
            "text": text,
        }

    if interview.cancelled:
        return []
    thank_yous = [d for d in mine if d.kind == DutyKind.THANK_YOU]
    planned_here = org.status == OrgStatus.ACTIVE and bool(people)
    if thank_yous or planned_here:
        pending = [d for d in thank_yous if d.state == DutyState.PENDING]
        due = (
            min(d.due for d in pending or thank_yous)
            if thank_yous
            else thank_you_due(interview, rules, tz)
        )
        whom = _and([p.contact.display for p in interview.interviewers])
        done = bool(thank_yous) and not pending
        after.append(
            entry(
                DutyKind.THANK_YOU,
                due,
                f"Thank-you notes to {whom}" + (": sent" if done else ""),
                "done" if done else "pending",
            )
        )
    follow_ups = [d for d in mine if d.kind == DutyKind.FOLLOW_UP]
    if follow_ups:
        for duty in follow_ups:
            person = people.get(duty.contact_id or -1)
            who = person.contact.display if person else org.name
            promised = person is not None and person.promised == duty.due.astimezone(tz).date()
            after.append(
                entry(
                    DutyKind.FOLLOW_UP,
                    duty.due,
                    f"Follow up with {who}" + (" (as you promised)" if promised else ""),
                    "done" if duty.state == DutyState.DONE else "pending",
                )
            )
    elif org.status == OrgStatus.ACTIVE:
        for person in interview.interviewers or [None]:
            promised_day = person.promised if person else None
            due = follow_up_due(interview, promised_day, rules, tz)
            who = person.contact.display if person else org.name
            after.append(
                entry(
                    DutyKind.FOLLOW_UP,
                    due,
                    f"Follow up with {who}"
                    + (" (as you promised)" if promised_day and due.date() == promised_day else ""),
                )
            )
    return after


def _open_duties(
    interview: Interview,
    contacts: Sequence[Contact],
    duties: list[Duty],
    tz: ZoneInfo,
    now: datetime,
) -> list[dict[str, Any]]:
    """What is still to do at the organization, apart from this interview's: a follow-up
    owed to the recruiter, say, overdue ones first (as they come, by due time)."""
    names = {c.id: c.display for c in contacts}
    found = []
    for duty in duties:
        if duty.interview_id == interview.id or duty.state != DutyState.PENDING:
            continue
        named = names.get(duty.contact_id or -1)
        found.append(
            {
                "id": duty.id,
                "kind": duty.kind,
                "due": iso(duty.due, tz),
                "due_text": _moment(duty.due, now),
                "state": duty.state_at(now),
                "text": KIND_LABELS[duty.kind] + (f" with {named}" if named else ""),
            }
        )
    return found


def _and(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


# --- questions


QUESTION_VARIABLES = (
    "organization",
    "position",
    "people",
    "interview_number",
    "latest_news",
    "new_opening",
    "closed_opening",
    "sheet",
)


def load_questions(path: Path | None) -> jinja2.Template:
    """The questions template at `path` (`[prep] questions_template`), else the built-in
    one. One with an error is a UserError naming the file and the line."""
    source = path or DEFAULT_QUESTIONS
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise UserError(
            f"questions template {source}: cannot read it ({why}); "
            "fix [prep] questions_template in the config"
        ) from None
    return _compiled(source, text)


@functools.lru_cache(maxsize=8)
def _compiled(source: Path, text: str) -> jinja2.Template:
    """The template of this text, compiled and tried once (a page asks for it often)."""
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    try:
        code = env.compile(text, name=source.name, filename=str(source))
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"questions template {source}, line {exc.lineno}: {exc.message}") from None
    template = env.template_class.from_code(env, code, env.make_globals(None))
    # A misspelt variable is found now, with and without news to draw on.
    for sample in _samples():
        _render(template, sample, source)
    return template


def _samples() -> list[dict[str, Any]]:
    import jinja2

    item = {
        "kind": "press",
        "title": "a title",
        "link": "https://example.com/",
        "href": "https://example.com/",
        "date": "2026-12-01T10:00:00+01:00",
        "day_text": "Tue 01 Dec",
        "location": "Paris",
        "department": "Network",
        "closed": None,
        "closed_text": None,
    }
    full = {
        "organization": "Acme",
        "position": "Engineer",
        "people": ["Jane Doe"],
        "interview_number": 2,
        "latest_news": item,
        "new_opening": item,
        "closed_opening": item,
        "sheet": jinja2.ChainableUndefined(name="sheet"),
    }
    empty = {
        **full,
        "position": None,
        "people": [],
        "interview_number": 1,
        "latest_news": None,
        "new_opening": None,
        "closed_opening": None,
    }
    return [full, empty]


def _render(template: jinja2.Template, values: dict[str, Any], source: Path | str) -> str:
    import jinja2

    try:
        return template.render(values)
    except jinja2.TemplateError as exc:
        line = _line_of(exc, str(source))
        where = f", line {line}" if line else ""
        raise UserError(f"questions template {source}{where}: {exc}") from None


def _line_of(exc: BaseException, filename: str) -> int | None:
    """The template's line an error was raised at (Jinja2 puts the template's frames,
    with their lines, in the traceback)."""
    found = None
    trace = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == filename:
            found = trace.tb_lineno
        trace = trace.tb_next
    return found


def question_values(sheet: dict[str, Any]) -> dict[str, Any]:
    """What a questions template draws on (QUESTION_VARIABLES)."""
    return {
        "organization": sheet["organization"]["name"],
        "position": sheet["interview"]["position"],
        "people": [p["display"] for p in sheet["panel"]],
        "interview_number": sheet["interview"]["number"],
        "latest_news": sheet["news"][0] if sheet["news"] else None,
        "new_opening": sheet["openings"][0] if sheet["openings"] else None,
        "closed_opening": sheet["closed_openings"][0] if sheet["closed_openings"] else None,
        "sheet": sheet,
    }


def render_questions(template: jinja2.Template, sheet: dict[str, Any]) -> list[str]:
    """One question a non-blank line of the template's text, white space made single."""
    text = _render(template, question_values(sheet), template.filename or "questions")
    lines = (" ".join(line.split()) for line in text.splitlines())
    return [line[:QUESTION_LENGTH] for line in lines if line][:QUESTIONS]


# --- the terminal's sheet


def render_prep_text(record: dict[str, Any]) -> str:
    """The sheet as the terminal shows it (every outside text cleaned to one line)."""
    sheet = clean_record(record)
    interview = sheet["interview"]
    lines = [f"Prep sheet: {sheet['title']} (interview #{sheet['id']})"]
    state = {
        "cancelled": "  CANCELLED",
        "past": "  (past)",
        "under way": "  (under way)",
    }.get(interview["state"], "")
    lines.append(
        f"  When   {interview['when_text']} {interview['zone']} ({interview['relative_text']})"
        + state
    )
    if interview["other_zone_text"]:
        lines.append(f"         {interview['other_zone_text']}")
    if interview["location"]:
        lines.append(f"  Where  {interview['location']}")
    if interview["meeting_link"]:
        lines.append(f"  Join   {interview['meeting_link']}")
    number = interview["number"]
    if number > 1:
        lines.append(f"  Round  your {_ordinal(number)} interview with them")
    lines.append("")
    lines.append("Who you will meet")
    if not sheet["panel"]:
        lines.append("  nobody named yet (add someone: pursuit interview add-person ID PERSON)")
    for person in sheet["panel"]:
        lines.extend(_person_lines(person))
    if sheet["others"]:
        lines.append("")
        lines.append(f"Also at {sheet['organization']['name']}")
        for other in sheet["others"]:
            role = f", {other['role']}" if other["role"] else ""
            lines.append(f"  {other['display']} <{other['email']}>{role}")
            last = other["last_exchange"]
            if last:
                lines.append(f"    last: {_exchange_text(last)}")
    lines.append("")
    lines.extend(_organization_lines(sheet))
    if sheet["open_duties"]:
        lines.append("")
        lines.append(f"Still to do with {sheet['organization']['name']}")
        width = max(len(d["due_text"]) for d in sheet["open_duties"])
        for duty in sheet["open_duties"]:
            late = "  (overdue)" if duty["state"] == "overdue" else ""
            lines.append(f"  #{duty['id']:<5} {duty['due_text']:<{width}}  {duty['text']}{late}")
    lines.append("")
    lines.append("Questions to ask")
    lines.extend(f"  - {q}" for q in sheet["questions"])
    if sheet["after"]:
        lines.append("")
        lines.append("After the interview")
        width = max(len(a["due_text"]) for a in sheet["after"])
        lines.extend(f"  {a['due_text']:<{width}}  {a['text']}" for a in sheet["after"])
    return "\n".join(lines) + "\n"


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10)
    return f"{number}{suffix or 'th'}"


def _exchange_text(exchange: dict[str, Any]) -> str:
    subject = f' "{exchange["subject"]}"' if exchange["subject"] else ""
    about = f" ({exchange['organization']})" if exchange["organization"] else ""
    return f"{exchange['day_text']}, {exchange['what_text']}{subject}{about}"


def _person_lines(person: dict[str, Any]) -> list[str]:
    role = f", {person['role']}" if person["role"] else ""
    lines = [f"  {person['display']} <{person['email']}>{role}"]
    if person["met"]:
        met = ", ".join(f"#{m['id']} {m['when_text']}" for m in person["met"])
        lines.append(f"    met at: {met}")
    else:
        lines.append("    first time you meet")
    for promise in person["promises"]:
        about = f" ({promise['organization']})" if promise["organization"] else ""
        lines.append(f"    you promised: {promise['text']} (said {promise['day_text']}){about}")
    if person["notes_more"]:
        lines.append(f"    ... {person['notes_more']} earlier notes (pursuit contact show)")
    for note in person["notes"]:
        about = f" ({note['organization']})" if note["organization"] else ""
        lines.append(f"    your note, {note['day_text']}: {note['text']}{about}")
    if person["thank_you_line"]:
        lines.append(f"    your line for the thank-you: {person['thank_you_line']}")
    count = person["exchanges_count"]
    if not count:
        lines.append("    no exchange logged with them")
    else:
        shown = f", the last {len(person['exchanges'])}" if person["exchanges_more"] else ""
        lines.append(f"    exchanges ({count}{shown}):")
        lines.extend(f"      {_exchange_text(e)}" for e in person["exchanges"])
        if person["exchanges_more"]:
            lines.append(f"      ... {person['exchanges_more']} earlier (pursuit history EMAIL)")
    return lines


def _organization_lines(sheet: dict[str, Any]) -> list[str]:
    org = sheet["organization"]
    lines = [f"{org['name']} ({org['status_text']})"]
    if org["flag"]:
        lines.append(f"  ! {org['flag']}")
    if org["positions"]:
        lines.append(f"  positions: {', '.join(org['positions'])}")
    earlier = sheet["earlier_interviews"]
    if earlier:
        lines.append("  Earlier interviews")
        for i in earlier:
            who = ", ".join(i["with"]) or "nobody named"
            position = f"{i['position']}, " if i["position"] else ""
            mark = " (cancelled)" if i["cancelled"] else ""
            lines.append(f"    #{i['id']} {i['when_text']}  {position}with {who}{mark}")
    else:
        lines.append("  Your first interview with them")
    for note in org["notes"]:
        lines.append(f"  your note, {note['day_text']}: {note['text']}")
    since = sheet["since_text"]
    groups = (
        ("News", sheet["news"], sheet["news_more"], "pursuit news"),
        ("New openings", sheet["openings"], sheet["openings_more"], "pursuit openings"),
        ("Openings closed", sheet["closed_openings"], sheet["closed_openings_more"], None),
    )
    if not any(items for _, items, _, _ in groups):
        lines.append(f"  Nothing new {since}")
        return lines
    lines.append(f"  New {since}:")
    for label, items, more, command in groups:
        if not items:
            continue
        lines.append(f"    {label}")
        for item in items:
            lines.append(f"      {item['day_text']}  {_item_text(item)}")
            if item["link"]:
                lines.append(f"        {item['link']}")
        if more:
            lines.append(f"      ... and {more} more" + (f" ({command} ORG)" if command else ""))
    return lines


def _item_text(item: dict[str, Any]) -> str:
    if item["kind"] != "opening":
        return f"{item['kind']}: {item['title']}"
    where = ", ".join(x for x in (item["location"], item["department"]) if x)
    closed = f", closed {item['closed_text']}" if item["closed_text"] else ""
    return f"{item['title']}" + (f" ({where})" if where else "") + closed


# --- the page


@functools.cache
def _html_environment() -> jinja2.Environment:
    """One environment for the process: it keeps its templates compiled."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_prep_fragment(record: dict[str, Any]) -> str:
    """The sheet as an HTML fragment (`templates/prep_sheet.html`), for a page to hold."""
    return _html_environment().get_template(FRAGMENT).render(sheet=_for_html(record))


def render_prep_html(record: dict[str, Any]) -> str:
    """A whole standalone page (`templates/prep.html`), printable on one or two pages."""
    return _html_environment().get_template(PAGE).render(sheet=_for_html(record))


def write_page(path: Path, record: dict[str, Any]) -> None:
    """The standalone page to `path`, whole or not at all, readable by the user alone
    (the sheet holds their private notes)."""
    from pursuit.daemon.files import write_atomically

    try:
        write_atomically(path, render_prep_html(record).encode("utf-8"))
    except OSError as exc:
        raise UserError(
            f"cannot write the prep sheet to {path}: {exc.strerror or exc}; "
            "give --html a file in a folder you can write to"
        ) from None


def _for_html(record: dict[str, Any]) -> Any:
    """Outside text without control characters; HTML escaping is the template's."""
    return clean_record(record)


# --- the calendar event the evening before


def prep_event_start(
    interview: Interview, event_time: time, tz: ZoneInfo, now: datetime, held: ManagedEvent | None
) -> datetime | None:
    """When an interview's prep event is: the evening before, at `event_time`.

    An interview recorded after that moment gets its event at the next quarter hour
    (never in the past), kept there by later rounds; none when the interview begins
    before that.
    """
    day_before = interview.start.astimezone(tz).date() - timedelta(days=1)
    wanted = at_local(day_before, event_time, tz)
    if wanted > now:
        return wanted
    if held is not None and held.live and wanted <= held.start < interview.start:
        return held.start  # placed by an earlier round: it stays where it was
    step = LATE_STEP.total_seconds()
    late = datetime.fromtimestamp(-(-now.timestamp() // step) * step, tz)
    return late if late < interview.start else None


def prep_events(
    store: Store,
    settings: Settings,
    calendar: str,
    interviews: Iterable[Interview],
    now: datetime,
) -> list[PlannedEvent]:
    """One event per coming interview (not cancelled, at an organization still to
    prepare for), the evening before, its description a summary of the sheet. An
    interview that has begun keeps the event it had, as it was."""
    held = {
        key: event
        for key, event in store.managed_events(calendar).items()
        if key.startswith(EVENT_PREFIX) and event.live
    }
    organization = functools.cache(store.organization)  # those of coming interviews alone
    tz = settings.timezone
    rules = settings.planner
    try:
        questions = load_questions(settings.prep.questions_template)
    except UserError as exc:
        log.warning("prep events: %s; the built-in questions are used", exc)
        questions = load_questions(None)
    events: list[PlannedEvent] = []
    for interview in interviews:
        key = f"{EVENT_PREFIX}{interview.id}"
        if interview.cancelled:
            continue
        before = held.get(key)
        if interview.start <= now:
            if before is not None:  # the evening before is history: left as it was
                events.append(_as_planned(before))
            continue
        if interview.start > now + EVENT_HORIZON and before is None:
            continue
        if organization(interview.organization_id).status not in PREPARED:
            continue
        start = prep_event_start(interview, settings.prep.event_time, tz, now, before)
        if start is None:
            continue
        try:
            sheet = prep_sheet(store, settings, interview.id, now, questions=questions)
        except UserError as exc:  # the user's questions failed on this sheet's data
            log.warning(
                "prep event of interview #%d: %s; the built-in questions are used",
                interview.id,
                exc,
            )
            sheet = prep_sheet(store, settings, interview.id, now, questions=load_questions(None))
        events.append(
            PlannedEvent(
                key=key,
                duty_ids=(),
                start=start,
                end=start + rules.event_duration,
                summary=_event_summary(sheet, interview, start, tz),
                description=event_description(sheet),
                reminder_minutes=int(rules.reminder.total_seconds() // 60),
            )
        )
    return events


def _as_planned(event: ManagedEvent) -> PlannedEvent:
    return PlannedEvent(
        key=event.key,
        duty_ids=event.duty_ids,
        start=event.start,
        end=event.end,
        summary=event.summary,
        description=event.description,
        reminder_minutes=event.reminder_minutes,
    )


def _event_summary(
    sheet: dict[str, Any], interview: Interview, start: datetime, tz: ZoneInfo
) -> str:
    day = interview.start.astimezone(tz)
    ahead = (day.date() - start.astimezone(tz).date()).days
    when = {0: "today", 1: "tomorrow"}.get(ahead, f"{day:%a %d %b}")
    return f"Prepare: interview at {sheet['organization']['name']}, {when} {day:%H:%M}"


def event_description(sheet: dict[str, Any]) -> str:
    """The sheet in short, for the event: whom you meet and your last exchange with
    each, what is new, the questions; no notes (the full sheet has them)."""
    interview = sheet["interview"]
    lines = [
        f"Interview: {interview['when_text']}"
        + (f", {interview['position']}" if interview["position"] else "")
    ]
    if interview["other_zone_text"]:
        lines.append(f"  ({interview['other_zone_text']})")
    if interview["location"]:
        lines.append(f"Where: {interview['location']}")
    if interview["meeting_link"]:
        lines.append(f"Join: {interview['meeting_link']}")
    lines.append("")
    if sheet["panel"]:
        lines.append("You will meet:")
        for person in sheet["panel"]:
            role = f", {person['role']}" if person["role"] else ""
            last = person["exchanges"][0] if person["exchanges"] else None
            said = f"; last: {_exchange_text(last)}" if last else "; no exchange yet"
            lines.append(f"- {person['display']}{role}{said}")
    else:
        lines.append("You will meet: nobody named yet")
    news = [f"{i['kind'].capitalize()}: {i['title']}" for i in sheet["news"][:3]]
    news += [f"New opening: {_item_text(i)}" for i in sheet["openings"][:3]]
    news += [
        f"Opening closed {i['closed_text']}: {i['title']}" for i in sheet["closed_openings"][:2]
    ]
    if news:
        lines.append("")
        lines.append(f"New {sheet['since_text']}:")
        lines.extend(f"- {line}" for line in news)
    if sheet["questions"]:
        lines.append("")
        lines.append("Ask:")
        lines.extend(f"- {q}" for q in sheet["questions"])
    lines.append("")
    lines.append(f"Full sheet: pursuit prep {sheet['id']}")
    return "\n".join(lines)
