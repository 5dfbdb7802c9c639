"""Any CalDAV server (Fastmail, Nextcloud, iCloud, a company server): interviews
are read from the user's calendars, follow-ups written to a calendar pursuit owns.

`CaldavCalendar` fulfils the Calendar contract on pursuit's own calendar: made
once (MKCALENDAR, at a fixed path under the user's calendar home) and found
again by that path or its name; or an existing calendar the config names, for
servers that refuse to create one. Each event is one resource named after its
stable id (`event_id_for(key, install_id)`), written with PUT (a repeat
replaces it: idempotent) and removed with DELETE (a missing one is no error);
its iCalendar text is the .ics connector's, so both calendars show the same.

`CaldavCalendarReader` reads the user's calendars. Where the server offers RFC
6578 sync tokens: a first read takes a token (hrefs only), then the events
ending after the lookback in one time-range REPORT; later reads ask what
changed since the token and fetch just those in one multiget. A token the
server forgot (403 ``DAV:valid-sync-token``) is `CursorExpired`. Elsewhere: a
time-range REPORT each time, compared by ETag with the last one. The cursor
keeps href -> UID of what was reported, so a deleted resource comes back as
its event, cancelled. A resource is read whole: a recurring event gives each of
its occurrences from the lookback on (`connectors/ical.py`), and its UID is
among the `whole_events`, so an occurrence gone from it is cancelled too.

The `caldav` library speaks the protocol; this module owns the choices and
turns every failure into a `SourceError` naming the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import icalendar
from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.lib import error

from pursuit.connectors.base import (
    Calendar,
    CalendarChanges,
    CalendarEntry,
    CalendarEvent,
    latest_instant,
)
from pursuit.connectors.ical import (
    KEY_PROPERTY,
    event_entries,
    from_vevent,
    note_other_install,
    render,
    scan_due,
    writer_of,
)
from pursuit.connectors.secrets import is_loopback
from pursuit.daemon.errors import AuthError, CursorExpired, PursuitError, SourceError

log = logging.getLogger(__name__)

DEFAULT_NAME = "Job search (pursuit)"
#: The last path segment of the calendar pursuit creates: found again by it.
CALENDAR_SLUG = "pursuit-follow-ups"
_CONTENT_TYPE = {"Content-Type": "text/calendar; charset=utf-8"}

T = TypeVar("T")


def _status(exc: BaseException) -> str:
    """'500 Internal Server Error' from a caldav error, never the response body."""
    code, reason = getattr(exc, "status", None), getattr(exc, "reason", "")
    if code:
        return f"{code} {reason}".strip() if reason and reason != "no reason" else str(code)
    found = re.search(r"'([1-5]\d\d(?: [A-Za-z][A-Za-z -]*)?)", str(exc))
    if found:
        return found[1].strip()
    return reason if reason and reason != "no reason" else type(exc).__name__


class _Dav:
    """One account on one CalDAV server; the connection opened on first use."""

    def __init__(
        self,
        url: str,
        *,
        username: str,
        password: Callable[[], str],
        timeout: float = 60.0,
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.timeout = timeout
        self._dav: DAVClient | None = None
        self._principal: Any = None

    @property
    def server(self) -> str:
        parts = urlsplit(self.url)
        return parts.netloc.rpartition("@")[2] or self.url

    @property
    def source(self) -> str:
        return f"caldav {self.server}"

    def _client(self) -> DAVClient:
        if self._dav is None:
            host = urlsplit(self.url).hostname or ""
            self._dav = DAVClient(
                url=self.url,
                username=self.username,
                password=self.password(),
                timeout=int(self.timeout),
                require_tls=not is_loopback(host),
            )
        return self._dav

    def _principal_of(self) -> Any:
        if self._principal is None:
            self._principal = self._client().principal()  # type: ignore[no-untyped-call]
        return self._principal

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        """Run one exchange with the server; any failure is a SourceError naming it."""
        try:
            return operation()
        except PursuitError:
            raise
        except error.AuthorizationError as exc:
            if getattr(exc, "status", None) == 401 or "Unauthorized" in str(exc.reason):
                self._dav = self._principal = None
                raise AuthError(
                    self.source, f"login refused for {self.username} (check password_command)"
                ) from None
            raise SourceError(self.source, f"{what}: refused ({_status(exc)})") from None
        except error.DAVError as exc:
            raise SourceError(self.source, f"{what} failed ({_status(exc)})") from None
        except OSError as exc:  # requests and niquests errors are OSErrors too
            self._dav = self._principal = None
            raise SourceError(
                self.source, f"cannot reach the server ({type(exc).__name__})"
            ) from None

    def _calendars(self) -> list[tuple[Any, str]]:
        """(calendar, display name) of each calendar of the user."""

        def run() -> list[tuple[Any, str]]:
            found = []
            for calendar in self._principal_of().calendars():
                name = calendar.get_display_name() or str(calendar.url).rstrip("/").rsplit("/")[-1]
                found.append((calendar, str(name)))
            return found

        return self._call("listing the calendars", run)

    def close(self) -> None:
        if self._dav is not None:
            with contextlib.suppress(Exception):
                self._dav.close()
        self._dav = self._principal = None


class _TooMany(PursuitError):
    """The server refused a query because its answer would hold too many events."""


#: What a server answers a query whose answer would be too big: Radicale 400, RFC 4791
#: 507 (DAV:number-of-matches-within-limits), some proxies 413.
_TOO_MANY = (400, 413, 507)
#: How far ahead a calendar read in ranges is read (the open-ended query covers all).
FAR_AHEAD = timedelta(days=366 * 30)
#: The smallest range a refused query is split into before giving up.
SMALLEST_RANGE = timedelta(hours=1)


@contextlib.contextmanager
def _too_many() -> Iterator[None]:
    """A REPORT refused as too big, as _TooMany; every other failure as it is."""
    try:
        yield
    except error.ReportError as exc:
        if getattr(exc, "status", None) in _TOO_MANY or "number-of-matches" in str(exc):
            raise _TooMany(str(exc)) from None
        raise


class _Refused(PursuitError):
    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(why)


def _is_ours(calendar: Any, name: str, wanted: str) -> bool:
    path = str(calendar.url).rstrip("/").rsplit("/", 1)[-1]
    return path == CALENDAR_SLUG or name == wanted


class CaldavCalendar(_Dav, Calendar):
    """pursuit's own calendar on a CalDAV server (see the module docstring)."""

    name = "caldav"

    def __init__(
        self,
        url: str,
        *,
        username: str,
        password: Callable[[], str],
        calendar_name: str = DEFAULT_NAME,
        existing: str | None = None,
        install_id: str = "",
        timeout: float = 60.0,
    ) -> None:
        super().__init__(url, username=username, password=password, timeout=timeout)
        self.calendar_name = calendar_name
        self.existing = existing
        self.install_id = install_id
        self._calendar: Any = None
        self._others: set[str] = set()
        self._scanned: float | None = None  # when the events were last read for others

    def calendar(self) -> Any:
        """pursuit's calendar: the one the config names, else its own (made the first time)."""
        if self._calendar is not None:
            return self._calendar
        calendars = self._calendars()
        names = ", ".join(repr(name) for _, name in calendars) or "none"
        if self.existing is not None:
            chosen = [c for c, name in calendars if self.existing in (name, str(c.url))]
            if not chosen:
                raise SourceError(
                    self.source,
                    f"no calendar named {self.existing!r} ([calendar] calendar); "
                    f"your calendars: {names}",
                )
            self._calendar = chosen[0]
            return self._calendar
        ours = [c for c, name in calendars if _is_ours(c, name, self.calendar_name)]
        if ours:
            self._calendar = ours[0]
            return self._calendar
        principal = self._principal_of()
        try:
            self._calendar = self._call(
                f"creating the calendar {self.calendar_name!r}",
                lambda: self._refusable(
                    lambda: principal.make_calendar(name=self.calendar_name, cal_id=CALENDAR_SLUG)
                ),
            )
        except _Refused as refused:
            # Made meanwhile (an earlier create still in flight when pursuit stopped
            # landed): the calendar's path is pursuit's own, so it is that one.
            again = [c for c, name in self._calendars() if _is_ours(c, name, self.calendar_name)]
            if again:
                self._calendar = again[0]
                return self._calendar
            raise SourceError(
                self.source,
                f"the server refused to create the calendar {self.calendar_name!r} "
                f"({refused.why}); create one yourself, or pick one of yours, and name it "
                f'in the config: [calendar] calendar = "..." (your calendars: {names})',
            ) from None
        log.info("caldav: created the calendar %r on %s", self.calendar_name, self.server)
        return self._calendar

    @staticmethod
    def _refusable(operation: Callable[[], T]) -> T:
        """A refusal (403, 405, 501...) as _Refused; a login refused stays itself."""
        try:
            return operation()
        except error.DAVError as exc:
            if getattr(exc, "status", None) == 401 or "Unauthorized" in str(exc.reason):
                raise
            if isinstance(exc, error.AuthorizationError) or getattr(exc, "status", 0) in (
                403,
                405,
                409,
                501,
            ):
                raise _Refused(_status(exc)) from None
            raise

    def _href(self, key: str) -> str:
        return str(self.calendar().url.join(f"{self.event_id(key)}.ics"))

    def upsert(self, event: CalendarEvent) -> None:
        body = render([event], self.calendar_name, self.install_id).decode()
        href = self._href(event.key)
        answer = self._call(
            f"saving {event.key}", lambda: self._client().put(href, body, _CONTENT_TYPE)
        )
        if answer.status not in (200, 201, 204):
            raise SourceError(self.source, f"saving {event.key} failed ({answer.status})")

    def delete(self, key: str) -> None:
        href = self._href(key)
        answer = self._call(f"deleting {key}", lambda: self._client().delete(href))
        if answer.status not in (200, 204, 404, 410):
            raise SourceError(self.source, f"deleting {key} failed ({answer.status})")

    def other_installs(self) -> frozenset[str]:
        """Read from the calendar's events once a day (`OTHER_INSTALLS_EVERY`; making the
        calendar if it is not there yet: it is about to be)."""
        if scan_due(self._scanned):
            self._scanned = time.monotonic()
            self.events()
        return frozenset(self._others)

    def events(self) -> dict[str, CalendarEvent]:
        """This install's events, by key; another install's are noted and left alone."""
        objects = self._call("reading pursuit's events", lambda: self.calendar().get_events())
        found: dict[str, CalendarEvent] = {}
        for item in objects:
            try:
                parsed = icalendar.Calendar.from_ical(item.data)
                for vevent in parsed.walk("VEVENT"):
                    if vevent.get(KEY_PROPERTY) is None:
                        continue
                    writer = writer_of(vevent, self.install_id)
                    if writer is not None:
                        note_other_install(self._others, writer, f"caldav {self.server}")
                        continue
                    event = from_vevent(vevent)
                    found[event.key] = event
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("caldav: %s: an unreadable event skipped (%s)", item.url, exc)
        return found


# ------------------------------------------------------------------------- reading


def _etag(item: Any) -> str:
    props = getattr(item, "props", None) or {}
    etag = props.get(dav.GetEtag.tag)
    if etag:
        return str(etag)
    return hashlib.sha256(str(item.data).encode()).hexdigest()  # a server that sends none


def _whole(uids: dict[str, str]) -> tuple[str, ...]:
    """The events read whole: a CalDAV resource holds an event and all its occurrences."""
    return tuple(dict.fromkeys(uids.values()))


class CaldavCalendarReader(_Dav):
    """The user's CalDAV calendars, read (see the module docstring). Calendar ids
    are the calendars' URLs (`calendar_ids` lists them)."""

    def __init__(
        self,
        url: str,
        *,
        username: str,
        password: Callable[[], str],
        timeout: float = 60.0,
        use_sync_tokens: bool = True,
    ) -> None:
        super().__init__(url, username=username, password=password, timeout=timeout)
        self.use_sync_tokens = use_sync_tokens
        self.me = username.lower() if "@" in username else ""

    def calendar_ids(self, names: Sequence[str] = (), *, exclude: Sequence[str] = ()) -> list[str]:
        """The URLs of the calendars named (all when none is), but never pursuit's own
        nor one named in `exclude` (where pursuit writes)."""
        chosen = []
        calendars = self._calendars()
        for calendar, name in calendars:
            if names and name not in names and str(calendar.url) not in names:
                continue
            if not names and (_is_ours(calendar, name, DEFAULT_NAME) or name in exclude):
                continue
            chosen.append(str(calendar.url))
        for missing in set(names) - {n for _, n in calendars} - {str(c.url) for c, _ in calendars}:
            log.warning("caldav: %s has no calendar named %r; skipped", self.server, missing)
        return chosen

    def _open(self, calendar_id: str) -> Any:
        return self._client().calendar(url=calendar_id)  # type: ignore[no-untyped-call]

    def changes(self, calendar_id: str, cursor: str | None, *, since: datetime) -> CalendarChanges:
        calendar = self._call("opening the calendar", lambda: self._open(calendar_id))
        if cursor is None:
            return self._first(calendar, calendar_id, since)
        try:
            state = json.loads(cursor)
            known: dict[str, str] = dict(state["uids"])
        except (ValueError, KeyError, TypeError):
            raise CursorExpired(self.source, "unreadable cursor; reading again") from None
        if state.get("token"):
            return self._since_token(calendar, calendar_id, str(state["token"]), known, since)
        return self._by_etags(calendar, calendar_id, since, dict(state.get("etags", {})), known)

    def _entries(
        self, calendar_id: str, items: Sequence[Any], since: datetime
    ) -> tuple[list[CalendarEntry], dict[str, str], int]:
        """Entries of the loaded items (each occurrence of a recurring event from
        `since` on), href -> UID of each item, and how many were unreadable."""
        entries, uids, skipped = [], {}, 0
        for item in items:
            try:
                uid, found = event_entries(calendar_id, item.data, self.me, since=since)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("caldav: %s: an unreadable event skipped (%s)", item.url, exc)
                skipped += 1
                continue
            entries.extend(found)
            if uid:
                uids[str(item.url)] = uid
        return entries, uids, skipped

    def _in_range(self, calendar: Any, since: datetime) -> list[Any]:
        """Every resource with an event ending after `since`: one time-range REPORT,
        or, when the server refuses to answer that many at once (Radicale answers 400
        above `[reporting] max_expand_occurrence`, 10,000 events; RFC 4791 servers 507),
        ranges halved until each is answered (up to `FAR_AHEAD`), each resource once."""
        try:
            return self._search(calendar, since, None)
        except _TooMany:
            log.info("caldav: %s refuses one query for every event; reading in ranges", self.server)
        found: dict[str, Any] = {}
        for item in self._ranges(calendar, since, since + FAR_AHEAD):
            found.setdefault(str(item.url), item)
        return list(found.values())

    def _ranges(self, calendar: Any, start: datetime, end: datetime) -> list[Any]:
        try:
            return self._search(calendar, start, end)
        except _TooMany:
            if end - start <= SMALLEST_RANGE:
                raise SourceError(
                    self.source,
                    f"the server refuses to list the events from {start:%Y-%m-%d %H:%M} UTC "
                    f"even {SMALLEST_RANGE} at a time (too many)",
                ) from None
        middle = start + (end - start) / 2
        return self._ranges(calendar, start, middle) + self._ranges(calendar, middle, end)

    def _search(self, calendar: Any, start: datetime, end: datetime | None) -> list[Any]:
        utc = start.astimezone(UTC)

        def run() -> list[Any]:
            with _too_many():
                if end is None:
                    return list(calendar.search(event=True, start=utc, expand=False))
                # The library widens a range by a day each side unless told not to:
                # ranges shorter than that would never get smaller.
                return list(
                    calendar.search(
                        event=True,
                        start=utc,
                        end=end.astimezone(UTC),
                        expand=False,
                        compatibility_workarounds=False,
                    )
                )

        return self._call("reading events", run)

    def _multiget(self, calendar: Any, urls: list[Any]) -> list[Any]:
        """The resources at `urls`, in as few multigets as the server answers."""

        def run() -> list[Any]:
            with _too_many():
                return list(calendar.multiget(urls))

        try:
            return self._call("fetching changed events", run)
        except _TooMany:
            if len(urls) == 1:
                raise SourceError(
                    self.source, f"the server refuses to give {urls[0]} (too many events)"
                ) from None
        half = len(urls) // 2
        return self._multiget(calendar, urls[:half]) + self._multiget(calendar, urls[half:])

    def _token(self, calendar: Any, token: str | None) -> tuple[str, list[Any], set[str]] | None:
        """(new token, changed objects, deleted hrefs) since `token`; None when the
        server has no sync tokens. A token it forgot raises CursorExpired."""
        try:
            found = calendar.get_objects_by_sync_token(
                token, load_objects=False, disable_fallback=True
            )
        except error.DAVError as exc:
            preconditions = getattr(exc, "preconditions", None) or []
            if token and (
                dav.ValidSyncToken.tag in preconditions or getattr(exc, "status", 0) in (409, 410)
            ):
                raise CursorExpired(self.source, "the calendar's sync token expired") from None
            if isinstance(exc, error.AuthorizationError) and "Unauthorized" in str(exc.reason):
                raise
            if token:  # the server took tokens before: this is a failure, not a missing feature
                raise
            log.info("caldav: %s offers no sync tokens (%s); using ETags", self.server, exc)
            return None
        deleted = {str(url) for url in getattr(found, "deleted_urls", set())}
        changed = [o for o in found if str(o.url) not in deleted]
        return str(found.sync_token), changed, deleted

    def _first(self, calendar: Any, calendar_id: str, since: datetime) -> CalendarChanges:
        synced = (
            self._call("starting a sync", lambda: self._token(calendar, None))
            if self.use_sync_tokens
            else None
        )
        items = self._in_range(calendar, since)
        entries, uids, skipped = self._entries(calendar_id, items, since)
        live = [
            e
            for e in entries
            if not e.cancelled and e.end is not None and latest_instant(e.end) > since
        ]
        state: dict[str, Any] = {"uids": {h: u for h, u in uids.items()}}
        if synced is not None:
            state["token"] = synced[0]
        else:
            state["etags"] = {str(i.url): _etag(i) for i in items}
        return CalendarChanges(tuple(live), json.dumps(state), skipped, _whole(uids))

    def _since_token(
        self, calendar: Any, calendar_id: str, token: str, known: dict[str, str], since: datetime
    ) -> CalendarChanges:
        synced = self._call("syncing", lambda: self._token(calendar, token))
        assert synced is not None
        new_token, changed, deleted = synced
        items: list[Any] = []
        if changed:
            items = self._multiget(calendar, [o.url for o in changed])
        entries, uids, skipped = self._entries(calendar_id, items, since)
        for href in deleted:
            uid = known.pop(href, None)
            if uid is not None:
                entries.append(CalendarEntry(calendar_id, uid, cancelled=True))
        known.update(uids)
        cursor = json.dumps({"token": new_token, "uids": known})
        return CalendarChanges(tuple(entries), cursor, skipped, _whole(uids))

    def _by_etags(
        self,
        calendar: Any,
        calendar_id: str,
        since: datetime,
        etags: dict[str, str],
        known: dict[str, str],
    ) -> CalendarChanges:
        items = self._in_range(calendar, since)
        now_etags = {str(i.url): _etag(i) for i in items}
        changed = [i for i in items if etags.get(str(i.url)) != now_etags[str(i.url)]]
        entries, uids, skipped = self._entries(calendar_id, changed, since)
        for href in set(etags) - set(now_etags):
            uid = known.pop(href, None)
            if uid is not None:
                entries.append(CalendarEntry(calendar_id, uid, cancelled=True))
        known.update(uids)
        cursor = json.dumps({"etags": now_etags, "uids": known})
        return CalendarChanges(tuple(entries), cursor, skipped, _whole(uids))
