"""The reliability suite's one switch: a short run in the normal suite, the full
run when PURSUIT_RELIABILITY=full (`PURSUIT_RELIABILITY=full pytest -m reliability`)."""

from __future__ import annotations

import os


def full() -> bool:
    return os.environ.get("PURSUIT_RELIABILITY", "").strip().lower() == "full"


def scale(short: int, full: int) -> int:
    return full if globals()["full"]() else short
