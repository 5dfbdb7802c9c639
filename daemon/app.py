"""Wiring at the edge: settings in, store and connectors out.

The accounts (`daemon/accounts.py`) say which outside system serves which role
and the jobs of a round; this wires them to the store and the clock. The engine
(planner, jobs) receives what it needs. Connectors are imported only when used,
so a command that only reads the store never loads Google's libraries.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pursuit.daemon.accounts import OutboxFolder
from pursuit.daemon.progress import TerminalProgress
from pursuit.daemon.store import Store

if TYPE_CHECKING:
    from pursuit.config.settings import Settings
    from pursuit.connectors.base import Calendar, Sender
    from pursuit.daemon.accounts import Account, JobEntry, Roles
    from pursuit.daemon.jobs import Job
    from pursuit.daemon.models import GrantRefusal


log = logging.getLogger(__name__)


class App:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self._config_synced = False
        #: Set when the service is asked to stop: long jobs end at their next batch.
        self.stopping = threading.Event()
        #: Called by long jobs between batches: the service's watchdog sees progress.
        self.heartbeat: Callable[[], None] = lambda: None
        #: The mail job's login was refused this round, or its server is down: a job
        #: waiting for it (the drafts, same account) waits for the next round rather
        #: than fail twice.
        self._mail_refused = False

    def should_stop(self) -> bool:
        """Asked by a long job between batches: True when the service is stopping."""
        self.heartbeat()
        return self.stopping.is_set()

    def now(self) -> datetime:
        if self._clock is not None:
            return self._clock()
        return datetime.now(self.settings.timezone)

    @cached_property
    def store(self) -> Store:
        """The state database, opened without writing: reading commands never wait
        for, nor block, the service (see `sync_config` for what changes it)."""
        timeout = os.environ.get("PURSUIT_BUSY_TIMEOUT", "")
        busy = float(timeout) if timeout.replace(".", "", 1).isdigit() else 30.0
        return Store.open(self.settings.database, busy_timeout=busy)

    def sync_config(self) -> Store:
        """Put the config's organizations in the store, once; the jobs and every
        command that changes data call it first. Returns the store."""
        if not self._config_synced:
            from pursuit.daemon.jobs import sync_config_organizations

            sync_config_organizations(self.store, self.settings, self.now())
            self.store.ensure_install_id(now=self.now())
            self._config_synced = True
        return self.store

    @cached_property
    def roles(self) -> Roles:
        """Which account serves which role (nothing is connected until used)."""
        from pursuit.daemon.accounts import Surroundings, choose

        around = Surroundings(
            install_id=lambda: self.store.install_id(),
            timezone=self.settings.timezone.key,
            data_dir=self.settings.database.parent,
        )
        return choose(self.settings, around)

    @property
    def calendar(self) -> Calendar:
        return self.roles.calendar.calendar()

    # --- the jobs

    def job_table(self) -> tuple[JobEntry, ...]:
        from pursuit.daemon.accounts import job_table

        return job_table(self.settings, self.roles)

    def jobs(self) -> list[Job]:
        """The jobs of one round, in the order their results feed each other."""
        from pursuit.daemon.jobs import Job

        self.sync_config()
        jobs = []
        for entry in self.job_table():
            run = self._runs[entry.name]
            account = entry.account
            if account is not None and account.guarded:
                run = self._guarded(account, run)
            jobs.append(
                Job(
                    entry.name,
                    run,
                    ready=self._ready(entry),
                    every=entry.every,
                    follows_changes=entry.follows_changes,
                    next_due=self._next_due.get(entry.name),
                )
            )
        return jobs

    @cached_property
    def _runs(self) -> dict[str, Callable[[datetime], object]]:
        from pursuit.daemon import feeds
        from pursuit.daemon.accounts import JobName
        from pursuit.daemon.jobs import plan, push_events

        settings = self.settings
        return {
            JobName.MAIL: self.sync_mail,
            JobName.INTERVIEWS: self.sync_interviews,
            JobName.FEEDS: lambda now: feeds.poll_feeds(
                self.store, settings, now, cancel=self.stopping
            ),
            JobName.PLAN: lambda now: plan(self.store, settings, self.roles.calendar.name, now),
            JobName.CALENDAR: lambda now: push_events(self.store, self.calendar, now),
            JobName.DRAFTS: self.make_drafts,
            JobName.SUMMARY: self.send_summary,
        }

    @property
    def _next_due(self) -> dict[str, Callable[[datetime], datetime | None]]:
        return {
            "feeds": self._next_feed_poll,
            "summary": self._next_summary,
            "drafts": self._next_drafts,
        }

    def _ready(self, entry: JobEntry) -> Callable[[], bool]:
        account = entry.account
        if entry.waits_for is not None:
            return lambda: not self._mail_refused and not self.paused(account)
        if account is not None and account.guarded:
            return lambda: not self.paused(account)
        return lambda: True

    def sync_mail(self, now: datetime) -> int:
        from pursuit.daemon import mail
        from pursuit.daemon.errors import AuthError, Unreachable

        account = self.roles.mail
        assert account is not None
        self._mail_refused = False
        try:
            return mail.sync_mail(
                self.store,
                account.mailbox(),
                now,
                account=account.name,
                lookback=account.lookback,
                progress=TerminalProgress(f"{account.name}: logging past mail"),
                should_stop=self.should_stop,
            )
        except (AuthError, Unreachable):
            self._mail_refused = True
            raise

    def sync_interviews(self, now: datetime) -> int:
        from pursuit.daemon import interviews

        account = self.roles.calendar_reader
        assert account is not None
        return interviews.sync_interviews(
            self.store,
            account.calendar_reader(),
            account.calendar_ids(),
            now,
            lookback=account.lookback,
            patterns=self.settings.interviews.patterns,
            timezone=self.settings.timezone,
        )

    def _next_summary(self, ran: datetime) -> datetime | None:
        """The hour this week's summary is due, or next week's once it has passed; sooner
        when a send in doubt may be looked for."""
        from pursuit.daemon import summary

        week = summary.Week.of(ran, self.settings.timezone)
        due = week.due(self.settings.summary)
        if due <= ran:
            due = week.following.due(self.settings.summary)
        for entry in self.store.pending_outbox(summary.TARGET):
            until = summary.in_doubt_until(self.store, entry.key)
            if until is not None:
                due = min(due, max(until, ran))
        return due

    def _next_drafts(self, ran: datetime) -> datetime | None:
        """Sooner than its interval when a draft create in doubt may be looked for."""
        from pursuit.daemon import drafts

        account = self.roles.drafts
        if account is None:
            return None
        return drafts.next_look(self.store, account.mailbox().in_doubt, ran)

    #: A feed never makes the feeds job run more often than this.
    MIN_FEED_WAIT = timedelta(minutes=1)

    def _next_feed_poll(self, ran: datetime) -> datetime | None:
        """The earliest next poll of an active feed: the feeds job sleeps until then."""
        polls = [f.next_poll for f in self.store.feeds(active=True) if f.next_poll is not None]
        if not polls:
            return None
        return max(min(polls), ran + self.MIN_FEED_WAIT)

    # --- a refused sign-in pauses its account's jobs

    def _guarded(
        self, account: Account, run: Callable[[datetime], object]
    ) -> Callable[[datetime], object]:
        from pursuit.daemon.accounts import guarded

        return guarded(self.store, account, run)

    def paused(self, account: Account | None) -> GrantRefusal | None:
        from pursuit.daemon.accounts import paused

        return None if account is None else paused(self.store, account)

    def pause(self) -> tuple[Account, GrantRefusal] | None:
        """The first paused account and its refusal, for `status` and `doctor`."""
        for account in self.roles.guarded:
            refused = self.paused(account)
            if refused is not None:
                return account, refused
        return None

    # --- the side effects

    def make_drafts(self, now: datetime) -> int:
        from pursuit.daemon import drafts

        account = self.roles.drafts
        assert account is not None
        template = drafts.load_template(self.settings.drafts.template)
        drafts.queue_drafts(
            self.store,
            template,
            now,
            from_address=self.your_address() or "",
            your_name=self.settings.drafts.your_name,
        )
        return drafts.push_drafts(self.store, account.mailbox(), now, account=account.name)

    def your_address(self) -> str | None:
        """The user's own address, the From of the drafts: `[drafts] address`, else the
        drafts' mailbox's, else `[summary] to`, else `[imap]`'s; None when none is known."""
        settings = self.settings
        if settings.drafts.address:
            return settings.drafts.address
        account = self.roles.drafts
        known = self.store.account_address(account.name) if account is not None else None
        if known:
            return known
        if settings.summary.to:
            return settings.summary.to
        imap = settings.imap
        if imap is not None and (imap.address or "@" in imap.username):
            return (imap.address or imap.username).lower()
        return None

    def summary_address(self) -> str:
        """The user's own address, where the summary goes (never anyone else's)."""
        return self.roles.sender.summary_address(self.settings.summary.to, self.store)

    @property
    def summary_folder(self) -> Path | None:
        """Where the summary is written when no account sends it; None when one does."""
        sender = self.roles.sender
        return sender.folder if isinstance(sender, OutboxFolder) else None

    def send_summary(self, now: datetime, *, force: bool = False) -> int:
        """Queue this week's summary once due (or now, with `force`), a missed week's
        late, and send what is queued; returns how many were sent. Once per ISO week,
        whatever is asked (see `daemon/summary.py`)."""
        from pursuit.daemon import summary

        store = self.sync_config()
        week = summary.Week.of(now, self.settings.timezone)
        if not summary.waiting(store, self.settings, now) and (
            not force or store.outbox_entry(week.key) is not None
        ):
            return 0
        to = self.summary_address()
        summary.queue_summaries(store, self.settings, now, to=to, force=force)
        return summary.push_summaries(store, self.summary_sender(to), now)

    def summary_sender(self, to: str) -> Sender:
        return self.roles.summary_sender(to)

    # --- waiting for mail

    @property
    def waits_for_mail(self) -> bool:
        """True when `wait_for_mail` can learn of new mail at once (IMAP IDLE); never
        for a paused account (its refused sign-in is not tried again at each wait)."""
        mail = self.roles.mail
        return mail is not None and mail.waits_for_mail() and self.paused(mail) is None

    def wait_for_mail(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for new mail; True as soon as some arrives
        (run the mail job now), False when the time is up.

        IMAP IDLE on INBOX (polling where the server has no IDLE). Without such a
        mailbox it returns False at once. A server that cannot be reached is logged
        and the wait spent sleeping, so a caller's loop never spins.
        """
        mail = self.roles.mail
        if mail is None or not self.waits_for_mail:
            return False
        import time

        from pursuit.daemon.errors import PursuitError

        started = time.monotonic()
        try:
            return mail.wait_for_mail(timeout)
        except PursuitError as exc:
            log.warning("waiting for mail: %s", exc)
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
            return False

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
        if "roles" in self.__dict__:
            self.roles.close()
