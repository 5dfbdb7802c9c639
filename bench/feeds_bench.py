"""How long a poll of 200 company feeds takes, and what a second, unchanged poll costs.

A local ThreadingHTTPServer on 127.0.0.1 (an OS-picked port) serves 200 feeds, a
mix of RSS 2.0, Atom and Greenhouse board JSON, each answered after 100 ms (the
304s too), with ETag and Last-Modified. pursuit polls them through
`pursuit.daemon.feeds.poll_feeds` into a fresh state database:

1. a full first poll (timed; the issue asks for under 3 s),
2. a second poll with nothing changed: every feed must answer 304 and nothing
   may be parsed (counted by the server, and by the record the connector logs per parse).

Then, if rss2email is installed in its own venv, `r2e run --no-send` fetches the
same 200 feeds from the same server and the ratio is printed.

    python bench/feeds_bench.py [--concurrency 8 16] [--r2e /tmp/r2e/bin/r2e]

Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pursuit.config.settings import Settings, parse_settings
from pursuit.daemon.feeds import poll_feeds
from pursuit.daemon.jobs import sync_config_organizations
from pursuit.daemon.store import Store

TZ = ZoneInfo("Europe/Paris")
FEEDS = 200
DELAY = 0.100
LAST_MODIFIED = "Mon, 06 Jan 2025 10:00:00 GMT"
KINDS = ("rss", "atom", "greenhouse")


def body_for(n: int) -> tuple[bytes, str]:
    """Feed number n: 10 entries of RSS, Atom or Greenhouse JSON."""
    kind = KINDS[n % 3]
    if kind == "greenhouse":
        jobs = [
            {
                "id": n * 100 + i,
                "title": f"Engineer {i}",
                "location": {"name": "Paris"},
                "absolute_url": f"https://boards.example/org{n}/jobs/{i}",
                "updated_at": "2025-01-10T12:00:00Z",
            }
            for i in range(10)
        ]
        return json.dumps({"jobs": jobs}).encode(), "application/json"
    if kind == "atom":
        entries = "".join(
            f"<entry><id>urn:org{n}:{i}</id><title>Org {n} post {i}</title>"
            f'<link href="https://org{n}.example/blog/{i}"/>'
            f"<updated>2025-01-{i + 1:02d}T09:00:00Z</updated>"
            f"<summary>Post {i} of org {n}.</summary></entry>"
            for i in range(10)
        )
        text = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Org {n}</title><id>urn:org{n}</id><updated>2025-01-10T09:00:00Z</updated>"
            f"{entries}</feed>"
        )
        return text.encode(), "application/atom+xml"
    items = "".join(
        f"<item><title>Org {n} press {i}</title><link>https://org{n}.example/press/{i}</link>"
        f"<guid>org{n}-press-{i}</guid><pubDate>Mon, 06 Jan 2025 10:00:00 +0100</pubDate>"
        f"<description>Press release {i} of org {n}.</description></item>"
        for i in range(10)
    )
    text = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Org {n}</title><link>https://org{n}.example/</link>"
        f"<description>Press</description>{items}</channel></rss>"
    )
    return text.encode(), "application/rss+xml"


class FeedFarm:
    """200 feeds on 127.0.0.1, each answered after DELAY; counts 200s and 304s.

    The server runs in a process of its own, as real feed servers do: in
    pursuit's process its 200 handler threads would compete with pursuit for
    the interpreter lock and be charged to pursuit's time. `/_stats` answers the
    counts as JSON and `/_reset` clears them.
    """

    def __init__(self) -> None:
        ready: multiprocessing.SimpleQueue[int] = multiprocessing.SimpleQueue()
        self.process = multiprocessing.Process(target=_serve, args=(ready,), daemon=True)
        self.process.start()
        self.port = ready.get()

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/feed/{n}"

    def _control(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as answer:
            return json.loads(answer.read())

    def reset(self) -> None:
        self._control("/_reset")

    @property
    def counts(self) -> dict[int, int]:
        return {int(k): v for k, v in self._control("/_stats")["counts"].items()}

    @property
    def user_agents(self) -> dict[str, int]:
        return dict(self._control("/_stats")["user_agents"])

    def __enter__(self) -> FeedFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(10)


def _serve(ready: multiprocessing.SimpleQueue[int]) -> None:
    bodies = {f"/feed/{n}": body_for(n) for n in range(FEEDS)}
    etags = {p: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for p, (b, _) in bodies.items()}
    counts: Counter[int] = Counter()
    user_agents: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def control(self, path: str) -> bool:
            if path not in ("/_stats", "/_reset"):
                return False
            with lock:
                if path == "/_reset":
                    counts.clear()
                    user_agents.clear()
                body = json.dumps({"counts": counts, "user_agents": user_agents}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return True

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if self.control(path):
                return
            time.sleep(DELAY)
            found = bodies.get(path)
            if found is None:
                status, body, ctype, etag = 404, b"not found", "text/plain", None
            else:
                body, ctype = found
                etag = etags[path]
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                fresh = inm == etag if inm else ims == LAST_MODIFIED
                status = 304 if fresh else 200
            with lock:
                counts[status] += 1
                user_agents[(self.headers.get("User-Agent") or "?").split("/")[0]] += 1
            self.send_response(status)
            if etag:
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", LAST_MODIFIED)
            self.send_header("Connection", "close")
            if status == 304:
                self.end_headers()
                return
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    httpd = Server(("127.0.0.1", 0), Handler)
    ready.put(httpd.server_address[1])
    httpd.serve_forever()


def settings_for(farm: FeedFarm, root: Path, concurrency: int) -> Settings:
    organizations = [
        {
            "name": f"Org {o:02d}",
            "feeds": [
                {
                    "url": farm.url(n),
                    "kind": "careers" if KINDS[n % 3] == "greenhouse" else "press",
                    "format": "greenhouse" if KINDS[n % 3] == "greenhouse" else "auto",
                }
                for n in range(o * 10, o * 10 + 10)
            ],
        }
        for o in range(FEEDS // 10)
    ]
    return parse_settings(
        {
            "timezone": "Europe/Paris",
            "database": str(root / "state.sqlite3"),
            "feeds": {"news_search": False, "concurrency": concurrency},
            "organization": organizations,
        },
        "bench config",
    )


class ParseCounter(logging.Handler):
    """Counts the answers the connector parsed (RSS/Atom or board JSON), from the
    DEBUG record it logs for each, marked with `feed_parsed`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.calls = 0
        self._logger = logging.getLogger("pursuit.connectors.feeds")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "feed_parsed"):
            self.calls += 1

    def __enter__(self) -> ParseCounter:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def bench_pursuit(farm: FeedFarm, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pursuit-feeds-bench-") as tmp:
        root = Path(tmp)
        settings = settings_for(farm, root, concurrency)
        store = Store.open(settings.database)
        try:
            now = datetime.now(TZ)
            sync_config_organizations(store, settings, now)
            farm.reset()
            with ParseCounter() as parsed:
                start = time.perf_counter()
                first = poll_feeds(store, settings, now, force=True)
                first_s = time.perf_counter() - start
            first_counts, first_parsed = farm.counts, parsed.calls
            stored = store.counts()["feed_items"]
            farm.reset()
            with ParseCounter() as parsed:
                start = time.perf_counter()
                second = poll_feeds(store, settings, now, force=True)
                second_s = time.perf_counter() - start
            second_counts, second_parsed = farm.counts, parsed.calls
            agents = farm.user_agents
        finally:
            store.close()
    assert first.polled == FEEDS and first.failed == 0, first
    assert first_counts == {200: FEEDS}, first_counts
    assert first_parsed == FEEDS, first_parsed
    assert stored == FEEDS * 10, stored
    assert second_counts == {304: FEEDS}, f"second poll: {second_counts}"
    assert second.not_modified == FEEDS and second.new_items == 0, second
    assert second_parsed == 0, f"second poll parsed {second_parsed} answers"
    return {
        "concurrency": concurrency,
        "first_s": first_s,
        "second_s": second_s,
        "first_answers": first_counts,
        "second_answers": second_counts,
        "parsed_first": first_parsed,
        "parsed_second": second_parsed,
        "items": stored,
        "user_agents": agents,
    }


def r2e_version(r2e: str) -> str:
    done = subprocess.run([r2e, "--version"], capture_output=True, text=True, timeout=60)
    return (done.stdout or done.stderr).strip().splitlines()[-1]


def bench_r2e(farm: FeedFarm, r2e: str) -> dict[str, Any]:
    """`r2e run --no-send` over the same 200 feeds, twice (the second one conditional)."""
    with tempfile.TemporaryDirectory(prefix="r2e-bench-") as tmp:
        root = Path(tmp)
        config, data = root / "r2e.cfg", root / "r2e.json"
        base = [r2e, "-c", str(config), "-d", str(data)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("http_", "HTTP"))}
        env["HOME"] = str(root)  # nothing of the real user's
        subprocess.run(
            [*base, "new", "bench@example.invalid"],
            check=True,
            env=env,
            timeout=60,
            capture_output=True,
        )
        # `r2e add` 200 times costs a process each; the same feeds written directly:
        # a [feed.NAME] section with its url is what `add` writes.
        with config.open("a", encoding="utf-8") as out:
            for n in range(FEEDS):
                out.write(f"\n[feed.f{n:03d}]\nurl = {farm.url(n)}\n")
        listed = subprocess.run(
            [*base, "list"], capture_output=True, text=True, env=env, timeout=120
        )
        assert listed.stdout.count(f"127.0.0.1:{farm.port}") == FEEDS, listed.stdout[-2000:]
        runs = []
        for _ in range(2):
            farm.reset()
            start = time.perf_counter()
            done = subprocess.run(
                [*base, "run", "--no-send"], capture_output=True, text=True, env=env, timeout=600
            )
            runs.append(
                {
                    "seconds": time.perf_counter() - start,
                    "exit": done.returncode,
                    "answers": farm.counts,
                    "stderr_lines": len(done.stderr.splitlines()),
                    "stderr_tail": done.stderr.strip().splitlines()[-3:],
                }
            )
        return {"runs": runs, "version": r2e_version(r2e)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 10, 12, 16])
    parser.add_argument("--repeat", type=int, default=3, help="pursuit polls per concurrency")
    parser.add_argument("--r2e", default=shutil.which("r2e") or "/tmp/r2e/bin/r2e")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{FEEDS} feeds (RSS/Atom/Greenhouse JSON), each answered after {DELAY * 1000:.0f} ms")
    print(f"pursuit: median of {args.repeat} polls per concurrency")
    results = []
    with FeedFarm() as farm:
        for concurrency in args.concurrency:
            runs = sorted(
                (bench_pursuit(farm, concurrency) for _ in range(args.repeat)),
                key=lambda r: r["first_s"],
            )
            r = runs[len(runs) // 2]  # the median run
            results.append(r)
            verdict = "OK" if r["first_s"] < 3 else "OVER 3 s"
            print(
                f"pursuit, concurrency {concurrency:>2}: first poll {r['first_s']:.2f} s "
                f"({verdict}; "
                f"{r['items']} items stored, {r['parsed_first']} answers parsed), "
                f"second poll {r['second_s']:.2f} s: {r['second_answers']}, "
                f"{r['parsed_second']} parsed"
            )
        if not (args.r2e and Path(args.r2e).exists()):
            print(f"rss2email: not run ({args.r2e} not found)")
            return
        try:
            r2e = bench_r2e(farm, args.r2e)
        except (subprocess.SubprocessError, AssertionError, OSError) as exc:
            print(f"rss2email: failed to run: {exc}")
            return
    print(f"rss2email: {r2e['version']}")
    default = results[0]
    for label, run, ours in (
        ("first", r2e["runs"][0], default["first_s"]),
        ("second", r2e["runs"][1], default["second_s"]),
    ):
        print(
            f"rss2email {label} run: {run['seconds']:.2f} s, exit {run['exit']}, "
            f"answers {run['answers']}, {run['stderr_lines']} stderr lines "
            f"-> pursuit (concurrency {default['concurrency']}) is "
            f"{run['seconds'] / ours:.1f}x faster"
        )
        for line in run["stderr_tail"]:
            print(f"    r2e stderr: {line[:160]}")


if __name__ == "__main__":
    main()
