"""Gmail as pursuit's mailbox: the correspondence log reads it, drafts go to it.

First sync: a Gmail search for the tracked addresses and domains, message ids
from ``messages.list``, headers and the start of the text from batched
``messages.get(format=full)`` (attachments are never fetched; the text is read,
not kept). After that: ``history.list`` from the saved history id, one call when
nothing changed. Mail is only ever sent to the user.

Quota (https://developers.google.com/gmail/api/reference/quota): documented as
250 units per user per second, 15,000 per minute, or 6,000 per minute depending
on the page. A `QuotaPacer` starts at 250 per second and learns the real limit
from the first rate-limit answers, waiting as long as they say (Retry-After, or
the time in the message, where Gmail often says it alone); a batch's refused
parts are retried once the pacer allows, never failing the sync. Pacing matters
because the client's own retries of a 429 ignore Retry-After (they sleep
random()·2^n seconds), so a sync that hit the limit would stall.

One instance per thread (httplib2 is not thread-safe).
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from pursuit.connectors.base import (
    HEADERS_READ,
    KEY_HEADER,
    MailChanges,
    MailMessage,
    check_only_to,
    outgoing_key,
)
from pursuit.connectors.google_api import (
    RATE_LIMIT_REASONS,
    GoogleApi,
    RetryableError,
    api_error,
    error_reason,
    http_status,
    retryable,
)
from pursuit.connectors.google_api import retry_after as _retry_after
from pursuit.connectors.google_auth import auth_error
from pursuit.connectors.headers import TEXT_CHARS, message_from_headers, text_excerpt, text_part
from pursuit.connectors.text import clean_text
from pursuit.daemon.addresses import ascii_address, ascii_domain
from pursuit.daemon.errors import CursorExpired, ItemError, SourceError

log = logging.getLogger(__name__)

SOURCE = "gmail"
DEFAULT_BATCH_URI = "https://gmail.googleapis.com/batch/gmail/v1"
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
    "drafts.update": 15,
    "drafts.delete": 10,
    "messages.send": 100,
}
MAX_QUERY = 1500
MAX_BATCH = 50
#: rate-limit answers a batch waits out before giving up (an hour at Retry-After 60)
MAX_RATE_LIMIT_ROUNDS = 60


class _Spend:
    __slots__ = ("returned", "sent", "size", "units")

    def __init__(self, sent: float, units: float) -> None:
        self.sent = sent
        self.returned: float | None = None
        self.units = units
        self.size = units  # what was asked: calls of one size take alike round trips


class QuotaPacer:
    """Spends Gmail quota units as fast as the server allows, learning its limit.

    Google documents the per-user limit differently on different pages (250
    units/s, 15,000/min, 6,000/min), so the pacer starts at `limit` units per
    `window` and adapts:

    * the server counts a call somewhere between its sending and its answer.
      A spend leaves a window one window after its call returned, less the
      fastest round trip seen for a call of its size (the next call is counted
      no sooner than that after it is sent), less the share `trust` of what
      this call took beyond the fastest (time the server may have spent after
      counting it), plus `margin`. Dating from the return alone would idle a
      round trip every window; dating from the sending alone would be wrong
      whenever the server was slow to count;
    * on a rate-limit answer (`rate_limited`) it waits as long as the server
      says (when it says nothing, twice as long at each refusal in a row, and
      the third in a row is taken for a per-minute limit). A wait
      longer than two windows means a per-minute limit: the units
      it sent in the last minute become it. A short one means the server
      counted two spends closer together than the pacer did: first the trust
      halves (down to none), then the margin widens, and once it is wide the
      per-window rate drops by a tenth, never more at a time (one late answer
      is no proof of a lower limit);
    * every `probe` seconds without a rate-limit answer it narrows the margin,
      restores the trust and raises the rate by a tenth, back up towards the documented rate; a
      learned per-minute limit is raised by a tenth every `minute_probe` s.
    """

    MINUTE = 60.0
    MAX_MARGIN = 0.2
    #: a per-minute limit is never learned from fewer units than this
    MIN_LEARNED = 50.0

    def __init__(
        self,
        limit: float = 250,
        window: float = 1.0,
        *,
        margin: float = 0.025,
        trust: float = 0.5,
        hold: float = 10.0,
        probe: float = 20.0,
        minute_probe: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.start_limit = limit
        self.window = window
        self.margin = self.start_margin = margin
        self.trust = self.start_trust = trust
        self.hold = hold
        self.probe = probe
        self.minute_probe = minute_probe
        self.clock = clock
        self.sleep = sleep
        #: the limits in force, units per window length in seconds
        self.limits: dict[float, float] = {window: limit}
        self._spent: deque[_Spend] = deque()
        self._fastest: dict[float, float] = {}  # call size -> its fastest round trip
        self._changed: float | None = None  # the last rate-limit answer or probe (or first spend)
        self._minute_changed = 0.0  # when the per-minute limit was learned or probed
        self._resume_at = 0.0
        self.rate_limits = 0  # rate-limit answers seen
        self._refused_in_a_row = 0  # rate-limit answers with no answered call between
        self._refused_last = False

    @property
    def limit(self) -> float:
        """The per-`window` limit in force."""
        return self.limits[self.window]

    def _leaves(self, spend: _Spend, window: float) -> float:
        if spend.returned is None:  # still on its way: assume the worst
            return spend.sent + window + self.MAX_MARGIN
        took = spend.returned - spend.sent
        fastest = self._fastest.get(spend.size, took)
        lead = fastest + self.trust * (took - fastest) - self.margin
        return spend.returned + window - max(0.0, lead)

    def _wait_needed(self, units: float, now: float) -> float:
        """Seconds until `units` more fit in every window."""
        longest = max(*self.limits, self.MINUTE)  # a minute's spends are kept to learn from
        while self._spent and self._leaves(self._spent[0], longest) <= now:
            self._spent.popleft()
        wait = max(0.0, self._resume_at - now)
        for window, limit in self.limits.items():
            live = sorted(
                (self._leaves(s, window), s.units)
                for s in self._spent
                if self._leaves(s, window) > now
            )
            excess = sum(u for _, u in live) + min(units, limit) - limit
            for leaves, spent in live:
                if excess <= 0:
                    break
                excess -= spent
                wait = max(wait, leaves - now)
        return wait

    @contextmanager
    def spend(self, units: float) -> Iterator[None]:
        if not self._refused_last:
            self._refused_in_a_row = 0
        self._refused_last = False
        self._maybe_probe()
        while (wait := self._wait_needed(units, self.clock())) > 0:
            self.sleep(wait)
        entry = _Spend(self.clock(), units)
        self._spent.append(entry)
        try:
            yield
        finally:
            entry.returned = self.clock()
            took = entry.returned - entry.sent
            self._fastest[units] = min(self._fastest.get(units, took), took)

    def rate_limited(self, refused: float, retry_after: float | None = None) -> None:
        """The last spend's call was refused for `refused` of its units: wait, slow down.

        When the server does not say how long to wait, each refusal in a row waits
        twice as long as the one before (up to a minute); a refusal after the rate had
        held for `hold` seconds, or the third in a row, is taken for a per-minute limit.
        """
        now = self.clock()
        self.rate_limits += 1
        self._refused_last = True
        self._refused_in_a_row += 1
        last = self._spent[-1] if self._spent else _Spend(now, refused)
        last.units = max(0.0, last.units - refused)  # refused units were not counted
        if retry_after is None:
            wait = min(self.MINUTE, self.window * 2.0 ** (self._refused_in_a_row - 1))
        else:
            wait = retry_after
        self._resume_at = max(self._resume_at, now + wait)
        held = (self._changed is not None and now - self._changed >= self.hold) or (
            self._refused_in_a_row >= 3
        )
        if (retry_after or 0) > 2 * self.window or (retry_after is None and held):
            # every unit sent in the last minute was counted in the server's minute
            spent = sum(s.units for s in self._spent if s.sent > now - self.MINUTE)
            # a second's worth, or less but as much as was refused (a limit below a
            # second's allowance); else it is not our spending the server measures: wait
            if spent >= min(self.limit, max(refused, self.MIN_LEARNED)):
                self.limits[self.MINUTE] = min(self.limits.get(self.MINUTE, spent), spent)
                self._minute_changed = now
                log.info("gmail: the quota is per minute, about %d units", spent)
        elif self.trust > 0:
            self.trust = 0.0 if self.trust < 0.1 else self.trust / 2
            log.info("gmail: the server counted a call late; trust now %.2f", self.trust)
        elif self.margin < self.MAX_MARGIN:
            self.margin = min(self.MAX_MARGIN, self.margin * 2)
            log.info("gmail: spends overlapped at the server; margin now %.2f s", self.margin)
        else:
            self.limits[self.window] = max(1.0, self.limit * 0.9)
            log.info("gmail: slowing down to %d units per second", self.limit)
        self._changed = now

    def _maybe_probe(self) -> None:
        now = self.clock()
        if self._changed is None:
            self._changed = self._minute_changed = now
        if now - self._changed >= self.probe:
            self._changed = now
            self.margin = max(self.start_margin, self.margin / 2)
            self.trust = min(self.start_trust, self.trust + 0.1)
            self.limits[self.window] = min(self.start_limit, self.limit * 1.1)
        if self.MINUTE in self.limits and now - self._minute_changed >= self.minute_probe:
            self._minute_changed = now
            self.limits[self.MINUTE] *= 1.1
            if self.limits[self.MINUTE] >= self.limit * self.MINUTE / self.window:
                del self.limits[self.MINUTE]


class GmailMailbox(GoogleApi):
    """The user's Gmail mailbox (see the module docstring)."""

    name = "gmail"
    source = SOURCE
    api = ("gmail", "v1")
    default_batch_uri = DEFAULT_BATCH_URI
    #: Google may carry out a request it received well after its client died.
    in_doubt = timedelta(minutes=10)

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
        super().__init__(
            credentials,
            credentials_file,
            api_endpoint=api_endpoint,
            num_retries=num_retries,
            timeout=timeout,
            backoff=backoff,
        )
        self.user_email = user_email.lower() if user_email else None
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.pacer = QuotaPacer(quota_units_per_second)
        self._draft_keys: dict[str, str] | None = None
        #: messages skipped because they could not be parsed, since construction
        self.skipped = 0

    # ------------------------------------------------------------------ calls

    def _call(
        self,
        request: Any,
        method: str,
        passthrough: Collection[int] = (),
        *,
        num_retries: int | None = None,
    ) -> Any:
        """One paced call. A rate-limit answer goes to the pacer, which waits it
        out (Retry-After) before the call is sent again; the client's own
        retries would ignore Retry-After. Other failures are retried here with
        backoff, `num_retries` times (a create passes 0 and looks before
        retrying: `GoogleApi._create`, which also gets the rate limit raised)."""
        retries = self.num_retries if num_retries is None else num_retries
        attempt = 0
        limited = 0
        while True:
            try:
                with self.pacer.spend(UNITS[method]):
                    return super()._call(request, method, (*passthrough, 403, 429), num_retries=0)
            except HttpError as exc:
                if http_status(exc) in passthrough:
                    raise
                if not _rate_limit(exc) or limited >= MAX_RATE_LIMIT_ROUNDS:
                    raise api_error(SOURCE, method, exc) from None
                limited += 1
                self.pacer.rate_limited(UNITS[method], _retry_after(exc))
                if num_retries == 0:
                    raise api_error(SOURCE, method, exc) from None
            except RetryableError:
                if attempt >= retries:
                    raise
                attempt += 1
                self._sleep_backoff(attempt)

    def _batch(self, requests: Mapping[str, Any], method: str) -> dict[str, Any]:
        """Run requests in batches; retry parts and envelopes that Google says to retry.

        Returns {request id: response}; parts answering 404 are left out (the
        item is gone). Any other failure, after retries, raises.
        """
        results: dict[str, Any] = {}
        todo = list(requests)
        while todo:
            # a batch never costs more than the smallest limit the pacer knows of
            smallest = min(self.pacer.limits.values())
            size = min(self.batch_size, max(1, int(smallest // UNITS[method])))
            chunk, todo = todo[:size], todo[size:]
            results.update(self._one_batch({k: requests[k] for k in chunk}, method))
        return results

    def _one_batch(self, requests: Mapping[str, Any], method: str) -> dict[str, Any]:
        results: dict[str, Any] = {}
        pending = dict(requests)
        attempt = 0
        failed: dict[str, HttpError] = {}
        limited_rounds = 0

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
                with self.pacer.spend(UNITS[method] * len(pending)):
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
            limited: list[HttpError] = []
            for request_id, error in failed.items():
                status = http_status(error)
                if status == 404:
                    log.info("gmail: %s %s: gone, skipped", method, request_id)
                elif _rate_limit(error) and limited_rounds < MAX_RATE_LIMIT_ROUNDS:
                    # the pacer waits it out; it never counts against the retries
                    limited.append(error)
                    retry[request_id] = pending[request_id]
                elif retryable(status, error_reason(error)) and attempt < self.num_retries:
                    retry[request_id] = pending[request_id]
                else:
                    raise api_error(SOURCE, method, error)
            if limited:
                limited_rounds += 1
                # "Retry-After: 0" is a time like any other, not the absence of one
                said = [t for t in map(_retry_after, limited) if t is not None]
                self.pacer.rate_limited(UNITS[method] * len(limited), max(said, default=None))
            pending = retry
            if pending and len(limited) < len(pending):
                attempt += 1
                log.info("gmail: %d of a batch to retry (attempt %d)", len(pending), attempt)
                self._sleep_backoff(attempt)
        return results

    def _get_requests(self, ids: Iterable[str]) -> dict[str, Any]:
        # format=full: the headers and the text parts (attachments stay on the server),
        # for the start of the text every mailbox hands the core (`headers.TEXT_CHARS`):
        # Gmail's own snippet, some 200 characters, ends before most rejections say
        # what they are. It costs the quota units of format=metadata.
        messages = self._service.users().messages()
        return {mid: messages.get(userId="me", id=mid, format="full") for mid in ids}

    def _fetch(self, ids: Sequence[str]) -> list[MailMessage]:
        """These messages, parsed; deleted and unparseable ones skipped."""
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
                self.skipped += 1
                continue
            if message is not None:
                out.append(message)
        return out

    # ------------------------------------------------------------------ reading

    def profile(self) -> tuple[str, str]:
        """(the user's address, the current history id)."""
        result = self._call(self._service.users().getProfile(userId="me"), "getProfile")
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
        organizations: Sequence[str] = (),
        hiring_systems: Sequence[str] = (),
    ) -> Iterator[list[MailMessage]]:
        """Messages from, to or cc'd to the addresses and domains since `since`,
        and mail from the hiring systems' domains naming one of the organizations,
        except the `known` ids (an interrupted first sync resumes without them).

        Yields one list per batch so the caller can store as it goes; calls
        `progress(done, total)` after each batch.
        """
        ids: dict[str, None] = {}
        queries = build_queries(addresses, domains, since)
        queries += build_hiring_queries(hiring_systems, organizations, since)
        for q in queries:
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
        for page in self._pages(messages.list, "messages.list", userId="me", q=q, maxResults=500):
            for ref in page.get("messages") or []:
                yield str(ref["id"])

    def changes(self, cursor: str) -> MailChanges:
        """Messages added since history id `cursor`, and the history id to save."""
        history = self._service.users().history()
        added: dict[str, None] = {}
        new_cursor = cursor
        # historyTypes is passed as one value: see _pages on repeated parameters
        pages = self._pages(
            history.list,
            "history.list",
            (404,),
            userId="me",
            startHistoryId=cursor,
            historyTypes="messageAdded",
            maxResults=500,
        )
        try:
            for page in pages:
                for record in page.get("history") or []:
                    for item in record.get("messagesAdded") or []:
                        message = item.get("message") or {}
                        if set(message.get("labelIds") or []) & SKIPPED_LABELS:
                            continue
                        if "id" in message:
                            added.setdefault(str(message["id"]), None)
                new_cursor = str(page.get("historyId") or new_cursor)
        except HttpError:
            raise CursorExpired(SOURCE, "history id expired; resyncing") from None
        skipped = self.skipped
        messages: list[MailMessage] = []
        for chunk in _chunks(list(added), self.batch_size):
            messages.extend(self._fetch(chunk))
        return MailChanges(tuple(messages), new_cursor, skipped=self.skipped - skipped)

    # ------------------------------------------------------------------ writing

    def _scan_drafts(self) -> list[tuple[str, str]]:
        """(X-Pursuit-Key, draft id) of every draft carrying the header, in the order
        drafts.list gives them; what is found is remembered for `find_draft`."""
        drafts = self._service.users().drafts()
        ids = [
            str(d["id"])
            for page in self._pages(drafts.list, "drafts.list", userId="me", maxResults=500)
            for d in page.get("drafts") or []
        ]
        requests = {did: drafts.get(userId="me", id=did, format="metadata") for did in ids}
        found = self._batch(requests, "drafts.get")
        keyed: list[tuple[str, str]] = []
        for did in ids:
            headers = ((found.get(did) or {}).get("message") or {}).get("payload", {})
            for h in headers.get("headers") or []:
                if str(h.get("name", "")).lower() == KEY_HEADER.lower():
                    keyed.append((str(h.get("value", "")).strip(), did))
                    break
        self._draft_keys = {}
        for key, did in keyed:
            self._draft_keys.setdefault(key, did)
        return keyed

    def find_draft(self, key: str) -> str | None:
        """The id of the draft carrying ``X-Pursuit-Key: key``, if there is one.

        The drafts are scanned once per instance (drafts.list + batched
        drafts.get), and again by `draft_keys`; drafts created through this
        instance are added as they go.
        """
        if self._draft_keys is None:
            self._scan_drafts()
        assert self._draft_keys is not None
        return self._draft_keys.get(key)

    def draft_keys(self) -> dict[str, int]:
        """How many drafts carry each key now (a scan: drafts.list, batched drafts.get)."""
        counts: dict[str, int] = {}
        for key, _ in self._scan_drafts():
            counts[key] = counts.get(key, 0) + 1
        return counts

    def drafts_with_key(self, key: str) -> list[tuple[str, bytes]]:
        """Every draft carrying this key now: its id and its message (format=raw)."""
        copies = []
        for found, draft_id in self._scan_drafts():
            if found != key:
                continue
            request = self._service.users().drafts().get(userId="me", id=draft_id, format="raw")
            try:
                resource = self._call(request, "drafts.get", (404,))
            except HttpError:  # deleted or sent since the scan
                continue
            raw = str((resource.get("message") or {}).get("raw") or "")
            copies.append((draft_id, base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))))
        return copies

    def delete_draft(self, draft_id: str) -> None:
        """drafts.delete (a draft gone already answers 404: nothing to do)."""
        request = self._service.users().drafts().delete(userId="me", id=draft_id)
        self._draft_keys = None  # the draft find_draft knew may be this one
        try:
            self._call(request, "drafts.delete", (404,))
        except HttpError:
            return  # gone already

    def create_draft(self, raw: bytes, key: str) -> str:
        """Create the draft unless one with this key exists; returns the draft id.

        `raw` is the RFC 5322 message, carrying the ``X-Pursuit-Key`` header.
        Sent as JSON ``{"message": {"raw": ...}}``: media uploads cannot reach
        an ``http://`` endpoint override.
        """
        existing = self.find_draft(key)
        if existing is not None:
            return existing
        # an answer lost after Google created the draft is not a reason to
        # create it again: before a retry the drafts are scanned for the key
        body = {"message": {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}}

        def made_already() -> dict[str, str] | None:
            self._draft_keys = None  # scan again: the lost attempt may have made it
            found = self.find_draft(key)
            return None if found is None else {"id": found}

        result = self._create(
            lambda: self._service.users().drafts().create(userId="me", body=body),
            "drafts.create",
            made_already,
        )
        draft_id = str(result["id"])
        assert self._draft_keys is not None
        self._draft_keys[key] = draft_id
        return draft_id

    def read_draft(self, key: str) -> bytes | None:
        """The draft made with ``X-Pursuit-Key: key`` as Gmail holds it now, or None.

        Gmail keeps a draft's id when the user edits it (its headers may not
        survive the edit), so a draft found by this instance is read by its id; one
        gone since (deleted, or sent) is looked for once more, then None.
        """
        for fresh in (False, True):
            if fresh:
                self._draft_keys = None
            draft_id = self.find_draft(key)
            if draft_id is None:
                return None
            request = self._service.users().drafts().get(userId="me", id=draft_id, format="raw")
            try:
                resource = self._call(request, "drafts.get", (404,))
            except HttpError:  # 404: deleted or sent since the scan
                continue
            raw = str((resource.get("message") or {}).get("raw") or "")
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        self._draft_keys = None
        return None

    def replace_draft(self, key: str, raw: bytes) -> str | None:
        """The draft carrying this key updated in place to `raw` (Gmail keeps its
        id); None when no draft carries the key. An update sent twice writes the
        same draft twice, so it is retried like a read."""
        headers = BytesHeaderParser().parsebytes(raw)
        if str(headers.get(KEY_HEADER, "")).strip() != key:
            raise ValueError(f"the draft must carry {KEY_HEADER}: {key}")
        draft_id = self.find_draft(key)
        if draft_id is None:
            return None
        body = {"message": {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}}
        request = self._service.users().drafts().update(userId="me", id=draft_id, body=body)
        try:
            result = self._call(request, "drafts.update", (404,))
        except HttpError:  # deleted or sent meanwhile: not made again
            self._draft_keys = None
            return None
        return str(result.get("id") or draft_id)

    def send_to_self(
        self, raw: bytes, key: str, *, begin: Callable[[], object] | None = None
    ) -> str:
        """Send `raw` to the user, once; returns the Gmail message id.

        Refuses any recipient but the user. Idempotent through the Message-ID:
        one derived from `key` is added when `raw` has none, and a sent message
        with that Message-ID (``rfc822msgid:`` search) is returned instead of
        sending again. Gmail keeps the Message-ID of a message sent through the
        API.
        """
        me = self.user_email or self.profile()[0]
        headers = BytesHeaderParser().parsebytes(raw)
        check_only_to(headers, me)
        message_id = headers.get("Message-ID")
        if not message_id:
            digest = hashlib.sha256(key.encode()).hexdigest()[:32]
            message_id = f"<pursuit-{digest}@pursuit.invalid>"
            raw = f"Message-ID: {message_id}\r\n".encode() + raw
        query = f"in:sent rfc822msgid:{str(message_id).strip().strip('<>')}"

        def sent_already() -> dict[str, str] | None:
            page = self._call(
                self._service.users().messages().list(userId="me", q=query, maxResults=10),
                "messages.list",
            )
            refs = page.get("messages") or []
            return {"id": str(refs[0]["id"])} if refs else None

        found = sent_already()
        if found is not None:
            return found["id"]
        body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        if begin is not None:
            begin()
        result = self._create(
            lambda: self._service.users().messages().send(userId="me", body=body),
            "messages.send",
            sent_already,
        )
        return str(result["id"])

    # -------------------------------------------------- Sender (the weekly summary)

    keeps_record = True  # what messages.send committed is in Sent (once it has landed)

    def find_sent(self, key: str, message_id: str) -> str | None:
        """The id of the sent message with this Message-ID carrying ``X-Pursuit-Key:
        key``, if there is one.

        Gmail cannot search an arbitrary header: the Message-ID is searched
        (``rfc822msgid:``), and the key header of each hit is checked.
        """
        query = f"in:sent rfc822msgid:{message_id.strip().strip('<>')}"
        page = self._call(
            self._service.users().messages().list(userId="me", q=query, maxResults=10),
            "messages.list",
        )
        for ref in page.get("messages") or []:
            resource = self._call(
                self._service.users()
                .messages()
                .get(userId="me", id=ref["id"], format="metadata", metadataHeaders=[KEY_HEADER]),
                "messages.get",
            )
            headers = (resource.get("payload") or {}).get("headers") or []
            if any(
                str(h.get("name", "")).lower() == KEY_HEADER.lower()
                and str(h.get("value", "")).strip() == key
                for h in headers
            ):
                return str(ref["id"])
        return None

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        """Send to the user alone, once per Message-ID (the core's, so `find_sent`
        finds it in any process); returns the Gmail id."""
        key = outgoing_key(message, self.user_email or self.profile()[0])
        return self.send_to_self(message.as_bytes(), key, begin=begin)


# ------------------------------------------------------------------------- queries


def _term(value: str) -> str:
    return re.sub(r'[\s{}()"]', "", value.strip().lower())


def _ascii_zone(domain: str) -> str:
    """A domain as mail servers search it: münchen.de -> xn--mnchen-3ya.de."""
    try:
        return ascii_domain(domain)
    except ValueError:
        return domain


def build_queries(
    addresses: Sequence[str], domains: Sequence[str], since: datetime, *, limit: int = MAX_QUERY
) -> list[str]:
    """Gmail searches covering the addresses and domains, each under `limit` chars.

    ``{from:a to:a cc:a from:d ...} after:<epoch>``: epoch seconds, because a
    date is read as midnight Pacific. A bare domain also matches its subdomains.
    Internationalised domains are searched in their ASCII form, as headers carry them.
    """
    after = f" after:{int(since.timestamp())}"
    terms: list[str] = []
    for value in [*map(ascii_address, addresses), *map(_ascii_zone, domains)]:
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


def build_hiring_queries(
    senders: Iterable[str], organizations: Iterable[str], since: datetime, *, limit: int = MAX_QUERY
) -> list[str]:
    """Gmail searches for mail from hiring systems naming one of the organizations.

    ``{from:greenhouse.io from:lever.co ...} {"Acme Networks" "Globex"} after:<epoch>``:
    a hiring system writes on an organization's behalf from its own domain, so
    only the organization's name tells whose it is ("Your application to Acme").
    Hiring-system mail about other organizations is not fetched.
    """
    sender_terms = [f"from:{w}" for w in dict.fromkeys(_term(d).lstrip("@") for d in senders) if w]
    names = [
        f'"{n}"'
        for n in dict.fromkeys(re.sub(r'["{}()]', " ", o).strip() for o in organizations)
        if n
    ]
    if not sender_terms or not names:
        return []
    head = "{" + " ".join(sender_terms) + "} "
    after = f" after:{int(since.timestamp())}"
    queries: list[str] = []
    current: list[str] = []
    for name in names:
        if current and len(head) + len(" ".join([*current, name])) + 2 + len(after) > limit:
            queries.append(head + "{" + " ".join(current) + "}" + after)
            current = []
        current.append(name)
    if current:
        queries.append(head + "{" + " ".join(current) + "}" + after)
    return queries


def _rate_limit(error: HttpError) -> bool:
    status = http_status(error)
    return status == 429 or (status == 403 and error_reason(error) in RATE_LIMIT_REASONS)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ------------------------------------------------------------------------- parsing


def parse(resource: Mapping[str, Any]) -> MailMessage | None:
    """A MailMessage from a ``messages.get(format=full)`` resource (or a metadata one,
    whose text is then Gmail's own snippet).

    None for messages that are not correspondence (drafts, spam, trash);
    ItemError for one that cannot be used. Header values are read as Gmail gives
    them (decoded) by the one header reader every mailbox shares (`connectors.headers`),
    only those the core reads (`HEADERS_READ`), as IMAP fetches them; the text from the
    part IMAP reads it from (`headers.text_part`), decoded the same way.
    """
    gmail_id = str(resource.get("id", "?"))
    try:
        labels = [str(x) for x in resource.get("labelIds") or []]
        if set(labels) & SKIPPED_LABELS:
            return None
        payload = resource.get("payload") or {}
        headers: dict[str, list[str]] = {}
        for h in payload.get("headers") or []:
            name = str(h["name"]).lower()
            if name in _HEADERS_KEPT:
                headers.setdefault(name, []).append(str(h.get("value", "")))
        text = _text(payload)
        if text is None:
            text = clean_text(html.unescape(str(resource.get("snippet") or "")), TEXT_CHARS)
        internal = resource.get("internalDate")
        return message_from_headers(
            headers,
            source_id=str(resource["id"]),
            outgoing="SENT" in labels,
            received=None
            if internal is None
            else datetime.fromtimestamp(int(internal) / 1000, tz=UTC),
            thread=str(resource["threadId"]) if resource.get("threadId") else None,
            snippet=text,
        )
    except Exception as exc:  # whatever a stranger's message holds, it is skipped alone
        raise ItemError(
            f"gmail: message {gmail_id} skipped: cannot parse it ({type(exc).__name__}: {exc})"
        ) from None


_HEADERS_KEPT = frozenset(h.lower() for h in HEADERS_READ)


def _text(payload: Mapping[str, Any]) -> str | None:
    """The start of a message's text from its format=full payload (`headers.text_excerpt`);
    None for a payload without its parts (format=metadata) or whose text part Gmail
    serves apart (by an attachment id): Gmail's own snippet is read then."""
    if "body" not in payload and "parts" not in payload:
        return None
    leaves: list[Mapping[str, Any]] = []
    pending = [payload]
    while pending:  # depth first, in order, as email's walk() goes
        part = pending.pop(0)
        if part.get("parts"):
            pending[:0] = list(part["parts"])
        else:
            leaves.append(part)
    chosen = text_part([(_content_type(p), _attachment(p)) for p in leaves])
    if chosen is None:
        return ""
    part = leaves[chosen]
    body = part.get("body") or {}
    data = str(body.get("data") or "")
    if not data and body.get("attachmentId"):
        return None  # Gmail keeps this part's text apart, "as a separate attachment"
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return text_excerpt(raw, _charset(part), is_html=_content_type(part) == "text/html")


def _part_header(part: Mapping[str, Any], name: str) -> str:
    for h in part.get("headers") or []:
        if str(h.get("name", "")).lower() == name:
            return str(h.get("value", ""))
    return ""


def _content_type(part: Mapping[str, Any]) -> str:
    return str(part.get("mimeType") or "text/plain").lower()


def _attachment(part: Mapping[str, Any]) -> bool:
    disposition = _part_header(part, "content-disposition").split(";")[0].strip().lower()
    return bool(part.get("filename")) or disposition == "attachment"


def _charset(part: Mapping[str, Any]) -> str | None:
    found = re.search(r'charset\s*=\s*"?([^";\s]+)', _part_header(part, "content-type"), re.I)
    return found.group(1) if found else None
