"""The feeds connector: press, news and careers feeds of the companies pursued.

This is the only code in pursuit that knows HTTP and feed formats. It fetches
and parses; it stores nothing. The caller saves the items, then the cursors
(`FetchResult.etag` / `last_modified`), then, for a permanent redirect, the new
URL (`FetchResult.moved_to`).

Two kinds of source:

- RSS 0.9x/1.0/2.0 and Atom (`rss`), parsed by feedparser from bytes fetched here.
- The public JSON APIs of job boards (`boards`): Greenhouse, Lever, Ashby,
  SmartRecruiters. `resolve()` (`urls`) maps a careers page the user pasted to
  the API behind it.

Fetching (`client`): one total deadline per fetch (connect, headers, every read,
every redirect and page, from the first connection on), enforced by a watchdog
that shuts the socket down, so a server trickling bytes cannot hold a fetch
open; a size cap enforced while reading, on the bytes received and on the
decompressed bytes; conditional GET; at most 5 redirects. Every failure is a
`FeedError` naming the feed.

`fetch_many` (`fetching`) bounds the connections open to each host and in all, not the parsing:
a feed is parsed after its connection slot is given back, so the next download
waits on no one's parser.

Observing: every answer parsed (not a 304) is logged at DEBUG on the logger
`pursuit.connectors.feeds.fetching` with the record attribute `feed_parsed`
(its format); a benchmark counts parses with a logging handler.

Kinds, formats and the item types live in `model`, a leaf the config reader
imports without loading the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pursuit.connectors.feeds.model import (
    BOARD_FORMATS,
    DEFAULT_USER_AGENT,
    FEED_KINDS,
    FORMATS,
    FeedError,
    FeedItem,
    FeedSource,
    FetchResult,
)

if TYPE_CHECKING:
    from pursuit.connectors.feeds.fetching import fetch, fetch_many
    from pursuit.connectors.feeds.text import plain_text
    from pursuit.connectors.feeds.urls import news_search_url, redact_url, resolve, validate_url

# Imported when first used: reading the kinds (the config does) loads neither
# the HTTP client nor feedparser.
_LAZY = {
    "fetch": "fetching",
    "fetch_many": "fetching",
    "plain_text": "text",
    "news_search_url": "urls",
    "redact_url": "urls",
    "resolve": "urls",
    "validate_url": "urls",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "BOARD_FORMATS",
    "DEFAULT_USER_AGENT",
    "FEED_KINDS",
    "FORMATS",
    "FeedError",
    "FeedItem",
    "FeedSource",
    "FetchResult",
    "fetch",
    "fetch_many",
    "news_search_url",
    "plain_text",
    "redact_url",
    "resolve",
    "validate_url",
]
