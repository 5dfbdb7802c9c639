"""The records pursuit keeps, as plain immutable objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

ORG_STATUSES = ("active", "offer", "rejected", "withdrawn", "closed")
DUTY_KINDS = ("thank_you", "follow_up", "check_in")
DUTY_STATES = ("pending", "done", "overdue", "cancelled")
CHANNELS = ("email", "call", "note")


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    status: str
    status_changed: datetime
    domains: tuple[str, ...]
    positions: tuple[str, ...] = ()
    flag: str | None = None


@dataclass(frozen=True)
class Contact:
    id: int
    name: str
    addresses: tuple[str, ...]
    organization_id: int | None
    role: str | None = None

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else ""

    @property
    def display(self) -> str:
        return self.name or self.address


@dataclass(frozen=True)
class Interviewer:
    contact: Contact
    note: str | None = None
    promised: date | None = None


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


@dataclass(frozen=True)
class Duty:
    id: int
    key: str
    kind: str
    organization_id: int
    contact_id: int | None
    interview_id: int | None
    due: datetime
    state: str  # stored state: pending, done or cancelled
    done_at: datetime | None = None
    evidence: str | None = None
    snoozed: bool = False

    def state_at(self, now: datetime) -> str:
        """The state the user sees: a pending duty past due is overdue."""
        if self.state == "pending" and self.due < now:
            return "overdue"
        return self.state


@dataclass(frozen=True)
class Correspondence:
    id: int
    message_id: str
    direction: str
    date: datetime
    organization_id: int | None
    channel: str
    subject: str
    snippet: str
    contact_ids: tuple[int, ...] = ()
    people: tuple[str, ...] = ()
    thread: str | None = None


def calendar_key(key: str, generation: int) -> str:
    """The key a planned event has on the calendar: each comeback is a new event there."""
    return key if generation == 0 else f"{key}#{generation}"
