"""What the user reads: status, history and an organization's page, as data and as text."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pursuit.config.settings import Settings
from pursuit.daemon.export import duty_record, iso, organization_record, status_changes
from pursuit.daemon.interviews import where_briefly
from pursuit.daemon.models import (
    Contact,
    DutyKind,
    DutyState,
    Interview,
    Note,
    NoteKind,
    Organization,
)
from pursuit.daemon.store import Store
from pursuit.daemon.textsafety import clean as clean  # the commands print with it too

KIND_LABELS = {
    DutyKind.THANK_YOU: "thank-you",
    DutyKind.FOLLOW_UP: "follow-up",
    DutyKind.CHECK_IN: "check-in",
}

HINT = "Mark one done with `pursuit done ID`, move it with `pursuit snooze ID --to DATE`."


def status(
    store: Store,
    tz: ZoneInfo,
    now: datetime,
    *,
    limit: int | None = 10,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Organizations, then overdue duties (oldest first), then the next ones.

    `limit` caps each list of duties (None: all); the counts are always whole.
    """
    orgs = {o.id: o for o in store.organizations()}
    overdue = store.duties(state=DutyState.PENDING, due_before=now, limit=limit)
    upcoming = store.duties(state=DutyState.PENDING, due_from=now, limit=limit)
    overdue_count, pending_count = store.pending_counts(now)
    people = {
        c.id: c
        for c in store.contacts_by_id({d.contact_id for d in overdue + upcoming if d.contact_id})
    }
    counts = store.interview_summary(now)
    pending_by_org = store.pending_by_organization()
    organizations = []
    for org in orgs.values():
        count, last, coming = counts.get(org.id, (0, None, None))
        record = organization_record(org)
        record["interviews"] = count
        record["last_interview"] = iso(last, tz)  # the latest that has started
        record["next_interview"] = iso(coming, tz)
        record["pending_duties"] = pending_by_org.get(org.id, 0)
        organizations.append(record)
    from pursuit.daemon.feeds import rejected_with_openings

    return {
        "now": iso(now, tz),
        "organizations": organizations,
        "failing_feeds": failing_feed_records(store, tz),
        "suggestions": rejected_with_openings(store, settings) if settings else [],
        "overdue_count": overdue_count,
        "upcoming_count": pending_count - overdue_count,
        "overdue": [duty_record(d, people, orgs, tz, now) for d in overdue],
        "upcoming": [duty_record(d, people, orgs, tz, now) for d in upcoming],
    }


def failing_feed_records(store: Store, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The feeds failing now, as `pursuit status` and the dashboard show them."""
    from pursuit.daemon.feeds import failing_feeds, shown

    return [
        {
            "organization": feed.organization,
            "feed": shown(feed.configured_url),
            "error": feed.last_error,
            "active": feed.active,
            "failures": feed.failures,
            "last_ok": iso(feed.last_ok, tz),
            "next_try": iso(feed.next_poll, tz) if feed.active else None,
        }
        for feed in failing_feeds(store)
    ]


def _when(text: str | None, now: str | None = None) -> str:
    """`Tue 01 Dec 14:00`, with the year when it is not the year of `now`."""
    if not text:
        return ""
    moment = datetime.fromisoformat(text)
    if now is not None and moment.year != datetime.fromisoformat(now).year:
        return moment.strftime("%a %d %b %Y %H:%M")
    return moment.strftime("%a %d %b %H:%M")


def late_by(due: str, now: str) -> str:
    """How late a duty due at `due` is at `now`: "3 hours late", "2 days late"."""
    seconds = (datetime.fromisoformat(now) - datetime.fromisoformat(due)).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} late"
    return "just due"


def _duty_lines(
    duties: list[dict[str, Any]], now: str, *, late: bool = False, width: int = 16
) -> list[str]:
    """One aligned line per duty; `late` adds how late each is."""
    whens = [_when(d["due"], now) for d in duties]
    width = max([width, *(len(w) for w in whens)])
    lines = []
    for duty, when in zip(duties, whens, strict=True):
        who = duty["contact_name"] or duty["contact"] or ""
        label = KIND_LABELS[duty["kind"]]
        # Nobody named: the duty is with the organization itself.
        whom = f"{who} ({duty['organization']})" if who else duty["organization"]
        line = f"  #{duty['id']:<5} {when:<{width}} {label:<10} {whom}"
        lines.append(f"{line}  {late_by(duty['due'], now)}" if late else line)
    return lines


def _interviews_text(org: dict[str, Any], now: str) -> str:
    count = org["interviews"]
    text = f"{count} interview{'s' if count != 1 else ''}"
    if org["last_interview"]:
        text += f", last {_when(org['last_interview'], now)}"
    if org.get("next_interview"):
        text += f", next {_when(org['next_interview'], now)}"
    return text


def _duty_line(duty: dict[str, Any], now: str) -> str:
    return _duty_lines([duty], now)[0]


def render_status(record: dict[str, Any]) -> str:
    record = clean_record(record)
    now = record["now"]
    lines: list[str] = []
    orgs = record["organizations"]
    if not orgs:
        lines.append("No organization tracked yet.")
        lines.append('Add one: pursuit org add "Acme Networks" --domain acme.com')
    else:
        lines.append("Organizations")
        width = min(max([28, *(display_width(o["name"]) for o in orgs)]), NAME_COLUMN_MAX)
        for org in orgs:
            lines.append(
                f"  {pad(org['name'], width)} {org['status']:<10} {_interviews_text(org, now)}"
            )
            if org["flag"]:
                lines.append(f"    ! {org['flag']}")
    if record["overdue_count"]:
        lines.append("")
        lines.append(f"Overdue ({record['overdue_count']})")
        lines.extend(_duty_lines(record["overdue"], now, late=True))
        _more(lines, record["overdue_count"], len(record["overdue"]))
    lines.append("")
    if record["upcoming_count"]:
        lines.append(f"Next ({record['upcoming_count']})")
        lines.extend(_duty_lines(record["upcoming"], now))
        _more(lines, record["upcoming_count"], len(record["upcoming"]))
    elif record["overdue_count"]:
        lines.append("Nothing else planned.")
    else:
        lines.append("Nothing planned.")
    if record["suggestions"]:
        lines.append("")
        lines.append("Worth a check-in")
        lines.extend(f"  {s['suggestion']}" for s in record["suggestions"])
    if record["failing_feeds"]:
        lines.append("")
        lines.append(f"Feeds failing ({len(record['failing_feeds'])}): see `pursuit doctor`")
    if record["overdue"] or record["upcoming"]:
        lines.append("")
        lines.append(HINT)
    return "\n".join(lines) + "\n"


def render_overdue(record: dict[str, Any]) -> str:
    """Only what is late (`pursuit status --overdue`)."""
    record = clean_record(record)
    if not record["overdue_count"]:
        return "Nothing overdue.\n"
    lines = [f"Overdue ({record['overdue_count']})"]
    lines.extend(_duty_lines(record["overdue"], record["now"], late=True))
    _more(lines, record["overdue_count"], len(record["overdue"]))
    lines.append("")
    lines.append(HINT)
    return "\n".join(lines) + "\n"


def _more(lines: list[str], count: int, shown: int) -> None:
    if count > shown:
        hidden = count - shown
        what = f"and {hidden} more" if shown else f"{hidden} not shown"
        lines.append(f"  ... {what} (pursuit status --all)")


def history(
    store: Store, target: Organization | Contact, tz: ZoneInfo, *, limit: int | None = None
) -> dict[str, Any]:
    """Correspondence, interviews and finished duties of an organization or contact;
    each entry names the organization it is about (None when it is about none).

    `limit`: only the newest entries, read as such from the store (a page stays quick
    with thousands of messages), and `more`, how many older ones are left out."""
    org = target if isinstance(target, Organization) else None
    contact = None if isinstance(target, Organization) else target
    contacts = {c.id: c for c in store.contacts()}
    names = {o.id: o.name for o in store.organizations()}
    entries: list[dict[str, Any]] = []
    if org is not None:
        messages = store.correspondence(organization_id=org.id, limit=limit)
        interviews = store.interviews(org.id)
        duties = store.duties(organization=org.id)
        title = org.name
    else:
        assert contact is not None
        messages = store.correspondence(contact_id=contact.id, limit=limit)
        interviews = [
            i for i in store.interviews() if any(p.contact.id == contact.id for p in i.interviewers)
        ]
        duties = store.duties(contact=contact.id)
        title = f"{contact.display} <{contact.address}>"
    for m in messages:
        entries.append(
            {
                "date": iso(m.date, tz),
                "type": m.channel,
                "direction": m.direction,
                "text": m.subject or m.snippet,
                "with": [contacts[c].display for c in m.contact_ids if c in contacts],
                "organization": names.get(m.organization_id or -1),
            }
        )
    for i in interviews:
        entries.append(
            {
                "date": iso(i.start, tz),
                "type": "interview",
                "direction": None,
                "text": ("cancelled: " if i.cancelled else "") + (i.position or "interview"),
                "with": [p.contact.display for p in i.interviewers],
                "organization": names.get(i.organization_id),
            }
        )
    for d in duties:
        if d.state == DutyState.DONE and d.done_at is not None:
            who = contacts[d.contact_id].display if d.contact_id in contacts else ""
            entries.append(
                {
                    "date": iso(d.done_at, tz),
                    "type": "done",
                    "direction": None,
                    "text": f"{KIND_LABELS[d.kind]} done ({d.evidence})",
                    "with": [who] if who else [],
                    "organization": names.get(d.organization_id),
                }
            )
    entries.extend(_note_entries(store, org, contact, contacts, names, tz))
    entries.sort(key=lambda e: datetime.fromisoformat(e["date"]), reverse=True)
    record: dict[str, Any] = {
        "title": title,
        "entries": entries,
        **_organizations_of(store, contact),
    }
    if limit is not None:  # the newest `limit` of each kind hold the newest `limit` of all
        logged = store.count_correspondence(
            organization_id=org.id if org else None, contact_id=contact.id if contact else None
        )
        record["entries"] = entries[:limit]
        record["more"] = len(entries) - len(messages) + logged - len(record["entries"])
    return record


def render_history(record: dict[str, Any]) -> str:
    record = clean_record(record)
    at = record.get("organizations")
    lines = [record["title"]]
    if at:  # a person: under each of their organizations
        lines.append(f"  at {', '.join(at)}")
    if not record["entries"]:
        lines.append("  nothing recorded yet")
    arrows = {"in": "<-", "out": "->", None: "  "}
    # A person at several organizations: each line says which one it is about.
    orgs = [e.get("organization") or "" for e in record["entries"]] if len(at or ()) > 1 else []
    column = max(map(display_width, orgs), default=0)
    for index, entry in enumerate(record["entries"]):
        who = ", ".join(entry["with"])
        when = datetime.fromisoformat(entry["date"]).strftime("%Y-%m-%d %H:%M")
        about = f"{pad(orgs[index], column)}  " if orgs else ""
        lines.append(
            f"  {when}  {arrows[entry['direction']]} {entry['type']:<9} {about}{entry['text']}"
            + (f"  [{who}]" if who else "")
        )
    return "\n".join(lines) + "\n"


def organization_detail(
    store: Store, org: Organization, tz: ZoneInfo, now: datetime
) -> dict[str, Any]:
    record = organization_record(org)
    record["now"] = iso(now, tz)
    contacts = store.contacts(org.id)
    record["contacts"] = [
        {"name": c.name, "email": c.address, "role": c.role_at(org.id)} for c in contacts
    ]
    record["notes"] = _note_records(store, org, tz)
    record["interviews"] = [
        {
            "id": i.id,
            "start": iso(i.start, tz),
            "position": i.position,
            "interviewers": [p.contact.address for p in i.interviewers],
            "cancelled": i.cancelled,
            "location": i.location,
            "meeting_link": i.meeting_link,
            "zone": i.zone,
        }
        for i in store.interviews(org.id)
    ]
    everyone = {c.id: c for c in store.contacts()}
    record["duties"] = [
        duty_record(d, everyone, {org.id: org}, tz, now)
        for d in store.duties(organization=org.id, state=(DutyState.PENDING, DutyState.DONE))
    ]
    return record


def render_organization(record: dict[str, Any]) -> str:
    record = clean_record(record)
    now = record["now"]
    lines = [f"{record['name']} ({record['status']})"]
    lines.append(f"  domains: {', '.join(record['domains']) or 'none'}")
    if record["positions"]:
        lines.append(f"  positions: {', '.join(record['positions'])}")
    if record["flag"]:
        lines.append(f"  ! {record['flag']}")
    if record["contacts"]:
        lines.append("People")
        for c in record["contacts"]:
            role = f", {c['role']}" if c["role"] else ""
            lines.append(f"  {c['name'] or c['email']} <{c['email']}>{role}")
    if record["interviews"]:
        lines.append("Interviews")
        for i in record["interviews"]:
            mark = " (cancelled)" if i["cancelled"] else ""
            when = _when(i["start"], now)
            where = where_briefly(i.get("location"), i.get("meeting_link"))
            where = f", {where}" if where and i["position"] else where
            lines.append(f"  #{i['id']} {when} {i['position'] or ''}{where}{mark}".rstrip())
    if record["duties"]:
        lines.append("Duties")
        for d, line in zip(record["duties"], _duty_lines(record["duties"], now), strict=True):
            late = f" ({late_by(d['due'], now)})" if d["state"] == "overdue" else ""
            lines.append(f"{line} {d['state']}{late}")
    _render_notes(lines, record.get("notes", []))
    return "\n".join(lines) + "\n"


def render_items(rows: list[dict[str, Any]], empty: str) -> str:
    if not rows:
        return empty + "\n"
    rows = clean_record(rows)
    lines = []
    for row in rows:
        when = row["published"] or row["first_seen"]
        day = datetime.fromisoformat(when).strftime("%Y-%m-%d") if when else ""
        extra = " ".join(x for x in (row["location"], row["department"]) if x)
        closed = f"  (closed {row['closed'][:10]})" if row["closed"] else ""
        lines.append(f"{day}  {row['organization']}: {row['title']}{closed}")
        if extra:
            lines.append(f"            {extra}")
        if row["link"]:
            lines.append(f"            {row['link']}")
    return "\n".join(lines) + "\n"


def render_doctor(feeds: list[dict[str, Any]]) -> str:
    if not feeds:
        return "All feeds answered on their last poll.\n"
    feeds = clean_record(feeds)
    lines = [f"{len(feeds)} {'feed' if len(feeds) == 1 else 'feeds'} failing:"]
    for feed in feeds:
        state = "" if feed["active"] else " [stopped: fix or remove it in the config]"
        lines.append(f"  {feed['organization']}: {feed['feed']}{state}")
        lines.append(f"    {feed['error']}")
        times = "once" if feed["failures"] == 1 else f"{feed['failures']} times in a row"
        last_ok = feed["last_ok"]
        answered = f"last answered {last_ok[:10]}" if last_ok else "never answered"
        retry = f"; next try {feed['next_try'][:16].replace('T', ' ')}" if feed["next_try"] else ""
        if feed["failures"]:
            lines.append(f"    failed {times}, {answered}{retry}")
    return "\n".join(lines) + "\n"


# --- this week


def week(store: Store, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """What happened in the past 7 days, and what is due in the next 7 (overdue first)."""
    since, until = now - timedelta(days=7), now + timedelta(days=7)
    orgs = {o.id: o for o in store.organizations()}
    contacts = {c.id: c for c in store.contacts()}
    interviews = [i for i in store.interviews(include_cancelled=False) if since <= i.start < until]

    def interview_record(i: Interview) -> dict[str, Any]:
        return {
            "id": i.id,
            "start": iso(i.start, tz),
            "organization": orgs[i.organization_id].name,
            "position": i.position,
            "with": [p.contact.display for p in i.interviewers],
        }

    correspondence = [
        {
            "date": iso(m.date, tz),
            "type": m.channel,
            "direction": m.direction,
            "text": m.subject or m.snippet,
            "organization": orgs[m.organization_id].name if m.organization_id in orgs else None,
            "with": [contacts[c].display for c in m.contact_ids if c in contacts],
        }
        for m in store.correspondence(since=since, newest_first=False)
        if m.date <= now
    ]
    done = [
        duty_record(d, contacts, orgs, tz, now)
        for d in store.duties(state=DutyState.DONE)
        if d.done_at is not None and since <= d.done_at <= now
    ]
    done.sort(key=lambda d: datetime.fromisoformat(d["done_at"]))
    pending = store.duties(state=DutyState.PENDING, due_before=until)
    return {
        "now": iso(now, tz),
        "since": iso(since, tz),
        "until": iso(until, tz),
        "status_changes": status_changes(store, tz, since, now),
        "past_interviews": [interview_record(i) for i in interviews if i.start <= now],
        "correspondence": correspondence,
        "done": done,
        "overdue": [duty_record(d, contacts, orgs, tz, now) for d in pending if d.due < now],
        "coming_interviews": [interview_record(i) for i in interviews if i.start > now],
        "due": [duty_record(d, contacts, orgs, tz, now) for d in pending if d.due >= now],
    }


def render_week(record: dict[str, Any]) -> str:
    record = clean_record(record)
    now = record["now"]
    arrows = {"in": "<-", "out": "->"}
    happened: list[tuple[str, str]] = []
    for i in record["past_interviews"]:
        happened.append((i["start"], f"interview   {_interview_text(i)}"))
    for m in record["correspondence"]:
        who = f" [{', '.join(m['with'])}]" if m["with"] else ""
        org = f" ({m['organization']})" if m["organization"] else ""
        happened.append(
            (m["date"], f"{m['type']:<5} {arrows[m['direction']]}    {m['text']}{who}{org}")
        )
    for d in record["done"]:
        who = d["contact_name"] or d["contact"] or ""
        happened.append(
            (d["done_at"], f"done        {KIND_LABELS[d['kind']]} {who} ({d['organization']})")
        )
    happened.sort(key=lambda entry: datetime.fromisoformat(entry[0]))
    lines = []
    if record["status_changes"]:  # the week's big news first, an offer before all
        lines.append("Status changes")
        lines.extend(
            f"  {c['organization']}: {c['status']} ({_when(c['date'], now)})"
            for c in record["status_changes"]
        )
        lines.append("")
    lines.append(f"The past 7 days (since {_when(record['since'], now)})")
    if not happened:
        lines.append("  nothing recorded")
    width = max([16, *(len(_when(when, now)) for when, _ in happened)])
    lines.extend(f"  {_when(when, now):<{width}}  {text}" for when, text in happened)
    if record["overdue"]:
        lines.append("")
        lines.append(f"Overdue ({len(record['overdue'])})")
        lines.extend(_duty_lines(record["overdue"], now, late=True))
    lines.append("")
    lines.append(f"The next 7 days (until {_when(record['until'], now)})")
    if not record["coming_interviews"] and not record["due"]:
        lines.append("  nothing due")
    # Interviews among the duties, in time order, in the duties' columns.
    starts = [_when(i["start"], now) for i in record["coming_interviews"]]
    dues = [_when(d["due"], now) for d in record["due"]]
    width = max([16, *(len(w) for w in starts + dues)])
    due_lines = _duty_lines(record["due"], now, width=width)
    coming = [(d["due"], line) for d, line in zip(record["due"], due_lines, strict=True)]
    for interview, when in zip(record["coming_interviews"], starts, strict=True):
        line = f"  {'':<6} {when:<{width}} {'interview':<10} {_interview_text(interview)}"
        coming.append((interview["start"], line))
    coming.sort(key=lambda entry: datetime.fromisoformat(entry[0]))
    lines.extend(line for _, line in coming)
    return "\n".join(lines) + "\n"


def _interview_text(interview: dict[str, Any]) -> str:
    position = f", {interview['position']}" if interview["position"] else ""
    who = ", ".join(interview["with"]) or "nobody named"
    return f"{interview['organization']}{position}, with {who}"


# --- text that reaches the terminal

NAME_COLUMN_MAX = 40


def clean_record(value: Any) -> Any:
    """`value` with every string in it cleaned (one line each): what a renderer prints."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {key: clean_record(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_record(item) for item in value]
    return value


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (CJK) characters take two, marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """`text` cut to `width` columns (ending in "…" when cut), then padded to it."""
    if display_width(text) > width:
        while text and display_width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - display_width(text))


# --- the user's log, and a person's page


NOTE_LABELS = {
    NoteKind.NOTE: "note",
    NoteKind.PROMISE: "promise",
    NoteKind.STATUS: "status",
    NoteKind.THANK_YOU: "thank-you",  # a line given for a thank-you note
}


def _note_text(note: Note) -> str:
    if note.kind == NoteKind.STATUS:
        return f"{note.text} on {note.created:%d %b %Y}"
    return note.text


def _note_entries(
    store: Store,
    org: Organization | None,
    contact: Contact | None,
    contacts: dict[int, Contact],
    names: dict[int, str],
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    """Notes, promises and status changes as history entries."""
    notes = store.notes(organization=org.id) if org else []
    if contact is not None:
        notes = store.notes(contact=contact.id)
    return [
        {
            "date": iso(n.created, tz),
            "type": NOTE_LABELS[n.kind],
            "direction": None,
            "text": _note_text(n),
            "with": [contacts[n.contact_id].display] if n.contact_id in contacts else [],
            "organization": names.get(n.organization_id or -1),
        }
        for n in notes
    ]


def _note_records(store: Store, org: Organization, tz: ZoneInfo) -> list[dict[str, Any]]:
    everyone = {c.id: c for c in store.contacts()}
    return [
        {
            "date": iso(n.created, tz),
            "kind": n.kind,
            "text": _note_text(n),
            "contact": everyone[n.contact_id].address if n.contact_id in everyone else None,
        }
        for n in store.notes(organization=org.id)
    ]


def _render_notes(lines: list[str], notes: list[dict[str, Any]]) -> None:
    if not notes:
        return
    lines.append("Notes")
    for n in notes:
        day = datetime.fromisoformat(n["date"]).strftime("%Y-%m-%d")
        who = f"  [{n['contact']}]" if n["contact"] else ""
        lines.append(f"  {day} {NOTE_LABELS[NoteKind(n['kind'])]:<8} {n['text']}{who}")


def _organizations_of(store: Store, contact: Contact | None) -> dict[str, list[str]]:
    """A person's organizations, for their history (an organization's has none)."""
    if contact is None:
        return {}
    return {"organizations": [store.organization(o).name for o in contact.organization_ids]}


def contact_detail(store: Store, contact: Contact, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """A person: their organizations, addresses, notes, interviews, duties, last message."""
    orgs = {o.id: o for o in store.organizations()}
    interviews = [
        i for i in store.interviews() if any(p.contact.id == contact.id for p in i.interviewers)
    ]
    last = next(iter(store.correspondence(contact_id=contact.id, limit=1)), None)
    return {
        "now": iso(now, tz),
        "name": contact.name,
        "email": contact.address,
        "addresses": list(contact.addresses),
        "organizations": [
            {
                "name": orgs[m.organization_id].name,
                "role": m.role,
                "since": iso(m.since, tz),
            }
            for m in contact.memberships
            if m.organization_id in orgs
        ],
        "notes": [
            {
                "date": iso(n.created, tz),
                "kind": n.kind,
                "text": _note_text(n),
                "organization": orgs[n.organization_id].name if n.organization_id in orgs else None,
            }
            for n in store.notes(contact=contact.id)
        ],
        "interviews": [
            {
                "id": i.id,
                "organization": orgs[i.organization_id].name,
                "start": iso(i.start, tz),
                "position": i.position,
                "cancelled": i.cancelled,
            }
            for i in interviews
        ],
        "duties": [
            duty_record(d, {contact.id: contact}, orgs, tz, now)
            for d in store.duties(contact=contact.id, state=(DutyState.PENDING, DutyState.DONE))
        ],
        "last_correspondence": None
        if last is None
        else {
            "date": iso(last.date, tz),
            "channel": last.channel,
            "direction": last.direction,
            "subject": last.subject,
            "organization": orgs[last.organization_id].name
            if last.organization_id in orgs
            else None,
        },
    }


def render_contact(record: dict[str, Any]) -> str:
    record = clean_record(record)
    now = record["now"]
    lines = [f"{record['name'] or record['email']} <{record['email']}>"]
    if len(record["addresses"]) > 1:
        lines.append(f"  addresses: {', '.join(record['addresses'])}")
    if record["organizations"]:
        lines.append("Organizations")
        for o in record["organizations"]:
            role = f", {o['role']}" if o["role"] else ""
            lines.append(f"  {o['name']}{role}")
    else:
        lines.append("  no organization (add one: pursuit contact add ADDRESS --org ORG)")
    if record["interviews"]:
        lines.append("Interviews")
        for i in record["interviews"]:
            mark = " (cancelled)" if i["cancelled"] else ""
            position = f", {i['position']}" if i["position"] else ""
            lines.append(
                f"  #{i['id']} {_when(i['start'], now)} {i['organization']}{position}{mark}"
            )
    if record["duties"]:
        lines.append("Duties")
        for d in record["duties"]:
            lines.append(f"{_duty_line(d, now)} {d['state']}")
    if record["notes"]:
        lines.append("Notes")
        for n in record["notes"]:
            day = datetime.fromisoformat(n["date"]).strftime("%Y-%m-%d")
            at = f" ({n['organization']})" if n["organization"] else ""
            lines.append(f"  {day} {NOTE_LABELS[NoteKind(n['kind'])]:<8} {n['text']}{at}")
    last = record["last_correspondence"]
    if last:
        day = datetime.fromisoformat(last["date"]).strftime("%Y-%m-%d")
        arrow = "from you" if last["direction"] == "out" else "to you"
        subject = f' "{last["subject"]}"' if last["subject"] else ""
        lines.append(f"Last correspondence: {day}, {last['channel']} {arrow}{subject}")
    return "\n".join(lines) + "\n"
