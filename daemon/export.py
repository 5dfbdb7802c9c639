"""Everything in the store as plain data: the export contract, and the status view.

The keys here are a contract other tools rely on: extend, never rename.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pursuit.connectors.base import event_id_for
from pursuit.daemon.errors import UserError
from pursuit.daemon.models import (
    Contact,
    Duty,
    NoteKind,
    Organization,
    OrgStatus,
    calendar_key,
)
from pursuit.daemon.store import Store
from pursuit.daemon.textsafety import clean, escape_json

#: The order a week's status changes are told in: an offer first, the week's big news.
STATUS_ORDER = (
    OrgStatus.OFFER,
    OrgStatus.REJECTED,
    OrgStatus.WITHDRAWN,
    OrgStatus.CLOSED,
    OrgStatus.ACTIVE,
)


def status_changes(
    store: Store, tz: ZoneInfo, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Each organization's status set between `since` and `until`, an offer first."""
    orgs = {o.id: o.name for o in store.organizations()}
    changes = [
        (STATUS_ORDER.index(OrgStatus(note.text)), note.created, note)
        for note in store.notes(kinds=[NoteKind.STATUS])
        if since <= note.created <= until
        and note.organization_id in orgs
        and note.text in tuple(OrgStatus)
    ]
    changes.sort(key=lambda change: (change[0], change[1]))
    return [
        {
            "organization": orgs[note.organization_id],
            "status": note.text,
            "date": iso(note.created, tz),
        }
        for _, _, note in changes
        if note.organization_id is not None
    ]


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
            "organizations": [org_name(o) for o in c.organization_ids],
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
            "location": i.location,
            "meeting_link": i.meeting_link,
            "zone": i.zone,
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
            "id": event_id_for(calendar_key(event.key, event.generation), store.install_id()),
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


def to_json(data: Any) -> str:
    """Indented JSON with non-ASCII text as it reads; the characters a terminal would act
    on (`daemon/textsafety.py`: C1 controls, bidi controls, zero-width characters, line
    separators) stay escaped, so printing is safe."""
    return escape_json(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"


# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def to_csv(rows: list[dict[str, Any]], *, excel: bool = False) -> bytes:
    """One table as a CSV file (UTF-8): a header row, then one row per record; an empty
    table is an empty file. `excel`: a byte-order mark and CRLF line ends, as Excel wants."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if excel else "\n")
    if rows:
        columns = list(rows[0])
        writer.writerow(columns)
        writer.writerows([_cell(row[c]) for c in columns] for row in rows)
    return (("\ufeff" if excel else "") + out.getvalue()).encode("utf-8")


def write_csv_tables(
    data: dict[str, list[dict[str, Any]]], directory: Path, *, excel: bool = False
) -> list[tuple[Path, int]]:
    """Each table to DIRECTORY/TABLE.csv (replaced whole); the files and their row counts."""
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for section in SECTIONS:
            path = directory / f"{section}.csv"
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(to_csv(data[section], excel=excel))
            partial.replace(path)
            written.append((path, len(data[section])))
    except OSError as exc:
        raise UserError(f"cannot write the CSV files to {directory}: {exc.strerror}") from None
    return written


def _cell(value: Any) -> str:
    """A value as a CSV cell: cleaned of control characters, never read as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, list):
        text = " ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    text = clean(text, multiline=True)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_ics(store: Store) -> bytes:
    from pursuit.connectors.ical import render
    from pursuit.daemon.outbox import as_calendar_event

    events = [as_calendar_event(event) for event in store.all_events()]
    return render(events, install_id=store.install_id())
