"""Drafts are each install's own: two installs on one mailbox, a data directory made
anew, and a draft create in flight when pursuit dies (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pursuit.daemon.store import Store


def test_another_install_is_recorded_once_per_account_and_id(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "pursuit.sqlite3")
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert store.other_installs() == []
    assert store.record_other_install("google", "ab12", "drafts", now=now)
    later = now + timedelta(hours=1)
    assert not store.record_other_install("google", "ab12", "calendar events", now=later)
    assert store.record_other_install("google", "", "drafts", now=later)
    assert store.record_other_install("imap", "ab12", "drafts", now=later)
    seen = {(o.account, o.install_id): o for o in store.other_installs()}
    assert sorted(seen) == [("google", ""), ("google", "ab12"), ("imap", "ab12")]
    first = seen["google", "ab12"]
    assert (first.first_seen, first.last_seen, first.seen_in) == (now, later, "calendar events")
