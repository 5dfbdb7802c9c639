"""Company feeds in the store: which feeds to poll, what they said, what closed.

The connector (`pursuit.connectors.feeds`) fetches and parses; this module
decides what to poll, stores the items once each, closes openings that left
their board, and keeps each feed's cursor and error. A feed's cursor (ETag,
Last-Modified) and new URL are saved in the same transaction as its items, so
a crash never skips an item. One feed failing never touches another.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pursuit.daemon.errors import UserError
from pursuit.daemon.store import Store, from_db, to_db

if TYPE_CHECKING:
    from pursuit.config.settings import Settings
    from pursuit.connectors.feeds import FeedError, FetchResult

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(days=1)


@dataclass(frozen=True)
class WantedFeed:
    organization_id: int
    configured_url: str
    url: str
    kind: str
    format: str
    error: str | None = None  # the configured URL cannot be fetched: listed, never polled


INVALID = "invalid"  # the format stored for a feed whose configured URL is unusable


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
                log.error("organization %s: feed %s: %s", org.name, feed.url, exc)
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
    with store.transaction() as db:
        keep: set[tuple[int, str]] = set()
        for feed in wanted:
            keep.add((feed.organization_id, feed.configured_url))
            if feed.error is not None:
                # Kept as a stopped feed with its error, so `pursuit doctor` lists it.
                db.execute(
                    "INSERT INTO feeds (organization_id, configured_url, url, kind, format, "
                    "active, last_error) VALUES (?, ?, ?, ?, ?, 0, ?) "
                    "ON CONFLICT (organization_id, configured_url) DO UPDATE "
                    "SET kind = excluded.kind, format = excluded.format, url = excluded.url, "
                    "active = 0, last_error = excluded.last_error",
                    (
                        feed.organization_id,
                        feed.configured_url,
                        feed.url,
                        feed.kind,
                        INVALID,
                        feed.error,
                    ),
                )
                continue
            db.execute(
                "INSERT INTO feeds (organization_id, configured_url, url, kind, format) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (organization_id, configured_url) DO UPDATE "
                "SET kind = excluded.kind, format = excluded.format, "
                # A new resolution of the configured URL wins over a remembered redirect
                # only when the user changed the format; otherwise keep where it moved to.
                "url = CASE WHEN feeds.format = excluded.format THEN feeds.url "
                "ELSE excluded.url END, "
                # A feed the user fixed (kind or format) is polled again.
                f"active = CASE WHEN feeds.format = '{INVALID}' THEN 1 ELSE feeds.active END, "
                f"last_error = CASE WHEN feeds.format = '{INVALID}' THEN NULL "
                "ELSE feeds.last_error END",
                (feed.organization_id, feed.configured_url, feed.url, feed.kind, feed.format),
            )
        for row in db.execute("SELECT id, organization_id, configured_url FROM feeds").fetchall():
            if (row["organization_id"], row["configured_url"]) not in keep:
                db.execute(
                    "UPDATE feed_items SET removed_feed_url = ? WHERE feed_id = ?",
                    (row["configured_url"], row["id"]),
                )
                db.execute("DELETE FROM feeds WHERE id = ?", (row["id"],))


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
) -> PollReport:
    """Poll every active feed that is due (all of them with `force`).

    Each feed is stored as soon as it is fetched, while the others download.
    """
    from pursuit.connectors.feeds import DEFAULT_USER_AGENT, FeedError, FeedSource, fetch_many

    sync_feed_list(store, wanted_feeds(store, settings))
    due = "" if force else " AND (next_poll IS NULL OR next_poll <= ?)"
    params: tuple[Any, ...] = () if force else (to_db(now),)
    rows = store.db.execute(f"SELECT * FROM feeds WHERE active = 1{due} ORDER BY id", params)
    feeds = rows.fetchall()
    sources = [
        FeedSource(
            url=row["url"],
            kind=row["kind"],
            format=row["format"],
            etag=row["etag"],
            last_modified=row["last_modified"],
        )
        for row in feeds
    ]
    config = settings.feeds
    results = fetch_many(
        sources,
        concurrency=config.concurrency,
        timeout=config.timeout.total_seconds(),
        max_bytes=config.max_bytes,
        user_agent=DEFAULT_USER_AGENT,
    )
    report = PollReport(polled=len(feeds))
    for index, result in results:
        row = feeds[index]
        if isinstance(result, FeedError):
            record_failure(store, row, result, now, config.poll_every)
            report.failed += 1
            continue
        for warning in result.warnings:
            log.warning("feed %s: %s", row["configured_url"], warning)
        if result.not_modified:
            report.not_modified += 1
        new, closed = store_result(store, row, result, now, config.poll_every)
        report.new_items += new
        report.closed += closed
    return report


def store_result(
    store: Store,
    feed: sqlite3.Row,
    result: FetchResult,
    now: datetime,
    poll_every: timedelta,
) -> tuple[int, int]:
    """Store a fetch's items and then its cursor, in one transaction."""
    new = closed = 0
    with store.transaction() as db:
        if not result.not_modified:
            for item in result.items:
                cursor = db.execute(
                    "INSERT INTO feed_items (organization_id, feed_id, key, kind, title, link, "
                    "summary, location, department, published, first_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (organization_id, key) DO UPDATE SET "
                    "feed_id = excluded.feed_id, title = excluded.title, link = excluded.link, "
                    "summary = excluded.summary, location = excluded.location, "
                    "department = excluded.department, closed = NULL "
                    "RETURNING first_seen",
                    (
                        feed["organization_id"],
                        feed["id"],
                        item.key,
                        item.kind,
                        item.title,
                        item.link,
                        item.summary,
                        item.location,
                        item.department,
                        to_db(item.published) if item.published else None,
                        to_db(now),
                    ),
                )
                new += cursor.fetchone()[0] == to_db(now)
            if result.complete_listing:
                seen = [item.key for item in result.items]
                marks = ",".join("?" * len(seen)) or "''"
                closed = db.execute(
                    "UPDATE feed_items SET closed = ? WHERE feed_id = ? AND kind = 'opening' "
                    f"AND closed IS NULL AND key NOT IN ({marks})",
                    (to_db(now), feed["id"], *seen),
                ).rowcount
        if result.moved_to:
            log.warning(
                "feed %s moved permanently to %s; using the new address",
                feed["configured_url"],
                result.moved_to,
            )
        db.execute(
            "UPDATE feeds SET etag = ?, last_modified = ?, url = COALESCE(?, url), failures = 0, "
            "last_error = NULL, last_ok = ?, next_poll = ? WHERE id = ?",
            (
                result.etag,
                result.last_modified,
                result.moved_to,
                to_db(now),
                to_db(now + poll_every),
                feed["id"],
            ),
        )
    return new, closed


def record_failure(
    store: Store, feed: sqlite3.Row, error: FeedError, now: datetime, poll_every: timedelta
) -> None:
    """Remember why a feed failed and wait longer before the next try; 410 stops it."""
    failures = feed["failures"] + 1
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
    log.warning("feed %s: %s", feed["configured_url"], error.reason)
    store.db.execute(
        "UPDATE feeds SET failures = ?, last_error = ?, next_poll = ?, active = ? WHERE id = ?",
        (
            failures,
            error.reason,
            to_db(now + wait),
            0 if error.gone else 1,
            feed["id"],
        ),
    )


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
) -> list[sqlite3.Row]:
    clauses = [f"i.kind IN ({','.join('?' * len(kinds))})"]
    params: list[Any] = list(kinds)
    if organization_id is not None:
        clauses.append("i.organization_id = ?")
        params.append(organization_id)
    if since is not None:
        clauses.append("i.first_seen >= ?")
        params.append(to_db(since))
    if open_only:
        clauses.append("i.closed IS NULL")
    return store.db.execute(
        "SELECT i.*, o.name AS organization, "
        "COALESCE(f.configured_url, i.removed_feed_url) AS feed_url "
        "FROM feed_items i JOIN organizations o ON o.id = i.organization_id "
        "LEFT JOIN feeds f ON f.id = i.feed_id "
        f"WHERE {' AND '.join(clauses)} "
        "ORDER BY COALESCE(i.published, i.first_seen) DESC, i.id DESC",
        params,
    ).fetchall()


def surfaced(store: Store, settings: Settings, rows: Sequence[sqlite3.Row]) -> list[sqlite3.Row]:
    """Only the items that pass the keyword filters of their organization."""
    return [
        row
        for row in rows
        if keyword_match(
            f"{row['title']} {row['summary']} {row['department'] or ''}",
            keywords_for(settings, row["organization"]),
        )
    ]


def since_lines(store: Store, settings: Settings, org_id: int, since: datetime) -> list[str]:
    """Talking points: news and openings that appeared since a moment."""
    lines: list[str] = []
    for row in surfaced(store, settings, items(store, organization_id=org_id, since=since)):
        if row["kind"] == "opening":
            if row["closed"]:
                continue
            where = f" ({row['location']})" if row["location"] else ""
            lines.append(f"New opening: {row['title']}{where}")
        else:
            lines.append(f"{row['kind'].capitalize()}: {row['title']}")
    return lines[:10]


def item_record(row: sqlite3.Row, tz: Any) -> dict[str, Any]:
    def iso(text: str | None) -> str | None:
        return None if text is None else from_db(text).astimezone(tz).isoformat()

    return {
        "organization": row["organization"],
        "feed": row["feed_url"],
        "kind": row["kind"],
        "title": row["title"],
        "link": row["link"],
        "summary": row["summary"],
        "location": row["location"],
        "department": row["department"],
        "published": iso(row["published"]),
        "first_seen": iso(row["first_seen"]),
        "closed": iso(row["closed"]),
    }


def failing_feeds(store: Store) -> list[sqlite3.Row]:
    return store.db.execute(
        "SELECT f.*, o.name AS organization FROM feeds f "
        "JOIN organizations o ON o.id = f.organization_id "
        "WHERE f.last_error IS NOT NULL ORDER BY o.name, f.configured_url"
    ).fetchall()


def rejected_with_openings(store: Store, settings: Settings) -> list[dict[str, str]]:
    """Openings posted by an organization after it rejected you: worth asking about."""
    suggestions = []
    for org in store.organizations():
        if org.status != "rejected":
            continue
        rows = items(
            store,
            organization_id=org.id,
            kinds=("opening",),
            since=org.status_changed,
            open_only=True,
        )
        for row in surfaced(store, settings, rows):
            suggestions.append(
                {
                    "organization": org.name,
                    "opening": row["title"],
                    "link": row["link"] or "",
                    "suggestion": f'Ask the recruiter at {org.name} about "{row["title"]}"',
                }
            )
    return suggestions
