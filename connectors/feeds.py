"""The feeds connector: press, news and careers feeds of the companies pursued.

This is the only code in pursuit that knows HTTP and feed formats. It fetches
and parses; it stores nothing. The caller saves the items, then the cursors
(`FetchResult.etag` / `last_modified`), then, for a permanent redirect, the new
URL (`FetchResult.moved_to`).

Two kinds of source:

- RSS 0.9x/1.0/2.0 and Atom, parsed by feedparser from bytes fetched here
  (feedparser's own fetching has no timeout and no size cap).
- The public JSON APIs of job boards (Greenhouse, Lever, Ashby, SmartRecruiters).
  `resolve()` maps a careers page the user pasted to the API behind it.

Fetching: one total deadline per fetch (connect, headers, every read, every
redirect and page, from the first connection on), enforced by a watchdog that
shuts the socket down, so a server trickling bytes cannot hold a fetch open; a
size cap enforced while reading, on the bytes received and on the decompressed
bytes; conditional GET; at most 5 redirects. Every failure is a `FeedError`
naming the feed.

`fetch_many` bounds the connections open at once, not the parsing: a feed is
parsed after its connection slot is given back, so the next download waits on
no one's parser.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import logging
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urljoin, urlsplit

import feedparser

from pursuit.daemon.errors import ConfigError, SourceError

__all__ = [
    "BOARD_FORMATS",
    "DEFAULT_USER_AGENT",
    "FEED_KINDS",
    "FORMATS",
    "FeedError",
    "FeedItem",
    "FeedSource",
    "FetchResult",
    "fetch",
    "fetch_many",
    "news_search_url",
    "plain_text",
    "resolve",
    "validate_url",
]

log = logging.getLogger(__name__)

FEED_KINDS = ("press", "news", "careers")
BOARD_FORMATS = ("greenhouse", "lever", "ashby", "smartrecruiters")
FORMATS = ("auto", "rss", *BOARD_FORMATS)

DEFAULT_USER_AGENT = "pursuit/0.1 (+https://github.com/pursuit; job-search feed reader)"

MAX_REDIRECTS = 5
SUMMARY_MAX = 500
TITLE_MAX = 500
KEY_MAX = 512
SMARTRECRUITERS_PAGE = 100
SMARTRECRUITERS_MAX_PAGES = 20

_READ_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)
_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_JSON_ACCEPT = "application/json, */*;q=0.5"
# Relative ids and links are resolved against this constant base for dedupe keys,
# so a key does not change when the feed moves to a new URL.
_KEY_BASE = "https://feed.invalid/"


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, or one opening of a job board, as plain text."""

    key: str
    kind: str
    title: str
    link: str | None
    published: datetime | None
    summary: str
    location: str | None = None
    department: str | None = None


@dataclass(frozen=True)
class FeedSource:
    """A feed as configured, with the cursors saved after the last fetch."""

    url: str
    kind: str
    format: str = "auto"
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What one fetch found. Save the items first, then the cursors and `moved_to`."""

    source: FeedSource
    not_modified: bool
    items: tuple[FeedItem, ...]
    etag: str | None
    last_modified: str | None
    moved_to: str | None
    complete_listing: bool
    warnings: tuple[str, ...]


class FeedError(SourceError):
    """A feed could not be fetched or read; skip it this round.

    `source` is the feed URL as configured. `gone` is True for 410 Gone: the
    caller deactivates the feed. `status` is the HTTP status when there was one;
    `retry_after` the seconds a 429/503 asked to wait.
    """

    def __init__(
        self,
        source: str,
        message: str,
        *,
        gone: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source, message)
        self.reason = message
        self.gone = gone
        self.status = status
        self.retry_after = retry_after


class _Problem(Exception):
    """Internal: a failure message, turned into a FeedError naming the feed."""

    def __init__(
        self,
        message: str,
        *,
        gone: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.gone = gone
        self.status = status
        self.retry_after = retry_after


# ------------------------------------------------------------------- URL handling


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
        return f"is not a valid URL ({exc})"
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


def _segment(value: str) -> str:
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
        return f"https://boards-api.greenhouse.io/v1/boards/{_segment(token)}/jobs", fmt
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
        return f"https://{api_host}/v0/postings/{_segment(site)}?mode=json", fmt
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
        return f"https://api.ashbyhq.com/posting-api/job-board/{_segment(name)}", fmt
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
    return f"https://api.smartrecruiters.com/v1/companies/{_segment(company)}/postings", fmt


def resolve(url: str, kind: str, format: str = "auto") -> tuple[str, str]:
    """Return (fetch_url, format) for a configured feed.

    A careers page of a known job board maps to the public JSON API behind it;
    the API URLs of those boards are recognized too; any other URL is RSS/Atom.
    An explicit format is kept as given (for an API served on any host). Raises
    ConfigError for a URL that is not http(s) with a host, an unknown kind or
    format, or a job board configured with a kind other than "careers".
    """
    problem = validate_url(url)
    if problem is not None:
        raise ConfigError(f"feed URL {url!r} {problem}")
    if kind not in FEED_KINDS:
        raise ConfigError(f"feed {url!r}: kind {kind!r} is not one of {', '.join(FEED_KINDS)}")
    if format not in FORMATS:
        raise ConfigError(f"feed {url!r}: format {format!r} is not one of {', '.join(FORMATS)}")
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
            f"feed {url!r}: a {fmt} job board lists openings, so its kind must be "
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


# ------------------------------------------------------------------------- HTTP


def _shutdown(sock: socket.socket) -> None:
    # The plain socket call: it never touches an SSL object another thread reads.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Deadline:
    """The total time budget of one fetch, and the connection slot it waits for.

    The budget starts when the first request gets its slot. A watchdog timer
    shuts the current socket down when it runs out, so a blocked read (headers
    trickling in, a stalled body) returns at once.
    """

    def __init__(self, seconds: float, slot: AbstractContextManager[Any]) -> None:
        self.seconds = seconds
        self.slot = slot
        self._end = 0.0
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        if not self._end:
            self._end = time.monotonic() + self.seconds
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shutdown(self._sock)

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            self.expired = True
            raise self.problem()
        return left

    def check(self) -> None:
        if self.expired:
            raise self.problem()
        self.remaining()

    def problem(self) -> _Problem:
        return _Problem(f"timed out after {self.seconds:g} s")

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if sock is not None and self.expired:
                _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()
        self.watch(None)


@dataclass
class _Answer:
    status: int
    url: str
    headers: Message
    body: bytes
    moved_to: str | None


def _size(n: int) -> str:
    if n >= 100_000:
        return f"{n / 1_000_000:g} MB"
    return f"{n} bytes"


def _too_large(max_bytes: int) -> _Problem:
    return _Problem(f"response is larger than {_size(max_bytes)} limit")


def _request_target(parts: Any) -> str:
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return path


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _http_error(status: int, reason: str, headers: Message) -> _Problem:
    try:
        phrase = reason.strip() or HTTPStatus(status).phrase
    except ValueError:
        phrase = reason.strip()
    text = f"HTTP {status} {phrase}".rstrip()
    if status == 410:
        return _Problem("feed is gone (410); deactivated", gone=True, status=status)
    retry = _retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    if retry is not None:
        text += f" (retry after {retry:.0f} s)"
    return _Problem(text, status=status, retry_after=retry)


def _network_problem(exc: BaseException, host: str, deadline: _Deadline) -> _Problem:
    if deadline.expired or isinstance(exc, TimeoutError | socket.timeout):
        return deadline.problem()
    if isinstance(exc, socket.gaierror):
        return _Problem(f"cannot resolve host {host!r} (DNS lookup failed: {exc.strerror})")
    if isinstance(exc, ConnectionRefusedError):
        return _Problem("connection refused")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _Problem(f"TLS certificate verification failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return _Problem(f"TLS error: {exc.reason or exc}")
    if isinstance(exc, ConnectionResetError):
        return _Problem("connection reset by the server")
    if isinstance(exc, http.client.RemoteDisconnected):
        return _Problem("the server closed the connection without answering")
    if isinstance(exc, http.client.IncompleteRead):
        return _Problem("connection closed before the whole response arrived")
    if isinstance(exc, http.client.HTTPException):
        return _Problem(f"invalid HTTP response ({type(exc).__name__}: {exc})")
    if isinstance(exc, OSError):
        return _Problem(f"network error: {exc.strerror or exc}")
    return _Problem(f"network error: {exc}")


def _open(
    url: str, headers: Mapping[str, str], deadline: _Deadline
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError as exc:
        raise _Problem(f"invalid URL {url!r} ({exc})") from None
    conn: http.client.HTTPConnection
    if parts.scheme.lower() == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=deadline.remaining(), context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=deadline.remaining())
    try:
        conn.connect()
        deadline.watch(conn.sock)
        deadline.check()
        conn.request("GET", _request_target(parts), headers=dict(headers))
        resp = conn.getresponse()
        deadline.check()
    except _Problem:
        deadline.watch(None)
        conn.close()
        raise
    except (OSError, http.client.HTTPException) as exc:
        deadline.watch(None)
        conn.close()
        raise _network_problem(exc, host, deadline) from None
    return conn, resp


def _read_body(
    resp: http.client.HTTPResponse, host: str, deadline: _Deadline, max_bytes: int
) -> bytes:
    declared: int | None = None
    length_header = resp.getheader("Content-Length")
    if length_header and length_header.strip().isdigit():
        declared = int(length_header.strip())
        if declared > max_bytes:
            raise _too_large(max_bytes)
    encoding = (resp.getheader("Content-Encoding") or "").strip().lower()
    decoder: Any = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
    elif encoding not in ("", "identity"):
        raise _Problem(f"unsupported Content-Encoding {encoding!r}")
    out = bytearray()
    received = 0
    pending = False  # compressed input fed to a stream that has not ended yet
    try:
        while True:
            deadline.check()
            chunk = resp.read1(_READ_CHUNK)
            deadline.check()
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise _too_large(max_bytes)
            if decoder is None:
                out += chunk
                continue
            data = chunk
            while data:
                pending = True
                # max_length bounds the output of each call: a gzip bomb cannot
                # expand past the cap in memory.
                out += decoder.decompress(data, max_bytes + 1 - len(out))
                if len(out) > max_bytes:
                    raise _too_large(max_bytes)
                data = decoder.unconsumed_tail
                if decoder.eof:  # end of one gzip member; another may follow
                    rest = decoder.unused_data
                    decoder = zlib.decompressobj(wbits=47)
                    pending = False
                    data = rest if rest.strip(b"\0") else b""
    except zlib.error as exc:
        raise _Problem(f"response is not valid {encoding} data ({exc})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _network_problem(exc, host, deadline) from None
    if declared is not None and received < declared:
        raise _Problem(
            f"connection closed before the whole response arrived ({received} of {declared} bytes)"
        )
    if pending:
        raise _Problem(f"compressed ({encoding}) response is truncated")
    return bytes(out)


def _get(
    url: str,
    *,
    headers: Mapping[str, str],
    deadline: _Deadline,
    max_bytes: int,
) -> _Answer:
    """GET `url`, following redirects; a 304 comes back with an empty body."""
    with deadline.slot:
        deadline.start()
        return _get_holding_slot(url, headers=headers, deadline=deadline, max_bytes=max_bytes)


def _get_holding_slot(
    url: str,
    *,
    headers: Mapping[str, str],
    deadline: _Deadline,
    max_bytes: int,
) -> _Answer:
    moved_to: str | None = None
    permanent_so_far = True
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        conn, resp = _open(current, headers, deadline)
        host = urlsplit(current).hostname or ""
        try:
            status = resp.status
            if status in _REDIRECTS:
                location = (resp.getheader("Location") or "").strip()
                if not location:
                    raise _Problem(f"HTTP {status} redirect without a Location header")
                target = urljoin(current, location)
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    raise _Problem(f"redirected to a non-HTTP URL {target!r}")
                if status in _PERMANENT and permanent_so_far:
                    moved_to = target
                else:
                    permanent_so_far = False
                log.debug("%s redirects (%d) to %s", current, status, target)
                current = target
                continue
            if status == 304:
                return _Answer(status, current, resp.msg, b"", moved_to)
            if not 200 <= status < 300:
                raise _http_error(status, resp.reason, resp.msg)
            body = _read_body(resp, host, deadline, max_bytes)
            return _Answer(status, current, resp.msg, body, moved_to)
        finally:
            deadline.watch(None)
            conn.close()
    raise _Problem(f"too many redirects (more than {MAX_REDIRECTS})")


# ------------------------------------------------------------------ plain text


class _TextExtractor(HTMLParser):
    _SKIP = frozenset(
        {
            "script",
            "style",
            "noscript",
            "template",
            "iframe",
            "object",
            "embed",
            "svg",
            "math",
            "head",
            "select",
            "textarea",
        }
    )
    _BLOCK = frozenset(
        {
            "p",
            "br",
            "div",
            "li",
            "ul",
            "ol",
            "tr",
            "td",
            "th",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "pre",
            "hr",
            "section",
            "article",
            "table",
            "dd",
            "dt",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_TAGLIKE = re.compile(r"<[A-Za-z/!?]")
_ESCAPED_TAG = re.compile(r"&(?:lt|#0*60|#x0*3c);?[A-Za-z/!?]", re.IGNORECASE)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _strip_markup(value: str) -> str:
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return "".join(parser.parts)


def plain_text(value: object, limit: int | None = None) -> str:
    """Markup stripped, entities decoded, whitespace collapsed, cut to `limit`.

    Escaped markup (`&lt;script&gt;`, even escaped twice) decodes to markup, so
    stripping repeats until none is left, escaped or not.
    """
    if not isinstance(value, str) or not value:
        return ""
    text = value
    for _ in range(5):
        text = _strip_markup(text)
        if not _TAGLIKE.search(text) and not _ESCAPED_TAG.search(text):
            break
    else:  # markup escaped over and over: drop what is left of it
        text = _ESCAPED_TAG.sub(" ", text).replace("<", " ").replace(">", " ")
    text = _CONTROL_CHARS.sub("", text)
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        if space >= limit * 0.8:
            cut = cut[:space]
        text = cut.rstrip() + "…"
    return text


def _safe_link(value: object) -> str | None:
    """An absolute http(s) URL, or None (javascript:, data:, relative, junk)."""
    if not isinstance(value, str):
        return None
    link = value.strip()
    if not link or _CONTROL_CHARS.search(link) or any(c in link for c in "\t\r\n"):
        return None
    link = link.replace(" ", "%20")
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return link


def _text_or_none(value: object) -> str | None:
    text = plain_text(value, 200)
    return text or None


# ----------------------------------------------------------------------- dates


def _from_struct(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _from_iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _from_millis(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _from_iso(value)
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


# ------------------------------------------------------------------ RSS / Atom

_ENTITY_DECL = re.compile(rb"<!DOCTYPE[^>\[]*\[[^\]]*<!ENTITY", re.IGNORECASE)


def _declares_entities(data: bytes) -> bool:
    head = data[:1_000_000]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            head = head.decode("utf-16", errors="ignore").encode()
        except UnicodeError:
            return False
    return _ENTITY_DECL.search(head) is not None


def _looks_like_html(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or (
        b"<html" in head and not any(t in head for t in (b"<rss", b"<feed", b"<rdf"))
    )


_MINOR_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


@dataclass
class _Parsed:
    items: list[FeedItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True


def _parse(data: bytes, content_type: str, base: str) -> Any:
    try:
        return feedparser.parse(
            io.BytesIO(data),
            response_headers={"content-type": content_type, "content-location": base},
        )
    except Exception as exc:  # feedparser on hostile input: one feed, not the daemon
        log.debug("feedparser raised on %s", base, exc_info=True)
        raise _Problem(f"feed could not be parsed ({type(exc).__name__}: {exc})") from None


def _entry_key_source(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    ident = entry.get("id")
    if isinstance(ident, str) and ident.strip():
        return "guid", ident.strip()
    link = entry.get("link")
    if isinstance(link, str) and link.strip():
        return "link", link.strip()
    return None


def _key(prefix: str, value: str) -> str:
    if len(value) > KEY_MAX:
        return f"{prefix}-sha256:{hashlib.sha256(value.encode()).hexdigest()}"
    return f"{prefix}:{value}"


def _parse_feed(data: bytes, content_type: str, final_url: str, kind: str) -> _Parsed:
    if _declares_entities(data):
        raise _Problem("refused: the feed declares XML entities (a possible entity-expansion bomb)")
    if "html" in content_type.lower() and _looks_like_html(data):
        raise _Problem("not a feed (got an HTML page)")
    doc = _parse(data, content_type, final_url)
    entries: list[Any] = list(doc.get("entries") or [])
    version = doc.get("version") or ""
    exc = doc.get("bozo_exception") if doc.get("bozo") else None
    serious = exc is not None and not isinstance(exc, _MINOR_BOZO)
    if not version and not entries:
        if not data.strip():
            raise _Problem("not a feed (the response is empty)")
        if _looks_like_html(data) or "html" in content_type.lower():
            raise _Problem("not a feed (got an HTML page)")
        if data.lstrip()[:1] in (b"{", b"["):
            raise _Problem("not a feed (got JSON; set the job board's format)")
        reason = f": {exc}" if exc is not None else ""
        raise _Problem(f"not a feed (no RSS or Atom content found{reason})")
    usable = [e for e in entries if _entry_key_source(e) or e.get("title")]
    if serious and not usable:
        raise _Problem(f"malformed feed with no usable entries ({exc})")

    result = _Parsed()
    if serious:
        result.warnings.append(f"malformed feed (bozo): {exc}; items used anyway")
        result.complete = False
    elif exc is not None:
        log.debug("%s: minor feed problem: %s", final_url, exc)

    # Keys: relative ids/links are resolved by feedparser against the feed URL;
    # re-read them resolved against a constant base so a key survives a move.
    origin_parts = urlsplit(final_url)
    origin = f"{origin_parts.scheme}://{origin_parts.netloc}".lower()
    sources = [_entry_key_source(e) for e in usable]
    stable = list(sources)
    if any(s is not None and s[1].lower().startswith(origin) for s in sources):
        again = _parse(data, content_type, _KEY_BASE)
        again_usable = [
            e for e in (again.get("entries") or []) if _entry_key_source(e) or e.get("title")
        ]
        if len(again_usable) == len(usable):
            for i, src in enumerate(sources):
                other = _entry_key_source(again_usable[i])
                if src is None or other is None or not src[1].lower().startswith(origin):
                    continue
                value = other[1]
                if value.startswith(_KEY_BASE):
                    value = value[len(_KEY_BASE) :]
                stable[i] = (other[0], value)

    item_kind = "opening" if kind == "careers" else kind
    seen: set[str] = set()
    dropped = len(entries) - len(usable)
    for entry, src in zip(usable, stable, strict=True):
        title = plain_text(entry.get("title"), TITLE_MAX)
        summary_html = entry.get("summary")
        if not summary_html:
            contents = entry.get("content") or []
            if contents and isinstance(contents[0], Mapping):
                summary_html = contents[0].get("value")
        summary = plain_text(summary_html, SUMMARY_MAX)
        published = (
            _from_struct(entry.get("published_parsed"))
            or _from_struct(entry.get("updated_parsed"))
            or _from_struct(entry.get("created_parsed"))
        )
        if src is not None:
            key = _key(*src)
        else:
            stamp = published.isoformat() if published else ""
            key = "hash:" + hashlib.sha256(f"{title}\n{stamp}".encode()).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        result.items.append(
            FeedItem(
                key=key,
                kind=item_kind,
                title=title or "(untitled)",
                link=_safe_link(entry.get("link")),
                published=published,
                summary=summary,
            )
        )
    if dropped:
        result.warnings.append(f"skipped {dropped} entries with no title, id or link")
    return result


# ------------------------------------------------------------------ job boards


def _load_json(data: bytes, fmt: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        if _looks_like_html(data):
            raise _Problem(f"not a {fmt} board API answer (got an HTML page)") from None
        raise _Problem(f"invalid JSON from {fmt} board ({exc})") from None


def _shape(fmt: str, expected: str) -> _Problem:
    return _Problem(f"unexpected JSON from {fmt} board: expected {expected}")


def _opening(
    fmt: str,
    *,
    ident: object,
    title: object,
    link: object,
    published: datetime | None,
    summary: object = None,
    location: object = None,
    department: object = None,
) -> FeedItem | None:
    if isinstance(ident, bool) or not isinstance(ident, str | int) or str(ident).strip() == "":
        return None
    return FeedItem(
        key=_key(fmt, str(ident).strip()),
        kind="opening",
        title=plain_text(title, TITLE_MAX) or "(untitled)",
        link=_safe_link(link),
        published=published,
        summary=plain_text(summary, SUMMARY_MAX),
        location=_text_or_none(location),
        department=_text_or_none(department),
    )


def _names(values: object) -> str | None:
    if not isinstance(values, list):
        return None
    names = [v.get("name") for v in values if isinstance(v, Mapping)]
    joined = ", ".join(n for n in names if isinstance(n, str) and n.strip())
    return joined or None


def _greenhouse(doc: Any) -> Iterator[FeedItem | None]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("jobs"), list):
        raise _shape("greenhouse", "an object with 'jobs'")
    for job in doc["jobs"]:
        if not isinstance(job, Mapping):
            yield None
            continue
        location = job.get("location")
        yield _opening(
            "greenhouse",
            ident=job.get("id"),
            title=job.get("title"),
            link=job.get("absolute_url"),
            published=_from_iso(job.get("first_published")) or _from_iso(job.get("updated_at")),
            summary=job.get("content"),
            location=location.get("name") if isinstance(location, Mapping) else location,
            department=_names(job.get("departments")),
        )


def _lever(doc: Any) -> Iterator[FeedItem | None]:
    if not isinstance(doc, list):
        raise _shape("lever", "a list of postings")
    for post in doc:
        if not isinstance(post, Mapping):
            yield None
            continue
        cats = post.get("categories")
        cats = cats if isinstance(cats, Mapping) else {}
        yield _opening(
            "lever",
            ident=post.get("id"),
            title=post.get("text"),
            link=post.get("hostedUrl") or post.get("applyUrl"),
            published=_from_millis(post.get("createdAt")),
            summary=post.get("descriptionPlain") or post.get("description"),
            location=cats.get("location"),
            department=cats.get("department") or cats.get("team"),
        )


def _ashby(doc: Any) -> Iterator[FeedItem | None]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("jobs"), list):
        raise _shape("ashby", "an object with 'jobs'")
    for job in doc["jobs"]:
        if not isinstance(job, Mapping):
            yield None
            continue
        if job.get("isListed") is False:
            continue
        location = job.get("location")
        if isinstance(location, Mapping):
            location = location.get("name") or location.get("locationName")
        yield _opening(
            "ashby",
            ident=job.get("id"),
            title=job.get("title"),
            link=job.get("jobUrl") or job.get("applyUrl"),
            published=_from_iso(job.get("publishedAt")),
            summary=job.get("descriptionPlain") or job.get("descriptionHtml"),
            location=location,
            department=job.get("department") or job.get("team"),
        )


def _smartrecruiters_page(doc: Any, company: str) -> tuple[list[FeedItem | None], int | None]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("content"), list):
        raise _shape("smartrecruiters", "an object with 'content'")
    out: list[FeedItem | None] = []
    for post in doc["content"]:
        if not isinstance(post, Mapping):
            out.append(None)
            continue
        loc = post.get("location")
        location: str | None = None
        if isinstance(loc, Mapping):
            full = loc.get("fullLocation")
            if isinstance(full, str) and full.strip():
                location = full
            else:
                bits = [loc.get(k) for k in ("city", "region", "country")]
                location = ", ".join(b for b in bits if isinstance(b, str) and b.strip())
            if loc.get("remote") is True:
                location = f"{location} (remote)" if location else "Remote"
        dept = post.get("department")
        owner = post.get("company")
        ident = owner.get("identifier") if isinstance(owner, Mapping) else None
        ident = ident if isinstance(ident, str) and ident.strip() else company
        link = post.get("postingUrl")
        if not link and post.get("id") is not None:
            link = f"https://jobs.smartrecruiters.com/{_segment(ident)}/{_segment(str(post['id']))}"
        out.append(
            _opening(
                "smartrecruiters",
                ident=post.get("id"),
                title=post.get("name"),
                link=link,
                published=_from_iso(post.get("releasedDate")),
                location=location,
                department=dept.get("label") if isinstance(dept, Mapping) else dept,
            )
        )
    total = doc.get("totalFound")
    return out, total if isinstance(total, int) and not isinstance(total, bool) else None


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return parts._replace(query=urlencode(query)).geturl()


# ------------------------------------------------------------------------ fetch


def fetch(
    source: FeedSource,
    *,
    timeout: float = 20.0,
    max_bytes: int = 5_000_000,
    user_agent: str = DEFAULT_USER_AGENT,
    connection_slot: AbstractContextManager[Any] | None = None,
) -> FetchResult:
    """Fetch and parse one feed or job board. Raises FeedError.

    Every HTTP request is made holding `connection_slot` (a semaphore shared by
    the fetches that run together); the deadline starts once it is first held.
    """
    try:
        fetch_url, fmt = resolve(source.url, source.kind, source.format)
    except ConfigError as exc:
        raise FeedError(source.url, f"cannot fetch: {exc}") from None
    via = "" if fetch_url == source.url else f" (fetching {fetch_url})"
    deadline = _Deadline(timeout, connection_slot or nullcontext())
    try:
        return _fetch(source, fetch_url, fmt, deadline, max_bytes, user_agent)
    except _Problem as problem:
        raise FeedError(
            source.url,
            problem.message + via,
            gone=problem.gone,
            status=problem.status,
            retry_after=problem.retry_after,
        ) from None
    finally:
        deadline.cancel()


def _fetch(
    source: FeedSource,
    fetch_url: str,
    fmt: str,
    deadline: _Deadline,
    max_bytes: int,
    user_agent: str,
) -> FetchResult:
    headers = {
        "User-Agent": user_agent,
        "Accept": _FEED_ACCEPT if fmt == "rss" else _JSON_ACCEPT,
        "Accept-Encoding": "gzip",
        "Connection": "close",
    }
    conditional = dict(headers)
    if source.etag:
        conditional["If-None-Match"] = source.etag
    if source.last_modified:
        conditional["If-Modified-Since"] = source.last_modified
    first_url = fetch_url
    if fmt == "smartrecruiters" and "limit" not in dict(parse_qsl(urlsplit(fetch_url).query)):
        first_url = _with_query(fetch_url, limit=str(SMARTRECRUITERS_PAGE))
    answer = _get(first_url, headers=conditional, deadline=deadline, max_bytes=max_bytes)
    if answer.status == 304:
        log.debug("%s: not modified", source.url)
        return FetchResult(
            source=source,
            not_modified=True,
            items=(),
            etag=answer.headers.get("ETag") or source.etag,
            last_modified=answer.headers.get("Last-Modified") or source.last_modified,
            moved_to=answer.moved_to,
            complete_listing=False,
            warnings=(),
        )
    etag = answer.headers.get("ETag")
    last_modified = answer.headers.get("Last-Modified")
    content_type = answer.headers.get("Content-Type") or ""
    warnings: list[str] = []
    complete = True
    items: list[FeedItem] = []
    if fmt == "rss":
        parsed = _parse_feed(answer.body, content_type, answer.url, source.kind)
        items, warnings = parsed.items, parsed.warnings
        complete = source.kind == "careers" and parsed.complete
    else:
        postings: list[FeedItem | None] = []
        doc = _load_json(answer.body, fmt)
        if fmt == "greenhouse":
            postings = list(_greenhouse(doc))
        elif fmt == "lever":
            postings = list(_lever(doc))
        elif fmt == "ashby":
            postings = list(_ashby(doc))
        else:
            postings, complete, more_warnings, pages = _smartrecruiters(
                answer, doc, headers=headers, deadline=deadline, max_bytes=max_bytes
            )
            warnings += more_warnings
            if pages > 1:  # a cursor from page 1 does not cover the later pages
                etag = last_modified = None
        skipped = sum(1 for p in postings if p is None)
        seen: set[str] = set()
        for posting in postings:
            if posting is not None and posting.key not in seen:
                seen.add(posting.key)
                items.append(posting)
        if skipped:
            warnings.append(f"skipped {skipped} postings with no id or of an unknown shape")
    log.debug("%s: %d items", source.url, len(items))
    return FetchResult(
        source=source,
        not_modified=False,
        items=tuple(items),
        etag=etag,
        last_modified=last_modified,
        moved_to=answer.moved_to,
        complete_listing=complete,
        warnings=tuple(warnings),
    )


def _smartrecruiters(
    first: _Answer,
    doc: Any,
    *,
    headers: Mapping[str, str],
    deadline: _Deadline,
    max_bytes: int,
) -> tuple[list[FeedItem | None], bool, list[str], int]:
    segs = [s for s in urlsplit(first.url).path.split("/") if s]
    company = unquote(segs[2]) if len(segs) >= 3 and segs[:2] == ["v1", "companies"] else ""
    postings, total = _smartrecruiters_page(doc, company)
    page_url = first.url
    seen_count = len(doc["content"])
    pages = 1
    while total is not None and seen_count < total:
        if pages >= SMARTRECRUITERS_MAX_PAGES:
            cut = (
                f"listing cut at {seen_count} of {total} postings "
                f"({SMARTRECRUITERS_MAX_PAGES} pages); openings not closed"
            )
            return postings, False, [cut], pages
        page_url = _with_query(page_url, offset=str(seen_count), limit=str(SMARTRECRUITERS_PAGE))
        answer = _get(page_url, headers=headers, deadline=deadline, max_bytes=max_bytes)
        if answer.status == 304:  # no conditional headers were sent for later pages
            raise _Problem(f"unexpected HTTP 304 for page {pages + 1} ({page_url})")
        more, total = _smartrecruiters_page(_load_json(answer.body, "smartrecruiters"), company)
        pages += 1
        if not more:
            break
        postings += more
        seen_count += len(more)
    return postings, True, [], pages


def fetch_many(
    sources: Sequence[FeedSource],
    *,
    concurrency: int = 8,
    **fetch_kwargs: Any,
) -> Iterator[tuple[int, FetchResult | FeedError]]:
    """Fetch many feeds in parallel, yielding each result with its source's index
    as soon as it is ready.

    At most `concurrency` connections are open at once. A failing feed gives
    its FeedError in its place and never affects another.
    """
    if not sources:
        return
    connections = threading.BoundedSemaphore(max(1, concurrency))

    def one(source: FeedSource) -> FetchResult | FeedError:
        try:
            return fetch(source, connection_slot=connections, **fetch_kwargs)
        except FeedError as exc:
            return exc
        except Exception as exc:  # a bug must not cost the other feeds their round
            log.exception("unexpected error fetching %s", source.url)
            return FeedError(source.url, f"internal error: {type(exc).__name__}: {exc}")

    # Twice as many threads as connections: while some parse, others download.
    workers = max(1, min(2 * concurrency, len(sources)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pursuit-feed")
    try:
        futures = {pool.submit(one, source): index for index, source in enumerate(sources)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:  # a caller that stops early does not wait for the feeds not yet started
        pool.shutdown(wait=True, cancel_futures=True)
