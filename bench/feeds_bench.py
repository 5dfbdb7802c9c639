"""How long a poll of 200 company feeds on 200 hosts takes, and what a second, unchanged poll costs.

A server process listens on 200 loopback addresses (127.0.1.1 to 127.0.1.200:
Linux routes all of 127.0.0.0/8 to loopback), one feed on each, a mix of RSS
2.0, Atom and Greenhouse board JSON, each answered after 100 ms (the 304s
too), with ETag and Last-Modified. pursuit polls them through
`pursuit.daemon.feeds.poll_feeds` into a fresh state database:

1. a full first poll (timed; goal: near the parsing CPU, at least 15x rss2email),
2. a second poll with nothing changed: every feed must answer 304 and nothing
   may be parsed (counted by the server, and by the record the connector logs per parse).
3. a whole `pursuit run --once`, a process of its own from a fresh data
   directory (start-up, config, a new store, every job of the round), over 200
   feeds on 40 hosts (5 a host; goal: at least 12x rss2email's first run of
   the same feeds), and a second one with nothing due: what a round costs
   around its work.

The parsing floor is the CPU time of parsing the 200 answers in one thread.
If rss2email is installed in its own venv, `r2e run --no-send` fetches the
same feeds from the same server and the ratio is printed. The server counts the
connections open to each address: pursuit never opens more than 2 to one host.

    python bench/feeds_bench.py [--repeat 5] [--r2e /tmp/r2e/bin/r2e] [--quick] [--json FILE]
    python bench/feeds_bench.py --https   # every feed over TLS, as on the internet

Nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pursuit.config.settings import Settings, parse_settings
from pursuit.connectors.feeds.boards import parse_board
from pursuit.connectors.feeds.client import Answer, Deadline
from pursuit.connectors.feeds.rss import parse_feed
from pursuit.daemon.feeds import poll_feeds
from pursuit.daemon.jobs import sync_config_organizations
from pursuit.daemon.store import Store

TZ = ZoneInfo("Europe/Paris")
FEEDS = 200  # --feeds; one host each
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


def host(n: int) -> str:
    """The loopback address of host n: 127.0.1.1, 127.0.1.2, ..."""
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


class FeedFarm:
    """`feeds` feeds spread evenly over `hosts` hosts (one each by default),
    answered after DELAY; counts 200s and 304s, and the most connections ever
    open to one host.

    The server runs in a process of its own, as real feed servers do: in
    pursuit's process its handler threads would compete with pursuit for
    the interpreter lock and be charged to pursuit's time. `/_stats` answers the
    counts as JSON and `/_reset` clears them.
    """

    def __init__(
        self, feeds: int = FEEDS, hosts: int | None = None, tls: tuple[Path, Path] | None = None
    ) -> None:
        """`tls`: (certificate, key) to serve HTTPS with."""
        self.feeds = feeds
        self.hosts = hosts or feeds
        self.scheme = "https" if tls else "http"
        ready: multiprocessing.SimpleQueue[int] = multiprocessing.SimpleQueue()
        self.process = multiprocessing.Process(
            target=_serve, args=(ready, feeds, self.hosts, tls), daemon=True
        )
        self.process.start()
        self.port = ready.get()

    def url(self, n: int) -> str:
        return f"{self.scheme}://{host(n * self.hosts // self.feeds)}:{self.port}/feed/{n}"

    def _control(self, path: str) -> Any:
        url = f"{self.scheme}://{host(0)}:{self.port}{path}"
        context = ssl._create_unverified_context() if self.scheme == "https" else None
        with urllib.request.urlopen(url, timeout=10, context=context) as answer:
            return json.loads(answer.read())

    def reset(self) -> None:
        self._control("/_reset")

    @property
    def counts(self) -> dict[int, int]:
        return {int(k): v for k, v in self._control("/_stats")["counts"].items()}

    @property
    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self._control("/_stats")
        return found

    def __enter__(self) -> FeedFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(10)


def _serve(
    ready: multiprocessing.SimpleQueue[int],
    feeds: int,
    hosts: int,
    tls: tuple[Path, Path] | None,
) -> None:
    bodies = {f"/feed/{n}": body_for(n) for n in range(feeds)}
    etags = {p: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for p, (b, _) in bodies.items()}
    counts: Counter[int] = Counter()
    user_agents: Counter[str] = Counter()
    open_now: Counter[str] = Counter()
    peak_per_host: Counter[str] = Counter()
    busy_hosts = [0]  # the most hosts answering at one moment
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
                    peak_per_host.clear()
                    busy_hosts[0] = 0
                body = json.dumps(
                    {
                        "counts": counts,
                        "user_agents": user_agents,
                        "peak_per_host": max(peak_per_host.values(), default=0),
                        "peak_hosts": busy_hosts[0],
                    }
                ).encode()
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
            address = self.server.server_address[0]
            with lock:
                open_now[address] += 1
                peak_per_host[address] = max(peak_per_host[address], open_now[address])
                busy_hosts[0] = max(busy_hosts[0], sum(1 for v in open_now.values() if v))
            try:
                self.answer(path)
            finally:
                with lock:
                    open_now[address] -= 1

        def answer(self, path: str) -> None:
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
        request_queue_size = 64

    first = Server((host(0), 0), Handler)
    port = first.server_address[1]
    servers = [first] + [Server((host(n), port), Handler) for n in range(1, hosts)]
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        for server in servers:
            # The handshake is the handler thread's, as it would be on a real server.
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.put(port)
    first.serve_forever()


def tls_files(folder: Path, hosts: int) -> tuple[Path, Path, Path]:
    """(certificate, key, bundle): a self-signed certificate for the farm's addresses,
    and the system's certificate authorities with it, which clients are told to trust
    (SSL_CERT_FILE): they read as many as they would on the real internet."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feeds bench")])
    now = dt.datetime.now(dt.UTC)
    addresses = [x509.IPAddress(ipaddress.ip_address(host(n))) for n in range(hosts)]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(addresses), critical=False)
        .sign(private, hashes.SHA256())
    )
    cert, key, bundle = folder / "cert.pem", folder / "key.pem", folder / "bundle.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    bundle.write_bytes((system.read_bytes() if system.exists() else b"") + cert.read_bytes())
    return cert, key, bundle


def organizations_for(farm: FeedFarm) -> list[dict[str, Any]]:
    """20 organizations of 10 feeds each (for 200 feeds)."""
    return [
        {
            "name": f"Org {o:02d}",
            "feeds": [
                {
                    "url": farm.url(n),
                    "kind": "careers" if KINDS[n % 3] == "greenhouse" else "press",
                    "format": "greenhouse" if KINDS[n % 3] == "greenhouse" else "auto",
                }
                for n in range(o * 10, min(o * 10 + 10, farm.feeds))
            ],
        }
        for o in range((farm.feeds + 9) // 10)
    ]


def settings_for(farm: FeedFarm, root: Path) -> Settings:
    return parse_settings(
        {
            "timezone": "Europe/Paris",
            "database": str(root / "state.sqlite3"),
            "feeds": {"news_search": False},
            "organization": organizations_for(farm),
        },
        "bench config",
    )


def config_file_for(farm: FeedFarm, root: Path) -> Path:
    """The same organizations and feeds as a config file, for `pursuit run --once`:
    its database, and the local calendar file its round writes, under `root`."""
    lines = [
        'timezone = "Europe/Paris"',
        f"database = {json.dumps(str(root / 'data' / 'pursuit.sqlite3'))}",
        "[calendar]",
        'kind = "ics"',
        f"ics_file = {json.dumps(str(root / 'data' / 'calendar.ics'))}",
        "[feeds]",
        "news_search = false",
    ]
    for organization in organizations_for(farm):
        lines += ["[[organization]]", f"name = {json.dumps(organization['name'])}", "feeds = ["]
        lines += [
            f"  {{ url = {json.dumps(f['url'])}, kind = {json.dumps(f['kind'])}, "
            f"format = {json.dumps(f['format'])} }},"
            for f in organization["feeds"]
        ]
        lines.append("]")
    path = root / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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


def bench_pursuit(farm: FeedFarm) -> dict[str, Any]:
    feeds = farm.feeds
    with tempfile.TemporaryDirectory(prefix="pursuit-feeds-bench-") as tmp:
        root = Path(tmp)
        settings = settings_for(farm, root)
        store = Store.open(settings.database)
        try:
            now = datetime.now(TZ)
            sync_config_organizations(store, settings, now)
            farm.reset()
            with ParseCounter() as parsed:
                start, cpu = time.perf_counter(), time.process_time()
                first = poll_feeds(store, settings, now, force=True)
                first_s, first_cpu = time.perf_counter() - start, time.process_time() - cpu
            first_stats, first_parsed = farm.stats, parsed.calls
            stored = store.counts()["feed_items"]
            farm.reset()
            with ParseCounter() as parsed:
                start = time.perf_counter()
                second = poll_feeds(store, settings, now, force=True)
                second_s = time.perf_counter() - start
            second_stats, second_parsed = farm.stats, parsed.calls
        finally:
            store.close()
    first_counts = {int(k): v for k, v in first_stats["counts"].items()}
    second_counts = {int(k): v for k, v in second_stats["counts"].items()}
    assert first.polled == feeds and first.failed == 0, first
    assert first_counts == {200: feeds}, first_counts
    assert first_parsed == feeds, first_parsed
    assert stored == feeds * 10, stored
    assert second_counts == {304: feeds}, f"second poll: {second_counts}"
    assert second.not_modified == feeds and second.new_items == 0, second
    assert second_parsed == 0, f"second poll parsed {second_parsed} answers"
    peak = max(first_stats["peak_per_host"], second_stats["peak_per_host"])
    assert peak <= settings.feeds.per_host, f"{peak} connections to one host"
    return {
        "first_s": first_s,
        "first_cpu_s": first_cpu,
        "second_s": second_s,
        "first_answers": first_counts,
        "second_answers": second_counts,
        "parsed_first": first_parsed,
        "parsed_second": second_parsed,
        "items": stored,
        "peak_connections_per_host": peak,
        "peak_hosts_at_once": first_stats["peak_hosts"],
        "user_agents": first_stats["user_agents"],
    }


def pursuit_command() -> list[str]:
    """The installed `pursuit` beside this interpreter (the venv's), else `python -m`."""
    beside = Path(sys.executable).with_name("pursuit")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "pursuit.daemon"]


def compile_pursuit() -> None:
    """pursuit's bytecode, written once as pip writes it at install. A source tree
    whose bytecode is missing or stale, run with PYTHONDONTWRITEBYTECODE=1, compiles
    every module again at each start (0.2 s of CPU): no installed pursuit does."""
    import compileall

    import pursuit.config
    import pursuit.connectors
    import pursuit.daemon

    for package in (pursuit.config, pursuit.connectors, pursuit.daemon):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def bench_whole_run(farm: FeedFarm) -> dict[str, Any]:
    """One whole `pursuit run --once`, a process of its own, from a fresh data
    directory: start-up, config, a new store, the feeds job and every other job
    (plan, calendar file). Then a second one with nothing due: what a round costs
    around its work."""
    compile_pursuit()
    with tempfile.TemporaryDirectory(prefix="pursuit-run-bench-") as tmp:
        root = Path(tmp)
        config = config_file_for(farm, root)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("http_", "HTTP"))}
        env |= {
            "HOME": str(root),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_STATE_HOME": str(root / "xdg-state"),
            "XDG_CACHE_HOME": str(root / "xdg-cache"),
        }
        command = [*pursuit_command(), "--config", str(config), "run", "--once"]
        times, outputs, answers = [], [], []
        for _ in range(2):
            farm.reset()
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
            times.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stdout + done.stderr
            outputs.append(done.stdout.strip())
            answers.append(farm.counts)
        store = Store.open(root / "data" / "pursuit.sqlite3")
        try:
            stored = store.counts()["feed_items"]
        finally:
            store.close()
    assert answers[0] == {200: farm.feeds}, answers[0]
    assert answers[1] == {}, f"a second round polled feeds not due: {answers[1]}"
    assert stored == farm.feeds * 10, stored
    return {"first_s": times[0], "nothing_due_s": times[1], "items": stored, "output": outputs[0]}


def parse_floor(feeds: int) -> float:
    """CPU seconds to parse every feed's answer once, in one thread: what no
    amount of concurrency removes (the interpreter lock runs one parser at a time)."""
    answers = []
    for n in range(feeds):
        body, ctype = body_for(n)
        headers = Message()
        headers["Content-Type"] = ctype
        answers.append((n, Answer(200, f"http://{host(n)}/feed/{n}", headers, body, None), ctype))
    start = time.process_time()
    for n, answer, ctype in answers:
        if KINDS[n % 3] == "greenhouse":
            parse_board(
                answer,
                "greenhouse",
                headers={},
                deadline=Deadline(60),
                max_bytes=5_000_000,
                max_items=300,
            )
        else:
            parse_feed(answer.body, ctype, answer.url, "press", 300)
    return time.process_time() - start


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def r2e_version(r2e: str) -> str:
    done = subprocess.run([r2e, "--version"], capture_output=True, text=True, timeout=60)
    return (done.stdout or done.stderr).strip().splitlines()[-1]


def bench_r2e(farm: FeedFarm, r2e: str, rounds: int = 2) -> dict[str, Any]:
    """`r2e run --no-send` over the same feeds, `rounds` times (the second one conditional)."""
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
            for n in range(farm.feeds):
                out.write(f"\n[feed.f{n:03d}]\nurl = {farm.url(n)}\n")
        listed = subprocess.run(
            [*base, "list"], capture_output=True, text=True, env=env, timeout=120
        )
        assert listed.stdout.count(f":{farm.port}/feed/") == farm.feeds, listed.stdout[-2000:]
        runs = []
        for _ in range(rounds):
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
    parser.add_argument("--feeds", type=int, default=FEEDS, help="feeds, one host each")
    parser.add_argument("--repeat", type=int, default=5, help="pursuit polls (median)")
    parser.add_argument("--r2e", default=shutil.which("r2e") or "/tmp/r2e/bin/r2e")
    parser.add_argument("--quick", action="store_true", help="20 feeds, 2 polls, no rss2email")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--https", action="store_true", help="serve every feed over HTTPS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feeds-bench-tls-") as folder:
        args.tls = None
        if args.https:
            cert, key, bundle = tls_files(Path(folder), max(5, args.feeds))
            args.tls = (cert, key)
            os.environ["SSL_CERT_FILE"] = str(bundle)  # pursuit, its runs and rss2email
        run(args)


def run(args: argparse.Namespace) -> None:
    if args.quick:
        args.feeds, args.repeat, args.r2e = min(args.feeds, 20), min(args.repeat, 2), ""
    args.feeds = max(5, args.feeds)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"{args.feeds} feeds (RSS/Atom/Greenhouse JSON) on {args.feeds} hosts over "
        f"{'HTTPS' if args.tls else 'HTTP'}, each answered after {DELAY * 1000:.0f} ms; "
        f"pursuit: {args.repeat} polls"
    )
    floor = statistics.median(parse_floor(args.feeds) for _ in range(3))
    print(f"parsing floor: {floor:.2f} s of CPU for {args.feeds} answers")
    summary: dict[str, Any] = {
        "bench": "feeds",
        "scheme": "https" if args.tls else "http",
        "feeds": args.feeds,
        "hosts": args.feeds,
        "delay_ms": DELAY * 1000,
        "parse_floor_s": floor,
    }
    with FeedFarm(args.feeds, tls=args.tls) as farm:
        runs = [bench_pursuit(farm) for _ in range(args.repeat)]
        first = spread([r["first_s"] for r in runs])
        second = spread([r["second_s"] for r in runs])
        summary.update(
            first_s=first,
            second_s=second,
            first_cpu_s=spread([r["first_cpu_s"] for r in runs]),
            peak_connections_per_host=max(r["peak_connections_per_host"] for r in runs),
            peak_hosts_at_once=max(r["peak_hosts_at_once"] for r in runs),
            items=runs[0]["items"],
            parsed_second=max(r["parsed_second"] for r in runs),
        )
        print(
            f"pursuit: first poll {first['median']:.2f} s "
            f"(min {first['min']:.2f}, max {first['max']:.2f}; {floor / first['median']:.0%} "
            f"of it the parsing floor), second poll {second['median']:.2f} s "
            f"(min {second['min']:.2f}, max {second['max']:.2f}), all 304, 0 parsed; "
            f"at most {summary['peak_connections_per_host']} connections to one host, "
            f"{summary['peak_hosts_at_once']} hosts served at once"
        )
        r2e: dict[str, Any] | None = None
        if not (args.r2e and Path(args.r2e).exists()):
            print(f"rss2email: not run ({args.r2e or 'quick run'})")
        else:
            try:
                r2e = bench_r2e(farm, args.r2e)
            except (subprocess.SubprocessError, AssertionError, OSError) as exc:
                print(f"rss2email: failed to run: {exc}")
    if r2e is not None:
        summary["rss2email"] = {
            "version": r2e["version"],
            "first_s": r2e["runs"][0]["seconds"],
            "second_s": r2e["runs"][1]["seconds"],
            "first_answers": r2e["runs"][0]["answers"],
            "second_answers": r2e["runs"][1]["answers"],
            "first_ratio": r2e["runs"][0]["seconds"] / first["median"],
            "second_ratio": r2e["runs"][1]["seconds"] / second["median"],
        }
        print(f"rss2email: {r2e['version']}")
        for label, run, ours in (
            ("first", r2e["runs"][0], first["median"]),
            ("second", r2e["runs"][1], second["median"]),
        ):
            print(
                f"rss2email {label} run: {run['seconds']:.2f} s, exit {run['exit']}, "
                f"answers {run['answers']} -> pursuit is {run['seconds'] / ours:.1f}x faster"
            )
    summary["whole_run"] = whole_run(args)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def whole_run(args: argparse.Namespace) -> dict[str, Any]:
    """`pursuit run --once` as a process of its own, over `args.feeds` feeds on a
    fifth as many hosts (5 feeds a host), against rss2email's first run of the same."""
    hosts = max(1, args.feeds // 5)
    print(
        f"whole run: `pursuit run --once` over {args.feeds} feeds on {hosts} hosts, "
        f"{args.repeat} runs from a fresh data directory"
    )
    with FeedFarm(args.feeds, hosts, tls=args.tls) as farm:
        runs = [bench_whole_run(farm) for _ in range(args.repeat)]
        found: dict[str, Any] = {
            "feeds": args.feeds,
            "hosts": hosts,
            "first_s": spread([r["first_s"] for r in runs]),
            "nothing_due_s": spread([r["nothing_due_s"] for r in runs]),
            "items": runs[0]["items"],
        }
        first, idle = found["first_s"], found["nothing_due_s"]
        print(
            f"pursuit run --once: {first['median']:.2f} s (min {first['min']:.2f}, "
            f"max {first['max']:.2f}), {found['items']} items stored; a second run with "
            f"nothing due {idle['median']:.2f} s"
        )
        if args.r2e and Path(args.r2e).exists():
            try:
                r2e = bench_r2e(farm, args.r2e, rounds=1)
            except (subprocess.SubprocessError, AssertionError, OSError) as exc:
                print(f"rss2email: failed to run: {exc}")
            else:
                seconds = r2e["runs"][0]["seconds"]
                found["rss2email"] = {
                    "version": r2e["version"],
                    "first_s": seconds,
                    "first_answers": r2e["runs"][0]["answers"],
                    "first_ratio": seconds / first["median"],
                }
                print(
                    f"rss2email first run: {seconds:.2f} s, answers {r2e['runs'][0]['answers']}"
                    f" -> pursuit run --once is {seconds / first['median']:.1f}x faster"
                )
    return found


if __name__ == "__main__":
    main()
