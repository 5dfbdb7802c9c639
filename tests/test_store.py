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
    with pytest.raises(StoreError, match=r"the state database is damaged \(file is not a database"):
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


def test_what_a_database_of_version_6_knew_of_its_accounts_comes_through(
    tmp_path: Path,
) -> None:
    """Migration 7: the per-account cursor rows become one record per account, and the
    mail jobs of every provider are `mail` (the newest run kept)."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:6]:
        db.executescript(script)
    rows = {
        "gmail": "4242",  # a sync cursor: it stays one
        "gmail:address": "me@gmail.com",
        "gmail:watched": '{"addresses": ["jane@acme.com"], "domains": ["acme.com"]}',
        "gmail:first-sync": '["me@gmail.com", "4000"]',
        "grant_made:google": "2026-11-20T09:00:00+00:00",
        "grant_refused:google": '{"since": "2026-11-28T09:00:00+00:00", "error": "revoked"}',
        "google:paused": '{"since": "2026-11-28T10:00:00+01:00", "error": "revoked", '
        '"token": [12, 34]}',
        "imap:address": "me@example.org",
    }
    db.executemany(
        "INSERT INTO cursors (source, value, updated) VALUES (?, ?, '2026-11-28T09:00:00+00:00')",
        rows.items(),
    )
    db.executemany(
        "INSERT INTO job_runs (job, last_run, last_ok, last_error) VALUES (?, ?, ?, ?)",
        [
            ("gmail", "2026-11-20T09:00:00+00:00", "2026-11-20T09:00:00+00:00", None),
            ("imap", "2026-11-28T09:00:00+00:00", None, "imap: login refused"),
            ("feeds", "2026-11-28T09:00:00+00:00", "2026-11-28T09:00:00+00:00", None),
        ],
    )
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()
    store = Store.open(path)
    try:
        assert store.cursor("gmail") == "4242"
        assert store.account_address("google") == "me@gmail.com"
        assert store.account_address("imap") == "me@example.org"
        assert store.own_addresses() == {"me@gmail.com", "me@example.org"}
        watched = store.watched_set("google")
        assert watched is not None
        assert (watched.addresses, watched.domains) == (("jane@acme.com",), ("acme.com",))
        started = store.first_sync("google")
        assert started is not None and (started.address, started.cursor) == ("me@gmail.com", "4000")
        refused = store.grant_refused("google")
        assert refused is not None
        assert (refused.since, refused.error, refused.token) == (
            datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
            "revoked",
            (12, 34),
        )
        assert store.grant_made("google") == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        for old in rows.keys() - {"gmail"}:
            assert store.cursor(old) is None, f"{old} was left behind"
        runs = store.job_runs()
        assert sorted(runs) == ["feeds", "mail"]
        assert runs["mail"].last_error == "imap: login refused"  # the newest of the two
    finally:
        store.close()


def test_one_record_of_each_fact_about_an_account(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.sqlite3")
    try:
        store.record_grant_refused("google", "revoked", now=NOW, token=(1, 2))
        later = NOW.replace(hour=12)
        store.record_grant_refused("google", "revoked again", now=later, token=(3, 4))
        refused = store.grant_refused("google")
        assert refused is not None
        # the first refusal's time and words are kept; the refused token is the latest
        assert (refused.since, refused.error, refused.token) == (NOW, "revoked", (3, 4))
        store.set_account_address("google", "me@gmail.com")
        store.clear_grant_refused("google")
        assert store.grant_refused("google") is None
        assert store.account_address("google") == "me@gmail.com"
    finally:
        store.close()


def test_before_an_upgrade_a_copy_is_kept_and_named_by_an_older_pursuit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pursuit.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:6]:
        db.executescript(script)
    db.execute(
        "INSERT INTO organizations (id, name, status_changed) VALUES (1, 'Acme', "
        "'2026-11-01T00:00:00+00:00')"
    )
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()
    for old in (2, 3, 4, 5):  # copies of earlier upgrades: the newest few are kept
        (tmp_path / f"pursuit.sqlite3.v{old}.bak").write_bytes(b"old")
    Store.open(path).close()
    copy = tmp_path / "pursuit.sqlite3.v6.bak"
    assert copy.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(copy) as kept:  # the database as it was, usable as it was
        assert kept.execute("PRAGMA user_version").fetchone()[0] == 6
        assert kept.execute("SELECT name FROM organizations").fetchall() == [("Acme",)]
    assert sorted(p.name for p in tmp_path.glob("*.bak")) == [
        "pursuit.sqlite3.v4.bak",
        "pursuit.sqlite3.v5.bak",
        "pursuit.sqlite3.v6.bak",
    ]
    Store.open(path).close()  # already upgraded: no new copy
    assert len(list(tmp_path.glob("*.bak"))) == 3

    # this pursuit meeting a database a newer one upgraded names the copy it kept
    import pursuit.daemon.store as store_module

    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    (tmp_path / f"pursuit.sqlite3.v{SCHEMA_VERSION}.bak").write_bytes(b"")
    with pytest.raises(StoreError) as refused:
        Store.open(path)
    assert f"pursuit.sqlite3.v{SCHEMA_VERSION}.bak, is this pursuit's to use" in str(refused.value)
    assert store_module.KEPT_COPIES == 3


def test_promises_made_before_notes_were_a_log_are_in_it_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """Schema 4 kept a promise as the interviewer's day alone: `history` showed none."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        db.executescript(script)
    db.executescript(
        "INSERT INTO organizations (id, name, status_changed) VALUES (1, 'Acme', "
        "'2026-11-01T00:00:00+00:00');"
        "INSERT INTO contacts (id, organization_id, name, role) VALUES (7, 1, 'Jane', 'hr');"
        "INSERT INTO addresses VALUES ('jane@acme.com', 7);"
        "INSERT INTO interviews (id, organization_id, start, end) VALUES (3, 1, "
        "'2026-11-20T13:00:00+00:00', '2026-11-20T14:00:00+00:00');"
        "INSERT INTO interviewers (interview_id, contact_id, promised) VALUES (3, 7, "
        "'2026-11-27');"
        "PRAGMA user_version = 4;"
    )
    db.close()
    store = Store.open(path)
    try:
        [promise] = [n for n in store.notes(contact=7) if n.kind == "promise"]
        assert promise.text == "follow up on 2026-11-27"
        assert promise.created == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # its interview
        assert promise.interview_id == 3 and promise.organization_id == 1
    finally:
        store.close()
    Store.open(path).close()  # a second open adds nothing
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM notes WHERE kind = 'promise'").fetchone() == (1,)


def test_a_jobs_error_keeps_what_mends_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.sqlite3")
    try:
        store.record_job_run("summary", now=NOW, error="summary.to: ...", error_kind="config")
        assert store.job_runs()["summary"].last_error_kind == "config"
        store.record_job_run("summary", now=NOW, error=None, error_kind="config")
        assert store.job_runs()["summary"].last_error_kind is None  # a success clears it
    finally:
        store.close()
