"""Where a configured feed is fetched from: careers pages of job boards mapped to
their public JSON APIs, URL checks, and the Google News search of a name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

from pursuit.connectors.feeds.model import BOARD_FORMATS, FEED_KINDS, FORMATS
from pursuit.daemon.errors import ConfigError


@dataclass(frozen=True)
class _Board:
    format: str
    hosts: tuple[str, ...]  # careers pages the user pastes
    api_hosts: tuple[str, ...]
    example: str


_BOARDS = (
    _Board(
        "greenhouse",
        ("boards.greenhouse.io", "job-boards.greenhouse.io"),
        ("boards-api.greenhouse.io",),
        "https://boards.greenhouse.io/<board>",
    ),
    _Board(
        "lever",
        ("jobs.lever.co", "jobs.eu.lever.co"),
        ("api.lever.co", "api.eu.lever.co"),
        "https://jobs.lever.co/<company>",
    ),
    _Board(
        "ashby",
        ("jobs.ashbyhq.com",),
        ("api.ashbyhq.com",),
        "https://jobs.ashbyhq.com/<company>",
    ),
    _Board(
        "smartrecruiters",
        ("careers.smartrecruiters.com", "jobs.smartrecruiters.com"),
        ("api.smartrecruiters.com",),
        "https://careers.smartrecruiters.com/<Company>",
    ),
)

_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def validate_url(url: str) -> str | None:
    """None if `url` can be fetched as a feed, else what is wrong with it."""
    if not isinstance(url, str) or not url:
        return "is empty; expected an http:// or https:// URL"
    if _CONTROL.search(url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        # The parser's reason can quote a piece of a password (a bad "port").
        return "is not a valid URL" if "@" in url else f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        got = f", not {parts.scheme}:" if parts.scheme else ""
        return f"expected an http:// or https:// URL{got}"
    if not parts.hostname:
        return "has no host name; expected an http:// or https:// URL"
    if port == 0:
        return "has an invalid port 0"
    board = _board_for_host(parts.hostname)
    if board is not None and _board_api(url) is None:
        return f"is a {board.format} address without a board name (expected {board.example})"
    return None


def _board_for_host(host: str) -> _Board | None:
    host = host.lower().rstrip(".")
    for board in _BOARDS:
        if host in board.hosts or host in board.api_hosts:
            return board
    return None


def segment(value: str) -> str:
    """A path segment normalised to its percent-encoded form."""
    return quote(unquote(value), safe="")


def _board_api(url: str) -> tuple[str, str] | None:
    """(API URL, format) when `url` is a job board page or API, else None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    board = _board_for_host(host)
    if board is None:
        return None
    segs = [s for s in parts.path.split("/") if s]
    fmt = board.format
    if fmt == "greenhouse":
        if host in board.api_hosts:
            # /v1/boards/{token}/jobs[...]
            if len(segs) >= 3 and segs[0] == "v1" and segs[1] == "boards":
                if segs[3:4] == ["jobs"] and len(segs) == 4:
                    return url, fmt
                token = segs[2]
            else:
                return None
        elif segs[:1] == ["embed"]:
            token = dict(parse_qsl(parts.query)).get("for", "")
        else:
            token = segs[0] if segs else ""
        if not token:
            return None
        return f"https://boards-api.greenhouse.io/v1/boards/{segment(token)}/jobs", fmt
    if fmt == "lever":
        api_host = "api.eu.lever.co" if ".eu." in host else "api.lever.co"
        if host in board.api_hosts:
            if len(segs) >= 3 and segs[0] == "v0" and segs[1] == "postings":
                site = segs[2]
            else:
                return None
        else:
            site = segs[0] if segs else ""
        if not site:
            return None
        return f"https://{api_host}/v0/postings/{segment(site)}?mode=json", fmt
    if fmt == "ashby":
        if host in board.api_hosts:
            if len(segs) == 3 and segs[:2] == ["posting-api", "job-board"]:
                return url, fmt
            if len(segs) >= 3 and segs[:2] == ["posting-api", "job-board"]:
                name = segs[2]
            else:
                return None
        else:
            name = segs[0] if segs else ""
        if not name:
            return None
        return f"https://api.ashbyhq.com/posting-api/job-board/{segment(name)}", fmt
    # smartrecruiters
    if host in board.api_hosts:
        if len(segs) >= 3 and segs[:2] == ["v1", "companies"]:
            if len(segs) == 4 and segs[3] == "postings":
                return url, fmt
            company = segs[2]
        else:
            return None
    else:
        company = segs[0] if segs else ""
    if not company:
        return None
    return f"https://api.smartrecruiters.com/v1/companies/{segment(company)}/postings", fmt


def resolve(url: str, kind: str, format: str = "auto") -> tuple[str, str]:
    """Return (fetch_url, format) for a configured feed.

    A careers page of a known job board maps to the public JSON API behind it;
    the API URLs of those boards are recognized too; any other URL is RSS/Atom.
    An explicit format is kept as given (for an API served on any host). Raises
    ConfigError for a URL that is not http(s) with a host, an unknown kind or
    format, or a job board configured with a kind other than "careers".
    """
    problem = validate_url(url)
    shown = redact_url(url)
    if problem is not None:
        raise ConfigError(f"feed URL {shown!r} {problem}")
    if kind not in FEED_KINDS:
        raise ConfigError(f"feed {shown!r}: kind {kind!r} is not one of {', '.join(FEED_KINDS)}")
    if format not in FORMATS:
        raise ConfigError(f"feed {shown!r}: format {format!r} is not one of {', '.join(FORMATS)}")
    board = _board_api(url)
    if format == "rss":
        fetch_url, fmt = url, "rss"
    elif format == "auto":
        fetch_url, fmt = board if board is not None else (url, "rss")
    elif board is not None and board[1] == format:
        fetch_url, fmt = board
    else:
        fetch_url, fmt = url, format
    if fmt in BOARD_FORMATS and kind != "careers":
        raise ConfigError(
            f"feed {shown!r}: a {fmt} job board lists openings, so its kind must be "
            f"'careers', not {kind!r}"
        )
    return fetch_url, fmt


def news_search_url(organization_name: str) -> str:
    """The Google News RSS search for an organization's exact name."""
    name = " ".join(organization_name.split())
    if not name:
        raise ConfigError("cannot build a news search for an empty organization name")
    query = quote_plus(f'"{name}"')
    return f"https://news.google.com/rss/search?q={query}&hl=en-US&gl=US&ceid=US:en"


# Query parameters that carry a secret in a feed URL; their values are masked in
# every message and log line, as the password of the user part is.
_SECRET_PARAMS = frozenset(
    {
        "token",
        "key",
        "apikey",
        "api_key",
        "api-key",
        "access_token",
        "auth",
        "auth_token",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "sig",
        "signature",
        "x-amz-signature",
    }
)
_USERINFO = re.compile(r"(//[^/?#@:]*):[^/?#]*@")


def redact_url(url: str) -> str:
    """`url` fit to be shown: the password and secret query values become `***`.

    The user name is kept (it tells which account); `https://me:pw@host/f?token=t`
    shows as `https://me:***@host/f?token=***`.
    """
    shown = _USERINFO.sub(r"\1:***@", url, count=1)
    base, sep, rest = shown.partition("?")
    if not sep:
        return shown
    query, hash_, fragment = rest.partition("#")
    pairs = []
    for pair in query.split("&"):
        name, equals, _value = pair.partition("=")
        if equals and unquote_plus(name).strip().lower() in _SECRET_PARAMS:
            pair = f"{name}=***"
        pairs.append(pair)
    return f"{base}?{'&'.join(pairs)}{hash_}{fragment}"
