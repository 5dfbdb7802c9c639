"""Mail to the user as .eml files in a folder: the summary with no account connected.

Each message is one file named after its key (`summary:2026-W49` ->
`summary-2026-W49.eml`), so the newest sorts last and a file already there is
the message sent earlier. Readable by the user alone (0600); written whole
(a temporary file renamed), so a crash leaves no half message.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from pursuit.connectors.base import outgoing_key
from pursuit.daemon.errors import SourceError
from pursuit.daemon.files import FULL, make_private_dirs


class EmlFolder:
    """A `Sender` writing each message to `folder` (see the module docstring)."""

    def __init__(self, folder: Path, address: str) -> None:
        self.folder = folder
        self.address = address.lower()

    def path_for(self, key: str) -> Path:
        return self.folder / (re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-") + ".eml")

    keeps_record = True  # the file is there once written
    in_doubt = timedelta(0)  # renamed into place whole: there, or never

    def find_sent(self, key: str, message_id: str = "") -> str | None:
        """The file written for this key: the folder is this install's own (beside its
        database), so the key alone names it."""
        path = self.path_for(key)
        return str(path) if path.exists() else None

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        key = outgoing_key(message, self.address)
        found = self.find_sent(key)
        if found is not None:
            return found
        outgoing = copy.deepcopy(message)
        del outgoing["Bcc"]
        path = self.path_for(key)
        partial = path.with_suffix(".eml.partial")
        if begin is not None:
            begin()
        try:
            make_private_dirs(self.folder)
            partial.unlink(missing_ok=True)  # a leftover, or a link: never written through
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(outgoing.as_bytes())
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            # Not sent: the outbox keeps the message and the next round writes it.
            fix = "free some space" if exc.errno in FULL else "make the folder writable"
            raise SourceError(
                f"outbox folder {self.folder}",
                f"cannot write {path.name} ({exc.strerror or exc}); {fix}: it is written "
                "at the next round",
            ) from None
        return str(path)
