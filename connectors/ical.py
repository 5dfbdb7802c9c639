"""iCalendar text: pursuit's own events written and read back, and the user's
invitations read as plain facts (for every calendar that speaks iCalendar: the
local file, CalDAV)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from pursuit.connectors.base import (
    RECURRENCE_WINDOW,
    Attendee,
    CalendarEntry,
    CalendarEvent,
    When,
    event_id_for,
    latest_instant,
)
from pursuit.connectors.text import (
    ADDRESS_LIMIT,
    DESCRIPTION_LIMIT,
    LOCATION_LIMIT,
    NAME_LIMIT,
    SUBJECT_LIMIT,
    clean_links,
    clean_multiline,
    clean_text,
)

log = logging.getLogger(__name__)

PRODID = "-//pursuit//job search follow-ups//EN"
KEY_PROPERTY = "X-PURSUIT-KEY"
#: The install that wrote the event (absent for an install from before install ids).
INSTALL_PROPERTY = "X-PURSUIT-INSTALL"


def render(
    events: list[CalendarEvent],
    name: str = "Job search (pursuit)",
    install_id: str = "",
    kept: Sequence[icalendar.cal.Component] = (),
) -> bytes:
    """The iCalendar text for these events, in a stable order, then `kept` as they were
    read (another install's events, never rewritten). No event has an ATTENDEE or an
    ORGANIZER, nor the calendar a METHOD: nothing pursuit writes invites anyone."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for event in sorted(events, key=lambda e: (e.start, e.key)):
        cal.add_component(vevent_of(event, install_id))
    for component in kept:
        cal.add_component(component)
    return bytes(cal.to_ical())


def uid_of(key: str, install_id: str) -> str:
    """The UID of the event with this key written by this install."""
    return f"{event_id_for(key, install_id)}@pursuit"


def writer_of(vevent: icalendar.cal.Component, install_id: str) -> str | None:
    """None when this install wrote the event (its UID is the one this install derives
    from its key); else the install that did, as the event names it ("" when it does
    not: an install of an earlier version)."""
    if str(vevent.get("UID", "")) == uid_of(str(vevent.get(KEY_PROPERTY)), install_id):
        return None
    return str(vevent.get(INSTALL_PROPERTY, ""))


#: How often a calendar on a server is read whole to find another install's events.
OTHER_INSTALLS_EVERY = 24 * 3600.0


def scan_due(last: float | None) -> bool:
    """True when a calendar's events are due to be read for other installs' (monotonic)."""
    return last is None or time.monotonic() - last >= OTHER_INSTALLS_EVERY


def note_other_install(seen: set[str], install: str, where: str) -> None:
    """Log another install the first time it is seen writing to `where`."""
    if install in seen:
        return
    seen.add(install)
    log.warning(
        "%s: another pursuit install (%s) writes to pursuit's calendar; its events are "
        "left alone (stop one of the two installs, or give each a calendar of its own)",
        where,
        install or "of an earlier version, its id unknown",
    )


def vevent_of(event: CalendarEvent, install_id: str) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", uid_of(event.key, install_id))
    vevent.add("dtstamp", event.stamp.astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    vevent.add("sequence", event.sequence)
    vevent.add("transp", "TRANSPARENT")
    vevent.add(KEY_PROPERTY, event.key)
    if install_id:
        vevent.add(INSTALL_PROPERTY, install_id)
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", event.summary)
    alarm.add("trigger", timedelta(minutes=-event.reminder_minutes))
    vevent.add_component(alarm)
    return vevent


def from_vevent(vevent: icalendar.cal.Component) -> CalendarEvent:
    trigger = next(
        (a.get("trigger").dt for a in vevent.walk("VALARM") if a.get("trigger") is not None),
        timedelta(minutes=-15),
    )
    return CalendarEvent(
        key=str(vevent.get(KEY_PROPERTY)),
        start=aware(vevent.decoded("dtstart")),
        end=aware(vevent.decoded("dtend")),
        summary=str(vevent.get("summary", "")),
        description=str(vevent.get("description", "")),
        sequence=int(vevent.get("sequence", 0)),
        stamp=aware(vevent.decoded("dtstamp")),
        reminder_minutes=int(-trigger.total_seconds() // 60),
    )


def aware(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date-time, got {value!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- the user's invitations, read

#: The properties of an event that hold times, each of which may name a TZID.
_TIMED = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE")


def _named_zone(tzid: str) -> tzinfo | None:
    """The zone a TZID names in the zone database: an IANA name, or a Windows name
    as Outlook and Exchange write them (`Pacific Standard Time`), through icalendar's
    own Windows-to-IANA table."""
    name = tzid.strip()
    try:
        return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def read_calendar(data: str | bytes) -> icalendar.Calendar:
    """A calendar resource parsed, each time in the zone its TZID means here.

    A TZID of the zone database (or a Windows name) is that zone; any other one
    (Outlook's `Customized Time Zone`, Exchange's `GMT +0100 (Standard) / ...`) is the
    VTIMEZONE of the same resource, with its own STANDARD and DAYLIGHT rules. icalendar
    keeps the first VTIMEZONE it met under each such name for the whole process, so
    a second sender's `Customized Time Zone` would otherwise take the first one's
    offsets. A TZID that is neither is a floating time: the user's local time.
    """
    parsed = icalendar.Calendar.from_ical(data)
    own: dict[str, tzinfo] = {}
    for vtimezone in parsed.walk("VTIMEZONE"):
        tzid = str(vtimezone.get("TZID", ""))
        if tzid and _named_zone(tzid) is None and isinstance(vtimezone, icalendar.Timezone):
            try:
                own[tzid] = vtimezone.to_tz(lookup_tzid=False)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # rules that cannot be read: its times float
    for vevent in parsed.walk("VEVENT"):
        for name in _TIMED:
            values = vevent.get(name)
            for prop in values if isinstance(values, list) else [values]:
                named = str(getattr(prop, "params", {}).get("TZID") or "")
                if not named:
                    continue
                zone = _named_zone(named) or own.get(named)
                for value in getattr(prop, "dts", None) or [prop]:
                    moment = getattr(value, "dt", None)
                    if isinstance(moment, datetime):
                        value.dt = moment.replace(tzinfo=zone)
    return parsed


def _when(value: Any) -> When | None:
    """DTSTART/DTEND as given: a date for an all-day event, a naive datetime for a
    floating time, an aware one for a time with a zone."""
    if isinstance(value, datetime | date):
        return value
    return None


def _address(value: Any) -> str:
    text = str(value)
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return clean_text(text, ADDRESS_LIMIT).lower()


def _person(value: Any, me: str) -> Attendee | None:
    email = _address(value)
    if "@" not in email:
        return None
    params = getattr(value, "params", {})
    return Attendee(
        email=email,
        name=clean_text(params.get("CN", ""), NAME_LIMIT),
        is_self=email == me,
        kind=str(params.get("CUTYPE", "individual")).lower(),
        role=str(params.get("ROLE", "req-participant")).lower(),
    )


#: The properties that name a meeting's join address apart from the text, in the order
#: they are handed over: Google's, Teams' (Outlook writes the first two, Exchange the
#: external link, MS-ASCAL's OnlineMeetingExternalLink), RFC 7986's, and Skype for
#: Business's (a `conf:sip:` address, which the core does not open).
CONFERENCE_PROPERTIES = (
    "X-GOOGLE-CONFERENCE",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK",
    "CONFERENCE",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
)


def _conference_links(vevent: icalendar.cal.Component) -> tuple[str, ...]:
    """The join addresses an event names, once each; of RFC 7986's CONFERENCE, those
    for video (or saying nothing of what they are for), not a dial-in."""
    found: list[object] = []
    for name in CONFERENCE_PROPERTIES:
        values = vevent.get(name)
        for value in values if isinstance(values, list) else [values]:
            if value is None:
                continue
            feature = getattr(value, "params", {}).get("FEATURE")
            features = feature if isinstance(feature, list) else str(feature or "").split(",")
            if (
                name == "CONFERENCE"
                and feature
                and "video" not in {str(f).strip().lower() for f in features}
            ):
                continue
            found.append(value)
    return clean_links(found)


def _first(value: Any) -> Any:
    """A property given once, or the first of one given again (RFC 5545 allows one)."""
    return (value or [""])[0] if isinstance(value, list) else value


def _zone_name(when: When) -> str | None:
    """The zone-database name of the zone a start is written in: what `read_calendar`
    made of its TZID (a zone of the sender's own rules has no such name)."""
    if isinstance(when, datetime) and isinstance(when.tzinfo, ZoneInfo):
        return when.tzinfo.key
    return None


def _recurs(events: list[icalendar.cal.Component]) -> bool:
    """The resource holds a recurring event: a rule or extra dates, or occurrences
    of their own (a RECURRENCE-ID; an attendee invited to one occurrence gets it alone)."""
    return any(
        e.get("RECURRENCE-ID") is not None or e.get("RRULE") is not None or e.get("RDATE")
        for e in events
    )


def event_entries(
    calendar_id: str,
    data: str | bytes,
    me: str = "",
    *,
    since: datetime,
    until: datetime | None = None,
) -> tuple[str, list[CalendarEntry]]:
    """The UID of one calendar resource's event ("" when it holds none) and its
    entries: the event, or each occurrence of a recurring event that ends after `since`
    and starts before `until` (by default `RECURRENCE_WINDOW` after `since`), its
    EXDATEs left out and its RECURRENCE-ID overrides applied (their times and their
    people; one whose STATUS is CANCELLED is a cancelled entry). recurring-ical-events
    expands the series. `me` is the account's own address where the server knows it."""
    parsed = read_calendar(data)
    events = list(parsed.walk("VEVENT"))
    if not events:
        return "", []
    if not _recurs(events):
        entry = _entry(calendar_id, events[0], me)
        return entry.event_id, [entry]
    uid = clean_text(events[0].get("UID", ""), 1024)
    if not uid:
        raise ValueError("an event without a UID")
    until = until or since + RECURRENCE_WINDOW
    found = []
    # A day early: an all-day or floating occurrence may end after `since` in some zone.
    for occurrence in recurring_ical_events.of(parsed).between(since - timedelta(days=1), until):
        entry = _entry(calendar_id, occurrence, me, occurrence=occurrence.decoded("RECURRENCE-ID"))
        if entry.cancelled or (entry.end is not None and latest_instant(entry.end) > since):
            found.append(entry)
    return uid, found


def _entry(
    calendar_id: str, vevent: icalendar.cal.Component, me: str, occurrence: When | None = None
) -> CalendarEntry:
    uid = clean_text(vevent.get("UID", ""), 1024)
    if not uid:
        raise ValueError("an event without a UID")
    if str(vevent.get("STATUS", "")).upper() == "CANCELLED":
        return CalendarEntry(calendar_id, uid, cancelled=True, occurrence=occurrence)
    start = _when(vevent.decoded("DTSTART"))
    if start is None:
        raise ValueError("an event without a start")
    end: When | None
    if vevent.get("DTEND") is not None:
        end = _when(vevent.decoded("DTEND"))
    elif vevent.get("DURATION") is not None:
        end = start + vevent.decoded("DURATION")
    else:  # RFC 5545: a day long for a date, an instant for a time
        end = start if isinstance(start, datetime) else start + timedelta(days=1)
    people: list[Attendee] = []
    attendees = vevent.get("ATTENDEE", [])
    for value in attendees if isinstance(attendees, list) else [attendees]:
        person = _person(value, me)
        if person is not None and person.email not in {p.email for p in people}:
            people.append(person)
    organizer = vevent.get("ORGANIZER")
    return CalendarEntry(
        calendar_id,
        uid,
        cancelled=False,
        summary=clean_text(vevent.get("SUMMARY", ""), SUBJECT_LIMIT),
        start=start,
        end=end,
        attendees=tuple(people),
        description=clean_multiline(vevent.get("DESCRIPTION", ""), DESCRIPTION_LIMIT),
        organizer=None if organizer is None else _person(organizer, me),
        occurrence=occurrence,
        location=clean_multiline(_first(vevent.get("LOCATION", "")), LOCATION_LIMIT),
        conference_links=_conference_links(vevent),
        start_zone=_zone_name(start),
    )
