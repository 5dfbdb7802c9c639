"""The invitation corpus (tests/fixtures/invitations/*.ics, each naming the public
sample it follows in X-FIXTURE-SOURCE and in the folder's README) and each
invitation as Google Calendar's API gives it once it is on a Google calendar.

`google_events` turns one iCalendar resource into the event resources of the
Calendar API v3: the event (a recurring one with its ``recurrence`` lines), and one
event per RECURRENCE-ID override, stored as Google stores an exception: the id
``{eventId}_{original start in UTC}``, ``recurringEventId`` and
``originalStartTime`` (a cancelled one with ``status: cancelled``). What Google
does with what it imports: ids are its own (base32hex, here of the UID), times are
instants with the IANA zone of the series (Google keeps no VTIMEZONE: a zone of
the sender's own making is named by the caller for a recurring event), rooms are
``resource``, an optional guest ``optional``, PARTSTAT a ``responseStatus``,
LOCATION the ``location``; a Google Meet conference (X-GOOGLE-CONFERENCE) is the
event's ``hangoutLink`` and ``conferenceData``, apart from its description, which
loses the Meet block Google writes into invitations only.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import icalendar

from pursuit.connectors.ical import read_calendar

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "invitations"

Json = dict[str, Any]

_RESPONSE = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.ics").read_bytes()


def uid_of(data: bytes) -> str:
    [uid] = {str(e["UID"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}
    return uid


def cancellation(data: bytes) -> bytes:
    """The organizer's cancellation of an invitation, as their calendar mails it when they
    delete the event: the same resource with METHOD:CANCEL, each VEVENT STATUS:CANCELLED
    and its SEQUENCE one up (RFC 5546, 3.2.5). Edited as text, so every quirk of the
    sender's file stays as it was."""
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    lines = data.split(newline)
    out: list[bytes] = []
    for line in lines:
        upper = line.upper()
        if upper.startswith((b"METHOD:", b"STATUS:")):
            continue
        if upper.startswith(b"SEQUENCE:"):
            line = b"SEQUENCE:%d" % (int(line.split(b":", 1)[1]) + 1)
        if upper == b"END:VEVENT":
            out.append(b"STATUS:CANCELLED")
        out.append(line)
        if upper == b"BEGIN:VCALENDAR":
            out.append(b"METHOD:CANCEL")
    return newline.join(out)


def google_id(uid: str) -> str:
    """The id Google gives an imported event: base32hex, 0-9 and a-v."""
    return base64.b32hexencode(uid.encode()).decode().lower().rstrip("=")


def _stamp(when: date) -> str:
    if isinstance(when, datetime):
        return f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{when:%Y%m%d}"


def _when(value: date, zones: Mapping[str, str], tzid: str | None) -> Json:
    if not isinstance(value, datetime):
        return {"date": value.isoformat()}
    assert value.tzinfo is not None, "Google has no floating times"
    zone = zones.get(tzid or "") or getattr(value.tzinfo, "key", None)
    return {"dateTime": value.isoformat(), **({"timeZone": zone} if zone else {})}


def _address(value: Any) -> str:
    text = str(value)
    return text[7:] if text.lower().startswith("mailto:") else text


def _person(value: Any) -> Json:
    params = getattr(value, "params", {})
    person: Json = {"email": _address(value)}
    if params.get("CN"):
        person["displayName"] = str(params["CN"])
    if str(params.get("CUTYPE", "")).upper() in ("ROOM", "RESOURCE"):
        person["resource"] = True
    if str(params.get("ROLE", "")).upper() == "OPT-PARTICIPANT":
        person["optional"] = True
    person["responseStatus"] = _RESPONSE.get(str(params.get("PARTSTAT", "")).upper(), "needsAction")
    return person


def _exdates(vevent: icalendar.cal.Component) -> list[str]:
    values = vevent.get("EXDATE")
    lines = []
    for prop in values if isinstance(values, list) else [values] if values is not None else []:
        for item in prop.dts:
            if isinstance(item.dt, datetime):
                lines.append(f"EXDATE:{item.dt.astimezone(UTC):%Y%m%dT%H%M%SZ}")
            else:
                lines.append(f"EXDATE;VALUE=DATE:{item.dt:%Y%m%d}")
    return lines


#: The block Google adds to an invitation's description for its Meet conference.
_MEET_BLOCK = re.compile(r"\n*-::~:[~:]*::-.*-::~:[~:]*::-\n*", re.DOTALL)


def _conference(link: str) -> Json:
    """A Google Meet conference as an event resource holds it."""
    return {
        "hangoutLink": link,
        "conferenceData": {
            "entryPoints": [
                {
                    "entryPointType": "video",
                    "uri": link,
                    "label": link.removeprefix("https://"),
                }
            ],
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "conferenceId": link.rsplit("/", 1)[-1],
        },
    }


def _resource(vevent: icalendar.cal.Component, zones: Mapping[str, str]) -> Json:
    def when(name: str) -> Json:
        prop: Any = vevent[name]
        return _when(prop.dt, zones, prop.params.get("TZID"))

    event: Json = {
        "status": "cancelled"
        if str(vevent.get("STATUS", "")).upper() == "CANCELLED"
        else "confirmed",
        "summary": str(vevent.get("SUMMARY", "")),
        "description": _MEET_BLOCK.sub("", str(vevent.get("DESCRIPTION", ""))),
        "start": when("DTSTART"),
        "end": when("DTEND"),
        "sequence": int(vevent.get("SEQUENCE", 0)) % 2**31,
    }
    if vevent.get("LOCATION"):
        event["location"] = str(vevent["LOCATION"])
    if vevent.get("X-GOOGLE-CONFERENCE"):
        event |= _conference(str(vevent["X-GOOGLE-CONFERENCE"]))
    organizer = vevent.get("ORGANIZER")
    if organizer is not None:
        event["organizer"] = {
            k: v for k, v in _person(organizer).items() if k in ("email", "displayName")
        }
    attendees = vevent.get("ATTENDEE", [])
    people = [_person(a) for a in (attendees if isinstance(attendees, list) else [attendees])]
    for person in people:
        if organizer is not None and person["email"] == _address(organizer):
            person["organizer"] = True
    if people:
        event["attendees"] = people
    return event


def google_events(data: bytes, zones: Mapping[str, str] | None = None) -> list[Json]:
    """The event resources of one invitation on a Google calendar (see the module).
    `zones` names the IANA zone Google gives a series whose TZID is the sender's own."""
    zones = dict(zones or {})
    parsed = read_calendar(data)
    events = list(parsed.walk("VEVENT"))
    master = next(e for e in events if e.get("RECURRENCE-ID") is None)
    event_id = google_id(str(master["UID"]))
    found = []
    resource = _resource(master, zones)
    rule: Any = master.get("RRULE")
    rules = [f"RRULE:{rule.to_ical().decode()}"] if rule else []
    if rules:
        resource["recurrence"] = rules + _exdates(master)
        assert "timeZone" in resource["start"] or "date" in resource["start"], (
            "Google needs the zone of a recurring event: name it in `zones`"
        )
    found.append({"id": event_id, **resource})
    for override in events:
        if override.get("RECURRENCE-ID") is None:
            continue
        original: Any = override["RECURRENCE-ID"]
        found.append(
            {
                "id": f"{event_id}_{_stamp(original.dt)}",
                "recurringEventId": event_id,
                "originalStartTime": _when(original.dt, zones, original.params.get("TZID")),
                **_resource(override, zones),
            }
        )
    return found
