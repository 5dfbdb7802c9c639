"""One fetch of a feed or job board, and many fetches at once."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pursuit.connectors.feeds.boards import SMARTRECRUITERS_PAGE, parse_board, with_query
from pursuit.connectors.feeds.client import Deadline, HostSlots, SlotFor, get, no_slot
from pursuit.connectors.feeds.model import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_USER_AGENT,
    FeedError,
    FeedItem,
    FeedSource,
    FetchResult,
    Problem,
)
from pursuit.connectors.feeds.rss import parse_feed
from pursuit.connectors.feeds.urls import redact_url, resolve
from pursuit.daemon.errors import ConfigError

log = logging.getLogger(__name__)

_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_JSON_ACCEPT = "application/json, */*;q=0.5"


def fetch(
    source: FeedSource,
    *,
    timeout: float = 20.0,
    max_bytes: int = 5_000_000,
    user_agent: str = DEFAULT_USER_AGENT,
    connection_slots: SlotFor = no_slot,
    max_items: int = DEFAULT_MAX_ITEMS,
    cancel: threading.Event | None = None,
) -> FetchResult:
    """Fetch and parse one feed or job board. Raises FeedError.

    Every HTTP request is made holding `connection_slots(host)` (shared by the
    fetches that run together); the deadline starts once a slot is first held.
    At most the `max_items` newest items come back; a listing cut so is not
    complete. Credentials in the URL (`https://user:password@host/feed`) are sent
    as HTTP Basic authorization and never shown: every message and log line
    names the feed by `redact_url`.
    """
    try:
        fetch_url, fmt = resolve(source.url, source.kind, source.format)
    except ConfigError as exc:
        raise FeedError(redact_url(source.url), f"cannot fetch: {exc}") from None
    via = "" if fetch_url == source.url else f" (fetching {redact_url(fetch_url)})"
    deadline = Deadline(timeout, connection_slots, cancel)
    try:
        return _fetch(source, fetch_url, fmt, deadline, max_bytes, user_agent, max_items)
    except Problem as problem:
        raise FeedError(
            redact_url(source.url),
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
    deadline: Deadline,
    max_bytes: int,
    user_agent: str,
    max_items: int,
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
        first_url = with_query(fetch_url, limit=str(SMARTRECRUITERS_PAGE))
    answer = get(first_url, headers=conditional, deadline=deadline, max_bytes=max_bytes)
    if answer.status == 304:
        log.debug("%s: not modified", redact_url(source.url))
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
        parsed = parse_feed(answer.body, content_type, answer.url, source.kind, max_items)
        items, warnings = parsed.items, parsed.warnings
        complete = source.kind == "careers" and parsed.complete
    else:
        items, complete, more_warnings, pages = parse_board(
            answer,
            fmt,
            headers=headers,
            deadline=deadline,
            max_bytes=max_bytes,
            max_items=max_items,
        )
        warnings += more_warnings
        if pages > 1:  # a cursor from page 1 does not cover the later pages
            etag = last_modified = None
    # The one record per answer parsed: `bench/feeds_bench.py` counts them by `feed_parsed`.
    log.debug("%s: %d items", redact_url(source.url), len(items), extra={"feed_parsed": fmt})
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


#: Connections open to one host at once: what a polite client opens (RFC 9112 § 9.4).
DEFAULT_PER_HOST = 2
#: Connections open at all at once: a ceiling for file descriptors and threads.
DEFAULT_CONCURRENCY = 64


def _host_of(source: FeedSource) -> str:
    try:
        return (urlsplit(source.url).hostname or "").lower()
    except ValueError:  # fetch() says what is wrong with it
        return ""


def _spread_by_host(sources: Sequence[FeedSource]) -> list[int]:
    """The indexes of `sources`, each host's first feed before any host's second:
    the pool's threads start on many hosts rather than queue behind one."""
    seen: Counter[str] = Counter()
    rank = []
    for index, source in enumerate(sources):
        host = _host_of(source)
        rank.append((seen[host], index))
        seen[host] += 1
    return [index for _rank, index in sorted(rank)]


def fetch_many(
    sources: Sequence[FeedSource],
    *,
    per_host: int = DEFAULT_PER_HOST,
    concurrency: int = DEFAULT_CONCURRENCY,
    **fetch_kwargs: Any,
) -> Generator[tuple[int, FetchResult | FeedError], None, None]:
    """Fetch many feeds in parallel, yielding each result with its source's index
    as soon as it is ready.

    At most `per_host` connections are open to one host, and at most
    `concurrency` in all. A `cancel` event given in `fetch_kwargs` ends every
    fetch under way at once when set (each gives a FeedError); the caller stops
    reading then. A failing feed gives its FeedError in its place and never
    affects another.
    """
    if not sources:
        return
    slots = HostSlots(per_host, concurrency)

    def one(source: FeedSource) -> FetchResult | FeedError:
        try:
            return fetch(source, connection_slots=slots, **fetch_kwargs)
        except FeedError as exc:
            return exc
        except Exception as exc:  # a bug must not cost the other feeds their round
            log.exception("unexpected error fetching %s", redact_url(source.url))
            return FeedError(redact_url(source.url), f"internal error: {type(exc).__name__}: {exc}")

    # A feed is parsed after it gives its connection back: twice as many threads
    # as connections, so while some parse, others download.
    hosts = len({_host_of(source) for source in sources})
    connections = min(max(1, concurrency), hosts * max(1, per_host))
    workers = max(1, min(2 * connections, len(sources)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pursuit-feed")
    try:
        futures = {pool.submit(one, sources[i]): i for i in _spread_by_host(sources)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:  # a caller that stops early does not wait for the feeds not yet started
        pool.shutdown(wait=True, cancel_futures=True)
