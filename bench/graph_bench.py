"""Microsoft 365 through Graph: a busy Outlook calendar read, delta rounds, 200 follow-ups, 429s.

Measured against the Graph emulator of the tests (`tests/support/graph_emulator.py`),
**not Microsoft's servers**: it runs in a process of its own on 127.0.0.1 over HTTPS
(its self-signed certificate trusted through REQUESTS_CA_BUNDLE), so its figures
are pursuit's own cost plus loopback HTTPS, not Graph's latency. The emulator's
`latency` knob (`--latency`, default 0.1 s added to every Graph request) gives a
second, latency-bound figure for the first read and the writes. pursuit signs in
through the real msal (device flow, auto-approved) and talks to it with requests.

The user's default calendar holds 2,000 single events spread over the window
(180 days back, 365 ahead; 100 of them interviews with people at tracked
organizations, each with a 1 KB body) and 50 weekly series (each occurrence listed
by Graph on its own); a second calendar holds the same with 200 series.

1. First read: `sync_interviews` (daemon/interviews.py) through
   `OutlookCalendarReader` with no cursor: wall time, pursuit's CPU, Graph
   requests, peak Python memory (tracemalloc, a run of its own) and the size of the
   cursor saved (the reader keeps every recurring instance's id in it).
2. A delta round with nothing changed, then one with 10 changes (4 moved, 2
   deleted, 2 new, 1 occurrence cancelled, 1 occurrence moved).
3. 200 follow-ups queued in the outbox and pushed to pursuit's own calendar
   (`push_events` with `OutlookCalendar`), then a round that changes nothing (the
   same 200 queued again, as an unchanged plan would) in a new `OutlookCalendar`
   (a new process): requests by method.
4. Throttling: the first read and the push meet 429s (`throttle(count,
   retry_after)`): how much later they finish; and six jobs at once on one mailbox
   (two GraphClients, as MicrosoftAccount has) never have more than 4 requests in
   flight (the emulator's `max_concurrent`).
5. `python -X importtime`: what the modules of a Microsoft round cost to import,
   and that `pursuit status` with a [microsoft] section imports neither msal nor
   requests.

    python bench/graph_bench.py [--latency 0.1] [--runs 3] [--quick] [--json FILE]

`--quick`: 100 singles, 3 series (30 with 200-series' place), 20 follow-ups, no
latency run: a few seconds, to check the bench still runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from pursuit.connectors.base import CalendarEvent  # noqa: E402
from pursuit.connectors.graph import GraphClient  # noqa: E402
from pursuit.connectors.microsoft_auth import MicrosoftSignIn  # noqa: E402
from pursuit.connectors.outlook_calendar import (  # noqa: E402
    OutlookCalendar,
    OutlookCalendarReader,
)
from pursuit.daemon import outbox  # noqa: E402
from pursuit.daemon.interviews import sync_interviews  # noqa: E402
from pursuit.daemon.jobs import push_events  # noqa: E402
from pursuit.daemon.store import Store  # noqa: E402

LOOKBACK = timedelta(days=180)
AHEAD = timedelta(days=365)
SINGLES, SERIES, MANY_SERIES, FOLLOW_UPS = 2000, 50, 200, 200
#: contacts already in the store (a mail sync's: gmail_bench's first sync makes 2,944)
CONTACTS = 3000
INTERVIEW_EVERY = 20  # one single in 20 is an interview with a tracked organization
USER = "sam.seeker@contoso.test"
TRACKED = {
    "Fabrikam": "fabrikam.com",
    "Northwind Traders": "northwindtraders.com",
    "Tailspin Toys": "tailspintoys.com",
    "Woodgrove Bank": "woodgrovebank.com",
    "Litware": "litwareinc.com",
    "Proseware": "proseware.com",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
BODY = (
    "Join the meeting from your computer, tablet or smartphone. "
    "Meeting ID: 123 456 789 0, passcode: abc123. "
) * 10  # about 1 KB, as a Teams invitation's text is


# ------------------------------------------------------------------ the emulator, apart


def _serve_emulator(conn: Connection, options: dict[str, Any]) -> None:
    """The emulator in a process of its own: its work is not pursuit's CPU or memory."""
    import gc

    from support.graph_emulator import GraphEmulator

    emu = GraphEmulator(**options).start()
    conn.send(
        {
            "ca_file": str(emu.ca_file),
            "login_endpoint": emu.login_endpoint,
            "graph_endpoint": emu.graph_endpoint,
            "client_id": emu.client_id,
            "default_calendar_id": emu.default_calendar_id,
        }
    )
    while True:
        op, args = conn.recv()
        try:
            if op == "stop":
                emu.stop()
                conn.send(("ok", None))
                return
            if op == "get":
                result: Any = getattr(emu, args[0])
            elif op == "set":
                setattr(emu, args[0], args[1])
                result = None
            elif op == "put_events":
                result = [emu.put_event(cal, event) for cal, event in args[0]]
                gc.collect()
                gc.freeze()  # its calendar out of the collector's way, as gmail_bench does
            elif op == "requests_from":
                result = emu.requests[args[0] :]
            elif op == "reset_concurrency":
                emu.max_concurrent = 0
                emu.concurrency_refusals = 0
                result = None
            else:
                result = getattr(emu, op)(*args)
            conn.send(("ok", result))
        except Exception as exc:  # shown in the bench, never a hang
            conn.send(("error", repr(exc)))


class Emulator:
    """The emulator process, called as the tests call a GraphEmulator."""

    def __init__(self, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_emulator, args=(child, options), daemon=True)
        self._process.start()
        info = self._conn.recv()
        self.ca_file: str = info["ca_file"]
        self.login_endpoint: str = info["login_endpoint"]
        self.graph_endpoint: str = info["graph_endpoint"]
        self.client_id: str = info["client_id"]
        self.default_calendar_id: str = info["default_calendar_id"]

    def call(self, op: str, *args: Any) -> Any:
        self._conn.send((op, args))
        status, result = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"emulator {op}: {result}")
        return result

    def get(self, name: str) -> Any:
        return self.call("get", name)

    def set(self, name: str, value: Any) -> None:
        self.call("set", name, value)

    def request_count(self) -> int:
        return len(self.get("requests"))

    def stop(self) -> None:
        self.call("stop")
        self._process.join(timeout=10)


# ------------------------------------------------------------------ the calendar


def graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def single(number: int, start: datetime) -> dict[str, Any]:
    """A meeting as the user's calendar holds it; one in INTERVIEW_EVERY an interview."""
    if number % INTERVIEW_EVERY == 0:
        org, domain = list(TRACKED.items())[number // INTERVIEW_EVERY % len(TRACKED)]
        subject = f"Interview: Sam Seeker / {org}"
        people = [(f"recruiter{number}@{domain}", f"Recruiter {number}")]
        organizer = people[0]
    else:
        subject = f"Project sync {number}"
        people = [(f"colleague{number % 40}@contoso.test", f"Colleague {number % 40}")]
        organizer = (USER, "Sam Seeker")
    return {
        "subject": subject,
        "body": {"contentType": "text", "content": BODY},
        "start": graph_time(start),
        "end": graph_time(start + timedelta(minutes=45)),
        "originalStartTimeZone": "W. Europe Standard Time",
        "location": {"displayName": f"Room {number % 12}"},
        "organizer": {"emailAddress": {"address": organizer[0], "name": organizer[1]}},
        "attendees": [
            {"type": "required", "emailAddress": {"address": a, "name": n}} for a, n in people
        ],
        "isOrganizer": organizer[0] == USER,
    }


def series(number: int, first: datetime) -> dict[str, Any]:
    """A weekly meeting that began before the window and never ends."""
    start = first + timedelta(days=number % 5, hours=number % 8)
    event = single(number + 1, start)  # never an interview: a team's standing meeting
    event["subject"] = f"Weekly {number}"
    event["recurrence"] = {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "daysOfWeek": [WEEKDAYS[(start.weekday()) % 5] if start.weekday() < 5 else "monday"],
        },
        "range": {"type": "noEnd", "startDate": start.date().isoformat()},
    }
    return event


def fill(emu: Emulator, calendar_id: str, now: datetime, singles: int, weekly: int) -> None:
    begin, span = now - LOOKBACK, (LOOKBACK + AHEAD).total_seconds()
    items = [
        (calendar_id, single(n, begin + timedelta(seconds=span * (n + 0.5) / singles)))
        for n in range(singles)
    ]
    monday = (begin - timedelta(days=begin.weekday() + 14)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    items += [(calendar_id, series(n, monday)) for n in range(weekly)]
    emu.call("put_events", items)


# ------------------------------------------------------------------ measuring


def requests_during(
    emu: Emulator, work: Callable[[], Any]
) -> tuple[Any, float, float, Counter[str]]:
    """(work's result, wall s, pursuit's CPU s, Graph requests by method)."""
    first = emu.request_count()
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    made = Counter(method for method, _ in emu.call("requests_from", first))
    return result, wall, cpu, made


def organizations(store: Store, now: datetime) -> None:
    with store.transaction():
        for name, domain in TRACKED.items():
            store.add_organization(name, [domain], now=now)


def fresh_store(root: Path, name: str, now: datetime, contacts: int = 0) -> Store:
    store = Store.open(root / f"{name}.sqlite3")
    organizations(store, now)
    with store.transaction():
        orgs = {org.name: org.id for org in store.organizations()}
        for n in range(contacts):
            org, domain = list(TRACKED.items())[n % len(TRACKED)]
            store.ensure_contact(f"person{n}@{domain}", f"Person {n}", orgs[org])
    return store


class CountingSlots:
    """The mailbox's semaphore, counting how many of pursuit's requests hold it at once."""

    def __init__(self, slots: Any) -> None:
        self.slots = slots
        self.holding = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self.slots.acquire()
        with self._lock:
            self.holding += 1
            self.most = max(self.most, self.holding)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.holding -= 1
        self.slots.release()


def _occurrences_kept(state: dict[str, Any]) -> dict[str, Any]:
    """The occurrence ids the reader's cursor keeps (packed: zlib, base64)."""
    if "packed" in state:
        return dict(json.loads(zlib.decompress(base64.b64decode(state["packed"]))))
    return dict(state.get("instances") or {})


def first_read(
    emu: Emulator, reader: OutlookCalendarReader, store: Store, calendar_id: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    found, wall, cpu, made = requests_during(
        emu,
        lambda: sync_interviews(store, reader, [calendar_id], now, lookback=LOOKBACK, timezone=UTC),
    )
    cursor = store.cursor(f"calendar:{calendar_id}") or ""
    state = json.loads(cursor)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "requests": sum(made.values()),
        "interviews": found,
        "cursor_bytes": len(cursor.encode()),
        "cursor_instances": len(_occurrences_kept(state)),
    }


def delta_round(
    emu: Emulator, reader: OutlookCalendarReader, store: Store, calendar_id: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    found, wall, cpu, made = requests_during(
        emu,
        lambda: sync_interviews(store, reader, [calendar_id], now, lookback=LOOKBACK, timezone=UTC),
    )
    return {"wall_s": wall, "cpu_s": cpu, "requests": sum(made.values()), "interviews": found}


def ten_changes(emu: Emulator, calendar_id: str, now: datetime) -> None:
    """4 moved, 2 deleted, 2 new (one an interview), 1 occurrence cancelled, 1 moved."""
    view = emu.call("view", calendar_id, now + timedelta(days=3), now + timedelta(days=60))
    singles = [i for i in view if i.get("type") == "singleInstance"]
    occurrences = [i for i in view if i.get("type") == "occurrence"]
    for number, item in enumerate(singles[:4]):
        start = datetime.fromisoformat(item["start"]["dateTime"][:19]).replace(tzinfo=UTC)
        moved = single(number * INTERVIEW_EVERY, start + timedelta(days=1))
        emu.call("put_event", calendar_id, moved, item["id"])
    for item in singles[4:6]:
        emu.call("delete_event", item["id"])
    for number in (0, 1):
        emu.call("put_event", calendar_id, single(number, now + timedelta(days=9, hours=number)))
    emu.call("cancel_event", occurrences[0]["id"])
    moved_start = now + timedelta(days=20)
    emu.call(
        "put_event",
        calendar_id,
        {
            "seriesMasterId": occurrences[1]["seriesMasterId"],
            "originalStart": occurrences[1]["originalStart"],
            "start": graph_time(moved_start),
            "end": graph_time(moved_start + timedelta(minutes=45)),
        },
    )


def follow_ups(count: int, now: datetime, round_: int = 0) -> list[CalendarEvent]:
    return [
        CalendarEvent(
            key=f"duty-{n}",
            start=now + timedelta(days=1 + n % 30, hours=n % 9),
            end=now + timedelta(days=1 + n % 30, hours=n % 9, minutes=15),
            summary=f"Follow up with Recruiter {n} at Fabrikam",
            description="Send a thank-you note.\nLast heard from them: 5 days ago.",
            sequence=0,
            stamp=now,
            reminder_minutes=15,
        )
        for n in range(count)
    ]


def push(
    emu: Emulator,
    client: GraphClient,
    store: Store,
    events: list[CalendarEvent],
    now: datetime,
    calendar_name: str = "Job search (pursuit)",
) -> dict[str, Any]:
    queued = sum(
        outbox.queue_event(store, "microsoft", event.key, event, now=now) for event in events
    )
    # a new process's, as `pursuit run --once` makes it
    calendar = OutlookCalendar(client, calendar_name=calendar_name, install_id="bench-install")
    done, wall, cpu, made = requests_during(emu, lambda: push_events(store, calendar, now))
    return {
        "queued": queued,
        "done": done,
        "wall_s": wall,
        "cpu_s": cpu,
        "requests": sum(made.values()),
        "by_method": dict(sorted(made.items())),
        "writes": sum(made[m] for m in ("POST", "PATCH", "DELETE")),
    }


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ imports


def import_times(runs: int) -> dict[str, Any]:
    """Cumulative import time (ms, median of `runs` fresh processes) of what a
    Microsoft round loads on top of pursuit's core."""
    code = (
        "import pursuit.daemon.app, pursuit.daemon.interviews, pursuit.daemon.jobs\n"
        "import pursuit.connectors.microsoft_auth, pursuit.connectors.outlook_calendar"
    )
    wanted = (
        "msal",
        "requests",
        "pursuit.connectors.graph",
        "pursuit.connectors.microsoft_auth",
        "pursuit.connectors.outlook_calendar",
    )
    seen: dict[str, list[float]] = {name: [] for name in (*wanted, "core")}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)  # bytecode compiled
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        cumulative: dict[str, float] = {}
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if match and match.group(4) not in cumulative:
                cumulative[match.group(4)] = int(match.group(2)) / 1000
        for name in wanted:
            seen[name].append(cumulative.get(name, 0.0))
        seen["core"].append(sum(cumulative.get(m, 0.0) for m in ("pursuit.daemon.app",)))
    return {name: statistics.median(values) for name, values in seen.items()}


def status_imports(root: Path, emu: Emulator) -> list[str]:
    """The outside libraries `pursuit status` imports with a [microsoft] section."""
    config = root / "status.toml"
    config.write_text(
        'timezone = "UTC"\n'
        f'database = "{root / "status.sqlite3"}"\n'
        "[microsoft]\n"
        f'client_id = "{emu.client_id}"\n'
        f'token_cache = "{root / "microsoft-token.json"}"\n'
        f'login_endpoint = "{emu.login_endpoint}"\n'
        f'graph_endpoint = "{emu.graph_endpoint}"\n',
        encoding="utf-8",
    )
    probe = (
        "import sys; from pursuit.daemon.cli import main\n"
        "try:\n    main(['status'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'msal', 'requests', 'urllib3', 'jwt', 'cryptography', 'icalendar'}), file=sys.stderr)"
    )
    env = dict(os.environ, PURSUIT_CONFIG=str(config))
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"
    if done.returncode not in (0, 1) or not last.startswith("["):
        raise RuntimeError(f"pursuit status failed: {done.stdout}{done.stderr}")
    return list(json.loads(last.replace("'", '"')))


# ------------------------------------------------------------------ the bench


def concurrent_jobs(
    emu: Emulator, clients: list[GraphClient], calendar_id: str, count: int
) -> tuple[float, tuple[int, int], int, list[str]]:
    """Six callers at once on one mailbox: readers of the calendar and writers of
    follow-ups, over two clients. (wall s, (most of pursuit's requests holding the
    mailbox's slots at once, most the emulator saw in flight), 429s for concurrency,
    failures)"""
    emu.call("reset_concurrency")
    counting = CountingSlots(clients[0].slots)
    for one in clients:
        assert one.slots is counting.slots  # one mailbox, one semaphore, process-wide
        one.slots = counting  # type: ignore[assignment]
    failures: list[str] = []
    now = datetime.now(UTC)

    def read(client: GraphClient) -> None:
        try:
            OutlookCalendarReader(client).changes(calendar_id, None, since=now - LOOKBACK)
        except Exception as exc:
            failures.append(repr(exc))

    def write(client: GraphClient, offset: int) -> None:
        calendar = OutlookCalendar(client, calendar_name="Bench writes", install_id="bench")
        try:
            for event in follow_ups(count, now)[offset::3]:
                calendar.upsert(event)
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=read, args=(clients[n % 2],)) for n in range(3)]
    # one writer makes the calendar first: the two others find it
    _ = OutlookCalendar(clients[0], calendar_name="Bench writes", install_id="bench").calendar_id
    threads += [threading.Thread(target=write, args=(clients[n % 2], n)) for n in range(3)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    for one in clients:
        one.slots = counting.slots
    most = (counting.most, emu.get("max_concurrent"))
    return wall, most, emu.get("concurrency_refusals"), failures


def main() -> int:
    global SINGLES, SERIES, MANY_SERIES, FOLLOW_UPS, CONTACTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the bench runs")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--latency", type=float, default=0.1, help="s per Graph request")
    parser.add_argument("--runs", type=int, default=3, help="first reads timed (median)")
    parser.add_argument("--throttled", type=int, default=10, help="429s met by a run")
    parser.add_argument("--retry-after", type=int, default=2, help="their Retry-After, s")
    args = parser.parse_args()
    if args.quick:
        SINGLES, SERIES, MANY_SERIES, FOLLOW_UPS, CONTACTS = 100, 3, 6, 20, 50
        args.runs, args.latency, args.throttled, args.retry_after = 1, 0.0, 1, 1
    figures: dict[str, Any] = {"bench": "graph", "quick": args.quick}
    failed: list[str] = []
    emu = Emulator(user=USER, name="Sam Seeker")
    os.environ["REQUESTS_CA_BUNDLE"] = emu.ca_file
    try:
        with tempfile.TemporaryDirectory(prefix="pursuit-graph-bench-") as tmp:
            root = Path(tmp)
            now = datetime.now(UTC)
            began = time.perf_counter()
            heavy = emu.default_calendar_id
            fill(emu, heavy, now, SINGLES, SERIES)
            heavier = emu.call("add_calendar", "Team calendars")
            fill(emu, heavier, now, SINGLES, MANY_SERIES)
            print(f"calendars filled in {time.perf_counter() - began:.1f} s", flush=True)
            signin = MicrosoftSignIn(
                emu.client_id,
                "organizations",
                root / "microsoft-token.json",
                login_endpoint=emu.login_endpoint,
            )
            signin.sign_in(lambda message: None, mail=False)
            client = GraphClient(signin.graph_token, endpoint=emu.graph_endpoint, mailbox=USER)
            reader = OutlookCalendarReader(client)
            client.get("me")  # the token in hand, the TLS session warm

            # 1. first read, 50 series: timed runs, then one under tracemalloc
            rss_before = rss_mb()
            reads = [
                first_read(emu, reader, fresh_store(root, f"first{n}", now), heavy)
                for n in range(args.runs)
            ]
            rss_growth = rss_mb() - rss_before
            tracemalloc.start()
            first_read(emu, reader, fresh_store(root, "traced", now), heavy)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            one = reads[0]
            figures |= {
                "singles": SINGLES,
                "series": SERIES,
                "first_read_s": statistics.median(r["wall_s"] for r in reads),
                "first_read_cpu_s": statistics.median(r["cpu_s"] for r in reads),
                "first_read_requests": one["requests"],
                "first_read_interviews": one["interviews"],
                "first_read_peak_mb": peak / 2**20,
                "first_read_rss_growth_mb": rss_growth,
                "cursor_kb": one["cursor_bytes"] / 1024,
                "cursor_instances": one["cursor_instances"],
            }
            print(f"first read ({SERIES} series): {reads}", flush=True)

            # 1c. the same first read into a store that already knows CONTACTS people
            crowded = first_read(emu, reader, fresh_store(root, "crowded", now, CONTACTS), heavy)
            figures |= {
                "contacts": CONTACTS,
                "first_read_with_contacts_s": crowded["wall_s"],
                "first_read_with_contacts_cpu_s": crowded["cpu_s"],
            }
            print(f"first read, {CONTACTS} contacts in the store: {crowded}", flush=True)

            # 4a. the same first read meeting 429s (before the calendar changes below)
            emu.call("throttle", args.throttled, args.retry_after)
            throttled = first_read(emu, reader, fresh_store(root, "throttled", now), heavy)
            print(f"throttled first read: {throttled}", flush=True)

            # 2. delta rounds: a quiet one, then one after 10 changes
            store = fresh_store(root, "delta", now)
            first_read(emu, reader, store, heavy)
            quiet = delta_round(emu, reader, store, heavy)
            ten_changes(emu, heavy, now)
            changed = delta_round(emu, reader, store, heavy)
            figures |= {
                "quiet_delta_s": quiet["wall_s"],
                "quiet_delta_cpu_s": quiet["cpu_s"],
                "quiet_delta_requests": quiet["requests"],
                "ten_changes_s": changed["wall_s"],
                "ten_changes_requests": changed["requests"],
                "ten_changes_read": changed["interviews"],
            }
            print(f"delta: quiet {quiet}, ten changes {changed}", flush=True)

            # 1b. the calendar with 200 series: first read and a quiet round
            store = fresh_store(root, "many", now)
            many = first_read(emu, reader, store, heavier)
            many_quiet = delta_round(emu, reader, store, heavier)
            figures |= {
                "many_series": MANY_SERIES,
                "many_first_read_s": many["wall_s"],
                "many_first_read_requests": many["requests"],
                "many_cursor_kb": many["cursor_bytes"] / 1024,
                "many_cursor_instances": many["cursor_instances"],
                "many_quiet_delta_s": many_quiet["wall_s"],
                "many_quiet_delta_cpu_s": many_quiet["cpu_s"],
            }
            print(f"{MANY_SERIES} series: first {many}, quiet {many_quiet}", flush=True)

            # 3. follow-ups to pursuit's own calendar, then a round that changes nothing
            store = fresh_store(root, "push", now)
            events = follow_ups(FOLLOW_UPS, now)
            first_push = push(emu, client, store, events, now)
            again = push(emu, client, store, events, now)
            figures |= {
                "follow_ups": FOLLOW_UPS,
                "push_s": first_push["wall_s"],
                "push_cpu_s": first_push["cpu_s"],
                "push_requests": first_push["requests"],
                "push_by_method": " ".join(f"{m} {n}" for m, n in first_push["by_method"].items()),
                "unchanged_push_requests": again["requests"],
                "unchanged_push_writes": again["writes"],
                "unchanged_push_by_method": " ".join(
                    f"{m} {n}" for m, n in again["by_method"].items()
                )
                or "none",
            }
            print(f"push: {first_push}; unchanged: {again}", flush=True)
            if first_push["done"] != FOLLOW_UPS:
                failed.append(f"pushed {first_push['done']} of {FOLLOW_UPS}")
            if again["writes"]:
                failed.append(f"an unchanged round wrote {again['writes']} times")

            # 4. throttling: the same first read and push meeting 429s
            emu.call("throttle", args.throttled, args.retry_after)
            throttled_push = push(
                emu, client, fresh_store(root, "throttled-push", now), events, now, "Throttled"
            )
            clients = [
                client,
                GraphClient(signin.graph_token, endpoint=emu.graph_endpoint, mailbox=USER),
            ]
            emu.set("latency", 0.05)
            emu.call("throttle", args.throttled, args.retry_after)
            wall, most, refusals, failures = concurrent_jobs(emu, clients, heavy, FOLLOW_UPS // 2)
            emu.set("latency", 0.0)
            figures |= {
                "throttle": f"{args.throttled} x 429, Retry-After {args.retry_after} s",
                "throttled_first_read_s": throttled["wall_s"],
                "throttled_first_read_later_s": throttled["wall_s"] - figures["first_read_s"],
                "throttled_push_s": throttled_push["wall_s"],
                "throttled_push_later_s": throttled_push["wall_s"] - first_push["wall_s"],
                "six_jobs_s": wall,
                "six_jobs_most_holding_slots": most[0],
                "six_jobs_most_in_flight_at_emulator": most[1],
                "six_jobs_concurrency_429s": refusals,
                "six_jobs_failures": len(failures),
            }
            print(f"throttled push: {throttled_push}", flush=True)
            print(f"six jobs: {wall:.1f} s, most in flight {most}, {failures}", flush=True)
            if throttled_push["done"] != FOLLOW_UPS or throttled["interviews"] != one["interviews"]:
                failed.append("a throttled run did not finish its work")
            if most[0] > 4 or failures:
                failed.append(f"{most[0]} requests at once, {failures[:2]}")

            # latency-bound: every Graph request `latency` s later
            if args.latency:
                emu.set("latency", args.latency)
                slow = first_read(emu, reader, fresh_store(root, "slow", now), heavy)
                slow_push = push(
                    emu, client, fresh_store(root, "slow-push", now), events, now, "Slow"
                )
                emu.set("latency", 0.0)
                figures |= {
                    "latency_s": args.latency,
                    "latency_first_read_s": slow["wall_s"],
                    "latency_push_s": slow_push["wall_s"],
                }
                print(f"latency {args.latency}: read {slow}, push {slow_push}", flush=True)

            # 5. imports
            times = import_times(1 if args.quick else 7)
            figures |= {f"import_ms_{k}": v for k, v in times.items()}
            imported = status_imports(root, emu)
            figures["status_imports_with_microsoft"] = ", ".join(imported) or "none"
            if {"msal", "requests"} & set(imported):
                failed.append(f"pursuit status imported {imported}")
            print(f"imports: {times}; status imports {imported}", flush=True)
    finally:
        emu.stop()
    figures["failed"] = ", ".join(failed) or "none"
    for key, value in figures.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{key}: {shown}")
    if args.json:
        rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
        args.json.write_text(json.dumps(rounded, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
