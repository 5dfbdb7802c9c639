"""A local emulator of the Gmail v1 and Google Calendar v3 REST APIs and of Google's
OAuth2 token endpoint, for tests.

The real google-api-python-client and google-auth talk to it over HTTP; nothing in
those libraries is mocked. Pure stdlib (``http.server.ThreadingHTTPServer``), bound
to ``127.0.0.1`` on an ephemeral port.

Pointing the real client at it::

    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build
    from googleapiclient.http import BatchHttpRequest

    with GoogleEmulator() as emu:
        # from_authorized_user_info() (and _file()) IGNORE the "token_uri" in the
        # info and always use https://oauth2.googleapis.com/token: re-point it.
        creds = Credentials.from_authorized_user_info(emu.authorized_user_info())
        creds = creds.with_token_uri(emu.token_uri)      # or simply: emu.credentials()
        gmail = build("gmail", "v1", credentials=creds, cache_discovery=False,
                      static_discovery=True,
                      client_options={"api_endpoint": emu.gmail_endpoint})
        cal = build("calendar", "v3", credentials=creds, cache_discovery=False,
                    static_discovery=True,
                    client_options={"api_endpoint": emu.calendar_endpoint})
        # service.new_batch_http_request() ignores api_endpoint: build the batch yourself.
        batch = BatchHttpRequest(callback=cb, batch_uri=emu.batch_uri)
        cal_batch = BatchHttpRequest(callback=cb, batch_uri=emu.calendar_batch_uri)

Notes on fidelity (see also the methods' docstrings):

* Every API request needs ``Authorization: Bearer <token>`` issued by ``POST /token``;
  otherwise 401, upon which google-auth-httplib2 refreshes and retries (at most twice).
  Batch parts carry their own Authorization header (the envelope's is the fallback).
* Gmail quota units follow https://developers.google.com/gmail/api/reference/quota;
  with ``enforce_quota=True`` more than ``quota_per_minute`` units in any 60 s, or more
  than ``quota_per_second`` units in any 1 s, answers 429 ``userRateLimitExceeded``
  with a Retry-After (whole seconds) saying when the units would fit, and the message
  "User-rate limit exceeded. Retry after <RFC 3339 time>" as Gmail writes it (Gmail
  often sends that message without the header: ``quota_retry_after="message"``; with
  ``"none"`` it says "User-rate limit exceeded." alone). ``quota_clock`` measures the
  windows (time.monotonic unless a test shares a fake clock with pursuit's pacer).
* ``latency`` is added once per HTTP round trip (a batch envelope counts once).
* History ids increase with small random gaps, as Gmail's do.
* Cancelled events in ``events.list`` come back minimal (kind, etag, id, status,
  updated; for an instance of a recurring event also recurringEventId and
  originalStartTime, the fields Google guarantees on a cancelled exception),
  as Google's do; ``events.get`` still returns the whole event.
* Recurring events (``recurrence``: RRULE, RDATE, EXRULE, EXDATE lines, expanded by
  dateutil in the start's ``timeZone``): with ``singleEvents=true`` ``events.list``
  gives their instances instead, each with the id ``{eventId}_{original start in
  UTC, 20261204T130000Z}`` (``_{20261204}`` all-day), ``recurringEventId`` and
  ``originalStartTime``; an exception is stored as an event of its own with that
  id (``put_event``), and replaces its instance (cancelled: the instance is
  cancelled). A changed series lists all its instances again in an incremental
  sync, those its EXDATEs took out as cancelled; a deleted one lists them all
  cancelled. Without ``timeMax`` a series is expanded two years past its start or
  now, whichever is later (Google documents no limit). ``events.instances`` and
  ``events.get`` of an unmodified instance are not emulated.
* ``hold("drafts.create")`` keeps the next such call received but neither answered
  nor carried out until the test releases it (or a timer does): a request in flight
  when pursuit is killed, committed after the restart (see :class:`HeldRequests`).
* Not emulated: media uploads, watch/push, threads.*, labels other than list.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email
import email.policy
import email.utils
import functools
import html
import json
import math
import random
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "GMAIL_QUOTA_UNITS",
    "ApiCall",
    "GoogleEmulator",
    "HeldRequests",
    "StoredDraft",
    "StoredMessage",
]

Json = dict[str, Any]
Query = dict[str, list[str]]

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
MAIL_FULL = "https://mail.google.com/"
DEFAULT_SCOPES: tuple[str, ...] = (
    SCOPE_PREFIX + "gmail.readonly",
    SCOPE_PREFIX + "gmail.compose",
    SCOPE_PREFIX + "gmail.send",
    SCOPE_PREFIX + "gmail.modify",
    SCOPE_PREFIX + "calendar",
    SCOPE_PREFIX + "calendar.events",
    SCOPE_PREFIX + "calendar.readonly",
    SCOPE_PREFIX + "calendar.app.created",
)

#: Quota units per Gmail method (https://developers.google.com/gmail/api/reference/quota).
GMAIL_QUOTA_UNITS: dict[str, int] = {
    "getProfile": 1,
    "messages.list": 5,
    "messages.get": 5,
    "messages.send": 100,
    "messages.modify": 5,
    "messages.delete": 10,
    "messages.trash": 5,
    "messages.attachments.get": 5,
    "history.list": 2,
    "labels.list": 1,
    "drafts.create": 10,
    "drafts.list": 5,
    "drafts.get": 5,
    "drafts.update": 15,
    "drafts.delete": 10,
    "drafts.send": 100,
}

_SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
_PACIFIC = ZoneInfo("America/Los_Angeles")
_BASE32HEX_ID = re.compile(r"^[0-9a-v]{5,1024}$")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_REASON_PHRASES = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_FAULT_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("badRequest", "Bad Request"),
    401: ("authError", "Invalid Credentials"),
    403: ("rateLimitExceeded", "Rate Limit Exceeded"),
    404: ("notFound", "Requested entity was not found."),
    429: ("rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("backendError", "Backend Error"),
    502: ("backendError", "Bad Gateway"),
    503: ("backendError", "The service is currently unavailable."),
    504: ("backendError", "Deadline exceeded."),
}


# --------------------------------------------------------------------------- model


class _MemoHeaderRegistry(HeaderRegistry):
    """A HeaderRegistry that parses a recurring (name, value) once.

    Parsing a header with ``email.policy.default`` is slow (a Content-Type or an
    address list costs ~0.1-0.2 ms) and the same values recur in every message.
    Header objects are immutable strings, so sharing one changes nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cached = functools.lru_cache(maxsize=4096)(super().__call__)

    def __call__(self, name: str, value: Any) -> Any:
        if isinstance(name, str) and isinstance(value, str):
            return self._cached(name, value)
        return super().__call__(name, value)


#: ``email.policy.default`` with memoized header parsing, for the emulator's own
#: reading of stored messages (search, message resources); results are the same.
_READ_POLICY = email.policy.default.clone(header_factory=_MemoHeaderRegistry())


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=_READ_POLICY)
    assert isinstance(msg, EmailMessage)
    return msg


def _parse_headers(raw: bytes) -> EmailMessage:
    """The headers alone (the body is not parsed): the same header values."""
    msg = BytesHeaderParser(policy=_READ_POLICY).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


@dataclass
class _SearchView:
    """What searching needs of a message's `raw`, computed once each."""

    raw: bytes
    headers: EmailMessage | None = None  # _parse_headers(raw)
    parsed: EmailMessage | None = None  # _parse(raw)
    values: dict[str, list[str]] = field(default_factory=dict)  # name -> [value.lower()]


class ApiCall(NamedTuple):
    """One API call (a direct request or one part of a batch)."""

    method: str
    path: str  # e.g. "/gmail/v1/users/me/messages/18f..."; percent-decoded
    query: dict[str, list[str]]
    batched: bool
    status: int


@dataclass
class StoredMessage:
    """A message in the emulated mailbox."""

    id: str
    thread_id: str
    label_ids: list[str]
    raw: bytes
    internal_date: datetime
    history_id: int
    # search's cache of parses of `raw`; stale as soon as `raw` is another object
    _view: _SearchView | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def email(self) -> EmailMessage:
        """The message parsed with ``email.policy.default`` (headers decoded)."""
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def _search_view(self) -> _SearchView:
        view = self._view
        if view is None or view.raw is not self.raw:
            view = self._view = _SearchView(self.raw)
        return view

    def _parsed(self) -> EmailMessage:
        """The message parsed (once while `raw` is unchanged): read only."""
        view = self._search_view()
        if view.parsed is None:
            view.parsed = _parse(view.raw)
        return view.parsed

    def _header_values(self, key: str) -> list[str]:
        """``str(value).lower()`` of each header named `key` (lower case), computed once."""
        view = self._view
        if view is not None and view.raw is self.raw:
            values = view.values.get(key)
            if values is not None:
                return values
        view = self._search_view()
        if view.headers is None:
            view.headers = view.parsed or _parse_headers(view.raw)
        found = view.headers.get_all(key) or []
        values = view.values[key] = [str(h).lower() for h in found]
        return values

    def header(self, name: str) -> str | None:
        value = self.email.get(name)
        return None if value is None else str(value)

    @property
    def subject(self) -> str:
        return self.header("Subject") or ""

    @property
    def text(self) -> str:
        """The text/plain body (or text/html stripped of tags)."""
        return _body_text(self.email)

    @property
    def internal_date_ms(self) -> int:
        return int(self.internal_date.timestamp() * 1000)


@dataclass
class StoredDraft:
    id: str
    message: StoredMessage


@dataclass
class _Fault:
    status: int
    count: int
    path_contains: str
    retry_after: int | None
    delay: float
    reason: str | None
    message: str | None
    method: str | None = None  # only calls of this API method ("drafts.create")
    after_commit: bool = False  # the call is carried out first, then the fault answers


class HeldRequests:
    """API calls the emulator has received and holds unanswered and uncommitted
    (:meth:`GoogleEmulator.hold`), as Google holds a request it has not yet carried
    out: the client waits, and a client killed meanwhile never learns what came of it.

    A held call is carried out (committed) when the test calls :meth:`release`, or
    when ``release_after`` seconds have passed since it arrived; its answer then goes
    to the client if it is still there (a killed client's connection is gone: the
    answer is dropped, the work stays done). :meth:`GoogleEmulator.stop` lets held
    calls go without carrying them out.
    """

    def __init__(self, method: str, path_contains: str, count: int, release_after: float | None):
        self.method = method
        self.path_contains = path_contains
        self.release_after = release_after
        self._left = count  # calls still to be caught
        self._cond = threading.Condition()
        self._released = False
        self._abandoned = False
        self.arrived = 0  # calls caught so far
        self.committed = 0  # caught calls carried out so far

    def _catch(self, method: str | None, path: str) -> bool:
        with self._cond:
            if self._left <= 0 or method != self.method or self.path_contains not in path:
                return False
            self._left -= 1
            self.arrived += 1
            self._cond.notify_all()
            return True

    def _wait_for_release(self) -> bool:
        """Block the serving thread until released (True) or abandoned (False)."""
        deadline = None if self.release_after is None else time.monotonic() + self.release_after
        with self._cond:
            while not (self._released or self._abandoned):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._cond.wait(None if deadline is None else deadline - time.monotonic())
            return not self._abandoned

    def _done(self) -> None:
        with self._cond:
            self.committed += 1
            self._cond.notify_all()

    def wait_arrived(self, n: int = 1, timeout: float = 30.0) -> bool:
        """Wait until `n` calls have been caught; False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self.arrived >= n, timeout)

    def wait_committed(self, n: int = 1, timeout: float = 30.0) -> bool:
        """Wait until `n` caught calls have been carried out; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.committed >= n, timeout)

    def release(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Let every held call (and any caught later) be carried out; with `wait`,
        return once each caught so far has been."""
        with self._cond:
            self._released = True
            self._cond.notify_all()
            if wait:
                caught = self.arrived
                if not self._cond.wait_for(lambda: self.committed >= caught, timeout):
                    raise TimeoutError(f"held {self.method} calls not committed in {timeout} s")

    def _abandon(self) -> None:
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()


@dataclass
class _HistoryRecord:
    id: int
    kind: str  # messageAdded | messageDeleted | labelAdded | labelRemoved
    message_id: str
    thread_id: str
    label_ids: list[str]  # the message's labels after the change
    changed_labels: list[str] = field(default_factory=list)


@dataclass
class _EventRec:
    data: Json
    seq: int
    order: int
    sub: int = 0  # an instance's place in its series (its series' order is `order`)


#: How far a series is expanded when ``events.list`` sets no ``timeMax``.
EXPANSION_HORIZON = timedelta(days=730)


def _instance_stamp(original: datetime, all_day: bool) -> str:
    """The tail of an instance's id: its original start in UTC, or its day."""
    if all_day:
        return f"{original:%Y%m%d}"
    return f"{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _series_start(data: Json, default_zone: str) -> tuple[datetime, timedelta, bool, str]:
    """(first start, duration, all-day, zone name) of a recurring event; an all-day
    start is a naive midnight, a timed one is aware in the start's ``timeZone``."""
    start, end = data.get("start") or {}, data.get("end") or {}
    if start.get("date") and not start.get("dateTime"):
        first = datetime.fromisoformat(str(start["date"]))
        return first, datetime.fromisoformat(str(end["date"])) - first, True, ""
    zone_name = str(start.get("timeZone") or default_zone)
    zone = ZoneInfo(zone_name)
    first = datetime.fromisoformat(str(start["dateTime"]))
    first = first.astimezone(zone) if first.tzinfo else first.replace(tzinfo=zone)
    last = datetime.fromisoformat(str(end["dateTime"]))
    last = last.astimezone(zone) if last.tzinfo else last.replace(tzinfo=zone)
    return first, last - first, False, zone_name


def _occurrences(data: Json, default_zone: str, until: datetime) -> Iterator[tuple[datetime, bool]]:
    """(original start, excluded by an EXDATE or EXRULE) of each occurrence of a
    recurring event that starts before `until`."""
    from dateutil.rrule import rrulestr

    first, _, all_day, _ = _series_start(data, default_zone)
    lines = [str(line) for line in data.get("recurrence") or []]
    adding = [line for line in lines if not line.upper().startswith(("EXDATE", "EXRULE"))]
    every = rrulestr("\n".join(adding), dtstart=first, forceset=True)
    kept = rrulestr("\n".join(lines), dtstart=first, forceset=True)
    limit = until.astimezone(UTC).replace(tzinfo=None) if all_day else until
    for count, original in enumerate(every):
        if original >= limit or count >= 5000:
            return
        yield original, original not in kept


@dataclass
class _Calendar:
    id: str
    summary: str
    time_zone: str
    primary: bool
    app_created: bool
    events: dict[str, _EventRec] = field(default_factory=dict)
    description: str = ""

    def resource(self) -> Json:
        return {
            "kind": "calendar#calendar",
            "etag": f'"{abs(hash(self.id)) % 10**12}"',
            "id": self.id,
            "summary": self.summary,
            "timeZone": self.time_zone,
            **({"description": self.description} if self.description else {}),
        }


@dataclass
class _Token:
    scopes: frozenset[str]
    expires_at: float


class _Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class ApiError(Exception):
    """Raised by a route to answer with Google's JSON error shape."""

    def __init__(
        self, code: int, message: str, reason: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.headers = dict(headers or {})


def _json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> _Response:
    h = {"Content-Type": "application/json; charset=UTF-8"}
    h.update(headers or {})
    return _Response(status, h, json.dumps(obj).encode())


def _error_response(err: ApiError) -> _Response:
    body = {
        "error": {
            "code": err.code,
            "message": err.message,
            "errors": [{"message": err.message, "domain": "global", "reason": err.reason}],
            "status": _STATUS_NAMES.get(err.code, "UNKNOWN"),
        }
    }
    return _json_response(err.code, body, err.headers)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _b64url_decode(data: str) -> bytes:
    s = data.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_rfc3339(value: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise ApiError(400, f"Invalid value: {value}", "invalid") from exc
    if dt.tzinfo is None:
        raise ApiError(400, f"Invalid value: {value} (time zone offset required)", "invalid")
    return dt


def _event_time(when: Any) -> datetime | None:
    if not isinstance(when, dict):
        return None
    if "dateTime" in when:
        dt = datetime.fromisoformat(str(when["dateTime"]))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=ZoneInfo(str(when.get("timeZone") or "UTC")))
        return dt
    if "date" in when:
        return datetime.fromisoformat(str(when["date"])).replace(tzinfo=UTC)
    return None


def _body_text(msg: Message) -> str:
    html_fallback = ""
    for part in msg.walk():
        if part.is_multipart() or part.get_filename():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload.decode(part.get_content_charset() or "utf-8", errors="replace")
        if ctype == "text/plain":
            return text
        if not html_fallback:
            html_fallback = html.unescape(re.sub(r"<[^>]*>", " ", text))
    return html_fallback


def _snippet(msg: Message) -> str:
    text = " ".join(_body_text(msg).split())[:200]
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _headers_list(msg: Message) -> list[Json]:
    return [{"name": k, "value": " ".join(str(v).split())} for k, v in msg.items()]


def _qs1(query: Query, name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


def _qbool(query: Query, name: str) -> bool | None:
    v = _qs1(query, name)
    if v is None:
        return None
    return v.lower() == "true"


def _qint(query: Query, name: str, default: int, maximum: int) -> int:
    v = _qs1(query, name)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError as exc:
        raise ApiError(400, f"Invalid value for {name}: {v}", "invalid") from exc
    if n < 1:
        raise ApiError(400, f"Invalid value for {name}: {v}", "invalid")
    return min(n, maximum)


def _encode_token(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _decode_token(tok: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
    except Exception as exc:
        raise ApiError(400, "Invalid pageToken", "invalid") from exc


# ------------------------------------------------------------------ Gmail search


Pred = Callable[["StoredMessage"], bool]


class _SearchParser:
    """A useful subset of Gmail's search syntax.

    Terms are ANDed; ``OR`` binds tighter than the implicit AND (as in Gmail);
    ``{a b}`` is an OR group, ``(a b)`` an AND group, ``-term`` negates, and
    ``field:(...)``/``field:{...}`` apply a field to each word of the group.
    Fields: from to cc bcc deliveredto subject list rfc822msgid after before
    older newer newer_than older_than in label is has category. Other words match
    the subject, body, From and To (case-insensitive substring).
    """

    _TOKEN = re.compile(r'\s*(?:(?P<p>[(){}])|(?P<q>-?[\w.+-]*:?"[^"]*")|(?P<w>[^\s(){}"]+))')

    def __init__(self, q: str, user_email: str, now: datetime) -> None:
        self.tokens: list[str] = []
        pos = 0
        q = q.strip()
        while pos < len(q):
            m = self._TOKEN.match(q, pos)
            if not m or m.end() == pos:
                break
            tok = m.group("p") or m.group("q") or m.group("w")
            if tok:
                self.tokens.append(tok)
            pos = m.end()
        self.i = 0
        self.user_email = user_email.lower()
        self.now = now
        self.relative = False  # uses newer_than/older_than: depends on now
        self.mentions_spam_trash = bool(
            re.search(r"\b(in:(anywhere|spam|trash)|label:(spam|trash))\b", q, re.I)
        )

    def parse(self) -> Pred:
        pred = self._and(stop=None)
        return pred

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self) -> str:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _and(self, stop: str | None, field: str | None = None) -> Pred:
        preds: list[Pred] = []
        while (tok := self._peek()) is not None and tok != stop:
            if tok in (")", "}"):  # unbalanced: skip
                self._next()
                continue
            preds.append(self._or(field))
        if stop is not None and self._peek() == stop:
            self._next()
        return lambda m: all(p(m) for p in preds)

    def _or(self, field: str | None) -> Pred:
        preds = [self._unary(field)]
        while self._peek() == "OR":
            self._next()
            if self._peek() is None:
                break
            preds.append(self._unary(field))
        if len(preds) == 1:
            return preds[0]
        return lambda m: any(p(m) for p in preds)

    def _unary(self, field: str | None) -> Pred:
        tok = self._next()
        if tok == "-" and self._peek() is not None:
            inner = self._unary(field)
            return lambda m: not inner(m)
        if tok.startswith("-") and len(tok) > 1:
            self.tokens.insert(self.i, tok[1:])
            inner = self._unary(field)
            return lambda m: not inner(m)
        if tok == "(":
            return self._and(")", field)
        if tok == "{":
            return self._brace(field)
        if tok.startswith('"'):
            return self._term(field, tok.strip('"'))
        if field is None and ":" in tok:
            name, _, value = tok.partition(":")
            if value.startswith('"'):
                return self._term(name.lower(), value.strip('"'))
            if value == "":
                nxt = self._peek()
                if nxt in ("(", "{"):
                    self._next()
                    return self._and(")", name.lower()) if nxt == "(" else self._brace(name.lower())
                if nxt is not None and nxt.startswith('"'):
                    return self._term(name.lower(), self._next().strip('"'))
            return self._term(name.lower(), value)
        return self._term(field, tok)

    def _brace(self, field: str | None) -> Pred:
        preds: list[Pred] = []
        while (tok := self._peek()) is not None and tok != "}":
            if tok == "OR":
                self._next()
                continue
            preds.append(self._unary(field))
        if self._peek() == "}":
            self._next()
        return lambda m: any(p(m) for p in preds)

    def _date(self, value: str) -> float:
        if value.isdigit():
            return float(value)
        m = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
        if not m:
            raise ApiError(400, f"Invalid search date: {value}", "invalidArgument")
        y, mo, d = (int(x) for x in m.groups())
        return datetime(y, mo, d, tzinfo=_PACIFIC).timestamp()

    def _age(self, value: str) -> float:
        self.relative = True
        m = re.fullmatch(r"(\d+)([dmyh])", value.lower())
        if not m:
            raise ApiError(400, f"Invalid search age: {value}", "invalidArgument")
        n, unit = int(m.group(1)), m.group(2)
        days = {"h": 1 / 24, "d": 1, "m": 30, "y": 365}[unit] * n
        return (self.now - timedelta(days=days)).timestamp()

    def _term(self, field: str | None, value: str) -> Pred:
        v = value.lower()
        me = self.user_email
        if field in ("from", "to", "cc", "bcc", "deliveredto", "subject", "list", "rfc822msgid"):
            header = {
                "deliveredto": "Delivered-To",
                "list": "List-Id",
                "rfc822msgid": "Message-ID",
            }.get(field, field)
            needle = me if v == "me" and field in ("from", "to", "cc", "bcc") else v
            key = header.lower()

            def header_pred(m: StoredMessage) -> bool:
                for h in m._header_values(key):  # noqa: SIM110 (a loop is faster)
                    if needle in h:
                        return True
                return False

            return header_pred
        if field in ("after", "before", "newer", "older"):
            ts = self._date(v)
            if field in ("after", "newer"):
                return lambda m: m.internal_date.timestamp() >= ts
            return lambda m: m.internal_date.timestamp() < ts
        if field in ("newer_than", "older_than"):
            ts = self._age(v)
            if field == "newer_than":
                return lambda m: m.internal_date.timestamp() > ts
            return lambda m: m.internal_date.timestamp() <= ts
        if field in ("in", "label", "is", "category"):
            if field == "in" and v == "anywhere":
                return lambda m: True
            if field == "category":
                v = "category_" + {"primary": "personal"}.get(v, v)
            if field == "is" and v == "read":
                return lambda m: "UNREAD" not in m.label_ids
            wanted = re.sub(r"[\s/-]", "_", v)
            chat_alias = {"chats": "chat", "drafts": "draft"}
            wanted = chat_alias.get(wanted, wanted)

            def label_pred(m: StoredMessage) -> bool:
                return any(re.sub(r"[\s/-]", "_", lab.lower()) == wanted for lab in m.label_ids)

            return label_pred
        if field == "has" and v == "attachment":
            return lambda m: any(p.get_filename() for p in m._parsed().walk())
        needle = v if field is None else f"{field}:{v}"

        def text_pred(m: StoredMessage) -> bool:
            e = m._parsed()
            hay = " ".join(
                [
                    str(e.get("Subject", "")),
                    str(e.get("From", "")),
                    str(e.get("To", "")),
                    _body_text(e),
                ]
            ).lower()
            return needle in hay

        return text_pred


# ----------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    emulator: GoogleEmulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, add=False)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        resp = self.server.emulator._handle_http(self.command, self.path, headers, body)
        self.send_response(resp.status, _REASON_PHRASES.get(resp.status))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body:
            self.wfile.write(resp.body)

    def _answer(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a late answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


Route = tuple[str, "re.Pattern[str]", str, Callable[..., Any]]


class GoogleEmulator:
    """Gmail v1 + Calendar v3 + OAuth2 token endpoint, on 127.0.0.1 (see module doc)."""

    def __init__(
        self,
        *,
        user_email: str = "me@example.test",
        latency: float = 0.0,
        enforce_quota: bool = False,
        quota_per_minute: int = 15000,
        quota_per_second: int = 250,
        quota_retry_after: str = "header",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        seed: int = 0,
    ) -> None:
        self.user_email = user_email
        self.latency = latency
        self.enforce_quota = enforce_quota
        self.quota_per_minute = quota_per_minute
        self.quota_per_second = quota_per_second
        #: where a quota refusal says when to retry: "header" (Retry-After, and the
        #: message), "message" (alone, as Gmail often does) or "none"
        self.quota_retry_after = quota_retry_after
        #: the clock the quota's windows are measured on (a test may share a fake one)
        self.quota_clock: Callable[[], float] = time.monotonic
        self.scopes: tuple[str, ...] = tuple(scopes)
        self.client_id = "emulator-client.apps.googleusercontent.test"
        self.client_secret = "emulator-secret"
        self.refresh_token = "1//emulator-refresh-" + uuid.UUID(int=seed).hex[:12]
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self.base_url = ""
        # OAuth
        self._tokens: dict[str, _Token] = {}
        self._revoked = False
        self.token_requests = 0
        # accounting
        self.calls: list[ApiCall] = []
        self.batches: list[int] = []  # number of parts of each batch envelope
        self.http_requests = 0
        self.quota_units = 0
        self.rate_limited = 0
        self._quota_log: deque[tuple[float, int]] = deque()
        self._faults: list[_Fault] = []
        self._holds: list[HeldRequests] = []
        # Gmail
        self.messages: dict[str, StoredMessage] = {}
        self.drafts: dict[str, StoredDraft] = {}
        self.sent: list[StoredMessage] = []
        self._history: list[_HistoryRecord] = []
        self._history_id = 1000 + self._rng.randint(0, 9000)
        self._history_floor = 0
        self._id_counter = 0x18F0000000000000 + self._rng.randint(0, 0xFFFFFFFF)
        self._draft_counter = 5_000_000_000_000_000_000 + self._rng.randint(0, 10**9)
        self._msgid_to_thread: dict[str, str] = {}
        # messages.list: the last search of each query, reused for its next pages
        # while the mailbox is unchanged (see _r_messages_list)
        self._list_cache: dict[tuple[Any, ...], tuple[tuple[int, int], list[StoredMessage]]] = {}
        self.search_seconds = 0.0  # wall time spent searching the mailbox
        # Calendar
        self._calendars: dict[str, _Calendar] = {}
        self._cal_seq = 0
        self._sync_generation = 0
        self._event_order = 0
        self._last_updated = datetime.now(UTC)
        self._calendars[user_email] = _Calendar(user_email, user_email, "UTC", True, False)
        self._routes = self._build_routes()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> GoogleEmulator:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.emulator = self
        self._server = server
        port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"google-emulator-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with self._lock:
            holds, self._holds = self._holds, []
        for held in holds:
            held._abandon()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GoogleEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    @property
    def gmail_endpoint(self) -> str:
        return self.base_url

    @property
    def calendar_endpoint(self) -> str:
        return self.base_url + "calendar/v3/"

    @property
    def batch_uri(self) -> str:
        """Gmail batch endpoint."""
        return self.base_url + "batch/gmail/v1"

    @property
    def calendar_batch_uri(self) -> str:
        return self.base_url + "batch/calendar/v3"

    @property
    def token_uri(self) -> str:
        return self.base_url + "token"

    # ---------------------------------------------------------------- OAuth

    def authorized_user_info(self) -> Json:
        """An authorized-user dict (as InstalledAppFlow would save it).

        google-auth's ``from_authorized_user_info`` ignores ``token_uri``: call
        ``.with_token_uri(emu.token_uri)`` on the result, or use :meth:`credentials`.
        """
        return {
            "type": "authorized_user",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "token_uri": self.token_uri,
            "scopes": list(self.scopes),
        }

    def write_authorized_user_file(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.authorized_user_info(), fh)
        return path

    def signed_in(self, root: Path) -> str:
        """The `[google]` section of a config signed in to this emulator: the token is
        written to ROOT/token/google.json (a folder 0700, as `pursuit login` makes)."""
        token = root / "token" / "google.json"
        token.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.write_authorized_user_file(str(token))
        return (
            f'[google]\ncredentials_file = "{token}"\n'
            f'api_endpoint = "{self.base_url}"\ntoken_uri = "{self.token_uri}"\n'
        )

    def credentials(self, scopes: Iterable[str] | None = None) -> Any:
        """google.oauth2.credentials.Credentials pointed at this emulator's token URI."""
        from google.oauth2.credentials import Credentials

        creds = Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            self.authorized_user_info(), scopes=list(scopes) if scopes is not None else None
        )
        return creds.with_token_uri(self.token_uri)

    def revoke(self) -> None:
        """The user revoked access: refresh answers invalid_grant, access tokens 401."""
        with self._lock:
            self._revoked = True
            self._tokens.clear()

    def sign_in_again(self) -> None:
        """The user consented again after a revocation: the refresh token works again."""
        with self._lock:
            self._revoked = False

    def expire_tokens(self) -> None:
        """Every access token issued so far now answers 401 (the client refreshes)."""
        with self._lock:
            self._tokens.clear()

    def _handle_token(self, body: bytes) -> _Response:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        with self._lock:
            self.token_requests += 1
            grant = _qs1(form, "grant_type")
            if grant != "refresh_token":
                return _json_response(
                    400,
                    {
                        "error": "unsupported_grant_type",
                        "error_description": f"Invalid grant_type: {grant}",
                    },
                )
            if _qs1(form, "client_id") != self.client_id:
                return _json_response(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "The OAuth client was not found.",
                    },
                )
            if _qs1(form, "client_secret") != self.client_secret:
                return _json_response(
                    401, {"error": "invalid_client", "error_description": "Unauthorized"}
                )
            if self._revoked or _qs1(form, "refresh_token") != self.refresh_token:
                return _json_response(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    },
                )
            requested = (_qs1(form, "scope") or "").split()
            if requested and not set(requested) <= set(self.scopes):
                return _json_response(
                    400, {"error": "invalid_scope", "error_description": "Bad Request"}
                )
            scopes = frozenset(requested or self.scopes)
            token = "ya29.emu-" + uuid.UUID(int=self._rng.getrandbits(128)).hex
            self._tokens[token] = _Token(scopes, time.monotonic() + 3600)
            return _json_response(
                200,
                {
                    "access_token": token,
                    "expires_in": 3599,
                    "scope": " ".join(sorted(scopes)),
                    "token_type": "Bearer",
                },
                {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
            )

    def _authenticate(self, headers: Mapping[str, str]) -> frozenset[str]:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            tok = self._tokens.get(token)
            if tok is not None and tok.expires_at < time.monotonic():
                del self._tokens[token]
                tok = None
        if tok is None:
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                "authError",
                {
                    "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                    'error="invalid_token"'
                },
            )
        return tok.scopes

    # -------------------------------------------------------- faults, quota

    def inject_fault(
        self,
        status: int,
        *,
        count: int = 1,
        path_contains: str = "",
        retry_after: int | None = None,
        delay: float = 0.0,
        reason: str | None = None,
        message: str | None = None,
        method: str | None = None,
        after_commit: bool = False,
    ) -> None:
        """The next ``count`` API calls whose path contains ``path_contains`` fail.

        ``method`` limits the fault to one API method (``"calendars.insert"``).
        With ``after_commit`` the call is carried out first and the fault then
        replaces its answer, as when Google commits and the answer is lost: a 503
        after the work, or (``status`` 200 and a ``delay`` longer than the client's
        timeout) an answer that comes too late.

        They answer ``status`` with Google's error JSON (reason defaults:
        429/403 rateLimitExceeded, 5xx backendError) and a ``Retry-After`` header if
        given, after sleeping ``delay`` seconds. ``status`` 0 or 200 with a delay gives a
        slow but normal answer. Batch parts count as API calls. A batch envelope or the
        token endpoint is hit only when ``path_contains`` is non-empty and is a
        substring of its path (``"/batch"``, ``"/token"``).
        """
        with self._lock:
            self._faults.append(
                _Fault(
                    status,
                    count,
                    path_contains,
                    retry_after,
                    delay,
                    reason,
                    message,
                    method,
                    after_commit,
                )
            )

    def hold(
        self,
        method: str,
        *,
        path_contains: str = "",
        count: int = 1,
        release_after: float | None = None,
    ) -> HeldRequests:
        """Hold the next ``count`` calls of API method ``method`` (``"drafts.create"``,
        ``"messages.send"``, ``"calendars.insert"``, ``"events.insert"``) whose
        percent-decoded path contains ``path_contains``: the emulator receives each
        one and neither answers nor carries it out until the test calls
        ``release()`` on the returned :class:`HeldRequests` (or ``release_after``
        seconds pass), then carries it out and answers.

        For a request in flight when pursuit dies: ``held.wait_arrived()``, kill
        pursuit, restart it, then ``held.release()`` commits the first attempt after
        the restart looked. A held call counts in :attr:`calls` once it is carried
        out; a batch part held holds its whole batch.
        """
        held = HeldRequests(method, path_contains, count, release_after)
        with self._lock:
            self._holds.append(held)
        return held

    def _take_hold(self, method: str | None, path: str) -> HeldRequests | None:
        with self._lock:
            holds = list(self._holds)
        return next((h for h in holds if h._catch(method, path)), None)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str, *, api_call: bool, method: str | None = None) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.count <= 0 or (f.method is not None and f.method != method):
                    continue
                if (api_call and f.path_contains in path) or (
                    not api_call and f.path_contains and f.path_contains in path
                ):
                    f.count -= 1
                    return f
            self._faults = [f for f in self._faults if f.count > 0]
        return None

    @staticmethod
    def _apply_fault(f: _Fault) -> _Response | None:
        if f.delay:
            time.sleep(f.delay)
        if f.status in (0, 200):
            return None
        reason, message = _FAULT_DEFAULTS.get(f.status, ("backendError", "Error"))
        headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}
        return _error_response(
            ApiError(f.status, f.message or message, f.reason or reason, headers)
        )

    def _charge(self, units: int) -> None:
        """Spend Gmail quota units; raise 429 if enforce_quota and over the limits."""
        now = self.quota_clock()
        with self._lock:
            log = self._quota_log
            while log and log[0][0] <= now - 60:
                log.popleft()
            if self.enforce_quota:
                minute = sum(u for _, u in log)
                second = sum(u for t, u in log if t > now - 1)
                over_minute = minute + units > self.quota_per_minute
                if over_minute or second + units > self.quota_per_second:
                    self.rate_limited += 1
                    # when enough of the window's units will have left it
                    window, limit = (
                        (60, self.quota_per_minute) if over_minute else (1, self.quota_per_second)
                    )
                    need = (minute if over_minute else second) + units - limit
                    wait = 1.0
                    for t, u in log:
                        if t <= now - window:
                            continue
                        need -= u
                        if need <= 0:
                            wait = max(1.0, t + window - now)
                            break
                    when = _rfc3339(datetime.now(UTC) + timedelta(seconds=wait))
                    raise ApiError(
                        429,
                        "User-rate limit exceeded."
                        + ("" if self.quota_retry_after == "none" else f" Retry after {when}"),
                        "userRateLimitExceeded",
                        {"Retry-After": str(math.ceil(wait))}
                        if self.quota_retry_after == "header"
                        else {},
                    )
            log.append((now, units))
            self.quota_units += units

    def call_count(
        self, prefix: str = "", *, method: str | None = None, batched: bool | None = None
    ) -> int:
        """Number of API calls whose path starts with ``prefix`` (leading '/' optional)."""
        p = "/" + prefix.lstrip("/")
        with self._lock:
            return sum(
                1
                for c in self.calls
                if c.path.startswith(p)
                and (method is None or c.method == method)
                and (batched is None or c.batched == batched)
            )

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.batches.clear()
            self.http_requests = 0
            self.quota_units = 0
            self.rate_limited = 0
            self.token_requests = 0
            self.search_seconds = 0.0
            self._quota_log.clear()

    # -------------------------------------------------------------- HTTP

    def _handle_http(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        with self._lock:
            self.http_requests += 1
        if self.latency:
            time.sleep(self.latency)
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path
        try:
            if path in ("/token", "/oauth2/v4/token"):
                fault = self._take_fault(path, api_call=False)
                if fault and (r := self._apply_fault(fault)):
                    return r
                if method != "POST":
                    return _json_response(405, {"error": "invalid_request"})
                return self._handle_token(body)
            if path == "/revoke":
                self.revoke()
                return _json_response(200, {})
            if path == "/batch" or path.startswith("/batch/"):
                return self._handle_batch(path, headers, body)
        except ApiError as err:
            return _error_response(err)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        return self._api_call(method, path, query, headers, body, batched=False)

    def _api_call(
        self,
        method: str,
        path: str,
        query: Query,
        headers: Mapping[str, str],
        body: bytes,
        *,
        batched: bool,
    ) -> _Response:
        dpath = urllib.parse.unquote(path)
        resp = self._api_call_inner(method, path, query, headers, body)
        with self._lock:
            self.calls.append(ApiCall(method, dpath, query, batched, resp.status))
        return resp

    def _api_call_inner(
        self, method: str, path: str, query: Query, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        name = next(
            (n for m, pattern, n, _ in self._routes if m == method and pattern.match(path)), None
        )
        hook = self.call_hook
        target = urllib.parse.unquote(path) + "?" + urllib.parse.urlencode(query, doseq=True)
        if hook is not None and hook(name or method, target, "before"):
            return _error_response(ApiError(503, "The service is unavailable.", "backendError"))
        fault = self._take_fault(urllib.parse.unquote(path), api_call=True, method=name)
        if fault and not fault.after_commit and (r := self._apply_fault(fault)):
            return r
        held = self._take_hold(name, urllib.parse.unquote(path))
        if held is not None and not held._wait_for_release():
            return _error_response(ApiError(503, "The service is unavailable.", "backendError"))
        resp = self._dispatch(method, path, query, headers, body)
        if held is not None:
            held._done()
        if hook is not None:
            hook(name or method, target, "after")
        if fault and fault.after_commit and resp.status < 300:
            return self._apply_fault(fault) or resp
        return resp

    def _dispatch(
        self, method: str, path: str, query: Query, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        try:
            scopes = self._authenticate(headers)
            for route_method, pattern, name, handler in self._routes:
                if route_method != method:
                    continue
                m = pattern.match(path)
                if not m:
                    continue
                params = {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
                if "user" in params and params.pop("user") not in ("me", self.user_email):
                    raise ApiError(403, "Delegation denied for " + self.user_email, "forbidden")
                self._check_scope(name, scopes, params, query)
                if name in GMAIL_QUOTA_UNITS:
                    self._charge(GMAIL_QUOTA_UNITS[name])
                payload: Json = {}
                if body:
                    try:
                        payload = json.loads(body)
                    except ValueError as exc:
                        raise ApiError(400, "Invalid JSON payload received.", "parseError") from exc
                    if not isinstance(payload, dict):
                        raise ApiError(400, "Invalid JSON payload received.", "parseError")
                with self._lock:
                    result = handler(query=query, body=payload, **params)
                if result is None:
                    return _Response(204, {}, b"")
                return _json_response(200, result)
            raise ApiError(404, "Not Found", "notFound")
        except ApiError as err:
            return _error_response(err)

    # -------------------------------------------------------------- scopes

    _GMAIL_READ = frozenset(
        {MAIL_FULL, SCOPE_PREFIX + "gmail.modify", SCOPE_PREFIX + "gmail.readonly"}
    )
    _GMAIL_META = _GMAIL_READ | {SCOPE_PREFIX + "gmail.metadata"}
    _GMAIL_COMPOSE = frozenset(
        {MAIL_FULL, SCOPE_PREFIX + "gmail.modify", SCOPE_PREFIX + "gmail.compose"}
    )
    _GMAIL_SEND = _GMAIL_COMPOSE | {SCOPE_PREFIX + "gmail.send"}
    _CAL_WRITE = frozenset({SCOPE_PREFIX + "calendar", SCOPE_PREFIX + "calendar.events"})
    _CAL_READ = _CAL_WRITE | {
        SCOPE_PREFIX + "calendar.readonly",
        SCOPE_PREFIX + "calendar.events.readonly",
    }
    _CAL_APP = SCOPE_PREFIX + "calendar.app.created"

    def _check_scope(
        self, name: str, scopes: frozenset[str], params: Mapping[str, str], query: Query
    ) -> None:
        def deny() -> None:
            raise ApiError(
                403, "Request had insufficient authentication scopes.", "insufficientPermissions"
            )

        if name in GMAIL_QUOTA_UNITS and SCOPE_PREFIX + "gmail.metadata" in scopes:
            # A token carrying gmail.metadata is restricted even alongside broader scopes.
            if name == "messages.list" and _qs1(query, "q"):
                raise ApiError(403, "Metadata scope does not support 'q' parameter", "forbidden")
            fmt = (_qs1(query, "format") or "full").lower()
            if name == "messages.get" and fmt in ("full", "raw"):
                raise ApiError(
                    403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden"
                )

        if name in ("messages.send", "drafts.send"):
            ok = bool(scopes & self._GMAIL_SEND)
        elif name.startswith("drafts."):
            ok = bool(scopes & self._GMAIL_COMPOSE) or (
                name in ("drafts.list", "drafts.get") and bool(scopes & self._GMAIL_READ)
            )
        elif name in ("messages.modify", "messages.trash"):
            ok = bool(scopes & {MAIL_FULL, SCOPE_PREFIX + "gmail.modify"})
        elif name == "messages.delete":
            ok = MAIL_FULL in scopes
        elif name == "getProfile":
            ok = bool(scopes & (self._GMAIL_META | self._GMAIL_SEND))
        elif name in GMAIL_QUOTA_UNITS:
            ok = bool(scopes & self._GMAIL_META)
        elif name == "calendarList.list":
            ok = bool(
                scopes
                & (
                    self._CAL_READ
                    | {
                        SCOPE_PREFIX + "calendar.calendarlist",
                        SCOPE_PREFIX + "calendar.calendarlist.readonly",
                    }
                )
            )
        elif name == "calendars.insert":
            ok = bool(scopes & {SCOPE_PREFIX + "calendar", self._CAL_APP})
        else:  # calendar resources on one calendar
            cal = self._calendars.get(self._resolve_cal(params.get("calendar_id", "")))
            # a calendar that is not there (deleted by the user) answers 404, whatever the scope
            app_ok = self._CAL_APP in scopes and (cal is None or cal.app_created)
            write = name.split(".")[1] in ("insert", "update", "patch", "delete")
            if name.startswith("calendars."):
                ok = app_ok or bool(
                    scopes
                    & (
                        {SCOPE_PREFIX + "calendar"}
                        if write
                        else {SCOPE_PREFIX + "calendar", SCOPE_PREFIX + "calendar.readonly"}
                    )
                )
            else:
                ok = app_ok or bool(scopes & (self._CAL_WRITE if write else self._CAL_READ))
        if not ok:
            deny()

    # -------------------------------------------------------------- batch

    def _handle_batch(self, path: str, headers: Mapping[str, str], body: bytes) -> _Response:
        fault = self._take_fault(path, api_call=False)
        if fault and (r := self._apply_fault(fault)):
            return r
        api_prefix = {
            "/batch/gmail/v1": "/gmail/v1/",
            "/batch/calendar/v3": "/calendar/v3/",
            "/batch": "/",
        }.get(path.rstrip("/"))
        if api_prefix is None:
            raise ApiError(404, "Not Found", "notFound")
        ctype = headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/mixed"):
            raise ApiError(400, "Batch requests must be multipart/mixed.", "badRequest")
        outer = email.message_from_bytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body, policy=email.policy.compat32
        )
        parts = outer.get_payload()
        if not isinstance(parts, list) or not parts:
            raise ApiError(400, "Batch request contains no parts.", "badRequest")
        if len(parts) > 100:
            raise ApiError(400, "Too many requests in batch. The maximum is 100.", "badRequest")
        with self._lock:
            self.batches.append(len(parts))
        boundary = "batch_" + uuid.uuid4().hex
        out: list[str] = []
        for part in parts:
            if not isinstance(part, Message):
                raise ApiError(400, "Invalid batch part.", "badRequest")
            content_id = str(part.get("Content-ID", "")).strip()
            inner = part.get_payload()
            if not isinstance(inner, str):
                raise ApiError(400, "Invalid batch part.", "badRequest")
            resp = self._batch_part(inner, headers, api_prefix)
            cid = content_id[1:-1] if content_id.startswith("<") else content_id
            text = resp.body.decode("utf-8")
            status_line = f"HTTP/1.1 {resp.status} {_REASON_PHRASES.get(resp.status, '')}"
            hdrs = "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items())
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{cid}>\r\n\r\n"
                f"{status_line}\r\n{hdrs}Content-Length: {len(resp.body)}\r\n\r\n{text}\r\n"
            )
        out.append(f"--{boundary}--\r\n")
        return _Response(
            200,
            {"Content-Type": f"multipart/mixed; boundary={boundary}"},
            "".join(out).encode("utf-8"),
        )

    def _batch_part(
        self, inner: str, outer_headers: Mapping[str, str], api_prefix: str
    ) -> _Response:
        inner = inner.lstrip("\r\n")
        data = inner.encode("utf-8", "surrogateescape")  # undo compat32's 8-bit escaping
        m = re.search(rb"\r?\n\r?\n", data)
        head = (data[: m.start()] if m else data).decode("utf-8", "replace")
        rest = data[m.end() :] if m else b""
        lines = head.replace("\r\n", "\n").split("\n")
        request_line = lines[0].split()
        if len(request_line) < 2:
            return _error_response(ApiError(400, "Invalid batch part.", "badRequest"))
        method, target = request_line[0].upper(), request_line[1]
        hdrs: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "authorization" not in hdrs and "authorization" in outer_headers:
            hdrs["authorization"] = outer_headers["authorization"]
        body = rest
        parsed = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        if not parsed.path.startswith(api_prefix):
            return _error_response(
                ApiError(400, "Batch request contains requests for a different API.", "badRequest")
            )
        return self._api_call(method, parsed.path, query, hdrs, body, batched=True)

    # ------------------------------------------------------------- routes

    def _build_routes(self) -> list[Route]:
        g = r"^/gmail/v1/users/(?P<user>[^/]+)"
        c = r"^/calendar/v3"
        cal = c + r"/calendars/(?P<calendar_id>[^/]+)"
        table: list[tuple[str, str, str, Callable[..., Any]]] = [
            ("GET", g + r"/profile$", "getProfile", self._r_profile),
            ("GET", g + r"/messages$", "messages.list", self._r_messages_list),
            ("POST", g + r"/messages/send$", "messages.send", self._r_messages_send),
            (
                "GET",
                g + r"/messages/(?P<message_id>[^/]+)/attachments/(?P<att_id>[^/]+)$",
                "messages.attachments.get",
                self._r_attachment,
            ),
            ("GET", g + r"/messages/(?P<message_id>[^/]+)$", "messages.get", self._r_messages_get),
            (
                "POST",
                g + r"/messages/(?P<message_id>[^/]+)/modify$",
                "messages.modify",
                self._r_messages_modify,
            ),
            (
                "POST",
                g + r"/messages/(?P<message_id>[^/]+)/trash$",
                "messages.trash",
                self._r_messages_trash,
            ),
            (
                "DELETE",
                g + r"/messages/(?P<message_id>[^/]+)$",
                "messages.delete",
                self._r_messages_delete,
            ),
            ("GET", g + r"/history$", "history.list", self._r_history),
            ("GET", g + r"/labels$", "labels.list", self._r_labels),
            ("POST", g + r"/drafts/send$", "drafts.send", self._r_drafts_send),
            ("POST", g + r"/drafts$", "drafts.create", self._r_drafts_create),
            ("GET", g + r"/drafts$", "drafts.list", self._r_drafts_list),
            ("GET", g + r"/drafts/(?P<draft_id>[^/]+)$", "drafts.get", self._r_drafts_get),
            ("PUT", g + r"/drafts/(?P<draft_id>[^/]+)$", "drafts.update", self._r_drafts_update),
            ("DELETE", g + r"/drafts/(?P<draft_id>[^/]+)$", "drafts.delete", self._r_drafts_delete),
            ("GET", c + r"/users/me/calendarList$", "calendarList.list", self._r_calendar_list),
            ("POST", c + r"/calendars$", "calendars.insert", self._r_calendars_insert),
            ("GET", cal + r"$", "calendars.get", self._r_calendars_get),
            ("DELETE", cal + r"$", "calendars.delete", self._r_calendars_delete),
            ("GET", cal + r"/events$", "events.list", self._r_events_list),
            ("POST", cal + r"/events$", "events.insert", self._r_events_insert),
            ("GET", cal + r"/events/(?P<event_id>[^/]+)$", "events.get", self._r_events_get),
            ("PUT", cal + r"/events/(?P<event_id>[^/]+)$", "events.update", self._r_events_update),
            ("PATCH", cal + r"/events/(?P<event_id>[^/]+)$", "events.patch", self._r_events_patch),
            (
                "DELETE",
                cal + r"/events/(?P<event_id>[^/]+)$",
                "events.delete",
                self._r_events_delete,
            ),
        ]
        return [(m, re.compile(p), n, h) for m, p, n, h in table]

    # ================================================================ Gmail

    def _next_history_id(self) -> int:
        self._history_id += 1 + self._rng.randint(0, 3)
        return self._history_id

    def _record(self, kind: str, msg: StoredMessage, changed: Iterable[str] = ()) -> None:
        hid = self._next_history_id()
        msg.history_id = hid
        self._history.append(
            _HistoryRecord(hid, kind, msg.id, msg.thread_id, list(msg.label_ids), list(changed))
        )

    def _new_message_id(self) -> str:
        self._id_counter += 1 + self._rng.randint(0, 0xFFF)
        return f"{self._id_counter:016x}"

    def _store(
        self,
        raw: bytes,
        label_ids: Iterable[str],
        internal_date: datetime | None,
        thread_id: str | None,
    ) -> StoredMessage:
        parsed = _parse_headers(raw)  # the headers are all it reads
        mid = self._new_message_id()
        if thread_id is None:
            refs = " ".join(str(parsed.get(h, "")) for h in ("In-Reply-To", "References"))
            for ref in re.findall(r"<[^>]+>", refs):
                if ref in self._msgid_to_thread:
                    thread_id = self._msgid_to_thread[ref]
                    break
        if internal_date is None:
            try:
                date_hdr = parsed.get("Date")
                internal_date = date_hdr.datetime if date_hdr is not None else None
            except (AttributeError, TypeError, ValueError):
                internal_date = None
        if internal_date is None:
            internal_date = datetime.now(UTC)
        elif internal_date.tzinfo is None:
            internal_date = internal_date.replace(tzinfo=UTC)
        msg = StoredMessage(
            mid, thread_id or mid, list(dict.fromkeys(label_ids)), raw, internal_date, 0
        )
        msg._view = _SearchView(raw, headers=parsed)
        self.messages[mid] = msg
        message_id = parsed.get("Message-ID")
        if message_id:
            self._msgid_to_thread[str(message_id).strip()] = msg.thread_id
        self._record("messageAdded", msg)
        return msg

    # public mailbox manipulation ---------------------------------------

    @property
    def history_id(self) -> int:
        return self._history_id

    def add_message(
        self,
        raw: bytes | str,
        *,
        label_ids: Iterable[str] = ("INBOX",),
        internal_date: datetime | None = None,
        thread_id: str | None = None,
    ) -> str:
        """Deliver an RFC 5322 message; returns its Gmail id.

        internalDate defaults to the Date header (else now). The thread is
        ``thread_id``, else the thread of a message named in In-Reply-To/References,
        else a new one. Records a messageAdded history record.
        """
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        with self._lock:
            return self._store(data, label_ids, internal_date, thread_id).id

    def delete_message(self, gmail_id: str) -> None:
        with self._lock:
            msg = self.messages.pop(gmail_id)
            self._record("messageDeleted", msg)

    def user_edits_draft(self, draft_id: str, raw: bytes) -> None:
        """What saving a draft in Gmail's compose window does: the draft keeps its id,
        its message is a new one (the headers Gmail's editor keeps, not the API's)."""
        body = {"message": {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}}
        with self._lock:
            self._r_drafts_update(query={}, body=body, draft_id=draft_id)

    def add_draft(self, raw: bytes) -> str:
        """A draft another client made (another install, a create landing late); its id."""
        with self._lock:
            return self._new_draft(raw, None).id

    def user_deletes_draft(self, draft_id: str) -> None:
        """What discarding a draft in Gmail does."""
        with self._lock:
            self._r_drafts_delete(query={}, body={}, draft_id=draft_id)

    def modify_labels(
        self, gmail_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        with self._lock:
            self._modify(self.messages[gmail_id], list(add), list(remove))

    def _modify(self, msg: StoredMessage, add: list[str], remove: list[str]) -> None:
        added = [lab for lab in add if lab not in msg.label_ids]
        removed = [lab for lab in remove if lab in msg.label_ids]
        if added:
            msg.label_ids.extend(added)
            self._record("labelAdded", msg, added)
        if removed:
            msg.label_ids[:] = [lab for lab in msg.label_ids if lab not in removed]
            self._record("labelRemoved", msg, removed)

    def expire_history(self) -> None:
        """Any startHistoryId older than the current history id now answers 404."""
        with self._lock:
            self._history_floor = self._history_id

    # formats -----------------------------------------------------------

    def _message_resource(
        self, msg: StoredMessage, fmt: str, metadata_headers: list[str] | None = None
    ) -> Json:
        parsed = _parse(msg.raw)
        out: Json = {
            "id": msg.id,
            "threadId": msg.thread_id,
            "labelIds": list(msg.label_ids),
            "snippet": _snippet(parsed),
            "sizeEstimate": len(msg.raw),
            "historyId": str(msg.history_id),
            "internalDate": str(msg.internal_date_ms),
        }
        if fmt == "raw":
            out["raw"] = _b64url(msg.raw)
        elif fmt == "metadata":
            headers = _headers_list(parsed)
            if metadata_headers:
                wanted = {h.lower() for h in metadata_headers}
                headers = [h for h in headers if h["name"].lower() in wanted]
            out["payload"] = {"mimeType": parsed.get_content_type(), "headers": headers}
        elif fmt == "full":
            out["payload"] = self._part_resource(msg.id, parsed, "")
        return out

    def _part_resource(self, mid: str, part: Message, part_id: str) -> Json:
        res: Json = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": part.get_filename() or "",
            "headers": _headers_list(part),
        }
        if part.is_multipart():
            res["body"] = {"size": 0}
            subparts = part.get_payload()
            assert isinstance(subparts, list)
            res["parts"] = [
                self._part_resource(mid, sp, f"{part_id}.{i}" if part_id else str(i))
                for i, sp in enumerate(subparts)
            ]
        else:
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            if part.get_filename():
                res["body"] = {"attachmentId": f"att-{mid}-{part_id or 'root'}", "size": len(data)}
            else:
                res["body"] = {"size": len(data), "data": _b64url(data)}
        return res

    # routes ------------------------------------------------------------

    def _r_profile(self, *, query: Query, body: Json) -> Json:
        return {
            "emailAddress": self.user_email,
            "messagesTotal": len(self.messages),
            "threadsTotal": len({m.thread_id for m in self.messages.values()}),
            "historyId": str(self._history_id),
        }

    def _search(
        self,
        q: str | None,
        label_ids: list[str],
        include_spam_trash: bool,
        scopes_metadata_only: bool = False,
    ) -> list[StoredMessage]:
        return self._search_relative(q, label_ids, include_spam_trash)[0]

    def _search_relative(
        self, q: str | None, label_ids: list[str], include_spam_trash: bool
    ) -> tuple[list[StoredMessage], bool]:
        """(the matching messages, newest first; whether the query depends on now)."""
        started = time.perf_counter()
        msgs = list(self.messages.values())
        pred: Pred | None = None
        relative = False
        if q and q.strip():
            parser = _SearchParser(q, self.user_email, datetime.now(UTC))
            pred = parser.parse()
            relative = parser.relative
            include_spam_trash = include_spam_trash or parser.mentions_spam_trash
        out = []
        for m in msgs:
            if not include_spam_trash and ({"SPAM", "TRASH"} & set(m.label_ids)):
                continue
            if any(lab not in m.label_ids for lab in label_ids):
                continue
            if pred is not None and not pred(m):
                continue
            out.append(m)
        out.sort(key=lambda m: (m.internal_date_ms, m.id), reverse=True)
        self.search_seconds += time.perf_counter() - started
        return out, relative

    def _r_messages_list(self, *, query: Query, body: Json) -> Json:
        q = _qs1(query, "q")
        label_ids = query.get("labelIds", [])
        spam_trash = _qbool(query, "includeSpamTrash") or False
        # Every change to the mailbox records history: while the history id and
        # the message count stand still, a search answers as it did. A next page
        # reuses its query's last results rather than searching again (a large
        # mailbox would otherwise be searched once per page): the same results.
        key = (q, tuple(label_ids), spam_trash)
        state = (self._history_id, len(self.messages))
        cached = self._list_cache.get(key)
        if _qs1(query, "pageToken") and cached is not None and cached[0] == state:
            results = cached[1]
        else:
            results, relative = self._search_relative(q, label_ids, spam_trash)
            if relative:
                self._list_cache.pop(key, None)
            else:
                self._list_cache[key] = (state, results)
        return self._page(
            results, query, 100, 500, "messages", lambda m: {"id": m.id, "threadId": m.thread_id}
        )

    @staticmethod
    def _page(
        items: list[Any],
        query: Query,
        default: int,
        maximum: int,
        key: str,
        render: Callable[[Any], Json],
    ) -> Json:
        size = _qint(query, "maxResults", default, maximum)
        token = _qs1(query, "pageToken")
        offset = int(_decode_token(token)["o"]) if token else 0
        page = items[offset : offset + size]
        out: Json = {}
        if page:
            out[key] = [render(x) for x in page]
        if offset + size < len(items):
            out["nextPageToken"] = _encode_token({"o": offset + size})
        out["resultSizeEstimate"] = len(items)
        return out

    def _get_msg(self, message_id: str) -> StoredMessage:
        msg = self.messages.get(message_id)
        if msg is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        return msg

    def _r_messages_get(self, *, query: Query, body: Json, message_id: str) -> Json:
        fmt = (_qs1(query, "format") or "full").lower()
        if fmt not in ("minimal", "full", "raw", "metadata"):
            raise ApiError(400, f"Invalid format: {fmt}", "invalidArgument")
        return self._message_resource(self._get_msg(message_id), fmt, query.get("metadataHeaders"))

    def _r_attachment(self, *, query: Query, body: Json, message_id: str, att_id: str) -> Json:
        msg = self._get_msg(message_id)
        for pid, p in self._walk_ids(msg.email, ""):
            if f"att-{msg.id}-{pid or 'root'}" == att_id:
                data = p.get_payload(decode=True)
                data = data if isinstance(data, bytes) else b""
                return {"attachmentId": att_id, "size": len(data), "data": _b64url(data)}
        raise ApiError(404, "Requested entity was not found.", "notFound")

    def _walk_ids(self, part: Message, pid: str) -> Iterator[tuple[str, Message]]:
        yield pid, part
        if part.is_multipart():
            subparts = part.get_payload()
            assert isinstance(subparts, list)
            for i, sp in enumerate(subparts):
                yield from self._walk_ids(sp, f"{pid}.{i}" if pid else str(i))

    def _r_messages_modify(self, *, query: Query, body: Json, message_id: str) -> Json:
        msg = self._get_msg(message_id)
        self._modify(
            msg, list(body.get("addLabelIds") or []), list(body.get("removeLabelIds") or [])
        )
        return self._message_resource(msg, "minimal")

    def _r_messages_trash(self, *, query: Query, body: Json, message_id: str) -> Json:
        msg = self._get_msg(message_id)
        self._modify(msg, ["TRASH"], ["INBOX"])
        return self._message_resource(msg, "minimal")

    def _r_messages_delete(self, *, query: Query, body: Json, message_id: str) -> None:
        self._get_msg(message_id)
        self.delete_message(message_id)

    def _decode_raw(self, raw: Any) -> bytes:
        if not isinstance(raw, str) or not raw:
            raise ApiError(
                400,
                "'raw' RFC822 payload message string or uploading message via "
                "/upload/* URL required",
                "invalidArgument",
            )
        try:
            data = _b64url_decode(raw)
        except ValueError as exc:
            raise ApiError(400, "Invalid value for ByteString", "invalidArgument") from exc
        return data

    def _prepare_outgoing(self, data: bytes) -> bytes:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        if not any(parsed.get(h) for h in ("To", "Cc", "Bcc")):
            raise ApiError(400, "Invalid To header", "invalidArgument")
        extra = b""
        if parsed.get("From") is None:
            extra += f"From: {self.user_email}\r\n".encode()
        if parsed.get("Message-ID") is None:
            extra += f"Message-ID: <{uuid.uuid4().hex}@mail.gmail.test>\r\n".encode()
        if parsed.get("Date") is None:
            extra += ("Date: " + email.utils.format_datetime(datetime.now(UTC)) + "\r\n").encode()
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return extra + data

    def _send(self, data: bytes, thread_id: str | None) -> StoredMessage:
        data = self._prepare_outgoing(data)
        if thread_id is not None and not any(
            m.thread_id == thread_id for m in self.messages.values()
        ):
            thread_id = None
        msg = self._store(data, ["SENT"], datetime.now(UTC), thread_id)
        self.sent.append(msg)
        return msg

    def _r_messages_send(self, *, query: Query, body: Json) -> Json:
        msg = self._send(self._decode_raw(body.get("raw")), body.get("threadId"))
        return {"id": msg.id, "threadId": msg.thread_id, "labelIds": list(msg.label_ids)}

    def _r_history(self, *, query: Query, body: Json) -> Json:
        start_s = _qs1(query, "startHistoryId")
        if not start_s:
            raise ApiError(400, "Missing required parameter: startHistoryId", "invalidArgument")
        try:
            start = int(start_s)
        except ValueError as exc:
            raise ApiError(400, "Invalid startHistoryId", "invalidArgument") from exc
        if start < self._history_floor:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        types = set(query.get("historyTypes", []))
        label = _qs1(query, "labelId")
        recs = [
            r
            for r in self._history
            if r.id > start
            and (not types or r.kind in types)
            and (label is None or label in r.label_ids or label in r.changed_labels)
        ]
        page = self._page(recs, query, 100, 500, "history", self._history_resource)
        page.pop("resultSizeEstimate", None)
        page["historyId"] = str(self._history_id)
        return page

    @staticmethod
    def _history_resource(r: _HistoryRecord) -> Json:
        ref = {"id": r.message_id, "threadId": r.thread_id}
        full = {**ref, "labelIds": list(r.label_ids)}
        out: Json = {"id": str(r.id), "messages": [ref]}
        if r.kind == "messageAdded":
            out["messagesAdded"] = [{"message": full}]
        elif r.kind == "messageDeleted":
            out["messagesDeleted"] = [{"message": ref}]
        elif r.kind == "labelAdded":
            out["labelsAdded"] = [{"message": full, "labelIds": list(r.changed_labels)}]
        elif r.kind == "labelRemoved":
            out["labelsRemoved"] = [{"message": full, "labelIds": list(r.changed_labels)}]
        return out

    def _r_labels(self, *, query: Query, body: Json) -> Json:
        labels = set(_SYSTEM_LABELS) | {lab for m in self.messages.values() for lab in m.label_ids}
        return {
            "labels": [
                {"id": lab, "name": lab, "type": "system" if lab in _SYSTEM_LABELS else "user"}
                for lab in sorted(labels)
            ]
        }

    # drafts --------------------------------------------------------------

    def _draft_message(self, body: Json) -> tuple[bytes, str | None]:
        message = body.get("message")
        if not isinstance(message, dict):
            raise ApiError(400, "Missing draft message", "invalidArgument")
        return self._decode_raw(message.get("raw")), message.get("threadId")

    def _new_draft(self, data: bytes, thread_id: str | None) -> StoredDraft:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        if parsed.get("From") is None:
            data = f"From: {self.user_email}\r\n".encode() + data
        if thread_id is not None and not any(
            m.thread_id == thread_id for m in self.messages.values()
        ):
            raise ApiError(404, "Requested entity was not found.", "notFound")
        msg = self._store(
            data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
            ["DRAFT"],
            datetime.now(UTC),
            thread_id,
        )
        self._draft_counter += 1 + self._rng.randint(0, 99999)
        draft = StoredDraft(f"r{self._draft_counter}", msg)
        self.drafts[draft.id] = draft
        return draft

    @staticmethod
    def _draft_ref(d: StoredDraft) -> Json:
        return {
            "id": d.id,
            "message": {
                "id": d.message.id,
                "threadId": d.message.thread_id,
                "labelIds": list(d.message.label_ids),
            },
        }

    def _get_draft(self, draft_id: str) -> StoredDraft:
        d = self.drafts.get(draft_id)
        if d is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        return d

    def _r_drafts_create(self, *, query: Query, body: Json) -> Json:
        return self._draft_ref(self._new_draft(*self._draft_message(body)))

    def _r_drafts_list(self, *, query: Query, body: Json) -> Json:
        ids = {m.id for m in self._search(_qs1(query, "q"), [], True)}
        drafts = [d for d in self.drafts.values() if d.message.id in ids]
        drafts.sort(key=lambda d: d.message.internal_date_ms, reverse=True)
        return self._page(
            drafts,
            query,
            100,
            500,
            "drafts",
            lambda d: {
                "id": d.id,
                "message": {"id": d.message.id, "threadId": d.message.thread_id},
            },
        )

    def _r_drafts_get(self, *, query: Query, body: Json, draft_id: str) -> Json:
        d = self._get_draft(draft_id)
        fmt = (_qs1(query, "format") or "full").lower()
        return {"id": d.id, "message": self._message_resource(d.message, fmt)}

    def _r_drafts_update(self, *, query: Query, body: Json, draft_id: str) -> Json:
        old = self._get_draft(draft_id)
        data, thread_id = self._draft_message(body)
        # the new message joins the draft's thread, which its old message may alone hold
        new = self._new_draft(data, thread_id or old.message.thread_id)
        self.messages.pop(old.message.id, None)
        self._record("messageDeleted", old.message)
        del self.drafts[new.id]
        new.id = draft_id
        self.drafts[draft_id] = new
        return self._draft_ref(new)

    def _r_drafts_delete(self, *, query: Query, body: Json, draft_id: str) -> None:
        d = self.drafts.pop(self._get_draft(draft_id).id)
        if self.messages.pop(d.message.id, None) is not None:
            self._record("messageDeleted", d.message)

    def _r_drafts_send(self, *, query: Query, body: Json) -> Json:
        d = self._get_draft(str(body.get("id", "")))
        data = self._prepare_outgoing(d.message.raw)
        del self.drafts[d.id]
        msg = d.message
        msg.raw = data
        msg.internal_date = datetime.now(UTC)
        self._modify(msg, ["SENT"], ["DRAFT"])
        self.sent.append(msg)
        return {"id": msg.id, "threadId": msg.thread_id, "labelIds": list(msg.label_ids)}

    # ============================================================= Calendar

    def _resolve_cal(self, calendar_id: str) -> str:
        return self.user_email if calendar_id == "primary" else calendar_id

    def _get_cal(self, calendar_id: str) -> _Calendar:
        cal = self._calendars.get(self._resolve_cal(calendar_id))
        if cal is None:
            raise ApiError(404, "Not Found", "notFound")
        return cal

    def _touch(self, rec_data: Json) -> int:
        """New change sequence number and strictly increasing 'updated'/'etag'."""
        self._cal_seq += 1
        now = datetime.now(UTC)
        if now <= self._last_updated:
            now = self._last_updated + timedelta(milliseconds=1)
        self._last_updated = now
        rec_data["updated"] = _rfc3339(now)
        rec_data["etag"] = f'"{3_400_000_000_000_000 + self._cal_seq * 1000}"'
        return self._cal_seq

    # public ----------------------------------------------------------------

    def add_calendar(
        self,
        calendar_id: str,
        summary: str,
        *,
        time_zone: str = "UTC",
        app_created: bool = False,
        description: str = "",
    ) -> None:
        with self._lock:
            self._calendars[calendar_id] = _Calendar(
                calendar_id, summary, time_zone, False, app_created, description=description
            )

    def delete_calendar(self, calendar_id: str) -> None:
        """The user deleted this calendar (and its events)."""
        with self._lock:
            del self._calendars[self._resolve_cal(calendar_id)]

    @property
    def calendars(self) -> dict[str, Json]:
        with self._lock:
            return {cid: c.resource() for cid, c in self._calendars.items()}

    def events(self, calendar_id: str = "primary") -> dict[str, Json]:
        """A deep copy of the calendar's events (cancelled ones included), by id."""
        with self._lock:
            return {
                eid: copy.deepcopy(r.data) for eid, r in self._get_cal(calendar_id).events.items()
            }

    def put_event(self, calendar_id: str, event: Json) -> Json:
        """Create or replace an event as the user would (no id validation)."""
        with self._lock:
            cal = self._get_cal(calendar_id)
            eid = event.get("id")
            if eid and eid in cal.events:
                return copy.deepcopy(
                    self._update_event(cal, cal.events[eid], dict(event), validate=False)
                )
            return copy.deepcopy(self._create_event(cal, dict(event), validate_id=False))

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        """The user deleted the event: status cancelled, shows in incremental sync
        (a recurring event's exceptions go with it)."""
        with self._lock:
            cal = self._get_cal(calendar_id)
            self._cancel(cal, cal.events[event_id])

    def _cancel(self, cal: _Calendar, rec: _EventRec) -> None:
        for other in [rec] + [
            r
            for r in cal.events.values()
            if r.data.get("recurringEventId") == rec.data["id"]
            and r.data.get("status") != "cancelled"
        ]:
            other.data["status"] = "cancelled"
            other.seq = self._touch(other.data)

    def expire_sync_tokens(self) -> None:
        """events.list with any syncToken issued so far answers 410."""
        with self._lock:
            self._sync_generation += 1

    # helpers ---------------------------------------------------------------

    _READ_ONLY_EVENT_FIELDS = (
        "kind",
        "etag",
        "htmlLink",
        "created",
        "updated",
        "creator",
        "iCalUID",
    )

    def _validate_event(self, data: Json) -> None:
        start, end = data.get("start"), data.get("end")
        if not isinstance(start, dict) or not (start.get("dateTime") or start.get("date")):
            raise ApiError(400, "Missing start time.", "required")
        if not isinstance(end, dict) or not (end.get("dateTime") or end.get("date")):
            raise ApiError(400, "Missing end time.", "required")
        try:
            s, e = _event_time(start), _event_time(end)
        except (ValueError, KeyError) as exc:
            raise ApiError(400, "Invalid start or end time.", "invalid") from exc
        if s is not None and e is not None and e < s:
            raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")
        reminders = data.get("reminders")
        if isinstance(reminders, dict):
            overrides = reminders.get("overrides") or []
            if reminders.get("useDefault") and overrides:
                raise ApiError(
                    400,
                    "Cannot specify both default reminders and overrides at the same time.",
                    "cannotUseDefaultRemindersAndSpecifyOverride",
                )
            if len(overrides) > 5:
                raise ApiError(
                    400, "The maximum number of override reminders is 5.", "tooManyReminders"
                )
            for o in overrides:
                if o.get("method") not in ("popup", "email"):
                    raise ApiError(400, "Invalid reminder method.", "invalid")
                minutes = o.get("minutes")
                if not isinstance(minutes, int) or not 0 <= minutes <= 40320:
                    raise ApiError(400, "Invalid value for: Reminder minutes", "invalid")

    def _normalize_event(self, cal: _Calendar, data: Json) -> None:
        data.setdefault("status", "confirmed")
        data.setdefault("reminders", {"useDefault": True})
        data.setdefault("eventType", "default")
        data.setdefault("sequence", 0)
        for a in data.get("attendees") or []:
            if isinstance(a, dict):
                a.setdefault("responseStatus", "needsAction")
                if str(a.get("email", "")).lower() == self.user_email.lower():
                    a["self"] = True

    def _create_event(self, cal: _Calendar, body: Json, *, validate_id: bool) -> Json:
        eid = body.get("id")
        if eid is not None:
            if validate_id and not (isinstance(eid, str) and _BASE32HEX_ID.match(eid)):
                raise ApiError(400, "Invalid resource id value.", "invalid")
            if eid in cal.events:
                raise ApiError(409, "The requested identifier already exists.", "duplicate")
        else:
            eid = "".join(self._rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))
        self._validate_event(body)
        data: Json = {
            k: copy.deepcopy(v) for k, v in body.items() if k not in self._READ_ONLY_EVENT_FIELDS
        }
        now = datetime.now(UTC)
        organizer = (
            {"email": cal.id, "self": True}
            if cal.primary
            else {"email": cal.id, "displayName": cal.summary, "self": True}
        )
        data = {
            "kind": "calendar#event",
            "id": eid,
            "htmlLink": "https://www.google.com/calendar/event?eid="
            + _b64url(f"{eid} {cal.id}".encode()).rstrip("="),
            "created": _rfc3339(now),
            "creator": {"email": self.user_email, "self": True},
            "organizer": organizer,
            "iCalUID": f"{eid}@google.com",
            **data,
        }
        data["id"] = eid
        self._normalize_event(cal, data)
        self._event_order += 1
        rec = _EventRec(data, 0, self._event_order)
        rec.seq = self._touch(data)
        cal.events[eid] = rec
        return data

    def _update_event(self, cal: _Calendar, rec: _EventRec, body: Json, *, validate: bool) -> Json:
        old = rec.data
        keep: Json = {
            k: old[k]
            for k in (
                "kind",
                "id",
                "htmlLink",
                "created",
                "creator",
                "organizer",
                "iCalUID",
                "sequence",
            )
            if k in old
        }
        new: Json = {
            k: copy.deepcopy(v) for k, v in body.items() if k not in self._READ_ONLY_EVENT_FIELDS
        }
        new.update(keep)
        new.setdefault("organizer", old.get("organizer"))
        if validate:
            self._validate_event(new)
        if new.get("start") != old.get("start") or new.get("end") != old.get("end"):
            new["sequence"] = int(old.get("sequence", 0)) + 1
        self._normalize_event(cal, new)
        rec.data = new
        rec.seq = self._touch(new)
        return new

    @staticmethod
    def _merge(dst: Json, patch: Json) -> Json:
        for k, v in patch.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                GoogleEmulator._merge(dst[k], v)
            else:
                dst[k] = copy.deepcopy(v)
        return dst

    def _get_event(self, cal: _Calendar, event_id: str) -> _EventRec:
        rec = cal.events.get(event_id)
        if rec is None:
            raise ApiError(404, "Not Found", "notFound")
        return rec

    @staticmethod
    def _list_form(rec: _EventRec) -> Json:
        d = rec.data
        if d.get("status") == "cancelled":
            kept = ("kind", "etag", "id", "status", "updated", "recurringEventId")
            minimal = {k: d[k] for k in kept if k in d}
            if "originalStartTime" in d:
                minimal["originalStartTime"] = copy.deepcopy(d["originalStartTime"])
            return minimal
        return copy.deepcopy(d)

    def _instances(
        self, cal: _Calendar, recs: list[_EventRec], time_max: datetime | None
    ) -> list[_EventRec]:
        """What ``singleEvents=true`` lists instead of `recs`: each recurring event
        becomes its instances (see the module docstring), single events and stored
        exceptions stay as they are."""
        exceptions = {str(r.data["id"]) for r in recs if r.data.get("recurringEventId")}
        listed: list[_EventRec] = []
        for rec in recs:
            master = rec.data
            if not master.get("recurrence"):
                listed.append(rec)
                continue
            first, duration, all_day, zone = _series_start(master, cal.time_zone)
            until = time_max or max(first.replace(tzinfo=first.tzinfo or UTC), datetime.now(UTC))
            if time_max is None:
                until += EXPANSION_HORIZON
            occurrences = _occurrences(master, cal.time_zone, until)
            for sub, (original, excluded) in enumerate(occurrences, start=1):
                instance_id = f"{master['id']}_{_instance_stamp(original, all_day)}"
                if instance_id in exceptions:
                    continue
                data = copy.deepcopy(master)
                del data["recurrence"]
                data["id"] = instance_id
                data["recurringEventId"] = master["id"]
                if all_day:
                    when = {"date": original.date().isoformat()}
                    end = {"date": (original + duration).date().isoformat()}
                else:
                    when = {"dateTime": original.isoformat(), "timeZone": zone}
                    end = {"dateTime": (original + duration).isoformat(), "timeZone": zone}
                data["originalStartTime"], data["start"], data["end"] = when, dict(when), end
                if excluded:
                    data["status"] = "cancelled"
                listed.append(_EventRec(data, rec.seq, rec.order, sub))
        return listed

    # routes ----------------------------------------------------------------

    def _r_calendar_list(self, *, query: Query, body: Json) -> Json:
        items = []
        for cal in self._calendars.values():
            item = {
                **cal.resource(),
                "kind": "calendar#calendarListEntry",
                "accessRole": "owner",
                "defaultReminders": [],
            }
            if cal.primary:
                item["primary"] = True
            items.append(item)
        return {
            "kind": "calendar#calendarList",
            "etag": f'"{self._cal_seq}"',
            "nextSyncToken": _encode_token({"cl": self._cal_seq}),
            "items": items,
        }

    def _r_calendars_insert(self, *, query: Query, body: Json) -> Json:
        summary = body.get("summary")
        if not summary:
            raise ApiError(400, "Missing title.", "required")
        cid = uuid.UUID(int=self._rng.getrandbits(128)).hex + "@group.calendar.google.com"
        cal = _Calendar(cid, str(summary), str(body.get("timeZone") or "UTC"), False, True)
        cal.description = str(body.get("description") or "")
        self._calendars[cid] = cal
        return cal.resource()

    def _r_calendars_get(self, *, query: Query, body: Json, calendar_id: str) -> Json:
        return self._get_cal(calendar_id).resource()

    def _r_calendars_delete(self, *, query: Query, body: Json, calendar_id: str) -> None:
        cal = self._get_cal(calendar_id)
        if cal.primary:
            raise ApiError(400, "Cannot delete primary calendar.", "cannotDeletePrimaryCalendar")
        del self._calendars[cal.id]

    _SYNC_FORBIDDEN = (
        "iCalUID",
        "orderBy",
        "privateExtendedProperty",
        "q",
        "sharedExtendedProperty",
        "timeMin",
        "timeMax",
        "updatedMin",
    )

    def _r_events_list(self, *, query: Query, body: Json, calendar_id: str) -> Json:
        cal = self._get_cal(calendar_id)
        size = _qint(query, "maxResults", 250, 2500)
        page_token = _qs1(query, "pageToken")
        sync_token = _qs1(query, "syncToken")
        state: Json = _decode_token(page_token) if page_token else {}
        since_seq: int | None = None
        if sync_token is not None:
            bad = [p for p in self._SYNC_FORBIDDEN if p in query]
            if bad:
                raise ApiError(400, f"Sync token cannot be combined with {bad[0]}.", "invalid")
            if _qbool(query, "showDeleted") is False:
                raise ApiError(400, "showDeleted cannot be False with a syncToken.", "invalid")
            try:
                tok = _decode_token(sync_token)
                since_seq, gen, tok_cal = int(tok["s"]), int(tok["g"]), tok["c"]
            except (ApiError, KeyError, TypeError, ValueError) as exc:
                raise ApiError(400, "Invalid sync token value.", "invalid") from exc
            if gen != self._sync_generation or tok_cal != cal.id:
                raise ApiError(
                    410,
                    "Sync token is no longer valid, a full sync is required.",
                    "fullSyncRequired",
                )
        snapshot = int(state.get("snap", self._cal_seq))
        order_by = _qs1(query, "orderBy")
        if order_by == "startTime" and not _qbool(query, "singleEvents"):
            raise ApiError(
                400,
                "The requested ordering is not available for the particular query.",
                "badRequest",
            )
        show_deleted = bool(_qbool(query, "showDeleted"))
        time_min = _parse_rfc3339(v) if (v := _qs1(query, "timeMin")) else None
        time_max = _parse_rfc3339(v) if (v := _qs1(query, "timeMax")) else None
        if time_min and time_max and time_min >= time_max:
            raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")
        updated_min = _parse_rfc3339(v) if (v := _qs1(query, "updatedMin")) else None
        priv = [p.partition("=") for p in query.get("privateExtendedProperty", [])]
        shared = [p.partition("=") for p in query.get("sharedExtendedProperty", [])]
        text = (_qs1(query, "q") or "").lower()
        ical = _qs1(query, "iCalUID")

        def keep(rec: _EventRec) -> bool:
            d = rec.data
            if rec.seq > snapshot:
                return False  # changed after this listing began: next sync gets it
            if since_seq is not None:
                return rec.seq > since_seq
            cancelled = d.get("status") == "cancelled"
            if updated_min is not None:
                if _parse_rfc3339(d["updated"]) < updated_min:
                    return False
            elif cancelled and not show_deleted:
                return False
            if ical and d.get("iCalUID") != ical:
                return False
            props = d.get("extendedProperties") or {}
            for (k, _, v), kind in [(p, "private") for p in priv] + [(p, "shared") for p in shared]:
                if (props.get(kind) or {}).get(k) != v:
                    return False
            if text:
                hay = json.dumps(
                    [d.get("summary"), d.get("description"), d.get("location"), d.get("attendees")]
                ).lower()
                if text not in hay:
                    return False
            s, e = _event_time(d.get("start")), _event_time(d.get("end"))
            if time_min is not None and e is not None and e <= time_min:
                return False
            return not (time_max is not None and s is not None and s >= time_max)

        def sort_key(rec: _EventRec) -> list[Any]:
            if order_by == "startTime":
                s = _event_time(rec.data.get("start"))
                return [s.timestamp() if s else 0.0, rec.order, rec.sub]
            if order_by == "updated":
                return [rec.seq, rec.order, rec.sub]
            return [rec.order, rec.sub]

        candidates = list(cal.events.values())
        if _qbool(query, "singleEvents"):
            candidates = self._instances(cal, candidates, time_max)
        recs = sorted((r for r in candidates if keep(r)), key=sort_key)
        after = state.get("after")
        if after is not None:
            recs = [r for r in recs if sort_key(r) > after]
        page = recs[:size]
        out: Json = {
            "kind": "calendar#events",
            "etag": f'"{snapshot}"',
            "summary": cal.summary,
            "updated": _rfc3339(self._last_updated),
            "timeZone": cal.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [self._list_form(r) for r in page],
        }
        if len(recs) > size:
            out["nextPageToken"] = _encode_token({"snap": snapshot, "after": sort_key(page[-1])})
        else:
            out["nextSyncToken"] = _encode_token(
                {"s": snapshot, "g": self._sync_generation, "c": cal.id}
            )
        return out

    def _r_events_insert(self, *, query: Query, body: Json, calendar_id: str) -> Json:
        cal = self._get_cal(calendar_id)
        return copy.deepcopy(self._create_event(cal, body, validate_id=True))

    def _r_events_get(self, *, query: Query, body: Json, calendar_id: str, event_id: str) -> Json:
        return copy.deepcopy(self._get_event(self._get_cal(calendar_id), event_id).data)

    def _r_events_update(
        self, *, query: Query, body: Json, calendar_id: str, event_id: str
    ) -> Json:
        cal = self._get_cal(calendar_id)
        rec = self._get_event(cal, event_id)
        return copy.deepcopy(self._update_event(cal, rec, body, validate=True))

    def _r_events_patch(self, *, query: Query, body: Json, calendar_id: str, event_id: str) -> Json:
        cal = self._get_cal(calendar_id)
        rec = self._get_event(cal, event_id)
        merged = self._merge(copy.deepcopy(rec.data), body)
        return copy.deepcopy(self._update_event(cal, rec, merged, validate=True))

    def _r_events_delete(
        self, *, query: Query, body: Json, calendar_id: str, event_id: str
    ) -> None:
        cal = self._get_cal(calendar_id)
        rec = self._get_event(cal, event_id)
        if rec.data.get("status") == "cancelled":
            raise ApiError(410, "Resource has been deleted", "deleted")
        self._cancel(cal, rec)

    #: Called on every API call (a batch part too) with its method name, path?query and
    #: "before" (a True answer drops the call unperformed, with a 503) or "after" (the
    #: call was carried out): where the crash tests kill pursuit.
    call_hook: Callable[[str, str, str], bool] | None = None
