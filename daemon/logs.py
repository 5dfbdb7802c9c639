"""Logging set up once, for a terminal or for systemd's journal.

Under journald (`JOURNAL_STREAM` names our stderr) a line carries no timestamp,
the journal adds its own, and starts with `<N>` so the journal knows its priority;
anywhere else a line starts with its time. pursuit's messages show from WARNING,
other libraries' from ERROR, one level more with each -v. Every line goes through
`redact`: no URL userinfo, token or password reaches a log, whoever wrote the message.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import TextIO

from pursuit.daemon.textsafety import clean, one_line

#: The longest log message (a server's text in it can be any size).
MESSAGE_LIMIT = 4000

#: syslog priorities by logging level (up to it), for the journal's `<N>` prefix
_PRIORITY = ((logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3))

_SECRETS = (
    # https://user:secret@host/ -> https://***@host/
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@"), r"\1***@"),
    # access_token=..., "refresh_token": "...", password=..., client_secret ...
    (
        re.compile(
            r"(?i)([\"']?\b(?:access_token|refresh_token|id_token|client_secret|password|"
            r"passwd|token|secret)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
)


def redact(text: str) -> str:
    """The text with URL userinfo, tokens and passwords replaced by ***."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def stderr_is_journal(stream: TextIO | None = None) -> bool:
    """True when systemd connected our stderr to the journal (JOURNAL_STREAM=dev:inode;
    a child of the service that redirected its stderr keeps the variable only)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


class _Formatter(logging.Formatter):
    def __init__(self, journal: bool) -> None:
        if journal:
            super().__init__("%(levelname)s %(name)s: %(message)s")
        else:
            super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        self.journal = journal

    def formatMessage(self, record: logging.LogRecord) -> str:
        # One line, whatever a server's text in it held (an escape, a CR/LF, a megabyte).
        record.message = one_line(record.message[: MESSAGE_LIMIT * 4])[:MESSAGE_LIMIT]
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        # a traceback keeps its lines, not an escape (nor a megabyte) a server put in an
        # exception's text
        lines = clean(super().format(record), multiline=True).split("\n")
        text = redact("\n".join(line[:MESSAGE_LIMIT] for line in lines))
        if self.journal:
            priority = next((p for level, p in _PRIORITY if record.levelno <= level), 2)
            return f"<{priority}>{text}"
        return text


def setup_logging(verbosity: int = 0, stream: TextIO | None = None) -> None:
    """pursuit's messages from WARNING (INFO with -v, DEBUG with -vv); other libraries'
    from ERROR (WARNING with -v, INFO with -vv, DEBUG with -vvv).

    To standard error unless `stream` is given. Logging another program set up (a
    test, an embedding program) is left as it is, unless a `stream` is given.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, _Formatter)]
    if stream is None and len(root.handlers) > len(ours):
        return
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(stderr_is_journal(stream)))
    for old in ours:  # from an earlier call
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 3)])
    logging.getLogger("pursuit").setLevel(logging.WARNING - 10 * min(verbosity, 2))
