"""A local emulator of Microsoft's identity platform (the v2.0 endpoints msal uses for
the device-code flow and refresh-token grants) and of the Microsoft Graph v1.0
calendar API, for tests.

The real msal and requests talk to it over HTTPS (msal refuses an http authority):
a self-signed certificate for 127.0.0.1 (support/tlscert.py) that the tests trust
through ``REQUESTS_CA_BUNDLE`` (``emu.env()``). Pure stdlib server
(``ThreadingHTTPServer``), so concurrent requests really overlap::

    with GraphEmulator() as emu:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
        app = msal.PublicClientApplication(
            emu.client_id, authority=f"{emu.login_endpoint}/common",
            instance_discovery=False, token_cache=msal.SerializableTokenCache())
        flow = app.initiate_device_flow(list(GRAPH_SCOPES))
        result = app.acquire_token_by_device_flow(flow)   # auto_approve: at once
        requests.get(emu.graph_endpoint + "me/calendars",
                     headers={"Authorization": "Bearer " + result["access_token"]})

What it follows (learn.microsoft.com: "OAuth 2.0 device authorization grant",
"Refresh tokens", "AADSTS error codes", "event: delta", "Get incremental changes to
events in a calendar view", "Microsoft Graph throttling", "Microsoft Graph error
responses"):

* ``/{tenant}/v2.0/.well-known/openid-configuration``, ``/{tenant}/oauth2/v2.0/devicecode``
  and ``/{tenant}/oauth2/v2.0/token`` (grant types device_code and refresh_token).
  Errors as the identity platform writes them: ``{"error", "error_description":
  "AADSTSnnnnn: ...", "error_codes": [n], "timestamp", "trace_id", "correlation_id"}``
  (authorization_pending 70016, authorization_declined 70000, expired_token 70020,
  invalid_grant 700082 for a refresh token unused for 90 days, invalid_grant 65001 with
  suberror consent_required for scopes never consented, invalid_scope 28000 for scopes
  of two resources in one request, unauthorized_client 700016 for an unknown app).
  One access token is for one resource (Graph or outlook.office.com). Refresh tokens
  rotate: each grant answers a new one (the old one stays usable, as Microsoft's do,
  unless ``retire_used_refresh_tokens``). The id_token is a JWT msal decodes without
  checking its signature; ``client_info`` is base64url JSON {uid, utid}.
* Graph ``/v1.0/me`` (and ``/users/{the user}``): ``GET /me``; calendars (list with
  ``$top`` and ``@odata.nextLink``, get, create, patch, delete, ``/me/calendar``);
  events (list with ``$top`` default 10, ``$filter`` on a singleValueExtendedProperty,
  ``$expand=singleValueExtendedProperties($filter=id eq '...')``; create with
  ``transactionId`` making a retried POST answer the event it created; get, patch,
  delete; ``Prefer: outlook.timezone`` and ``outlook.body-content-type="text"``); the
  calendarView (``/me/calendarView``, ``/me/calendars/{id}/calendarView``) and its
  delta with ``Prefer: odata.maxpagesize``, ``$skiptoken`` pages and a ``$deltatoken``
  link; ``POST /me/sendMail`` (202, needs Mail.Send) in JSON (kept in ``sent``) or as
  MIME (base64 with Content-Type text/plain, kept in ``sent_mime``): a MIME message
  from anyone but the user is 403 ErrorSendAsDenied, one that is not base64 400; with
  ``deliver`` set, Exchange's copy goes to "Sent" and, addressed to the user, the
  message to "INBOX" (the folder and the raw message: Dovecot's append, say).
* Graph errors ``{"error": {"code", "message", "innerError": {"date", "request-id",
  "client-request-id"}}}``: 401 InvalidAuthenticationToken, 403 ErrorAccessDenied,
  404 ErrorItemNotFound, 409 ErrorFolderExists, 410 SyncStateNotFound (an expired delta
  or skip token), 429 with ``Retry-After`` (ApplicationThrottled; over 4 requests of the
  mailbox in flight: "Application is over its MailboxConcurrency limit."), 503/504.
* Times come back in UTC (``"2026-12-04T09:00:00.0000000"``, ``"UTC"``) unless the
  request prefers a zone (IANA or Windows name). Bodies written as text are kept as
  Exchange keeps them, HTML, and given back as HTML unless text is preferred.
* Recurring events: a series master (``recurrence`` of Graph's patterns, or an
  invitation's RRULE/EXDATE) is expanded in the calendarView into instances of type
  ``occurrence`` (or ``exception`` once changed), each with its own id,
  ``seriesMasterId`` and ``originalStart``; the master itself is not in the view. An
  occurrence's id is stable (the master's id and the original start), so a PATCH or
  DELETE of an instance makes an exception or takes it out.
* An event in the view overlaps the window (start < window end, end > window start).
  A delta round after changes gives each changed or new instance whole and each one
  gone (deleted, moved out of the window, its calendar item removed) as
  ``{"id", "@removed": {"reason": "deleted"}}``.

* ``import_ics``: an invitation as Exchange shows it on the calendar: the organizer
  apart from the attendees (typed required, optional or resource), the Teams link of
  ``X-MICROSOFT-SKYPETEAMSMEETINGURL`` as ``onlineMeeting.joinUrl``, the TZID the
  sender used as ``originalStartTimeZone`` (``tzone://Microsoft/Custom`` for a zone of
  the sender's own making), overrides as exceptions; a cancellation (METHOD:CANCEL,
  STATUS:CANCELLED) keeps the item, ``isCancelled`` and "Canceled: " before its
  subject, until the user removes it (``cancel_event(..., remove=True)``).

Not emulated: JSON batching ($batch), subscriptions/webhooks, the beta delta without
a window, $select/$orderby (accepted, ignored), attachments, mail folders and messages
(a sent message is only handed to ``deliver``; JSON ones are not delivered),
free/busy, the 10,000 requests per 10 minutes budget (``throttle()`` stands for it),
group calendars, shared calendars, meeting responses (accept/decline/forward); the
iCalUId of an imported invitation is its UID (Exchange writes a GlobalObjectId).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import email
import email.policy
import email.utils
import html
import json
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from support.tlscert import self_signed_cert

__all__ = ["CONSUMERS_TENANT", "GRAPH", "OUTLOOK", "GraphEmulator"]

Json = dict[str, Any]

GRAPH = "https://graph.microsoft.com"
OUTLOOK = "https://outlook.office.com"
#: The tenant of every personal Microsoft account (Outlook.com, Hotmail, Live).
CONSUMERS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
#: Scopes every request may carry that name no resource.
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
#: Outlook's limit of requests of one app in flight on one mailbox.
MAILBOX_CONCURRENCY = 4
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_FAULT_ERRORS = {
    429: ("TooManyRequests", "Please retry again later."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry."),
    504: ("UnknownError", "The request timed out."),
    500: ("UnknownError", ""),
}


# --------------------------------------------------------------------------- helpers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(claims: Json) -> str:
    """A JWT msal decodes; its signature is never checked by a public client."""
    header = {"typ": "JWT", "alg": "RS256", "kid": "graph-emulator"}
    return ".".join(
        [
            _b64url(json.dumps(header).encode()),
            _b64url(json.dumps(claims).encode()),
            _b64url(secrets.token_bytes(32)),
        ]
    )


def _outlook_id(raw: bytes) -> str:
    """An id shaped as Exchange's REST ids are: base64 (url-safe), "AAMkA..." with padding."""
    return base64.urlsafe_b64encode(b"\x00\x03\x24" + raw).decode()


def _windows_zones() -> dict[str, str]:
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    return dict(WINDOWS_TO_OLSON)


_WINDOWS_TO_IANA = _windows_zones()
#: Windows names of a few IANA zones, for a zone given back in a Windows name.
_IANA_TO_WINDOWS = {iana: win for win, iana in reversed(list(_WINDOWS_TO_IANA.items()))}


def zone_named(name: str | None) -> tzinfo | None:
    """The zone a Graph ``timeZone`` names: "UTC", an IANA name or a Windows name."""
    if not name or name.upper() in ("UTC", "COORDINATED UNIVERSAL TIME", "ETC/UTC"):
        return UTC
    iana = _WINDOWS_TO_IANA.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_FRACTION = re.compile(r"(\.\d+)")


def parse_datetime_tz(value: Any, *, field_name: str) -> tuple[datetime, str]:
    """(aware instant, the zone's name as given) of a Graph dateTimeTimeZone."""
    if not isinstance(value, dict) or "dateTime" not in value:
        raise GraphError(400, "ErrorInvalidRequest", f"The property '{field_name}' is required.")
    zone_name = str(value.get("timeZone") or "UTC")
    zone = zone_named(zone_name)
    if zone is None:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. "
            f"The following TimeZone value is not supported: '{zone_name}'.",
        )
    text = _FRACTION.sub("", str(value["dateTime"])).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise GraphError(
            400, "UnableToDeserializePostBody", f"Cannot convert '{value['dateTime']}' to a date."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC), zone_name


def _graph_time(instant: datetime, zone: tzinfo, zone_name: str) -> Json:
    local = instant.astimezone(zone)
    return {"dateTime": f"{local:%Y-%m-%dT%H:%M:%S}.0000000", "timeZone": zone_name}


def _iso_z(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def _iso_offset(instant: datetime) -> str:
    """DateTimeOffset as Graph writes originalStart: "2026-12-04T09:00:00Z"."""
    return _iso_z(instant)


def _parse_instant(text: str, *, name: str) -> datetime:
    """A query parameter's date-time (startDateTime=...): with an offset, or UTC."""
    cleaned = _FRACTION.sub("", text.strip()).replace("Z", "+00:00").replace(" ", "+")
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{text}' of parameter '{name}' is invalid."
        ) from None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)


def text_to_html(text: str) -> str:
    """A plain-text body as Exchange stores it."""
    lines = "".join(f"<div>{html.escape(line) or '<br>'}</div>" for line in text.split("\n"))
    return (
        '<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
        f"</head><body>{lines}</body></html>"
    )


_TAG = re.compile(r"<[^>]+>")


def html_to_text(markup: str) -> str:
    """The text Exchange gives back for an HTML body (its own conversion, roughly)."""
    body = re.sub(r"(?is)<head.*?</head>", "", markup)
    body = re.sub(r"(?i)<br\s*/?>", "\n", body)
    body = re.sub(r"(?i)</(div|p|tr|li|h\d)>", "\n", body)
    text = html.unescape(_TAG.sub("", body))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _preview(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:255]


class GraphError(Exception):
    """An error Graph answers: the status, its code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        inner: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.inner = dict(inner or {})


class _Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


def _json(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> _Response:
    hdrs = {"Content-Type": "application/json; odata.metadata=minimal; charset=utf-8"}
    hdrs.update(headers or {})
    return _Response(status, hdrs, json.dumps(obj).encode())


# --------------------------------------------------------------------------- model


@dataclass
class _DeviceCode:
    device_code: str
    user_code: str
    scopes: tuple[str, ...]
    expires_at: float
    state: str = "pending"  # pending, approved, declined, redeemed


@dataclass
class _AccessToken:
    resource: str
    scopes: frozenset[str]  # the scope names without their resource ("Calendars.ReadWrite")
    expires_at: float
    valid: bool = True


@dataclass
class _RefreshToken:
    issued_at: float
    valid: bool = True
    expired: bool = False  # unused for 90 days: AADSTS700082
    retired: bool = False  # used once while retire_used_refresh_tokens


@dataclass
class _Calendar:
    id: str
    name: str
    is_default: bool = False
    change_key: str = ""
    color: str = "auto"


@dataclass
class _Event:
    """One calendar item: a single event, a series master, or an exception of a series."""

    id: str
    calendar_id: str
    fields: Json  # the Graph properties other than the times and the bookkeeping below
    start: datetime  # UTC; an all-day event's midnight, floating, held as UTC midnight
    end: datetime
    all_day: bool
    start_zone: str  # originalStartTimeZone, as given
    end_zone: str
    created: datetime
    modified: datetime
    change_key: str
    kind: str = "singleInstance"  # singleInstance, seriesMaster, exception
    # a series master: its rule (RFC 5545 lines, in the start's zone) and the
    # original starts of its deleted occurrences
    rule: list[str] = field(default_factory=list)
    rule_zone: tzinfo | None = None  # the wall clock the rule runs on (start_zone's else)
    # the occurrences' version: changed by an edit of the series, not by an instance
    # deleted or made an exception
    series_version: str = ""
    deleted_occurrences: set[datetime] = field(default_factory=set)
    # an exception: its series and the start it replaces
    master_id: str | None = None
    original_start: datetime | None = None


@dataclass
class _Instance:
    """One item of a calendar view: a single event, an occurrence or an exception."""

    id: str
    version: str
    resource: Any  # a callable giving the JSON, so a view is cheap to compare


@dataclass
class _DeltaState:
    calendar_id: str
    start: datetime
    end: datetime
    path: str  # the delta function's path as the client called it
    seen: dict[str, str]  # instance id -> version the client holds
    generation: int


@dataclass
class _Round:
    state: _DeltaState  # the state the round's deltaLink will stand for
    items: list[Json]
    generation: int


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    emulator: GraphEmulator
    tls: ssl.SSLContext | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        if self.server.tls is not None:
            # the handshake in this thread, not the one accepting connections
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()
        self.server.emulator._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, add=False)

    def _answer(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            prefer = ", ".join(self.headers.get_all("Prefer") or [])
            if prefer:
                headers["prefer"] = prefer
            emu = self.server.emulator
            if self.server.tls is None:
                resp = emu._handle_introspection(self.command, self.path, body)
                self._write(resp)
            else:
                emu._handle(self.command, self.path, headers, body, self._write)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _write(self, resp: _Response) -> None:
        self.send_response(resp.status, _REASONS.get(resp.status))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body:
            self.wfile.write(resp.body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GraphEmulator:
    """Microsoft's identity platform and Graph's calendar API on 127.0.0.1 (see module doc)."""

    def __init__(
        self,
        *,
        user: str = "me@contoso.test",
        name: str = "Sam Seeker",
        tenant_id: str = "72f988bf-0000-4000-8000-2d7cd011db47",
        client_id: str = "11111111-2222-3333-4444-555555555555",
        personal: bool = False,
        consent_all: bool = True,
        page_size: int = 50,
    ) -> None:
        self.user = user
        self.name = name
        self.personal = personal
        self.tenant_id = CONSUMERS_TENANT if personal else tenant_id
        self.client_id = client_id
        #: True: every scope asked for is consented; False: only a device flow's scopes are
        self.consent_all = consent_all
        self.page_size = page_size
        self.object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-emulator:{user}"))
        # sign-in
        self.auto_approve = True
        #: False: the app registration leaves "Allow public client flows" off, so a device
        #: code is refused at the token endpoint (AADSTS7000218).
        self.public_client_flows = True
        #: the lifetime the device-code answer announces, and the one it really has
        #: (Microsoft was seen to expire codes after 300 s although it said 900 s)
        self.device_code_expires_in = 900
        self.device_code_lifetime = 900.0
        #: seconds between polls the answer asks for (Microsoft says 5: 1 keeps tests quick)
        self.device_code_interval = 1
        self.access_token_lifetime = 3599
        self.retire_used_refresh_tokens = False
        self._device_codes: dict[str, _DeviceCode] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._consented: set[str] = set()  # full scope URIs
        self.refresh_tokens_issued: list[str] = []
        self.token_requests: list[str] = []  # grant_type of each token request
        # throttling and observation
        self.latency = 0.0
        self.max_concurrent = 0
        self._in_flight = 0
        self.concurrency_refusals = 0
        self._throttles: list[tuple[int, int]] = []  # (status, retry_after), one per request
        self.requests: list[tuple[str, str]] = []
        self.sent: list[Json] = []  # sendMail's JSON bodies
        self.sent_mime: list[bytes] = []  # sendMail's MIME messages, decoded
        #: Where a sent message lands in the user's mailbox: called with the folder
        #: ("Sent" for Exchange's copy, "INBOX" when sent to the user) and the message.
        self.deliver: Callable[[str, bytes], None] | None = None
        # calendars
        self._lock = threading.RLock()
        self._serial = 0
        self._calendars: dict[str, _Calendar] = {}
        self._events: dict[str, _Event] = {}
        self._delta_generation = 0
        self._delta_states: dict[str, _DeltaState] = {}
        self._rounds: dict[str, _Round] = {}
        self.default_calendar_id = self._new_calendar("Calendar", default=True).id
        # servers
        self._dir = Path(tempfile.mkdtemp(prefix="graph-emulator-"))
        cert, key = self_signed_cert(self._dir)
        self.ca_file: Path = cert
        self._key_file = key
        self._server: _Server | None = None
        self._intro_server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self.login_endpoint = ""
        self.graph_endpoint = ""
        self.introspection_url = ""

    # ------------------------------------------------------------ lifecycle

    def start(self) -> GraphEmulator:
        if self._server is not None:
            return self
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(self.ca_file), str(self._key_file))
        server = _Server(("127.0.0.1", 0), _Handler)
        server.emulator, server.tls = self, tls
        intro = _Server(("127.0.0.1", 0), _Handler)
        intro.emulator = self
        self._server, self._intro_server = server, intro
        port, intro_port = server.server_address[1], intro.server_address[1]
        self.login_endpoint = f"https://127.0.0.1:{port}"
        self.graph_endpoint = f"https://127.0.0.1:{port}/v1.0/"
        self.introspection_url = f"http://127.0.0.1:{intro_port}/introspect"
        for srv, label in ((server, "graph"), (intro, "introspect")):
            thread = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"graph-emulator-{label}-{srv.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        servers = [s for s in (self._server, self._intro_server) if s is not None]
        self._server = self._intro_server = None
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def env(self) -> dict[str, str]:
        """The environment a client needs to trust the emulator's certificate."""
        return {"REQUESTS_CA_BUNDLE": str(self.ca_file)}

    def authority(self, tenant: str = "common") -> str:
        return f"{self.login_endpoint}/{tenant}"

    # ------------------------------------------------------------ sign-in controls

    def approve(self, user_code: str | None = None) -> None:
        """The user enters the code (the latest one if none is named) and consents."""
        self._settle(user_code, "approved")

    def decline(self, user_code: str | None = None) -> None:
        """The user refuses on the sign-in page."""
        self._settle(user_code, "declined")

    def _settle(self, user_code: str | None, state: str) -> None:
        with self._lock:
            codes = [c for c in self._device_codes.values() if c.state == "pending"]
            if user_code is not None:
                codes = [c for c in codes if c.user_code == user_code]
            if not codes:
                raise LookupError(f"no pending device code {user_code or ''}".strip())
            code = codes[-1]
            code.state = state

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            return [c.user_code for c in self._device_codes.values() if c.state == "pending"]

    def expire_refresh_tokens(self) -> None:
        """Every refresh token issued so far went 90 days unused: AADSTS700082."""
        with self._lock:
            for token in self._refresh.values():
                token.expired = True

    def revoke(self) -> None:
        """The user (or an admin) withdrew the app's consent: every token is refused."""
        with self._lock:
            self._consented.clear()
            for rt in self._refresh.values():
                rt.valid = False
            for at in self._access.values():
                at.valid = False

    def expire_access_tokens(self) -> None:
        """The access tokens issued so far are refused (401 InvalidAuthenticationToken).
        msal's cache still holds them as valid: a client must ask for a new one
        (``acquire_token_silent_with_error(..., force_refresh=True)``)."""
        with self._lock:
            for at in self._access.values():
                at.expires_at = 0.0

    def mail_token_valid(self, token: str) -> bool:
        """Is this a live access token for IMAP/SMTP (outlook.office.com)?"""
        with self._lock:
            at = self._access.get(token)
            return bool(
                at is not None
                and at.valid
                and at.resource == OUTLOOK
                and at.expires_at > time.time()
            )

    @property
    def consented_scopes(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._consented)

    # ------------------------------------------------------------ throttling controls

    def throttle(self, count: int, retry_after: int = 1, status: int = 429) -> None:
        """The next `count` Graph requests answer `status` with Retry-After: `retry_after`."""
        with self._lock:
            self._throttles.extend([(status, retry_after)] * count)

    def graph_requests(self, method: str | None = None, contains: str = "") -> int:
        """How many Graph requests (of this method, whose path contains this) were made."""
        with self._lock:
            return sum(
                1 for m, p in self.requests if (method is None or m == method) and contains in p
            )

    # ------------------------------------------------------------ HTTP entry

    def _handle(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        body: bytes,
        write: Any,
    ) -> None:
        path = urllib.parse.urlsplit(raw_path).path
        if path.startswith("/v1.0/"):
            self._handle_graph(method, raw_path, headers, body, write)
            return
        try:
            resp = self._handle_login(method, raw_path, body)
        except Exception as exc:  # an emulator bug must show, not hang the client
            resp = _json(500, {"error": "server_error", "error_description": repr(exc)})
        write(resp)

    # ------------------------------------------------------------ identity platform

    def _tenant_known(self, tenant: str) -> bool:
        if tenant in ("common", "organizations", "consumers"):
            return True
        return tenant.lower() in (self.tenant_id, self.user.split("@")[-1].lower())

    def _login_error(
        self,
        status: int,
        error: str,
        code: int,
        description: str,
        suberror: str | None = None,
    ) -> _Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z"
        obj: Json = {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
        }
        if suberror:
            obj["suberror"] = suberror
        return _json(status, obj)

    def _handle_login(self, method: str, raw_path: str, body: bytes) -> _Response:
        parts = [p for p in urllib.parse.urlsplit(raw_path).path.split("/") if p]
        if not parts:
            return _json(404, {"error": "not_found"})
        tenant, rest = parts[0], "/".join(parts[1:])
        if not self._tenant_known(tenant):
            return self._login_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
        if method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            return _json(200, self._openid_configuration(tenant))
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if method == "POST" and rest == "oauth2/v2.0/devicecode":
            return self._devicecode(tenant, form)
        if method == "POST" and rest == "oauth2/v2.0/token":
            with self._lock:
                self.token_requests.append(form.get("grant_type", ""))
            return self._token(tenant, form)
        return _json(404, {"error": "not_found"})

    def _openid_configuration(self, tenant: str) -> Json:
        base = f"{self.login_endpoint}/{tenant}"
        issuer_tenant = (
            "{tenantid}" if tenant in ("common", "organizations", "consumers") else self.tenant_id
        )
        if tenant == "consumers":
            issuer_tenant = CONSUMERS_TENANT
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.login_endpoint}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "name", "oid", "tid"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": None if self.personal else "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    @staticmethod
    def _resource_of(scope: str) -> str:
        if "://" in scope:
            return scope.rsplit("/", 1)[0]
        return GRAPH  # a bare scope ("User.Read") is Graph's

    @staticmethod
    def _full_scope(scope: str) -> str:
        return scope if "://" in scope else f"{GRAPH}/{scope}"

    def _resource_scopes(self, scope_text: str) -> tuple[str | None, list[str], _Response | None]:
        """(resource, full scopes, error) of a request's scope parameter."""
        scopes = [s for s in scope_text.split() if s.lower() not in OIDC_SCOPES]
        full = [self._full_scope(s) for s in scopes]
        resources = {self._resource_of(s) for s in full}
        if len(resources) > 1:
            return (
                None,
                full,
                self._login_error(
                    400,
                    "invalid_scope",
                    28000,
                    "Provided value for the input parameter scope is not valid because it "
                    "contains more than one resource. Scope "
                    f"{scope_text} is not valid.",
                ),
            )
        return (resources.pop() if resources else GRAPH), full, None

    def _client_error(self, form: Mapping[str, str]) -> _Response | None:
        if form.get("client_id") == self.client_id:
            return None
        return self._login_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id', '')}' was not found in the "
            f"directory '{self.tenant_id}'. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any user in the "
            "tenant. You may have sent your authentication request to the wrong tenant.",
        )

    def _tenant_mismatch(self, tenant: str) -> _Response | None:
        if tenant == "consumers" and not self.personal:
            return self._login_error(
                400,
                "invalid_request",
                50020,
                f"User account '{self.user}' from identity provider "
                f"'https://sts.windows.net/{self.tenant_id}/' does not exist in tenant "
                "'Microsoft Services' and cannot access the application in that tenant.",
            )
        if tenant == "organizations" and self.personal:
            return self._login_error(
                400,
                "invalid_request",
                50020,
                f"User account '{self.user}' from identity provider 'live.com' does not exist "
                "in tenant 'organizations' and cannot access the application in that tenant: "
                "a personal Microsoft account signs in with the 'consumers' or 'common' authority.",
            )
        return None

    def _devicecode(self, tenant: str, form: Mapping[str, str]) -> _Response:
        error = self._client_error(form)
        if error is not None:
            return error
        _, full, error = self._resource_scopes(form.get("scope", ""))
        if error is not None:
            return error
        user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        device_code = "DAQABIQEAAAD" + _b64url(secrets.token_bytes(96))
        with self._lock:
            self._device_codes[device_code] = _DeviceCode(
                device_code,
                user_code,
                tuple(full),
                time.monotonic() + self.device_code_lifetime,
            )
        url = "https://microsoft.com/devicelogin"
        return _json(
            200,
            {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": url,
                "expires_in": self.device_code_expires_in,
                "interval": self.device_code_interval,
                "message": f"To sign in, use a web browser to open the page {url} and enter "
                f"the code {user_code} to authenticate.",
            },
        )

    def _token(self, tenant: str, form: Mapping[str, str]) -> _Response:
        error = self._client_error(form)
        if error is not None:
            return error
        grant = form.get("grant_type", "")
        if grant == DEVICE_CODE_GRANT:
            return self._token_by_device_code(tenant, form)
        if grant == "refresh_token":
            return self._token_by_refresh(tenant, form)
        return self._login_error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
        )

    def _token_by_device_code(self, tenant: str, form: Mapping[str, str]) -> _Response:
        if not self.public_client_flows:
            return self._login_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        with self._lock:
            code = self._device_codes.get(form.get("device_code", ""))
            if code is None:
                return self._login_error(
                    400,
                    "invalid_grant",
                    70000,
                    "Provided grant is invalid or malformed.",
                )
            if code.state == "pending" and time.monotonic() > code.expires_at:
                code.state = "expired"
            if code.state == "pending" and self.auto_approve:
                code.state = "approved"
            if code.state == "pending":
                return self._login_error(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            if code.state == "declined":
                return self._login_error(
                    400,
                    "authorization_declined",
                    70000,
                    "The user has declined to authorize the application.",
                )
            if code.state in ("expired", "redeemed"):
                return self._login_error(
                    400,
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. "
                    "This device code has expired.",
                )
            mismatch = self._tenant_mismatch(tenant)
            if mismatch is not None:
                return mismatch
            code.state = "redeemed"
            self._consented.update(code.scopes)
            resource = self._resource_of(code.scopes[0]) if code.scopes else GRAPH
            return _json(200, self._issue(tenant, resource, list(code.scopes)))

    def _token_by_refresh(self, tenant: str, form: Mapping[str, str]) -> _Response:
        with self._lock:
            rt = self._refresh.get(form.get("refresh_token", ""))
            if rt is None or not rt.valid:
                return self._login_error(
                    400,
                    "invalid_grant",
                    65001,
                    f"The user or administrator has not consented to use the application with "
                    f"ID '{self.client_id}' named 'pursuit'. Send an interactive authorization "
                    "request for this user and resource.",
                    suberror="consent_required",
                )
            if rt.expired:
                issued = datetime.now(UTC) - timedelta(days=90)
                return self._login_error(
                    400,
                    "invalid_grant",
                    700082,
                    "The refresh token has expired due to inactivity. The token was issued on "
                    f"{issued:%Y-%m-%dT%H:%M:%S.%f}Z and was inactive for 90.00:00:00.",
                )
            if rt.retired:
                return self._login_error(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity. Send a new interactive authorization request for this user "
                    "and resource.",
                )
            resource, full, error = self._resource_scopes(form.get("scope", ""))
            if error is not None:
                return error
            assert resource is not None
            missing = [s for s in full if s not in self._consented]
            if missing and not self.consent_all:
                return self._login_error(
                    400,
                    "invalid_grant",
                    65001,
                    f"The user or administrator has not consented to use the application with "
                    f"ID '{self.client_id}' named 'pursuit'. Send an interactive authorization "
                    "request for this user and resource.",
                    suberror="consent_required",
                )
            self._consented.update(full)
            if self.retire_used_refresh_tokens:
                rt.retired = True
            return _json(200, self._issue(tenant, resource, full))

    def _issue(self, tenant: str, resource: str, scopes: list[str]) -> Json:
        now = int(time.time())
        names = frozenset(s.rsplit("/", 1)[-1] for s in scopes)
        access = _jwt(
            {
                "aud": "00000003-0000-0000-c000-000000000000" if resource == GRAPH else resource,
                "iss": f"https://sts.windows.net/{self.tenant_id}/",
                "iat": now,
                "nbf": now,
                "exp": now + self.access_token_lifetime,
                "scp": " ".join(sorted(names)),
                "upn": self.user,
                "oid": self.object_id,
                "tid": self.tenant_id,
                "uti": _b64url(secrets.token_bytes(16)),
            }
        )
        refresh = "1.AQ" + _b64url(secrets.token_bytes(120))
        self._access[access] = _AccessToken(resource, names, now + self.access_token_lifetime)
        self._refresh[refresh] = _RefreshToken(issued_at=now)
        self.refresh_tokens_issued.append(refresh)
        id_token = _jwt(
            {
                "aud": self.client_id,
                "iss": f"{self.login_endpoint}/{self.tenant_id}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": self.name,
                "oid": self.object_id,
                "preferred_username": self.user,
                "rh": "0.emulator.",
                "sub": _b64url(self.object_id.encode())[:43],
                "tid": self.tenant_id,
                "uti": _b64url(secrets.token_bytes(16)),
                "ver": "2.0",
            }
        )
        client_info = _b64url(json.dumps({"uid": self.object_id, "utid": self.tenant_id}).encode())
        return {
            "token_type": "Bearer",
            # the OpenID scopes are listed for Graph's tokens only (msal's own notes)
            "scope": " ".join(
                [*scopes, *(["openid", "profile", "email"] if resource == GRAPH else [])]
            ),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info,
        }

    # ------------------------------------------------------------ introspection (RFC 7662)

    def _handle_introspection(self, method: str, raw_path: str, body: bytes) -> _Response:
        if method != "POST" or urllib.parse.urlsplit(raw_path).path != "/introspect":
            return _json(404, {"error": "not_found"})
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        token = form.get("token", "")
        with self._lock:
            at = self._access.get(token)
            live = self.mail_token_valid(token)
            if not live or at is None:
                return _json(200, {"active": False})
            return _json(
                200,
                {
                    "active": True,
                    "username": self.user,
                    "scope": " ".join(sorted(f"{OUTLOOK}/{s}" for s in at.scopes)),
                    "client_id": self.client_id,
                    "token_type": "Bearer",
                    "exp": int(at.expires_at),
                },
            )

    # ------------------------------------------------------------ Graph entry

    def _graph_error(self, err: GraphError) -> _Response:
        request_id = str(uuid.uuid4())
        headers = {"request-id": request_id, "client-request-id": request_id, **err.headers}
        return _json(
            err.status,
            {
                "error": {
                    "code": err.code,
                    "message": err.message,
                    "innerError": {
                        "date": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}",
                        "request-id": request_id,
                        "client-request-id": request_id,
                        **err.inner,
                    },
                }
            },
            headers,
        )

    def _handle_graph(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        body: bytes,
        write: Any,
    ) -> None:
        split = urllib.parse.urlsplit(raw_path)
        with self._lock:
            self.requests.append((method, split.path))
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
            over = self._in_flight > MAILBOX_CONCURRENCY
            throttle = self._throttles.pop(0) if self._throttles and not over else None
        try:
            if over:
                with self._lock:
                    self.concurrency_refusals += 1
                resp = self._graph_error(
                    GraphError(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        {"Retry-After": "1"},
                    )
                )
            elif throttle is not None:
                status, retry_after = throttle
                code, message = _FAULT_ERRORS.get(status, ("UnknownError", ""))
                inner = (
                    {"code": "429", "message": "Please retry after", "status": "429"}
                    if status == 429
                    else {}
                )
                resp = self._graph_error(
                    GraphError(status, code, message, {"Retry-After": str(retry_after)}, inner)
                )
            else:
                if self.latency:
                    time.sleep(self.latency)
                try:
                    resp = self._graph(method, split, headers, body)
                except GraphError as err:
                    resp = self._graph_error(err)
                except Exception as exc:  # an emulator bug must show, not hang the client
                    resp = self._graph_error(GraphError(500, "UnknownError", repr(exc)))
            write(resp)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _authenticate(self, headers: Mapping[str, str]) -> _AccessToken:
        auth = headers.get("authorization", "")
        www = {
            "WWW-Authenticate": 'Bearer realm="", authorization_uri='
            '"https://login.microsoftonline.com/common/oauth2/authorize", '
            'client_id="00000003-0000-0000-c000-000000000000"'
        }
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", www)
        token = auth[7:].strip()
        at = self._access.get(token)
        if at is None:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed, there are no dots (.).",
                www,
            )
        if at.resource != GRAPH:
            raise GraphError(401, "InvalidAuthenticationToken", "Invalid audience.", www)
        if not at.valid or at.expires_at <= time.time():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                www,
            )
        return at

    @staticmethod
    def _require(at: _AccessToken, *allowed: str) -> None:
        if not at.scopes & set(allowed):
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    def _graph(
        self,
        method: str,
        split: urllib.parse.SplitResult,
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        path = urllib.parse.unquote(split.path[len("/v1.0/") :]).rstrip("/")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
        prefer = _prefer(headers.get("prefer", ""))
        with self._lock:
            at = self._authenticate(headers)
            segments = path.split("/")
            if segments[0] == "users" and len(segments) >= 2:
                if segments[1].lower() not in (self.user.lower(), self.object_id):
                    raise GraphError(
                        404,
                        "ErrorInvalidUser",
                        f"The requested user '{segments[1]}' is invalid.",
                    )
                segments = ["me", *segments[2:]]
            if segments[0] != "me":
                raise GraphError(
                    400, "BadRequest", f"Resource not found for the segment '{segments[0]}'."
                )
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if segments[1:] == ["sendMail"] and method == "POST" and content_type == "text/plain":
                delivered = self._send_mime(at, body)
            else:
                payload: Json = {}
                if body:
                    try:
                        payload = json.loads(body)
                    except ValueError:
                        raise GraphError(
                            400, "UnableToDeserializePostBody", "were unable to deserialize"
                        ) from None
                return self._route(method, segments[1:], query, prefer, payload, at, split.path)
        # outside the lock: delivering (an IMAP APPEND) must not hold every other request
        if self.deliver is not None:
            for folder, raw in delivered:
                self.deliver(folder, raw)
        return _Response(202, {}, b"")

    def _send_mime(self, at: _AccessToken, body: bytes) -> list[tuple[str, bytes]]:
        """sendMail in MIME form: checked and kept; the copies to deliver (folder, raw)."""
        self._require(at, "Mail.Send")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            ) from None
        message = email.message_from_bytes(raw, policy=email.policy.default)
        _, sender = email.utils.parseaddr(str(message.get("From") or self.user))
        if sender.lower() != self.user.lower():
            raise GraphError(
                403,
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does not have the "
                "right to send mail on behalf of the specified sending account., Cannot "
                "submit message.",
            )
        recipients = [
            address.lower()
            for _, address in email.utils.getaddresses(
                [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name) or []]
            )
            if address
        ]
        if not recipients:
            raise GraphError(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient is not valid., "
                "A message can't be sent because it contains no recipients.",
            )
        if not message.get("Message-ID"):
            message["Message-ID"] = f"<{uuid.uuid4().hex}@emulator.outlook.test>"
        del message["Bcc"]  # what recipients and the Sent copy see
        raw = message.as_bytes(policy=email.policy.SMTP)
        self.sent_mime.append(raw)
        delivered = [("Sent", raw)]
        if self.user.lower() in recipients:
            delivered.append(("INBOX", raw))
        return delivered

    def _route(
        self,
        method: str,
        seg: list[str],
        query: dict[str, str],
        prefer: dict[str, str],
        payload: Json,
        at: _AccessToken,
        raw_path: str,
    ) -> _Response:
        n = len(seg)
        if n == 0:
            if method != "GET":
                raise _not_allowed()
            self._require(at, "User.Read", "User.ReadBasic.All", "User.Read.All")
            return _json(200, self._me())
        if seg == ["sendMail"] and method == "POST":
            self._require(at, "Mail.Send")
            self.sent.append(copy.deepcopy(payload))
            return _Response(202, {}, b"")
        self._require(at, "Calendars.ReadWrite", "Calendars.Read")
        writes = method in ("POST", "PATCH", "DELETE", "PUT")
        if writes:
            self._require(at, "Calendars.ReadWrite")
        if seg[0] == "calendar":  # the default calendar: /me/calendar/...
            seg = ["calendars", self.default_calendar_id, *seg[1:]]
            n = len(seg)
        if seg[0] == "calendars":
            if n == 1:
                if method == "GET":
                    return self._list_calendars(query, raw_path)
                if method == "POST":
                    return _json(201, self._create_calendar(payload))
                raise _not_allowed()
            cal = self._calendar(seg[1])
            if n == 2:
                if method == "GET":
                    return _json(200, self._calendar_resource(cal))
                if method == "PATCH":
                    return _json(200, self._patch_calendar(cal, payload))
                if method == "DELETE":
                    self._delete_calendar(cal)
                    return _Response(204, {}, b"")
                raise _not_allowed()
            rest = seg[2:]
            return self._calendar_route(method, cal.id, rest, query, prefer, payload, raw_path)
        return self._calendar_route(
            method, self.default_calendar_id, seg, query, prefer, payload, raw_path
        )

    def _calendar_route(
        self,
        method: str,
        calendar_id: str,
        seg: list[str],
        query: dict[str, str],
        prefer: dict[str, str],
        payload: Json,
        raw_path: str,
    ) -> _Response:
        if seg == ["calendarView", "delta"] and method == "GET":
            return self._delta(calendar_id, query, prefer, raw_path)
        if seg == ["calendarView"] and method == "GET":
            return self._calendar_view(calendar_id, query, prefer, raw_path)
        if seg and seg[0] == "events":
            if len(seg) == 1:
                if method == "GET":
                    return self._list_events(calendar_id, query, prefer, raw_path)
                if method == "POST":
                    status, event = self._create_event(calendar_id, payload)
                    return _json(status, self._resource(event, prefer, query))
                raise _not_allowed()
            if len(seg) == 2:
                event_id = seg[1]
                if method == "GET":
                    return _json(200, self._get_event_resource(event_id, prefer, query))
                if method == "PATCH":
                    return _json(200, self._patch_event(event_id, payload, prefer, query))
                if method == "DELETE":
                    self._delete_item(event_id)
                    return _Response(204, {}, b"")
                raise _not_allowed()
        raise GraphError(
            400, "BadRequest", f"Resource not found for the segment '{seg[0] if seg else ''}'."
        )

    def _me(self) -> Json:
        given, _, surname = self.name.partition(" ")
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "businessPhones": [],
            "displayName": self.name,
            "givenName": given,
            "jobTitle": None,
            "mail": self.user,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": surname or None,
            "userPrincipalName": self.user,
            "id": self.object_id,
        }

    # ------------------------------------------------------------ calendars

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _change_key(self) -> str:
        return base64.b64encode(secrets.token_bytes(12)).decode()

    def _new_calendar(self, name: str, *, default: bool = False) -> _Calendar:
        raw = b"\x00\x2e\x00" + uuid.uuid4().bytes + self._next_serial().to_bytes(4, "big")
        cal = _Calendar(_outlook_id(raw), name, default, self._change_key())
        self._calendars[cal.id] = cal
        return cal

    def _calendar(self, calendar_id: str) -> _Calendar:
        cal = self._calendars.get(calendar_id)
        if cal is None:
            if not re.fullmatch(r"[A-Za-z0-9_\-=+/]{8,}", calendar_id):
                raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return cal

    def _calendar_resource(self, cal: _Calendar) -> Json:
        return {
            "id": cal.id,
            "name": cal.name,
            "color": cal.color,
            "hexColor": "",
            "isDefaultCalendar": cal.is_default,
            "changeKey": cal.change_key,
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": not cal.is_default,
            "owner": {"name": self.name, "address": self.user},
        }

    def _list_calendars(self, query: Mapping[str, str], raw_path: str) -> _Response:
        cals = [self._calendar_resource(c) for c in self._calendars.values()]
        return _json(200, self._page(cals, query, raw_path, default_top=10))

    def _page(
        self, items: list[Json], query: Mapping[str, str], raw_path: str, *, default_top: int
    ) -> Json:
        try:
            top = int(query.get("$top", default_top))
            skip = int(query.get("$skip", 0))
        except ValueError:
            raise GraphError(400, "BadRequest", "Invalid $top or $skip value.") from None
        top = max(1, min(top, 1000))
        page: Json = {"value": items[skip : skip + top]}
        if skip + top < len(items):
            rest = {k: v for k, v in query.items() if k != "$skip"}
            rest["$top"] = str(top)
            rest["$skip"] = str(skip + top)
            encoded = urllib.parse.urlencode(rest, safe="$(),'", quote_via=urllib.parse.quote)
            page["@odata.nextLink"] = f"{self.login_endpoint}{raw_path}?{encoded}"
        return page

    def _create_calendar(self, payload: Json) -> Json:
        name = str(payload.get("name") or "").strip()
        if not name:
            raise GraphError(400, "ErrorInvalidRequest", "The calendar name is required.")
        if any(c.name.lower() == name.lower() for c in self._calendars.values()):
            raise GraphError(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
        return self._calendar_resource(self._new_calendar(name))

    def _patch_calendar(self, cal: _Calendar, payload: Json) -> Json:
        if "name" in payload:
            cal.name = str(payload["name"])
        if "color" in payload:
            cal.color = str(payload["color"])
        cal.change_key = self._change_key()
        return self._calendar_resource(cal)

    def _delete_calendar(self, cal: _Calendar) -> None:
        if cal.is_default:
            raise GraphError(
                400, "ErrorInvalidRequest", "Cannot delete the default calendar of the mailbox."
            )
        del self._calendars[cal.id]
        for event_id in [e.id for e in self._events.values() if e.calendar_id == cal.id]:
            del self._events[event_id]

    # public, for tests
    def add_calendar(self, name: str) -> str:
        """A calendar the user made in Outlook."""
        with self._lock:
            return self._new_calendar(name).id

    def delete_calendar(self, calendar_id: str) -> None:
        """The user deleted this calendar (and its events) in Outlook."""
        with self._lock:
            self._delete_calendar(self._calendar(calendar_id))

    def calendars(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {c.id: self._calendar_resource(c) for c in self._calendars.values()}

    def calendar_named(self, name: str) -> str:
        with self._lock:
            [cal] = [c for c in self._calendars.values() if c.name == name]
            return cal.id

    # ------------------------------------------------------------ events: storage

    def _new_event_id(self) -> str:
        raw = b"\x00\x46\x00" + uuid.uuid4().bytes + self._next_serial().to_bytes(4, "big")
        return _outlook_id(raw)

    def _occurrence_id(self, master_id: str, original_start: datetime) -> str:
        raw = b"\x00\x51\x00" + master_id.encode() + b"|" + _iso_z(original_start).encode()
        return _outlook_id(raw)

    def _split_occurrence_id(self, event_id: str) -> tuple[str, datetime] | None:
        try:
            raw = base64.urlsafe_b64decode(event_id.encode())
        except (ValueError, TypeError):
            return None
        if not raw.startswith(b"\x00\x03\x24\x00\x51\x00") or b"|" not in raw:
            return None
        master, _, stamp = raw[6:].partition(b"|")
        try:
            when = datetime.strptime(stamp.decode(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        return master.decode(), when

    def _touch(self, event: _Event) -> None:
        event.modified = datetime.now(UTC)
        event.change_key = self._change_key()

    _SETTABLE = (
        "subject",
        "body",
        "location",
        "locations",
        "attendees",
        "organizer",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "categories",
        "showAs",
        "sensitivity",
        "importance",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "onlineMeeting",
        "onlineMeetingUrl",
        "responseRequested",
        "allowNewTimeProposals",
        "hideAttendees",
        "isCancelled",
        "isOrganizer",
        "responseStatus",
        "iCalUId",
        "transactionId",
        "singleValueExtendedProperties",
        "recurrence",
        "webLink",
    )

    def _apply(self, event: _Event, payload: Json) -> None:
        """Graph's PATCH semantics on an event: given properties replace the stored ones."""
        for key in self._SETTABLE:
            if key not in payload:
                continue
            value = copy.deepcopy(payload[key])
            if key == "body":
                value = _stored_body(value)
            if key == "singleValueExtendedProperties":
                value = _merge_properties(event.fields.get(key) or [], value or [])
            event.fields[key] = value
        if "isAllDay" in payload:
            event.all_day = bool(payload["isAllDay"])
        if "start" in payload:
            event.start, event.start_zone = parse_datetime_tz(payload["start"], field_name="Start")
        if "end" in payload:
            event.end, event.end_zone = parse_datetime_tz(payload["end"], field_name="End")
        if "originalStartTimeZone" in payload:
            event.start_zone = str(payload["originalStartTimeZone"])
        if "originalEndTimeZone" in payload:
            event.end_zone = str(payload["originalEndTimeZone"])
        if event.all_day:
            for name in ("start", "end"):
                value = payload.get(name)
                if isinstance(value, dict) and "dateTime" in value:
                    day = date.fromisoformat(str(value["dateTime"])[:10])
                    setattr(event, name, datetime(day.year, day.month, day.day, tzinfo=UTC))
        if event.end < event.start:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. The end of the event is earlier than its start.",
            )
        recurrence = event.fields.get("recurrence")
        event.series_version = secrets.token_hex(8)
        if event.kind != "exception":
            if recurrence:
                event.kind = "seriesMaster"
                event.rule = _rule_of_pattern(recurrence, event)
            elif "recurrence" in payload:
                event.kind, event.rule = "singleInstance", []

    def _store_event(self, calendar_id: str, payload: Json, event_id: str | None = None) -> _Event:
        self._calendar(calendar_id)
        if "start" not in payload or "end" not in payload:
            raise GraphError(
                400, "ErrorInvalidRequest", "The properties 'start' and 'end' are required."
            )
        now = datetime.now(UTC)
        previous = self._events.get(event_id) if event_id else None
        event = _Event(
            id=event_id or self._new_event_id(),
            calendar_id=calendar_id,
            fields={},
            start=now,
            end=now,
            all_day=False,
            start_zone="UTC",
            end_zone="UTC",
            created=previous.created if previous else now,
            modified=now,
            change_key=self._change_key(),
        )
        event.fields.setdefault(
            "iCalUId", "040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper()
        )
        self._apply(event, payload)
        if previous is not None:
            self._delete_item(previous.id)
        self._events[event.id] = event
        return event

    def _create_event(self, calendar_id: str, payload: Json) -> tuple[int, _Event]:
        transaction = payload.get("transactionId")
        if transaction:
            for event in self._events.values():
                if event.fields.get("transactionId") == transaction:
                    return 201, event  # a retried POST: the event the first one created
        payload = dict(payload)
        payload.setdefault("organizer", {"emailAddress": {"name": self.name, "address": self.user}})
        payload.setdefault("isOrganizer", True)
        payload.setdefault(
            "responseStatus", {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
        )
        return 201, self._store_event(calendar_id, payload)

    def _item(self, event_id: str) -> _Event:
        """A stored item, or an occurrence made an exception on the way (a PATCH of one)."""
        event = self._events.get(event_id)
        if event is not None:
            return event
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    def _occurrence(self, event_id: str) -> tuple[_Event, datetime] | None:
        split = self._split_occurrence_id(event_id)
        if split is None:
            return None
        master = self._events.get(split[0])
        if master is None or master.kind != "seriesMaster":
            return None
        if split[1] in master.deleted_occurrences:
            return None
        if not any(start == split[1] for start in self._occurrence_starts(master, None, None)):
            return None
        return master, split[1]

    def _get_event_resource(
        self, event_id: str, prefer: dict[str, str], query: Mapping[str, str]
    ) -> Json:
        if event_id not in self._events:
            occ = self._occurrence(event_id)
            if occ is not None:
                return self._occurrence_resource(occ[0], occ[1], prefer, query)
        return self._resource(self._item(event_id), prefer, query)

    def _patch_event(
        self, event_id: str, payload: Json, prefer: dict[str, str], query: Mapping[str, str]
    ) -> Json:
        if event_id not in self._events:
            occ = self._occurrence(event_id)
            if occ is not None:  # an occurrence changed: it becomes an exception
                event = self._make_exception(occ[0], occ[1])
                self._apply(event, payload)
                return self._resource(event, prefer, query)
        event = self._item(event_id)
        self._apply(event, payload)
        self._touch(event)
        if event.kind == "seriesMaster":
            for exc in self._exceptions_of(event.id):
                self._touch(exc)
        return self._resource(event, prefer, query)

    def _make_exception(self, master: _Event, original: datetime) -> _Event:
        length = master.end - master.start
        start = self._occurrence_start(master, original)
        fields = {k: copy.deepcopy(v) for k, v in master.fields.items() if k != "recurrence"}
        event = _Event(
            id=self._occurrence_id(master.id, original),
            calendar_id=master.calendar_id,
            fields=fields,
            start=start,
            end=start + length,
            all_day=master.all_day,
            start_zone=master.start_zone,
            end_zone=master.end_zone,
            created=master.created,
            modified=datetime.now(UTC),
            change_key=self._change_key(),
            kind="exception",
            master_id=master.id,
            original_start=original,
        )
        self._events[event.id] = event
        return event

    def _exceptions_of(self, master_id: str) -> list[_Event]:
        return [e for e in self._events.values() if e.master_id == master_id]

    def _delete_item(self, event_id: str) -> None:
        event = self._events.get(event_id)
        if event is None:
            occ = self._occurrence(event_id)
            if occ is None:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            occ[0].deleted_occurrences.add(occ[1])
            self._touch(occ[0])
            return
        del self._events[event_id]
        if event.kind == "seriesMaster":
            for exc in self._exceptions_of(event_id):
                del self._events[exc.id]
        elif event.kind == "exception" and event.master_id in self._events:
            assert event.original_start is not None
            master = self._events[event.master_id]
            master.deleted_occurrences.add(event.original_start)

    # ------------------------------------------------------------ events: recurrence

    def _zone_of(self, event: _Event) -> tzinfo:
        zone = zone_named(event.start_zone)
        return zone if zone is not None else UTC

    def _occurrence_starts(
        self, master: _Event, window_start: datetime | None, window_end: datetime | None
    ) -> Iterator[datetime]:
        """The original starts (UTC) of a master's occurrences, deleted ones left out."""
        from dateutil.rrule import rrulestr

        zone = UTC if master.all_day else master.rule_zone or self._zone_of(master)
        local_start = master.start.astimezone(zone).replace(tzinfo=None)
        rules = rrulestr("\n".join(master.rule), dtstart=local_start, forceset=True, unfold=True)
        horizon = (
            (window_end or datetime.now(UTC) + timedelta(days=730))
            .astimezone(zone)
            .replace(tzinfo=None)
        )
        length = master.end - master.start
        for local in rules.xafter(local_start - timedelta(seconds=1), inc=True):
            if local > horizon:
                return
            instant = local.replace(tzinfo=zone).astimezone(UTC)
            if instant in master.deleted_occurrences:
                continue
            if window_start is not None and instant + length <= window_start:
                continue
            yield instant

    def _occurrence_start(self, master: _Event, original: datetime) -> datetime:
        return original

    # ------------------------------------------------------------ events: resources

    def _out_zone(self, prefer: Mapping[str, str]) -> tuple[tzinfo, str]:
        name = prefer.get("outlook.timezone")
        if not name:
            return UTC, "UTC"
        zone = zone_named(name)
        if zone is None:
            raise GraphError(
                400,
                "TimeZoneNotSupportedException",
                f"A valid TimeZone value must be specified. The following TimeZone value is "
                f"not supported: '{name}'.",
            )
        return zone, name

    def _times(
        self, start: datetime, end: datetime, all_day: bool, prefer: Mapping[str, str]
    ) -> Json:
        zone, zone_name = self._out_zone(prefer)
        if all_day:  # floating midnights: the same dates in any zone
            return {
                "start": {"dateTime": f"{start:%Y-%m-%dT00:00:00}.0000000", "timeZone": zone_name},
                "end": {"dateTime": f"{end:%Y-%m-%dT00:00:00}.0000000", "timeZone": zone_name},
            }
        return {
            "start": _graph_time(start, zone, zone_name),
            "end": _graph_time(end, zone, zone_name),
        }

    def _resource(self, event: _Event, prefer: Mapping[str, str], query: Mapping[str, str]) -> Json:
        return self._compose(
            event,
            event.id,
            event.start,
            event.end,
            event.kind,
            event.master_id,
            event.original_start,
            prefer,
            query,
        )

    def _occurrence_resource(
        self,
        master: _Event,
        original: datetime,
        prefer: Mapping[str, str],
        query: Mapping[str, str],
    ) -> Json:
        start = self._occurrence_start(master, original)
        return self._compose(
            master,
            self._occurrence_id(master.id, original),
            start,
            start + (master.end - master.start),
            "occurrence",
            master.id,
            original,
            prefer,
            query,
        )

    def _compose(
        self,
        event: _Event,
        event_id: str,
        start: datetime,
        end: datetime,
        kind: str,
        master_id: str | None,
        original: datetime | None,
        prefer: Mapping[str, str],
        query: Mapping[str, str],
    ) -> Json:
        f = event.fields
        body = f.get("body") or {"contentType": "html", "content": ""}
        text = html_to_text(body["content"]) if body["contentType"] == "html" else body["content"]
        if prefer.get("outlook.body-content-type", "").strip('"').lower() == "text":
            body_out = {"contentType": "text", "content": text}
        else:
            body_out = dict(body)
        online = f.get("onlineMeeting")
        join = (online or {}).get("joinUrl") if isinstance(online, dict) else None
        location = f.get("location") or {}
        location_out = {
            "displayName": location.get("displayName", ""),
            "locationType": location.get("locationType", "default"),
            "uniqueIdType": location.get("uniqueIdType", "unknown"),
            **({"uniqueId": location["uniqueId"]} if location.get("uniqueId") else {}),
            **{k: v for k, v in location.items() if k in ("address", "coordinates", "locationUri")},
        }
        resource: Json = {
            "@odata.etag": f'W/"{event.change_key}"',
            "id": event_id,
            "createdDateTime": f"{event.created:%Y-%m-%dT%H:%M:%S.%f}0Z",
            "lastModifiedDateTime": f"{event.modified:%Y-%m-%dT%H:%M:%S.%f}0Z",
            "changeKey": event.change_key,
            "categories": f.get("categories") or [],
            "transactionId": f.get("transactionId"),
            "originalStartTimeZone": event.start_zone,
            "originalEndTimeZone": event.end_zone,
            "iCalUId": f.get("iCalUId"),
            "uid": f.get("iCalUId"),
            "reminderMinutesBeforeStart": f.get("reminderMinutesBeforeStart", 15),
            "isReminderOn": f.get("isReminderOn", True),
            "hasAttachments": False,
            "subject": f.get("subject", ""),
            "bodyPreview": _preview(text),
            "importance": f.get("importance", "normal"),
            "sensitivity": f.get("sensitivity", "normal"),
            "isAllDay": event.all_day,
            "isCancelled": bool(f.get("isCancelled", False)),
            "isOrganizer": bool(f.get("isOrganizer", True)),
            "responseRequested": f.get("responseRequested", True),
            "seriesMasterId": master_id,
            "showAs": f.get("showAs", "free" if f.get("isCancelled") else "busy"),
            "type": kind,
            "webLink": f"https://outlook.office365.com/owa/?itemid={urllib.parse.quote(event_id)}"
            "&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": f.get("onlineMeetingUrl"),
            "isOnlineMeeting": bool(f.get("isOnlineMeeting", bool(join))),
            "onlineMeetingProvider": f.get(
                "onlineMeetingProvider", "teamsForBusiness" if join else "unknown"
            ),
            "allowNewTimeProposals": f.get("allowNewTimeProposals", True),
            "occurrenceId": None,
            "isDraft": False,
            "hideAttendees": bool(f.get("hideAttendees", False)),
            "responseStatus": f.get("responseStatus")
            or {"response": "none", "time": "0001-01-01T00:00:00Z"},
            "body": body_out,
            **self._times(start, end, event.all_day, prefer),
            "location": location_out,
            "locations": f.get("locations")
            if f.get("locations") is not None
            else ([location_out] if location_out["displayName"] else []),
            "recurrence": f.get("recurrence") if kind == "seriesMaster" else None,
            "attendees": [_attendee(a) for a in f.get("attendees") or []],
            "organizer": f.get("organizer")
            or {"emailAddress": {"name": self.name, "address": self.user}},
            "onlineMeeting": {"joinUrl": join} if join else None,
        }
        if original is not None:
            resource["originalStart"] = _iso_offset(original)
        expand = query.get("$expand", "")
        if "singlevalueextendedproperties" in expand.lower():
            wanted = _expand_filter_ids(expand)
            props = [
                p
                for p in f.get("singleValueExtendedProperties") or []
                if wanted is None or str(p.get("id", "")).lower() in wanted
            ]
            if props:  # Graph leaves the property out when none matches
                resource["singleValueExtendedProperties"] = props
        return resource

    # ------------------------------------------------------------ events: listing

    def _list_events(
        self, calendar_id: str, query: Mapping[str, str], prefer: dict[str, str], raw_path: str
    ) -> _Response:
        events = [
            e
            for e in self._events.values()
            if e.calendar_id == calendar_id and e.kind != "exception"
        ]
        matcher = _extended_filter(query.get("$filter"))
        if matcher is not None:
            events = [
                e for e in events if matcher(e.fields.get("singleValueExtendedProperties") or [])
            ]
        events.sort(key=lambda e: e.created)
        items = [self._resource(e, prefer, query) for e in events]
        headers = _preference_applied(prefer)
        return _json(200, self._page(items, query, raw_path, default_top=10), headers)

    def _view(self, calendar_id: str, start: datetime, end: datetime) -> list[_Instance]:
        """The instances of a calendar view: single events, occurrences and exceptions
        that overlap [start, end), in the order of their starts."""
        found: list[tuple[datetime, _Instance]] = []
        for event in list(self._events.values()):
            if event.calendar_id != calendar_id:
                continue
            if event.kind == "seriesMaster":
                exceptions = {e.original_start for e in self._exceptions_of(event.id)}
                length = event.end - event.start
                for original in self._occurrence_starts(event, start - length, end):
                    if original in exceptions:
                        continue
                    occ_start = self._occurrence_start(event, original)
                    if not (occ_start < end and occ_start + length > start):
                        continue
                    found.append(
                        (
                            occ_start,
                            _Instance(
                                self._occurrence_id(event.id, original),
                                event.series_version,
                                (event, original),
                            ),
                        )
                    )
                continue
            if event.start < end and (event.end > start or event.end == event.start == start):
                found.append((event.start, _Instance(event.id, event.change_key, event)))
        found.sort(key=lambda pair: pair[0])
        return [inst for _, inst in found]

    def _instance_json(
        self, inst: _Instance, prefer: Mapping[str, str], query: Mapping[str, str]
    ) -> Json:
        if isinstance(inst.resource, tuple):
            master, original = inst.resource
            return self._occurrence_resource(master, original, prefer, query)
        return self._resource(inst.resource, prefer, query)

    def _window(self, query: Mapping[str, str]) -> tuple[datetime, datetime]:
        lowered = {k.lower(): v for k, v in query.items()}
        if "startdatetime" not in lowered or "enddatetime" not in lowered:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
            )
        start = _parse_instant(lowered["startdatetime"], name="startDateTime")
        end = _parse_instant(lowered["enddatetime"], name="endDateTime")
        return start, end

    def _calendar_view(
        self, calendar_id: str, query: Mapping[str, str], prefer: dict[str, str], raw_path: str
    ) -> _Response:
        start, end = self._window(query)
        items = [self._instance_json(i, prefer, query) for i in self._view(calendar_id, start, end)]
        return _json(
            200, self._page(items, query, raw_path, default_top=10), _preference_applied(prefer)
        )

    # ------------------------------------------------------------ delta

    def _token_link(self, raw_path: str, name: str, token: str) -> str:
        return f"{self.login_endpoint}{raw_path}?{name}={token}"

    def _delta(
        self, calendar_id: str, query: Mapping[str, str], prefer: dict[str, str], raw_path: str
    ) -> _Response:
        size = self.page_size
        if "odata.maxpagesize" in prefer:
            with contextlib.suppress(ValueError):
                size = max(1, int(prefer["odata.maxpagesize"]))
        skip = query.get("$skiptoken") or query.get("$skipToken")
        delta = query.get("$deltatoken") or query.get("$deltaToken")
        gone = GraphError(
            410,
            "SyncStateNotFound",
            f"The sync state generation is not found; generation={self._delta_generation};"
            f"[highest={self._delta_generation + 1}].",
        )
        if skip is not None:
            round_id, _, offset_text = skip.partition(".")
            rnd = self._rounds.get(round_id)
            if rnd is None or rnd.generation < self._delta_generation:
                raise gone
            if rnd.state.calendar_id not in self._calendars:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            return self._delta_page(rnd, round_id, int(offset_text or 0), size, raw_path, prefer)
        if delta is not None:
            state = self._delta_states.get(delta)
            if state is None or state.generation < self._delta_generation:
                raise gone
            if state.calendar_id not in self._calendars:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            start, end, seen = state.start, state.end, state.seen
        else:
            start, end = self._window(query)
            seen = {}
        view = self._view(calendar_id, start, end)
        now_seen = {inst.id: inst.version for inst in view}
        items = [
            self._instance_json(inst, prefer, query)
            for inst in view
            if seen.get(inst.id) != inst.version
        ]
        items += [
            {
                "@odata.type": "#microsoft.graph.event",
                "id": gone_id,
                "@removed": {"reason": "deleted"},
            }
            for gone_id in seen
            if gone_id not in now_seen
        ]
        state = _DeltaState(calendar_id, start, end, raw_path, now_seen, self._delta_generation)
        round_id = _b64url(secrets.token_bytes(18))
        rnd = _Round(state, items, self._delta_generation)
        self._rounds[round_id] = rnd
        return self._delta_page(rnd, round_id, 0, size, raw_path, prefer)

    def _delta_page(
        self,
        rnd: _Round,
        round_id: str,
        offset: int,
        size: int,
        raw_path: str,
        prefer: dict[str, str],
    ) -> _Response:
        page: Json = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
            "value": rnd.items[offset : offset + size],
        }
        if offset + size < len(rnd.items):
            page["@odata.nextLink"] = self._token_link(
                raw_path, "$skiptoken", f"{round_id}.{offset + size}"
            )
        else:
            token = _b64url(secrets.token_bytes(24))
            self._delta_states[token] = rnd.state
            page["@odata.deltaLink"] = self._token_link(raw_path, "$deltatoken", token)
        return _json(200, page, _preference_applied(prefer))

    def expire_delta_tokens(self) -> None:
        """Every delta and skip token issued so far answers 410 SyncStateNotFound."""
        with self._lock:
            self._delta_generation += 1

    # ------------------------------------------------------------ events: test API

    def _resolve_calendar(self, calendar_id: str | None) -> str:
        return self.default_calendar_id if calendar_id in (None, "default") else str(calendar_id)

    def put_event(
        self, calendar_id: str | None, event: dict[str, Any], event_id: str | None = None
    ) -> str:
        """Put an event (Graph JSON, as the user's calendar holds it: an invitation has
        ``organizer``, ``attendees``, ``isOrganizer: false``...) on a calendar; with an
        `event_id` already there, it replaces that event (a move: a new changeKey). A
        ``recurrence`` makes it a series master, expanded in the calendar view. An
        exception of a series: give ``seriesMasterId`` and ``originalStart``."""
        with self._lock:
            cal = self._resolve_calendar(calendar_id)
            payload = dict(event)
            master_id = payload.pop("seriesMasterId", None)
            original = payload.pop("originalStart", None)
            payload.setdefault("isOrganizer", False)
            if master_id:
                master = self._item(str(master_id))
                original_start = _parse_instant(str(original), name="originalStart")
                existing = self._events.get(self._occurrence_id(master.id, original_start))
                exc = existing or self._make_exception(master, original_start)
                self._apply(exc, payload)
                self._touch(exc)
                return exc.id
            stored = self._store_event(cal, payload, event_id)
            return stored.id

    def cancel_event(self, event_id: str, *, remove: bool = False) -> None:
        """The organizer cancelled: Exchange marks the attendee's item cancelled (isCancelled,
        "Canceled: " before its subject) and keeps it until the user removes it
        (`remove`: removed at once, as the calendar's "Remove from calendar" does)."""
        with self._lock:
            if event_id not in self._events:
                occ = self._occurrence(event_id)
                if occ is None:
                    raise KeyError(event_id)
                self._make_exception(*occ)
            event = self._events[event_id]
            if remove:
                self._delete_item(event_id)
                return
            event.fields["isCancelled"] = True
            event.fields["subject"] = _cancelled_subject(str(event.fields.get("subject", "")))
            event.series_version = secrets.token_hex(8)  # every occurrence shows it
            self._touch(event)

    def delete_event(self, event_id: str) -> None:
        """The user deleted this event (a series with its instances; an instance alone)."""
        with self._lock:
            self._delete_item(event_id)

    def events(self, calendar_id: str | None = None) -> dict[str, dict[str, Any]]:
        """The items stored on a calendar (singles, series masters, exceptions) as Graph
        gives them (UTC, HTML bodies, every extended property)."""
        with self._lock:
            cal = self._resolve_calendar(calendar_id)
            return {
                e.id: self._resource(e, {}, {"$expand": "singleValueExtendedProperties"})
                for e in self._events.values()
                if e.calendar_id == cal
            }

    def view(
        self,
        calendar_id: str | None,
        start: datetime,
        end: datetime,
        prefer: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """The calendar view as Graph would list it (instances, not masters)."""
        with self._lock:
            cal = self._resolve_calendar(calendar_id)
            return [
                self._instance_json(i, dict(prefer or {}), {})
                for i in self._view(cal, start.astimezone(UTC), end.astimezone(UTC))
            ]

    def import_ics(self, calendar_id: str | None, ics_text: str | bytes) -> list[str]:
        """An invitation (.ics) as Exchange shows it once it is on the calendar: see
        :func:`exchange_events`. Returns the ids of the items stored (the master or the
        single event first, then its exceptions). An invitation with the UID of one
        already imported replaces it (an update: same id, new changeKey)."""
        with self._lock:
            cal = self._resolve_calendar(calendar_id)
            items = exchange_items(ics_text, self.user)
            master, overrides = items[0], items[1:]
            uid = master["iCalUId"]
            existing = next(
                (
                    e.id
                    for e in self._events.values()
                    if e.fields.get("iCalUId") == uid and e.kind != "exception"
                ),
                None,
            )
            ids = [self._import_master(cal, master, existing)]
            for override in overrides:
                if override.get("isCancelled"):
                    override = {**override, "subject": _cancelled_subject(override["subject"])}
                ids.append(self.put_event(cal, {**override, "seriesMasterId": ids[0]}))
            return ids

    def _import_master(self, calendar_id: str, item: Json, existing: str | None) -> str:
        payload = {k: v for k, v in item.items() if not k.startswith("_") and k != "recurrence"}
        if payload.get("isCancelled"):
            payload["subject"] = _cancelled_subject(str(payload.get("subject", "")))
        event = self._store_event(calendar_id, payload, existing)
        if item.get("_rule"):
            event.kind = "seriesMaster"
            event.fields["recurrence"] = item["recurrence"]
            event.rule = list(item["_rule"])
            event.rule_zone = item["_zone"]
            event.series_version = secrets.token_hex(8)
            event.deleted_occurrences = set(item.get("_deleted") or [])
        return event.id


# --------------------------------------------------------------------------- small parts


_PARTSTAT = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentativelyAccepted",
    "NEEDS-ACTION": "notResponded",
}
#: The name Graph gives a zone an invitation defined itself (Outlook's "Customized
#: Time Zone", Exchange's "GMT +0100 (Standard) / GMT +0200 (Daylight)").
CUSTOM_ZONE = "tzone://Microsoft/Custom"
_NO_TIME = "0001-01-01T00:00:00Z"


def _mail_address(value: Any) -> str:
    text = str(value)
    return text[7:] if text.lower().startswith("mailto:") else text


def _email_address(value: Any) -> Json:
    params = getattr(value, "params", {})
    address = _mail_address(value)
    return {"name": str(params.get("CN") or address), "address": address}


def _zone_label(prop: Any) -> str:
    """originalStartTimeZone of an invitation's DTSTART: the TZID it used when Windows
    or IANA know it, Graph's custom marker for a zone of the sender's own, UTC else."""
    tzid = prop.params.get("TZID")
    if tzid:
        return str(tzid) if zone_named(str(tzid)) is not None else CUSTOM_ZONE
    return "UTC"


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _graph_when(value: Any) -> Json:
    return {"dateTime": f"{_utc(value):%Y-%m-%dT%H:%M:%S}", "timeZone": "UTC"}


def _exchange_item(vevent: Any, user: str, method: str) -> Json:
    """One VEVENT as Exchange's calendar item of the invitation (Graph JSON)."""
    start_prop = vevent["DTSTART"]
    end_prop = vevent.get("DTEND")
    start = start_prop.dt
    all_day = not isinstance(start, datetime)
    if end_prop is not None:
        end = end_prop.dt
    elif vevent.get("DURATION") is not None:
        end = start + vevent["DURATION"].dt
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    organizer = vevent.get("ORGANIZER")
    organizer_address = _mail_address(organizer).lower() if organizer is not None else ""
    attendees: list[Json] = []
    response = "notResponded"
    raw = vevent.get("ATTENDEE", [])
    for person in raw if isinstance(raw, list) else [raw]:
        params = person.params
        address = _mail_address(person)
        partstat = _PARTSTAT.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(), "none")
        if address.lower() == user.lower():
            response = partstat
        if address.lower() == organizer_address:
            continue  # Exchange holds the organizer apart, not among the attendees
        cutype = str(params.get("CUTYPE", "")).upper()
        role = str(params.get("ROLE", "")).upper()
        kind = (
            "resource"
            if cutype in ("ROOM", "RESOURCE")
            else "optional"
            if role == "OPT-PARTICIPANT"
            else "required"
        )
        attendees.append(
            {
                "type": kind,
                "status": {"response": partstat, "time": _NO_TIME},
                "emailAddress": _email_address(person),
            }
        )
    cancelled = method == "CANCEL" or str(vevent.get("STATUS", "")).upper() == "CANCELLED"
    is_organizer = organizer_address == user.lower()
    item: Json = {
        "subject": str(vevent.get("SUMMARY", "")),
        "body": {"contentType": "text", "content": str(vevent.get("DESCRIPTION", ""))},
        "isAllDay": all_day,
        "start": _graph_when(start),
        "end": _graph_when(end),
        "originalStartTimeZone": _zone_label(start_prop),
        "originalEndTimeZone": _zone_label(end_prop) if end_prop is not None else "UTC",
        "isCancelled": cancelled,
        "isOrganizer": is_organizer,
        "responseStatus": {
            "response": "organizer" if is_organizer else response,
            "time": _NO_TIME,
        },
        "attendees": attendees,
        "iCalUId": str(vevent["UID"]),
        "showAs": "free" if cancelled else "busy",
    }
    if organizer is not None:
        item["organizer"] = {"emailAddress": _email_address(organizer)}
    if vevent.get("LOCATION"):
        place = str(vevent["LOCATION"])
        item["location"] = {
            "displayName": place,
            "locationType": "default",
            "uniqueId": place,
            "uniqueIdType": "private",
        }
    teams = vevent.get("X-MICROSOFT-SKYPETEAMSMEETINGURL")
    if teams:
        item["onlineMeeting"] = {"joinUrl": str(teams)}
        item["isOnlineMeeting"] = True
        item["onlineMeetingProvider"] = "teamsForBusiness"
    if all_day:
        item["isReminderOn"] = False
    return item


def exchange_items(ics_text: str | bytes, user: str) -> list[Json]:
    """An invitation as Exchange stores it on the user's calendar: the event (for a
    series, its master, with the private ``_rule`` lines in ``_zone`` and the
    ``_deleted`` original starts of its EXDATEs), then one item per RECURRENCE-ID
    override (``originalStart`` in UTC). Times are UTC instants; the zone the sender
    used stays in originalStartTimeZone."""
    from pursuit.connectors.ical import read_calendar

    data = ics_text.encode() if isinstance(ics_text, str) else ics_text
    parsed = read_calendar(data)
    method = str(parsed.get("METHOD", "")).upper()
    vevents = list(parsed.walk("VEVENT"))
    master = next(e for e in vevents if e.get("RECURRENCE-ID") is None)
    item = _exchange_item(master, user, method)
    rule = master.get("RRULE")
    if rule is not None:
        start: date = master.decoded("DTSTART")
        zone = start.tzinfo if isinstance(start, datetime) and start.tzinfo else UTC
        text = rule.to_ical().decode()
        until = re.search(r"UNTIL=(\d{8}(T\d{6}Z?)?)", text)
        if until:  # the expansion runs in local wall time: UNTIL too
            value = until.group(1)
            if value.endswith("Z"):
                moment = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                value = f"{moment.astimezone(zone):%Y%m%dT%H%M%S}"
            elif "T" not in value:
                value += "T235959"
            text = text.replace(until.group(0), f"UNTIL={value}")
        item["_rule"] = [f"RRULE:{text}"]
        item["_zone"] = zone
        item["_deleted"] = _exdates(master)
        item["recurrence"] = _pattern_of_rule(text, start)
    found = [item]
    for override in vevents:
        original = override.get("RECURRENCE-ID")
        if original is None:
            continue
        exception = _exchange_item(override, user, method)
        exception["originalStart"] = _iso_z(_utc(original.dt))
        found.append(exception)
    return found


def _exdates(vevent: Any) -> list[datetime]:
    values = vevent.get("EXDATE")
    found = []
    for prop in values if isinstance(values, list) else [values] if values is not None else []:
        found += [_utc(item.dt) for item in prop.dts]
    return found


_WEEKDAY_NAMES = {
    v: k
    for k, v in {
        "sunday": "SU",
        "monday": "MO",
        "tuesday": "TU",
        "wednesday": "WE",
        "thursday": "TH",
        "friday": "FR",
        "saturday": "SA",
    }.items()
}


def _pattern_of_rule(text: str, start: Any) -> Json:
    """Graph's patternedRecurrence of an RRULE (the common shapes; for the master's GET)."""
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    freq = parts.get("FREQ", "DAILY")
    first = start.date() if isinstance(start, datetime) else start
    pattern: Json = {
        "type": {
            "DAILY": "daily",
            "WEEKLY": "weekly",
            "MONTHLY": "absoluteMonthly",
            "YEARLY": "absoluteYearly",
        }.get(freq, "daily"),
        "interval": int(parts.get("INTERVAL", 1)),
        "month": 0,
        "dayOfMonth": 0,
        "firstDayOfWeek": _WEEKDAY_NAMES.get(parts.get("WKST", "SU"), "sunday"),
        "index": "first",
        "daysOfWeek": [],
    }
    if freq == "WEEKLY":
        days = parts.get("BYDAY", "").split(",") if parts.get("BYDAY") else []
        pattern["daysOfWeek"] = [_WEEKDAY_NAMES[d[-2:]] for d in days] or [f"{first:%A}".lower()]
    if freq in ("MONTHLY", "YEARLY"):
        pattern["dayOfMonth"] = first.day
    if freq == "YEARLY":
        pattern["month"] = first.month
    rng: Json = {
        "type": "noEnd",
        "startDate": first.isoformat(),
        "endDate": "0001-01-01",
        "recurrenceTimeZone": "UTC",
        "numberOfOccurrences": 0,
    }
    if "COUNT" in parts:
        rng |= {"type": "numbered", "numberOfOccurrences": int(parts["COUNT"])}
    elif "UNTIL" in parts:
        until = parts["UNTIL"]
        rng |= {"type": "endDate", "endDate": f"{until[:4]}-{until[4:6]}-{until[6:8]}"}
    return {"pattern": pattern, "range": rng}


def _cancelled_subject(subject: str) -> str:
    """The subject of an item its organizer cancelled, as Exchange shows it."""
    return subject if subject.startswith("Canceled: ") else f"Canceled: {subject}"


def _not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


_PREFER_ITEM = re.compile(r'\s*([\w.\-]+)\s*=\s*("[^"]*"|[^,;]*)')


def _prefer(header: str) -> dict[str, str]:
    """The preferences of Prefer headers: {"outlook.timezone": "Pacific Standard Time", ...}."""
    found: dict[str, str] = {}
    for match in _PREFER_ITEM.finditer(header):
        found[match.group(1).lower()] = match.group(2).strip().strip('"')
    return found


def _preference_applied(prefer: Mapping[str, str]) -> dict[str, str]:
    applied = []
    if "odata.maxpagesize" in prefer:
        applied.append(f"odata.maxpagesize={prefer['odata.maxpagesize']}")
    if "outlook.timezone" in prefer:
        applied.append(f'outlook.timezone="{prefer["outlook.timezone"]}"')
    if "outlook.body-content-type" in prefer:
        applied.append(f'outlook.body-content-type="{prefer["outlook.body-content-type"]}"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def _stored_body(value: Any) -> Json:
    if not isinstance(value, dict):
        return {"contentType": "html", "content": ""}
    content = str(value.get("content") or "")
    if str(value.get("contentType", "text")).lower() == "html":
        return {"contentType": "html", "content": content}
    return {"contentType": "html", "content": text_to_html(content)}


def _merge_properties(old: list[Json], new: list[Json]) -> list[Json]:
    """singleValueExtendedProperties on a PATCH: the given ids set, the others kept."""
    merged = {str(p.get("id", "")).lower(): p for p in old}
    for prop in new:
        merged[str(prop.get("id", "")).lower()] = {"id": prop.get("id"), "value": prop.get("value")}
    return list(merged.values())


def _attendee(value: Json) -> Json:
    status = value.get("status") or {"response": "none", "time": "0001-01-01T00:00:00Z"}
    return {
        "type": value.get("type", "required"),
        "status": status,
        "emailAddress": value.get("emailAddress") or {},
    }


_EXPAND_ID = re.compile(r"id\s+eq\s+'([^']*)'", re.IGNORECASE)


def _expand_filter_ids(expand: str) -> set[str] | None:
    ids = {m.lower() for m in _EXPAND_ID.findall(expand)}
    return ids or None


_FILTER = re.compile(
    r"singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'([^']*)'"
    r"(?:\s+and\s+\1/value\s+eq\s+'((?:[^']|'')*)')?\s*\)",
    re.IGNORECASE,
)


def _extended_filter(text: str | None) -> Any:
    """A matcher for `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '...' and
    ep/value eq '...')`, the one filter on events the emulator knows."""
    if not text:
        return None
    match = _FILTER.fullmatch(text.strip())
    if match is None:
        raise GraphError(
            400, "ErrorInvalidUrlQueryFilter", f"The $filter '{text}' is not supported here."
        )
    prop_id, value = match.group(2).lower(), match.group(3)
    if value is not None:
        value = value.replace("''", "'")

    def matches(props: Iterable[Json]) -> bool:
        return any(
            str(p.get("id", "")).lower() == prop_id and (value is None or p.get("value") == value)
            for p in props
        )

    return matches


_DAYS = {
    "sunday": "SU",
    "monday": "MO",
    "tuesday": "TU",
    "wednesday": "WE",
    "thursday": "TH",
    "friday": "FR",
    "saturday": "SA",
}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def _rule_of_pattern(recurrence: Json, event: _Event) -> list[str]:
    """Graph's patternedRecurrence as an RFC 5545 RRULE in the event's local time."""
    pattern = recurrence.get("pattern") or {}
    rng = recurrence.get("range") or {}
    kind = str(pattern.get("type", "daily"))
    interval = int(pattern.get("interval", 1) or 1)
    parts = [f"INTERVAL={interval}"]
    days = ",".join(_DAYS[d.lower()] for d in pattern.get("daysOfWeek") or [])
    if kind == "daily":
        parts.insert(0, "FREQ=DAILY")
    elif kind == "weekly":
        parts.insert(0, "FREQ=WEEKLY")
        if days:
            parts.append(f"BYDAY={days}")
        week_start = str(pattern.get("firstDayOfWeek", "sunday")).lower()
        parts.append(f"WKST={_DAYS.get(week_start, 'SU')}")
    elif kind in ("absoluteMonthly", "relativeMonthly"):
        parts.insert(0, "FREQ=MONTHLY")
    elif kind in ("absoluteYearly", "relativeYearly"):
        parts.insert(0, "FREQ=YEARLY")
        parts.append(f"BYMONTH={int(pattern.get('month', 1))}")
    else:
        raise GraphError(400, "ErrorInvalidRequest", f"Unknown recurrence pattern type '{kind}'.")
    if kind.startswith("absolute"):
        parts.append(f"BYMONTHDAY={int(pattern.get('dayOfMonth', 1))}")
    if kind.startswith("relative"):
        parts.append(f"BYDAY={days}")
        parts.append(f"BYSETPOS={_INDEX.get(str(pattern.get('index', 'first')).lower(), 1)}")
    range_type = rng.get("type", "noEnd")
    if range_type == "endDate" and rng.get("endDate"):
        parts.append(f"UNTIL={rng['endDate'].replace('-', '')}T235959")
    elif range_type == "numbered":
        parts.append(f"COUNT={int(rng.get('numberOfOccurrences', 1))}")
    if rng.get("startDate"):
        # the series starts on the range's start date, at the event's local time
        zone = UTC if event.all_day else (zone_named(event.start_zone) or UTC)
        local = event.start.astimezone(zone)
        first = date.fromisoformat(str(rng["startDate"]))
        begin = datetime.combine(first, local.time()).replace(tzinfo=zone).astimezone(UTC)
        length = event.end - event.start
        event.start, event.end = begin, begin + length
    return ["RRULE:" + ";".join(parts)]
