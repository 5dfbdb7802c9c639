"""Files written whole: the old file or the new one survives a failure, never half of one."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pursuit.daemon.files import write_atomically


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave a new file readable by everyone."""
    before = os.umask(0o002)
    yield
    os.umask(before)


@pytest.mark.usefixtures("open_umask")
def test_the_file_gets_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    token = tmp_path / "token.json"
    write_atomically(token, b"secret")
    assert token.read_bytes() == b"secret"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    shared = tmp_path / "calendar.ics"
    write_atomically(shared, b"BEGIN:VCALENDAR", mode=0o644)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644


def test_a_rewrite_replaces_the_whole_file_and_tightens_its_mode(tmp_path: Path) -> None:
    token = tmp_path / "token.json"
    token.write_bytes(b"an old and much longer token")
    token.chmod(0o644)
    write_atomically(token, b"new")
    assert token.read_bytes() == b"new"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]


def test_a_link_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    synced = tmp_path / "Sync" / "google.json"
    synced.parent.mkdir()
    synced.write_bytes(b"old token")
    token = tmp_path / "token.json"
    token.symlink_to(synced)
    write_atomically(token, b"new token")
    assert token.is_symlink()
    assert synced.read_bytes() == b"new token"
    assert sorted(p.name for p in synced.parent.iterdir()) == ["google.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token.json"
    write_atomically(token, b"old")

    def disk_full(_: int) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(token, b"new")
    assert token.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]


def test_the_rename_is_made_durable_by_syncing_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def record(fd: int) -> None:
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    write_atomically(tmp_path / "token.json", b"x")
    assert synced == ["file", "directory"]
