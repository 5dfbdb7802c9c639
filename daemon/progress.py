"""A progress bar for a long first sync, drawn only on a terminal."""

from __future__ import annotations

import sys
from typing import Any


class TerminalProgress:
    """A progress bar on stderr for a long first sync, drawn only on a terminal
    (never in the journal of the service)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or not sys.stderr.isatty():
            return
        if self._bar is None or done == 0:
            import click

            self._bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr, show_pos=True, show_percent=True
            )
            self._bar.render_progress()
        self._bar.update(done - self._bar.pos)
        if done >= total:
            self._bar.render_finish()
            self._bar = None
