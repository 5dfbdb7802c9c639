"""What the feeds connector hands out and takes in: kinds, formats, items, errors.

A leaf: the config reader imports the kinds and formats from here without
paying for the HTTP client or feedparser.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from pursuit.daemon.errors import SourceError

FEED_KINDS = ("press", "news", "careers")
BOARD_FORMATS = ("greenhouse", "lever", "ashby", "smartrecruiters")
FORMATS = ("auto", "rss", *BOARD_FORMATS)

DEFAULT_USER_AGENT = "pursuit/0.1 (+https://github.com/pursuit; job-search feed reader)"
# The newest entries kept from one fetch; a feed of 150,000 items must not cost
# minutes of parsing and a store that grows by the feed's size on every poll.
DEFAULT_MAX_ITEMS = 300

KEY_MAX = 512


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, or one opening of a job board, as plain text."""

    key: str
    kind: str
    title: str
    link: str | None
    published: datetime | None
    summary: str
    location: str | None = None
    department: str | None = None


@dataclass(frozen=True)
class FeedSource:
    """A feed as configured, with the cursors saved after the last fetch."""

    url: str
    kind: str
    format: str = "auto"
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What one fetch found. Save the items first, then the cursors and `moved_to`."""

    source: FeedSource
    not_modified: bool
    items: tuple[FeedItem, ...]
    etag: str | None
    last_modified: str | None
    moved_to: str | None
    complete_listing: bool
    warnings: tuple[str, ...]


class FeedError(SourceError):
    """A feed could not be fetched or read; skip it this round.

    `source` is the feed URL as configured. `gone` is True for 410 Gone: the
    caller deactivates the feed. `status` is the HTTP status when there was one;
    `retry_after` the seconds a 429/503 asked to wait.
    """

    def __init__(
        self,
        source: str,
        message: str,
        *,
        gone: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source, message)
        self.reason = self.detail  # cleaned: an HTTP reason phrase is the server's text
        self.gone = gone
        self.status = status
        self.retry_after = retry_after


class Problem(Exception):
    """Inside the connector: a failure, turned into a FeedError naming the feed."""

    def __init__(
        self,
        message: str,
        *,
        gone: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.gone = gone
        self.status = status
        self.retry_after = retry_after


def item_key(prefix: str, value: str) -> str:
    """A dedupe key; a long value is hashed so keys stay bounded."""
    if len(value) > KEY_MAX:
        return f"{prefix}-sha256:{hashlib.sha256(value.encode()).hexdigest()}"
    return f"{prefix}:{value}"


def keep_newest(items: list[FeedItem], limit: int) -> list[FeedItem]:
    """The `limit` newest items (undated ones last, ties in their order), in their order."""
    oldest = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(
        items, key=lambda i: (i.published is not None, i.published or oldest), reverse=True
    )
    kept = {id(item) for item in ranked[:limit]}
    return [item for item in items if id(item) in kept]
