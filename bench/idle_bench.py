"""What `pursuit run` costs while idle, at the default intervals.

Two services run side by side for `--duration` seconds (600 by default), each
after its first round is done:

- "google": 20 feeds (a local feed server) and a Google account (the emulator):
  the polls of mail and calendar every 5 minutes are the work it does;
- "feeds only": the same 20 feeds, no Google: no work falls due within an hour,
  so all its CPU is the idle loop's own cost.

Reported: CPU seconds over the window (utime + stime from /proc), resident memory
(VmRSS, and its peak VmHWM), and the calls each source received, per hour.

    .venv/bin/python bench/idle_bench.py [--duration 600] [--write bench/RESULTS-service.md]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.cli import Pursuit, pursuit_command  # noqa: E402
from support.feed_server import FeedServer, Reply  # noqa: E402
from support.google_emulator import GoogleEmulator  # noqa: E402

FEEDS = 20
ME = "me@example.com"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def memory_mb(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def rss_feed(n: int) -> bytes:
    items = "".join(
        f"<item><title>News {n}.{i}</title><link>https://org{n}.example/{i}</link>"
        f"<guid>org{n}-{i}</guid></item>"
        for i in range(10)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Org {n}</title>'
        f"<link>https://org{n}.example/</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


def config(server: FeedServer, google: str) -> str:
    orgs = "".join(
        f'[[organization]]\nname = "Org {n}"\ndomains = ["org{n}.example"]\n'
        f'feeds = [{{ url = "{server.route(f"/feed{n}.xml", Reply(body=rss_feed(n), content_type="application/rss+xml"))}", kind = "press" }}]\n'  # noqa: E501
        for n in range(FEEDS)
    )
    return "[feeds]\nnews_search = false\n" + google + orgs


def start(p: Pursuit, settle: float) -> tuple[subprocess.Popen[bytes], Path]:
    log = p.root / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*pursuit_command(), "-v", "run"],
            env=p.env({}),
            cwd=p.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    give_up = time.monotonic() + 120
    while "round:" not in log.read_text():
        if time.monotonic() > give_up or proc.poll() is not None:
            raise SystemExit(f"the service never finished its first round:\n{log.read_text()}")
        time.sleep(0.2)
    time.sleep(settle)  # the first round's tail (planning, pushing) settles
    return proc, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds idle")
    parser.add_argument("--write", type=Path, help="write the results (markdown) here")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here (run_all.py)")
    parser.add_argument("--quick", action="store_true", help="idle 1 s: checks the bench runs")
    args = parser.parse_args()
    settle = 3.0
    if args.quick:
        args.duration, settle = min(args.duration, 1.0), 0.5

    root = Path(tempfile.mkdtemp(prefix="pursuit-idle-"))
    with FeedServer() as server, GoogleEmulator(user_email=ME) as emu:
        token = root / "google" / "token.json"
        token.parent.mkdir(mode=0o700)
        emu.write_authorized_user_file(str(token))
        when = datetime.now(UTC) - timedelta(days=3)
        for n in range(200):  # some history: a first sync that logs mail
            emu.add_message(
                f"From: P{n} <p{n}@org{n % FEEDS}.example>\r\nTo: {ME}\r\nSubject: Hi {n}\r\n"
                f"Date: {when:%a, %d %b %Y %H:%M:%S +0000}\r\nMessage-ID: <m{n}@x>\r\n\r\nHi\r\n",
                internal_date=when,
            )
        google = (
            f'[google]\ncredentials_file = "{token}"\n'
            f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        )
        with_google = Pursuit(root / "google", config=config(server, google))
        feeds_only = Pursuit(root / "feeds", config=config(server, ""))
        procs = {"google": start(with_google, settle), "feeds only": start(feeds_only, settle)}

        emu.reset_counters()
        feed_requests = len(server.requests)
        before = {name: cpu_seconds(proc.pid) for name, (proc, _) in procs.items()}
        began = time.monotonic()
        peak: dict[str, float] = dict.fromkeys(procs, 0.0)
        while time.monotonic() - began < args.duration:
            time.sleep(min(5.0, args.duration))
            for name, (proc, _) in procs.items():
                peak[name] = max(peak[name], memory_mb(proc.pid)[0])
        elapsed = time.monotonic() - began
        cpu = {name: cpu_seconds(proc.pid) - before[name] for name, (proc, _) in procs.items()}
        memory = {name: memory_mb(proc.pid) for name, (proc, _) in procs.items()}
        per_hour = 3600 / elapsed
        gmail = emu.call_count("gmail/")
        calendar = emu.call_count("calendar/")
        tokens = emu.token_requests
        feed_calls = (len(server.requests) - feed_requests) // 2  # both services poll them
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)

    rows = [
        "| service | CPU over the window | RSS at the end | RSS peak in the window |",
        "|---|---|---|---|",
    ]
    for name in procs:
        rss, hwm = memory[name]
        rows.append(
            f"| {name} | {cpu[name]:.2f} s | {rss:.0f} MB | {max(peak[name], rss):.0f} MB "
            f"(since start: {hwm:.0f} MB) |"
        )
    calls = [
        "| source | calls in the window | per hour |",
        "|---|---|---|",
        f"| Gmail API | {gmail} | {gmail * per_hour:.0f} |",
        f"| Calendar API | {calendar} | {calendar * per_hour:.0f} |",
        f"| Google token endpoint | {tokens} | {tokens * per_hour:.0f} |",
        f"| feeds (20, per service) | {feed_calls} | {feed_calls * per_hour:.0f} |",
    ]
    text = (
        f"Idle for {elapsed:.0f} s at the default intervals ({FEEDS} feeds each; "
        "the Google emulator for one of the two), after the first round.\n\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(calls)
        + "\n"
    )
    print(text)
    if args.write:
        args.write.write_text(text)
    if args.json:
        figures = {
            "bench": "idle",
            "seconds idle": round(elapsed),
            **{f"CPU s ({name})": round(cpu[name], 3) for name in procs},
            **{f"RSS MB ({name})": round(memory[name][0]) for name in procs},
            "Gmail calls per hour": round(gmail * per_hour),
            "Calendar calls per hour": round(calendar * per_hour),
            "feed calls per hour (20 feeds)": round(feed_calls * per_hour),
        }
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
