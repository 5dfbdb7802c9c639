"""The configuration: schema, defaults, loading and validation.

Everything is validated up front and every problem is reported at once, naming
the file, the key, the value and what was expected. The rest of pursuit receives
a frozen `Settings` and never reads the file itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from pursuit.daemon.errors import ConfigError

APP = "pursuit"
EXAMPLE_CONFIG = Path(__file__).with_name("example.toml")
CALENDAR_KINDS = ("ics", "google", "caldav", "microsoft")

T = TypeVar("T")


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def default_config_path() -> Path:
    return config_dir() / "config.toml"


@dataclass(frozen=True)
class FeedSettings:
    url: str
    kind: str
    format: str = "auto"


@dataclass(frozen=True)
class OrganizationSettings:
    name: str
    domains: tuple[str, ...] = ()
    feeds: tuple[FeedSettings, ...] = ()
    positions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    news_search: bool | None = None


@dataclass(frozen=True)
class FeedsSettings:
    timeout: timedelta = timedelta(seconds=20)
    max_size_mb: int = 5
    #: Connections open at once in all, and to one host.
    concurrency: int = 64
    per_host: int = 2
    poll_every: timedelta = timedelta(hours=1)
    news_search: bool = True
    keywords: tuple[str, ...] = ()
    #: The newest items a feed keeps in the store (and a fetch returns).
    max_items: int = 300

    @property
    def max_bytes(self) -> int:
        return self.max_size_mb * 1_000_000


@dataclass(frozen=True)
class GoogleSettings:
    credentials_file: Path = field(default_factory=lambda: data_dir() / "google-token.json")
    client_secrets_file: Path = field(
        default_factory=lambda: config_dir() / "google-client-secret.json"
    )
    api_endpoint: str | None = None
    token_uri: str | None = None
    calendars: tuple[str, ...] = ("primary",)
    calendar_name: str = "Job search (pursuit)"
    calendar_id: str | None = None
    lookback: timedelta = timedelta(days=180)
    timeout: timedelta = timedelta(seconds=60)  # each call's deadline
    retry_wait: timedelta = timedelta(seconds=1)  # the first wait before a retry, then doubled


#: The tenants every app registration knows: any account, personal ones (Outlook.com),
#: work or school ones (Microsoft 365). Else a tenant's id or one of its domains.
MICROSOFT_TENANTS = ("common", "consumers", "organizations")
MAIL_SECURITY = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class MicrosoftSettings:
    """Outlook.com or Microsoft 365 through one sign-in (`pursuit auth microsoft`): the
    calendars and the summary by Microsoft Graph, the mail by IMAP with XOAUTH2."""

    #: The app registration's Application (client) ID.
    client_id: str
    tenant: str = "common"
    #: msal's token cache, a file of its own (0600): the refresh token rotates in it.
    token_cache: Path = field(default_factory=lambda: data_dir() / "microsoft-token.json")
    #: Where interviews are read: "default" (the default calendar), names or ids.
    calendars: tuple[str, ...] = ("default",)
    calendar_name: str = "Job search (pursuit)"
    calendar_id: str | None = None
    #: Mail, drafts and the summary through outlook.office365.com with the same sign-in.
    mail: bool = True
    lookback: timedelta = timedelta(days=180)
    timeout: timedelta = timedelta(seconds=60)  # each call's deadline
    # A national cloud's hosts (and the tests' emulator); Microsoft's global ones by default.
    login_endpoint: str = "https://login.microsoftonline.com"
    graph_endpoint: str = "https://graph.microsoft.com/v1.0/"
    imap_host: str = "outlook.office365.com"
    imap_port: int | None = None  # 993 with ssl, 143 otherwise
    imap_security: str = "ssl"


@dataclass(frozen=True)
class InterviewSettings:
    """How an event on any of the user's calendars is recognised as an interview."""

    #: A title holding one of these and naming a tracked organization is an interview.
    patterns: tuple[str, ...] = (
        "interview",
        "phone screen",
        "onsite",
        "on-site",
        "technical screen",
    )


@dataclass(frozen=True)
class DraftSettings:
    your_name: str = ""
    template: Path | None = None
    #: Your own address, the drafts' From (default: your mailbox's).
    address: str | None = None


@dataclass(frozen=True)
class PlannerSettings:
    thank_you_time: time = time(17, 0)
    late_interview_after: time = time(16, 0)
    thank_you_next_morning: time = time(9, 0)
    follow_up_delay: timedelta = timedelta(days=7)
    follow_up_time: time = time(10, 0)
    check_in_delay: timedelta = timedelta(days=45)
    event_duration: timedelta = timedelta(minutes=30)
    reminder: timedelta = timedelta(minutes=15)
    #: Weekdays (0 is Monday) a follow-up or check-in may fall on; others move on.
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)


# --- [prep] and [web]: the interview prep sheet and the local dashboard


@dataclass(frozen=True)
class PrepSettings:
    """The prep sheet of each coming interview (`pursuit prep`), and its calendar event."""

    #: An event the evening before each interview, summarising its prep sheet.
    event: bool = True
    #: When that event is, the evening before the interview.
    event_time: time = time(19, 0)
    #: A Jinja2 text file of questions to ask (one a line), in place of the built-in one.
    questions_template: Path | None = None


@dataclass(frozen=True)
class WebSettings:
    """The local dashboard: `pursuit web`, or served by the service when `serve` is on."""

    serve: bool = False
    #: Loopback by default; any other address exposes the dashboard to that network.
    address: str = "127.0.0.1"
    port: int = 8765


# --- [summary] and [smtp]: the weekly summary email and how it is sent


@dataclass(frozen=True)
class SummarySettings:
    #: Where the summary goes: the user's own address (default: the connected account's).
    to: str | None = None
    day: int = 6  # 0 is Monday: Sunday
    at: time = time(18, 0)  # the config's `time`
    enabled: bool = True
    #: A folder whose summary.txt, summary.html (Jinja2) replace the built-in ones.
    templates: Path | None = None


SMTP_SECURITY = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int | None = None
    security: str = "ssl"
    username: str | None = None
    #: A command whose output is the password (as vdirsyncer and aerc do); never the password.
    password_command: str | None = None


@dataclass(frozen=True)
class ServiceSettings:
    """How often the service runs each job (feeds: `[feeds] poll_every`, per feed)."""

    #: new mail: one cheap history call when nothing changed
    mail_every: timedelta = timedelta(minutes=5)
    #: interviews on the user's calendars: one sync-token call when nothing changed
    calendar_every: timedelta = timedelta(minutes=5)
    #: planning and pushing run right after any change; this often besides, to retry
    plan_every: timedelta = timedelta(hours=1)
    #: a failing job is tried again after this, doubled at each failure up to its interval
    retry_after: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class CalendarSettings:
    kind: str = "ics"
    ics_file: Path = field(default_factory=lambda: data_dir() / "calendar.ics")
    # kind = "caldav": the server, the account, and where pursuit writes
    url: str | None = None
    username: str | None = None
    password_command: str | None = None
    #: An existing calendar to write to (by its name), for servers that refuse to create one.
    calendar: str | None = None
    #: The calendars interviews are read from, by name; empty: all but pursuit's own.
    calendars: tuple[str, ...] = ()
    lookback: timedelta = timedelta(days=180)


IMAP_SECURITY = ("ssl", "starttls", "none")
IMAP_AUTH = ("password", "oauth2")


@dataclass(frozen=True)
class ImapSettings:
    """Any IMAP mailbox as pursuit's mailbox and draft box, instead of Gmail."""

    host: str
    username: str
    password_command: str
    port: int | None = None  # 993 with ssl, 143 otherwise
    security: str = "ssl"
    auth: str = "password"
    #: The user's own address, when the username is not one.
    address: str | None = None
    folders: tuple[str, ...] = ()
    lookback: timedelta = timedelta(days=180)


@dataclass(frozen=True)
class Settings:
    timezone: ZoneInfo
    database: Path
    calendar: CalendarSettings
    planner: PlannerSettings
    run_every: timedelta
    organizations: tuple[OrganizationSettings, ...]
    feeds: FeedsSettings = field(default_factory=FeedsSettings)
    google: GoogleSettings | None = None
    drafts: DraftSettings = field(default_factory=DraftSettings)
    source: Path | None = None
    imap: ImapSettings | None = None
    summary: SummarySettings = field(default_factory=SummarySettings)
    smtp: SmtpSettings | None = None
    service: ServiceSettings = field(default_factory=ServiceSettings)
    interviews: InterviewSettings = field(default_factory=InterviewSettings)
    prep: PrepSettings = field(default_factory=PrepSettings)
    web: WebSettings = field(default_factory=WebSettings)
    microsoft: MicrosoftSettings | None = None


def system_timezone() -> ZoneInfo:
    """The machine's own time zone (by IANA name, so DST is right)."""
    import tzlocal

    try:
        return ZoneInfo(tzlocal.get_localzone_name() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- value parsers: each returns the value or raises ValueError("expected ...")

_UNIT = r"(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)"
_DURATION_PART = re.compile(rf"(\d+(?:\.\d{{1,6}})?)\s*{_UNIT}(?![a-z])", re.I)
_DURATION = re.compile(rf"^\s*(?:\d+(?:\.\d{{1,6}})?\s*{_UNIT}(?![a-z])\s*,?\s*)+$", re.I)
_UNIT_SECONDS = {"ms": 0.001, "mi": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# No delay or interval of pursuit is longer; beyond it dates overflow.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str, limit: timedelta = MAX_DURATION) -> timedelta:
    """'45d', '2w', '90m', '12h', '3 days', '5 min', '1 h 30 min', '1.5h' -> timedelta,
    at most `limit`: durations as people write them."""
    if not _DURATION.match(text):
        raise ValueError("expected a duration such as 30m, 12h, 7d or 2w")
    seconds = 0.0
    for amount, unit in _DURATION_PART.findall(text):
        # The length first: thousands of digits would overflow float, or take long.
        if len(amount.lstrip("0").partition(".")[0]) > 12:
            raise ValueError(f"expected a duration of at most {limit.days}d")
        name = unit.lower()
        seconds += (
            float(amount) * _UNIT_SECONDS[name[:2] if name.startswith(("ms", "milli")) else name[0]]
        )
        if seconds > limit.total_seconds():
            raise ValueError(f"expected a duration of at most {limit.days}d")
    return timedelta(seconds=round(seconds, 3))


def parse_clock(text: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ValueError("expected a time of day as HH:MM, such as 17:00")
    return time(int(match[1]), int(match[2]))


def parse_timezone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    # OSError: a name too long for a file name, or naming a directory of the database
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("expected an IANA time zone such as Europe/Paris") from None


def parse_positive_duration(text: str) -> timedelta:
    """A duration longer than zero (an interval, an event's length)."""
    value = parse_duration(text)
    if value <= timedelta(0):
        raise ValueError("expected a duration longer than zero, such as 15m")
    return value


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekdays(names: list[Any]) -> tuple[int, ...]:
    """["mon", "Tuesday", ...] -> (0, 1, ...): weekday numbers, sorted, at least one."""
    days: set[int] = set()
    for name in names:
        text = name.strip().lower() if isinstance(name, str) else ""
        found = [i for i, day in enumerate(WEEKDAYS) if len(text) >= 3 and day.startswith(text)]
        if not found:
            raise ValueError(f'{name!r} is not a day; expected days such as "mon" or "friday"')
        days.add(found[0])
    if not days:
        raise ValueError('expected at least one day, such as ["mon", "tue", "wed", "thu", "fri"]')
    return tuple(sorted(days))


def parse_domain(text: str) -> str:
    """'Acme.com', '@acme.com', 'acme.com.' -> 'acme.com'; anything else raises ValueError.

    An internationalised domain (bücher.de, or its xn-- form) is kept as typed.
    """
    from pursuit.daemon.addresses import ascii_domain

    domain = text.strip().lower().lstrip("@").removesuffix(".")
    ascii_domain(domain)  # raises ValueError for anything that is not a domain
    return domain


def _expand(text: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(text)))


def _absolute_path(beside: Path | None) -> Callable[[str], Path]:
    """A parser of paths that must not depend on the directory pursuit starts in.

    `beside` is the config file's directory, offered as the likely fix.
    """

    def _path(text: str) -> Path:
        path = _expand(text)
        if path.is_absolute():
            return path
        fix = f", such as {str((beside or Path.home()) / path)!r}" if text.strip() else ""
        raise ValueError(
            "a relative path would change with the directory pursuit is started from; "
            f"expected an absolute path or one starting with ~{fix}"
        )

    return _path


# What each parser expects, for a value of the wrong type (say `run_every = 15`).
_EXPECTED: dict[str, str] = {
    "parse_duration": 'a duration in quotes, such as "7d"',
    "parse_positive_duration": 'a duration in quotes, such as "15m"',
    "parse_clock": 'a time of day in quotes, such as "17:00"',
    "parse_timezone": 'a time zone name in quotes, such as "Europe/Paris"',
    "parse_weekdays": 'a list of days, such as ["mon", "tue", "wed", "thu", "fri"]',
    "_path": "a file path in quotes",
}

_LONG_QUOTED = re.compile(r"""((['"])[^'"]{120})[^'"]{120,}\2""")


class _Reader:
    """Walks the parsed TOML, collecting every problem instead of stopping at one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        # a 5000-character value is shown by its start: the message stays one readable line
        said = _LONG_QUOTED.sub(lambda m: f"{m.group(1)}...{m.group(1)[0]}", f"{where}: {message}")
        # a key or name with a line break or an escape must not split or colour the line
        said = "".join(c if c.isprintable() else repr(c)[1:-1] for c in said)
        self.problems.append(f"{self.source}: {said}")

    def table(self, parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.problem(where, f"expected a table [{key}], got {value!r}")
            return {}
        return value

    def known(self, table: dict[str, Any], keys: set[str], where: str) -> None:
        for key in sorted(set(table) - keys):
            close = difflib.get_close_matches(str(key).lower(), sorted(keys), n=1, cutoff=0.7)
            if close:
                self.problem(where or key, f"unknown key {key!r} (did you mean {close[0]!r}?)")
                continue
            expected = ", ".join(sorted(keys))
            self.problem(where or key, f"unknown key {key!r} (known keys: {expected})")

    def value(
        self,
        table: dict[str, Any],
        key: str,
        kind: type,
        parse: Callable[[Any], T],
        default: T,
        where: str,
    ) -> T:
        if key not in table:
            return default
        raw = table[key]
        name = f"{where}.{key}" if where else key
        if parse is parse_clock and isinstance(raw, time) and raw.tzinfo is None:
            raw = raw.strftime("%H:%M")  # a TOML local time, such as 17:00:00
        if not isinstance(raw, kind) or (isinstance(raw, bool) and kind is not bool):
            fallback = "a string" if kind is str else f"a {kind.__name__}"
            expected = _EXPECTED.get(getattr(parse, "__name__", ""), fallback)
            self.problem(name, f"expected {expected}, got {_toml(raw)}")
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            self.problem(name, f"{raw!r}: {exc}")
            return default

    def strings(self, table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        raw = table.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.problem(f"{where}.{key}", f"expected a list of strings, got {raw!r}")
            return ()
        return tuple(raw)


_TOP_KEYS = {
    "timezone",
    "database",
    "run_every",
    "calendar",
    "planner",
    "organization",
    "feeds",
    "google",
    "drafts",
    "imap",
    "summary",
    "smtp",
    "service",
    "interviews",
    "prep",
    "web",
    "microsoft",
}
_PLANNER_KEYS = {f.name for f in PlannerSettings.__dataclass_fields__.values()}
_ORG_KEYS = {"name", "domains", "feeds", "positions", "keywords", "news_search"}


def parse_settings(data: dict[str, Any], source: str = "<config>") -> Settings:
    r = _Reader(source)
    path = _absolute_path(None if source == "<config>" else Path(source).parent)
    r.known(data, _TOP_KEYS, "")
    tz = r.value(data, "timezone", str, parse_timezone, None, "")
    planner_table = r.table(data, "planner", "[planner]")
    r.known(planner_table, _PLANNER_KEYS, "[planner]")
    defaults = PlannerSettings()
    planner_values: dict[str, Any] = {}
    for name in _PLANNER_KEYS:
        default = getattr(defaults, name)
        if name == "working_days":
            planner_values[name] = r.value(
                planner_table, name, list, parse_weekdays, default, "planner"
            )
            continue
        parser: Callable[[str], Any]
        if isinstance(default, time):
            parser = parse_clock
        elif name == "event_duration":
            parser = parse_positive_duration
        else:
            parser = parse_duration
        planner_values[name] = r.value(planner_table, name, str, parser, default, "planner")
    calendar_table = r.table(data, "calendar", "[calendar]")
    r.known(calendar_table, {"kind", "ics_file", *CALDAV_KEYS}, "[calendar]")

    def calendar_kind(text: str) -> str:
        if text not in CALENDAR_KINDS:
            raise ValueError(f"expected one of {', '.join(CALENDAR_KINDS)}")
        return text

    calendar = CalendarSettings(
        kind=r.value(calendar_table, "kind", str, calendar_kind, "ics", "calendar"),
        ics_file=r.value(
            calendar_table, "ics_file", str, path, data_dir() / "calendar.ics", "calendar"
        ),
    )
    calendar = _caldav(r, calendar_table, calendar)
    settings = Settings(
        timezone=tz or system_timezone(),
        database=r.value(data, "database", str, path, data_dir() / "pursuit.sqlite3", ""),
        calendar=calendar,
        planner=PlannerSettings(**planner_values),
        run_every=r.value(
            data, "run_every", str, parse_positive_duration, timedelta(minutes=15), ""
        ),
        organizations=_organizations(r, data.get("organization", [])),
        feeds=_feeds_settings(r, r.table(data, "feeds", "[feeds]")),
        google=_google(r, data["google"], path) if "google" in data else None,
        drafts=_drafts(r, r.table(data, "drafts", "[drafts]"), path),
        source=None if source == "<config>" else Path(source),
        imap=_imap(r, data["imap"]) if "imap" in data else None,
        summary=_summary(r, r.table(data, "summary", "[summary]"), path),
        smtp=_smtp(r, data["smtp"]) if "smtp" in data else None,
        service=_service(r, r.table(data, "service", "[service]"), data),
        interviews=_interviews(r, data),
        prep=_prep(r, r.table(data, "prep", "[prep]"), path),
        web=_web(r, r.table(data, "web", "[web]")),
        microsoft=_microsoft(r, data["microsoft"], path) if "microsoft" in data else None,
    )
    if "kind" not in calendar_table and (settings.google or "microsoft" in data):
        # With Google or Microsoft connected, its calendar is the natural home for
        # follow-ups (Google's when both are).
        kind = "google" if settings.google is not None else "microsoft"
        settings = dataclasses.replace(settings, calendar=CalendarSettings(kind, calendar.ics_file))
    if settings.calendar.kind == "google" and settings.google is None:
        r.problem(
            "calendar.kind",
            "'google' needs a [google] section (connect with `pursuit auth google`)",
        )
    if settings.calendar.kind == "microsoft" and "microsoft" not in data:
        r.problem(
            "calendar.kind",
            "'microsoft' needs a [microsoft] section with your app's client_id "
            "(then sign in with `pursuit auth microsoft`)",
        )
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _toml(value: Any) -> str:
    """A value as the user wrote it in TOML, near enough."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, time):
        return value.isoformat()
    return repr(value)


def _organizations(r: _Reader, raw: Any) -> tuple[OrganizationSettings, ...]:
    if not isinstance(raw, list):
        r.problem("organization", "expected [[organization]] tables")
        return ()
    result: list[OrganizationSettings] = []
    seen: set[str] = set()
    domain_owner: dict[str, str] = {}  # a domain tells whose mail it is: one owner only
    for index, table in enumerate(raw, start=1):
        where = f"organization #{index}"
        if not isinstance(table, dict):
            r.problem(where, "expected a table")
            continue
        r.known(table, _ORG_KEYS, where)
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            r.problem(f"{where}.name", f"expected a non-empty string, got {name!r}")
            continue
        where = f"organization {name!r}"
        if name.casefold() in seen:
            r.problem(where, "declared twice")
        seen.add(name.casefold())
        domains: list[str] = []
        for text in r.strings(table, "domains", where):
            try:
                domain = parse_domain(text)
            except ValueError as exc:
                r.problem(f"{where}.domains", f"{text!r}: {exc}")
                continue
            owner = domain_owner.setdefault(domain, name)
            if owner.casefold() != name.casefold():
                r.problem(
                    f"{where}.domains",
                    f"{text!r}: {domain} is already a domain of {owner!r}; "
                    "mail from it can belong to one organization only",
                )
            elif domain not in domains:
                domains.append(domain)
        result.append(
            OrganizationSettings(
                name=name.strip(),
                domains=tuple(domains),
                feeds=_feeds(r, table.get("feeds", []), where),
                positions=r.strings(table, "positions", where),
                keywords=r.strings(table, "keywords", where),
                news_search=r.value(table, "news_search", bool, bool, None, where),
            )
        )
    return tuple(result)


def _feeds(r: _Reader, raw: Any, where: str) -> tuple[FeedSettings, ...]:
    if not isinstance(raw, list):
        r.problem(f"{where}.feeds", f"expected a list of {{ url = ..., kind = ... }}, got {raw!r}")
        return ()
    if not raw:
        return ()
    # Only now: the connector's URL rules come with its HTTP and parsing code.
    from pursuit.connectors.feeds import FEED_KINDS, FORMATS, resolve, validate_url

    feeds: list[FeedSettings] = []
    for index, feed in enumerate(raw, start=1):
        at = f"{where}.feeds[{index}]"
        if not isinstance(feed, dict):
            r.problem(at, f"expected {{ url = ..., kind = ... }}, got {feed!r}")
            continue
        r.known(feed, {"url", "kind", "format"}, at)
        url, kind, fmt = feed.get("url"), feed.get("kind"), feed.get("format", "auto")
        problems = len(r.problems)
        if not isinstance(url, str):
            r.problem(f"{at}.url", f"expected an http:// or https:// URL in quotes, got {url!r}")
        elif (url_problem := validate_url(url)) is not None:
            r.problem(f"{at}.url", f"{url!r}: {url_problem}")
        if kind not in FEED_KINDS:
            r.problem(f"{at}.kind", f"{kind!r}: expected one of {', '.join(FEED_KINDS)}")
        if fmt not in FORMATS:
            r.problem(f"{at}.format", f"{fmt!r}: expected one of {', '.join(FORMATS)}")
        if len(r.problems) > problems:
            continue
        url, kind, fmt = str(url), str(kind), str(fmt)
        _, found = resolve(url, "careers", "auto")  # what the address is, whatever its kind
        if found != "rss" and fmt not in ("auto", found):
            r.problem(
                f"{at}.format",
                f"{fmt!r}: {url!r} is a {found} job board; expected format {found!r} or 'auto'",
            )
            continue
        try:
            resolve(url, kind, fmt)
        except ConfigError as exc:  # a job board's openings given another kind
            r.problem(f"{at}.kind", str(exc))
            continue
        feeds.append(FeedSettings(url=url, kind=kind, format=fmt))
    return tuple(feeds)


def _positive_int(value: int) -> int:
    if value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def _feeds_settings(r: _Reader, table: dict[str, Any]) -> FeedsSettings:
    d = FeedsSettings()
    r.known(table, {f for f in FeedsSettings.__dataclass_fields__}, "[feeds]")
    return FeedsSettings(
        timeout=r.value(table, "timeout", str, parse_positive_duration, d.timeout, "feeds"),
        max_size_mb=r.value(table, "max_size_mb", int, _positive_int, d.max_size_mb, "feeds"),
        concurrency=r.value(table, "concurrency", int, _positive_int, d.concurrency, "feeds"),
        per_host=r.value(table, "per_host", int, _positive_int, d.per_host, "feeds"),
        poll_every=r.value(
            table, "poll_every", str, parse_positive_duration, d.poll_every, "feeds"
        ),
        news_search=r.value(table, "news_search", bool, bool, d.news_search, "feeds"),
        keywords=r.strings(table, "keywords", "feeds"),
        max_items=r.value(table, "max_items", int, _positive_int, d.max_items, "feeds"),
    )


def _google(r: _Reader, table: Any, path: Callable[[str], Path]) -> GoogleSettings | None:
    if not isinstance(table, dict):
        r.problem("[google]", f"expected a table, got {table!r}")
        return None
    d = GoogleSettings()
    # interview_patterns: read as [interviews] patterns (where it was before 0.3)
    r.known(table, {*GoogleSettings.__dataclass_fields__, "interview_patterns"}, "[google]")

    def url(text: str) -> str:
        if not re.match(r"^https?://[^/\s]+", text):
            raise ValueError("expected an http:// or https:// URL")
        return text if text.endswith("/") or "token" in text else text + "/"

    def text(value: str) -> str:
        if not value.strip():
            raise ValueError("expected a non-empty string")
        return value

    calendars = r.strings(table, "calendars", "google") if "calendars" in table else d.calendars
    return GoogleSettings(
        credentials_file=r.value(
            table, "credentials_file", str, path, d.credentials_file, "google"
        ),
        client_secrets_file=r.value(
            table, "client_secrets_file", str, path, d.client_secrets_file, "google"
        ),
        api_endpoint=r.value(table, "api_endpoint", str, url, None, "google"),
        token_uri=r.value(table, "token_uri", str, url, None, "google"),
        calendars=calendars,
        calendar_name=r.value(table, "calendar_name", str, text, d.calendar_name, "google"),
        calendar_id=r.value(table, "calendar_id", str, text, None, "google"),
        lookback=r.value(table, "lookback", str, parse_positive_duration, d.lookback, "google"),
        timeout=r.value(table, "timeout", str, parse_positive_duration, d.timeout, "google"),
        retry_wait=r.value(
            table, "retry_wait", str, parse_positive_duration, d.retry_wait, "google"
        ),
    )


_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.I)


def _microsoft(r: _Reader, table: Any, path: Callable[[str], Path]) -> MicrosoftSettings | None:
    """[microsoft]: Outlook.com or Microsoft 365, one sign-in for calendars and mail."""
    from pursuit.connectors.secrets import is_loopback

    if not isinstance(table, dict):
        r.problem("[microsoft]", f"expected a table, got {table!r}")
        return None
    r.known(table, {*MicrosoftSettings.__dataclass_fields__}, "[microsoft]")
    problems = len(r.problems)

    def client_id(text: str) -> str:
        if not _GUID.fullmatch(text.strip()):
            raise ValueError(
                "expected your app registration's Application (client) ID, a GUID such as "
                "'11111111-2222-3333-4444-555555555555' (Microsoft Entra admin center, "
                "App registrations)"
            )
        return text.strip().lower()

    def tenant(text: str) -> str:
        value = text.strip().lower()
        if value in MICROSOFT_TENANTS or _GUID.fullmatch(value) or _DOMAIN.fullmatch(value):
            return value
        raise ValueError(
            "expected 'consumers' (a personal account), 'organizations' (a work or school "
            "one), 'common' (either), or your tenant's id or domain"
        )

    def https(text: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(text.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("expected an https:// URL (Microsoft's sign-in needs https)")
        return text.strip()

    def host(text: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", text):
            raise ValueError("expected a host name or address, such as outlook.office365.com")
        return text

    def text(value: str) -> str:
        if not value.strip():
            raise ValueError("expected a non-empty string")
        return value

    if "client_id" not in table:
        r.problem(
            "microsoft.client_id",
            "missing: the Application (client) ID of the app registration you sign in "
            "through, such as client_id = '11111111-2222-3333-4444-555555555555'",
        )
    d = MicrosoftSettings("")
    calendars = r.strings(table, "calendars", "microsoft") if "calendars" in table else d.calendars
    if table.get("calendars") == []:
        r.problem("microsoft.calendars", 'expected at least one calendar, such as ["default"]')
    graph = r.value(table, "graph_endpoint", str, https, d.graph_endpoint, "microsoft")
    settings = MicrosoftSettings(
        client_id=r.value(table, "client_id", str, client_id, "", "microsoft"),
        tenant=r.value(table, "tenant", str, tenant, d.tenant, "microsoft"),
        token_cache=r.value(table, "token_cache", str, path, d.token_cache, "microsoft"),
        calendars=calendars,
        calendar_name=r.value(table, "calendar_name", str, text, d.calendar_name, "microsoft"),
        calendar_id=r.value(table, "calendar_id", str, text, None, "microsoft"),
        mail=r.value(table, "mail", bool, bool, d.mail, "microsoft"),
        lookback=r.value(table, "lookback", str, parse_positive_duration, d.lookback, "microsoft"),
        timeout=r.value(table, "timeout", str, parse_positive_duration, d.timeout, "microsoft"),
        login_endpoint=r.value(
            table, "login_endpoint", str, https, d.login_endpoint, "microsoft"
        ).rstrip("/"),
        graph_endpoint=graph if graph.endswith("/") else graph + "/",
        imap_host=r.value(table, "imap_host", str, host, d.imap_host, "microsoft"),
        imap_port=r.value(table, "imap_port", int, _port, None, "microsoft"),
        imap_security=r.value(
            table, "imap_security", str, _choice(*MAIL_SECURITY), d.imap_security, "microsoft"
        ),
    )
    if settings.imap_security == "none" and not is_loopback(settings.imap_host):
        r.problem(
            "microsoft.imap_security",
            f"'none' would send your sign-in's token in the clear to {settings.imap_host}; "
            "it is allowed only for a server on this machine (127.0.0.1, localhost): "
            "expected ssl or starttls",
        )
    return settings if len(r.problems) == problems else None


def _interviews(r: _Reader, data: dict[str, Any]) -> InterviewSettings:
    """[interviews]; `patterns` is also read from [google] interview_patterns, its
    place before every calendar provider shared it."""
    table = r.table(data, "interviews", "[interviews]")
    r.known(table, {"patterns"}, "[interviews]")
    google = data.get("google")
    old = isinstance(google, dict) and "interview_patterns" in google
    if "patterns" in table and old:
        r.problem(
            "google.interview_patterns",
            "set in [interviews] patterns too: keep that one and remove this",
        )
    if "patterns" in table:
        return InterviewSettings(r.strings(table, "patterns", "interviews"))
    if isinstance(google, dict) and "interview_patterns" in google:
        return InterviewSettings(r.strings(google, "interview_patterns", "google"))
    return InterviewSettings()


def _service(r: _Reader, table: dict[str, Any], data: dict[str, Any]) -> ServiceSettings:
    d = ServiceSettings()
    r.known(table, {f for f in ServiceSettings.__dataclass_fields__}, "[service]")
    # The older single `run_every` still sets the polling of mail and calendar.
    legacy: timedelta | None = None
    if isinstance(data.get("run_every"), str):
        try:  # a bad value is reported once, where run_every itself is read
            legacy = parse_positive_duration(data["run_every"])
        except ValueError:
            legacy = None

    def every(key: str, default: timedelta) -> timedelta:
        return r.value(table, key, str, parse_positive_duration, default, "service")

    return ServiceSettings(
        mail_every=every("mail_every", legacy or d.mail_every),
        calendar_every=every("calendar_every", legacy or d.calendar_every),
        plan_every=every("plan_every", d.plan_every),
        retry_after=every("retry_after", d.retry_after),
    )


def _drafts(r: _Reader, table: dict[str, Any], path: Callable[[str], Path]) -> DraftSettings:
    r.known(table, {"your_name", "template", "address"}, "[drafts]")
    return DraftSettings(
        your_name=r.value(table, "your_name", str, str.strip, "", "drafts"),
        template=r.value(table, "template", str, path, None, "drafts"),
        address=r.value(table, "address", str, _address, None, "drafts"),
    )


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def choose(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return choose


_IMAP_REQUIRED = ("host", "username", "password_command")


def _imap(r: _Reader, table: Any) -> ImapSettings | None:
    """[imap]: any IMAP server as the mailbox (read for the log, Drafts for the drafts)."""
    from pursuit.connectors.secrets import is_loopback

    if not isinstance(table, dict):
        r.problem("[imap]", f"expected a table, got {table!r}")
        return None
    r.known(table, {f for f in ImapSettings.__dataclass_fields__}, "[imap]")
    problems = len(r.problems)
    required = {}
    for key in _IMAP_REQUIRED:
        if key not in table:
            example = {"host": "imap.example.com", "username": "you@example.com"}.get(
                key, "pass show mail/imap"
            )
            r.problem(f"imap.{key}", f"missing; expected such as {key} = {example!r}")
        required[key] = r.value(table, key, str, _non_empty, "", "imap")
    d = ImapSettings("", "", "")
    security = r.value(table, "security", str, _choice(*IMAP_SECURITY), d.security, "imap")
    host = required["host"]
    if security == "none" and host and not is_loopback(host):
        r.problem(
            "imap.security",
            f"'none' would send the password in the clear to {host}; it is allowed only for "
            "a server on this machine (127.0.0.1, localhost): expected ssl or starttls",
        )
    address = r.value(table, "address", str, _non_empty, None, "imap")
    if address is not None and "@" not in address:
        r.problem("imap.address", f"{address!r}: expected an email address")
    settings = ImapSettings(
        host=host,
        username=required["username"],
        password_command=required["password_command"],
        port=r.value(table, "port", int, _port, None, "imap"),
        security=security,
        auth=r.value(table, "auth", str, _choice(*IMAP_AUTH), d.auth, "imap"),
        address=address.lower() if address else None,
        folders=r.strings(table, "folders", "imap"),
        lookback=r.value(table, "lookback", str, parse_positive_duration, d.lookback, "imap"),
    )
    return settings if len(r.problems) == problems else None


CALDAV_KEYS = ("url", "username", "password_command", "calendar", "calendars", "lookback")


def _caldav(r: _Reader, table: dict[str, Any], calendar: CalendarSettings) -> CalendarSettings:
    """The [calendar] keys of kind = "caldav": required then, accepted (unused) otherwise."""

    def url(text: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(text.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an https:// URL, such as https://caldav.fastmail.com/")
        if parts.username or parts.password:
            raise ValueError(
                "expected a URL without a user or password (use username and password_command)"
            )
        if parts.scheme == "http":
            from pursuit.connectors.secrets import is_loopback

            if not is_loopback(parts.hostname):
                raise ValueError("http:// would send the password in the clear; expected https://")
        return text.strip()

    caldav = calendar.kind == "caldav"
    if caldav:
        for key in ("url", "username", "password_command"):
            if key not in table:
                r.problem(
                    f"calendar.{key}",
                    'missing: kind = "caldav" needs url, username and password_command',
                )
    d = CalendarSettings()
    return dataclasses.replace(
        calendar,
        url=r.value(table, "url", str, url, None, "calendar"),
        username=r.value(table, "username", str, _non_empty, None, "calendar"),
        password_command=r.value(table, "password_command", str, _non_empty, None, "calendar"),
        calendar=r.value(table, "calendar", str, _non_empty, None, "calendar"),
        calendars=r.strings(table, "calendars", "calendar") if "calendars" in table else (),
        lookback=r.value(table, "lookback", str, parse_positive_duration, d.lookback, "calendar"),
    )


def _prep(r: _Reader, table: dict[str, Any], path: Callable[[str], Path]) -> PrepSettings:
    d = PrepSettings()
    r.known(table, {"event", "event_time", "questions_template"}, "[prep]")
    return PrepSettings(
        event=r.value(table, "event", bool, bool, d.event, "prep"),
        event_time=r.value(table, "event_time", str, parse_clock, d.event_time, "prep"),
        questions_template=r.value(table, "questions_template", str, path, None, "prep"),
    )


def _web(r: _Reader, table: dict[str, Any]) -> WebSettings:
    d = WebSettings()
    r.known(table, {"serve", "address", "port"}, "[web]")

    def address(text: str) -> str:
        import ipaddress

        try:
            return str(ipaddress.ip_address(text.strip().strip("[]")))
        except ValueError:
            raise ValueError("expected an IP address, such as 127.0.0.1 or ::1") from None

    return WebSettings(
        serve=r.value(table, "serve", bool, bool, d.serve, "web"),
        address=r.value(table, "address", str, address, d.address, "web"),
        port=r.value(table, "port", int, _port, d.port, "web"),
    )


def _summary(r: _Reader, table: dict[str, Any], path: Callable[[str], Path]) -> SummarySettings:
    d = SummarySettings()
    r.known(table, {"to", "day", "time", "enabled", "templates"}, "[summary]")

    def one_day(text: str) -> int:
        return parse_weekdays([text])[0]

    return SummarySettings(
        to=r.value(table, "to", str, _address, None, "summary"),
        day=r.value(table, "day", str, one_day, d.day, "summary"),
        at=r.value(table, "time", str, parse_clock, d.at, "summary"),
        enabled=r.value(table, "enabled", bool, bool, d.enabled, "summary"),
        templates=r.value(table, "templates", str, path, None, "summary"),
    )


def _address(text: str) -> str:
    if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+", text.strip()):
        raise ValueError("expected one email address, such as you@example.com")
    return text.strip().lower()


def _smtp(r: _Reader, table: Any) -> SmtpSettings | None:
    if not isinstance(table, dict):
        r.problem("[smtp]", f"expected a table, got {table!r}")
        return None
    known = {"host", "port", "security", "username", "password_command", "password"}
    r.known(table, known, "[smtp]")
    if "password" in table:
        r.problem(
            "smtp.password",
            "a password is never kept in the config: set password_command to a command "
            'that prints it, such as "pass show mail/smtp"',
        )

    def host(text: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", text):
            raise ValueError("expected a host name or address, such as smtp.example.com")
        return text

    def command(text: str) -> str:
        if not text.strip():
            raise ValueError("expected a command that prints the password")
        return text

    if "host" not in table:
        r.problem("smtp.host", "missing: the SMTP server to send the summary through")
    settings = SmtpSettings(
        host=r.value(table, "host", str, host, "", "smtp"),
        port=r.value(table, "port", int, _port, None, "smtp"),
        security=r.value(table, "security", str, _choice(*SMTP_SECURITY), "ssl", "smtp"),
        username=r.value(table, "username", str, str.strip, None, "smtp"),
        password_command=r.value(table, "password_command", str, command, None, "smtp"),
    )
    from pursuit.connectors.secrets import is_loopback

    if settings.security == "none" and settings.host and not is_loopback(settings.host):
        r.problem(
            "smtp.security",
            f"'none' sends mail and password in the clear; it is allowed only for a server "
            f"on this machine, not {settings.host} (use ssl or starttls)",
        )
    if settings.username and not settings.password_command:
        r.problem(
            "smtp.password_command", "missing: a username needs a command that prints its password"
        )
    return settings


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """The config file to read and whether the user asked for it by name."""
    chosen = explicit or os.environ.get("PURSUIT_CONFIG")
    if chosen:
        return Path(chosen).expanduser(), True
    return default_config_path(), False


#: Quotes a word processor or a phone's keyboard types instead of TOML's straight ones.
_TYPOGRAPHIC_QUOTES = "\u201c\u201d\u201e\u2018\u2019\u201a\u00ab\u00bb"


def _quotes_hint(text: str) -> str:
    """Where the file has typographic quotes, the line and the fix."""
    for number, line in enumerate(text.splitlines(), 1):
        found = next((c for c in line if c in _TYPOGRAPHIC_QUOTES), None)
        if found is not None:
            return (
                f"; line {number} has the typographic quote {found} (U+{ord(found):04X}): "
                "TOML needs straight quotes, \" or '"
            )
    return ""


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the config file; without one, the embedded defaults."""
    path, named = resolve_config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as Notepad writes
    except FileNotFoundError:
        if named:
            raise ConfigError(
                f"{path}: no such config file (run `pursuit init` to write one)"
            ) from None
        return parse_settings({})
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}{_quotes_hint(text)}") from None
    return parse_settings(data, str(path))
