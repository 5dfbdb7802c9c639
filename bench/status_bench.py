"""How fast `pursuit status` answers on a busy job search, and what it imports.

Builds a state database with 100 organizations, 2,000 interviews (two
interviewers each, spread over the last and next few months) and 20,000
correspondence records, plans the duties, then runs `pursuit status` as a user
would (a new process each time) and reports the median wall time. Also checks
that no Google library is imported by a command that only reads the store.

    python bench/status_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pursuit.config.settings import parse_settings
from pursuit.daemon.jobs import plan
from pursuit.daemon.store import Store

TZ = ZoneInfo("Europe/Paris")
INTERVIEWS, MESSAGES = 2000, 20000  # --quick: 50 and 200


def populate(root: Path) -> Path:
    config = root / "config.toml"
    config.write_text(
        f'timezone = "Europe/Paris"\ndatabase = "{root / "state.sqlite3"}"\n'
        f'[calendar]\nics_file = "{root / "calendar.ics"}"\n'
    )
    settings = parse_settings(
        {"timezone": "Europe/Paris", "database": str(root / "state.sqlite3")}, str(config)
    )
    now = datetime.now(TZ)
    store = Store.open(settings.database)
    with store.transaction():
        contacts: list[int] = []
        for o in range(100):
            org = store.add_organization(f"Org {o:03d}", [f"org{o:03d}.example"], now=now)
            for p in range(10):
                c = store.ensure_contact(f"person{p}@org{o:03d}.example", f"Person {o}-{p}", org.id)
                contacts.append(c.id)
        for i in range(INTERVIEWS):
            org_id = i % 100 + 1
            start = now + timedelta(days=(i % 240) - 180, hours=i % 8)
            first = (org_id - 1) * 10 + i % 10
            store.add_interview(
                org_id,
                start,
                start + timedelta(hours=1),
                [contacts[first], contacts[(first + 1) % len(contacts)]],
                position="Engineer",
            )
        for m in range(MESSAGES):
            org_id = m % 100 + 1
            store.log_correspondence(
                message_id=f"<m{m}@mail.example>",
                direction="in" if m % 2 else "out",
                when=now - timedelta(minutes=37 * m),
                channel="email",
                organization_id=org_id,
                contact_ids=[(org_id - 1) * 10 + 1],
                subject=f"Subject {m}",
            )
    plan(store, settings, "ics", now)
    counts = {
        t: n
        for t, n in store.counts().items()
        if t in ("organizations", "interviews", "correspondence", "duties")
    }
    print("database:", json.dumps(counts))
    store.close()
    return config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    args = parser.parse_args()
    if args.quick:
        global INTERVIEWS, MESSAGES
        args.runs, INTERVIEWS, MESSAGES = min(args.runs, 3), 50, 200
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = populate(root)
        env = dict(os.environ, PURSUIT_CONFIG=str(config))
        # An installed pursuit runs from compiled bytecode; measure that, not recompiles.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-m", "pursuit.daemon", "status"]
        subprocess.run(command, env=env, check=True, capture_output=True)  # warm the page cache
        times = []
        for _ in range(args.runs):
            begin = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            times.append((time.perf_counter() - begin) * 1000)
        baseline = []
        for _ in range(args.runs):
            begin = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            baseline.append((time.perf_counter() - begin) * 1000)
        probe = (
            "import sys; from pursuit.daemon.cli import main\n"
            "try:\n    main(['status'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('googleapiclient', 'google', 'google_auth_oauthlib', 'httplib2', 'feedparser', "
            "'imapclient'))\nprint(heavy, file=sys.stderr)"
        )
        imported = (
            subprocess.run(
                [sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True
            )
            .stderr.strip()
            .splitlines()[-1]
        )
    print(
        f"pursuit status: median {statistics.median(times):.0f} ms, "
        f"min {min(times):.0f} ms, max {max(times):.0f} ms over {args.runs} runs"
    )
    print(f"python -c pass: median {statistics.median(baseline):.0f} ms")
    print(f"outside libraries imported by status: {imported}")
    if args.json:
        summary = {
            "bench": "status",
            "runs": args.runs,
            "quick": args.quick,
            "status_ms": {"median": statistics.median(times), "min": min(times), "max": max(times)},
            "python_start_ms": statistics.median(baseline),
            "imported": imported,
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
