"""Storing a feed's items: all of them at once, and, when one of them cannot be
stored, every other one all the same (issue 20: the items of a feed are stored in
one savepoint, and one savepoint each only when one of them fails)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pursuit.connectors.feeds import FeedItem, FeedSource, FetchResult
from pursuit.daemon.feeds import store_result
from pursuit.daemon.models import Feed, WantedFeed
from pursuit.daemon.store import Store

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
URL = "https://acme.example/press.xml"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "state.sqlite3")
    organization = store.add_organization("Acme", now=NOW)
    store.set_feeds([WantedFeed(organization.id, URL, URL, "press", "rss")])
    return store


def feed(store: Store) -> Feed:
    [found] = store.feeds()
    return found


def fetched(items: list[FeedItem], etag: str) -> FetchResult:
    source = FeedSource(url=URL, kind="press", format="rss", etag=None, last_modified=None)
    return FetchResult(
        source=source,
        not_modified=False,
        items=tuple(items),
        etag=etag,
        last_modified=None,
        moved_to=None,
        complete_listing=True,
        warnings=(),
    )


def items(count: int) -> list[FeedItem]:
    return [
        FeedItem(
            key=f"acme-{i}",
            kind="press",
            title=f"Acme news {i}",
            link=f"https://acme.example/news/{i}",
            published=NOW - timedelta(days=i),
            summary=f"What Acme did on day {i}.",
        )
        for i in range(count)
    ]


def stored_titles(store: Store) -> set[str]:
    return {item.title for item in store.feed_items()}


def test_a_feeds_items_are_stored_once_each_and_counted_new_once(store: Store) -> None:
    assert store_result(store, feed(store), fetched(items(5), '"v1"'), NOW, timedelta(hours=1)) == (
        5,
        0,
    )
    assert stored_titles(store) == {f"Acme news {i}" for i in range(5)}
    later = NOW + timedelta(hours=1)
    again = store_result(store, feed(store), fetched(items(6), '"v2"'), later, timedelta(hours=1))
    assert again == (1, 0)  # only the sixth is new; the five are refreshed, not counted
    assert len(store.feed_items()) == 6
    assert feed(store).etag == '"v2"'
    assert store.counts()["skipped"] == 0


def test_an_item_that_cannot_be_stored_is_skipped_and_the_rest_of_its_feed_kept(
    store: Store,
) -> None:
    batch = items(5)
    # A lone surrogate: SQLite cannot take it as text (no real feed text gets here,
    # the connector cleans it; any such failure is one item's, never the feed's).
    batch[2] = replace(batch[2], title="Acme news \ud800")
    new, _closed = store_result(store, feed(store), fetched(batch, '"v1"'), NOW, timedelta(hours=1))
    assert new == 4
    assert stored_titles(store) == {"Acme news 0", "Acme news 1", "Acme news 3", "Acme news 4"}
    assert store.counts()["skipped"] == 1  # doctor names it
    assert feed(store).etag == '"v1"'  # the cursor is saved with the items that were stored
    # The next poll stores the good ones again without counting them new.
    later = NOW + timedelta(hours=1)
    new, _ = store_result(store, feed(store), fetched(batch, '"v2"'), later, timedelta(hours=1))
    assert new == 0
    assert len(store.feed_items()) == 4
