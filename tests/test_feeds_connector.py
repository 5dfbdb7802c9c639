"""The feeds connector against a real local HTTP server (tests/support/feed_server.py).

Offline: every fetch goes to 127.0.0.1; resolve() of the public job-board
hostnames needs no network.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.feed_server import FeedServer, Reply, Request, closed_port, redirect, static

from pursuit.connectors.feeds import (
    BOARD_FORMATS,
    DEFAULT_USER_AGENT,
    FEED_KINDS,
    FORMATS,
    FeedError,
    FeedItem,
    FeedSource,
    FetchResult,
    fetch,
    fetch_many,
    news_search_url,
    plain_text,
    redact_url,
    resolve,
    validate_url,
)
from pursuit.connectors.feeds.client import redirect_allowed
from pursuit.daemon.errors import ConfigError, SourceError

RSS = "application/rss+xml"
ATOM = "application/atom+xml"
JSON = "application/json"


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


_counter = iter(range(1_000_000))


def path(name: str) -> str:
    """A path no other test uses on the shared server."""
    return f"/{next(_counter)}/{name}"


def rss2(items: str, title: str = "Acme press") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://acme.example/</link>"
        f"<description>News</description>{items}</channel></rss>"
    ).encode()


RSS2 = rss2(
    "<item><title>Acme raises &amp; grows</title>"
    "<link>https://acme.example/press/1</link>"
    '<guid isPermaLink="false">press-1</guid>'
    "<pubDate>Mon, 06 Jan 2025 10:00:00 +0100</pubDate>"
    "<description>&lt;p&gt;Acme   raised\n money.&lt;/p&gt;</description></item>"
    "<item><title>Second</title><link>https://acme.example/press/2</link>"
    "<guid>https://acme.example/press/2</guid></item>"
)

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://acme.example/news.rdf">
    <title>Acme</title><link>https://acme.example/</link><description>d</description>
    <items><rdf:Seq><rdf:li resource="https://acme.example/n/1"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://acme.example/n/1">
    <title>RDF item</title><link>https://acme.example/n/1</link>
    <description>Body text</description><dc:date>2025-02-03T04:05:06Z</dc:date>
  </item>
</rdf:RDF>"""

ATOM_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Acme blog</title><id>urn:uuid:feed</id><updated>2025-03-01T00:00:00Z</updated>
  <entry>
    <title type="html">Launch &lt;em&gt;day&lt;/em&gt;</title>
    <id>tag:acme.example,2025:1</id>
    <link href="https://acme.example/blog/launch"/>
    <published>2025-03-01T12:30:00+02:00</published>
    <updated>2025-03-02T00:00:00Z</updated>
    <summary type="html">&lt;p&gt;We &lt;b&gt;launched&lt;/b&gt;.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>Content only</title><id>tag:acme.example,2025:2</id>
    <link href="https://acme.example/blog/2"/>
    <updated>2025-03-03T00:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
      <p>Full <i>content</i></p></div></content>
  </entry>
</feed>"""


def src(url: str, kind: str = "press", format: str = "auto", **kw: str | None) -> FeedSource:
    return FeedSource(url=url, kind=kind, format=format, **kw)


def error_of(source: FeedSource, **kw: float) -> FeedError:
    with pytest.raises(FeedError) as info:
        fetch(source, **kw)  # type: ignore[arg-type]
    return info.value


# ------------------------------------------------------------------- constants


def test_public_constants() -> None:
    assert FEED_KINDS == ("press", "news", "careers")
    assert BOARD_FORMATS == ("greenhouse", "lever", "ashby", "smartrecruiters")
    assert FORMATS[:2] == ("auto", "rss") and FORMATS[2:] == BOARD_FORMATS
    assert DEFAULT_USER_AGENT.startswith("pursuit/")
    assert issubclass(FeedError, SourceError)


# ---------------------------------------------------------------- RSS and Atom


def test_rss2(server: FeedServer) -> None:
    url = server.route(path("rss.xml"), Reply(body=RSS2, content_type=RSS))
    result = fetch(src(url))
    assert isinstance(result, FetchResult)
    assert not result.not_modified and result.moved_to is None
    assert not result.complete_listing and result.warnings == ()
    first, second = result.items
    assert first == FeedItem(
        key="guid:press-1",
        kind="press",
        title="Acme raises & grows",
        link="https://acme.example/press/1",
        published=datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
        summary="Acme raised money.",
    )
    assert second.key == "guid:https://acme.example/press/2"
    assert second.published is None and second.summary == ""


def test_rss1(server: FeedServer) -> None:
    url = server.route(path("news.rdf"), Reply(body=RSS1, content_type="application/rdf+xml"))
    (item,) = fetch(src(url, "news")).items
    assert item.kind == "news"
    assert item.title == "RDF item"
    assert item.link == "https://acme.example/n/1"
    assert item.published == datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert item.summary == "Body text"
    assert item.key == "guid:https://acme.example/n/1"


def test_atom(server: FeedServer) -> None:
    url = server.route(path("atom.xml"), Reply(body=ATOM_FEED, content_type=ATOM))
    first, second = fetch(src(url)).items
    assert first.title == "Launch day"
    assert first.summary == "We launched."
    assert first.key == "guid:tag:acme.example,2025:1"
    assert first.published == datetime(2025, 3, 1, 10, 30, tzinfo=UTC)
    assert second.summary == "Full content"
    assert second.published == datetime(2025, 3, 3, tzinfo=UTC)


def test_careers_feed_is_a_complete_listing_of_openings(server: FeedServer) -> None:
    url = server.route(path("jobs.xml"), Reply(body=RSS2, content_type=RSS))
    result = fetch(src(url, "careers"))
    assert result.complete_listing
    assert {i.kind for i in result.items} == {"opening"}


def test_empty_feed_is_fine(server: FeedServer) -> None:
    url = server.route(path("empty.xml"), Reply(body=rss2(""), content_type=RSS))
    result = fetch(src(url, "careers"))
    assert result.items == () and result.complete_listing


# ------------------------------------------------------------ conditional GET


def test_etag_round_trip(server: FeedServer) -> None:
    p = path("etag.xml")
    url = server.route(p, static(RSS2, RSS, etag='"v1"'))
    first = fetch(src(url))
    assert first.etag == '"v1"' and len(first.items) == 2
    second = fetch(src(url, etag=first.etag, last_modified=first.last_modified))
    assert second.not_modified and second.items == ()
    assert second.etag == '"v1"'
    assert not second.complete_listing
    sent = server.requests_to(p)
    assert sent[0].header("If-None-Match") is None
    assert sent[1].header("If-None-Match") == '"v1"'
    assert sent[1].header("User-Agent") == DEFAULT_USER_AGENT
    assert "pursuit" in (sent[1].header("User-Agent") or "")
    assert sent[1].header("Accept-Encoding") == "gzip"


def test_last_modified_round_trip(server: FeedServer) -> None:
    stamp = "Wed, 01 Jan 2025 00:00:00 GMT"
    p = path("lm.xml")
    url = server.route(p, static(RSS2, RSS, last_modified=stamp))
    first = fetch(src(url))
    assert first.last_modified == stamp and first.etag is None
    second = fetch(src(url, last_modified=first.last_modified))
    assert second.not_modified and second.last_modified == stamp
    assert server.requests_to(p)[1].header("If-Modified-Since") == stamp


def test_changed_feed_returns_new_cursor(server: FeedServer) -> None:
    p = path("changing.xml")
    url = server.route(p, static(RSS2, RSS, etag='"v2"'))
    result = fetch(src(url, etag='"v1"'))
    assert not result.not_modified and result.etag == '"v2"' and result.items


# ------------------------------------------------------------------ redirects


def test_permanent_redirect_is_reported(server: FeedServer) -> None:
    new = server.route(path("new.xml"), Reply(body=RSS2, content_type=RSS))
    old = server.route(path("old.xml"), redirect(new, 301))
    result = fetch(src(old))
    assert result.moved_to == new and len(result.items) == 2
    assert result.source.url == old


def test_308_is_permanent_too(server: FeedServer) -> None:
    new = server.route(path("new.xml"), Reply(body=RSS2, content_type=RSS))
    old = server.route(path("old.xml"), redirect(new, 308))
    assert fetch(src(old)).moved_to == new


def test_temporary_redirect_is_not_reported(server: FeedServer) -> None:
    new = server.route(path("tmp.xml"), Reply(body=RSS2, content_type=RSS))
    old = server.route(path("old.xml"), redirect(new, 302))
    result = fetch(src(old))
    assert result.moved_to is None and len(result.items) == 2


def test_permanent_then_temporary_moves_to_the_permanent_target(server: FeedServer) -> None:
    final = server.route(path("final.xml"), Reply(body=RSS2, content_type=RSS))
    middle = server.route(path("middle.xml"), redirect(final, 307))
    first = server.route(path("first.xml"), redirect(middle, 301))
    assert fetch(src(first)).moved_to == middle
    # and a temporary hop first means the configured URL stays
    start = server.route(path("start.xml"), redirect(first, 302))
    assert fetch(src(start)).moved_to is None


def test_relative_redirect_and_not_modified_after_redirect(server: FeedServer) -> None:
    p = path("target.xml")
    server.route(p, static(RSS2, RSS, etag='"r"'))
    old = server.route(path("rel.xml"), redirect(p, 301))
    result = fetch(src(old, etag='"r"'))
    assert result.not_modified and result.moved_to == server.url(p)


def test_redirect_loop(server: FeedServer) -> None:
    a, b = path("a"), path("b")
    server.route(a, redirect(server.url(b), 302))
    server.route(b, redirect(server.url(a), 302))
    err = error_of(src(server.url(a)))
    assert "too many redirects" in str(err)


def test_redirect_to_other_scheme_is_refused(server: FeedServer) -> None:
    url = server.route(path("ftp"), redirect("ftp://example.com/feed", 301))
    assert "non-HTTP" in str(error_of(src(url)))


# -------------------------------------------------------------------- encoding


def test_gzip(server: FeedServer) -> None:
    p = path("gz.xml")
    url = server.route(p, Reply(body=RSS2, content_type=RSS, gzip=True))
    result = fetch(src(url))
    assert len(result.items) == 2


def _gzip_bomb(megabytes: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    parts = [comp.compress(block) for _ in range(megabytes)]
    parts.append(comp.flush())
    return b"".join(parts)


def test_gzip_bomb_is_cut_at_the_cap(server: FeedServer) -> None:
    bomb = _gzip_bomb(64)
    assert len(bomb) < 200_000
    url = server.route(
        path("bomb.xml"),
        Reply(body=bomb, content_type=RSS, headers={"Content-Encoding": "gzip"}),
    )
    tracemalloc.start()
    try:
        err = error_of(src(url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than 5 MB limit" in str(err)
    assert peak < 25_000_000


def test_truncated_gzip(server: FeedServer) -> None:
    import gzip

    data = gzip.compress(RSS2)[:-30]
    url = server.route(
        path("cut.gz"), Reply(body=data, content_type=RSS, headers={"Content-Encoding": "gzip"})
    )
    assert "truncated" in str(error_of(src(url)))


# ----------------------------------------------------------------- job boards


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        (
            "https://boards.greenhouse.io/acme",
            ("https://boards-api.greenhouse.io/v1/boards/acme/jobs", "greenhouse"),
        ),
        (
            "https://job-boards.greenhouse.io/acme/jobs/4012345",
            ("https://boards-api.greenhouse.io/v1/boards/acme/jobs", "greenhouse"),
        ),
        (
            "https://boards.greenhouse.io/embed/job_board?for=acme",
            ("https://boards-api.greenhouse.io/v1/boards/acme/jobs", "greenhouse"),
        ),
        (
            "https://boards-api.greenhouse.io/v1/boards/acme/jobs?content=true",
            ("https://boards-api.greenhouse.io/v1/boards/acme/jobs?content=true", "greenhouse"),
        ),
        (
            "https://jobs.lever.co/acme",
            ("https://api.lever.co/v0/postings/acme?mode=json", "lever"),
        ),
        (
            "https://jobs.lever.co/acme/0b1c2d3e-aaaa-bbbb-cccc-123456789abc/apply",
            ("https://api.lever.co/v0/postings/acme?mode=json", "lever"),
        ),
        (
            "https://jobs.eu.lever.co/acme",
            ("https://api.eu.lever.co/v0/postings/acme?mode=json", "lever"),
        ),
        (
            "https://api.lever.co/v0/postings/acme",
            ("https://api.lever.co/v0/postings/acme?mode=json", "lever"),
        ),
        (
            "https://jobs.ashbyhq.com/acme",
            ("https://api.ashbyhq.com/posting-api/job-board/acme", "ashby"),
        ),
        (
            "https://api.ashbyhq.com/posting-api/job-board/acme",
            ("https://api.ashbyhq.com/posting-api/job-board/acme", "ashby"),
        ),
        (
            "https://careers.smartrecruiters.com/Acme",
            ("https://api.smartrecruiters.com/v1/companies/Acme/postings", "smartrecruiters"),
        ),
        (
            "https://jobs.smartrecruiters.com/Acme/743999-engineer",
            ("https://api.smartrecruiters.com/v1/companies/Acme/postings", "smartrecruiters"),
        ),
        (
            "https://api.smartrecruiters.com/v1/companies/Acme/postings",
            ("https://api.smartrecruiters.com/v1/companies/Acme/postings", "smartrecruiters"),
        ),
        ("https://acme.example/careers.rss", ("https://acme.example/careers.rss", "rss")),
    ],
)
def test_resolve_pasted_careers_pages(pasted: str, expected: tuple[str, str]) -> None:
    assert resolve(pasted, "careers") == expected
    # the resolved pair, stored and resolved again, stays the same
    assert resolve(expected[0], "careers", expected[1]) == expected
    assert resolve(expected[0], "careers") == expected


def test_resolve_keeps_an_explicit_format() -> None:
    assert resolve("http://127.0.0.1:9/gh", "careers", "greenhouse") == (
        "http://127.0.0.1:9/gh",
        "greenhouse",
    )
    assert resolve("https://jobs.lever.co/acme", "careers", "rss") == (
        "https://jobs.lever.co/acme",
        "rss",
    )
    assert resolve("https://acme.example/press.xml", "press") == (
        "https://acme.example/press.xml",
        "rss",
    )


@pytest.mark.parametrize(
    ("url", "kind", "format", "fragment"),
    [
        ("ftp://acme.example/feed", "press", "auto", "http:// or https://"),
        ("acme.example/feed", "press", "auto", "http:// or https://"),
        ("https:///feed", "press", "auto", "no host"),
        ("https://acme.example/a feed", "press", "auto", "spaces"),
        ("https://jobs.lever.co/", "careers", "auto", "without a board name"),
        ("https://acme.example/feed", "blog", "auto", "kind 'blog'"),
        ("https://acme.example/feed", "press", "json", "format 'json'"),
        ("https://jobs.lever.co/acme", "press", "auto", "must be 'careers'"),
    ],
)
def test_resolve_rejects(url: str, kind: str, format: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(url, kind, format)
    assert fragment in str(info.value)
    assert repr(url) in str(info.value)


def test_validate_url() -> None:
    assert validate_url("https://acme.example/feed.xml") is None
    assert validate_url("http://127.0.0.1:8080/x") is None
    assert "http:// or https://" in (validate_url("javascript:alert(1)") or "")
    assert "empty" in (validate_url("") or "")
    assert "port" in (validate_url("http://acme.example:99999/") or "").lower()


def test_news_search_url() -> None:
    assert news_search_url("Acme Networks") == (
        "https://news.google.com/rss/search?q=%22Acme+Networks%22&hl=en-US&gl=US&ceid=US:en"
    )
    assert news_search_url("  AT&T  ").startswith(
        "https://news.google.com/rss/search?q=%22AT%26T%22&"
    )
    with pytest.raises(ConfigError):
        news_search_url("   ")


GREENHOUSE = {
    "jobs": [
        {
            "id": 4012345,
            "internal_job_id": 1,
            "title": "Senior Engineer",
            "absolute_url": "https://boards.greenhouse.io/acme/jobs/4012345",
            "location": {"name": "Berlin, Germany"},
            "updated_at": "2025-01-02T03:04:05-05:00",
            "requisition_id": "R1",
            "metadata": None,
            "departments": [{"id": 1, "name": "Engineering", "parent_id": None}],
            "content": "&lt;p&gt;Build &lt;strong&gt;things&lt;/strong&gt;&lt;/p&gt;",
        },
        {
            "id": 4012346,
            "title": "Designer",
            "absolute_url": "https://boards.greenhouse.io/acme/jobs/4012346",
            "location": {"name": "Remote"},
            "updated_at": "2025-01-03T00:00:00Z",
        },
    ],
    "meta": {"total": 2},
}

LEVER = [
    {
        "id": "5ac21346-8e0c-4494-8e7a-3eb92ff77902",
        "text": "Account Executive",
        "hostedUrl": "https://jobs.lever.co/acme/5ac21346-8e0c-4494-8e7a-3eb92ff77902",
        "applyUrl": "https://jobs.lever.co/acme/5ac21346-8e0c-4494-8e7a-3eb92ff77902/apply",
        "categories": {
            "commitment": "Full-time",
            "department": "Sales",
            "location": "NYC",
            "team": "AE",
        },
        "createdAt": 1736000000000,
        "descriptionPlain": "Sell things.\n\nWell.",
    }
]

ASHBY = {
    "apiVersion": "1",
    "jobs": [
        {
            "id": "f30b8aee-b810-4262-9543-ab0987cb3c96",
            "title": "Product Designer",
            "department": "Design",
            "team": "Product",
            "location": "Americas",
            "isListed": True,
            "isRemote": True,
            "publishedAt": "2025-02-01T10:00:00.123+00:00",
            "jobUrl": "https://jobs.ashbyhq.com/acme/f30b8aee-b810-4262-9543-ab0987cb3c96",
            "descriptionPlain": "Design.",
        },
        {
            "id": "hidden",
            "title": "Unlisted",
            "isListed": False,
            "jobUrl": "https://jobs.ashbyhq.com/acme/hidden",
        },
    ],
}


def _smartrecruiters_posting(n: int) -> dict[str, object]:
    return {
        "id": f"74399{n}",
        "uuid": f"uuid-{n}",
        "name": f"Role {n}",
        "refNumber": f"REF{n}",
        "company": {"identifier": "Acme", "name": "Acme"},
        "releasedDate": "2025-01-05T10:00:00.000Z",
        "location": {"city": "Paris", "region": "IDF", "country": "fr", "remote": False},
        "department": {"id": "1", "label": "Operations"},
        "ref": f"https://api.smartrecruiters.com/v1/companies/Acme/postings/74399{n}",
    }


def test_greenhouse(server: FeedServer) -> None:
    url = server.route(path("gh"), Reply(body=json.dumps(GREENHOUSE).encode(), content_type=JSON))
    result = fetch(src(url, "careers", "greenhouse"))
    assert result.complete_listing
    first, second = result.items
    assert first == FeedItem(
        key="greenhouse:4012345",
        kind="opening",
        title="Senior Engineer",
        link="https://boards.greenhouse.io/acme/jobs/4012345",
        published=datetime(2025, 1, 2, 8, 4, 5, tzinfo=UTC),
        summary="Build things",
        location="Berlin, Germany",
        department="Engineering",
    )
    assert second.key == "greenhouse:4012346" and second.department is None


def test_lever(server: FeedServer) -> None:
    p = path("v0/postings/acme")
    url = server.route(p, Reply(body=json.dumps(LEVER).encode(), content_type=JSON))
    (item,) = fetch(src(url + "?mode=json", "careers", "lever")).items
    assert item.key == "lever:5ac21346-8e0c-4494-8e7a-3eb92ff77902"
    assert item.title == "Account Executive"
    assert item.link == LEVER[0]["hostedUrl"]
    assert item.location == "NYC" and item.department == "Sales"
    assert item.published == datetime.fromtimestamp(1736000000, UTC)
    assert item.summary == "Sell things. Well."
    assert "application/json" in (server.requests_to(p)[0].header("Accept") or "")


def test_ashby_skips_unlisted(server: FeedServer) -> None:
    url = server.route(path("ashby"), Reply(body=json.dumps(ASHBY).encode(), content_type=JSON))
    result = fetch(src(url, "careers", "ashby"))
    (item,) = result.items
    assert item.key == "ashby:f30b8aee-b810-4262-9543-ab0987cb3c96"
    assert item.location == "Americas" and item.department == "Design"
    assert item.published == datetime(2025, 2, 1, 10, 0, 0, 123000, tzinfo=UTC)


def test_smartrecruiters_follows_pages(server: FeedServer) -> None:
    postings = [_smartrecruiters_posting(n) for n in range(250)]
    p = path("v1/companies/Acme/postings")

    def pages(request: Request) -> Reply:
        offset = int(request.query.get("offset", ["0"])[0])
        limit = int(request.query.get("limit", ["10"])[0])
        body = {
            "offset": offset,
            "limit": limit,
            "totalFound": len(postings),
            "content": postings[offset : offset + limit],
        }
        return Reply(
            body=json.dumps(body).encode(), content_type=JSON, headers={"ETag": f'"{offset}"'}
        )

    url = server.route(p, pages)
    result = fetch(src(url, "careers", "smartrecruiters"))
    assert len(result.items) == 250 and result.complete_listing
    assert len({i.key for i in result.items}) == 250
    assert result.etag is None  # a page-1 cursor does not cover pages 2 and 3
    first = result.items[0]
    assert first.key == "smartrecruiters:743990"
    assert first.link == "https://jobs.smartrecruiters.com/Acme/743990"
    assert first.location == "Paris, IDF, fr" and first.department == "Operations"
    offsets = [r.query.get("offset", ["0"])[0] for r in server.requests_to(p)]
    assert offsets == ["0", "100", "200"]


@pytest.mark.parametrize(
    ("fmt", "body", "expected"),
    [
        ("greenhouse", {"postings": []}, "expected an object with 'jobs'"),
        ("greenhouse", [], "expected an object with 'jobs'"),
        ("lever", {"ok": False, "error": "Document not found"}, "expected a list of postings"),
        ("ashby", {"jobs": "none"}, "expected an object with 'jobs'"),
        ("smartrecruiters", {"items": []}, "expected an object with 'content'"),
    ],
)
def test_wrong_shape_board_json(server: FeedServer, fmt: str, body: object, expected: str) -> None:
    url = server.route(path(fmt), Reply(body=json.dumps(body).encode(), content_type=JSON))
    err = error_of(src(url, "careers", fmt))
    assert f"unexpected JSON from {fmt} board: {expected}" in str(err)
    assert err.source == url


def test_invalid_board_json(server: FeedServer) -> None:
    url = server.route(path("bad.json"), Reply(body=b"{not json", content_type=JSON))
    assert "invalid JSON from greenhouse board" in str(error_of(src(url, "careers", "greenhouse")))


def test_pasted_page_error_names_configured_and_fetched_url() -> None:
    port = closed_port()
    err = error_of(src(f"http://127.0.0.1:{port}/x", "careers", "lever"), timeout=2)
    assert err.source == f"http://127.0.0.1:{port}/x"


# --------------------------------------------------------------------- failures


def test_404(server: FeedServer) -> None:
    err = error_of(src(server.url(path("missing"))))
    assert "HTTP 404 Not Found" in str(err) and err.status == 404 and not err.gone
    assert err.source in str(err)


def test_500(server: FeedServer) -> None:
    url = server.route(path("boom"), Reply(status=500, body=b"oops", content_type="text/plain"))
    err = error_of(src(url))
    assert "HTTP 500 Internal Server Error" in str(err) and not err.gone


def test_503_retry_after(server: FeedServer) -> None:
    url = server.route(
        path("busy"), Reply(status=503, body=b"busy", headers={"Retry-After": "120"})
    )
    err = error_of(src(url))
    assert err.retry_after == 120 and "retry after 120 s" in str(err)


def test_410_gone(server: FeedServer) -> None:
    url = server.route(path("gone"), Reply(status=410, body=b"gone"))
    err = error_of(src(url))
    assert err.gone and "feed is gone (410); deactivated" in str(err)


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{closed_port()}/feed"
    err = error_of(src(url), timeout=2)
    assert "connection refused" in str(err) and err.source == url


def test_tls_error_is_reported(server: FeedServer) -> None:
    url = server.route(path("tls"), Reply(body=RSS2, content_type=RSS))
    err = error_of(src(url.replace("http://", "https://")), timeout=2)
    assert "TLS" in str(err)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with FeedServer(tls=context) as tls_server:
        url = tls_server.route("/feed.xml", Reply(body=RSS2, content_type=RSS, gzip=True))
        slow = tls_server.route("/slow.xml", Reply(body=RSS2, content_type=RSS, trickle=0.1))
        assert url.startswith("https://")
        # not trusted: refused with a clear message
        assert "certificate verification failed" in str(error_of(src(url), timeout=2))
        # trusted (OpenSSL reads SSL_CERT_FILE): fetched, and the deadline still holds
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        assert len(fetch(src(url)).items) == 2
        started = time.monotonic()
        assert "timed out after 0.5 s" in str(error_of(src(slow), timeout=0.5))
        assert time.monotonic() - started < 1.5


def test_stalled_server_trickling_bytes_times_out(server: FeedServer) -> None:
    url = server.route(path("slow"), Reply(body=RSS2, content_type=RSS, trickle=0.2))
    started = time.monotonic()
    err = error_of(src(url), timeout=1)
    elapsed = time.monotonic() - started
    assert "timed out after 1 s" in str(err)
    assert elapsed < 2.0


def test_headers_trickling_in_time_out() -> None:
    """The deadline also covers a server that sends its status line and headers
    one byte at a time (each byte resets a plain socket timeout)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.wait(0.05):
                    break
                conn.sendall(bytes([byte]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        err = error_of(src(f"http://127.0.0.1:{port}/feed"), timeout=0.5)
        assert "timed out after 0.5 s" in str(err)
        assert time.monotonic() - started < 1.5
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=2)


def test_server_that_never_answers_times_out(server: FeedServer) -> None:
    url = server.route(path("silent"), Reply(body=RSS2, delay=30))
    started = time.monotonic()
    err = error_of(src(url), timeout=0.5)
    assert "timed out after 0.5 s" in str(err)
    assert time.monotonic() - started < 1.5


def _fifty_megabytes() -> Iterator[bytes]:
    block = b"<item><title>x</title></item>" * 2000
    for _ in range(50_000_000 // len(block) + 1):
        yield block


def test_huge_answer_is_cut_at_the_cap(server: FeedServer) -> None:
    url = server.route(
        path("huge"),
        Reply(body=_fifty_megabytes, content_type=RSS),  # chunked, no length known
    )
    tracemalloc.start()
    started = time.monotonic()
    try:
        err = error_of(src(url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than 5 MB limit" in str(err)
    assert peak < 25_000_000
    assert time.monotonic() - started < 5


def test_declared_length_over_the_cap_is_refused_before_reading(server: FeedServer) -> None:
    url = server.route(
        path("declared"),
        Reply(body=_fifty_megabytes, content_type=RSS, content_length=50_000_000),
    )
    assert "larger than 5 MB limit" in str(error_of(src(url)))
    assert "larger than 1000 bytes limit" in str(error_of(src(url), max_bytes=1000))


def test_html_page_is_not_a_feed(server: FeedServer) -> None:
    html = b"<!DOCTYPE html><html><head><title>Careers</title></head><body>Jobs!</body></html>"
    url = server.route(path("page"), Reply(body=html, content_type="text/html; charset=utf-8"))
    assert "not a feed (got an HTML page)" in str(error_of(src(url)))
    # mislabelled content type, same answer
    url2 = server.route(path("page2"), Reply(body=html, content_type="application/xml"))
    assert "not a feed (got an HTML page)" in str(error_of(src(url2)))


def test_json_served_as_a_feed(server: FeedServer) -> None:
    url = server.route(path("j"), Reply(body=b'{"jobs": []}', content_type=JSON))
    assert "not a feed" in str(error_of(src(url)))


def test_empty_answer(server: FeedServer) -> None:
    url = server.route(path("nothing"), Reply(body=b"", content_type=RSS))
    assert "not a feed (the response is empty)" in str(error_of(src(url)))


def test_truncated_xml_with_no_usable_entry(server: FeedServer) -> None:
    cut = RSS2[: RSS2.index(b"<item>") + 9]
    url = server.route(path("cut.xml"), Reply(body=cut, content_type=RSS))
    assert "malformed feed with no usable entries" in str(error_of(src(url)))


def test_truncated_xml_keeps_the_entries_before_the_cut(server: FeedServer) -> None:
    cut = RSS2[: RSS2.index(b"<item><title>Second") + 10]
    url = server.route(path("half.xml"), Reply(body=cut, content_type=RSS))
    result = fetch(src(url, "careers"))
    assert [i.key for i in result.items] == ["guid:press-1"]
    assert result.warnings and "malformed feed (bozo)" in result.warnings[0]
    assert not result.complete_listing  # never close openings on a broken listing


def test_bozo_but_readable_feed_warns(server: FeedServer) -> None:
    body = rss2(
        "<item><title>Fish & chips</title><guid>g1</guid></item>"
        "<item><title>Two</title><guid>g2</guid></item>",
        title="A & B",
    )
    url = server.route(path("bozo.xml"), Reply(body=body, content_type=RSS))
    result = fetch(src(url))
    assert [i.title for i in result.items] == ["Fish & chips", "Two"]
    (warning,) = result.warnings
    assert warning.startswith("malformed feed (bozo): ") and warning.endswith("items used anyway")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><guid>x</guid></item></channel></rss>"""


def test_billion_laughs(server: FeedServer) -> None:
    url = server.route(path("lol.xml"), Reply(body=BILLION_LAUGHS, content_type=RSS))
    tracemalloc.start()
    started = time.monotonic()
    try:
        err = error_of(src(url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "entity" in str(err)
    assert time.monotonic() - started < 1
    assert peak < 10_000_000


# -------------------------------------------------------------------- injection

EVIL = rss2(
    "<item>"
    "<title>&lt;script&gt;alert(1)&lt;/script&gt;Hello &lt;img src=x onerror=alert(2)&gt;"
    "</title>"
    "<link>javascript:alert(3)</link>"
    '<guid isPermaLink="false">evil-1</guid>'
    '<description><![CDATA[<p onclick="x()">Hi <a href="javascript:alert(4)">there</a>'
    "<script>document.cookie</script><style>p{}</style><iframe src=x></iframe>"
    "&amp;lt;script&amp;gt;alert(5)&amp;lt;/script&amp;gt;</p>]]></description>"
    "</item>"
    "<item><title><![CDATA[<b>Bold</b> <svg onload=alert(6)>]]></title>"
    "<link>data:text/html;base64,PHNjcmlwdD4=</link><guid>evil-2</guid></item>"
    "<item><title>Ok</title><link>  https://acme.example/ok  </link><guid>evil-3</guid></item>"
)


def test_markup_and_script_injection_is_stripped(server: FeedServer) -> None:
    url = server.route(path("evil.xml"), Reply(body=EVIL, content_type=RSS))
    first, second, third = fetch(src(url)).items
    assert first.title == "Hello"
    assert first.link is None
    assert first.summary == "Hi there"
    assert second.title == "Bold"
    assert second.link is None
    assert third.link == "https://acme.example/ok"
    for item in (first, second, third):
        text = " ".join([item.title, item.summary, item.link or ""]).lower()
        for bad in (
            "<",
            ">",
            "script",
            "onerror",
            "onload",
            "onclick",
            "javascript:",
            "alert",
            "data:",
        ):
            assert bad not in text, (bad, item)


def test_plain_text_helper() -> None:
    assert plain_text("  a\n\t b&nbsp;c &amp; <br/>d ") == "a b c & d"
    assert plain_text("Profits up < 5%") == "Profits up < 5%"
    assert plain_text("a < b and c > d") == "a < b and c > d"
    assert plain_text("&amp;lt;b&amp;gt;twice escaped&amp;lt;/b&amp;gt;") == "twice escaped"
    long = plain_text("word " * 200, 500)
    assert len(long) <= 500 and long.endswith("…")
    assert plain_text(None) == ""


def test_board_injection_is_stripped(server: FeedServer) -> None:
    body = {
        "jobs": [
            {
                "id": 1,
                "title": "<img src=x onerror=alert(1)>Eng",
                "absolute_url": "javascript:alert(1)",
                "location": {"name": "<script>x</script>Oslo"},
                "content": "&lt;script&gt;alert(1)&lt;/script&gt;Job",
            }
        ]
    }
    url = server.route(path("gh-evil"), Reply(body=json.dumps(body).encode(), content_type=JSON))
    (item,) = fetch(src(url, "careers", "greenhouse")).items
    assert (item.title, item.link, item.location, item.summary) == ("Eng", None, "Oslo", "Job")


# ------------------------------------------------------------------ dedupe keys

RELATIVE = rss2(
    "<item><title>A</title><guid>/press/a</guid></item>"
    "<item><title>B</title><guid>12345</guid></item>"
    '<item><title>C</title><guid isPermaLink="false">c-1</guid></item>'
    "<item><title>D</title><link>d.html</link></item>"
    "<item><title>E</title><pubDate>Mon, 06 Jan 2025 10:00:00 GMT</pubDate></item>"
)

RELATIVE_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>feed</id>
<entry><title>X</title><id>entries/1</id><link href="x.html"/>
<updated>2025-01-01T00:00:00Z</updated></entry>
</feed>"""


def _keys(result: FetchResult) -> list[str]:
    return [i.key for i in result.items]


@pytest.mark.parametrize("body", [RELATIVE, RELATIVE_ATOM])
def test_keys_are_stable_across_polls_redirects_and_moves(server: FeedServer, body: bytes) -> None:
    here = server.route(path("feed.xml"), Reply(body=body, content_type=RSS))
    keys = _keys(fetch(src(here)))
    assert keys == _keys(fetch(src(here)))  # two polls
    moved = server.route(path("elsewhere/deeper/feed.xml"), Reply(body=body, content_type=RSS))
    assert _keys(fetch(src(moved))) == keys  # the feed moved to a new URL
    via = server.route(path("old.xml"), redirect(moved, 301))
    assert _keys(fetch(src(via))) == keys  # reached through a redirect
    with FeedServer() as other:  # another host and port
        other.route("/x/y/z.rss", Reply(body=body, content_type=RSS))
        assert _keys(fetch(src(other.url("/x/y/z.rss")))) == keys
    for key in keys:
        assert "127.0.0.1" not in key and str(server.port) not in key
    assert len(set(keys)) == len(keys)


def test_relative_links_are_resolved_but_keys_are_not(server: FeedServer) -> None:
    url = server.route(path("rel/feed.xml"), Reply(body=RELATIVE, content_type=RSS))
    a, b, c, d, e = fetch(src(url)).items
    assert a.key == "guid:press/a" and a.link == server.url("/press/a")
    assert b.key == "guid:12345"
    assert c.key == "guid:c-1" and c.link is None
    assert d.key == "link:d.html" and d.link == url.rsplit("/", 1)[0] + "/d.html"
    assert e.key.startswith("hash:") and e.title == "E"


def test_duplicate_entries_are_reported_once(server: FeedServer) -> None:
    body = rss2("<item><title>A</title><guid>same</guid></item>" * 3)
    url = server.route(path("dup.xml"), Reply(body=body, content_type=RSS))
    assert _keys(fetch(src(url))) == ["guid:same"]


# ------------------------------------------------------------------- fetch_many


def in_order(
    results: Iterator[tuple[int, FetchResult | FeedError]],
) -> list[FetchResult | FeedError]:
    return [result for _index, result in sorted(results, key=lambda pair: pair[0])]


def test_fetch_many_isolates_failures(server: FeedServer) -> None:
    good = server.route(path("good.xml"), Reply(body=RSS2, content_type=RSS))
    sources = [
        src(good),
        src(server.url(path("nope"))),
        src(f"http://127.0.0.1:{closed_port()}/feed"),
        src(server.route(path("atom"), Reply(body=ATOM_FEED, content_type=ATOM))),
        src("not a url"),
    ]
    results = in_order(fetch_many(sources, concurrency=3, timeout=3))
    assert [type(r) for r in results] == [FetchResult, FeedError, FeedError, FetchResult, FeedError]
    ok = results[0]
    assert isinstance(ok, FetchResult) and ok.source == sources[0] and len(ok.items) == 2
    assert isinstance(results[1], FeedError) and results[1].status == 404
    assert isinstance(results[2], FeedError) and "connection refused" in str(results[2])
    assert list(fetch_many([])) == []


def test_fetch_many_runs_concurrently(server: FeedServer) -> None:
    sources = [
        src(server.route(path(f"slow{n}.xml"), Reply(body=RSS2, content_type=RSS, delay=0.2)))
        for n in range(20)
    ]
    started = time.monotonic()
    results = in_order(fetch_many(sources, per_host=10))
    elapsed = time.monotonic() - started
    assert all(isinstance(r, FetchResult) for r in results)
    assert [r.source for r in results if isinstance(r, FetchResult)] == sources
    assert elapsed < 2.0  # 20 × 0.2 s one after another would take 4 s


class ConnectionWatch:
    """A route handler that counts the requests being answered at once, per host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_hosts = 0  # hosts served at the same moment

    def __call__(self, request: Request) -> Reply:
        host = (request.header("Host") or "").rpartition(":")[0]
        with self._lock:
            self._open[host] += 1
            self.peak[host] = max(self.peak[host], self._open[host])
            busy = sum(1 for n in self._open.values() if n)
            self.peak_hosts = max(self.peak_hosts, busy)
        time.sleep(0.05)
        with self._lock:
            self._open[host] -= 1
        return Reply(body=RSS2, content_type=RSS)


def test_fetch_many_bounds_the_open_connections(server: FeedServer) -> None:
    watch = ConnectionWatch()
    sources = [src(server.route(path(f"bounded{n}.xml"), watch)) for n in range(12)]
    results = in_order(fetch_many(sources, per_host=3))
    assert all(isinstance(r, FetchResult) for r in results)
    assert watch.peak == {"127.0.0.1": 3}


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[FeedServer]]:
    """Feed servers on five loopback addresses (Linux routes 127.0.0.0/8 to loopback)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(FeedServer(host=f"127.0.0.{n}")) for n in range(2, 7)]


def test_fetch_many_opens_two_connections_per_host_and_serves_hosts_at_once(
    hosts: list[FeedServer],
) -> None:
    watch = ConnectionWatch()
    sources = [src(server.route(path(f"host{n}.xml"), watch)) for server in hosts for n in range(6)]
    results = in_order(fetch_many(sources))
    assert all(isinstance(r, FetchResult) for r in results), results
    assert watch.peak == {server.host: 2 for server in hosts}
    assert watch.peak_hosts > 1


def test_the_global_ceiling_holds_across_hosts(hosts: list[FeedServer]) -> None:
    lock = threading.Lock()
    open_now = peak = 0

    def slow(request: Request) -> Reply:
        nonlocal open_now, peak
        with lock:
            open_now += 1
            peak = max(peak, open_now)
        time.sleep(0.05)
        with lock:
            open_now -= 1
        return Reply(body=RSS2, content_type=RSS)

    sources = [
        src(server.route(path(f"ceiling{n}.xml"), slow)) for server in hosts for n in range(3)
    ]
    results = in_order(fetch_many(sources, per_host=2, concurrency=3))
    assert all(isinstance(r, FetchResult) for r in results)
    assert peak == 3


def test_a_redirect_to_another_host_waits_for_that_hosts_slot(hosts: list[FeedServer]) -> None:
    watch = ConnectionWatch()
    first, second = hosts[0], hosts[1]
    target = second.route(path("target.xml"), watch)
    sources = [src(first.route(path(f"moved{n}.xml"), redirect(target, 302))) for n in range(6)]
    results = in_order(fetch_many(sources))
    assert all(isinstance(r, FetchResult) for r in results), results
    assert watch.peak == {second.host: 2}


def test_a_caller_that_stops_early_does_not_wait_for_the_rest(server: FeedServer) -> None:
    sources = [
        src(server.route(path(f"early{n}.xml"), Reply(body=RSS2, content_type=RSS, delay=0.3)))
        for n in range(20)
    ]
    started = time.monotonic()
    results = fetch_many(sources, per_host=1)
    next(results)
    assert isinstance(results, Generator)
    results.close()  # e.g. storing the first result failed
    assert time.monotonic() - started < 1.5  # not 20 × 0.3 s


def test_waiting_for_a_connection_does_not_count_against_the_timeout(server: FeedServer) -> None:
    sources = [
        src(server.route(path(f"queued{n}.xml"), Reply(body=RSS2, content_type=RSS, delay=0.4)))
        for n in range(3)
    ]
    # One connection at a time: the third feed waits 0.8 s, longer than its 0.6 s budget.
    results = in_order(fetch_many(sources, per_host=1, timeout=0.6))
    assert all(isinstance(r, FetchResult) for r in results), results


# ------------------------------------------------------------------ DTDs refused

LAUGHS = (
    '<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
    + "".join(
        f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdefg", "bcdefgh", strict=True)
    )
)
BOMB_BODY = (
    '<rss version="2.0"><channel><title>&h;</title><item><guid>x</guid></item></channel></rss>'
)


@pytest.mark.parametrize(
    "document",
    [
        # a comment inside the subset, before the declarations (the old guard's blind spot)
        f'<?xml version="1.0"?><!DOCTYPE rss [<!-- ] --> {LAUGHS}]>{BOMB_BODY}',
        # a comment and a processing instruction before the DOCTYPE
        f'<?xml version="1.0"?><!-- hi --><?pi x?><!DOCTYPE rss [{LAUGHS}]>{BOMB_BODY}',
        # a quoted ">" and "[" in the external id before the subset
        f'<!DOCTYPE rss SYSTEM "x>[y" [{LAUGHS}]>{BOMB_BODY}',
        # parameter entities
        "<!DOCTYPE rss [<!ENTITY % p \"<!ENTITY h 'x'>\"> %p;]>" + BOMB_BODY,
        # an internal subset with no entity at all is refused too
        '<!DOCTYPE rss [<!ATTLIST rss version CDATA "2.0">]><rss><channel/></rss>',
    ],
)
def test_any_dtd_subset_or_entity_is_refused(server: FeedServer, document: str) -> None:
    url = server.route(path("dtd.xml"), Reply(body=document.encode(), content_type=RSS))
    err = error_of(src(url))
    assert "entities" in str(err) and "refused" in str(err)


def test_a_dtd_in_utf16_is_refused(server: FeedServer) -> None:
    document = f'<?xml version="1.0" encoding="utf-16"?><!-- x --><!DOCTYPE rss [{LAUGHS}]>'
    body = (document + BOMB_BODY).encode("utf-16")
    url = server.route(path("dtd16.xml"), Reply(body=body, content_type=RSS))
    assert "refused" in str(error_of(src(url)))


def test_an_external_dtd_alone_is_fine(server: FeedServer) -> None:
    """Old RSS 0.91 feeds name Netscape's DTD; it is never fetched."""
    body = (
        b'<?xml version="1.0"?><!-- made by hand -->'
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
        b'<rss version="0.91"><channel><title>Old</title><link>https://old.example/</link>'
        b"<description>d</description><item><title>Hello</title>"
        b"<link>https://old.example/1</link></item></channel></rss>"
    )
    url = server.route(path("rss091.xml"), Reply(body=body, content_type=RSS))
    assert [i.title for i in fetch(src(url)).items] == ["Hello"]


# ----------------------------------------------------------- at most N items


def dated_rss(count: int, *, oldest_first: bool) -> bytes:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    order = range(count) if oldest_first else range(count - 1, -1, -1)
    return rss2(
        "".join(
            f"<item><guid>n{n}</guid><title>Item {n}</title>"
            f"<pubDate>{(start + timedelta(hours=n)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
            "</pubDate></item>"
            for n in order
        )
    )


def test_a_huge_feed_yields_its_newest_items_only(server: FeedServer) -> None:
    """150,000 entries (4.7 MB): the default cap keeps the 300 newest."""
    entries = "".join(f"<item><guid>{n}</guid></item>" for n in range(150_000))
    url = server.route(path("huge.xml"), Reply(body=rss2(entries), content_type=RSS))
    items = fetch(src(url)).items
    assert [i.key for i in items] == [f"guid:{n}" for n in range(300)]


@pytest.mark.parametrize("oldest_first", [True, False])
def test_the_cap_keeps_the_newest_whatever_the_order(
    server: FeedServer, oldest_first: bool
) -> None:
    body = dated_rss(1000, oldest_first=oldest_first)
    url = server.route(path("dated.xml"), Reply(body=body, content_type=RSS))
    result = fetch(src(url, kind="careers"), max_items=25)
    assert sorted(i.key for i in result.items) == sorted(f"guid:n{n}" for n in range(975, 1000))
    assert not result.complete_listing  # the openings left out are not closed


def test_a_board_keeps_its_newest_openings(server: FeedServer) -> None:
    jobs = [
        {"id": n, "title": f"Job {n}", "updated_at": f"2025-01-{n + 1:02d}T00:00:00Z"}
        for n in range(20)
    ]
    url = server.route(
        path("gh"), Reply(body=json.dumps({"jobs": jobs}).encode(), content_type=JSON)
    )
    result = fetch(src(url, kind="careers", format="greenhouse"), max_items=5)
    assert sorted(i.title for i in result.items) == [f"Job {n}" for n in range(15, 20)]
    assert not result.complete_listing


# -------------------------------------------------------- redirects inward


@pytest.mark.parametrize(
    ("origin", "target", "allowed"),
    [
        ("93.184.216.34", "127.0.0.1", False),
        ("93.184.216.34", "10.1.2.3", False),
        ("93.184.216.34", "192.168.1.1", False),
        ("93.184.216.34", "169.254.169.254", False),  # cloud metadata
        ("93.184.216.34", "::1", False),
        ("93.184.216.34", "::ffff:127.0.0.1", False),
        ("93.184.216.34", "fe80::1%eth0", False),
        ("2606:2800:220:1::1", "fd00::1", False),
        ("93.184.216.34", "8.8.8.8", True),
        ("127.0.0.1", "127.0.0.2", True),
        ("10.0.0.5", "192.168.0.1", True),
        ("10.0.0.5", "8.8.8.8", True),
    ],
)
def test_a_redirect_may_not_move_from_a_public_host_to_a_private_one(
    origin: str, target: str, allowed: bool
) -> None:
    assert redirect_allowed(origin, target) is allowed


def test_a_redirect_within_the_local_network_is_followed(server: FeedServer) -> None:
    """The configured feed is on 127.0.0.1, so a move to 127.0.0.2 is the user's own."""
    with FeedServer(host="127.0.0.2") as other:
        target = other.route("/feed.xml", Reply(body=RSS2, content_type=RSS))
        url = server.route(path("inward"), redirect(target, 302))
        assert len(fetch(src(url)).items) == 2


# ------------------------------------------------------------ credentials

PASSWORD = "s3cret-Pa55"


def with_credentials(url: str, userinfo: str = f"me:{PASSWORD}") -> str:
    return url.replace("://", f"://{userinfo}@", 1)


def basic(userinfo: str) -> str:
    return "Basic " + base64.b64encode(userinfo.encode()).decode()


def test_redact_url() -> None:
    assert redact_url("https://me:pw@host.example/f") == "https://me:***@host.example/f"
    assert redact_url("https://me:p@ss@host/f?a=1") == "https://me:***@host/f?a=1"
    assert redact_url("https://me@host/f") == "https://me@host/f"
    assert (
        redact_url("https://h/f?q=%22Acme%22&token=abc&API_KEY=x&sig=s#top")
        == "https://h/f?q=%22Acme%22&token=***&API_KEY=***&sig=***#top"
    )
    assert redact_url("https://h/f?access_token=t&apikey=k&key=v") == (
        "https://h/f?access_token=***&apikey=***&key=***"
    )


def test_credentials_are_sent_as_basic_authorization(server: FeedServer) -> None:
    feed = path("private.xml")
    url = with_credentials(server.route(feed, Reply(body=RSS2, content_type=RSS)))
    assert len(fetch(src(url)).items) == 2
    assert server.requests_to(feed)[-1].header("Authorization") == basic(f"me:{PASSWORD}")


def test_percent_encoded_credentials_are_decoded(server: FeedServer) -> None:
    feed = path("private.xml")
    url = with_credentials(server.route(feed, Reply(body=RSS2, content_type=RSS)), "m%40e:p%3Aw")
    fetch(src(url))
    assert server.requests_to(feed)[-1].header("Authorization") == basic("m@e:p:w")


def test_credentials_follow_a_redirect_on_the_same_host_only(server: FeedServer) -> None:
    here = path("here.xml")
    server.route(here, Reply(body=RSS2, content_type=RSS))
    moved = with_credentials(server.route(path("moved"), redirect(here, 301)))
    result = fetch(src(moved))
    assert server.requests_to(here)[-1].header("Authorization") == basic(f"me:{PASSWORD}")
    assert result.moved_to == with_credentials(server.url(here))  # still signs in after the move
    with FeedServer(host="127.0.0.2") as other:
        there = other.route("/feed.xml", Reply(body=RSS2, content_type=RSS))
        away = with_credentials(server.route(path("away"), redirect(there, 302)))
        fetch(src(away))
        assert other.requests_to("/feed.xml")[-1].header("Authorization") is None


def test_no_password_or_token_in_errors_or_logs(
    server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "tok-4f9a1c"
    failing = server.route(path("down"), Reply(status=500))
    hop = server.route(path("hop"), redirect(f"{failing}?token={token}", 302))
    errors = [
        error_of(src(with_credentials(hop))),
        error_of(
            src(with_credentials(server.route(path("x"), redirect("ftp://h/f?key=" + token))))
        ),
        error_of(src(with_credentials(f"http://127.0.0.1:{closed_port()}/f?apikey={token}"))),
    ]
    with pytest.raises(ConfigError) as bad_kind:
        resolve(with_credentials(hop), "gossip")
    parsed = fetch(
        src(with_credentials(server.route(path("ok"), Reply(body=RSS2, content_type=RSS))))
    )
    assert parsed.items
    shown = [str(e) for e in errors] + [e.source for e in errors] + [str(bad_kind.value)]
    shown += [r.getMessage() for r in caplog.records]
    assert any("me:***@" in text for text in shown)
    for text in shown:
        assert PASSWORD not in text and token not in text
