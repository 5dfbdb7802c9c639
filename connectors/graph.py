"""Microsoft Graph over plain HTTPS: the one client every Microsoft connector calls.

The only module, with `outlook_calendar`, that knows Graph's wire format. It keeps
Microsoft's documented limits and turns Graph's answers into pursuit's errors:

* at most `MAX_CONCURRENT` (4) requests of one mailbox in flight, process-wide
  (Exchange answers a fifth with 429 `MailboxConcurrency`): a semaphore per mailbox,
  released while a throttled request waits;
* 429, 503 and 504 are waited out as `Retry-After` says (else a doubling backoff),
  until `max_wait` seconds of waiting are spent: then `Unreachable`, so a throttled
  round ends later, or is tried again at the next one, and never fails an item;
* 401 asks the sign-in for a fresh token once (an access token Graph no longer
  takes, a key rotated), then `AuthError` naming `pursuit auth microsoft`;
* every other error is a `GraphError` (a `SourceError`) with the status, Graph's
  `code` and its `message` on one line, never the token nor a query string.

The msal sign-in is `microsoft_auth`'s; this module never imports msal (it costs
about 120 ms), only asks its token callable.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from pursuit.daemon.errors import AuthError, SourceError, Unreachable

log = logging.getLogger(__name__)

SOURCE = "microsoft"
SIGN_IN = "run `pursuit auth microsoft`"
DEFAULT_ENDPOINT = "https://graph.microsoft.com/v1.0/"
#: Exchange Online serves at most 4 concurrent requests per app per mailbox.
MAX_CONCURRENT = 4
#: Statuses Graph documents as "try again later", with or without Retry-After.
THROTTLED = (429, 503, 504)
#: Statuses of a passing fault: tried again a few times, then a SourceError.
TRANSIENT = (500, 502)
TRANSIENT_TRIES = 3
#: The backoff without a Retry-After: doubling from FIRST_BACKOFF, at most MAX_BACKOFF.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class TokenSource(Protocol):
    """The sign-in's access token for Graph (`MicrosoftSignIn.graph_token`):
    `force_refresh` asks for a new one after Graph refused the last."""

    def __call__(self, force_refresh: bool = False) -> str: ...


class GraphError(SourceError):
    """Graph answered with an error: `status` and Graph's `code` let a connector tell
    a missing item (404 ErrorItemNotFound) or an expired delta token (410) apart."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(SOURCE, message)


_slots_lock = threading.Lock()
_slots: dict[str, threading.BoundedSemaphore] = {}


def mailbox_slots(mailbox: str) -> threading.BoundedSemaphore:
    """The semaphore of one mailbox, shared by every client of this process."""
    with _slots_lock:
        return _slots.setdefault(mailbox.lower(), threading.BoundedSemaphore(MAX_CONCURRENT))


def retry_after(response: requests.Response) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_of(response: requests.Response) -> tuple[str, str]:
    """(Graph's error code, its message) from an error answer; the status line when the
    body is not Graph's error JSON."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    return "", (response.reason or "").strip()


class GraphClient:
    """Requests to Graph for one signed-in mailbox (see the module docstring).

    Safe to share between threads: each thread has its own HTTP session.
    """

    def __init__(
        self,
        token: TokenSource,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        mailbox: str,
        timeout: float = 60.0,
        max_wait: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.mailbox = mailbox
        self.timeout = timeout
        self.max_wait = max_wait
        self.sleep = sleep
        self.slots = mailbox_slots(mailbox)
        self._local = threading.local()
        origin = urlsplit(self.endpoint)
        self._origin = (origin.scheme, origin.netloc)

    # ------------------------------------------------------------------ the calls

    def get(self, path: str, params: Mapping[str, str] | None = None, **kw: Any) -> Any:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("POST", path, body=body, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def pages(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        prefer: tuple[str, ...] = (),
    ) -> Iterator[dict[str, Any]]:
        """Each page of a collection, following `@odata.nextLink` (which carries every
        parameter of the first request); the last page is the one without it (a delta
        round's holds the `@odata.deltaLink`)."""
        page: Any = self.get(path, params, prefer=prefer)
        while True:
            if not isinstance(page, dict):
                raise SourceError(SOURCE, f"GET {self._where(path)}: not a collection")
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            path = str(link)
            page = self.get(path, prefer=prefer)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content: bytes | None = None,
        content_type: str = "text/plain",
        prefer: tuple[str, ...] = (),
        once: bool = False,
    ) -> Any:
        """One call, waited out and retried as the module docstring says; the answer's
        JSON ({} when it has none). `body` goes as JSON, `content` as it is (sendMail's
        MIME). With `once` (a send no id makes safe to repeat), an answer lost on the way
        or a 500, 502 or 504 is not tried again: the call may have been carried out, and
        the caller's outbox, which noted the send before it, looks for it instead."""
        url = self._url(path)
        where = f"{method} {self._where(url)}"
        waited = 0.0
        backoff = FIRST_BACKOFF
        faults = 0
        refreshed = False
        force_refresh = False
        while True:
            token = self.token(force_refresh) if force_refresh else self.token()
            force_refresh = False
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if content is not None:
                headers["Content-Type"] = content_type
            if prefer:
                headers["Prefer"] = ", ".join(prefer)
            try:
                with self.slots:
                    response = self._session().request(
                        method,
                        url,
                        params=params,
                        json=body if content is None else None,
                        data=content,
                        headers=headers,
                        timeout=self.timeout,
                    )
            except requests.RequestException as exc:
                faults += 1
                if faults >= TRANSIENT_TRIES or (once and not _never_sent(exc)):
                    raise Unreachable(
                        SOURCE, f"{where}: cannot reach Microsoft Graph ({type(exc).__name__})"
                    ) from None
                waited += self._wait(jitter(backoff), where, "no answer")
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            status = response.status_code
            if status < 400:
                if status == 204 or not response.content:
                    return {}
                try:
                    return response.json()
                except ValueError:
                    raise SourceError(SOURCE, f"{where}: an answer that is not JSON") from None
            code, message = error_of(response)
            if status == 401 and not refreshed:
                refreshed = force_refresh = True
                continue
            if status == 401:
                raise AuthError(
                    SOURCE,
                    f"Microsoft Graph refused the sign-in ({code or status}: {message}); "
                    f"{SIGN_IN} to sign in again",
                )
            if status in THROTTLED and not (once and status == 504):
                delay = retry_after(response)
                delay = jitter(backoff) if delay is None else delay
                backoff = min(backoff * 2, MAX_BACKOFF)
                if waited + delay > self.max_wait:
                    raise Unreachable(
                        SOURCE,
                        f"{where}: Microsoft Graph is throttling or busy ({status} "
                        f"{code or 'no code'}) after {waited:.0f} s of waiting; "
                        "pursuit tries again at the next round",
                    )
                waited += self._wait(delay, where, f"{status} {code}".strip())
                continue
            if status in TRANSIENT and not once:
                faults += 1
                if faults < TRANSIENT_TRIES:
                    waited += self._wait(jitter(backoff), where, f"{status} {code}".strip())
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
            raise GraphError(status, code, f"{where}: {status} {code}: {message}".strip(": "))

    # ------------------------------------------------------------------ plumbing

    def _wait(self, seconds: float, where: str, why: str) -> float:
        """Sleep outside the mailbox's slots (the other requests go on meanwhile)."""
        log.info("%s: %s; waiting %.1f s before trying again", where, why, seconds)
        if seconds > 0:
            self.sleep(seconds)
        return seconds

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _url(self, path: str) -> str:
        """A path under the endpoint, or a link Graph gave (nextLink, deltaLink), which
        must lead to the same server: the token is never sent anywhere else."""
        url = urljoin(self.endpoint, path)
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            raise SourceError(SOURCE, f"a link to another server ({parts.netloc}) refused")
        return url

    def _where(self, url: str) -> str:
        """The path of a request, without the endpoint nor the query (tokens, filters)."""
        path = urlsplit(urljoin(self.endpoint, url)).path
        base = urlsplit(self.endpoint).path
        return path[len(base) :] if path.startswith(base) else path

    def close(self) -> None:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None


def _never_sent(fault: requests.RequestException) -> bool:
    """True when the request cannot have reached Graph: the connection was never made."""
    if isinstance(fault, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    cause = getattr(fault.args[0], "reason", None) if fault.args else None
    return isinstance(cause, urllib3.exceptions.NewConnectionError)  # refused, no route


def jitter(seconds: float) -> float:
    """A wait spread a little, so clients throttled together do not return together."""
    return seconds * (1 + random.random() / 4)
