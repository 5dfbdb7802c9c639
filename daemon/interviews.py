"""Interviews found on the user's calendars.

Every calendar reader (Google, CalDAV, and whichever comes next) hands over the
same plain facts; what they mean is decided here, once. An event is an interview
when its organizer or an attendee belongs to a tracked organization (or is a
tracked contact), or when its title matches an interview pattern and names a
tracked organization. The interviewers are the organizer and attendees at that
organization: never the user (known by every address they own), rooms or
resources. An all-day event is its day in the user's time zone, a floating time
the user's local time. Each occurrence of a recurring event is an interview of its
own, known by the event and the occurrence (`source_key`, the same whichever reader
gave it). A moved event moves the interview (and so its duties); a cancelled or
deleted one cancels it, and a deleted series cancels every occurrence.

Where it takes place is decided here too (`whereabouts`): the place as text (a room,
an address; a link or a meeting service's name in LOCATION is no place), the link to
join it (the conference the source names, else a link in LOCATION, else a known
meeting service's link in the description; http and https only), and the
invitation's own time zone when its clock reads otherwise than the user's.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
import urllib.parse
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pursuit.connectors.base import Attendee, CalendarEntry, CalendarReader, When
from pursuit.connectors.text import LINK_LIMIT, LOCATION_LIMIT
from pursuit.daemon.errors import (
    AuthError,
    CursorExpired,
    SourceError,
    StoreError,
    Unreachable,
    UserError,
)
from pursuit.daemon.mail import skip_item
from pursuit.daemon.matcher import Directory, domain_of, normalize
from pursuit.daemon.models import Interview, Organization, OrgStatus
from pursuit.daemon.store import Store
from pursuit.daemon.textsafety import one_line

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("interview", "phone screen", "onsite", "on-site", "technical screen")


def sync_interviews(
    store: Store,
    reader: CalendarReader,
    calendars: Sequence[str],
    now: datetime,
    *,
    lookback: timedelta,
    patterns: Sequence[str] = DEFAULT_PATTERNS,
    timezone: tzinfo | None = None,
) -> int:
    """Read each calendar's changes; returns how many events were interviews.
    `timezone` is the user's (default: `now`'s): where all-day and floating times are."""
    zone = timezone or now.tzinfo or UTC
    found = 0
    failed: list[tuple[str, SourceError]] = []
    for calendar_id in calendars:
        name = f"calendar:{calendar_id}"
        cursor = store.cursor(name)
        try:
            try:
                changes = reader.changes(calendar_id, cursor, since=now - lookback)
            except CursorExpired as exc:
                log.warning("%s; resyncing from scratch", exc)
                cursor = None
                changes = reader.changes(calendar_id, None, since=now - lookback)
        except (AuthError, Unreachable):
            raise  # the account or the server: every calendar alike
        except SourceError as exc:  # this calendar (deleted, refused): the others are read
            failed.append((calendar_id, exc))
            continue
        before = upcoming(store, calendar_id, now)
        try:
            with store.transaction():
                read = 0
                # read once a round, kept up to date as interviewers are added: built for
                # each entry, it cost 65 ms an entry beside 3,000 contacts (bench/RESULTS-graph.md)
                directory = Directory.from_store(store)
                for entry in changes.entries:
                    try:
                        with store.transaction():  # a savepoint: a failed entry leaves nothing
                            read += apply_entry(store, entry, patterns, now, zone, directory)
                    except StoreError:
                        raise  # a full disk is no bad invitation: the job stops, nothing skipped
                    except Exception as exc:  # one stranger's invitation never stops the job
                        skip_item(store, name, describe_entry(entry), exc, now)
                        directory = Directory.from_store(store)  # without what was undone
                since = now - lookback
                if cursor is None:
                    read += cancel_unlisted(store, calendar_id, changes.entries, since=since)
                for event_id in changes.whole_events:
                    read += cancel_unlisted(
                        store, calendar_id, changes.entries, since=since, event_id=event_id
                    )
                listed_nothing = cursor is None and all(e.cancelled for e in changes.entries)
                after = upcoming(store, calendar_id, now)
                _check_emptied(store, name, before, after, listed_nothing=listed_nothing, now=now)
                store.save_cursor(name, changes.cursor, now=now)
        except _Emptied:  # nothing of this round is kept, nor its cursor: asked again next time
            _hold(store, name, len(before), now)
            continue
        found += read
    _calendars_gone(store, calendars, now)
    if failed:  # the job fails, naming each calendar; what it held stays
        source = failed[0][1].source
        raise SourceError(source, "; ".join(f"{c}: {e.detail}" for c, e in failed))
    return found


#: A round that would cancel every upcoming interview of a calendar, this many or more,
#: is held until the user confirms (vdirsyncer refuses to sync a side that came back
#: empty in the same way). One interview alone is cancelled: a recruiter cancelling the
#: one interview on the calendar looks the same and must not wait for the user.
MIN_EMPTIED = 2


class _Emptied(Exception):
    """The round would cancel every upcoming interview of a calendar: undone."""


def upcoming(store: Store, calendar_id: str, now: datetime) -> set[int]:
    """The interviews still to come that a calendar gave."""
    return {
        interview.id
        for interview in store.interviews_by_source(f"{calendar_id}:").values()
        if not interview.cancelled and interview.end > now
    }


def _check_emptied(
    store: Store,
    name: str,
    before: set[int],
    after: set[int],
    *,
    listed_nothing: bool,
    now: datetime,
) -> None:
    """Raise `_Emptied` when the round left none of the calendar's upcoming interviews,
    MIN_EMPTIED or more (or one, when the calendar was read whole and listed nothing),
    and the user has not confirmed they are gone."""
    held = store.emptied(name)
    emptied = bool(before) and not after and (len(before) >= MIN_EMPTIED or listed_nothing)
    if not emptied:
        if held is not None:
            store.release_emptied(name, now=now)
            log.info("%s: its interviews are back (or past); no longer held", name)
        return
    if held is not None and held.confirmed:
        log.warning("%s: %d interviews cancelled, as the user confirmed", name, len(before))
        store.release_emptied(name, now=now)
        return
    raise _Emptied


def _calendars_gone(store: Store, listed: Collection[str], now: datetime) -> None:
    """Calendars read before and no longer listed (deleted, or taken out of the config):
    their upcoming interviews are held as an emptied calendar's are, until the user
    confirms they are gone (then cancelled here) or they are past."""
    for name in store.cursor_names("calendar:"):
        calendar_id = name.removeprefix("calendar:")
        if calendar_id in listed:
            continue
        before = upcoming(store, calendar_id, now)
        held = store.emptied(name)
        if before and held is not None and held.confirmed:
            for interview_id in sorted(before):
                store.cancel_interview(interview_id)
            log.warning("%s: %d interviews cancelled, as the user confirmed", name, len(before))
        if not before or (held is not None and held.confirmed):
            if held is not None:
                store.release_emptied(name, now=now)
            continue
        _hold(store, name, len(before), now, "is no longer read (deleted, or out of the config)")


def _hold(
    store: Store, name: str, count: int, now: datetime, what: str = "came back empty"
) -> None:
    held = store.hold_emptied(name, count, now=now)
    say = log.warning if held.since == now else log.info  # once in the journal, then quietly
    say(
        "%s %s: its %d upcoming interviews are kept, not cancelled. If they are really "
        "gone, run `pursuit interview confirm-gone`; if the calendar was replaced or "
        "renamed, fix the config (see `pursuit doctor`)",
        name,
        what,
        count,
    )


def occurrence_stamp(when: When) -> str:
    """An occurrence as Google writes it in an instance's id: the UTC time
    (20261204T130000Z), or the day of an all-day event (20261204); a floating time
    as it is written (20261204T140000)."""
    if not isinstance(when, datetime):
        return f"{when:%Y%m%d}"
    if when.tzinfo is None:
        return f"{when:%Y%m%dT%H%M%S}"
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def source_key(entry: CalendarEntry) -> str:
    """Where an interview came from: the calendar and the event, and for an occurrence
    of a recurring event `_` and its stamp. Google's instance ids have this form, so an
    occurrence read through Google or through CalDAV has one key, and the keys stored
    before occurrences were told apart stay valid."""
    key = f"{entry.calendar_id}:{entry.event_id}"
    return key if entry.occurrence is None else f"{key}_{occurrence_stamp(entry.occurrence)}"


_STAMP = re.compile(r"_\d{8}(?:T\d{6}Z?)?")


def event_interviews(store: Store, calendar_id: str, event_id: str) -> dict[str, Interview]:
    """{source key: interview} of an event: its own and each of its occurrences'."""
    key = f"{calendar_id}:{event_id}"
    return {
        found: interview
        for found, interview in store.interviews_by_source(key).items()
        if found == key or _STAMP.fullmatch(found[len(key) :])
    }


def cancel_unlisted(
    store: Store,
    calendar_id: str,
    listed: Sequence[CalendarEntry],
    *,
    since: datetime,
    event_id: str | None = None,
) -> int:
    """After a full listing of a calendar (or of one event's occurrences, `event_id`),
    cancel its interviews the listing no longer holds: their events were deleted while
    no cursor could say so (a sync token that expired lists only the events that are
    left), or their occurrences dropped from the series. Returns how many were cancelled."""
    present = {source_key(entry) for entry in listed if not entry.cancelled}
    held = (
        store.interviews_by_source(f"{calendar_id}:")
        if event_id is None
        else event_interviews(store, calendar_id, event_id)
    )
    cancelled = 0
    for key, interview in held.items():
        if key in present or interview.cancelled or interview.end <= since:
            continue
        log.info("%s: interview %d: its event is gone; cancelled", calendar_id, interview.id)
        store.cancel_interview(interview.id)
        cancelled += 1
    return cancelled


#: An event with more attendees than this at the organization is a mass event (an
#: all-hands, a webinar): it creates no contacts, only known ones are its interviewers.
MAX_INTERVIEWERS = 20


def describe_entry(entry: CalendarEntry) -> str:
    occurrence = "" if entry.occurrence is None else f", occurrence {entry.occurrence}"
    return f"event {entry.event_id[:200]!r} ({entry.start or 'no start'}{occurrence})"


def instant(when: When, zone: tzinfo) -> datetime:
    """A calendar's start or end as an aware moment: a date is its midnight in the
    user's zone, a floating (naive) time the user's local time."""
    if isinstance(when, datetime):
        return when if when.tzinfo is not None else when.replace(tzinfo=zone)
    return datetime.combine(when, time(0), tzinfo=zone)


# --- where and in which zone


@dataclass(frozen=True)
class Whereabouts:
    """Where an interview takes place, as the invitation (or the user) says."""

    location: str | None = None  # a room, an address: text, never a link
    meeting_link: str | None = None  # http or https only
    zone: str | None = None  # the invitation's zone, when its clock differs from the user's


#: A link as text writes it: up to white space, a quote or an angle bracket (Outlook
#: writes `<https://...>`, an HTML description `href="https://..."`).
_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
#: Any other address with a scheme, in a place's words: `javascript:alert(1)`,
#: `data:...`, `file:///...`, `ftp://...`. Neither a place nor a link pursuit opens.
_OTHER_ADDRESS = re.compile(
    r"(?<!\S)(?:(?:javascript|vbscript|data|file|blob|about|filesystem|jar):\S*"
    r"|(?!https?://)[a-z][a-z0-9+.-]*://\S*)",
    re.IGNORECASE,
)
#: What a LOCATION holds when the meeting is online: a service's name, not a place
#: (Outlook writes "Microsoft Teams Meeting" in the user's language: "Microsoft
#: Teams-møde", "Microsoft Teams-Besprechung", "Réunion Microsoft Teams").
_SERVICE_NAME = re.compile(
    r"(?:(?:réunion|reunión de|riunione)\s+)?microsoft\s+teams(?:[\s-]+\w+)?"
    r"|teams\s+meeting|zoom(?:\s+meeting)?|google\s+meet|(?:cisco\s+)?webex(?:\s+meeting)?"
    r"|skype\s+meeting|skype\s+for\s+business(?:\s+meeting)?|online(?:\s+meeting)?"
    r"|video\s+call",
    re.IGNORECASE,
)
#: The links of meeting services a description may hold among others (a Calendly
#: cancel link, a dial-in list, a privacy notice): host, and what its path holds.
MEETING_LINKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("zoom.us", ("/j/", "/my/", "/w/", "/s/")),
    ("zoomgov.com", ("/j/", "/my/", "/w/")),
    ("teams.microsoft.com", ("/l/meetup-join/", "/meet/")),
    ("teams.live.com", ("/meet/",)),
    ("meet.google.com", ("/",)),
    ("webex.com", ("/j.php", "/meet/", "/join/", "/wbxmjs/joinservice/")),
    ("whereby.com", ("/",)),
    ("meet.jit.si", ("/",)),
    ("gotomeeting.com", ("/join/",)),
    ("meet.goto.com", ("/",)),
    ("bluejeans.com", ("/",)),
    ("chime.aws", ("/",)),
)
#: Names of UTC: a time written in UTC says how it was written, not where anyone is.
_UTC_NAMES = frozenset(
    {"utc", "etc/utc", "gmt", "etc/gmt", "z", "zulu", "etc/zulu", "universal", "uct"}
    | {"etc/universal", "etc/uct", "greenwich", "etc/greenwich", "gmt0", "etc/gmt0"}
    | {"gmt+0", "gmt-0", "etc/gmt+0", "etc/gmt-0"}
)


def safe_link(text: str) -> str | None:
    """The link itself when it is one pursuit may show to be opened: http or https, a
    host, no user name before it (`https://meet.google.com@evil.example/` is not
    Google's), no white space or control character, at most LINK_LIMIT long."""
    link = text.strip()
    if not link or len(link) > LINK_LIMIT:
        return None
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in link):
        return None
    try:
        parts = urllib.parse.urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError for a port that is none
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if "@" in parts.netloc:
        return None
    return link


def _links_in(text: str) -> list[str]:
    """Every safe link written in a text, in its order (an HTML `&amp;` read as `&`)."""
    found = []
    for match in _LINK.finditer(text):
        candidate = match.group(0).rstrip(".,;:!?'")
        if candidate.endswith(")") and "(" not in candidate:
            candidate = candidate.rstrip(")")
        link = safe_link(html.unescape(candidate))
        if link is not None:
            found.append(link)
    return found


def is_meeting_link(link: str) -> bool:
    """A known meeting service's join link (see MEETING_LINKS)."""
    parts = urllib.parse.urlsplit(link)
    host = (parts.hostname or "").lower()
    for service, paths in MEETING_LINKS:
        if host == service or host.endswith(f".{service}"):
            return any(p in parts.path if p != "/" else len(parts.path) > 1 for p in paths)
    return False


def place_of(location: str) -> str | None:
    """The place in a LOCATION: its words without the links and other addresses in it,
    and without a meeting service's name standing alone (Outlook's "Microsoft Teams
    Meeting"); its lines (an address) joined with commas, Outlook's several locations
    with semicolons. None when nothing is left: a bare link is a link, not a place."""
    lines = []
    for line in location.splitlines():
        parts = []
        for part in _OTHER_ADDRESS.sub(" ", _LINK.sub(" ", line)).split(";"):
            words = " ".join(part.split()).strip(" ,:-|")
            if words and not _SERVICE_NAME.fullmatch(words):
                parts.append(words)
        if parts:
            lines.append("; ".join(parts))
    return ", ".join(lines)[:LOCATION_LIMIT].rstrip() or None


def meeting_link_of(conference_links: Iterable[str], location: str, description: str) -> str | None:
    """The first link to join by: one the source names as the conference's, else a link
    in LOCATION, else a known meeting service's link in the description (which holds
    others: a cancel link, a dial-in list); only http and https."""
    for given in conference_links:
        link = safe_link(given)
        if link is not None:
            return link
    in_location = _links_in(location)
    if in_location:
        return in_location[0]
    return next((link for link in _links_in(description) if is_meeting_link(link)), None)


def invitation_zone(name: str | None, start: When, user_zone: tzinfo) -> str | None:
    """The zone an invitation is written in, when its clock reads otherwise than the
    user's at the interview's start (Berlin's is Paris's: None); None for an all-day or
    floating time, a time written in UTC, or a name the zone database does not know."""
    if not name or not isinstance(start, datetime) or start.tzinfo is None:
        return None
    if name.casefold() in _UTC_NAMES:
        return None
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    if start.astimezone(zone).utcoffset() == start.astimezone(user_zone).utcoffset():
        return None
    return zone.key


def whereabouts(entry: CalendarEntry, user_zone: tzinfo) -> Whereabouts:
    """Where an invitation says its interview is, the same whichever reader gave it."""
    return Whereabouts(
        location=place_of(entry.location),
        meeting_link=meeting_link_of(entry.conference_links, entry.location, entry.description),
        zone=None
        if entry.start is None
        else invitation_zone(entry.start_zone, entry.start, user_zone),
    )


def where_briefly(location: str | None, meeting_link: str | None, width: int = 40) -> str:
    """Where an interview is, in a few words for a list: "at Acme HQ, room 4", "online
    (acme.zoom.us)", both, or "" when nothing is known."""
    parts = []
    if location:
        if len(location) > width:  # cut at a word, the cut shown
            cut = location[:width]
            location = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;") + "…"
        parts.append(f"at {location}")
    if meeting_link:
        parts.append(f"online ({urllib.parse.urlsplit(meeting_link).hostname})")
    return " or ".join(parts)


def where_given(text: str) -> Whereabouts:
    """`interview add --where`: a link (http or https) is the meeting link, words the
    place, both when both are given. A link of another kind is refused, named."""
    words = one_line(text)
    if not words:
        return Whereabouts()
    for token in words.split(" "):
        scheme = token.split(":", 1)[0].lower() if ":" in token else ""
        broken = scheme in ("http", "https") and safe_link(token) is None
        if broken or _OTHER_ADDRESS.fullmatch(token):
            raise UserError(
                f"--where {token!r} is not a link pursuit can keep: give an http or "
                "https address, or the place in words"
            )
    links = _links_in(words)
    return Whereabouts(location=place_of(words), meeting_link=links[0] if links else None)


def apply_entry(
    store: Store,
    entry: CalendarEntry,
    patterns: Sequence[str],
    now: datetime,
    zone: tzinfo | None = None,
    directory: Directory | None = None,
) -> bool:
    """Store what one calendar entry means; True when it is (or was) an interview.
    `directory`, the tracked people and domains, learns the interviewers added."""
    key = source_key(entry)
    existing = store.interview_by_source(key)
    if entry.cancelled or entry.start is None or entry.end is None:
        if entry.occurrence is None:  # the event is gone, and each of its occurrences
            gone = list(event_interviews(store, entry.calendar_id, entry.event_id).values())
        else:
            gone = [] if existing is None else [existing]
        for interview in gone:
            if not interview.cancelled:
                store.cancel_interview(interview.id)
        return bool(gone)
    zone = zone or now.tzinfo or UTC
    start, end = instant(entry.start, zone), instant(entry.end, zone)
    if isinstance(entry.start, date) and not isinstance(entry.start, datetime):
        end = max(end, start + timedelta(days=1))  # an all-day event is its whole day
    directory = directory or Directory.from_store(store)
    org_id, people = panel(entry, directory, store.own_addresses())
    if org_id is None:
        if _looks_like_interview(entry.summary, patterns):
            org_id = directory.organization_named_in(f"{entry.summary}\n{entry.description}")
        if org_id is None:
            if existing is not None and not existing.cancelled:
                store.cancel_interview(existing.id)  # no longer an interview
            return False
    if len(people) > MAX_INTERVIEWERS:
        people = [a for a in people if normalize(a.email) in directory.contacts]
    contacts = [store.ensure_contact(a.email, a.name, org_id, role="interviewer") for a in people]
    for contact in contacts:
        directory.add_contact(contact)
    contact_ids = [contact.id for contact in contacts]
    where = whereabouts(entry, zone)
    if existing is None:
        org = store.organization(org_id)
        notice = reopen_for_interview(store, org, start, now)
        if notice:  # the user should know, as `interview add` tells them
            log.warning("%s: %s", describe_entry(entry), notice)
        store.add_interview(
            org_id,
            start,
            end,
            contact_ids,
            position=position_of(org),
            source="calendar",
            source_key=key,
            location=where.location,
            meeting_link=where.meeting_link,
            zone=where.zone,
        )
    else:
        store.set_interview(
            existing.id,
            start=start,
            end=end,
            interviewers=contact_ids,
            location=where.location,
            meeting_link=where.meeting_link,
            zone=where.zone,
        )
    return True


def panel(
    entry: CalendarEntry, directory: Directory, me: Collection[str] = ()
) -> tuple[int | None, list[Attendee]]:
    """The organization an event is with, and the people the user meets there: the
    attendees and the organizer at the first tracked organization found among them
    (the organizer of a Zoom, Teams or Calendly invitation is often the one person
    one meets), never the user, a room or a resource."""
    org_id: int | None = None
    people: list[Attendee] = []
    everyone = [*entry.attendees, *([entry.organizer] if entry.organizer else [])]
    for attendee in everyone:
        if attendee.is_self or attendee.is_resource or normalize(attendee.email) in me:
            continue
        if any(p.email == attendee.email for p in people):
            continue
        known = directory.contacts.get(normalize(attendee.email))
        at_org = (
            directory.organization_of(known[0], entry.summary)[0]
            if known
            else directory.organization_for_domain(domain_of(attendee.email))
        )
        if at_org is None:
            continue
        if org_id is None:
            org_id = at_org
        if at_org == org_id:
            people.append(attendee)
    return org_id, people


def _looks_like_interview(title: str, patterns: Sequence[str]) -> bool:
    folded = title.casefold()
    return any(re.search(rf"(?<!\w){re.escape(p.casefold())}", folded) for p in patterns)


def reopen_for_interview(
    store: Store, org: Organization, start: datetime, now: datetime
) -> str | None:
    """An interview after a rejection (or a withdrawal, a closing) means the organization
    came back: it is active again and the interview's duties are planned. An interview
    at an offer stays under the offer (a meeting about it is no new application), and an
    interview from before the status changed is only a record; both say how to plan."""
    if org.status == OrgStatus.ACTIVE:
        return None
    since = f"{org.status_changed:%d %b %Y}"
    if org.status != OrgStatus.OFFER and start >= org.status_changed:
        store.set_organization_status(org.id, OrgStatus.ACTIVE, now=now)
        return (
            f"{org.name} was {org.status} on {since}; this interview makes it active again "
            f"and plans its thank-you and follow-up (to undo: "
            f"`pursuit org status {quoted_name(org.name)} {org.status}`)"
        )
    why = (
        f"{org.name} is at the offer stage (since {since})"
        if org.status == OrgStatus.OFFER
        else f"{org.name} was {org.status} on {since}, after this interview"
    )
    return (
        f"{why}: no thank-you or follow-up is planned for this interview "
        f"(to plan them: `pursuit org status {quoted_name(org.name)} active`)"
    )


def position_of(org: Organization) -> str | None:
    """The position an interview is for when nobody said: the one the user applied for
    at the organization, if there is one alone (with several, a draft names none rather
    than the wrong one). Both the calendar and `interview add` ask this."""
    return org.positions[0] if len(org.positions) == 1 else None


def quoted_name(name: str) -> str:
    return f'"{name}"' if any(c.isspace() for c in name) else name
