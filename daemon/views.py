"""What the user reads: status, history and an organization's page, as data and as text."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pursuit.config.settings import Settings
from pursuit.daemon.export import duty_record, iso, organization_record
from pursuit.daemon.models import Contact, DutyKind, DutyState, Organization
from pursuit.daemon.store import Store

KIND_LABELS = {
    DutyKind.THANK_YOU: "thank-you",
    DutyKind.FOLLOW_UP: "follow-up",
    DutyKind.CHECK_IN: "check-in",
}


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
    counts = store.interview_counts()
    pending_by_org = store.pending_by_organization()
    organizations = []
    for org in orgs.values():
        count, last = counts.get(org.id, (0, None))
        record = organization_record(org)
        record["interviews"] = count
        record["last_interview"] = iso(last, tz)
        record["pending_duties"] = pending_by_org.get(org.id, 0)
        organizations.append(record)
    from pursuit.daemon.feeds import failing_feeds, rejected_with_openings, shown

    return {
        "now": iso(now, tz),
        "organizations": organizations,
        "failing_feeds": [
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
        ],
        "suggestions": rejected_with_openings(store, settings) if settings else [],
        "overdue_count": overdue_count,
        "upcoming_count": pending_count - overdue_count,
        "overdue": [duty_record(d, people, orgs, tz, now) for d in overdue],
        "upcoming": [duty_record(d, people, orgs, tz, now) for d in upcoming],
    }


def _when(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(text).strftime("%a %d %b %H:%M")


def _duty_line(duty: dict[str, Any]) -> str:
    who = duty["contact_name"] or duty["contact"] or ""
    label = KIND_LABELS[duty["kind"]]
    return f"  #{duty['id']:<5} {_when(duty['due']):<16} {label:<10} {who} ({duty['organization']})"


def render_status(record: dict[str, Any]) -> str:
    lines: list[str] = []
    orgs = record["organizations"]
    if not orgs:
        lines.append("No organization tracked yet.")
        lines.append('Add one: pursuit org add "Acme Networks" --domain acme.com')
    else:
        lines.append("Organizations")
        for org in orgs:
            last = f", last {_when(org['last_interview'])}" if org["last_interview"] else ""
            lines.append(
                f"  {org['name']:<28} {org['status']:<10} "
                f"{org['interviews']} interview{'s' if org['interviews'] != 1 else ''}{last}"
            )
            if org["flag"]:
                lines.append(f"    ! {org['flag']}")
    if record["overdue"]:
        lines.append("")
        lines.append(f"Overdue ({record['overdue_count']})")
        lines.extend(_duty_line(d) for d in record["overdue"])
        _more(lines, record["overdue_count"] - len(record["overdue"]))
    lines.append("")
    if record["upcoming"]:
        lines.append(f"Next ({record['upcoming_count']})")
        lines.extend(_duty_line(d) for d in record["upcoming"])
        _more(lines, record["upcoming_count"] - len(record["upcoming"]))
    else:
        lines.append("Nothing else planned.")
    if record["suggestions"]:
        lines.append("")
        lines.append("Worth a check-in")
        lines.extend(f"  {s['suggestion']}" for s in record["suggestions"])
    if record["failing_feeds"]:
        lines.append("")
        lines.append(f"Feeds failing ({len(record['failing_feeds'])}): see `pursuit doctor`")
    if record["overdue"] or record["upcoming"]:
        lines.append("")
        lines.append(
            "Mark one done with `pursuit done ID`, move it with `pursuit snooze ID --to DATE`."
        )
    return "\n".join(lines) + "\n"


def _more(lines: list[str], hidden: int) -> None:
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (pursuit status --all)")


def history(store: Store, target: Organization | Contact, tz: ZoneInfo) -> dict[str, Any]:
    """Correspondence, interviews and finished duties of an organization or contact."""
    org = target if isinstance(target, Organization) else None
    contact = None if isinstance(target, Organization) else target
    contacts = {c.id: c for c in store.contacts()}
    entries: list[dict[str, Any]] = []
    if org is not None:
        messages = store.correspondence(organization_id=org.id)
        interviews = store.interviews(org.id)
        duties = store.duties(organization=org.id)
        title = org.name
    else:
        assert contact is not None
        messages = store.correspondence(contact_id=contact.id)
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
                }
            )
    entries.sort(key=lambda e: datetime.fromisoformat(e["date"]), reverse=True)
    return {"title": title, "entries": entries}


def render_history(record: dict[str, Any]) -> str:
    lines = [record["title"]]
    if not record["entries"]:
        lines.append("  nothing recorded yet")
    arrows = {"in": "<-", "out": "->", None: "  "}
    for entry in record["entries"]:
        who = ", ".join(entry["with"])
        when = datetime.fromisoformat(entry["date"]).strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"  {when}  {arrows[entry['direction']]} {entry['type']:<9} {entry['text']}"
            + (f"  [{who}]" if who else "")
        )
    return "\n".join(lines) + "\n"


def organization_detail(
    store: Store, org: Organization, tz: ZoneInfo, now: datetime
) -> dict[str, Any]:
    record = organization_record(org)
    contacts = store.contacts(org.id)
    record["contacts"] = [{"name": c.name, "email": c.address, "role": c.role} for c in contacts]
    record["interviews"] = [
        {
            "id": i.id,
            "start": iso(i.start, tz),
            "position": i.position,
            "interviewers": [p.contact.address for p in i.interviewers],
            "cancelled": i.cancelled,
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
            lines.append(f"  #{i['id']} {_when(i['start'])} {i['position'] or ''}{mark}".rstrip())
    if record["duties"]:
        lines.append("Duties")
        for d in record["duties"]:
            lines.append(f"{_duty_line(d)} {d['state']}")
    return "\n".join(lines) + "\n"


def render_items(rows: list[dict[str, Any]], empty: str) -> str:
    if not rows:
        return empty + "\n"
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
