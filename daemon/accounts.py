"""Accounts: which outside system serves which role, decided in one place.

Each provider kind is one small class built from its own settings section
(`[google]`, `[imap]`, `[smtp]`, `[calendar]` with kind caldav or ics, `[microsoft]`,
and the outbox folder that needs none). A class says which roles it can fill and builds
its connectors on demand, so a command that only reads the store never imports
a provider's libraries. `choose(settings)` holds every precedence rule, and
`job_table(settings, roles)` the jobs of a round, with provider-neutral names,
for the service loop and `pursuit doctor` alike.

Connectors never read the configuration: this module is the core's edge that does.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pursuit.daemon.errors import AuthError, ConfigError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pursuit.config.settings import (
        CalendarSettings,
        GoogleSettings,
        ImapSettings,
        MicrosoftSettings,
        Settings,
        SmtpSettings,
    )
    from pursuit.connectors.base import Calendar, CalendarReader, MailAccount, Sender
    from pursuit.daemon.models import GrantRefusal
    from pursuit.daemon.store import Store


class Role(StrEnum):
    """What an account can do for pursuit (the contracts of `connectors/base.py`)."""

    MAIL = "mail"  # Mailbox: the correspondence log reads it
    DRAFTS = "drafts"  # DraftBox: thank-you drafts are left there
    CALENDAR_READER = "calendar reader"  # CalendarReader: interviews are found there
    CALENDAR = "calendar"  # Calendar: follow-up events are written there
    SENDER = "sender"  # Sender: the weekly summary goes through it


@dataclass(frozen=True)
class Surroundings:
    """What an account needs from the install besides its own section."""

    #: The install's id, mixed into the ids of what pursuit leaves outside.
    install_id: Callable[[], str]
    #: The user's time zone, as an IANA name.
    timezone: str
    #: The folder beside the database (where the outbox folder lives).
    data_dir: Path


class Account:
    """One configured provider. Each subclass is built from its own settings section
    (`from_settings`) and claims the roles it fills, each with a rank: where several
    accounts can serve a role, the highest rank serves it (see `choose`)."""

    #: Every provider kind, in the order they were defined (a subclass registers itself).
    kinds: ClassVar[list[type[Account]]] = []
    #: The account's name: in the store's per-account records, the log and `doctor`.
    name: ClassVar[str]
    #: The roles it fills, each with its rank (higher wins).
    claims: ClassVar[dict[Role, int]] = {}
    #: True when a refused sign-in pauses this account's jobs until the user signs
    #: in again (an OAuth grant); a refused password is simply retried next round.
    guarded: ClassVar[bool] = False
    #: How far back a first sync reads (mail, calendars).
    lookback: timedelta = timedelta(days=180)
    #: Where the config names the calendars it reads, for the messages that point there.
    calendars_key: ClassVar[str] = "[calendar] calendars"

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        Account.kinds.append(cls)

    def __init__(self, around: Surroundings) -> None:
        self.around = around

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        """The account its settings section configures, or None without one."""
        raise NotImplementedError

    @property
    def fills(self) -> dict[Role, int]:
        """The roles this account fills with this config, with their ranks."""
        return dict(self.claims)

    def mailbox(self) -> MailAccount:
        raise NotImplementedError(f"{self.name} keeps no mail")

    def calendar(self) -> Calendar:
        raise NotImplementedError(f"{self.name} holds no calendar pursuit writes")

    def calendar_reader(self) -> CalendarReader:
        raise NotImplementedError(f"{self.name} holds no calendar pursuit reads")

    def calendar_ids(self) -> list[str]:
        """The user's calendars interviews are read from."""
        return []

    def sender(self, to: str, *, find_sent: Callable[[str, str], str | None] | None) -> Sender:
        raise NotImplementedError(f"{self.name} sends nothing")

    def summary_address(self, configured: str | None, store: Store) -> str:
        """The user's own address, where the summary goes through this account."""
        return configured or store.account_address(self.name) or f"{getpass.getuser()}@localhost"

    def waits_for_mail(self) -> bool:
        """True when the mailbox can say at once that new mail came (IMAP IDLE)."""
        return False

    def wait_for_mail(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for new mail (see `waits_for_mail`)."""
        return False

    def finds_in_inbox(self) -> Callable[[str, str], str | None] | None:
        """How to find, by its key and Message-ID, a message sent to the user that came
        back to this mailbox (a summary sent by SMTP), if it can be looked for there."""
        return None

    def pauses_on(self, refusal: AuthError) -> bool:
        """True when this refusal is the sign-in's own, one that signing in again mends
        (a guarded account's jobs then pause); a server that refuses a token the sign-in
        still gives (Outlook's IMAP turned off for the mailbox) is retried as any failure."""
        return True

    def token_file(self) -> Path | None:
        """Where the account's sign-in is kept (an OAuth token), if it has one."""
        return None

    def token_identity(self) -> tuple[int, int] | None:
        """The sign-in's token file as (inode, mtime): a new one ends a pause."""
        token = self.token_file()
        if token is None:
            return None
        try:
            stat = token.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def probe(self) -> str:
        """Ask the account who the user is (one cheap call): their address."""
        raise NotImplementedError(f"{self.name} has nothing to ask")

    def forget_connections(self) -> None:
        """Drop what was built, so the next use builds it again (after a new sign-in)."""
        for name in [n for n, v in type(self).__dict__.items() if isinstance(v, cached_property)]:
            self.__dict__.pop(name, None)

    def close(self) -> None:
        """Close open connections."""


# --- the providers


class GoogleAccount(Account):
    """Gmail and Google Calendar, through one OAuth sign-in (`pursuit auth google`)."""

    name = "google"
    calendars_key = "[google] calendars"
    # Gmail sends the summary only as the mailbox it is (see `choose`): below the outbox.
    claims: ClassVar[dict[Role, int]] = {
        Role.MAIL: 1,
        Role.DRAFTS: 1,
        Role.CALENDAR_READER: 1,
        Role.SENDER: -1,
    }
    guarded = True

    def __init__(
        self, around: Surroundings, section: GoogleSettings, *, writes_calendar: bool
    ) -> None:
        super().__init__(around)
        self.section = section
        self.lookback = section.lookback
        self.writes_calendar = writes_calendar

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        if settings.google is None:
            return None
        return cls(around, settings.google, writes_calendar=settings.calendar.kind == "google")

    @property
    def fills(self) -> dict[Role, int]:
        return self.claims | ({Role.CALENDAR: 1} if self.writes_calendar else {})

    @cached_property
    def _credentials(self) -> Any:
        from pursuit.connectors.google_auth import load_credentials

        return load_credentials(self.section.credentials_file, token_uri=self.section.token_uri)

    @property
    def _timeout(self) -> float:
        return self.section.timeout.total_seconds()

    @property
    def _backoff(self) -> float:
        return self.section.retry_wait.total_seconds()

    @property
    def _calendar_endpoint(self) -> str | None:
        """Calendar's API lives under calendar/v3/ of the configured root."""
        root = self.section.api_endpoint
        return None if root is None else root + "calendar/v3/"

    @cached_property
    def _gmail(self) -> Any:
        from pursuit.connectors.gmail import GmailMailbox

        return GmailMailbox(
            self._credentials,
            self.section.credentials_file,
            api_endpoint=self.section.api_endpoint,
            timeout=self._timeout,
            backoff=self._backoff,
        )

    def mailbox(self) -> MailAccount:
        box: MailAccount = self._gmail
        return box

    @cached_property
    def _calendar(self) -> Calendar:
        from pursuit.connectors.google_calendar import GoogleCalendar

        return GoogleCalendar(
            self._credentials,
            self.section.credentials_file,
            api_endpoint=self._calendar_endpoint,
            calendar_name=self.section.calendar_name,
            calendar_id=self.section.calendar_id,
            time_zone=self.around.timezone,
            install_id=self.around.install_id(),
            timeout=self._timeout,
            backoff=self._backoff,
        )

    def calendar(self) -> Calendar:
        return self._calendar

    @cached_property
    def _reader(self) -> CalendarReader:
        from pursuit.connectors.google_calendar import GoogleCalendarReader

        return GoogleCalendarReader(
            self._credentials,
            self.section.credentials_file,
            api_endpoint=self._calendar_endpoint,
            timeout=self._timeout,
            backoff=self._backoff,
        )

    def calendar_reader(self) -> CalendarReader:
        return self._reader

    def calendar_ids(self) -> list[str]:
        return list(self.section.calendars)

    def sender(self, to: str, *, find_sent: Callable[[str, str], str | None] | None) -> Sender:
        sender: Sender = self._gmail
        return sender

    def summary_address(self, configured: str | None, store: Store) -> str:
        me = store.account_address(self.name) or self._gmail.profile()[0]
        if configured and configured != me:
            raise ConfigError(
                f"summary.to: {configured} is not the Google account's address ({me}); "
                "the summary goes to you alone: remove `to` or set it to that address"
            )
        return str(me)

    def token_file(self) -> Path:
        return self.section.credentials_file

    def probe(self) -> str:
        return str(self._gmail.profile()[0])


class ImapAccount(Account):
    """Any IMAP mailbox: the correspondence log, and its Drafts folder."""

    name = "imap"
    # a configured [imap] is the mailbox the user chose, over Google's
    claims: ClassVar[dict[Role, int]] = {Role.MAIL: 2, Role.DRAFTS: 2}

    def __init__(self, around: Surroundings, section: ImapSettings) -> None:
        super().__init__(around)
        self.section = section
        self.lookback = section.lookback

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        return None if settings.imap is None else cls(around, settings.imap)

    @cached_property
    def _mailbox(self) -> Any:
        from pursuit.connectors.imap import ImapMailbox
        from pursuit.connectors.secrets import command_secret

        imap = self.section
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

    def mailbox(self) -> MailAccount:
        box: MailAccount = self._mailbox
        return box

    def find_sent(self, key: str, message_id: str) -> str | None:
        """A message sent to the user comes back to their INBOX: found there."""
        found: str | None = self._mailbox.find_sent(key, message_id)
        return found

    def finds_in_inbox(self) -> Callable[[str, str], str | None] | None:
        return self.find_sent

    def waits_for_mail(self) -> bool:
        return True

    def wait_for_mail(self, timeout: float) -> bool:
        waited: bool = self._mailbox.wait_for_mail(timeout)
        return waited

    def close(self) -> None:
        if "_mailbox" in self.__dict__:
            self._mailbox.close()


class SmtpAccount(Account):
    """An SMTP server: sends the weekly summary to the user."""

    name = "smtp"
    claims: ClassVar[dict[Role, int]] = {Role.SENDER: 2}

    def __init__(self, around: Surroundings, section: SmtpSettings) -> None:
        super().__init__(around)
        self.section = section

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        return None if settings.smtp is None else cls(around, settings.smtp)

    def sender(self, to: str, *, find_sent: Callable[[str, str], str | None] | None) -> Sender:
        from pursuit.connectors.secrets import command_secret
        from pursuit.connectors.smtp import SmtpSender

        smtp = self.section
        command = smtp.password_command
        return SmtpSender(
            smtp.host,
            smtp.port,
            security=smtp.security,  # type: ignore[arg-type]  # validated at load
            username=smtp.username,
            password=None if command is None else command_secret(command, "smtp.password_command"),
            address=to,
            timeout=30.0,
            find_message=find_sent,
        )

    def summary_address(self, configured: str | None, store: Store) -> str:
        if configured:
            return configured
        username = self.section.username or ""
        if "@" in username:
            return username.lower()
        raise ConfigError(
            "summary.to: set it to your own address to send the summary through [smtp]"
        )


class CaldavAccount(Account):
    """Any CalDAV server: the user's calendars read, and pursuit's own written."""

    name = "caldav"
    # `[calendar] kind = "caldav"` is where the user keeps their calendars, over Google's
    claims: ClassVar[dict[Role, int]] = {Role.CALENDAR: 1, Role.CALENDAR_READER: 2}

    def __init__(self, around: Surroundings, section: CalendarSettings) -> None:
        super().__init__(around)
        self.section = section
        self.lookback = section.lookback

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        return cls(around, settings.calendar) if settings.calendar.kind == "caldav" else None

    def _account(self) -> dict[str, Any]:
        from pursuit.connectors.secrets import command_secret

        section = self.section
        assert section.url and section.username and section.password_command
        return {
            "url": section.url,
            "username": section.username,
            "password": command_secret(section.password_command, "calendar.password_command"),
        }

    @cached_property
    def _calendar(self) -> Calendar:
        from pursuit.connectors.caldav import CaldavCalendar

        return CaldavCalendar(
            **self._account(),
            existing=self.section.calendar,
            install_id=self.around.install_id(),
        )

    def calendar(self) -> Calendar:
        return self._calendar

    @cached_property
    def _reader(self) -> Any:
        from pursuit.connectors.caldav import CaldavCalendarReader

        return CaldavCalendarReader(**self._account())

    def calendar_reader(self) -> CalendarReader:
        reader: CalendarReader = self._reader
        return reader

    def calendar_ids(self) -> list[str]:
        section = self.section
        exclude = [section.calendar] if section.calendar else []
        found: list[str] = self._reader.calendar_ids(section.calendars, exclude=exclude)
        return found


class IcsAccount(Account):
    """The local iCalendar file any calendar application can subscribe to."""

    name = "ics"
    claims: ClassVar[dict[Role, int]] = {Role.CALENDAR: 1}

    def __init__(self, around: Surroundings, section: CalendarSettings) -> None:
        super().__init__(around)
        self.path = section.ics_file

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        return cls(around, settings.calendar) if settings.calendar.kind == "ics" else None

    @cached_property
    def _calendar(self) -> Calendar:
        from pursuit.connectors.ics import IcsCalendar

        return IcsCalendar(self.path, install_id=self.around.install_id())

    def calendar(self) -> Calendar:
        return self._calendar


class OutboxFolder(Account):
    """The folder of .eml files the summary is written to when nothing sends it."""

    name = "outbox"
    claims: ClassVar[dict[Role, int]] = {Role.SENDER: 0}  # always there, the last resort

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        return cls(around)

    @property
    def folder(self) -> Path:
        return self.around.data_dir / "outbox"

    def sender(self, to: str, *, find_sent: Callable[[str, str], str | None] | None) -> Sender:
        from pursuit.connectors.eml import EmlFolder

        return EmlFolder(self.folder, to)


class MicrosoftAccount(Account):
    """Outlook.com or Microsoft 365, through one sign-in (`pursuit auth microsoft`):
    the calendars by Microsoft Graph, and with `mail` the mailbox and its Drafts by IMAP
    at Outlook's server with XOAUTH2 and the summary by Graph's sendMail (SMTP AUTH is
    off in many Microsoft 365 tenants), on the same sign-in."""

    name = "microsoft"
    calendars_key = "[microsoft] calendars"
    # As Google's: a configured [imap] or [smtp] is what the user chose, over these.
    claims: ClassVar[dict[Role, int]] = {
        Role.MAIL: 1,
        Role.DRAFTS: 1,
        Role.CALENDAR_READER: 1,
        Role.SENDER: 1,
    }
    guarded = True

    def __init__(
        self, around: Surroundings, section: MicrosoftSettings, *, writes_calendar: bool
    ) -> None:
        super().__init__(around)
        self.section = section
        self.lookback = section.lookback
        self.writes_calendar = writes_calendar

    @classmethod
    def from_settings(cls, settings: Settings, around: Surroundings) -> Account | None:
        if settings.microsoft is None:
            return None
        writes = settings.calendar.kind == "microsoft"
        return cls(around, settings.microsoft, writes_calendar=writes)

    @property
    def fills(self) -> dict[Role, int]:
        mail = (Role.MAIL, Role.DRAFTS, Role.SENDER)
        fills = {r: rank for r, rank in self.claims.items() if self.section.mail or r not in mail}
        return fills | ({Role.CALENDAR: 1} if self.writes_calendar else {})

    def pauses_on(self, refusal: AuthError) -> bool:
        # Microsoft's own refusals (the sign-in, Graph) say "microsoft"; Outlook's IMAP
        # refusing a token Microsoft just gave is the mailbox's setting, not the sign-in's.
        return refusal.source == "microsoft"

    @property
    def _timeout(self) -> float:
        return self.section.timeout.total_seconds()

    @cached_property
    def _signin(self) -> Any:
        from pursuit.connectors.microsoft_auth import MicrosoftSignIn

        section = self.section
        return MicrosoftSignIn(
            section.client_id,
            section.tenant,
            section.token_cache,
            login_endpoint=section.login_endpoint,
            timeout=self._timeout,
        )

    def _username(self) -> str:
        """Who signed in, from the token cache (no call): the mail's login."""
        username: str | None = self._signin.username()
        if not username:
            from pursuit.connectors.microsoft_auth import SIGN_IN, SOURCE

            raise AuthError(SOURCE, f"not signed in ({self.section.token_cache}): {SIGN_IN}")
        return username.lower()

    @cached_property
    def _graph(self) -> Any:
        from pursuit.connectors.graph import GraphClient

        return GraphClient(
            self._signin.graph_token,
            endpoint=self.section.graph_endpoint,
            # throttling is counted per mailbox: every client of one shares its 4 calls
            mailbox=self._signin.username() or self.section.client_id,
            timeout=self._timeout,
        )

    @cached_property
    def _reader(self) -> Any:
        from pursuit.connectors.outlook_calendar import OutlookCalendarReader

        return OutlookCalendarReader(self._graph)

    def calendar_reader(self) -> CalendarReader:
        reader: CalendarReader = self._reader
        return reader

    def calendar_ids(self) -> list[str]:
        section = self.section
        own = (section.calendar_id, section.calendar_name) if self.writes_calendar else ()
        found: list[str] = self._reader.calendar_ids(
            section.calendars, exclude=[name for name in own if name]
        )
        return found

    @cached_property
    def _calendar(self) -> Calendar:
        from pursuit.connectors.outlook_calendar import OutlookCalendar

        calendar: Calendar = OutlookCalendar(
            self._graph,
            calendar_name=self.section.calendar_name,
            calendar_id=self.section.calendar_id,
            time_zone=self.around.timezone,
            install_id=self.around.install_id(),
        )
        return calendar

    def calendar(self) -> Calendar:
        return self._calendar

    @cached_property
    def _mailbox(self) -> Any:
        from pursuit.connectors.imap import ImapMailbox

        section = self.section
        return ImapMailbox(
            section.imap_host,
            section.imap_port,
            security=section.imap_security,  # type: ignore[arg-type]  # validated at load
            username=self._username(),
            password=self._signin.mail_token,
            auth="oauth2",
            timeout=self._timeout,
        )

    def mailbox(self) -> MailAccount:
        if not self.section.mail:
            return super().mailbox()
        box: MailAccount = self._mailbox
        return box

    def find_sent(self, key: str, message_id: str) -> str | None:
        """The summary sent to the user comes back to their INBOX: found there."""
        found: str | None = self._mailbox.find_sent(key, message_id)
        return found

    def finds_in_inbox(self) -> Callable[[str, str], str | None] | None:
        return self.find_sent if self.section.mail else None

    def waits_for_mail(self) -> bool:
        return self.section.mail

    def wait_for_mail(self, timeout: float) -> bool:
        waited: bool = self._mailbox.wait_for_mail(timeout)
        return waited

    def sender(self, to: str, *, find_sent: Callable[[str, str], str | None] | None) -> Sender:
        from pursuit.connectors.graph import GraphClient
        from pursuit.connectors.outlook_mail import GraphSender

        username = self._username()
        client = GraphClient(
            self._signin.send_token,  # a Graph token that carries Mail.Send
            endpoint=self.section.graph_endpoint,
            mailbox=username,  # the same 4 requests in flight as the calendars' client
            timeout=self._timeout,
        )
        return GraphSender(client, address=to, mailbox=username, find_message=find_sent)

    def summary_address(self, configured: str | None, store: Store) -> str:
        return configured or store.account_address(self.name) or self._username()

    def token_file(self) -> Path:
        return self.section.token_cache

    def probe(self) -> str:
        me = self._graph.get("me")
        return str(me.get("mail") or me["userPrincipalName"])

    def close(self) -> None:
        if "_mailbox" in self.__dict__:
            self._mailbox.close()


# --- which account serves which role


@dataclass(frozen=True)
class Roles:
    """The account serving each role; None where no account can."""

    calendar: Account
    sender: Account
    mail: Account | None = None
    drafts: Account | None = None
    calendar_reader: Account | None = None
    #: Every account the config declares (and the outbox folder).
    accounts: tuple[Account, ...] = ()

    def summary_sender(self, to: str) -> Sender:
        """The summary's sender; a summary that comes back to the user's own IMAP INBOX
        is looked for there after a crash."""
        find_sent = None if self.mail is None else self.mail.finds_in_inbox()
        return self.sender.sender(to, find_sent=find_sent)

    @property
    def guarded(self) -> tuple[Account, ...]:
        """The accounts whose refused sign-in pauses their jobs."""
        return tuple(a for a in self.accounts if a.guarded)

    def close(self) -> None:
        for account in self.accounts:
            account.close()


def choose(settings: Settings, around: Surroundings) -> Roles:
    """Which configured account serves which role.

    Each role goes to the account claiming it with the highest rank (`Account.claims`):
    a configured `[imap]` over Google for mail, CalDAV over Google for the calendars
    read, `[smtp]` over the outbox folder for the summary; pursuit's calendar is the one
    `[calendar] kind` names. Two rules tie roles together: drafts go to the mailbox
    when it keeps drafts, and the summary goes out through the mailbox when it can
    send (Gmail), else through the best sender.
    """
    accounts = [a for kind in Account.kinds if (a := kind.from_settings(settings, around))]

    def best(role: Role) -> Account | None:
        able = [a for a in accounts if role in a.fills]
        return max(able, key=lambda a: a.fills[role], default=None)

    mail = best(Role.MAIL)
    drafts = mail if mail is not None and Role.DRAFTS in mail.fills else best(Role.DRAFTS)
    sender = mail if mail is not None and Role.SENDER in mail.fills else best(Role.SENDER)
    calendar = best(Role.CALENDAR)
    if calendar is None or sender is None:  # the .ics file and the outbox need nothing
        raise ConfigError(f"[calendar] kind {settings.calendar.kind!r}: no account serves it")
    return Roles(
        calendar=calendar,
        sender=sender,
        mail=mail,
        drafts=drafts,
        calendar_reader=best(Role.CALENDAR_READER),
        accounts=tuple(accounts),
    )


# --- a refused sign-in pauses its account's jobs


def guarded(
    store: Store, account: Account, run: Callable[[datetime], object]
) -> Callable[[datetime], object]:
    """`run`, for a job of an account whose refused sign-in pauses all its jobs: the
    refusal is kept in the store, so `status`, `doctor`, the summary and a restarted
    service see it, and nobody asks again with the refused token."""

    def run_guarded(now: datetime) -> object:
        try:
            result = run(now)
        except AuthError as exc:
            if not account.pauses_on(exc):
                raise
            store.record_grant_refused(
                account.name, str(exc), now=now, token=account.token_identity()
            )
            log.warning(
                "%s sync paused until you sign in again (pursuit auth %s); "
                "everything else keeps running",
                account.name.capitalize(),
                account.name,
            )
            raise
        if store.grant_refused(account.name) is not None:
            store.clear_grant_refused(account.name)
        return result

    return run_guarded


def paused(store: Store, account: Account) -> GrantRefusal | None:
    """The refusal pausing a guarded account while its refused token is still the one
    on disk. Once the user signs in again the account reconnects, and the refusal is
    shown (the summary, `doctor`) until a job of the account succeeds."""
    if not account.guarded:
        return None
    refused = store.grant_refused(account.name)
    if refused is None:
        return None
    if refused.token == account.token_identity():
        return refused
    if refused.token is not None:
        log.info("a new %s sign-in was found; its sync resumes", account.name)
        store.forget_refused_token(account.name)
        account.forget_connections()  # built again from the new token
    return None


# --- the jobs of a round


class JobName(StrEnum):
    MAIL = "mail"
    INTERVIEWS = "interviews"
    FEEDS = "feeds"
    PLAN = "plan"
    CALENDAR = "calendar"
    DRAFTS = "drafts"
    SUMMARY = "summary"


@dataclass(frozen=True)
class JobEntry:
    """One job of the table: its name, how often it runs, the account it talks to."""

    name: JobName
    every: timedelta
    account: Account | None = None
    #: Run right after a job that stored something (planning and pushing).
    follows_changes: bool = False
    #: A job of the same account whose refused login or unreachable server this round
    #: holds this one back until the next (the drafts wait for the mail's server).
    waits_for: JobName | None = None


def job_table(settings: Settings, roles: Roles) -> tuple[JobEntry, ...]:
    """The jobs of one round, in the order their results feed each other: sources
    first, then planning, then the side effects. The service loop and `doctor` read it."""
    service = settings.service
    table: list[JobEntry] = []
    if roles.mail is not None:
        table.append(JobEntry(JobName.MAIL, service.mail_every, roles.mail))
    if roles.calendar_reader is not None:
        table.append(JobEntry(JobName.INTERVIEWS, service.calendar_every, roles.calendar_reader))
    table += [
        JobEntry(JobName.FEEDS, settings.feeds.poll_every),
        JobEntry(JobName.PLAN, service.plan_every, follows_changes=True),
        JobEntry(JobName.CALENDAR, service.plan_every, roles.calendar, follows_changes=True),
    ]
    if roles.drafts is not None:
        waits = JobName.MAIL if roles.drafts is roles.mail else None
        table.append(
            JobEntry(
                JobName.DRAFTS,
                service.plan_every,
                roles.drafts,
                follows_changes=True,
                waits_for=waits,
            )
        )
    if settings.summary.enabled:
        table.append(JobEntry(JobName.SUMMARY, service.plan_every, roles.sender))
    return tuple(table)
