"""A local iCalendar file as pursuit's calendar: no account, any app can subscribe.

The file is rewritten whole on `flush`, atomically (temporary file, fsync,
rename), so a reader never sees half a calendar and a crash leaves the old one.
A file holding anything pursuit did not write (the user's own calendar) is
refused and left as it is: pursuit never rewrites what it does not own.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import icalendar

from pursuit.connectors.base import Calendar, CalendarEvent
from pursuit.connectors.ical import (
    KEY_PROPERTY,
    from_vevent,
    note_other_install,
    render,
    writer_of,
)
from pursuit.daemon.errors import SourceError
from pursuit.daemon.files import FULL, make_private_dirs, write_atomically

#: A place the user cannot write: said in one line, with the fix.
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


class IcsCalendar(Calendar):
    name = "ics"

    def __init__(self, path: Path, *, install_id: str = "") -> None:
        self.path = path
        self.install_id = install_id
        self._events: dict[str, CalendarEvent] | None = None
        self._kept: list[icalendar.cal.Component] = []  # another install's, as read
        self._others: set[str] = set()
        self._dirty = False

    def other_installs(self) -> frozenset[str]:
        """Read from the file (once a process)."""
        self._load()
        return frozenset(self._others)

    def _load(self) -> dict[str, CalendarEvent]:
        if self._events is None:
            # Kept only once the whole file is read: a refused file is refused every time.
            loaded: dict[str, CalendarEvent] = {}
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            except OSError as exc:
                raise SourceError(f"calendar file {self.path}", str(exc)) from None
            if data.strip():
                try:
                    parsed = icalendar.Calendar.from_ical(data)
                except ValueError as exc:
                    raise SourceError(
                        f"calendar file {self.path}",
                        f"not a readable iCalendar file ({exc}); move it aside and run again",
                    ) from None
                foreign = [
                    c
                    for c in parsed.walk()
                    if c.name in ("VEVENT", "VTODO", "VJOURNAL") and c.get(KEY_PROPERTY) is None
                ]
                if foreign:
                    raise SourceError(
                        f"calendar file {self.path}",
                        f"it holds {len(foreign)} {'entry' if len(foreign) == 1 else 'entries'} "
                        "pursuit did not write (your own "
                        "calendar?); pursuit leaves it untouched. Set [calendar] ics_file "
                        "in the config to a file of its own, such as "
                        f"{self.path.with_name('pursuit.ics')}",
                    )
                kept = []
                for vevent in parsed.walk("VEVENT"):
                    writer = writer_of(vevent, self.install_id)
                    if writer is not None:  # another install's: written back as it is
                        note_other_install(self._others, writer, f"calendar file {self.path}")
                        kept.append(vevent)
                        continue
                    event = from_vevent(vevent)
                    loaded[event.key] = event
                self._kept = kept
            self._events = loaded
        return self._events

    def _target(self) -> Path:
        """The file to write: the path itself, or where it links to (a synced folder,
        say), so that the link stays a link. A link whose folder is not there is
        refused: pursuit would otherwise make a plain file in its place."""
        if not self.path.is_symlink():
            return self.path
        target = Path(os.path.realpath(self.path))
        if not target.parent.is_dir() or target.is_dir():
            raise SourceError(
                f"calendar file {self.path}",
                f"it is a link to {target}, which pursuit cannot write (no such folder, or "
                "a folder); mount or make that folder, or point the link elsewhere",
            )
        return target

    def location(self) -> str:
        return str(self.path)

    def recreated(self) -> bool:
        """Read again at the start of each round (the service keeps this object for
        months): what another install wrote to the file since is kept, and a file
        pursuit must not write (the user's own calendar) is refused even when nothing
        is to be written."""
        if not self._dirty:
            self._events = None
        self._load()
        return False

    def upsert(self, event: CalendarEvent) -> None:
        events = self._load()
        if events.get(event.key) != event:
            events[event.key] = event
            self._dirty = True

    def delete(self, key: str) -> None:
        if self._load().pop(key, None) is not None:
            self._dirty = True

    def events(self) -> dict[str, CalendarEvent]:
        return dict(self._load())

    def flush(self) -> None:
        if not self._dirty and self.path.exists():
            return
        # 0600 like every file pursuit writes: the calendar app reads it as the same user
        events = list(self._load().values())
        target = self._target()
        try:
            make_private_dirs(target.parent)
            write_atomically(target, render(events, install_id=self.install_id, kept=self._kept))
        except OSError as exc:
            if exc.errno in FULL:
                raise SourceError(
                    f"calendar file {self.path}",
                    f"cannot write it ({exc.strerror}); free some space: the next round "
                    "writes it again, nothing was lost",
                ) from None
            if exc.errno not in _UNWRITABLE:
                raise
            raise SourceError(
                f"calendar file {self.path}",
                f"cannot write it ({exc.strerror or exc}); make its directory writable, "
                "or set `ics_file` in the config's [calendar] to a place you can write",
            ) from None
        self._dirty = False
