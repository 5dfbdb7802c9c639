"""One pursuit service per data directory.

An `fcntl.flock` on a file in the data directory: the kernel releases it when the
holder dies, however it dies, so there is never a stale lock to clean. The
holder writes its pid into the file after locking, so a refused second instance
can name the one that runs.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from pursuit.daemon.errors import UserError

LOCK_NAME = "pursuit.lock"


class AlreadyRunning(UserError):
    """Another pursuit holds the run lock of this data directory."""

    exit_code = 1

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"pursuit is already running on this data directory ({holder}, lock file {path}); "
            "stop it first, or use `pursuit status` to see what it did"
        )


class RunLock:
    """`with RunLock(data_dir):` holds the lock for the block (refusing at once when taken)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, wait: float = 0) -> None:
        """Take the lock, waiting up to `wait` seconds; raises AlreadyRunning."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        give_up = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    pid = self._holder(fd)
                    os.close(fd)
                    raise AlreadyRunning(self.path, pid) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> int | None:
        try:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # The file stays: removing it would let a third process lock a new inode
        # while a second still waits on the old one.
        os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
