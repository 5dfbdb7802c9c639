"""The jobs the service runs, each a plain function of the store, a connector and the clock.

`run_once` runs every job, isolating each one's failure: one failing job is
named and the others still run.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pursuit.config.settings import Settings
from pursuit.connectors.base import Calendar, CalendarEvent
from pursuit.daemon import outbox
from pursuit.daemon.errors import CalendarGone, DiskFull, PursuitError, Stopped
from pursuit.daemon.feeds import since_lines
from pursuit.daemon.mail import fulfil_from_log
from pursuit.daemon.models import DutyState, OutboxEntry, calendar_key
from pursuit.daemon.planner import EventContext, PlannedEvent, plan_duties, plan_events
from pursuit.daemon.store import Store, from_db, to_db

log = logging.getLogger(__name__)


def sync_config_organizations(store: Store, settings: Settings, now: datetime) -> None:
    """Organizations declared in the config exist in the store, with their domains."""
    with store.transaction():
        for org in settings.organizations:
            store.add_organization(org.name, org.domains, org.positions, now=now, from_config=True)


def plan(store: Store, settings: Settings, calendar_name: str, now: datetime) -> int:
    """Bring duties and the wanted calendar events up to date; returns events queued."""
    tz = settings.timezone
    with store.transaction():
        organizations = store.organizations()
        interviews = store.interviews()
        contacts = store.contacts()
        wanted = plan_duties(organizations, interviews, contacts, settings.planner, tz)
        for duty in wanted:
            store.upsert_duty(
                duty.key,
                duty.kind,
                duty.organization_id,
                duty.contact_id,
                duty.interview_id,
                duty.due,
            )
        wanted_keys = {d.key for d in wanted}
        stale = [d.key for d in store.duties(state=DutyState.PENDING) if d.key not in wanted_keys]
        store.cancel_duties(stale)
        fulfil_from_log(store)
        ctx = EventContext(
            organizations={o.id: o for o in organizations},
            contacts={c.id: c for c in contacts},
            interviews={i.id: i for i in interviews},
            last_correspondence=lambda contact_id: next(
                iter(store.correspondence(contact_id=contact_id, limit=1)), None
            ),
            since_interview=lambda org_id, since: since_lines(store, settings, org_id, since),
            tz=tz,
        )
        events = plan_events(store.duties(), ctx, settings.planner)
        if settings.prep.event:  # each coming interview's prep sheet, the evening before
            from pursuit.daemon.prep import prep_events

            events += prep_events(store, settings, calendar_name, interviews, now)
        return queue_event_changes(store, calendar_name, events, now)


def queue_event_changes(
    store: Store, calendar: str, events: list[PlannedEvent], now: datetime
) -> int:
    """Record each wanted event and queue the calendar change it needs, once.

    The outbox key holds the event's sequence, so a change is queued exactly
    once however often planning runs, and a repeat after a crash is harmless.
    """
    known = store.managed_events(calendar)
    queued = 0
    for event in events:
        held = known.pop(event.key, None)
        content = (
            to_db(event.start),
            to_db(event.end),
            event.summary,
            event.description,
            event.reminder_minutes,
        )
        if (
            held is not None
            and held.live
            and content
            == (
                to_db(held.start),
                to_db(held.end),
                held.summary,
                held.description,
                held.reminder_minutes,
            )
        ):
            continue
        sequence = 0 if held is None else held.sequence + 1
        # An event pursuit removed comes back under a new id: Google never frees an id.
        generation = 0 if held is None else held.generation + (0 if held.live else 1)
        store.save_event(
            calendar,
            event.key,
            duty_ids=event.duty_ids,
            start=event.start,
            end=event.end,
            summary=event.summary,
            description=event.description,
            reminder_minutes=event.reminder_minutes,
            sequence=sequence,
            stamp=now,
            live=True,
            generation=generation,
        )
        wanted = CalendarEvent(
            key=calendar_key(event.key, generation),
            start=event.start,
            end=event.end,
            summary=event.summary,
            description=event.description,
            sequence=sequence,
            stamp=now,
            reminder_minutes=event.reminder_minutes,
        )
        queued += outbox.queue_event(store, calendar, event.key, wanted, now=now)
    for key, held in known.items():
        if not held.live:
            continue
        sequence = held.sequence + 1
        store.save_event(
            calendar,
            key,
            duty_ids=[],
            start=held.start,
            end=held.end,
            summary=held.summary,
            description=held.description,
            reminder_minutes=held.reminder_minutes,
            sequence=sequence,
            stamp=now,
            live=False,
            generation=held.generation,
        )
        queued += outbox.queue_event_removal(
            store, calendar, key, calendar_key(key, held.generation), sequence, now=now
        )
    return queued


def push_events(store: Store, calendar: Calendar, now: datetime) -> int:
    """Perform the queued calendar changes; each is recorded only after it is durable.

    A calendar the user deleted (or whose file was moved away) gets every live
    event back, in the same round: before it when the calendar says it was made
    again, or when a change finds it gone (`CalendarGone`).
    """
    calendar.attempts = StoreAttempts(store, calendar.name)
    if calendar.recreated():
        _put_every_event_back(store, calendar.name, f"{calendar.name}: the calendar was gone", now)
    elif moved := _moved(store, calendar, now):
        _put_every_event_back(store, calendar.name, moved, now)

    def perform(entry: OutboxEntry) -> None:
        if entry.action == outbox.UPSERT:
            calendar.upsert(outbox.decode_event(entry.payload))
        else:
            calendar.delete(entry.payload["key"])

    def deliver() -> int:
        # Only the newest change of each event needs performing; older ones are superseded.
        return outbox.deliver(
            store,
            calendar.name,
            perform,
            now,
            flush=calendar.flush,
            subject=lambda entry: str(entry.payload["key"]),
        )

    try:
        done = deliver()
    except CalendarGone as exc:
        done = deliver() if _put_every_event_back(store, exc.calendar, str(exc), now) else 0
    _note_other_installs(store, calendar, now)
    return done


def _moved(store: Store, calendar: Calendar, now: datetime) -> str | None:
    """Why every event goes to the calendar again when the config moved it (another
    `ics_file`): the events written to the old place are not in the new one."""
    where = calendar.location()
    cursor = f"calendar location:{calendar.name}"
    before = store.cursor(cursor)
    if not where or before == where:
        return None
    store.save_cursor(cursor, where, now=now)
    if before is None:
        return None
    return (
        f"{calendar.name}: the calendar moved from {before} to {where} (the config says so); "
        "pursuit's events are written there, and the old one is left as it is"
    )


def _note_other_installs(store: Store, calendar: Calendar, now: datetime) -> None:
    """Another install writing to the same calendar is recorded for `doctor` (its
    events are never touched); a failure to look is no failure of the round."""
    try:
        others = calendar.other_installs()
    except PursuitError as exc:
        log.debug("%s: could not look for other installs: %s", calendar.name, exc)
        return
    for install in sorted(others):
        store.record_other_install(calendar.name, install, "calendar events", now=now)


class StoreAttempts:
    """A calendar's creates in doubt (`connectors.base.Attempts`), kept in the store."""

    def __init__(self, store: Store, calendar: str) -> None:
        self.store = store
        self.calendar = calendar

    def _cursor(self, what: str) -> str:
        return f"create begun:{self.calendar}:{what}"

    def begun(self, what: str) -> datetime | None:
        found = self.store.cursor(self._cursor(what))
        return None if found is None else from_db(found)

    def begin(self, what: str) -> datetime:
        now = datetime.now(UTC)
        self.store.save_cursor(self._cursor(what), to_db(now), now=now)
        return now

    def landed(self, what: str) -> None:
        if self.store.cursor(self._cursor(what)) is not None:
            self.store.save_cursor(self._cursor(what), None, now=datetime.now(UTC))


def _put_every_event_back(store: Store, calendar: str, why: str, now: datetime) -> int:
    queued = outbox.queue_rebuild(store, calendar, now=now)
    (log.warning if queued else log.debug)("%s; %d events queued again", why, queued)
    return queued


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[datetime], object]
    #: False to skip the job this time, silently and without a record (a paused source).
    ready: Callable[[], bool] = lambda: True
    #: How often the service runs it; None for the jobs that follow changes.
    every: timedelta | None = None
    #: When the job knows better than `every` when it is next due (feeds: the
    #: earliest next poll of a feed), given the moment it last ran.
    next_due: Callable[[datetime], datetime | None] | None = None
    #: Planning and pushing: run right after a job that stored something.
    follows_changes: bool = False


@dataclass(frozen=True)
class Outcome:
    """What one run of a job did: its result, or the error it failed with."""

    job: str
    result: object = None
    error: str | None = None
    #: The job stopped because the disk is full: every job would, until there is room.
    disk_full: bool = False

    @property
    def stored_something(self) -> bool:
        """True when the job's result says it stored new data (a count, a report)."""
        result = self.result
        if isinstance(result, bool) or result is None:
            return bool(result)
        if isinstance(result, int):
            return result > 0
        return bool(getattr(result, "new_items", 0) or getattr(result, "closed", 0))


def run_job(store: Store, job: Job, now: datetime) -> Outcome | None:
    """Run a job once, recording its success or error; None when its source is paused.

    A failure is logged and recorded, never raised: one job never stops another, and
    a full disk stops the job, not its caller (the failure is recorded when there is
    room for it). `Stopped` is raised on: the job was asked to stop and recorded nothing.
    """
    if not job.ready():
        log.debug("job %s skipped: its source is paused", job.name)
        return None
    try:
        result = job.run(now)
    except Stopped:
        log.info("job %s stopped before it finished; it goes on at the next start", job.name)
        raise
    except PursuitError as exc:
        log.error("job %s failed: %s", job.name, exc)
        return _failed(store, job, now, str(exc), exc.mended_by, disk_full=is_disk_full(exc))
    except Exception as exc:  # a bug in one job must not stop the others
        if is_disk_full(exc):
            log.error("job %s failed: %s", job.name, exc)
            return _failed(store, job, now, str(exc), None, disk_full=True)
        log.exception("job %s crashed", job.name)
        return _failed(store, job, now, f"{type(exc).__name__}: {exc}", None)
    try:
        store.record_job_run(job.name, now=now, error=None)
    except DiskFull as exc:
        log.error("job %s: its success could not be recorded: %s", job.name, exc)
        return Outcome(job.name, error=str(exc), disk_full=True)
    return Outcome(job.name, result=result)


def is_disk_full(exc: BaseException | None) -> bool:
    """True when `exc`, or what caused it (a calendar file that could not be written),
    is a full disk."""
    while exc is not None:
        if isinstance(exc, DiskFull) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _failed(
    store: Store, job: Job, now: datetime, error: str, kind: str | None, *, disk_full: bool = False
) -> Outcome:
    try:
        store.record_job_run(job.name, now=now, error=error, error_kind=kind)
    except DiskFull:
        disk_full = True  # the failure is told in the log; the store has no room for it
    return Outcome(job.name, error=error, disk_full=disk_full)


def run_jobs(store: Store, jobs: list[Job], now: datetime) -> list[tuple[str, str]]:
    """Run each job once; a failure is logged, recorded and returned, the rest go on."""
    failures: list[tuple[str, str]] = []
    for job in jobs:
        outcome = run_job(store, job, now)
        if outcome is not None and outcome.error is not None:
            failures.append((job.name, outcome.error))
    return failures
