"""Issue 4 end to end: company news and openings, through the real `pursuit` command.

Every feed lives on tests/support/feed_server.py (127.0.0.1, an OS-picked port) and every
config turns the news search off (`[feeds] news_search = false`), so nothing here
leaves the machine. `poll_every = "1s"` lets a second `run --once`, a little over
a second later, poll the feeds again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from support.app import Clock, make_settings
from support.cli import Pursuit
from support.feed_server import FeedServer, Reply, Request, closed_port, redirect
from support.golden import check_golden

from pursuit.daemon import feeds as engine
from pursuit.daemon.store import Store

PARIS = ZoneInfo("Europe/Paris")
RSS = "application/rss+xml"
ATOM = "application/atom+xml"
JSON = "application/json"
EXPORT_KEYS = {"organization", "feed", "kind", "title", "link", "published", "first_seen", "closed"}
FORBIDDEN = ("<script", "onerror", "javascript:", "<img")


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


_counter = iter(range(1_000_000))


def path(name: str) -> str:
    """A path no other test uses on the shared server."""
    return f"/{next(_counter)}/{name}"


# --- what the server serves


def rss(items: Sequence[tuple[str, str]], *, day: int = 6) -> bytes:
    """RSS 2.0 with (guid, title) items; raw XML titles, so a test may escape markup."""
    entries = "".join(
        f"<item><title>{title}</title><link>https://acme.example/news/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid>'
        f"<pubDate>Mon, {day:02d} Jan 2025 10:00:00 +0100</pubDate></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Acme</title><link>https://acme.example/</link><description>d</description>"
        f"{entries}</channel></rss>"
    ).encode()


def atom(entries: Sequence[tuple[str, str]]) -> bytes:
    """Atom with (id, title element) entries; the title element is raw XML."""
    body = "".join(
        f"<entry><id>urn:acme:{ident}</id>{title}"
        f'<link href="https://acme.example/blog/{ident}"/>'
        "<updated>2025-02-03T09:00:00Z</updated></entry>"
        for ident, title in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Acme blog</title><id>urn:acme:blog</id><updated>2025-02-03T09:00:00Z</updated>"
        f"{body}</feed>"
    ).encode()


class Resource:
    """A feed the test edits: ETag (or only Last-Modified) follows the body, 304 on a match.

    `answers` lists the status of every answer, so a test sees what was parsed.
    `fail` replaces the answer by this one while set.
    """

    def __init__(self, body: bytes, content_type: str, *, validator: str = "etag") -> None:
        self.content_type = content_type
        self.validator = validator
        self.answers: list[int] = []
        self.fail: Reply | None = None
        self._version = 0
        self.body = body

    @property
    def body(self) -> bytes:
        return self._body

    @body.setter
    def body(self, value: bytes) -> None:
        self._body = value
        self._version += 1
        self.etag = '"' + hashlib.sha1(value).hexdigest()[:16] + '"'
        stamp = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=self._version)
        self.last_modified = format_datetime(stamp, usegmt=True)

    def __call__(self, request: Request) -> Reply:
        if self.fail is not None:
            self.answers.append(self.fail.status)
            return self.fail
        if self.validator == "etag":
            headers = {"ETag": self.etag}
            fresh = request.header("If-None-Match") == self.etag
        else:
            headers = {"Last-Modified": self.last_modified}
            fresh = request.header("If-Modified-Since") == self.last_modified
        if fresh:
            self.answers.append(304)
            return Reply(status=304, headers=headers, content_type=None)
        self.answers.append(200)
        return Reply(body=self.body, content_type=self.content_type, headers=headers)


class Board(Resource):
    """A Greenhouse board: `jobs` maps a posting id to (title, location)."""

    def __init__(self, jobs: dict[int, tuple[str, str]]) -> None:
        self._jobs: dict[int, tuple[str, str]] = {}
        super().__init__(b"", JSON)
        self.jobs = jobs

    @property
    def jobs(self) -> dict[int, tuple[str, str]]:
        return dict(self._jobs)

    @jobs.setter
    def jobs(self, value: dict[int, tuple[str, str]]) -> None:
        self._jobs = dict(value)
        self.body = json.dumps(
            {
                "jobs": [
                    {
                        "id": ident,
                        "title": title,
                        "location": {"name": where},
                        "absolute_url": f"https://boards.example/acme/jobs/{ident}",
                        "updated_at": "2025-01-10T12:00:00-05:00",
                    }
                    for ident, (title, where) in value.items()
                ]
            }
        ).encode()


# --- the user's config


def feed(url: str, kind: str, fmt: str | None = None) -> str:
    extra = f", format = {json.dumps(fmt)}" if fmt else ""
    return f"{{ url = {json.dumps(url)}, kind = {json.dumps(kind)}{extra} }}"


def organization(name: str, feeds: Sequence[str], keywords: Sequence[str] = ()) -> str:
    lines = [
        "[[organization]]",
        f"name = {json.dumps(name)}",
        f"domains = [{json.dumps(name.lower() + '.example')}]",
        f"feeds = [{', '.join(feeds)}]",
    ]
    if keywords:
        lines.append(f"keywords = {json.dumps(list(keywords))}")
    return "\n".join(lines) + "\n"


def config(*organizations: str, keywords: Sequence[str] = ()) -> str:
    head = '[feeds]\nnews_search = false\npoll_every = "1s"\ntimeout = "5s"\n'
    if keywords:
        head += f"keywords = {json.dumps(list(keywords))}\n"
    return head + "\n" + "\n".join(organizations)


@pytest.fixture
def wall() -> Iterator[time_machine.Traveller]:
    """This process's clock, which the `pursuit` commands run in it read: moved on
    where a test would wait for time to pass (ticking as usual otherwise)."""
    with time_machine.travel(time.time(), tick=True) as now:
        yield now


def poll_again(p: Pursuit, wall: time_machine.Traveller) -> str:
    """Once the feeds are due again (poll_every = 1s: the clock moved on 1.1 s), run once."""
    wall.shift(1.1)
    return p.ok("run", "--once")


def news(p: Pursuit, *args: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(p.ok("news", *args, "--json"))
    return data


def openings(p: Pursuit, *args: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(p.ok("openings", *args, "--json"))
    return data


def by_title(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    titles = [r["title"] for r in rows]
    assert len(titles) == len(set(titles)), f"duplicated: {titles}"
    return {r["title"]: r for r in rows}


def unfolded_ics(data: bytes) -> str:
    """An .ics as one text, folded lines joined and TEXT escapes undone."""
    text = data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")
    return text.replace("\\n", "\n").replace("\\,", ",").replace("\\;", ";")


def today() -> str:
    return datetime.now(PARIS).date().isoformat()


# --- storing, conditional requests


def test_first_poll_stores_items_and_an_unchanged_second_poll_parses_nothing(
    server: FeedServer, tmp_path: Path, wall: time_machine.Traveller
) -> None:
    press = Resource(
        rss([("p1", "Acme opens a Lyon office"), ("p2", "Acme raises &amp; grows")]), RSS
    )
    blog = Resource(
        atom([("b1", "<title>Acme engineering blog: BGP at scale</title>")]),
        ATOM,
        validator="last-modified",
    )
    board = Board({101: ("Network Engineer", "Paris"), 102: ("SRE", "Remote")})
    urls = {
        "press": server.route(path("press.xml"), press),
        "blog": server.route(path("blog.atom"), blog),
        "board": server.route(path("board.json"), board),
    }
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme",
                [
                    feed(urls["press"], "press"),
                    feed(urls["blog"], "news"),
                    feed(urls["board"], "careers", "greenhouse"),
                ],
            )
        ),
    )
    p.ok("run", "--once")

    got = by_title(news(p))
    assert set(got) == {
        "Acme opens a Lyon office",
        "Acme raises & grows",
        "Acme engineering blog: BGP at scale",
    }
    lyon = got["Acme opens a Lyon office"]
    assert (lyon["organization"], lyon["feed"], lyon["kind"]) == ("Acme", urls["press"], "press")
    assert lyon["link"] == "https://acme.example/news/p1"
    assert lyon["published"] == "2025-01-06T10:00:00+01:00"
    assert got["Acme engineering blog: BGP at scale"]["kind"] == "news"
    assert news(p, "Acme") == news(p)
    text = p.ok("news")
    assert "Acme: Acme opens a Lyon office" in text
    assert "https://acme.example/news/p1" in text

    jobs = by_title(openings(p))
    assert set(jobs) == {"Network Engineer", "SRE"}
    assert jobs["Network Engineer"]["location"] == "Paris"
    assert jobs["Network Engineer"]["feed"] == urls["board"]
    assert jobs["Network Engineer"]["link"] == "https://boards.example/acme/jobs/101"
    assert all(j["closed"] is None for j in jobs.values())
    assert set(by_title(openings(p, "--new"))) == {"Network Engineer", "SRE"}
    assert "Network Engineer" in p.ok("openings", "Acme")

    exported = p.export()["feed_items"]
    assert len(exported) == 5
    for item in exported:
        assert set(item) >= EXPORT_KEYS, item
        assert item["kind"] in ("press", "news", "opening")
        assert item["organization"] == "Acme"
        assert item["closed"] is None
        assert item["first_seen"].startswith(today())
    assert {i["feed"] for i in exported} == set(urls.values())

    poll_again(p, wall)
    # Nothing changed: each server saw a conditional request and answered 304.
    assert press.answers == [200, 304]
    assert blog.answers == [200, 304]
    assert board.answers == [200, 304]
    press_second = server.requests_to(urls["press"].split(str(server.port))[1])[-1]
    assert press_second.header("If-None-Match") == press.etag
    blog_second = server.requests_to(urls["blog"].split(str(server.port))[1])[-1]
    assert blog_second.header("If-Modified-Since") == blog.last_modified
    assert p.export()["feed_items"] == exported, "nothing duplicated, nothing rewritten"
    assert "All feeds answered" in p.ok("doctor")

    # The user drops the blog from the config: its item stays, still naming its feed.
    p.write_config(
        'timezone = "Europe/Paris"\n' + config(organization("Acme", [feed(urls["press"], "press")]))
    )
    poll_again(p, wall)
    assert p.export()["feed_items"] == exported
    assert "All feeds answered" in p.ok("doctor")


def test_an_opening_that_leaves_is_closed_with_a_date_and_one_that_returns_is_reopened(
    server: FeedServer, tmp_path: Path, wall: time_machine.Traveller
) -> None:
    board = Board(
        {1: ("Network Engineer", "Paris"), 2: ("Security Analyst", "Lyon"), 3: ("SRE", "Remote")}
    )
    careers_rss = Resource(rss([("r1", "Field Engineer"), ("r2", "Support Engineer")]), RSS)
    board_url = server.route(path("board.json"), board)
    rss_url = server.route(path("careers.xml"), careers_rss)
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme", [feed(board_url, "careers", "greenhouse"), feed(rss_url, "careers")]
            )
        ),
    )
    p.ok("run", "--once")
    before = by_title(openings(p))
    assert len(before) == 5

    jobs = board.jobs
    del jobs[2]
    board.jobs = jobs
    careers_rss.body = rss([("r1", "Field Engineer")])
    poll_again(p, wall)
    after = by_title(openings(p))
    assert len(after) == 5, "a closed opening stays, marked"
    for title in ("Security Analyst", "Support Engineer"):
        assert after[title]["closed"] is not None, title
        assert after[title]["closed"].startswith(today())
    for title in ("Network Engineer", "SRE", "Field Engineer"):
        assert after[title]["closed"] is None, title
    assert set(by_title(openings(p, "--new"))) == {"Network Engineer", "SRE", "Field Engineer"}
    assert f"Security Analyst  (closed {today()})" in p.ok("openings")
    closed = {i["title"]: i["closed"] for i in p.export()["feed_items"]}
    assert closed["Security Analyst"] == after["Security Analyst"]["closed"]

    jobs[2] = ("Security Analyst", "Lyon")
    board.jobs = jobs
    careers_rss.body = rss([("r1", "Field Engineer"), ("r2", "Support Engineer")])
    poll_again(p, wall)
    again = by_title(openings(p))
    assert len(again) == 5, "reopened, not duplicated"
    assert all(row["closed"] is None for row in again.values())
    assert again["Security Analyst"]["first_seen"] == before["Security Analyst"]["first_seen"]
    assert len(p.export()["feed_items"]) == 5


# --- redirects


def test_a_permanent_redirect_updates_the_stored_url_and_keys_survive(
    server: FeedServer, tmp_path: Path, wall: time_machine.Traveller
) -> None:
    old, new, hop, target = (path(n) for n in ("old.xml", "new.xml", "hop.xml", "target.xml"))
    moved = Resource(rss([("m1", "Moved one"), ("m2", "Moved two")]), RSS)
    elsewhere = Resource(rss([("t1", "Temporary one")]), RSS)
    server.routes(
        {
            old: redirect(server.url(new), 301),
            new: moved,
            hop: redirect(server.url(target), 302),
            target: elsewhere,
        }
    )
    p = Pursuit(
        tmp_path,
        config=config(
            organization("Acme", [feed(server.url(old), "press")]),
            organization("Globex", [feed(server.url(hop), "news")]),
        ),
    )
    p.ok("run", "--once")
    first = by_title(news(p))
    assert set(first) == {"Moved one", "Moved two", "Temporary one"}
    assert first["Moved one"]["feed"] == server.url(old), "shown under the URL the user gave"

    moved.body = rss([("m1", "Moved one"), ("m2", "Moved two"), ("m3", "Moved three")])
    poll_again(p, wall)
    assert len(server.requests_to(old)) == 1, "the new address is used after a 301"
    assert server.requests_to(new)[-1].header("If-None-Match") is not None
    assert len(server.requests_to(hop)) == 2, "a 302 does not move the feed"
    second = by_title(news(p))
    assert set(second) == {"Moved one", "Moved two", "Moved three", "Temporary one"}
    assert second["Moved one"]["first_seen"] == first["Moved one"]["first_seen"]

    # The user now writes the new address in the config: the same items, not new ones.
    p.write_config(
        f'timezone = "{p.timezone}"\n'
        + config(
            organization("Acme", [feed(server.url(new), "press")]),
            organization("Globex", [feed(server.url(hop), "news")]),
        )
    )
    poll_again(p, wall)
    third = by_title(news(p))
    assert set(third) == set(second)
    assert third["Moved one"]["first_seen"] == first["Moved one"]["first_seen"]
    assert len(p.export()["feed_items"]) == 4


# --- keyword filters


def test_keyword_filters_global_and_per_organization(server: FeedServer, tmp_path: Path) -> None:
    acme_board = Board({1: ("Network Engineer", "Paris"), 2: ("Sales Manager", "Paris")})
    acme_press = Resource(rss([("a1", "Acme NETWORK launch"), ("a2", "Company picnic")]), RSS)
    globex_board = Board({7: ("Security Analyst", "Berlin"), 8: ("Network Engineer", "Berlin")})
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme",
                [
                    feed(server.route(path("a.json"), acme_board), "careers", "greenhouse"),
                    feed(server.route(path("a.xml"), acme_press), "press"),
                ],
            ),
            organization(
                "Globex",
                [feed(server.route(path("g.json"), globex_board), "careers", "greenhouse")],
                keywords=["security"],
            ),
            keywords=["network"],
        ),
    )
    p.ok("run", "--once")
    shown = {(o["organization"], o["title"]) for o in openings(p)}
    assert shown == {("Acme", "Network Engineer"), ("Globex", "Security Analyst")}
    assert {n["title"] for n in news(p)} == {"Acme NETWORK launch"}
    assert "Sales Manager" not in p.ok("openings")
    assert {o["title"] for o in openings(p, "Globex")} == {"Security Analyst"}


# --- failures


def test_failing_feeds_are_listed_by_doctor_and_never_cost_the_others(
    server: FeedServer, tmp_path: Path, wall: time_machine.Traveller
) -> None:
    press = Resource(rss([("ok1", "Acme keeps going")]), RSS)
    board = Board({5: ("Network Engineer", "Paris")})
    good = {
        "press": server.route(path("press.xml"), press),
        "board": server.route(path("board.json"), board),
    }
    bad = {
        "500": server.route(path("500.xml"), Reply(status=500, body=b"oops", content_type=None)),
        "html": server.route(
            path("page.xml"),
            Reply(
                body=b"<!DOCTYPE html><html><body>Welcome</body></html>", content_type="text/html"
            ),
        ),
        "404": server.url(path("missing.xml")),
        "refused": f"http://127.0.0.1:{closed_port()}/feed.xml",
        "json": server.route(path("broken.json"), Reply(body=b'{"jobs": [', content_type=JSON)),
        "410": server.route(path("gone.xml"), Reply(status=410, body=b"gone", content_type=None)),
        # A Retry-After too large for a timedelta once crashed the whole feeds job.
        "503": server.route(
            path("busy.xml"),
            Reply(status=503, headers={"Retry-After": "99999999999999"}, content_type=None),
        ),
    }
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme", [feed(good["press"], "press"), feed(good["board"], "careers", "greenhouse")]
            ),
            organization(
                "Globex",
                [
                    feed(bad["500"], "press"),
                    feed(bad["html"], "news"),
                    feed(bad["404"], "news"),
                    feed(bad["refused"], "news"),
                    feed(bad["json"], "careers", "greenhouse"),
                    feed(bad["410"], "news"),
                    feed(bad["503"], "news"),
                ],
            ),
        ),
    )
    p.ok("run", "--once")  # exit 0: a failing feed is not a failing run
    assert {n["title"] for n in news(p)} == {"Acme keeps going"}
    assert {o["title"] for o in openings(p)} == {"Network Engineer"}

    why = {
        "500": "500",
        "html": "html",
        "404": "404",
        "refused": "refused",
        "json": "json",
        "410": "410",
        "503": "503",
    }
    report = json.loads(p.run("doctor", "--json").out)
    failing = {f["feed"]: f for f in report["failing_feeds"]}
    assert set(failing) == set(bad.values())
    for name, url in bad.items():
        assert failing[url]["organization"] == "Globex"
        assert why[name] in failing[url]["error"].lower(), (name, failing[url])
        assert failing[url]["active"] is (name != "410"), name
    doctor = p.run("doctor")
    assert doctor.code == 1, doctor  # the feed that is gone needs the user
    text = doctor.out
    assert "-> fix or remove them in the config" in text
    lines = text.splitlines()
    for name, url in bad.items():
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"Globex: {url}"))
        assert why[name] in lines[at + 1].lower(), (name, text)
    assert "[stopped" in next(line for line in lines if bad["410"] in line)
    assert "Feeds failing (7)" in p.ok("status")
    assert all(job["last_error"] is None for job in report["jobs"].values()), report["jobs"]

    # Acme's feeds fail later: what was stored stays, and the opening is not closed.
    press.fail = Reply(status=500, body=b"down", content_type=None)
    board.fail = Reply(body=b"<html><body>maintenance</body></html>", content_type="text/html")
    gone_before = len(server.requests_to(bad["410"].split(str(server.port))[1]))
    poll_again(p, wall)
    assert gone_before == 1
    assert len(server.requests_to(bad["410"].split(str(server.port))[1])) == 1, "410: stopped"
    assert {n["title"] for n in news(p)} == {"Acme keeps going"}
    assert [(o["title"], o["closed"]) for o in openings(p)] == [("Network Engineer", None)]
    failing = {
        f["feed"]: f["error"] for f in json.loads(p.run("doctor", "--json").out)["failing_feeds"]
    }
    assert "500" in failing[good["press"]]
    assert "html" in failing[good["board"]].lower()

    # ... and recover.
    press.fail = board.fail = None
    poll_again(p, wall)
    still_failing = {f["feed"] for f in json.loads(p.run("doctor", "--json").out)["failing_feeds"]}
    assert still_failing == set(bad.values())


# --- no markup anywhere


def test_markup_in_feeds_never_reaches_news_the_calendar_or_the_export(
    server: FeedServer, tmp_path: Path
) -> None:
    hostile_rss = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
        b"<link>https://acme.example/</link><description>d</description>"
        b"<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Acme &lt;b&gt;wins&lt;/b&gt; award"
        b"</title><link>javascript:alert(1)</link><guid>h1</guid>"
        b"<description><![CDATA[<img src=x onerror=alert(1)>Great <script>bad()</script>]]>"
        b"</description></item>"
        b"<item><title>&amp;lt;script&amp;gt;alert(2)&amp;lt;/script&amp;gt;Twice escaped"
        b"</title><link>https://acme.example/2</link><guid>h2</guid></item>"
        b"</channel></rss>"
    )
    hostile_atom = atom(
        [
            ("x1", '<title type="html">&lt;img src=x onerror=alert(3)&gt;Acme expands</title>'),
            (
                "x2",
                '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                '<a href="javascript:alert(4)" onclick="x()">Acme</a> partners</div></title>',
            ),
        ]
    )
    board = Board(
        {
            9: ("<script>alert(5)</script>Network <i>Engineer</i>", "<img src=x onerror=y()>Paris"),
        }
    )
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme",
                [
                    feed(server.route(path("h.xml"), Resource(hostile_rss, RSS)), "press"),
                    feed(server.route(path("h.atom"), Resource(hostile_atom, ATOM)), "news"),
                    feed(server.route(path("h.json"), board), "careers", "greenhouse"),
                ],
            )
        ),
    )
    two_days_ago = datetime.now(PARIS) - timedelta(days=2)
    p.ok(
        "interview",
        "add",
        "Acme",
        "--at",
        f"{two_days_ago:%Y-%m-%d %H:%M}",
        "--with",
        "Jane Doe <jane@acme.example>",
    )
    p.ok("run", "--once")

    titles = {n["title"] for n in news(p)}
    assert "Acme wins award" in titles
    assert "Acme expands" in titles
    assert "Acme partners" in titles
    assert {o["title"] for o in openings(p)} == {"Network Engineer"}
    ics = unfolded_ics(p.ics.read_bytes())
    assert "Acme wins award" in ics, "the titles did reach the follow-up event"
    outputs = {
        "news": p.ok("news"),
        "news --json": p.ok("news", "--json"),
        "openings": p.ok("openings"),
        "openings --json": p.ok("openings", "--json"),
        "export json": p.ok("export", "--format", "json"),
        "export ics": unfolded_ics(p.ok("export", "--format", "ics").encode()),
        "calendar.ics": ics,
        "status": p.ok("status"),
    }
    for name, text in outputs.items():
        for bad in FORBIDDEN:
            assert bad not in text.lower(), (name, bad, text)
    links = [i["link"] for i in p.export()["feed_items"]]
    assert all(link is None or link.startswith("https://") for link in links), links


# --- surfaced in the follow-up event and in status


def test_the_follow_up_event_lists_news_and_openings_since_the_interview(
    server: FeedServer, tmp_path: Path, wall: time_machine.Traveller
) -> None:
    press = Resource(rss([("p1", "Acme opens a Lyon office")]), RSS)
    board = Board({1: ("Network Engineer", "Paris"), 2: ("Security Analyst", "Lyon")})
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme",
                [
                    feed(server.route(path("p.xml"), press), "press"),
                    feed(server.route(path("b.json"), board), "careers", "greenhouse"),
                ],
            )
        ),
    )
    two_days_ago = datetime.now(PARIS) - timedelta(days=2)
    p.ok(
        "interview",
        "add",
        "Acme",
        "--at",
        f"{two_days_ago:%Y-%m-%d %H:%M}",
        "--with",
        "Jane Doe <jane@acme.example>",
    )
    p.ok("run", "--once")  # the news appears after the interview
    events = {str(e["SUMMARY"]): str(e.get("DESCRIPTION", "")) for e in p.calendar_events()}
    follow_up = next(d for s, d in events.items() if s.startswith("Follow up with Jane Doe"))
    assert "Since then:" in follow_up
    since = follow_up.split("Since then:")[1].split("\n\n")[0]
    assert "- Press: Acme opens a Lyon office" in since
    assert "- New opening: Network Engineer (Paris)" in since
    assert "- New opening: Security Analyst (Lyon)" in since

    # An opening that closes leaves the talking points on the next round.
    board.jobs = {1: ("Network Engineer", "Paris")}
    poll_again(p, wall)
    events = {str(e["SUMMARY"]): str(e.get("DESCRIPTION", "")) for e in p.calendar_events()}
    follow_up = next(d for s, d in events.items() if s.startswith("Follow up with Jane Doe"))
    assert "Security Analyst" not in follow_up
    assert "- New opening: Network Engineer (Paris)" in follow_up


def test_a_feed_failing_for_weeks_backs_off_to_a_day_without_overflowing(
    tmp_path: Path,
) -> None:
    """In process: the backoff doubling once overflowed timedelta after ~36 failures."""
    with FeedServer() as srv:
        url = srv.url("/missing.xml")  # 404
        settings = make_settings(
            tmp_path,
            feeds={"news_search": False},
            organization=[{"name": "Acme", "feeds": [{"url": url, "kind": "press"}]}],
        )
        store = Store.open(settings.database)
        try:
            from pursuit.daemon.jobs import sync_config_organizations

            now = datetime(2026, 11, 2, 9, 0, tzinfo=PARIS)
            sync_config_organizations(store, settings, now)
            engine.poll_feeds(store, settings, now, force=True)
            [feed] = store.feeds()
            store.feed_failed(feed.id, failures=500, error="404", next_poll=now, active=True)
            report = engine.poll_feeds(store, settings, now, force=True)
            assert report.failed == 1
            [feed] = store.feeds()
            assert feed.failures == 501
            assert feed.next_poll == now + engine.MAX_BACKOFF
            assert feed.last_error is not None and "404" in feed.last_error
        finally:
            store.close()


def test_since_lines_leave_out_what_was_seen_before_the_interview(tmp_path: Path) -> None:
    """In process, with a clock: only items first seen after the moment are listed."""
    with FeedServer() as srv:
        press = Resource(rss([("old", "Known before")]), RSS)
        url = srv.route("/press.xml", press)
        settings = make_settings(
            tmp_path,
            feeds={"news_search": False},
            organization=[{"name": "Acme", "feeds": [{"url": url, "kind": "press"}]}],
        )
        store = Store.open(settings.database)
        try:
            from pursuit.daemon.jobs import sync_config_organizations

            clock = Clock(datetime(2026, 11, 2, 9, 0, tzinfo=PARIS))
            sync_config_organizations(store, settings, clock.now)
            engine.poll_feeds(store, settings, clock.now, force=True)
            interview = datetime(2026, 11, 3, 14, 0, tzinfo=PARIS)
            press.body = rss([("old", "Known before"), ("new", "Announced after")])
            engine.poll_feeds(store, settings, interview + timedelta(days=1), force=True)
            org_id = store.find_organization("Acme").id
            assert engine.since_lines(store, settings, org_id, interview) == [
                "Press: Announced after"
            ]
        finally:
            store.close()


def test_a_rejected_organization_posting_a_matching_opening_gets_a_check_in_suggestion(
    server: FeedServer, tmp_path: Path, wall: time_machine.Traveller
) -> None:
    acme = Board({1: ("Network Engineer", "Paris"), 2: ("Sales Manager", "Paris")})
    globex = Board({7: ("Network Admin", "Berlin")})
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme", [feed(server.route(path("a.json"), acme), "careers", "greenhouse")]
            ),
            organization(
                "Globex", [feed(server.route(path("g.json"), globex), "careers", "greenhouse")]
            ),
            keywords=["network"],
        ),
    )
    p.ok("run", "--once")
    wall.shift(1.1)  # the rejection comes strictly after the first poll
    p.ok("org", "status", "Acme", "rejected")
    assert p.status()["suggestions"] == [], "openings seen before the rejection are not news"

    acme.jobs = {**acme.jobs, 3: ("Senior Network Engineer", "Paris"), 4: ("Marketing Lead", "")}
    globex.jobs = {**globex.jobs, 8: ("Network Architect", "Berlin")}  # still active: nothing
    poll_again(p, wall)
    suggestions = p.status()["suggestions"]
    assert [(s["organization"], s["opening"]) for s in suggestions] == [
        ("Acme", "Senior Network Engineer")
    ]
    assert suggestions[0]["link"] == "https://boards.example/acme/jobs/3"
    assert "Senior Network Engineer" in suggestions[0]["suggestion"]
    text = p.ok("status")
    assert "Worth a check-in" in text
    assert 'Ask the recruiter at Acme about "Senior Network Engineer"' in text
    assert "Marketing Lead" not in text


# --- what the user sees, as golden files


def test_news_openings_and_doctor_match_the_golden_files(
    server: FeedServer, tmp_path: Path
) -> None:
    base = server.url(path(""))
    press = Resource(
        rss([("p1", "Acme opens a Lyon office"), ("p2", "Acme raises &amp; grows")]), RSS
    )
    board = Board({101: ("Network Engineer", "Paris"), 102: ("SRE", "Remote")})
    blog = Resource(atom([("b1", "<title>Globex ships BGP monitoring</title>")]), ATOM)
    server.routes(
        {
            path_of(base, "press.xml"): press,
            path_of(base, "board.json"): board,
            path_of(base, "blog.atom"): blog,
        }
    )
    p = Pursuit(
        tmp_path,
        config=config(
            organization(
                "Acme",
                [
                    feed(base + "press.xml", "press"),
                    feed(base + "board.json", "careers", "greenhouse"),
                ],
            ),
            organization(
                "Globex", [feed(base + "blog.atom", "news"), feed(base + "gone.xml", "press")]
            ),
        ),
    )
    result = p.run("run", "--once")
    assert result.code == 0, result

    def shown(*args: str) -> bytes:
        text = p.ok(*args).replace(base, "http://feeds.test/")
        text = re.sub(r"next try \d{4}-\d\d-\d\d \d\d:\d\d", "next try NEXT-TRY", text)
        text = text.replace(str(tmp_path), "TMP")
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "WHEN", text)
        return re.sub(rf"{today()}T\d\d:\d\d:\d\d\+0[12]:00", "FIRST-SEEN", text).encode()

    check_golden("news.txt", shown("news"))
    check_golden("news.json", shown("news", "--json"))
    check_golden("openings.txt", shown("openings"))
    check_golden("openings.json", shown("openings", "--json"))
    check_golden("doctor.txt", shown("doctor"))


def path_of(base: str, name: str) -> str:
    return urlsplit(base + name).path
