"""Calling Google's REST APIs: what the Gmail and Calendar connectors share.

`GoogleApi` builds a service (bundled discovery, an optional ``api_endpoint``
override, one authorized HTTP client per instance), runs calls through
`execute`, which turns failures into pursuit's errors, reads every page of a
list call (`_pages`), and creates things without ever creating them twice
(`_create`).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from pursuit.connectors.google_auth import SIGN_IN, auth_error, authorized_http
from pursuit.daemon.errors import AuthError, SourceError

log = logging.getLogger(__name__)

#: 403 reasons that mean "slow down", retried like 429.
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})

T = TypeVar("T")


class RetryableError(SourceError):
    """A call failed in a way Google says to retry (5xx, rate limit, lost connection).

    Raised once the retries are spent; callers that handle it themselves
    (`GoogleApi.create`) call with no client retries. `retry_after`: the seconds the
    server said to wait, if it said.
    """

    retry_after: float | None = None


#: Google's own words on a rate-limit answer, often without a Retry-After header
#: ("User-rate limit exceeded.  Retry after 2024-11-12T11:16:42.247Z")
_RETRY_AFTER_TEXT = re.compile(rb"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)")


def retry_after(error: HttpError) -> float | None:
    """Seconds the server says to wait: its Retry-After (seconds or an HTTP date), else
    the time its message names; None when it says neither."""
    header = str(error.resp.get("retry-after", "")).strip()
    with suppress(ValueError):
        return max(0.0, float(header))
    when: datetime | None = None
    if header:
        with suppress(TypeError, ValueError, IndexError):
            when = email.utils.parsedate_to_datetime(header)
    found = _RETRY_AFTER_TEXT.search(error.content or b"")
    if when is None and found is not None:
        with suppress(ValueError):
            when = datetime.fromisoformat(found.group(1).decode())
    if when is None or when.tzinfo is None:
        return None
    # in whole seconds, as Retry-After: the time was the server's when it answered
    return float(max(0, math.ceil((when - datetime.now(UTC)).total_seconds())))


def http_status(exc: HttpError) -> int:
    return int(exc.resp.status)


def error_reason(exc: HttpError) -> str:
    """Google's machine reason (``rateLimitExceeded``...), or "" if none."""
    try:
        data = json.loads(exc.content.decode("utf-8"))
        errors = data["error"].get("errors") or []
        return str(errors[0].get("reason", "")) if errors else ""
    except (ValueError, KeyError, AttributeError, TypeError, IndexError):
        return ""


def retryable(status: int, reason: str = "") -> bool:
    """What Google says to retry: 5xx, 429, and 403 with a rate-limit reason."""
    return status >= 500 or status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS)


def api_error(source: str, method: str, exc: HttpError) -> SourceError:
    """pursuit's error for a failed call (after retries)."""
    status = http_status(exc)
    reason = exc.reason if isinstance(getattr(exc, "reason", None), str) else ""
    if status == 401:
        return AuthError(source, f"{method}: HTTP 401 {reason}; {SIGN_IN} to sign in again")
    if status == 403 and error_reason(exc) in ("insufficientPermissions", "forbidden"):
        return AuthError(source, f"{method}: HTTP 403 {reason}; {SIGN_IN} to grant access")
    message = f"{method}: HTTP {status} {reason}".rstrip()
    if retryable(status, error_reason(exc)):
        error = RetryableError(source, message)
        error.retry_after = retry_after(exc)
        return error
    return SourceError(source, message)


def execute(
    request: Any,
    *,
    source: str,
    method: str,
    num_retries: int,
    passthrough: Collection[int] = (),
) -> Any:
    """Run one API request, retried by the client (5xx, 429, 403 rate limits).

    An HttpError whose status is in `passthrough` is re-raised for the caller
    to handle (404 on history, 409 on insert...); every other failure becomes
    AuthError, RetryableError or SourceError.
    """
    try:
        return request.execute(num_retries=num_retries)
    except HttpError as exc:
        if http_status(exc) in passthrough:
            raise
        raise api_error(source, method, exc) from None
    except (RefreshError, TransportError) as exc:
        raise auth_error(exc) from None
    except (httplib2.HttpLib2Error, OSError) as exc:
        # a timeout or a dropped connection: the server may have done the work
        raise RetryableError(source, f"{method}: {type(exc).__name__}: {exc}") from None


def api_endpoint_root(api_endpoint: str) -> str:
    """``http://host:port/`` of an endpoint override (for the batch URIs)."""
    parts = urllib.parse.urlsplit(api_endpoint)
    return f"{parts.scheme}://{parts.netloc}/"


class GoogleApi:
    """One Google API service for one thread (httplib2 is not thread-safe)."""

    #: the name errors and warnings carry
    source: str
    #: the discovery name and version, e.g. ("gmail", "v1")
    api: tuple[str, str]
    #: where batches go when no endpoint override is configured
    default_batch_uri: str

    def __init__(
        self,
        credentials: Any,
        credentials_file: Path | None,
        *,
        api_endpoint: str | None = None,
        num_retries: int = 5,
        timeout: float = 60,
        backoff: float = 1.0,
    ) -> None:
        self._http = authorized_http(credentials, credentials_file, timeout=timeout)
        name, version = self.api
        self._service = build(
            name,
            version,
            http=self._http,
            client_options={"api_endpoint": api_endpoint} if api_endpoint else None,
            static_discovery=True,
            cache_discovery=False,
        )
        # batches ignore the endpoint override: aim them at the same host
        self.batch_uri = (
            f"{api_endpoint_root(api_endpoint)}batch/{name}/{version}"
            if api_endpoint
            else self.default_batch_uri
        )
        self.num_retries = num_retries
        self.backoff = backoff

    def _call(
        self,
        request: Any,
        method: str,
        passthrough: Collection[int] = (),
        *,
        num_retries: int | None = None,
    ) -> Any:
        """One call, retried here `num_retries` times with `_sleep_backoff` when
        Google says to retry: the client's own retries would sleep random()·2^n
        seconds whatever `backoff` says."""
        retries = self.num_retries if num_retries is None else num_retries
        attempt = 0
        while True:
            try:
                return execute(
                    request,
                    source=self.source,
                    method=method,
                    num_retries=0,
                    passthrough=passthrough,
                )
            except RetryableError as exc:
                if attempt >= retries:
                    raise
                attempt += 1
                self._sleep_backoff(attempt, exc.retry_after)

    def _pages(
        self,
        list_method: Callable[..., Any],
        method: str,
        passthrough: Collection[int] = (),
        **params: Any,
    ) -> Iterator[Mapping[str, Any]]:
        """Every page of a list call, in order.

        ``pageToken`` is passed by hand: the client's ``list_next()`` raises
        ValueError on repeated parameters (google-api-python-client#2178).
        """
        token: str | None = None
        while True:
            kwargs = {**params, "pageToken": token} if token else params
            page: Mapping[str, Any] = self._call(list_method(**kwargs), method, passthrough)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    #: the longest a call waits for a server that said when to come back; longer, it fails
    #: and its job tries again next round
    MAX_RETRY_AFTER = 120.0

    def _sleep_backoff(self, attempt: int, retry_after: float | None = None) -> None:
        """Back off before a retry: as long as the server said, else exponentially."""
        wait = self.backoff * min(32.0, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        time.sleep(max(wait, min(retry_after or 0.0, self.MAX_RETRY_AFTER)))

    def _create(
        self, make_request: Callable[[], Any], method: str, find: Callable[[], T | None]
    ) -> Any | T:
        """Run a call that creates something, never creating it twice.

        The client's own retries would repeat the POST even when Google did
        the work and only the answer was lost (a 503 after the commit, an
        answer after the timeout). So the create is sent without client
        retries, and before each retry `find()` looks for what the lost
        attempt may have made; what it returns is returned instead.
        """
        attempt = 0
        while True:
            try:
                return self._call(make_request(), method, num_retries=0)
            except RetryableError as exc:
                if attempt >= self.num_retries:
                    raise
                attempt += 1
                log.info("%s: %s (attempt %d); looking for what it made", self.source, exc, attempt)
            self._sleep_backoff(attempt)
            found = find()
            if found is not None:
                log.info("%s: %s had succeeded; not creating it again", self.source, method)
                return found
