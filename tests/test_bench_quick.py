"""`bench/run_all.py --quick` keeps working: every bench runs at tiny sizes and the
report has a section for each, with its figures (not timed: speed is measured in bench/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_run_all_quick_writes_a_section_per_bench(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--quick", "--out", str(report)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = report.read_text(encoding="utf-8")
    assert "## Machine" in text and "CPUs" in text and "load average" in text
    for bench in sorted(BENCH.glob("*_bench.py")):
        name = bench.stem.removesuffix("_bench")
        assert f"## {name}:" in text, name
    section = text.split("## feeds:")[1].split("\n## ")[0]
    assert "| most connections to one host | 1 |" in section or "| 2 |" in section
    assert "No result" not in text
