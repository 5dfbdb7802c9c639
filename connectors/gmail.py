"""Gmail as pursuit's mailbox: the correspondence log reads it, drafts go to it.

First sync: a Gmail search for the tracked addresses and domains, message ids
from ``messages.list``, headers from batched ``messages.get(format=metadata)``.
After that: ``history.list`` from the saved history id, one call when nothing
changed. Bodies are never fetched. Mail is only ever sent to the user.

Quota (https://developers.google.com/gmail/api/reference/quota): 250 units per
user per second. A `QuotaPacer` keeps the units spent in any one-second window
under that, so a large first sync runs near the limit without ever hitting it.
Pacing matters because the client's own retries of a 429 ignore Retry-After
(they sleep random()·2^n seconds), so a sync that hit the limit would stall.

One instance per thread (httplib2 is not thread-safe).
"""

from __future__ import annotations

import base64
import email.header
import email.utils
import hashlib
import html
import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from pursuit.connectors.base import Address, MailChanges, MailMessage
from pursuit.connectors.google_auth import (
    api_endpoint_root,
    api_error,
    auth_error,
    authorized_http,
    error_reason,
    execute,
    http_status,
    retryable,
)
from pursuit.daemon.errors import CursorExpired, ItemError, SourceError

log = logging.getLogger(__name__)

SOURCE = "gmail"
DEFAULT_BATCH_URI = "https://gmail.googleapis.com/batch/gmail/v1"
KEY_HEADER = "X-Pursuit-Key"
METADATA_HEADERS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Id",
    "Precedence",
    "Auto-Submitted",
    KEY_HEADER,
)
_FIELD_HEADERS = frozenset({"from", "to", "cc", "reply-to", "subject", "date", "message-id"})
#: Messages in these labels are not correspondence (the search skips them too).
SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH"})
#: Gmail quota units per call.
UNITS = {
    "messages.list": 5,
    "messages.get": 5,
    "history.list": 2,
    "getProfile": 1,
    "drafts.list": 5,
    "drafts.get": 5,
    "drafts.create": 10,
    "messages.send": 100,
}
MAX_QUERY = 1500
MAX_BATCH = 50


class QuotaPacer:
    """Keeps the units spent in any `window` seconds at or under `limit`.

    A sliding window rather than a token bucket: Gmail counts units per
    second, and a bucket full enough for a 50-call batch would allow twice the
    rate in some windows. A spend is dated when its call *returns*, so the
    server, which counts the units when it receives the parts, never sees more
    than `limit` in any window.
    """

    def __init__(
        self,
        limit: float = 250,
        window: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._spent: deque[list[float]] = deque()  # [time, units]

    @contextmanager
    def spend(self, units: float) -> Iterator[None]:
        units = min(units, self.limit)
        while True:
            now = self.clock()
            while self._spent and self._spent[0][0] <= now - self.window:
                self._spent.popleft()
            used = sum(u for _, u in self._spent)
            if used + units <= self.limit:
                break
            # wait until enough of the oldest spends leave the window
            need = used + units - self.limit
            for when, spent in self._spent:
                need -= spent
                if need <= 0:
                    self.sleep(max(0.0, when + self.window - now) + 0.01)
                    break
        entry = [now, units]
        self._spent.append(entry)
        try:
            yield
        finally:
            entry[0] = self.clock()


class GmailMailbox:
    """The user's Gmail mailbox (see the module docstring)."""

    name = "gmail"

    def __init__(
        self,
        credentials: Any,
        credentials_file: Path | None,
        *,
        api_endpoint: str | None = None,
        user_email: str | None = None,
        num_retries: int = 5,
        batch_size: int = MAX_BATCH,
        quota_units_per_second: float = 250,
        backoff: float = 1.0,
        timeout: float = 60,
    ) -> None:
        self._http = authorized_http(credentials, credentials_file, timeout=timeout)
        options = {"api_endpoint": api_endpoint} if api_endpoint else None
        self._service = build(
            "gmail",
            "v1",
            http=self._http,
            client_options=options,
            static_discovery=True,
            cache_discovery=False,
        )
        self.batch_uri = (
            api_endpoint_root(api_endpoint) + "batch/gmail/v1"
            if api_endpoint
            else DEFAULT_BATCH_URI
        )
        self.user_email = user_email.lower() if user_email else None
        self.num_retries = num_retries
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.pacer = QuotaPacer(quota_units_per_second)
        self.backoff = backoff
        self._draft_keys: dict[str, str] | None = None

    # ------------------------------------------------------------------ calls

    def _call(
        self, request: Any, method: str, *, units: int = 5, passthrough: Iterable[int] = ()
    ) -> Any:
        with self.pacer.spend(units):
            return execute(
                request,
                source=SOURCE,
                method=method,
                num_retries=self.num_retries,
                passthrough=tuple(passthrough),
            )

    def _sleep_backoff(self, attempt: int) -> None:
        time.sleep(self.backoff * min(32.0, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0))

    def _batch(self, requests: Mapping[str, Any], method: str, *, units: int = 5) -> dict[str, Any]:
        """Run requests in batches; retry parts and envelopes that Google says to retry.

        Returns {request id: response}; parts answering 404 are left out (the
        item is gone). Any other failure, after retries, raises.
        """
        results: dict[str, Any] = {}
        for chunk in _chunks(list(requests), self.batch_size):
            results.update(self._one_batch({k: requests[k] for k in chunk}, method, units))
        return results

    def _one_batch(self, requests: Mapping[str, Any], method: str, units: int) -> dict[str, Any]:
        results: dict[str, Any] = {}
        pending = dict(requests)
        attempt = 0
        failed: dict[str, HttpError] = {}

        def collect(request_id: str, response: Any, error: Exception | None) -> None:
            if error is None:
                results[request_id] = response
            elif isinstance(error, HttpError):
                failed[request_id] = error
            else:  # pragma: no cover - the client only reports HttpError
                raise error

        while pending:
            failed.clear()

            batch = BatchHttpRequest(callback=collect, batch_uri=self.batch_uri)
            for request_id, request in pending.items():
                batch.add(request, request_id=request_id)
            try:
                with self.pacer.spend(units * len(pending)):
                    batch.execute()
            except HttpError as exc:  # the envelope itself failed
                if (
                    not retryable(http_status(exc), error_reason(exc))
                    or attempt >= self.num_retries
                ):
                    raise api_error(SOURCE, f"{method} (batch)", exc) from None
                attempt += 1
                self._sleep_backoff(attempt)
                continue
            except (RefreshError, TransportError) as exc:
                raise auth_error(exc) from None
            except (httplib2.HttpLib2Error, OSError) as exc:
                if attempt >= self.num_retries:
                    raise SourceError(SOURCE, f"{method} (batch): {exc}") from None
                attempt += 1
                self._sleep_backoff(attempt)
                continue
            retry: dict[str, Any] = {}
            for request_id, error in failed.items():
                status = http_status(error)
                if status == 404:
                    log.info("gmail: %s %s: gone, skipped", method, request_id)
                elif retryable(status, error_reason(error)) and attempt < self.num_retries:
                    retry[request_id] = pending[request_id]
                else:
                    raise api_error(SOURCE, method, error)
            pending = retry
            if pending:
                attempt += 1
                log.info("gmail: %d of a batch to retry (attempt %d)", len(pending), attempt)
                self._sleep_backoff(attempt)
        return results

    def _get_requests(self, ids: Iterable[str]) -> dict[str, Any]:
        messages = self._service.users().messages()
        return {
            mid: messages.get(
                userId="me", id=mid, format="metadata", metadataHeaders=list(METADATA_HEADERS)
            )
            for mid in ids
        }

    def _fetch(self, ids: Sequence[str]) -> list[MailMessage]:
        """Metadata of these messages, parsed; deleted and unparseable ones skipped."""
        found = self._batch(self._get_requests(ids), "messages.get")
        out = []
        for mid in ids:
            resource = found.get(mid)
            if resource is None:
                continue
            try:
                message = parse(resource)
            except ItemError as exc:
                log.warning("%s", exc)
                continue
            if message is not None:
                out.append(message)
        return out

    # ------------------------------------------------------------------ reading

    def profile(self) -> tuple[str, str]:
        """(the user's address, the current history id)."""
        result = self._call(
            self._service.users().getProfile(userId="me"), "getProfile", units=UNITS["getProfile"]
        )
        self.user_email = str(result["emailAddress"]).lower()
        return self.user_email, str(result["historyId"])

    def search(
        self,
        *,
        addresses: Sequence[str],
        domains: Sequence[str],
        since: datetime,
        progress: Callable[[int, int], None] | None = None,
        known: Collection[str] = (),
    ) -> Iterator[list[MailMessage]]:
        """Messages from, to or cc'd to the addresses and domains since `since`,
        except the `known` ids (an interrupted first sync resumes without them).

        Yields one list per batch so the caller can store as it goes; calls
        `progress(done, total)` after each batch.
        """
        ids: dict[str, None] = {}
        for q in build_queries(addresses, domains, since):
            for mid in self._list_ids(q):
                ids.setdefault(mid, None)
        todo = [mid for mid in ids if mid not in known]
        total = len(todo)
        done = 0
        if progress is not None:
            progress(0, total)
        for chunk in _chunks(todo, self.batch_size):
            messages = self._fetch(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
            yield messages

    def _list_ids(self, q: str) -> Iterator[str]:
        messages = self._service.users().messages()
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"userId": "me", "q": q, "maxResults": 500}
            if token:
                kwargs["pageToken"] = token
            page = self._call(messages.list(**kwargs), "messages.list")
            for ref in page.get("messages") or []:
                yield str(ref["id"])
            token = page.get("nextPageToken")
            if not token:
                return

    def changes(self, cursor: str) -> MailChanges:
        """Messages added since history id `cursor`, and the history id to save."""
        history = self._service.users().history()
        token: str | None = None
        added: dict[str, None] = {}
        new_cursor = cursor
        while True:
            # historyTypes is passed as one value and pageToken by hand:
            # list_next() fails on repeated parameters (google-api-python-client#2178).
            kwargs: dict[str, Any] = {
                "userId": "me",
                "startHistoryId": cursor,
                "historyTypes": "messageAdded",
                "maxResults": 500,
            }
            if token:
                kwargs["pageToken"] = token
            try:
                page = self._call(
                    history.list(**kwargs),
                    "history.list",
                    units=UNITS["history.list"],
                    passthrough=(404,),
                )
            except HttpError:
                raise CursorExpired(SOURCE, "history id expired; resyncing") from None
            for record in page.get("history") or []:
                for item in record.get("messagesAdded") or []:
                    message = item.get("message") or {}
                    if set(message.get("labelIds") or []) & SKIPPED_LABELS:
                        continue
                    if "id" in message:
                        added.setdefault(str(message["id"]), None)
            new_cursor = str(page.get("historyId") or new_cursor)
            token = page.get("nextPageToken")
            if not token:
                break
        messages: list[MailMessage] = []
        for chunk in _chunks(list(added), self.batch_size):
            messages.extend(self._fetch(chunk))
        return MailChanges(tuple(messages), new_cursor)

    # ------------------------------------------------------------------ writing

    def _scan_drafts(self) -> dict[str, str]:
        """{X-Pursuit-Key: draft id} of every draft carrying the header."""
        drafts = self._service.users().drafts()
        ids: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"userId": "me", "maxResults": 500}
            if token:
                kwargs["pageToken"] = token
            page = self._call(drafts.list(**kwargs), "drafts.list", units=UNITS["drafts.list"])
            ids.extend(str(d["id"]) for d in page.get("drafts") or [])
            token = page.get("nextPageToken")
            if not token:
                break
        requests = {did: drafts.get(userId="me", id=did, format="metadata") for did in ids}
        keys: dict[str, str] = {}
        for did, resource in self._batch(requests, "drafts.get", units=UNITS["drafts.get"]).items():
            headers = (resource.get("message") or {}).get("payload", {}).get("headers") or []
            for h in headers:
                if str(h.get("name", "")).lower() == KEY_HEADER.lower():
                    keys.setdefault(str(h.get("value", "")).strip(), did)
        return keys

    def find_draft(self, key: str) -> str | None:
        """The id of the draft carrying ``X-Pursuit-Key: key``, if there is one.

        The drafts are scanned once per instance (drafts.list + batched
        drafts.get); drafts created through this instance are added as they go.
        """
        if self._draft_keys is None:
            self._draft_keys = self._scan_drafts()
        return self._draft_keys.get(key)

    def create_draft(self, raw: bytes, key: str) -> str:
        """Create the draft unless one with this key exists; returns the draft id.

        `raw` is the RFC 5322 message, carrying the ``X-Pursuit-Key`` header.
        Sent as JSON ``{"message": {"raw": ...}}``: media uploads cannot reach
        an ``http://`` endpoint override.
        """
        existing = self.find_draft(key)
        if existing is not None:
            return existing
        body = {"message": {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}}
        result = self._call(
            self._service.users().drafts().create(userId="me", body=body),
            "drafts.create",
            units=UNITS["drafts.create"],
        )
        draft_id = str(result["id"])
        assert self._draft_keys is not None
        self._draft_keys[key] = draft_id
        return draft_id

    def send_to_self(self, raw: bytes, key: str) -> str:
        """Send `raw` to the user, once; returns the Gmail message id.

        Refuses any recipient but the user. Idempotent through the Message-ID:
        one derived from `key` is added when `raw` has none, and a sent message
        with that Message-ID (``rfc822msgid:`` search) is returned instead of
        sending again. Gmail keeps the Message-ID of a message sent through the
        API.
        """
        me = self.user_email or self.profile()[0]
        headers = BytesHeaderParser().parsebytes(raw)
        recipients = [
            addr.lower()
            for _, addr in email.utils.getaddresses(
                [str(v) for h in ("To", "Cc", "Bcc") for v in headers.get_all(h) or []]
            )
            if addr
        ]
        if not recipients or any(r != me for r in recipients):
            raise ValueError(f"pursuit sends mail to the user alone ({me}), not {recipients}")
        message_id = headers.get("Message-ID")
        if not message_id:
            digest = hashlib.sha256(key.encode()).hexdigest()[:32]
            message_id = f"<pursuit-{digest}@pursuit.invalid>"
            raw = f"Message-ID: {message_id}\r\n".encode() + raw
        message_id = str(message_id).strip()
        page = self._call(
            self._service.users()
            .messages()
            .list(userId="me", q=f"in:sent rfc822msgid:{message_id.strip('<>')}", maxResults=10),
            "messages.list",
        )
        for ref in page.get("messages") or []:
            return str(ref["id"])
        body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        result = self._call(
            self._service.users().messages().send(userId="me", body=body),
            "messages.send",
            units=UNITS["messages.send"],
        )
        return str(result["id"])


# ------------------------------------------------------------------------- queries


def _term(value: str) -> str:
    return re.sub(r'[\s{}()"]', "", value.strip().lower())


def build_queries(
    addresses: Sequence[str], domains: Sequence[str], since: datetime, *, limit: int = MAX_QUERY
) -> list[str]:
    """Gmail searches covering the addresses and domains, each under `limit` chars.

    ``{from:a to:a cc:a from:d ...} after:<epoch>``: epoch seconds, because a
    date is read as midnight Pacific. A bare domain also matches its subdomains.
    """
    after = f" after:{int(since.timestamp())}"
    terms: list[str] = []
    for value in [*addresses, *domains]:
        word = _term(value).lstrip("@")
        if word:
            terms.append(f"from:{word} to:{word} cc:{word}")
    queries: list[str] = []
    current: list[str] = []
    for term in dict.fromkeys(terms):
        if current and len(" ".join([*current, term])) + len(after) + 2 > limit:
            queries.append("{" + " ".join(current) + "}" + after)
            current = []
        current.append(term)
    if current:
        queries.append("{" + " ".join(current) + "}" + after)
    return queries


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ------------------------------------------------------------------------- parsing


def decode(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded, whitespace folded."""
    try:
        decoded = str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        decoded = value
    return " ".join(decoded.split())


def addresses(values: Iterable[str]) -> tuple[Address, ...]:
    """The addresses in these header values, display names decoded."""
    out: list[Address] = []
    for name, addr in email.utils.getaddresses(list(values)):
        addr = addr.strip().lower()
        if "@" not in addr:
            continue
        out.append(Address(decode(name).strip().strip('"').strip(), addr))
    return tuple(out)


def parse(resource: Mapping[str, Any]) -> MailMessage | None:
    """A MailMessage from a ``messages.get(format=metadata)`` resource.

    None for messages that are not correspondence (drafts, spam, trash);
    ItemError for one that cannot be used.
    """
    gmail_id = str(resource.get("id", "?"))
    try:
        labels = [str(x) for x in resource.get("labelIds") or []]
        if set(labels) & SKIPPED_LABELS:
            return None
        headers: dict[str, list[str]] = {}
        for h in (resource.get("payload") or {}).get("headers") or []:
            headers.setdefault(str(h["name"]).lower(), []).append(str(h.get("value", "")))

        def first(name: str) -> str | None:
            values = headers.get(name)
            return values[0] if values else None

        senders = addresses(headers.get("from", []))
        to = addresses(headers.get("to", []))
        cc = addresses(headers.get("cc", []))
        if not senders and not to and not cc:
            raise ValueError("no sender and no recipient")
        date = _date(first("date"), resource.get("internalDate"))
        message_id = (first("message-id") or "").strip()
        if not message_id:
            message_id = f"<gmail-{gmail_id}@pursuit.invalid>"
        elif not message_id.startswith("<"):
            message_id = f"<{message_id.strip('<>')}>"
        others = tuple(
            (name, decode(value))
            for name, values in headers.items()
            if name not in _FIELD_HEADERS
            for value in values
        )
        return MailMessage(
            source_id=str(resource["id"]),
            message_id=message_id,
            thread=str(resource["threadId"]) if resource.get("threadId") else None,
            date=date,
            sender=senders[0] if senders else None,
            to=to,
            cc=cc,
            reply_to=addresses(headers.get("reply-to", [])),
            subject=decode(first("subject") or ""),
            snippet=html.unescape(str(resource.get("snippet") or "")),
            outgoing="SENT" in labels,
            headers=others,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ItemError(f"gmail: message {gmail_id} skipped: cannot parse it ({exc})") from None


def _date(header: str | None, internal_date: Any) -> datetime:
    """The Date header, else Gmail's internalDate (ms since the epoch)."""
    if header:
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None and 1970 <= parsed.year <= 9999:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if internal_date is None:
        raise ValueError("no usable Date header and no internalDate")
    return datetime.fromtimestamp(int(internal_date) / 1000, tz=UTC)
