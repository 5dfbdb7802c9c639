"""Company feeds in the store: which feeds to poll, what they said, what closed.

The connector (`pursuit.connectors.feeds`) fetches and parses; this module
decides what to poll, stores the items once each, closes openings that left
their board, and keeps each feed's cursor and error. A feed's cursor (ETag,
Last-Modified) and new URL are saved in the same transaction as its items, so
a crash never skips an item. One feed failing never touches another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pursuit.daemon.errors import Stopped, UserError
from pursuit.daemon.models import Feed, FeedItem, WantedFeed
from pursuit.daemon.store import INVALID_FORMAT as INVALID
from pursuit.daemon.store import Store

if TYPE_CHECKING:
    from pursuit.config.settings import Settings
    from pursuit.connectors.feeds import FeedError, FetchResult

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(days=1)


def wanted_feeds(store: Store, settings: Settings) -> list[WantedFeed]:
    """The feeds of every tracked organization, from the config, plus news searches."""
    from pursuit.connectors.feeds import news_search_url, resolve

    declared = {o.name.casefold(): o for o in settings.organizations}
    wanted: list[WantedFeed] = []
    for org in store.organizations():
        config = declared.get(org.name.casefold())
        feeds = config.feeds if config else ()
        for feed in feeds:
            try:
                url, fmt = resolve(feed.url, feed.kind, feed.format)
            except UserError as exc:
                log.error("organization %s: feed %s: %s", org.name, shown(feed.url), exc)
                wanted.append(WantedFeed(org.id, feed.url, feed.url, feed.kind, INVALID, str(exc)))
                continue
            wanted.append(WantedFeed(org.id, feed.url, url, feed.kind, fmt))
        search = config.news_search if config and config.news_search is not None else None
        if search is None:
            search = settings.feeds.news_search
        if search and not any(f.kind in ("press", "news") for f in feeds):
            url = news_search_url(org.name)
            wanted.append(WantedFeed(org.id, url, url, "news", "rss"))
    return wanted


def sync_feed_list(store: Store, wanted: Sequence[WantedFeed]) -> None:
    """Feeds rows follow the config; items of a removed feed stay."""
    store.set_feeds(wanted)


@dataclass
class PollReport:
    polled: int = 0
    not_modified: int = 0
    new_items: int = 0
    closed: int = 0
    failed: int = 0


def poll_feeds(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    force: bool = False,
    cancel: threading.Event | None = None,
) -> PollReport:
    """Poll every active feed that is due (all of them with `force`).

    Each feed is stored as soon as it is fetched, while the others download.
    `cancel` set (the service stopping) ends the fetches under way and raises
    `Stopped`; the feeds not stored yet are due again at the next start.
    """
    from pursuit.connectors.feeds import DEFAULT_USER_AGENT, FeedError, FeedSource, fetch_many

    sync_feed_list(store, wanted_feeds(store, settings))
    feeds = store.feeds(active=True, due_by=None if force else now)
    sources = [
        FeedSource(
            url=feed.url,
            kind=feed.kind,
            format=feed.format,
            etag=feed.etag,
            last_modified=feed.last_modified,
        )
        for feed in feeds
    ]
    config = settings.feeds
    results = fetch_many(
        sources,
        concurrency=config.concurrency,
        per_host=config.per_host,
        timeout=config.timeout.total_seconds(),
        max_bytes=config.max_bytes,
        user_agent=DEFAULT_USER_AGENT,
        max_items=config.max_items,
        cancel=cancel,
    )
    report = PollReport(polled=len(feeds))
    for index, result in results:
        if cancel is not None and cancel.is_set():
            results.close()  # the fetches under way end at once, the rest never start
            raise Stopped
        feed = feeds[index]
        if isinstance(result, FeedError):
            record_failure(store, feed, result, now, config.poll_every)
            report.failed += 1
            continue
        for warning in result.warnings:
            log.warning("feed %s: %s", shown(feed.configured_url), warning)
        if result.not_modified:
            report.not_modified += 1
        new, closed = store_result(
            store, feed, result, now, config.poll_every, max_items=config.max_items
        )
        report.new_items += new
        report.closed += closed
    return report


def store_result(
    store: Store,
    feed: Feed,
    result: FetchResult,
    now: datetime,
    poll_every: timedelta,
    *,
    max_items: int | None = None,
) -> tuple[int, int]:
    """Store a fetch's items and then its cursor, in one transaction.

    An item that cannot be stored is skipped with a warning (and counted for
    `doctor`); the others and the cursor are stored all the same. The feed keeps
    its newest `max_items` items.
    """
    from pursuit.daemon.mail import skip_item

    def skip(item: object, error: Exception) -> None:
        key = str(getattr(item, "key", "?"))[:200]
        skip_item(store, f"feed {shown(feed.configured_url)}", f"item {key!r}", error, now)

    new = closed = 0
    with store.transaction():
        if not result.not_modified:
            new, closed = store.save_feed_items(
                feed,
                result.items,
                now=now,
                complete_listing=result.complete_listing,
                keep=max_items,
                skip=skip,
            )
        if result.moved_to:
            log.warning(
                "feed %s moved permanently to %s; using the new address",
                shown(feed.configured_url),
                shown(result.moved_to),
            )
        store.feed_answered(
            feed.id,
            etag=result.etag,
            last_modified=result.last_modified,
            moved_to=result.moved_to,
            now=now,
            next_poll=now + poll_every,
        )
    return new, closed


def record_failure(
    store: Store, feed: Feed, error: FeedError, now: datetime, poll_every: timedelta
) -> None:
    """Remember why a feed failed and wait longer before the next try; 410 stops it."""
    failures = feed.failures + 1
    # Doubling stops at the cap: poll_every * 2 ** failures overflows timedelta
    # after a few weeks of failures, and so does a huge Retry-After.
    wait = poll_every
    for _ in range(failures - 1):
        if wait >= MAX_BACKOFF:
            break
        wait *= 2
    wait = min(wait, MAX_BACKOFF)
    if error.retry_after:
        asked = min(error.retry_after, MAX_BACKOFF.total_seconds())
        wait = max(wait, timedelta(seconds=asked))
    log.warning("feed %s: %s", shown(feed.configured_url), error.reason)
    store.feed_failed(
        feed.id, failures=failures, error=error.reason, next_poll=now + wait, active=not error.gone
    )


def shown(url: str) -> str:
    """A feed's URL as pursuit shows it anywhere: its credentials masked."""
    from pursuit.connectors.feeds import redact_url

    return redact_url(url)


# --- reading


def keyword_match(text: str, keywords: Sequence[str]) -> bool:
    folded = text.casefold()
    return not keywords or any(k.casefold() in folded for k in keywords)


def keywords_for(settings: Settings, organization: str) -> tuple[str, ...]:
    for org in settings.organizations:
        if org.name.casefold() == organization.casefold() and org.keywords:
            return org.keywords
    return settings.feeds.keywords


def items(
    store: Store,
    *,
    organization_id: int | None = None,
    kinds: Sequence[str] = ("press", "news", "opening"),
    since: datetime | None = None,
    open_only: bool = False,
    limit: int | None = None,
) -> list[FeedItem]:
    return store.feed_items(
        organization=organization_id, kinds=kinds, since=since, open_only=open_only, limit=limit
    )


#: Planning reads at most this many of an organization's newest items.
PLANNING_ITEMS = 100


def surfaced(store: Store, settings: Settings, found: Sequence[FeedItem]) -> list[FeedItem]:
    """Only the items that pass the keyword filters of their organization."""
    return [
        item
        for item in found
        if keyword_match(
            f"{item.title} {item.summary} {item.department or ''}",
            keywords_for(settings, item.organization),
        )
    ]


def since_lines(store: Store, settings: Settings, org_id: int, since: datetime) -> list[str]:
    """Talking points: news and openings that appeared since a moment."""
    lines: list[str] = []
    newest = items(store, organization_id=org_id, since=since, limit=PLANNING_ITEMS)
    for item in surfaced(store, settings, newest):
        if item.kind == "opening":
            if item.closed:
                continue
            where = f" ({item.location})" if item.location else ""
            lines.append(f"New opening: {item.title}{where}")
        else:
            lines.append(f"{item.kind.capitalize()}: {item.title}")
    return lines[:10]


def item_record(item: FeedItem, tz: Any) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(tz).isoformat()

    return {
        "organization": item.organization,
        "feed": shown(item.feed_url) if item.feed_url else item.feed_url,
        "kind": item.kind,
        "title": item.title,
        "link": item.link,
        "summary": item.summary,
        "location": item.location,
        "department": item.department,
        "published": iso(item.published),
        "first_seen": iso(item.first_seen),
        "closed": iso(item.closed),
    }


def failing_feeds(store: Store) -> list[Feed]:
    return store.feeds(failing=True)


def rejected_with_openings(store: Store, settings: Settings) -> list[dict[str, str]]:
    """Openings posted by an organization after it rejected you: worth asking about."""
    suggestions = []
    for org in store.organizations():
        if org.status != "rejected":
            continue
        openings = items(
            store,
            organization_id=org.id,
            kinds=("opening",),
            since=org.status_changed,
            open_only=True,
        )
        for item in surfaced(store, settings, openings):
            suggestions.append(
                {
                    "organization": org.name,
                    "opening": item.title,
                    "link": item.link or "",
                    "suggestion": f'Ask the recruiter at {org.name} about "{item.title}"',
                }
            )
    return suggestions
