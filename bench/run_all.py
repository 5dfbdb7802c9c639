"""Run every benchmark (`bench/*_bench.py`) and write docs/BENCHMARKS.md.

Each bench runs in its own process with `--json FILE` (and `--quick` when
given: tiny sizes, to check the benches still run, not to measure). The report
says what was measured and how (each bench's docstring), on what machine, the
figures next to their goals, and the peer measured in the same run where there
is one.

    python bench/run_all.py [--quick] [--out docs/BENCHMARKS.md] [--only feeds status]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def machine() -> list[str]:
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or '?'}",
        f"- {os.cpu_count()} CPUs, {memory} memory, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; load average at the start: {load}",
    ]


def docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.name


def ms(spread: dict[str, float], scale: float = 1.0, unit: str = "s") -> str:
    m, lo, hi = (spread[k] * scale for k in ("median", "min", "max"))
    digits = 0 if unit == "ms" else 2
    return f"{m:.{digits}f} {unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def feeds_rows(r: dict[str, Any]) -> list[str]:
    rows = [
        f"| first poll, {r['feeds']} feeds on {r['hosts']} hosts | {ms(r['first_s'])} "
        f"| near the parsing floor ({r['parse_floor_s']:.2f} s CPU) |",
        f"| CPU used by the first poll | {ms(r['first_cpu_s'])} | |",
        f"| second poll, nothing changed | {ms(r['second_s'])} | 0 parsed ({r['parsed_second']}) |",
        f"| most connections to one host | {r['peak_connections_per_host']} | ≤ 2 |",
        f"| most hosts served at once | {r['peak_hosts_at_once']} | > 8 |",
    ]
    peer = r.get("rss2email")
    if peer:
        rows.append(
            f"| peer: {peer['version']}, first run | {peer['first_s']:.2f} s: pursuit "
            f"**{peer['first_ratio']:.1f}×** faster | ≥ 15× |"
        )
        rows.append(
            f"| peer: rss2email, second run | {peer['second_s']:.2f} s: pursuit "
            f"{peer['second_ratio']:.1f}× faster | |"
        )
    else:
        rows.append("| peer: rss2email | not run (not installed, or --quick) | ≥ 15× |")
    whole = r.get("whole_run")
    if whole:
        rows.append(
            f"| whole `pursuit run --once`, {whole['feeds']} feeds on {whole['hosts']} hosts "
            f"| {ms(whole['first_s'])} | |"
        )
        rows.append(f"| `pursuit run --once` with nothing due | {ms(whole['nothing_due_s'])} | |")
        peer = whole.get("rss2email")
        if peer:
            rows.append(
                f"| peer: rss2email, first run of the same | {peer['first_s']:.2f} s: "
                f"`run --once` **{peer['first_ratio']:.1f}×** faster | ≥ 12× |"
            )
    return rows


def gmail_rows(r: dict[str, Any]) -> list[str]:
    return [
        f"| first sync, Gmail job ({r['logged']} messages logged) | {r['job_s']} s, "
        f"{r['units']} quota units | |",
        f"| share of the enforced quota ({r['limit']}), whole job | {r['job_share']:.0%} "
        f"| peer: Gmail's quota, ≥ 90 % |",
        f"| share of the quota, fetch phase | {r['fetch_share']:.0%} | ≥ 90 % |",
        f"| 429 answers | {r['rate_limit_answers']} | ≤ 5 |",
        f"| quiet poll: Gmail calls | {r['quiet_poll_gmail_calls']} "
        f"| 1 (peer: lieer makes 2 per poll) |",
        f"| failed checks | {', '.join(r['failed']) or 'none'} | none |",
    ]


def status_rows(r: dict[str, Any]) -> list[str]:
    return [
        f"| `pursuit status`, a new process ({r['runs']} runs) | {ms(r['status_ms'], unit='ms')} "
        f"| interactive |",
        f"| `python -c pass` on this machine | {r['python_start_ms']:.0f} ms | |",
        f"| outside libraries imported | {r['imported']} | none |",
    ]


def summary_rows(r: dict[str, Any]) -> list[str]:
    return [
        f"| gather + text + HTML ({r['runs']} runs) | {ms(r['render_ms'], unit='ms')} | 1,000 ms |",
        f"| HTML part | {r['html_kb']:.1f} KB | 100 KB (Gmail clips at 102 KB) |",
        f"| text part | {r['text_kb']:.1f} KB | |",
    ]


ROWS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "feeds": feeds_rows,
    "gmail": gmail_rows,
    "status": status_rows,
    "summary": summary_rows,
}


def generic_rows(r: dict[str, Any]) -> list[str]:
    return [f"| {k} | {json.dumps(v)} | |" for k, v in r.items() if k != "bench"]


def run(path: Path, quick: bool, tmp: Path) -> tuple[dict[str, Any] | None, str, int, float]:
    out = tmp / f"{path.stem}.json"
    command = [sys.executable, str(path), "--json", str(out), *(["--quick"] if quick else [])]
    began = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=ROOT
    )
    seconds = time.perf_counter() - began
    result = json.loads(out.read_text()) if out.exists() else None
    return result, done.stdout + done.stderr, done.returncode, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benches run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--only", nargs="*", help="bench names, e.g. feeds status")
    args = parser.parse_args()
    benches = sorted(BENCH.glob("*_bench.py"))
    if args.only:
        benches = [b for b in benches if b.stem.removesuffix("_bench") in args.only]
    lines = [
        "# Benchmarks",
        "",
        "Written by `python bench/run_all.py"
        + (" --quick" if args.quick else "")
        + "`."
        + (" **Quick run: tiny sizes, the figures are not measurements.**" if args.quick else ""),
        "Each figure is the median of several runs with (min–max) where the bench repeats;",
        "each bench's own RESULTS-*.md in bench/ tells the longer story.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
    ]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="pursuit-bench-") as tmp:
        for path in benches:
            name = path.stem.removesuffix("_bench")
            print(f"running {path.name} ...", flush=True)
            result, output, code, seconds = run(path, args.quick, Path(tmp))
            doc = docstring(path)
            title, _, how = doc.partition("\n")
            lines += [f"## {name}: {title.strip()}", "", "How:", "", "```", how.strip(), "```", ""]
            if result is None:
                failed += 1
                tail = "\n".join(output.strip().splitlines()[-10:])
                lines += [f"**No result** (exit {code}).", "", "```", tail, "```", ""]
                continue
            rows = ROWS.get(name, generic_rows)(result)
            lines += ["| measure | figure | goal / peer |", "| --- | --- | --- |", *rows, ""]
            lines += [f"Exit {code}, {seconds:.0f} s.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
