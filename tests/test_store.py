"""The store: schema versions, migrations, and logging each record once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.cli import Pursuit

from pursuit.daemon.errors import StoreError, UserError
from pursuit.daemon.models import Channel, Direction
from pursuit.daemon.store import MIGRATIONS, SCHEMA_VERSION, Store

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_new_database_gets_the_current_schema(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "new" / "state.sqlite3")
    assert store.version == SCHEMA_VERSION == len(MIGRATIONS)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700


def test_a_database_from_a_newer_pursuit_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE future (x)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}, newer"):
        Store.open(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_text("this is not SQLite, it is a shopping list\n" * 100)
    with pytest.raises(StoreError, match="cannot use the state database"):
        Store.open(path)


def test_each_migration_runs_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite3"
    broken = (MIGRATIONS[0] + "; CREATE TABLE organizations (oops)",)
    monkeypatch.setattr("pursuit.daemon.store.MIGRATIONS", broken)
    with pytest.raises(StoreError):
        Store.open(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert (
            db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] == 0
        )


def test_a_message_is_logged_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.sqlite3")
    org = store.add_organization("Acme Networks", ["acme.com"], now=NOW)
    jane = store.ensure_contact("Jane@Acme.com", "Jane Doe", org.id)
    entry = dict(
        message_id="<1@acme.com>",
        direction=Direction.IN,
        when=NOW,
        channel=Channel.EMAIL,
        organization_id=org.id,
        contact_ids=[jane.id],
        subject="Next steps",
    )
    assert store.log_correspondence(**entry) is True  # type: ignore[arg-type]
    assert store.log_correspondence(**entry) is False  # type: ignore[arg-type]
    assert [m.subject for m in store.correspondence(contact_id=jane.id)] == ["Next steps"]
    assert store.contact_by_address("jane@acme.com") == jane


def test_domains_match_subdomains_and_belong_to_one_organization(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.sqlite3")
    acme = store.add_organization("Acme Networks", ["acme.com"], now=NOW)
    store.add_organization("Acme Labs", ["labs.acme.com"], now=NOW)
    assert store.organization_for_domain("mail.acme.com") == acme.id
    assert store.organization_for_domain("x.labs.acme.com") != acme.id
    assert store.organization_for_domain("gmail.com") is None
    with pytest.raises(UserError, match=r"acme\.com already belongs to Acme Networks"):
        store.add_organization("Other", ["acme.com"], now=NOW)


def test_forgetting_an_organization_removes_all_its_records(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.sqlite3")
    org = store.add_organization("Acme Networks", ["acme.com"], now=NOW)
    jane = store.ensure_contact("jane@acme.com", "Jane Doe", org.id)
    store.add_interview(org.id, NOW, NOW, [jane.id])
    store.log_correspondence(
        message_id="<1@acme.com>",
        direction=Direction.IN,
        when=NOW,
        channel=Channel.EMAIL,
        organization_id=org.id,
        contact_ids=[jane.id],
    )
    store.forget_organization(org.id)
    for table in (
        "organizations",
        "domains",
        "contacts",
        "addresses",
        "interviews",
        "interviewers",
        "correspondence",
        "correspondence_contacts",
    ):
        assert store.counts()[table] == 0, table


def test_an_older_database_is_migrated_keeping_its_records(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as db:  # a database as the first pursuit left it
        db.executescript(MIGRATIONS[0])
        db.execute("INSERT INTO organizations (name, status_changed) VALUES ('Acme', '2026-11-01')")
        db.execute("PRAGMA user_version = 1")
    store = Store.open(path)
    assert store.version == SCHEMA_VERSION
    assert [o.name for o in store.organizations()] == ["Acme"]
    assert store.evidence_messages() == set()  # a column of migration 3
    assert store.counts()["feed_items"] == 0


def test_a_failed_commit_is_undone_and_later_changes_are_saved(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = Store.open(path)
    with pytest.raises(StoreError, match="could not be saved"), store.transaction():
        store.add_organization("Doomed", now=NOW)
        # A deferred foreign key is checked at COMMIT, which then fails for real.
        store._db.execute("PRAGMA defer_foreign_keys = ON")
        store._db.execute("INSERT INTO domains (domain, organization_id) VALUES ('x.com', 999)")
    store.add_organization("Acme Networks", ["acme.com"], now=NOW)
    other = Store.open(path)  # what another process sees: only what was committed
    assert [o.name for o in other.organizations()] == ["Acme Networks"]


def test_a_failed_nested_block_undoes_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = Store.open(path)
    with store.transaction():
        store.add_organization("Acme Networks", now=NOW)
        with pytest.raises(UserError), store.transaction():
            store.add_organization("Globex", now=NOW)
            store.add_organization("Initech", ["acme.com"], now=NOW)
            store.add_organization("Umbrella", ["acme.com"], now=NOW)  # taken
        store.add_organization("Hooli", now=NOW)
    other = Store.open(path)
    assert [o.name for o in other.organizations()] == ["Acme Networks", "Hooli"]


HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE organizations SET flag = flag")
print("locked", flush=True)
sys.stdin.readline()
"""


def test_reading_answers_while_another_program_holds_the_database(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config='[[organization]]\nname = "Globex"\ndomains = ["globex.com"]\n')
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(p.database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        quick = {"PURSUIT_BUSY_TIMEOUT": "0.2"}
        assert "Acme Networks" in p.ok("status", env=quick)
        for command in (("org", "list"), ("export",), ("doctor",), ("history", "acme")):
            p.ok(*command, env=quick)
        err = p.one_line_error("org", "add", "Initech", env=quick)
        assert str(p.database) in err
        assert "locked by another program; try again" in err
    finally:
        holder.communicate("\n", timeout=10)
    p.ok("org", "add", "Initech")
    names = [o["name"] for o in p.export()["organizations"]]
    assert names == ["Acme Networks", "Globex", "Initech"]
