"""Wiring at the edge: settings in, store and connectors out.

This is the only place that reads configuration and picks connectors; the
engine (planner, jobs) receives what it needs. Connectors are imported only
when used, so a command that only reads the store never loads Google's libraries.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pursuit.daemon.store import Store

if TYPE_CHECKING:
    from pursuit.config.settings import GoogleSettings, Settings
    from pursuit.connectors.base import Calendar, CalendarReader, MailAccount, Sender
    from pursuit.connectors.caldav import CaldavCalendar, CaldavCalendarReader
    from pursuit.connectors.imap import ImapMailbox
    from pursuit.daemon.jobs import Job


log = logging.getLogger(__name__)

#: The store's record of a Google grant refused (a cursor row, JSON {since, error, token}).
GOOGLE_PAUSED = "google:paused"


class App:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self._google_paused = False
        #: The token file (inode, mtime) as it was when Google refused it.
        self._refused_token: tuple[int, int] | None = None
        self._config_synced = False
        #: Set when the service is asked to stop: long jobs end at their next batch.
        self.stopping = threading.Event()
        #: Called by long jobs between batches: the service's watchdog sees progress.
        self.heartbeat: Callable[[], None] = lambda: None
        self._pause_loaded = False

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

    @property
    def calendar_name(self) -> str:
        return self.settings.calendar.kind

    @property
    def google(self) -> GoogleSettings:
        assert self.settings.google is not None
        return self.settings.google

    @cached_property
    def google_credentials(self) -> Any:
        from pursuit.connectors.google_auth import load_credentials

        return load_credentials(self.google.credentials_file, token_uri=self.google.token_uri)

    @property
    def calendar_endpoint(self) -> str | None:
        """Calendar's API lives under calendar/v3/ of the configured root."""
        root = self.google.api_endpoint
        return None if root is None else root + "calendar/v3/"

    @cached_property
    def calendar(self) -> Calendar:
        if self.settings.calendar.kind == "google":
            from pursuit.connectors.google_calendar import GoogleCalendar

            return GoogleCalendar(
                self.google_credentials,
                self.google.credentials_file,
                api_endpoint=self.calendar_endpoint,
                calendar_name=self.google.calendar_name,
                calendar_id=self.google.calendar_id,
                time_zone=self.settings.timezone.key,
                install_id=self.store.install_id(),
                timeout=self.google.timeout.total_seconds(),
                backoff=self.google.retry_wait.total_seconds(),
            )
        if self.settings.calendar.kind == "caldav":
            return self.caldav_calendar
        from pursuit.connectors.ics import IcsCalendar

        return IcsCalendar(self.settings.calendar.ics_file, install_id=self.store.install_id())

    @cached_property
    def mailbox(self) -> MailAccount:
        if self.settings.imap is not None:
            return self.imap_mailbox
        from pursuit.connectors.gmail import GmailMailbox

        return GmailMailbox(
            self.google_credentials,
            self.google.credentials_file,
            api_endpoint=self.google.api_endpoint,
            timeout=self.google.timeout.total_seconds(),
            backoff=self.google.retry_wait.total_seconds(),
        )

    @cached_property
    def calendar_reader(self) -> CalendarReader:
        if self.settings.calendar.kind == "caldav":
            return self.caldav_reader
        from pursuit.connectors.google_calendar import GoogleCalendarReader

        return GoogleCalendarReader(
            self.google_credentials,
            self.google.credentials_file,
            api_endpoint=self.calendar_endpoint,
            timeout=self.google.timeout.total_seconds(),
            backoff=self.google.retry_wait.total_seconds(),
        )

    def jobs(self) -> list[Job]:
        """The jobs of one round, in the order their results feed each other."""
        from pursuit.daemon import feeds, interviews, mail
        from pursuit.daemon.jobs import Job, plan, push_events

        self.sync_config()
        settings = self.settings
        service = settings.service
        jobs: list[Job] = []
        if settings.google is not None:
            google = settings.google

            jobs += [
                self._google_job(
                    "gmail",
                    lambda now: mail.sync_mail(
                        self.store,
                        self.mailbox,
                        now,
                        lookback=google.lookback,
                        progress=TerminalProgress("gmail: logging past mail"),
                        should_stop=self.should_stop,
                    ),
                    every=service.mail_every,
                ),
                self._google_job(
                    "interviews",
                    lambda now: interviews.sync_interviews(
                        self.store,
                        self.calendar_reader,
                        google.calendars,
                        now,
                        lookback=google.lookback,
                        patterns=google.interview_patterns,
                    ),
                    every=service.calendar_every,
                ),
            ]
        jobs += [
            Job(
                "feeds",
                lambda now: feeds.poll_feeds(self.store, settings, now, cancel=self.stopping),
                every=settings.feeds.poll_every,
                next_due=self._next_feed_poll,
            ),
            Job(
                "plan",
                lambda now: plan(self.store, settings, self.calendar_name, now),
                every=service.plan_every,
                follows_changes=True,
            ),
        ]
        push = Job(
            "calendar",
            lambda now: push_events(self.store, self.calendar, now),
            every=service.plan_every,
            follows_changes=True,
        )
        jobs.append(
            self._google_job(push.name, push.run, every=push.every, follows_changes=True)
            if settings.calendar.kind == "google"
            else push
        )
        if settings.google is not None:
            jobs.append(
                self._google_job(
                    "drafts", self.make_drafts, every=service.plan_every, follows_changes=True
                )
            )
        if settings.summary.enabled:
            # It sends only once the week's hour has come, once a week: a cheap look
            # each hour, and the service wakes for the hour itself.
            summary_job = Job(
                "summary",
                self.send_summary,
                every=service.plan_every,
                next_due=self._next_summary,
            )
            jobs.append(
                self._google_job(
                    summary_job.name,
                    summary_job.run,
                    every=summary_job.every,
                    next_due=summary_job.next_due,
                )
                if self._summary_through_gmail
                else summary_job
            )
        return self._anymail_jobs(jobs)

    def _next_summary(self, ran: datetime) -> datetime | None:
        """The hour this week's summary is due, or next week's once it has passed."""
        from pursuit.daemon.summary import Week

        week = Week.of(ran, self.settings.timezone)
        due = week.due(self.settings.summary)
        if due <= ran:
            due = Week.of(week.end, self.settings.timezone).due(self.settings.summary)
        return due

    #: A feed never makes the feeds job run more often than this.
    MIN_FEED_WAIT = timedelta(minutes=1)

    def _next_feed_poll(self, ran: datetime) -> datetime | None:
        """The earliest next poll of an active feed: the feeds job sleeps until then."""
        polls = [f.next_poll for f in self.store.feeds(active=True) if f.next_poll is not None]
        if not polls:
            return None
        return max(min(polls), ran + self.MIN_FEED_WAIT)

    def _google_job(
        self,
        name: str,
        run: Callable[[datetime], object],
        *,
        every: timedelta | None = None,
        follows_changes: bool = False,
        next_due: Callable[[datetime], datetime | None] | None = None,
    ) -> Job:
        """A job that talks to Google: a revoked or expired grant pauses them all."""
        from pursuit.daemon.errors import AuthError
        from pursuit.daemon.jobs import Job

        def guarded(now: datetime) -> object:
            try:
                result = run(now)
            except AuthError as exc:
                # kept in the store, so the weekly summary's Health section shows it
                self.store.record_grant_refused("google", str(exc), now=now)
                self._pause_google(now, str(exc))
                log.warning(
                    "Google sync paused until you sign in again (pursuit auth google); "
                    "everything else keeps running"
                )
                raise
            if self.store.grant_refused("google") is not None:
                self.store.clear_grant_refused("google", now=now)
            return result

        return Job(
            name,
            guarded,
            ready=lambda: not self.google_paused(),
            every=every,
            follows_changes=follows_changes,
            next_due=next_due,
        )

    def _pause_google(self, now: datetime, error: str) -> None:
        """Remember the refusal, in the store too: `pursuit status` and a restarted
        service see it, and nobody asks Google again with the refused token."""
        self._google_paused = True
        self._refused_token = self._token_file_identity()
        record = {"since": now.isoformat(), "error": error, "token": self._refused_token}
        self.store.save_cursor(GOOGLE_PAUSED, json.dumps(record), now=now)

    def google_pause(self) -> dict[str, Any] | None:
        """The stored pause ({since, error}) while the refused token is still the one
        on disk; None when Google is not paused or the user signed in since."""
        if self.settings.google is None:
            return None
        text = self.store.cursor(GOOGLE_PAUSED)
        if not text:
            return None
        record: dict[str, Any] = json.loads(text)
        token = record.get("token")
        if (tuple(token) if token else None) != self._token_file_identity():
            return None
        return record

    def _token_file_identity(self) -> tuple[int, int] | None:
        try:
            stat = self.google.credentials_file.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def google_paused(self) -> bool:
        """True after a failed sign-in, until the token file is written anew."""
        if not self._pause_loaded:
            self._pause_loaded = True
            stored = self.store.cursor(GOOGLE_PAUSED)
            if stored:  # paused before a restart: the same token is refused still
                token = json.loads(stored).get("token")
                self._google_paused = True
                self._refused_token = tuple(token) if token else None
        if not self._google_paused:
            return False
        if self._token_file_identity() == self._refused_token:
            return True
        log.info("a new Google sign-in was found; Google sync resumes")
        self._google_paused = False
        self.store.save_cursor(GOOGLE_PAUSED, None, now=self.now())
        for name in ("google_credentials", "mailbox", "calendar_reader", "calendar"):
            self.__dict__.pop(name, None)  # built again from the new token
        return False

    def make_drafts(self, now: datetime) -> int:
        from pursuit.daemon import drafts

        me = self.store.cursor(f"{self.mailbox.name}:address") or ""
        template = drafts.load_template(self.settings.drafts.template)
        drafts.queue_drafts(
            self.store,
            template,
            now,
            from_address=me,
            your_name=self.settings.drafts.your_name,
        )
        return drafts.push_drafts(self.store, self.mailbox, now)

    # --- the weekly summary

    def summary_address(self) -> str:
        """The user's own address, where the summary goes (never anyone else's)."""
        configured = self.settings.summary.to
        if self.settings.google is not None:
            from pursuit.daemon.errors import ConfigError

            me = self.store.cursor("gmail:address") or self.mailbox.profile()[0]
            if configured and configured != me:
                raise ConfigError(
                    f"summary.to: {configured} is not the Google account's address ({me}); "
                    "the summary goes to you alone: remove `to` or set it to that address"
                )
            return me
        if configured:
            return configured
        if self.settings.smtp is not None:
            username = self.settings.smtp.username or ""
            if "@" in username:
                return username.lower()
            from pursuit.daemon.errors import ConfigError

            raise ConfigError(
                "summary.to: set it to your own address to send the summary through [smtp]"
            )
        import getpass

        return f"{getpass.getuser()}@localhost"

    def summary_sender(self, to: str) -> Sender:
        """Gmail when mail comes from Google, else SMTP when configured, else .eml files."""
        if self._summary_through_gmail:
            from pursuit.connectors.gmail import GmailMailbox

            box = self.mailbox
            assert isinstance(box, GmailMailbox)
            return box
        smtp = self.settings.smtp
        if smtp is not None:
            from pursuit.connectors.secrets import command_secret
            from pursuit.connectors.smtp import SmtpSender

            command = smtp.password_command
            return SmtpSender(
                smtp.host,
                smtp.port,
                security=smtp.security,  # type: ignore[arg-type]  # validated at load
                username=smtp.username,
                password=None
                if command is None
                else command_secret(command, "smtp.password_command"),
                address=to,
                timeout=30.0,
                # The summary comes back to the user's own INBOX: found there after a crash.
                find_message=self.imap_mailbox.find_sent if self.settings.imap else None,
            )
        from pursuit.connectors.eml import EmlFolder

        return EmlFolder(self.summary_folder, to)

    @property
    def _summary_through_gmail(self) -> bool:
        return self.settings.google is not None and self.settings.imap is None

    @property
    def summary_folder(self) -> Path:
        """Where summaries go with no account: the outbox folder beside the database."""
        return self.settings.database.parent / "outbox"

    def send_summary(self, now: datetime, *, force: bool = False) -> int:
        """Queue this week's summary once due (or now, with `force`) and send what is
        queued; returns how many were sent. Once per ISO week, whatever is asked."""
        from pursuit.daemon import summary

        store = self.sync_config()
        week = summary.Week.of(now, self.settings.timezone)
        waiting = store.pending_outbox(summary.TARGET)
        if not waiting and summary.sent_at(store, week) is not None:
            return 0
        if not waiting and not force and now < week.due(self.settings.summary):
            return 0
        to = self.summary_address()
        summary.queue_summary(store, self.settings, now, to=to, force=force)
        return summary.push_summaries(store, self.summary_sender(to), now)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
        if "imap_mailbox" in self.__dict__:
            self.imap_mailbox.close()

    # --- any mailbox and any calendar: IMAP instead of Gmail, CalDAV for the calendar

    @cached_property
    def imap_mailbox(self) -> ImapMailbox:
        from pursuit.connectors.imap import ImapMailbox
        from pursuit.connectors.secrets import command_secret

        imap = self.settings.imap
        assert imap is not None
        return ImapMailbox(
            imap.host,
            imap.port,
            security=imap.security,  # type: ignore[arg-type]  # validated at load
            username=imap.username,
            password=command_secret(imap.password_command, "imap.password_command"),
            auth=imap.auth,  # type: ignore[arg-type]
            address=imap.address,
            folders=imap.folders,
        )

    def _caldav_account(self) -> dict[str, Any]:
        from pursuit.connectors.secrets import command_secret

        calendar = self.settings.calendar
        assert calendar.url and calendar.username and calendar.password_command
        return {
            "url": calendar.url,
            "username": calendar.username,
            "password": command_secret(calendar.password_command, "calendar.password_command"),
        }

    @cached_property
    def caldav_calendar(self) -> CaldavCalendar:
        from pursuit.connectors.caldav import CaldavCalendar

        return CaldavCalendar(
            **self._caldav_account(),
            existing=self.settings.calendar.calendar,
            install_id=self.store.install_id(),
        )

    @cached_property
    def caldav_reader(self) -> CaldavCalendarReader:
        from pursuit.connectors.caldav import CaldavCalendarReader

        return CaldavCalendarReader(**self._caldav_account())

    def _anymail_jobs(self, jobs: list[Job]) -> list[Job]:
        """`jobs` with IMAP's mail job and drafts in place of Gmail's, and CalDAV's
        interviews job in place of Google Calendar's, when configured (a [google]
        section then serves only what remains)."""
        from pursuit.daemon import interviews, mail
        from pursuit.daemon.jobs import Job

        settings = self.settings
        service = settings.service
        first: list[Job] = []
        replaced: set[str] = set()
        imap = settings.imap
        # this round's login was refused, or the server is down: one message, not two
        refused: list[bool] = [False]
        if imap is not None:
            replaced |= {"gmail", "drafts"}

            def read_mail(now: datetime) -> int:
                from pursuit.daemon.errors import AuthError, Unreachable

                refused[0] = False
                try:
                    return mail.sync_mail(
                        self.store,
                        self.mailbox,
                        now,
                        lookback=imap.lookback,
                        progress=TerminalProgress("imap: logging past mail"),
                        should_stop=self.should_stop,
                    )
                except (AuthError, Unreachable):
                    refused[0] = True
                    raise

            first.append(Job("imap", read_mail, every=service.mail_every))
        if settings.calendar.kind == "caldav":
            replaced.add("interviews")
            calendar = settings.calendar
            patterns = (
                settings.google.interview_patterns
                if settings.google is not None
                else interviews.DEFAULT_PATTERNS
            )

            def read_interviews(now: datetime) -> int:
                exclude = [calendar.calendar] if calendar.calendar else []
                ids = self.caldav_reader.calendar_ids(calendar.calendars, exclude=exclude)
                return interviews.sync_interviews(
                    self.store,
                    self.calendar_reader,
                    ids,
                    now,
                    lookback=calendar.lookback,
                    patterns=patterns,
                )

            first.append(Job("interviews", read_interviews, every=service.calendar_every))
        drafts = Job(
            "drafts",
            self.make_drafts,
            ready=lambda: not refused[0],
            every=service.plan_every,
            follows_changes=True,
        )
        last = [drafts] if imap else []
        return first + [job for job in jobs if job.name not in replaced] + last

    @property
    def waits_for_mail(self) -> bool:
        """True when `wait_for_mail` can learn of new mail at once (IMAP IDLE)."""
        return self.settings.imap is not None

    def wait_for_mail(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for new mail; True as soon as some arrives
        (run the mail job now), False when the time is up.

        IMAP IDLE on INBOX (polling where the server has no IDLE). Without an IMAP
        mailbox it returns False at once. A server that cannot be reached is logged
        and the wait spent sleeping, so a caller's loop never spins.
        """
        if self.settings.imap is None:
            return False
        import time

        from pursuit.daemon.errors import PursuitError

        started = time.monotonic()
        try:
            return self.imap_mailbox.wait_for_mail(timeout)
        except PursuitError as exc:
            log.warning("waiting for mail: %s", exc)
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
            return False


class TerminalProgress:
    """A progress bar on stderr for a long first sync, drawn only on a terminal
    (never in the journal of the service)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or not sys.stderr.isatty():
            return
        if self._bar is None or done == 0:
            import click

            self._bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr, show_pos=True, show_percent=True
            )
            self._bar.render_progress()
        self._bar.update(done - self._bar.pos)
        if done >= total:
            self._bar.render_finish()
            self._bar = None
