"""The run lock: one round of jobs at a time on a data directory.

Two rounds at once (the service and a `run --once`, or two of either) would
both see the same outbox entry pending and both create the draft or calendar.
Every round therefore holds an exclusive `flock` on a file beside the
database. The kernel releases it when the holder exits, however it exits, so a
killed run never leaves a stale lock behind. The file holds the holder's pid
and what it is ("service" or "run --once"), for the message a waiter shows.

The service holds the lock for as long as it runs, so it is one per data
directory. Nobody waits for it: a second service or a `run --once` is refused at
once, naming it. A `run --once` is waited for, since its round ends.

    with RunLock.beside(settings.database).hold("run --once", wait=300):
        run_jobs(...)
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pursuit.daemon.errors import PursuitError, StoreError
from pursuit.daemon.files import make_private_dirs, not_followed

log = logging.getLogger(__name__)

#: Seconds `run --once` waits for the round another process is running.
DEFAULT_WAIT = 300.0
_POLL = 0.2
#: The role of the service: it holds the lock for its whole life.
SERVICE = "service"


class RunLocked(PursuitError):
    """Another process holds the run lock and did not let go in time."""

    def __init__(self, path: Path, holder: str, waited: float, *, service: bool = False) -> None:
        self.path = path
        self.holder = holder
        if service:
            super().__init__(
                f"{holder} is running a round of jobs on this data directory ({path}) "
                "whenever one is due; it runs every job on its own schedule: stop it first "
                "to run pursuit yourself, or see what it did with `pursuit status`"
            )
            return
        after = f" after waiting {waited:.0f} s" if waited >= 1 else ""
        super().__init__(
            f"{holder} is running a round of jobs on this data directory ({path}){after}; "
            "try again when it is done (the service runs every job on its own schedule)"
        )


class RunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def beside(cls, database: Path) -> RunLock:
        """The lock of the data directory holding `database`."""
        return cls(database.with_name(database.name + ".lock"))

    def holder(self) -> str:
        """Who holds (or last held) the lock, as a message names it."""
        pid, role = self._written()
        if not pid.isdigit():
            return "another pursuit process"
        return f"{role or 'pursuit'} (pid {pid})"

    def _written(self) -> tuple[str, str]:
        """The holder's pid and role as it wrote them ("" when unknown)."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        pid, _, role = text.partition(" ")
        return pid, role

    def try_acquire(self, role: str) -> bool:
        """Take the lock if it is free; True when taken."""
        if self._fd is not None:
            return True
        try:
            make_private_dirs(self.path.parent)
            # Never through a link: opening it would truncate and write its target.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            if self.path.is_symlink():
                raise StoreError(not_followed(self.path, "the run lock")) from None
            raise StoreError(
                f"{self.path}: cannot take the run lock ({exc.strerror or exc}); "
                "give your user write access to the data directory"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a fifo or a device: not ours to write
            os.close(fd)
            raise StoreError(
                f"{self.path}: the run lock is not a plain file; remove it, and pursuit "
                "makes it anew"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {role}\n".encode(), 0)
        except OSError as exc:  # a full disk: the lock is held all the same, only unnamed
            log.debug("cannot note the run lock's holder in %s: %s", self.path, exc)
        self._fd = fd
        return True

    def acquire(self, role: str, *, wait: float = 0.0) -> None:
        """Take the lock, waiting up to `wait` seconds for a round to end; raises
        RunLocked (at once when the service holds it: it never lets go)."""
        if self.try_acquire(role):
            return
        holder = self.holder()
        start = time.monotonic()
        if self._written()[1] != SERVICE and wait > 0:
            log.warning("%s is running a round of jobs; waiting for it to finish", holder)
            while time.monotonic() - start < wait:
                time.sleep(_POLL)
                if self.try_acquire(role):
                    return
                if self._written()[1] == SERVICE:  # a service took it meanwhile
                    break
            holder = self.holder()
        service = self._written()[1] == SERVICE
        raise RunLocked(self.path, holder, time.monotonic() - start, service=service)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def hold(self, role: str, *, wait: float = 0.0) -> Iterator[None]:
        self.acquire(role, wait=wait)
        try:
            yield
        finally:
            self.release()


def once_wait() -> float:
    """How long `run --once` waits for another round: $PURSUIT_RUN_WAIT seconds, else 300."""
    text = os.environ.get("PURSUIT_RUN_WAIT", "")
    try:
        return max(0.0, float(text)) if text else DEFAULT_WAIT
    except ValueError:
        return DEFAULT_WAIT
