"""`bench/run_all.py --quick` keeps working: every bench runs at tiny sizes and the
report has a section for it, with its figures.

Nothing here is timed: a quick run's figures are not measurements (speed is measured
in bench/), so no figure is compared with a goal, and the only limit is one that
catches a bench that hangs, far beyond what the slowest takes on a busy machine.
Each bench is a test of its own, so a failure names the bench and shows its output,
and the benches run side by side under `-n 4`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
BENCHES = sorted(path.stem.removesuffix("_bench") for path in BENCH.glob("*_bench.py"))
HUNG = 900  # seconds: a hung bench, never a slow one (the slowest quick bench takes ~20 s)


def test_the_benches_are_found() -> None:
    assert {"feeds", "gmail", "idle", "imap", "status", "summary", "web"} <= set(BENCHES)


@pytest.mark.parametrize("name", BENCHES)
def test_each_bench_runs_quick_and_reports_its_figures(name: str, tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--quick", "--only", name, "--out", report],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=HUNG,
    )
    text = report.read_text(encoding="utf-8") if report.exists() else "(no report)"
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{text}"
    assert "## Machine" in text and "CPUs" in text and "load average" in text
    assert f"## {name}:" in text, text
    section = text.split(f"## {name}:")[1]
    assert "No result" not in section, section
    rows = re.findall(r"^\| (?!measure \||---)(.+?) \| (.*?) \|", section, re.M)
    assert rows and all(figure.strip() for _, figure in rows), section
    if name == "feeds":  # never more connections to one host than [feeds] per_host allows
        assert re.search(r"^\| most connections to one host \| [12] \|", section, re.M), section
