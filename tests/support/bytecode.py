"""pursuit's modules compiled once, before any test.

The suite starts `pursuit` as a process hundreds of times, and under
PYTHONDONTWRITEBYTECODE (set on CI machines) each start compiled all of pursuit's
modules again: 0.1 s of CPU each time, about a third of a minute of the suite. The
controller compiles them before the workers start; .pyc files are what an installed
pursuit runs from anyway.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # a worker of -n: the controller did it
        return
    for folder in ("daemon", "connectors", "config"):
        compileall.compile_dir(ROOT / folder, quiet=1)
