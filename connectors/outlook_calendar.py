"""Outlook.com and Microsoft 365 calendars through Microsoft Graph: interviews are
read from the user's calendars, follow-ups written to a calendar pursuit owns.

`OutlookCalendarReader` reads a calendar with `calendarView/delta` (v1.0 has delta
only over a date window). The cursor is JSON: the window (its start and end), the
`@odata.deltaLink` of the last round, and the occurrences seen (below). A window is
fixed once read; it is read whole again (`CursorExpired`, which the core answers
with a full read and `cancel_unlisted`) when its end comes within `window_ahead`
less `MOVE_EVERY` of now, when the lookback moved before its start, or when the
lookback left its start `MOVE_EVERY` behind: about once a month. Graph's 410 and
its `syncStateNotFound`/`resyncRequired` codes are `CursorExpired` too.

Graph lists each instance of a recurring event on its own, with an id of its own,
its `seriesMasterId` and `originalStart`; the series master is not listed. An
instance is handed over as its series' event and its occurrence (the start the
series gave it, in UTC; its day for an all-day series), as Google's and CalDAV's
are, so `daemon/interviews.py` keys it `{series}_{original start}` whichever reader
gave it. A deleted or cancelled instance comes back as its id alone
(`@removed`), so the cursor keeps each instance id with its series and occurrence
(compressed, and only those less than `KEEP_PAST` old: 50 weekly series made it
469 KB, written back every round): the entry it makes cancels that occurrence, not
the series nor another one.

`OutlookCalendar` is pursuit's own calendar: found by its name, or made once
(Exchange refuses a second calendar of one name, `ErrorFolderExists`, so a create
whose answer was lost is found again by name, never doubled). Each event carries
one single-value extended property holding pursuit's key, the install, the
sequence and the stamp; its create carries a `transactionId` derived from them, so
a create retried after a lost answer makes no second event. No attendee, ever.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import re
import time as clock
import zlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pursuit.connectors.base import (
    Attendee,
    Calendar,
    CalendarChanges,
    CalendarEntry,
    CalendarEvent,
    When,
    event_id_for,
    latest_instant,
)
from pursuit.connectors.graph import SOURCE, GraphClient, GraphError
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
from pursuit.daemon.errors import CalendarGone, CursorExpired, ItemError, SourceError

log = logging.getLogger(__name__)

DEFAULT_NAME = "Job search (pursuit)"
#: How far ahead of now a window reaches when it is read.
WINDOW_AHEAD = timedelta(days=365)
#: How long after it an occurrence's id is kept in the cursor (to cancel it by its id).
KEEP_PAST = timedelta(days=14)
#: How much a window may age before it is read whole again (end nearer, lookback later).
MOVE_EVERY = timedelta(days=30)
#: The events of one delta page (Graph's default is 10 for calendarView).
PAGE_SIZE = 100
TEXT_BODY = 'outlook.body-content-type="text"'
#: pursuit's property on its events: a GUID of its own, and a name (MS-OXPROPS' form).
PROPERTY = "String {f95acdf9-b65d-46b4-9f30-44021cf5b50c} Name pursuit"
#: Another install is looked for on the calendar's events at most this often (seconds).
OTHER_INSTALLS_EVERY = 24 * 3600.0
_EXPAND = {"$expand": f"singleValueExtendedProperties($filter=id eq '{PROPERTY}')"}
#: Delta codes that mean "read the window whole again".
_RESYNC = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}


def _path(calendar_id: str) -> str:
    return f"me/calendars/{quote(calendar_id, safe='')}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zone_name(name: object) -> str | None:
    """A zone-database name for a zone Outlook names: an IANA name as it is, a Windows
    name (`W. Europe Standard Time`) through icalendar's own table; None when neither."""
    if not isinstance(name, str) or not name.strip():
        return None
    name = name.strip()
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        ZoneInfo(name)
        return name
    # icalendar costs 50 ms to import: only for an invitation written in a Windows zone
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    mapped = WINDOWS_TO_OLSON.get(name)
    if not mapped:
        return None
    try:
        ZoneInfo(mapped)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return str(mapped)


def parse_time(value: Any) -> datetime | None:
    """An aware moment from Graph's dateTimeTimeZone ({"dateTime", "timeZone"}), or
    from an Edm.DateTimeOffset string (`originalStart`)."""
    if isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("z", "Z"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    moment = datetime.fromisoformat(str(value["dateTime"]).replace("z", "Z"))
    if moment.tzinfo is None:
        zone = zone_name(value.get("timeZone"))
        moment = moment.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
    return moment


class _Text(HTMLParser):
    """The text of an HTML body, its paragraphs and breaks as new lines."""

    BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})
    HIDDEN = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BREAKS - {"br"}:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def body_text(body: Any) -> str:
    """An event's body as text: as given when it is text, its words when it is HTML."""
    if not isinstance(body, dict):
        return ""
    content = str(body.get("content") or "").replace("\r\n", "\n")
    if str(body.get("contentType") or "").lower() != "html":
        return content
    parser = _Text()
    parser.feed(content)
    parser.close()
    text = html.unescape("".join(parser.parts))
    return re.sub(
        r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", "\n".join(s.strip() for s in text.split("\n"))
    )


# ------------------------------------------------------------------------- reading


class OutlookCalendarReader:
    """The user's Outlook calendars, read (never written): where interviews are found."""

    name = "microsoft"

    def __init__(
        self,
        client: GraphClient,
        *,
        window_ahead: timedelta = WINDOW_AHEAD,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.client = client
        self.window_ahead = window_ahead
        self.page_size = page_size

    def _calendars(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.client.pages("me/calendars", {"$top": "100"}):
            found += [dict(c) for c in page.get("value") or [] if isinstance(c, dict)]
        return found

    def calendar_ids(self, wanted: Sequence[str], *, exclude: Sequence[str] = ()) -> list[str]:
        """The ids of the calendars named: "default" is the user's default calendar,
        any other entry a calendar's name (any case) or id; none named means every
        calendar. Never one in `exclude` (where pursuit writes) nor pursuit's own."""
        calendars = self._calendars()
        left_out = {e.casefold() for e in (*exclude, DEFAULT_NAME)}
        chosen: list[str] = []

        def add(calendar: dict[str, Any]) -> None:
            cid, name = str(calendar.get("id") or ""), str(calendar.get("name") or "")
            if cid and cid not in chosen and not {cid.casefold(), name.casefold()} & left_out:
                chosen.append(cid)

        if not wanted:
            for calendar in calendars:
                add(calendar)
            return chosen
        for entry in wanted:
            if entry.casefold() == "default":
                matches = [c for c in calendars if c.get("isDefaultCalendar")]
                if not matches:
                    matches = [dict(self.client.get("me/calendar"))]
            else:
                matches = [
                    c
                    for c in calendars
                    if c.get("id") == entry
                    or str(c.get("name") or "").casefold() == entry.casefold()
                ]
            if not matches:
                names = ", ".join(repr(str(c.get("name"))) for c in calendars) or "none"
                log.warning(
                    "%s: no calendar named %r; skipped (your calendars: %s)", SOURCE, entry, names
                )
            for calendar in matches:
                add(calendar)
        return chosen

    def changes(self, calendar_id: str, cursor: str | None, *, since: datetime) -> CalendarChanges:
        """Entries changed since `cursor` (every live one ending after `since` when None),
        and the cursor to save after them (see the module docstring)."""
        now = datetime.now(UTC)
        if cursor is None:
            start = datetime.combine(since.astimezone(UTC).date(), time(0), tzinfo=UTC)
            end = datetime.combine((now + self.window_ahead).date(), time(0), tzinfo=UTC)
            state: dict[str, Any] = {"start": _utc(start), "end": _utc(end), "masters": []}
            instances: dict[str, list[Any]] = {}
            link = f"{_path(calendar_id)}/calendarView/delta"
            params: dict[str, str] | None = {"startDateTime": _utc(start), "endDateTime": _utc(end)}
        else:
            state, instances = self._state(cursor)
            read_from, read_to = parse_time(state["start"]), parse_time(state["end"])
            assert read_from is not None and read_to is not None
            start, end = read_from, read_to
            if since < start:
                raise CursorExpired(
                    SOURCE, f"the lookback now reaches before {start:%Y-%m-%d}; reading again"
                )
            if end - now < self.window_ahead - MOVE_EVERY or since - start > 2 * MOVE_EVERY:
                raise CursorExpired(
                    SOURCE, f"the calendar's window (to {end:%Y-%m-%d}) moves on; reading again"
                )
            link, params = str(state["link"]), None
        masters: list[str] = list(state.get("masters") or [])
        entries: list[CalendarEntry] = []
        skipped = 0
        delta_link = ""
        try:
            for page in self.client.pages(
                link, params, prefer=(f"odata.maxpagesize={self.page_size}", TEXT_BODY)
            ):
                for item in page.get("value") or []:
                    try:
                        entry = self._entry(calendar_id, item, masters, instances)
                    except ItemError as exc:
                        log.warning("%s", exc)
                        skipped += 1
                        continue
                    if entry is None:
                        continue
                    if cursor is None and (
                        entry.cancelled or entry.end is None or not _ends_after(entry.end, since)
                    ):
                        continue
                    entries.append(entry)
                delta_link = str(page.get("@odata.deltaLink") or "")
        except GraphError as exc:
            if cursor is not None and (exc.status == 410 or exc.code.casefold() in _RESYNC):
                raise CursorExpired(
                    SOURCE,
                    f"the calendar's delta link expired ({exc.code or exc.status}); reading again",
                ) from None
            if exc.status == 404:
                raise SourceError(
                    SOURCE, f"calendar {calendar_id[:60]}... is not there ({exc.code})"
                ) from None
            raise
        if not delta_link:
            raise SourceError(SOURCE, f"calendarView/delta on {calendar_id[:60]}: no deltaLink")
        # an occurrence long past is no interview to cancel any more: forgotten
        kept = _utc(now - KEEP_PAST)
        instances = {k: v for k, v in instances.items() if _utc_text(v[1]) >= kept}
        used = sorted({int(v[0]) for v in instances.values()})
        renumber = {old: new for new, old in enumerate(used)}
        state.pop("instances", None)
        state.update(
            link=delta_link,
            masters=[masters[i] for i in used],
            packed=_pack({k: [renumber[int(v[0])], v[1]] for k, v in instances.items()}),
        )
        return CalendarChanges(tuple(entries), json.dumps(state), skipped=skipped)

    @staticmethod
    def _state(cursor: str) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        try:
            state = json.loads(cursor)
            if not isinstance(state, dict) or not state.get("link"):
                raise ValueError("no delta link")
            parse_time(state["start"]), parse_time(state["end"])
            held = _unpack(state["packed"]) if "packed" in state else state.get("instances")
            instances = {str(k): list(v) for k, v in dict(held or {}).items()}
        except (ValueError, KeyError, TypeError, zlib.error):
            raise CursorExpired(SOURCE, "an unreadable calendar cursor; reading again") from None
        return state, instances

    def _entry(
        self,
        calendar_id: str,
        item: Any,
        masters: list[str],
        instances: dict[str, list[Any]],
    ) -> CalendarEntry | None:
        item_id = item.get("id") if isinstance(item, dict) else None
        if not item_id:
            return None
        item_id = str(item_id)
        if "@removed" in item:
            known = instances.pop(item_id, None)
            if known is None:
                return CalendarEntry(calendar_id, item_id, cancelled=True)
            return CalendarEntry(
                calendar_id, masters[int(known[0])], cancelled=True, occurrence=_when_of(known[1])
            )
        try:
            return self._read(calendar_id, item_id, item, masters, instances)
        except Exception as exc:  # whatever a stranger's invitation holds, it is skipped alone
            raise ItemError(
                f"{SOURCE}: event {item_id[:80]} skipped: cannot read it "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def _read(
        self,
        calendar_id: str,
        item_id: str,
        item: dict[str, Any],
        masters: list[str],
        instances: dict[str, list[Any]],
    ) -> CalendarEntry:
        all_day = bool(item.get("isAllDay"))
        event_id, occurrence = item_id, None
        master = item.get("seriesMasterId")
        if master and item.get("type") in ("occurrence", "exception") and item.get("originalStart"):
            original = parse_time(item["originalStart"])
            assert original is not None
            occurrence = _occurrence(original, all_day, item.get("originalStartTimeZone"))
            event_id = str(master)
            if event_id not in masters:
                masters.append(event_id)
            instances[item_id] = [masters.index(event_id), occurrence.isoformat()]
        if item.get("isCancelled"):
            return CalendarEntry(calendar_id, event_id, cancelled=True, occurrence=occurrence)
        start = _when(item.get("start"), all_day)
        end = _when(item.get("end"), all_day)
        if start is None or end is None:
            raise ValueError("no start or end")
        attendees: list[Attendee] = []
        seen: set[str] = set()
        for value in item.get("attendees") or []:
            person = _attendee(value)
            if person is None or person.email in seen:
                continue
            seen.add(person.email)
            attendees.append(person)
        organizer = _person(item.get("organizer"), is_self=bool(item.get("isOrganizer")))
        return CalendarEntry(
            calendar_id=calendar_id,
            event_id=event_id,
            cancelled=False,
            summary=clean_text(item.get("subject") or "", SUBJECT_LIMIT),
            start=start,
            end=end,
            attendees=tuple(attendees),
            description=clean_multiline(
                body_text(item.get("body")) or item.get("bodyPreview") or "", DESCRIPTION_LIMIT
            ),
            organizer=organizer,
            occurrence=occurrence,
            location=clean_multiline(_location(item), LOCATION_LIMIT),
            conference_links=_conference_links(item),
            start_zone=None if all_day else zone_name(item.get("originalStartTimeZone")),
        )


def _pack(instances: dict[str, list[Any]]) -> str:
    """The occurrences' ids, compressed: the ids of one series' occurrences share most of
    their text, and the cursor is written back every round (469 KB unpacked for 50
    weekly series, bench/RESULTS-graph.md)."""
    text = json.dumps(instances, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(text, 9)).decode("ascii")


def _unpack(packed: object) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(str(packed), validate=True)))


def _utc_text(occurrence: str) -> str:
    """An occurrence as `_utc` writes a moment (a day: its start), to compare as text."""
    when = _when_of(occurrence)
    if not isinstance(when, datetime):
        when = datetime.combine(when, time(0), tzinfo=UTC)
    return _utc(when)


def _ends_after(end: When, since: datetime) -> bool:
    return latest_instant(end) > since


def _when_of(text: str) -> When:
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)


def _occurrence(original: datetime, all_day: bool, zone: object) -> When:
    """When the series put an instance: its start in UTC, or its day (all-day) in the
    zone the series is written in."""
    if not all_day:
        return original.astimezone(UTC)
    name = zone_name(zone)
    return original.astimezone(ZoneInfo(name) if name else UTC).date()


def _when(value: Any, all_day: bool) -> When | None:
    """A start or end as given: an all-day event's day (its end the day after, as
    iCalendar's DTEND), else an aware moment."""
    moment = parse_time(value)
    if moment is None or not all_day:
        return moment
    return datetime.fromisoformat(str(value["dateTime"])[:10]).date()


def _address(value: Any) -> str:
    address = clean_text(value or "", ADDRESS_LIMIT + 1).lower()
    return address if len(address) <= ADDRESS_LIMIT and " " not in address else ""


def _person(value: Any, *, is_self: bool = False, kind: str = "individual") -> Attendee | None:
    """A recipient ({"emailAddress": {"name", "address"}}) as an Attendee."""
    if not isinstance(value, dict):
        return None
    mailbox = value.get("emailAddress")
    if not isinstance(mailbox, dict):
        return None
    address = _address(mailbox.get("address"))
    if not address:
        return None
    return Attendee(
        email=address,
        name=clean_text(mailbox.get("name") or "", NAME_LIMIT),
        is_self=is_self,
        kind=kind,
    )


def _attendee(value: Any) -> Attendee | None:
    """An attendee: `type` required, optional or resource (a room, equipment)."""
    if not isinstance(value, dict):
        raise ValueError(f"an attendee that is not an object: {str(value)[:40]!r}")
    kind = str(value.get("type") or "required").lower()
    person = _person(value, kind="resource" if kind == "resource" else "individual")
    if person is None:
        return None
    role = {"optional": "opt-participant", "resource": "non-participant"}.get(
        kind, "req-participant"
    )
    return Attendee(person.email, person.name, kind=person.kind, role=role)


def _location(item: dict[str, Any]) -> str:
    """Where, as the invitation names it: the location's words, else each location's."""
    location = item.get("location")
    if isinstance(location, dict) and location.get("displayName"):
        return str(location["displayName"])
    names = [
        str(place.get("displayName"))
        for place in item.get("locations") or []
        if isinstance(place, dict) and place.get("displayName")
    ]
    return "; ".join(dict.fromkeys(names))


def _conference_links(item: dict[str, Any]) -> tuple[str, ...]:
    """The join addresses Graph names apart from the text: the online meeting's
    `joinUrl` (Teams, Skype), then `onlineMeetingUrl`, once each."""
    meeting = item.get("onlineMeeting")
    found = [meeting.get("joinUrl") if isinstance(meeting, dict) else None]
    found.append(item.get("onlineMeetingUrl"))
    return clean_links(found)


# ------------------------------------------------------------------------- writing


class OutlookCalendar(Calendar):
    """pursuit's own calendar on Outlook (see the module docstring). One instance may
    be kept for months by the service: it learns the calendar and its events once and
    finds out from Graph's 404s when the user removed them."""

    name = "microsoft"

    def __init__(
        self,
        client: GraphClient,
        *,
        calendar_name: str = DEFAULT_NAME,
        calendar_id: str | None = None,
        time_zone: str = "UTC",
        install_id: str = "",
    ) -> None:
        self.client = client
        self.calendar_name = calendar_name
        self._configured = calendar_id
        self._calendar_id = calendar_id
        self.time_zone = time_zone
        self.install_id = install_id
        self._ids: dict[str, str] | None = None  # key -> Graph's event id, once listed
        self._others: set[str] = set()
        self._scanned: float | None = None

    # ---------------------------------------------------------------- the calendar

    @property
    def calendar_id(self) -> str:
        """The id of pursuit's calendar: given, found by name, or created once."""
        if self._calendar_id is None:
            self._calendar_id = self._find_calendar() or self._create_calendar()
        return self._calendar_id

    def _find_calendar(self) -> str | None:
        wanted = self.calendar_name.casefold()
        for page in self.client.pages("me/calendars", {"$top": "100"}):
            for calendar in page.get("value") or []:
                if str(calendar.get("name") or "").casefold() == wanted:
                    return str(calendar["id"])
        return None

    def _create_calendar(self) -> str:
        try:
            made = self.client.post("me/calendars", {"name": self.calendar_name})
        except GraphError as exc:
            # One name, one calendar in Exchange: a create whose answer was lost landed.
            if exc.code.casefold() != "errorfolderexists" and exc.status != 409:
                raise
            found = self._find_calendar()
            if found is None:
                raise
            return found
        log.info("created the Outlook calendar %r", self.calendar_name)
        return str(made["id"])

    def _still_there(self, calendar_id: str) -> bool:
        try:
            self.client.get(_path(calendar_id), {"$select": "id"})
        except GraphError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _gone(self, calendar_id: str) -> CalendarGone:
        """Forget the deleted calendar and its events: the next change makes it anew."""
        self._calendar_id = None
        self._ids = None
        return CalendarGone(
            SOURCE,
            f"pursuit's calendar {self.calendar_name!r} was deleted; "
            "making it again with every pending event",
            calendar=self.name,
        )

    def _missing(self, exc: GraphError) -> CalendarGone | None:
        """After a 404: CalendarGone when the calendar itself is gone, else None."""
        calendar_id = self._calendar_id
        if exc.status != 404 or calendar_id is None:
            return None
        return None if self._still_there(calendar_id) else self._gone(calendar_id)

    def location(self) -> str:
        """The calendar the config names (its id, else its name): when it changes, the
        core puts every event on the new one."""
        return f"{SOURCE}:{self._configured or self.calendar_name}"

    def flush(self) -> None:
        """Graph makes each change durable when it answers; whether pursuit's calendar is
        still there is checked here, once a round: CalendarGone when it is not."""
        if self._calendar_id is None:
            found = self._find_calendar()
            if found is None:
                raise CalendarGone(
                    SOURCE,
                    f"pursuit's calendar {self.calendar_name!r} is not there",
                    calendar=self.name,
                )
            self._calendar_id = found
        elif not self._still_there(self._calendar_id):
            raise self._gone(self._calendar_id)

    # ---------------------------------------------------------------- events

    def _stamp(self, event: CalendarEvent) -> str:
        return json.dumps(
            {
                "key": event.key,
                "install": self.install_id,
                "sequence": event.sequence,
                "stamp": event.stamp.isoformat(),
            },
            sort_keys=True,
        )

    def _body(self, event: CalendarEvent) -> dict[str, Any]:
        minutes = max(0, event.reminder_minutes)
        return {
            "subject": event.summary,
            "body": {"contentType": "text", "content": event.description},
            # Written in UTC, read back in UTC: Outlook shows it in the user's own zone.
            "start": {"dateTime": _naive_utc(event.start), "timeZone": "UTC"},
            "end": {"dateTime": _naive_utc(event.end), "timeZone": "UTC"},
            "isReminderOn": True,
            "reminderMinutesBeforeStart": minutes,
            "showAs": "free",
            "singleValueExtendedProperties": [{"id": PROPERTY, "value": self._stamp(event)}],
        }

    def _transaction(self, key: str, replacing: str = "") -> str:
        """The create's transactionId: the same for a retry of the same create (after a
        lost answer, in any process), another for a new calendar or an event made
        again after the user deleted it."""
        return event_id_for(f"{self.calendar_id}/{key}/{replacing}", self.install_id)

    def _known(self) -> dict[str, str]:
        if self._ids is None:
            self.events()
        assert self._ids is not None
        return self._ids

    def upsert(self, event: CalendarEvent) -> None:
        """Update the event with this key in place, or create it (again, when the
        user deleted it: pursuit's calendar is pursuit's)."""
        body = self._body(event)
        known = self._known().get(event.key)
        if known is not None:
            try:
                self.client.patch(f"me/events/{quote(known, safe='')}", body)
                return
            except GraphError as exc:
                gone = self._missing(exc)
                if gone is not None:
                    raise gone from None
                if exc.status != 404:
                    raise
                del self._known()[event.key]  # the user deleted it: made again below
        self._create(event, body, replacing=known or "")

    def _create(self, event: CalendarEvent, body: dict[str, Any], replacing: str) -> None:
        calendar_id = self.calendar_id
        try:
            made = self.client.post(
                f"{_path(calendar_id)}/events",
                {**body, "transactionId": self._transaction(event.key, replacing)},
            )
        except GraphError as exc:
            gone = self._missing(exc)
            if gone is not None:
                raise gone from None
            raise
        made_id = str(made["id"])
        self._known()[event.key] = made_id
        # A retried create answers with the event the first one made, as it was then
        # (its extended property only when asked for): brought up to date.
        stamp = _stamp_of(made)
        if stamp is None:
            stamp = _stamp_of(self.client.get(f"me/events/{quote(made_id, safe='')}", _EXPAND))
        if stamp != self._stamp(event):
            self.client.patch(f"me/events/{quote(made_id, safe='')}", body)

    def delete(self, key: str) -> None:
        """Delete the event; one already gone is fine."""
        known = self._known().pop(key, None)
        if known is None:
            return
        try:
            self.client.delete(f"me/events/{quote(known, safe='')}")
        except GraphError as exc:
            if exc.status != 404:
                raise

    def events(self) -> dict[str, CalendarEvent]:
        """This install's events, by key (another install's are noted, never touched)."""
        out: dict[str, CalendarEvent] = {}
        ids: dict[str, str] = {}
        calendar_id = self.calendar_id
        params = {**_EXPAND, "$top": "100"}
        try:
            for page in self.client.pages(
                f"{_path(calendar_id)}/events", params, prefer=(TEXT_BODY,)
            ):
                for item in page.get("value") or []:
                    self._take(item, out, ids)
        except GraphError as exc:
            gone = self._missing(exc)
            if gone is not None:
                raise gone from None
            raise
        self._ids = ids
        return out

    def _take(self, item: Any, out: dict[str, CalendarEvent], ids: dict[str, str]) -> None:
        stamp = _stamp_of(item)
        if stamp is None:
            return  # the user's own event on pursuit's calendar
        try:
            data = json.loads(stamp)
            key = str(data["key"])
        except (ValueError, KeyError, TypeError):
            return
        install = str(data.get("install") or "")
        if install != self.install_id:
            self._other_install(install, f"wrote the event {str(item.get('id'))[:40]}")
            return
        start, end = parse_time(item.get("start")), parse_time(item.get("end"))
        if start is None or end is None:
            return
        try:
            when = datetime.fromisoformat(str(data.get("stamp")))
            sequence = int(data.get("sequence") or 0)
        except (ValueError, TypeError):
            when, sequence = start, 0
        ids[key] = str(item["id"])
        out[key] = CalendarEvent(
            key=key,
            start=start,
            end=end,
            summary=str(item.get("subject") or ""),
            description=body_text(item.get("body")),
            sequence=sequence,
            stamp=when,
            reminder_minutes=int(item.get("reminderMinutesBeforeStart") or 0),
        )

    # ---------------------------------------------------------------- other installs

    def other_installs(self) -> frozenset[str]:
        """Read from the calendar's events once a day: the service keeps this object."""
        if self._calendar_id is not None and (
            self._scanned is None or clock.monotonic() - self._scanned >= OTHER_INSTALLS_EVERY
        ):
            self._scanned = clock.monotonic()
            self.events()
        return frozenset(self._others)

    def _other_install(self, install: str, what: str) -> None:
        if install in self._others:
            return
        self._others.add(install)
        log.warning(
            "%s: another pursuit install (%s) %s on pursuit's calendar %r; its events are "
            "left alone (stop one of the two installs, or give each its own calendar_name)",
            SOURCE,
            install or "its id unknown",
            what,
            self.calendar_name,
        )


def _naive_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def _stamp_of(item: Any) -> str | None:
    """The value of pursuit's property on an event, if it has one."""
    if not isinstance(item, dict):
        return None
    for prop in item.get("singleValueExtendedProperties") or []:
        if isinstance(prop, dict) and str(prop.get("id", "")).casefold() == PROPERTY.casefold():
            return str(prop.get("value") or "")
    return None
