"""Everything in the store as plain data: the export contract, and the status view.

The keys here are a contract other tools rely on: extend, never rename.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pursuit.connectors.base import CalendarEvent, event_id_for
from pursuit.daemon.models import Contact, Duty, Organization, calendar_key
from pursuit.daemon.store import Store

SECTIONS = (
    "organizations",
    "contacts",
    "interviews",
    "duties",
    "correspondence",
    "feed_items",
    "events",
)


def iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat()


def organization_record(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "domains": list(org.domains),
        "status": org.status,
        "positions": list(org.positions),
        "flag": org.flag,
    }


def duty_record(
    duty: Duty,
    contacts: dict[int, Contact],
    orgs: dict[int, Organization],
    tz: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    contact = contacts.get(duty.contact_id or -1)
    return {
        "id": duty.id,
        "kind": duty.kind,
        "contact": contact.address if contact else None,
        "contact_name": contact.name if contact else None,
        "organization": orgs[duty.organization_id].name,
        "interview": duty.interview_id,
        "due": iso(duty.due, tz),
        "state": duty.state_at(now),
        "done_at": iso(duty.done_at, tz),
        "evidence": duty.evidence,
        "channel": "email",
    }


def export_data(store: Store, tz: ZoneInfo, now: datetime) -> dict[str, list[dict[str, Any]]]:
    orgs = {o.id: o for o in store.organizations()}
    contacts = {c.id: c for c in store.contacts()}

    def org_name(org_id: int | None) -> str | None:
        return orgs[org_id].name if org_id in orgs else None

    data: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    data["organizations"] = [organization_record(o) for o in orgs.values()]
    data["contacts"] = [
        {
            "email": c.address,
            "addresses": list(c.addresses),
            "name": c.name,
            "role": c.role,
            "organization": org_name(c.organization_id),
        }
        for c in contacts.values()
    ]
    data["interviews"] = [
        {
            "id": i.id,
            "organization": org_name(i.organization_id),
            "start": iso(i.start, tz),
            "end": iso(i.end, tz),
            "position": i.position,
            "interviewers": [p.contact.address for p in i.interviewers],
            "notes": {p.contact.address: p.note for p in i.interviewers if p.note},
            "promised": {
                p.contact.address: p.promised.isoformat() for p in i.interviewers if p.promised
            },
            "source": i.source,
            "cancelled": i.cancelled,
        }
        for i in store.interviews()
    ]
    data["duties"] = [duty_record(d, contacts, orgs, tz, now) for d in store.duties()]
    data["correspondence"] = [
        {
            "message_id": m.message_id,
            "direction": m.direction,
            "date": iso(m.date, tz),
            "organization": org_name(m.organization_id),
            "contacts": [contacts[c].address for c in m.contact_ids if c in contacts],
            "people": list(m.people),
            "subject": m.subject,
            "channel": m.channel,
            "thread": m.thread,
        }
        for m in store.correspondence(newest_first=False)
    ]
    from pursuit.daemon.feeds import item_record, items

    data["feed_items"] = [item_record(row, tz) for row in reversed(items(store))]
    data["events"] = [
        {
            "id": event_id_for(calendar_key(event.key, event.generation)),
            "key": event.key,
            "duty": event.duty_id,
            "duties": list(event.duty_ids),
            "calendar": event.calendar,
            "start": iso(event.start, tz),
            "end": iso(event.end, tz),
            "summary": event.summary,
            "description": event.description,
            "sequence": event.sequence,
        }
        for event in store.all_events()
    ]
    return data


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_csv(data: dict[str, list[dict[str, Any]]]) -> str:
    """One CSV block per section, each headed by its column names, blocks apart by a blank line.

    Every row starts with the section name, so a spreadsheet can filter one kind of record.
    """
    out = io.StringIO()
    for section in SECTIONS:
        rows = data.get(section, [])
        columns = ["record", *(rows[0].keys() if rows else [])]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([section, *(_cell(row[c]) for c in columns[1:])])
        out.write("\n")
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def to_ics(store: Store) -> bytes:
    from pursuit.connectors.ics import render

    events = [
        CalendarEvent(
            key=calendar_key(event.key, event.generation),
            start=event.start,
            end=event.end,
            summary=event.summary,
            description=event.description,
            sequence=event.sequence,
            stamp=event.stamp,
            reminder_minutes=event.reminder_minutes,
        )
        for event in store.all_events()
    ]
    return render(events)
