"""The HTTP client of the feeds: one total deadline per fetch, size caps while
reading (also after decompression), conditional GET, bounded redirects."""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from pursuit.connectors.feeds.model import Problem
from pursuit.connectors.feeds.urls import redact_url

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5

_READ_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket call: it never touches an SSL object another thread reads.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


#: What a request holds while its connection is open: a slot for the host it connects to.
SlotFor = Callable[[str], AbstractContextManager[Any]]


def no_slot(_host: str) -> AbstractContextManager[Any]:
    return nullcontext()


class HostSlots:
    """Connection slots shared by fetches that run together: at most `per_host`
    connections open to one host, and at most `total` open at all (file
    descriptors and threads are finite).

    A host's slot is taken before a global one, always in this order, so a
    fetch waiting for a busy host never holds a slot another host could use.
    """

    def __init__(self, per_host: int, total: int) -> None:
        self.per_host = max(1, per_host)
        self._total = threading.BoundedSemaphore(max(1, total))
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _host(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._hosts.get(host)
            if slot is None:
                slot = self._hosts[host] = threading.BoundedSemaphore(self.per_host)
            return slot

    @contextmanager
    def __call__(self, host: str) -> Iterator[None]:
        with self._host(host.lower()), self._total:
            yield


#: The system's certificate authorities are read again after this many seconds: a
#: service running for months sees an updated bundle.
TLS_CONTEXT_AGE = 600.0
_tls: tuple[float, tuple[str | None, str | None], ssl.SSLContext] | None = None
_tls_lock = threading.Lock()


def _tls_context() -> ssl.SSLContext:
    """The TLS context every HTTPS fetch shares. Each new one reads the system's
    certificate authorities again: 25 ms of CPU with OpenSSL 3, 5 s for a poll of
    200 HTTPS feeds. A changed SSL_CERT_FILE or SSL_CERT_DIR makes a new one."""
    global _tls
    where = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _tls_lock:
        now = time.monotonic()
        if _tls is None or _tls[1] != where or now - _tls[0] > TLS_CONTEXT_AGE:
            _tls = (now, where, ssl.create_default_context())
        return _tls[2]


class _Watchdog:
    """The one thread that ends the fetches whose time ran out, or that were cancelled.

    A thread of its own for each fetch cost a start and an exit per feed, 7 % of
    the CPU of a poll of 200 feeds. Finished fetches are forgotten when it wakes.
    """

    #: How soon a cancelled fetch (the service stopping) is ended, at the most.
    CANCEL_CHECK = 0.1

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watched: list[Deadline] = []
        self._wakes_at = float("inf")
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._changed:
            self._watched.append(deadline)
            if self._thread is None or not self._thread.is_alive():  # or in a forked child
                self._thread = threading.Thread(
                    target=self._run, name="pursuit-feed-deadlines", daemon=True
                )
                self._thread.start()
            wake = deadline.end
            if deadline.cancel_event is not None:
                wake = min(wake, time.monotonic() + self.CANCEL_CHECK)
            if wake < self._wakes_at:
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                watched: list[Deadline] = []
                ending: list[Deadline] = []
                for deadline in self._watched:
                    if not deadline.finished:
                        (ending if deadline.should_end(now) else watched).append(deadline)
                self._watched = watched
                if not ending:
                    wake = min((d.end for d in watched), default=float("inf"))
                    if any(d.cancel_event is not None for d in watched):
                        wake = min(wake, now + self.CANCEL_CHECK)
                    self._wakes_at = wake
                    self._changed.wait(None if wake == float("inf") else wake - now)
                    continue
            for deadline in ending:  # outside the lock: another fetch may be starting
                deadline.fire()


_WATCHDOG = _Watchdog()


class Deadline:
    """The total time budget of one fetch, and the connection slots it waits for.

    The budget starts when the first request gets its slot (`slots(host)` for
    each host it connects to). A watchdog shuts the current socket down when it
    runs out, so a blocked read (headers trickling in, a stalled body) returns at
    once.
    """

    def __init__(
        self,
        seconds: float,
        slots: SlotFor = no_slot,
        cancel: threading.Event | None = None,
    ) -> None:
        self.seconds = seconds
        self.slots = slots
        self._end = 0.0
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.expired = False
        # `cancel` (a service stopping) ends the fetch at once, as the deadline would.
        self._cancel = cancel
        self._done = threading.Event()

    @property
    def end(self) -> float:
        return self._end

    @property
    def cancel_event(self) -> threading.Event | None:
        return self._cancel

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def should_end(self, now: float) -> bool:
        return now >= self._end or (self._cancel is not None and self._cancel.is_set())

    def fire(self) -> None:
        if not self._done.is_set():
            self._fire()

    def start(self) -> None:
        if not self._end:
            self._end = time.monotonic() + self.seconds
            _WATCHDOG.watch(self)

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

    def problem(self) -> Problem:
        if self._cancel is not None and self._cancel.is_set():
            return Problem("cancelled: pursuit is stopping")
        return Problem(f"timed out after {self.seconds:g} s")

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if sock is not None and self.expired:
                _shutdown(sock)

    def cancel(self) -> None:
        self._done.set()
        self.watch(None)


@dataclass
class Answer:
    status: int
    url: str
    headers: Message
    body: bytes
    moved_to: str | None


def _size(n: int) -> str:
    if n >= 100_000:
        return f"{n / 1_000_000:g} MB"
    return f"{n} bytes"


def _too_large(max_bytes: int) -> Problem:
    return Problem(f"response is larger than {_size(max_bytes)} limit")


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


def _http_error(status: int, reason: str, headers: Message) -> Problem:
    try:
        phrase = reason.strip() or HTTPStatus(status).phrase
    except ValueError:
        phrase = reason.strip()
    text = f"HTTP {status} {phrase}".rstrip()
    if status == 410:
        return Problem("feed is gone (410); deactivated", gone=True, status=status)
    retry = _retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    if retry is not None:
        text += f" (retry after {retry:.0f} s)"
    return Problem(text, status=status, retry_after=retry)


def _network_problem(exc: BaseException, host: str, deadline: Deadline) -> Problem:
    if deadline.expired or isinstance(exc, TimeoutError | socket.timeout):
        return deadline.problem()
    if isinstance(exc, socket.gaierror):
        return Problem(f"cannot resolve host {host!r} (DNS lookup failed: {exc.strerror})")
    if isinstance(exc, ConnectionRefusedError):
        return Problem("connection refused")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Problem(f"TLS certificate verification failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return Problem(f"TLS error: {exc.reason or exc}")
    if isinstance(exc, ConnectionResetError):
        return Problem("connection reset by the server")
    if isinstance(exc, http.client.RemoteDisconnected):
        return Problem("the server closed the connection without answering")
    if isinstance(exc, http.client.IncompleteRead):
        return Problem("connection closed before the whole response arrived")
    if isinstance(exc, http.client.HTTPException):
        return Problem(f"invalid HTTP response ({type(exc).__name__}: {exc})")
    if isinstance(exc, OSError):
        return Problem(f"network error: {exc.strerror or exc}")
    return Problem(f"network error: {exc}")


def is_private_address(address: str) -> bool:
    """True for an address that is not on the public internet: loopback, private,
    link-local, shared, reserved, unspecified or multicast (IPv4-mapped too)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an IP address at all: never taken for a public one
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def redirect_allowed(origin: str, target: str) -> bool:
    """Whether a redirect from the address `origin` may be followed to `target`.

    A feed on the public internet must not send pursuit into the user's own
    network (a router's admin page, a cloud metadata service); a feed the user
    configured on such a network may move within it.
    """
    return is_private_address(origin) or not is_private_address(target)


def _open(
    url: str, headers: Mapping[str, str], deadline: Deadline, origin: str | None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, str]:
    """Connect and send the request; with `origin` (the first hop's address) the
    peer of a redirect is checked before anything is sent to it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise Problem(f"invalid URL {redact_url(url)!r}") from None
    conn: http.client.HTTPConnection
    if parts.scheme.lower() == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=deadline.remaining(), context=_tls_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=deadline.remaining())
    try:
        conn.connect()
        deadline.watch(conn.sock)
        deadline.check()
        peer = str(conn.sock.getpeername()[0])
        if origin is not None and not redirect_allowed(origin, peer):
            raise Problem(
                f"refused: redirected from a public address to a private one ({host}, {peer})"
            )
        conn.request("GET", _request_target(parts), headers=dict(headers))
        resp = conn.getresponse()
        deadline.check()
    except Problem:
        deadline.watch(None)
        conn.close()
        raise
    except (OSError, http.client.HTTPException) as exc:
        deadline.watch(None)
        conn.close()
        raise _network_problem(exc, host, deadline) from None
    return conn, resp, peer


def _read_body(
    resp: http.client.HTTPResponse, host: str, deadline: Deadline, max_bytes: int
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
        raise Problem(f"unsupported Content-Encoding {encoding!r}")
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
        raise Problem(f"response is not valid {encoding} data ({exc})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _network_problem(exc, host, deadline) from None
    if declared is not None and received < declared:
        raise Problem(
            f"connection closed before the whole response arrived ({received} of {declared} bytes)"
        )
    if pending:
        raise Problem(f"compressed ({encoding}) response is truncated")
    return bytes(out)


def get(
    url: str,
    *,
    headers: Mapping[str, str],
    deadline: Deadline,
    max_bytes: int,
) -> Answer:
    """GET `url`, following redirects; a 304 comes back with an empty body.

    Each connection is opened holding the slot of its host (a redirect to
    another host waits for that host's slot).
    """
    return _get_holding_slots(url, headers=headers, deadline=deadline, max_bytes=max_bytes)


@dataclass(frozen=True)
class _Credentials:
    """The user:password of a feed URL, sent as HTTP Basic authorization."""

    userinfo: str  # as written in the URL, percent-encoded
    scheme: str
    host: str

    @classmethod
    def of(cls, url: str) -> _Credentials | None:
        parts = urlsplit(url)
        if parts.username is None:
            return None
        userinfo = parts.netloc.rpartition("@")[0]
        return cls(userinfo, parts.scheme.lower(), (parts.hostname or "").lower())

    @property
    def header(self) -> str:
        user, _, password = self.userinfo.partition(":")
        pair = f"{unquote(user)}:{unquote(password)}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def follow(self, url: str) -> _Credentials | None:
        """These credentials if a redirect to `url` may carry them: the same host,
        and never from https to plain http."""
        parts = urlsplit(url)
        same_host = (parts.hostname or "").lower() == self.host
        downgrade = self.scheme == "https" and parts.scheme.lower() != "https"
        return self if same_host and not downgrade else None

    def attach(self, url: str) -> str:
        """`url` with these credentials, so a moved feed still signs in."""
        parts = urlsplit(url)
        if parts.username is not None:
            return url
        return parts._replace(netloc=f"{self.userinfo}@{parts.netloc}").geturl()


def _get_holding_slots(
    url: str,
    *,
    headers: Mapping[str, str],
    deadline: Deadline,
    max_bytes: int,
) -> Answer:
    moved_to: str | None = None
    permanent_so_far = True
    current = url
    origin: str | None = None
    credentials = _Credentials.of(url)
    for _hop in range(MAX_REDIRECTS + 1):
        credentials = _Credentials.of(current) or (credentials and credentials.follow(current))
        sent = dict(headers)
        if credentials is not None:
            sent["Authorization"] = credentials.header
        host = urlsplit(current).hostname or ""
        with deadline.slots(host):
            deadline.start()
            conn, resp, peer = _open(current, sent, deadline, origin)
            origin = origin or peer
            try:
                status = resp.status
                if status in _REDIRECTS:
                    location = (resp.getheader("Location") or "").strip()
                    if not location:
                        raise Problem(f"HTTP {status} redirect without a Location header")
                    target = urljoin(current, location)
                    if urlsplit(target).scheme.lower() not in ("http", "https"):
                        raise Problem(f"redirected to a non-HTTP URL {redact_url(target)!r}")
                    if status in _PERMANENT and permanent_so_far:
                        kept = credentials and credentials.follow(target)
                        moved_to = kept.attach(target) if kept else target
                    else:
                        permanent_so_far = False
                    shown = redact_url(current)
                    log.debug("%s redirects (%d) to %s", shown, status, redact_url(target))
                    current = target
                    continue
                if status == 304:
                    return Answer(status, current, resp.msg, b"", moved_to)
                if not 200 <= status < 300:
                    raise _http_error(status, resp.reason, resp.msg)
                body = _read_body(resp, host, deadline, max_bytes)
                return Answer(status, current, resp.msg, body, moved_to)
            finally:
                deadline.watch(None)
                conn.close()
    raise Problem(f"too many redirects (more than {MAX_REDIRECTS})")
