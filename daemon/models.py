"""The records pursuit keeps, as plain immutable objects, and the words they use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class OrgStatus(StrEnum):
    """Where an application stands; all but `active` close it."""

    ACTIVE = "active"
    OFFER = "offer"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


class DutyKind(StrEnum):
    THANK_YOU = "thank_you"
    FOLLOW_UP = "follow_up"
    CHECK_IN = "check_in"


class DutyState(StrEnum):
    """A duty's state; `overdue` is only ever seen (a pending duty past due), never stored."""

    PENDING = "pending"
    DONE = "done"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


class Direction(StrEnum):
    IN = "in"  # they reached you
    OUT = "out"  # you reached them


class Channel(StrEnum):
    CALL = "call"
    EMAIL = "email"
    NOTE = "note"


# The words as plain strings, for the command line's choices.
ORG_STATUSES = tuple(s.value for s in OrgStatus)
CHANNELS = tuple(c.value for c in Channel)


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    status: OrgStatus
    status_changed: datetime
    domains: tuple[str, ...]
    positions: tuple[str, ...] = ()
    flag: str | None = None


@dataclass(frozen=True)
class Membership:
    """A person's tie to one organization: a recruiter can present you to several."""

    organization_id: int
    role: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class Contact:
    id: int
    name: str
    addresses: tuple[str, ...]
    organization_id: int | None  # the first organization they belonged to
    role: str | None = None
    memberships: tuple[Membership, ...] = ()

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else ""

    @property
    def display(self) -> str:
        return self.name or self.address

    @property
    def organization_ids(self) -> tuple[int, ...]:
        if self.memberships:
            return tuple(m.organization_id for m in self.memberships)
        return () if self.organization_id is None else (self.organization_id,)

    def role_at(self, organization_id: int) -> str | None:
        for membership in self.memberships:
            if membership.organization_id == organization_id:
                return membership.role
        return self.role if organization_id == self.organization_id else None


@dataclass(frozen=True)
class Interviewer:
    contact: Contact
    #: The user's private notes on this person at this interview, oldest first: for
    #: the user's own views (talking points, history), never for a message to anyone.
    notes: tuple[str, ...] = ()
    promised: date | None = None
    #: The line the user gave for their thank-you (`note --thank-you`), the latest one.
    thank_you: str | None = None

    @property
    def note(self) -> str | None:
        """Every private note in one phrase, for the user's export."""
        return " and ".join(self.notes) or None


class NoteKind(StrEnum):
    NOTE = "note"  # what the user wrote down: private
    PROMISE = "promise"  # a day promised to follow up
    STATUS = "status"  # where the organization stood from then on
    THANK_YOU = "thank_you"  # a line the user gave for a thank-you, placed in it as written


@dataclass(frozen=True)
class Note:
    """One entry of the log the user keeps: a note, a promise or a status change."""

    id: int
    kind: NoteKind
    text: str
    created: datetime
    organization_id: int | None
    contact_id: int | None
    interview_id: int | None


@dataclass(frozen=True)
class Interview:
    id: int
    organization_id: int
    position: str | None
    start: datetime
    end: datetime
    interviewers: tuple[Interviewer, ...]
    source: str = "cli"
    cancelled: bool = False
    #: Where it takes place as the invitation or the user gave it (a room, an address).
    location: str | None = None
    #: The link to join it online (http or https only), from the invitation.
    meeting_link: str | None = None
    #: The invitation's own time zone (IANA name) when it differs from the user's: the
    #: interviewer's, usually.
    zone: str | None = None


@dataclass(frozen=True)
class Duty:
    id: int
    key: str
    kind: DutyKind
    organization_id: int
    contact_id: int | None
    interview_id: int | None
    due: datetime
    state: DutyState  # as stored: pending, done or cancelled
    done_at: datetime | None = None
    evidence: str | None = None
    snoozed: bool = False

    def state_at(self, now: datetime) -> DutyState:
        """The state the user sees: a pending duty past due is overdue."""
        if self.state == DutyState.PENDING and self.due < now:
            return DutyState.OVERDUE
        return self.state


@dataclass(frozen=True)
class Correspondence:
    id: int
    message_id: str
    direction: Direction
    date: datetime
    organization_id: int | None
    channel: Channel
    subject: str
    snippet: str
    contact_ids: tuple[int, ...] = ()
    people: tuple[str, ...] = ()
    thread: str | None = None


@dataclass(frozen=True)
class WantedFeed:
    """A feed as the config asks for it, resolved to the URL and format to poll."""

    organization_id: int
    configured_url: str
    url: str
    kind: str
    format: str
    error: str | None = None  # the configured URL cannot be fetched: listed, never polled


@dataclass(frozen=True)
class Feed:
    """A company feed as polled: where it is now, its cursor, how it last went."""

    id: int
    organization_id: int
    organization: str
    configured_url: str
    url: str
    kind: str
    format: str
    etag: str | None = None
    last_modified: str | None = None
    active: bool = True
    failures: int = 0
    last_error: str | None = None
    last_ok: datetime | None = None
    next_poll: datetime | None = None


@dataclass(frozen=True)
class FeedItem:
    """What a feed said once: press, news or an opening (closed when it left its board)."""

    id: int
    organization_id: int
    organization: str
    feed_url: str | None  # the configured URL, kept after the feed left the config
    key: str
    kind: str
    title: str
    link: str | None
    summary: str
    location: str | None
    department: str | None
    published: datetime | None
    first_seen: datetime
    closed: datetime | None = None


@dataclass(frozen=True)
class ManagedEvent:
    """What pursuit last asked a calendar to hold for one planned event."""

    calendar: str
    key: str
    duty_ids: tuple[int, ...]
    start: datetime
    end: datetime
    summary: str
    description: str
    reminder_minutes: int
    sequence: int
    stamp: datetime
    live: bool = True
    generation: int = 0

    @property
    def duty_id(self) -> int | None:
        return self.duty_ids[0] if self.duty_ids else None


@dataclass(frozen=True)
class OutboxEntry:
    """One side effect to perform, keyed by what it is for (see daemon/outbox.py)."""

    id: int
    key: str
    action: str
    target: str
    payload: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None
    done: datetime | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class DraftRecord:
    """What pursuit queued and wrote for one thank-you's draft in the mailbox."""

    duty_id: int
    version: int  # the latest queued: 0 for the first draft, then one more per update
    queued: bytes  # that version, as queued
    written: bytes | None  # what pursuit last wrote to the mailbox; None before the first
    left_alone: str | None  # "edited" or "deleted": found so there, never touched again
    changed: datetime


@dataclass(frozen=True)
class OtherInstall:
    """Another pursuit install seen leaving things in an account this one uses."""

    account: str  # the account's name ("google", "imap")
    install_id: str  # "" for an install from before install ids: its id unknown
    seen_in: str  # what showed it, as `doctor` says it ("calendar and drafts")
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class JobRun:
    job: str
    last_run: datetime | None
    last_ok: datetime | None
    last_error: str | None
    #: What a retry can do about the error (`PursuitError.mended_by`): "retry", or
    #: "config" and "password" when only the user can mend it.
    last_error_kind: str | None = None


@dataclass(frozen=True)
class GrantRefusal:
    """An account's sign-in refused (revoked, expired), until it works again."""

    since: datetime
    error: str
    #: The token file (inode, mtime) that was refused: a new one means the user signed in.
    token: tuple[int, int] | None = None


@dataclass(frozen=True)
class WatchedSet:
    """The people and domains whose mail an account was last searched for."""

    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class FirstSync:
    """A first mail sync under way: the user's address and the cursor taken before it."""

    address: str
    cursor: str


def calendar_key(key: str, generation: int) -> str:
    """The key a planned event has on the calendar: each comeback is a new event there."""
    return key if generation == 0 else f"{key}#{generation}"
