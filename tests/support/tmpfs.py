"""A small real file system (tmpfs) the test can fill up and make read-only.

Mounting needs root (or CAP_SYS_ADMIN). Where it is not allowed the test is
skipped with the reason, except in CI running as root, where it must work and a
refusal fails the test.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

FILLER = ".filler"


def _refused(why: str) -> None:
    if os.environ.get("CI") == "true" and os.geteuid() == 0:
        pytest.fail(f"CI runs as root, so mounting a tmpfs must work: {why}")
    pytest.skip(f"cannot mount a small file system here: {why}")


class SmallDisk:
    """A mounted tmpfs of a few megabytes at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._frozen = False

    @property
    def filler(self) -> Path:
        return self.path / FILLER

    def free(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self, leave: int) -> None:
        """Take all the free space but `leave` bytes (rounded to the page) with a filler file."""
        grow = max(0, self.free() - leave)
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if grow:
                os.posix_fallocate(fd, os.fstat(fd).st_size, grow)
            if leave <= 0:  # to the last byte: write until the file system refuses
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)

    def unfill(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, *options: str) -> None:
        _mount("mount", "-o", ",".join(("remount", *options)), str(self.path))

    def read_only(self) -> None:
        self.remount("ro")

    def read_write(self) -> None:
        if self._frozen:
            self._frozen = False
            _mount("umount", str(self.path))
            return
        self.remount("rw")

    def read_only_under(self) -> None:
        """Read-only for everything opened from now on, while a running program keeps
        the files it holds open for writing.

        The kernel refuses to remount a file system read-only while a file on it is
        open for writing (EBUSY), as the service's database is: a read-only bind mount
        over the same place is what such a program then meets (a new file, a rename,
        a program started now all get EROFS).
        """
        _mount("mount", "--bind", str(self.path), str(self.path))
        self._frozen = True
        _mount("mount", "-o", "remount,bind,ro", str(self.path))


def _mount(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[SmallDisk]:
    """A tmpfs of `size` mounted at `path` (made if missing), unmounted at the end."""
    if os.geteuid() != 0:
        _refused("not running as root")
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "pursuit-test", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        _refused(f"mount: {os.strerror(exc.errno or errno.ENOENT)}")
    if done.returncode != 0:
        _refused(done.stderr.strip() or f"mount exited {done.returncode}")
    try:
        yield SmallDisk(path)
    finally:
        # Lazily: a process the test started may still hold a file there. Twice when
        # a read-only bind mount is still on top.
        for _ in range(2):
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
