"""Issue 14, bad input: every hostile feed at once, in one `pursuit run --once`
beside a good one.

Each case alone is tested in tests/test_feeds_connector.py; here they meet the real
command together: the good feed's items are stored, each bad feed is reported on
one line naming its URL and why (`pursuit doctor`), the run exits 0 (a failing feed
is not a failing run) and nothing prints a traceback. A redirect from a public
address to a private one cannot be staged on 127.0.0.1 alone: it is tested with
`redirect_allowed` in tests/test_feeds_connector.py.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from support.cli import Pursuit
from support.feed_server import FeedServer, Reply, redirect

pytestmark = pytest.mark.reliability

RSS = "application/rss+xml"
GOOD = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Acme</title>'
    b"<item><title>Acme opens a Lyon office</title><link>https://acme.example/1</link>"
    b"<guid>a1</guid></item></channel></rss>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b']><rss version="2.0"><channel><item><title>&lol9;</title></item></channel></rss>'
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<rss version="2.0"><channel><item><title>&x;</title></item></channel></rss>'
)


def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)


def endless() -> Iterable[bytes]:
    chunk = b"<item><title>more</title></item>" * 2000
    for _ in range(2000):  # 130 MB, streamed
        yield chunk


#: name -> (reply, words one of which the reason must contain)
HOSTILE: dict[str, tuple[Reply, tuple[str, ...]]] = {
    "malformed": (Reply(body=b"<rss><channel><item><title>cut", content_type=RSS), ("feed",)),
    "huge": (Reply(body=endless, content_type=RSS), ("large", "mb", "size")),
    "stalled": (Reply(body=GOOD, content_type=RSS, trickle=60.0), ("time", "timed")),
    "laughs": (Reply(body=LAUGHS, content_type=RSS), ("entit", "dtd", "refused")),
    "external": (Reply(body=EXTERNAL, content_type=RSS), ("entit", "dtd", "refused")),
    "gzip-bomb": (
        Reply(body=gzip_bomb(), content_type=RSS, headers={"Content-Encoding": "gzip"}),
        ("large", "mb", "size"),
    ),
    "image": (Reply(body=b"\x89PNG\r\n\x1a\n" + b"\0" * 64, content_type="image/png"), ("feed",)),
    "html": (
        Reply(body=b"<!DOCTYPE html><html><body>Careers</body></html>", content_type="text/html"),
        ("html",),
    ),
    "file": (redirect("file:///etc/passwd"), ("non-http", "file:")),
    "ftp": (redirect("ftp://acme.example/feed.xml"), ("non-http", "ftp:")),
    "data": (redirect("data:text/xml;base64,PHJzcy8+"), ("non-http", "data:")),
    "gopher": (redirect("gopher://acme.example/1"), ("non-http", "gopher:")),
    "javascript": (redirect("javascript:alert(1)"), ("non-http", "javascript:")),
}


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def test_every_hostile_feed_in_one_run_beside_a_good_one(
    server: FeedServer, tmp_path: Path
) -> None:
    good = server.route("/good.xml", Reply(body=GOOD, content_type=RSS))
    bad = {name: server.route(f"/{name}.xml", reply) for name, (reply, _) in HOSTILE.items()}
    # a redirect loop between two paths
    bad["loop"] = server.route("/loop-a.xml", redirect(server.url("/loop-b.xml"), 302))
    server.route("/loop-b.xml", redirect(bad["loop"], 302))
    # not UTF-8 although it says so: read with replacement characters, or refused
    odd = server.route(
        "/latin1.xml",
        Reply(body=GOOD.replace(b"Lyon", b"Lyon \xe9t\xe9 \xff"), content_type=RSS),
    )
    feeds = ", ".join(
        f'{{ url = {json.dumps(url)}, kind = "press" }}' for url in [*bad.values(), odd]
    )
    p = Pursuit(
        tmp_path,
        config=(
            '[feeds]\nnews_search = false\ntimeout = "3s"\nmax_size_mb = 1\n'
            '[[organization]]\nname = "Acme"\ndomains = ["acme.example"]\n'
            f'feeds = [{{ url = "{good}", kind = "press" }}]\n'
            '[[organization]]\nname = "Hostile"\ndomains = ["hostile.example"]\n'
            f"feeds = [{feeds}]\n"
        ),
    )
    result = p.run("run", "--once")
    assert "Traceback" not in result.out + result.err, str(result)
    assert result.code == 0, str(result)  # a failing feed is not a failing run
    news = json.loads(p.ok("news", "--json"))
    titles = {n["title"] for n in news}
    assert "Acme opens a Lyon office" in titles
    assert all("lol" not in t and "root:" not in t for t in titles), titles

    report = json.loads(p.run("doctor", "--json").out)
    failing = {f["feed"]: f["error"] for f in report["failing_feeds"]}
    assert good not in failing
    why = {**{name: words for name, (_, words) in HOSTILE.items()}, "loop": ("redirects",)}
    for name, url in bad.items():
        assert url in failing, (name, failing)
        reason = failing[url]
        assert "\n" not in reason and "Traceback" not in reason, (name, reason)
        assert any(word in reason.lower() for word in why[name]), (name, reason)
    doctor = p.run("doctor")
    assert "Traceback" not in doctor.out + doctor.err
    for name, url in bad.items():
        assert sum(url in line for line in doctor.out.splitlines()) >= 1, (name, doctor.out)
