"""Google Calendar: interviews are read from the user's calendars, follow-ups
are written to a calendar pursuit owns.

`GoogleCalendar` fulfils the Calendar contract of `connectors.base` on
pursuit's own calendar (scope ``calendar.app.created``): client-chosen event
ids derived from the duty key (base32hex), the key also kept in
``extendedProperties.private`` because Google may not detect every id
collision at creation.

`GoogleCalendarReader` reads the user's calendars (scope ``calendar.readonly``)
with sync tokens: one call when nothing changed, 410 -> CursorExpired. Google
expands recurring events itself (``singleEvents``): an instance is handed over
as its series' id and its occurrence (``recurringEventId``,
``originalStartTime``), as CalDAV's are.

One instance per thread (httplib2 is not thread-safe).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from googleapiclient.errors import HttpError

from pursuit.connectors.base import (
    Attendee,
    Calendar,
    CalendarChanges,
    CalendarEntry,
    CalendarEvent,
    When,
)
from pursuit.connectors.google_api import GoogleApi, api_error, http_status
from pursuit.connectors.ical import scan_due
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

SOURCE = "google calendar"
DEFAULT_NAME = "Job search (pursuit)"
KEY = "pursuitKey"
SEQUENCE = "pursuitSequence"
STAMP = "pursuitStamp"
#: The install that wrote the event (absent for an install from before install ids).
INSTALL = "pursuitInstall"
#: The start of the description of every calendar pursuit makes; the install follows.
MARKER = "Follow-ups and thank-you notes planned by pursuit."
#: How long a calendars.insert whose answer was lost may still land (Google does not
#: say; the client gives up after its timeout, a minute, and a held request may
#: commit later): no second calendar is made before.
IN_DOUBT = timedelta(minutes=10)
#: The attempt noted while pursuit's calendar is being created.
CREATE = "calendars.insert"
_MARKED_INSTALL = re.compile(r"\(install ([0-9a-f]+)\)")
MAX_REMINDER_MINUTES = 40320
DEFAULT_BATCH_URI = "https://www.googleapis.com/batch/calendar/v3"


class _CalendarApi(GoogleApi):
    source = SOURCE
    api = ("calendar", "v3")
    default_batch_uri = DEFAULT_BATCH_URI


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}")
    return moment.isoformat()


def parse_time(when: Any, default_zone: str | None = None) -> datetime | None:
    """An aware datetime from an event's start/end.

    ``dateTime`` is used as given (its offset, else its ``timeZone``, else the
    calendar's). An all-day ``date`` becomes midnight in the event's or the
    calendar's time zone (UTC if neither is known): all-day interviews (an
    onsite day) still count, and their end is the next midnight.
    """
    if not isinstance(when, dict):
        return None
    zone = _zone(when.get("timeZone")) or _zone(default_zone) or UTC
    if when.get("dateTime"):
        moment = datetime.fromisoformat(str(when["dateTime"]).replace("z", "Z"))
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    if when.get("date"):
        day = datetime.fromisoformat(str(when["date"])).date()
        return datetime.combine(day, time(0), tzinfo=zone)
    return None


class GoogleCalendar(_CalendarApi, Calendar):
    """pursuit's own calendar on Google (see the module docstring)."""

    name = "google"

    def __init__(
        self,
        credentials: Any,
        credentials_file: Path | None,
        *,
        api_endpoint: str | None = None,
        calendar_name: str = DEFAULT_NAME,
        calendar_id: str | None = None,
        time_zone: str = "UTC",
        num_retries: int = 5,
        timeout: float = 60,
        backoff: float = 1.0,
        install_id: str = "",
    ) -> None:
        super().__init__(
            credentials,
            credentials_file,
            api_endpoint=api_endpoint,
            num_retries=num_retries,
            timeout=timeout,
            backoff=backoff,
        )
        self.install_id = install_id
        self.calendar_name = calendar_name
        self._calendar_id = calendar_id
        self._named = calendar_id is not None  # the config names it: never merged away
        self.time_zone = time_zone
        self._others: set[str] = set()
        self._scanned: float | None = None  # when the events were last read for others

    @property
    def calendar_id(self) -> str:
        """The id of pursuit's calendar: given, found by name, or created once."""
        if self._calendar_id is None:
            found = self._find_calendar()
            if found is not None and self.attempts is not None:
                self.attempts.landed(CREATE)
            self._calendar_id = found or self._create_calendar()
        return self._calendar_id

    def _our_calendars(self) -> list[dict[str, Any]]:
        """The calendars carrying pursuit's calendar name, as the list gives them."""
        calendars = self._service.calendarList()
        found = []
        for page in self._pages(
            calendars.list, "calendarList.list", maxResults=250, minAccessRole="owner"
        ):
            for item in page.get("items") or []:
                if item.get("summary") == self.calendar_name and not item.get("deleted"):
                    found.append(dict(item))
                    marked = _MARKED_INSTALL.search(str(item.get("description") or ""))
                    if marked and marked[1] != self.install_id:
                        self._other_install(marked[1], f"made the calendar {item['id']}")
        return found

    def _find_calendar(self) -> str | None:
        found = self._our_calendars()
        return str(found[0]["id"]) if found else None

    def _found_calendar(self) -> dict[str, str] | None:
        found = self._find_calendar()
        return None if found is None else {"id": found}

    def _create_calendar(self) -> str:
        """Google chooses a calendar's id, so a create whose answer was lost (pursuit
        killed while Google held it) can land minutes later, after a restart looked
        and found nothing: while such a create is in doubt, none is sent; after the
        window, one is, and a late copy is merged away (`recreated`)."""
        if self.attempts is not None:
            begun = self.attempts.begun(CREATE)
            now = datetime.now(UTC)
            if begun is not None and now < begun + IN_DOUBT:
                local = _zone(self.time_zone) or UTC
                raise SourceError(
                    SOURCE,
                    f"pursuit's calendar {self.calendar_name!r} may still be on its way "
                    f"(a create sent at {begun.astimezone(local):%H:%M} before pursuit "
                    f"stopped); looking for it again after "
                    f"{(begun + IN_DOUBT).astimezone(local):%H:%M}",
                )
            self.attempts.begin(CREATE)
        install = f" (install {self.install_id})" if self.install_id else ""
        body = {
            "summary": self.calendar_name,
            "description": MARKER + install,
            "timeZone": self.time_zone,
        }
        # a retry after a lost answer first looks for the calendar by its name
        found = self._create(
            lambda: self._service.calendars().insert(body=body),
            "calendars.insert",
            self._found_calendar,
        )
        if self.attempts is not None:
            self.attempts.landed(CREATE)
        log.info("created the Google calendar %r", self.calendar_name)
        return str(found["id"])

    def _body(self, event: CalendarEvent) -> dict[str, Any]:
        zone = _zone(self.time_zone) or UTC
        minutes = max(0, min(MAX_REMINDER_MINUTES, event.reminder_minutes))
        return {
            "id": self.event_id(event.key),
            "summary": event.summary,
            "description": event.description,
            "start": {
                "dateTime": _rfc3339(event.start.astimezone(zone)),
                "timeZone": self.time_zone,
            },
            "end": {"dateTime": _rfc3339(event.end.astimezone(zone)), "timeZone": self.time_zone},
            "reminders": {
                "useDefault": False,
                "overrides": [{"method": "popup", "minutes": minutes}],
            },
            "extendedProperties": {
                "private": {
                    KEY: event.key,
                    SEQUENCE: str(event.sequence),
                    STAMP: _rfc3339(event.stamp),
                    **({INSTALL: self.install_id} if self.install_id else {}),
                }
            },
            "transparency": "transparent",
        }

    def _still_there(self, calendar_id: str) -> bool:
        try:
            self._call(
                self._service.calendars().get(calendarId=calendar_id), "calendars.get", (404,)
            )
        except HttpError:
            return False
        return True

    def _gone(self, calendar_id: str) -> CalendarGone:
        """Forget the deleted calendar: the next change makes a new one."""
        self._calendar_id = None
        return CalendarGone(
            SOURCE,
            f"pursuit's calendar {self.calendar_name!r} ({calendar_id}) was deleted; "
            "making it again with every pending event",
            calendar=self.name,
        )

    def _on_calendar(
        self, make: Callable[[str], Any], method: str, passthrough: Collection[int] = ()
    ) -> Any:
        """A call on pursuit's calendar; a 404 because the calendar is gone raises CalendarGone."""
        calendar_id = self.calendar_id
        try:
            return self._call(make(calendar_id), method, (*passthrough, 404))
        except HttpError as exc:
            if http_status(exc) == 404 and not self._still_there(calendar_id):
                raise self._gone(calendar_id) from None
            if http_status(exc) in passthrough:
                raise
            raise api_error(SOURCE, method, exc) from None

    def upsert(self, event: CalendarEvent) -> None:
        """Insert with the key's id; on 409 update in place, unless the user deleted it."""
        events = self._service.events()
        body = self._body(event)
        event_id = self.event_id(event.key)
        try:
            self._on_calendar(
                lambda cid: events.insert(calendarId=cid, body=body), "events.insert", (409,)
            )
            return
        except HttpError:
            pass  # 409: the id is taken, by this event or by one the user deleted
        current = self._on_calendar(
            lambda cid: events.get(calendarId=cid, eventId=event_id), "events.get"
        )
        if current.get("status") == "cancelled":
            log.info("%s: %r was deleted by the user; not creating it again", SOURCE, event.key)
            return
        self._on_calendar(
            lambda cid: events.update(calendarId=cid, eventId=event_id, body=body),
            "events.update",
        )

    def delete(self, key: str) -> None:
        """Delete the event; one already gone (404, 410) is fine."""
        event_id = self.event_id(key)
        with contextlib.suppress(HttpError):
            self._on_calendar(
                lambda cid: self._service.events().delete(calendarId=cid, eventId=event_id),
                "events.delete",
                (404, 410),
            )

    def flush(self) -> None:
        """Google makes each change durable when it answers; what can still undo them
        all is the user deleting pursuit's calendar, so its presence is checked here
        (once a round): CalendarGone if it is not there."""
        if self._calendar_id is None:
            found = self._find_calendar()
            if found is None:  # never made, or deleted since the last run
                raise CalendarGone(
                    SOURCE,
                    f"pursuit's calendar {self.calendar_name!r} is not there",
                    calendar=self.name,
                )
            self._calendar_id = found
        elif not self._still_there(self._calendar_id):
            raise self._gone(self._calendar_id)

    def _items(self, calendar_id: str) -> list[tuple[dict[str, Any], str | None]]:
        """The live events of a calendar, each with its page's time zone; CalendarGone
        when the calendar is not there."""
        pages = self._pages(
            self._service.events().list,
            "events.list",
            (404,),
            calendarId=calendar_id,
            showDeleted=False,
            maxResults=2500,
        )
        items: list[tuple[dict[str, Any], str | None]] = []
        try:
            for page in pages:
                items += [(dict(item), page.get("timeZone")) for item in page.get("items") or []]
        except HttpError as exc:
            if self._still_there(calendar_id):
                raise api_error(SOURCE, "events.list", exc) from None
            raise self._gone(calendar_id) from None
        return items

    def _is_mine(self, item: Mapping[str, Any]) -> bool:
        """Written by this install: its id is the one this install derives from its key
        (ids mix in the install's id, so no other install's can match)."""
        key = _private(item).get(KEY)
        return bool(key) and item.get("id") == self.event_id(str(key))

    def _note_foreign(self, item: Mapping[str, Any]) -> None:
        """Another install's event is noted (and left alone); the user's own is nothing to us."""
        private = _private(item)
        if private.get(KEY):
            self._other_install(str(private.get(INSTALL) or ""), f"wrote the event {item['id']}")

    def other_installs(self) -> frozenset[str]:
        """Read from the calendar's description each round and from its events once a
        day (`OTHER_INSTALLS_EVERY`): the service keeps this object for months."""
        if self._calendar_id is not None and scan_due(self._scanned):
            self._scanned = monotonic()
            self.events()
        return frozenset(self._others)

    def _other_install(self, install: str, what: str) -> None:
        if install in self._others:
            return
        self._others.add(install)
        log.warning(
            "%s: another pursuit install (%s) %s on this account; pursuit leaves its events "
            "alone (stop one of the two installs, or give each its own [google] calendar_name)",
            SOURCE,
            install or "of an earlier version, its id unknown",
            what,
        )

    def events(self) -> dict[str, CalendarEvent]:
        """This install's events, by key (another install's on the same calendar are
        neither returned nor touched, only noted in `other_installs()`).

        ``privateExtendedProperty`` takes exact ``name=value`` pairs only (no
        wildcard), so all live events are listed and filtered on the key.
        """
        out: dict[str, CalendarEvent] = {}
        for item, zone in self._items(self.calendar_id):
            if not self._is_mine(item):
                self._note_foreign(item)
                continue
            event = self._parse(item, zone)
            if event is not None:
                out[event.key] = event
        return out

    def recreated(self) -> bool:
        """Once a round, before the queued changes: pursuit's calendar is looked up by
        its name. When there is more than one (a calendars.insert still in flight when
        pursuit stopped landed after the restart had made another), one is kept and
        this install's events are taken off the others, each of which is removed when
        pursuit made it and nothing else is on it; True then, so that the core puts
        every event back on the one kept."""
        if self._named:
            return False
        calendars = self._our_calendars()
        if calendars and self.attempts is not None:
            self.attempts.landed(CREATE)
        if len(calendars) > 1:
            return self._merge(calendars)
        if calendars and self._calendar_id is None:
            self._calendar_id = str(calendars[0]["id"])
        return False

    def _merge(self, calendars: list[dict[str, Any]]) -> bool:
        held: dict[str, tuple[list[str], int, bool]] = {}  # id -> (mine, others', pursuit's)
        for calendar in calendars:
            calendar_id = str(calendar["id"])
            try:
                items = [item for item, _ in self._items(calendar_id)]
            except CalendarGone:
                continue  # deleted meanwhile
            mine = [str(item["id"]) for item in items if self._is_mine(item)]
            for item in items:
                if not self._is_mine(item):
                    self._note_foreign(item)
            made = str(calendar.get("description") or "").startswith(MARKER)
            held[calendar_id] = (mine, len(items) - len(mine), made)
        if not held:
            self._calendar_id = None
            return False
        # pursuit's own first, then one that must stay anyway, then the fullest
        keep = min(held, key=lambda c: (not held[c][2], held[c][1] == 0, -len(held[c][0]), c))
        removed = taken_off = 0
        for calendar_id, (mine, others, made) in held.items():
            if calendar_id == keep:
                continue
            taken_off += len(mine)
            if made and others == 0:
                with contextlib.suppress(HttpError):
                    self._call(
                        self._service.calendars().delete(calendarId=calendar_id),
                        "calendars.delete",
                        (404, 410),
                    )
                removed += 1
                continue
            for event_id in mine:
                with contextlib.suppress(HttpError):
                    self._call(
                        self._service.events().delete(calendarId=calendar_id, eventId=event_id),
                        "events.delete",
                        (404, 410),
                    )
        moved = self._calendar_id not in (None, keep)
        self._calendar_id = keep
        if not (removed or taken_off or moved):
            # another install's calendar, or the user's, of the same name: left as it is
            return False
        log.warning(
            "%s: pursuit's calendar %r was there %d times (a create still in flight when "
            "pursuit stopped landed later); kept %s, removed %d, took %d events off the "
            "others, and every event is put back on the one kept",
            SOURCE,
            self.calendar_name,
            len(held),
            keep,
            removed,
            taken_off,
        )
        return True

    @staticmethod
    def _parse(item: dict[str, Any], zone: str | None) -> CalendarEvent | None:
        if item.get("status") == "cancelled":
            return None
        private = _private(item)
        key = private.get(KEY)
        if not key:
            return None
        start = parse_time(item.get("start"), zone)
        end = parse_time(item.get("end"), zone)
        if start is None or end is None:
            return None
        try:
            stamp = datetime.fromisoformat(str(private.get(STAMP) or item.get("updated")))
        except ValueError:
            stamp = start
        overrides = (item.get("reminders") or {}).get("overrides") or []
        minutes = next((int(o["minutes"]) for o in overrides if "minutes" in o), None)
        extra = {} if minutes is None else {"reminder_minutes": minutes}
        try:
            sequence = int(private.get(SEQUENCE, item.get("sequence", 0)))
        except ValueError:
            sequence = 0
        return CalendarEvent(
            key=str(key),
            start=start,
            end=end,
            summary=str(item.get("summary", "")),
            description=str(item.get("description", "")),
            sequence=sequence,
            stamp=stamp,
            **extra,
        )


def _private(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """An event's private extended properties ({} when it has none)."""
    return (item.get("extendedProperties") or {}).get("private") or {}


class GoogleCalendarReader(_CalendarApi):
    """The user's own calendars, where the interviews are."""

    name = "google"

    def changes(self, calendar_id: str, cursor: str | None, *, since: datetime) -> CalendarChanges:
        """Events changed since `cursor` (all from `since` on when None), and the next cursor.

        410 (the sync token expired) raises CursorExpired: resync with None.
        """
        entries: list[CalendarEntry] = []
        skipped = 0
        window = {"timeMin": _rfc3339(since)} if cursor is None else {"syncToken": cursor}
        page: Mapping[str, Any] = {}
        try:
            for page in self._pages(
                self._service.events().list,
                "events.list",
                (410,),
                calendarId=calendar_id,
                singleEvents=True,
                maxResults=250,
                **window,
            ):
                zone = page.get("timeZone")
                for item in page.get("items") or []:
                    try:
                        entry = parse_entry(calendar_id, item, zone)
                    except ItemError as exc:
                        log.warning("%s", exc)
                        skipped += 1
                        continue
                    if entry is not None:
                        entries.append(entry)
        except HttpError:  # 410: the only status passed through
            raise CursorExpired(SOURCE, "sync token expired; resyncing") from None
        next_cursor = page.get("nextSyncToken")
        if not next_cursor:
            raise SourceError(SOURCE, f"events.list on {calendar_id}: no nextSyncToken")
        return CalendarChanges(tuple(entries), str(next_cursor), skipped=skipped)


def parse_entry(calendar_id: str, item: Any, zone: str | None) -> CalendarEntry | None:
    """A CalendarEntry; cancelled events become ``cancelled=True`` entries.

    Anyone can invite the user, so names, the title and the description are
    cleaned and bounded (`connectors.text`); an event that cannot be read at
    all raises ItemError naming it.
    """
    event_id = item.get("id") if isinstance(item, dict) else None
    if not event_id:
        return None
    try:
        return _entry(calendar_id, str(event_id), item, zone)
    except Exception as exc:  # whatever a stranger's invitation holds, it is skipped alone
        raise ItemError(
            f"{SOURCE}: event {event_id} skipped: cannot read it ({type(exc).__name__}: {exc})"
        ) from None


def _address(value: Any) -> str:
    address = clean_text(value or "", ADDRESS_LIMIT + 1).lower()
    return address if len(address) <= ADDRESS_LIMIT and " " not in address else ""


def _when(when: Any, default_zone: str | None) -> When | None:
    """An event's start or end as given: an all-day ``date`` stays a date; a
    ``dateTime`` keeps its offset, else takes its ``timeZone``, else the calendar's."""
    if isinstance(when, dict) and not when.get("dateTime") and when.get("date"):
        return date.fromisoformat(str(when["date"]))
    return parse_time(when, default_zone)


def _person(value: Any) -> Attendee | None:
    if not isinstance(value, dict):
        raise ValueError(f"a person that is not an object: {str(value)[:40]!r}")
    address = _address(value.get("email"))
    if not address:
        return None
    return Attendee(
        email=address,
        name=clean_text(value.get("displayName") or "", NAME_LIMIT),
        is_self=bool(value.get("self")),
        kind="resource" if value.get("resource") else "individual",
        role="opt-participant" if value.get("optional") else "req-participant",
    )


def _conference_links(item: Mapping[str, Any]) -> tuple[str, ...]:
    """The join addresses of an event, once each: its `hangoutLink` (Meet), then the
    `uri` of each `video` entry point of its `conferenceData` (Meet, or a third party's
    add-on such as Zoom's), not the phone or SIP ones."""
    found = [item.get("hangoutLink")]
    conference = item.get("conferenceData")
    points = conference.get("entryPoints") if isinstance(conference, dict) else None
    for point in points if isinstance(points, list) else []:
        if isinstance(point, dict) and point.get("entryPointType") == "video":
            found.append(point.get("uri"))
    return clean_links(found)


def _zone_name(when: Any) -> str | None:
    """The `timeZone` a timed start is written in (an all-day one has none that counts)."""
    if not isinstance(when, dict) or not when.get("dateTime"):
        return None
    zone = when.get("timeZone")
    return clean_text(zone, NAME_LIMIT) or None if isinstance(zone, str) else None


#: An instance's id: its recurring event's id, `_`, and its original start in UTC
#: (or its day, all-day): Google's form, read where a cancelled one lacks the fields.
_INSTANCE_ID = re.compile(r"(?P<event>.+)_(?P<day>\d{8})(?:T(?P<time>\d{6})Z)?")


def _occurrence(event_id: str, item: dict[str, Any], zone: str | None) -> tuple[str, When | None]:
    """(the event's id, the occurrence) of an instance of a recurring event, from its
    `recurringEventId` and `originalStartTime`; (the id, None) for a single event."""
    recurring = item.get("recurringEventId")
    original = _when(item.get("originalStartTime"), zone)
    if recurring and original is not None:
        return str(recurring), original
    found = _INSTANCE_ID.fullmatch(event_id)
    if found and (recurring is not None or item.get("status") == "cancelled"):
        # A cancelled instance is only sure to carry its id, recurringEventId and
        # originalStartTime; its id says the same when the others are missing.
        day = datetime.strptime(found["day"], "%Y%m%d").date()
        if found["time"] is None:
            return found["event"], day
        moment = datetime.combine(day, datetime.strptime(found["time"], "%H%M%S").time())
        return found["event"], moment.replace(tzinfo=UTC)
    return event_id, None


def _entry(
    calendar_id: str, event_id: str, item: dict[str, Any], zone: str | None
) -> CalendarEntry:
    event_id, occurrence = _occurrence(event_id, item, zone)
    if item.get("status") == "cancelled":
        return CalendarEntry(
            calendar_id=calendar_id, event_id=event_id, cancelled=True, occurrence=occurrence
        )
    start = _when(item.get("start"), zone)
    end = _when(item.get("end"), zone)
    attendees: list[Attendee] = []
    seen: set[str] = set()
    for value in item.get("attendees") or []:
        person = _person(value)
        if person is None or person.email in seen:
            continue
        seen.add(person.email)
        attendees.append(person)
    # When guests are hidden the list holds the user alone; the organizer is given apart.
    organizer = _person(item["organizer"]) if item.get("organizer") else None
    return CalendarEntry(
        calendar_id=calendar_id,
        event_id=event_id,
        cancelled=False,
        summary=clean_text(item.get("summary") or "", SUBJECT_LIMIT),
        start=start,
        end=end,
        attendees=tuple(attendees),
        description=clean_multiline(item.get("description") or "", DESCRIPTION_LIMIT),
        organizer=organizer,
        occurrence=occurrence,
        location=clean_multiline(item.get("location") or "", LOCATION_LIMIT),
        conference_links=_conference_links(item),
        start_zone=_zone_name(item.get("start")),
    )
