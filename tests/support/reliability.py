"""The reliability suite's one switch: a short run in the normal suite, the full
run when PURSUIT_RELIABILITY=full (`PURSUIT_RELIABILITY=full pytest -m reliability`)."""

from __future__ import annotations

import os


def _full_run() -> bool:
    return os.environ.get("PURSUIT_RELIABILITY", "").strip().lower() == "full"


def full() -> bool:
    """True in the full run."""
    return _full_run()


def scale(short: int, full: int) -> int:
    """`short` in the normal suite, `full` in the full run."""
    return full if _full_run() else short
