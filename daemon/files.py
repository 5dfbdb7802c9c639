"""Files pursuit writes whole (the Google token, the local calendar, the config file) and
the private folders they go in (the data folder, the .eml outbox).

A leaf of the core: the store, the run lock and the connectors use it alike.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

#: A file system with no room left (for anyone, or for this user)
FULL = (errno.ENOSPC, errno.EDQUOT)


def make_private_dirs(path: Path) -> None:
    """`path.mkdir(parents=True, exist_ok=True)`, with every folder made 0700 (the XDG
    base directory rule): a missing $XDG_DATA_HOME made for pursuit's data is private
    too, not left to the umask. Folders that exist keep their mode."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing[1:]):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=0o700)
    path.mkdir(mode=0o700, exist_ok=True)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` so a crash leaves the old file or the new one, never half.

    The data goes to a temporary file in the same directory (a rename is atomic
    only within one filesystem), which is given `mode` whatever the umask,
    flushed, fsynced and renamed over `path`; the directory is fsynced last so
    the rename itself survives a power cut. The directory must exist.

    A `path` that is a link (a token or calendar kept in a synced folder) is written
    through: its target is replaced and the link stays a link, never a plain file.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        log.debug("cannot open %s to fsync it: %s", directory, exc)
        return
    try:
        os.fsync(dir_fd)
    except OSError as exc:  # some filesystems refuse it; the rename is done all the same
        log.debug("cannot fsync directory %s: %s", directory, exc)
    finally:
        os.close(dir_fd)


def not_followed(path: Path, what: str) -> str:
    """The message for a link where pursuit writes a file of its own (the run lock, the
    database's companions, a partial copy): it is never written through, which would
    truncate whatever the link points to."""
    try:
        pointed = os.readlink(path)
    except OSError:
        pointed = ""
    target = f" to {pointed}" if pointed.isprintable() and pointed else ""
    return (
        f"{path}: {what} is a symbolic link{target}; pursuit never writes through a link "
        "there: remove the link and pursuit makes the file anew"
    )
