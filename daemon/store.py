"""The store: one SQLite database holding records, sync cursors and the outbox.

The schema has a version (SQLite's `user_version`) and numbered migrations, each
applied in one transaction. A database written by a newer pursuit is refused.
Every side effect is a row in `outbox`, keyed by what it is for, so a repeat
after a crash finds the row instead of acting twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pursuit.daemon.errors import AmbiguousName, StoreError, UserError
from pursuit.daemon.models import (
    Contact,
    Correspondence,
    Duty,
    Interview,
    Interviewer,
    Organization,
)

MIGRATIONS: tuple[str, ...] = (
    # 1: the foundation
    """
    CREATE TABLE organizations (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'offer', 'rejected', 'withdrawn', 'closed')),
        status_changed TEXT NOT NULL,
        positions TEXT NOT NULL DEFAULT '[]',
        flag TEXT,
        from_config INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE domains (
        domain TEXT PRIMARY KEY,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE
    );
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        organization_id INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
        name TEXT NOT NULL DEFAULT '',
        role TEXT
    );
    CREATE TABLE addresses (
        address TEXT PRIMARY KEY,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE
    );
    CREATE INDEX addresses_contact ON addresses(contact_id);
    CREATE TABLE interviews (
        id INTEGER PRIMARY KEY,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        position TEXT,
        start TEXT NOT NULL,
        end TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT 'cli',
        source_key TEXT UNIQUE,
        cancelled INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX interviews_org ON interviews(organization_id, start);
    CREATE TABLE interviewers (
        interview_id INTEGER NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        note TEXT,
        promised TEXT,
        PRIMARY KEY (interview_id, contact_id)
    );
    CREATE INDEX interviewers_contact ON interviewers(contact_id);
    CREATE TABLE duties (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('thank_you', 'follow_up', 'check_in')),
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
        interview_id INTEGER REFERENCES interviews(id) ON DELETE CASCADE,
        due TEXT NOT NULL,
        snoozed INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'cancelled')),
        done_at TEXT,
        evidence TEXT
    );
    CREATE INDEX duties_state_due ON duties(state, due);
    CREATE INDEX duties_org ON duties(organization_id);
    CREATE TABLE correspondence (
        id INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        date TEXT NOT NULL,
        organization_id INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
        channel TEXT NOT NULL CHECK (channel IN ('email', 'call', 'note')),
        subject TEXT NOT NULL DEFAULT '',
        snippet TEXT NOT NULL DEFAULT '',
        thread TEXT,
        people TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX correspondence_org_date ON correspondence(organization_id, date);
    CREATE TABLE correspondence_contacts (
        correspondence_id INTEGER NOT NULL REFERENCES correspondence(id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        PRIMARY KEY (correspondence_id, contact_id)
    );
    CREATE INDEX correspondence_contacts_contact ON correspondence_contacts(contact_id);
    CREATE TABLE events (
        calendar TEXT NOT NULL,
        key TEXT NOT NULL,
        duty_id INTEGER,
        duty_ids TEXT NOT NULL DEFAULT '[]',
        start TEXT NOT NULL,
        end TEXT NOT NULL,
        summary TEXT NOT NULL,
        description TEXT NOT NULL,
        reminder_minutes INTEGER NOT NULL,
        sequence INTEGER NOT NULL DEFAULT 0,
        stamp TEXT NOT NULL,
        live INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (calendar, key)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        payload TEXT NOT NULL,
        created TEXT NOT NULL,
        done TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox(target, done);
    CREATE TABLE cursors (
        source TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE job_runs (
        job TEXT PRIMARY KEY,
        last_run TEXT,
        last_ok TEXT,
        last_error TEXT
    );
    """,
    # 2: company feeds and what they said
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        configured_url TEXT NOT NULL,
        url TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('press', 'news', 'careers')),
        format TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_ok TEXT,
        next_poll TEXT,
        UNIQUE (organization_id, configured_url)
    );
    CREATE TABLE feed_items (
        id INTEGER PRIMARY KEY,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        feed_id INTEGER REFERENCES feeds(id) ON DELETE SET NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('press', 'news', 'opening')),
        title TEXT NOT NULL,
        link TEXT,
        summary TEXT NOT NULL DEFAULT '',
        location TEXT,
        department TEXT,
        published TEXT,
        first_seen TEXT NOT NULL,
        closed TEXT,
        UNIQUE (organization_id, key)
    );
    CREATE INDEX feed_items_org_seen ON feed_items(organization_id, first_seen);
    ALTER TABLE correspondence ADD COLUMN source_id TEXT;
    CREATE INDEX correspondence_source ON correspondence(source_id);
    """,
    # 3: which sent message fulfilled a duty, so it fulfils only one
    """
    ALTER TABLE duties ADD COLUMN evidence_message TEXT;
    """,
    # 4: the URL of the feed an item came from, once that feed left the config;
    # how often an event pursuit removed came back (Google keeps a deleted id taken)
    """
    ALTER TABLE feed_items ADD COLUMN removed_feed_url TEXT;
    ALTER TABLE events ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def to_db(moment: datetime) -> str:
    """Datetimes are stored in UTC, in one format, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _opt(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)


class Store:
    """The one SQLite database. Open with `Store.open(path)`; close when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None = None) -> None:
        self.db = connection
        self.path = path

    # --- opening and migrations

    @classmethod
    def open(cls, path: Path | str) -> Store:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            store = cls(db, path)
            store.migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot use the state database: {exc}") from None
        return store

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the state database has schema version {current}, newer than "
                f"this pursuit understands ({SCHEMA_VERSION}); upgrade pursuit to use it"
            )
        for number in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in _split_sql(MIGRATIONS[number - 1]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; nested uses join the outer one."""
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- organizations

    def _org(self, row: sqlite3.Row) -> Organization:
        domains = tuple(
            r[0]
            for r in self.db.execute(
                "SELECT domain FROM domains WHERE organization_id = ? ORDER BY domain", (row["id"],)
            )
        )
        return Organization(
            id=row["id"],
            name=row["name"],
            status=row["status"],
            status_changed=from_db(row["status_changed"]),
            domains=domains,
            positions=tuple(json.loads(row["positions"])),
            flag=row["flag"],
        )

    def organizations(self) -> list[Organization]:
        rows = self.db.execute("SELECT * FROM organizations ORDER BY name COLLATE NOCASE")
        return [self._org(row) for row in rows]

    def organization(self, org_id: int) -> Organization:
        row = self.db.execute("SELECT * FROM organizations WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise UserError(f"no organization with id {org_id}")
        return self._org(row)

    def find_organization(self, name: str) -> Organization:
        """By exact name, a domain, or a unique prefix of the name (case-insensitive)."""
        row = self.db.execute("SELECT * FROM organizations WHERE name = ?", (name,)).fetchone()
        if row is None:
            row = self.db.execute(
                "SELECT o.* FROM organizations o JOIN domains d ON d.organization_id = o.id "
                "WHERE d.domain = ?",
                (name.lower(),),
            ).fetchone()
        if row is None:
            rows = self.db.execute(
                "SELECT * FROM organizations WHERE name LIKE ? ESCAPE '\\' ORDER BY name",
                (_like_prefix(name),),
            ).fetchall()
            if len(rows) > 1:
                names = [r["name"] for r in rows]
                raise AmbiguousName(
                    name,
                    names,
                    f"organization {name!r} is ambiguous: it matches {', '.join(names)}",
                )
            row = rows[0] if rows else None
        if row is None:
            raise UserError(
                f"no organization named {name!r} (see `pursuit org list`, "
                f"or add it with `pursuit org add {name!r} --domain ...`)"
            )
        return self._org(row)

    def add_organization(
        self,
        name: str,
        domains: Iterable[str] = (),
        positions: Iterable[str] = (),
        *,
        now: datetime,
        from_config: bool = False,
    ) -> Organization:
        with self.transaction() as db:
            row = db.execute("SELECT id FROM organizations WHERE name = ?", (name,)).fetchone()
            if row is None:
                org_id = db.execute(
                    "INSERT INTO organizations (name, status_changed, positions, from_config) "
                    "VALUES (?, ?, ?, ?)",
                    (name, to_db(now), json.dumps(list(positions)), int(from_config)),
                ).lastrowid
            else:
                org_id = row["id"]
                if positions:
                    db.execute(
                        "UPDATE organizations SET positions = ? WHERE id = ?",
                        (json.dumps(list(positions)), org_id),
                    )
            for domain in domains:
                owner = db.execute(
                    "SELECT o.name FROM domains d JOIN organizations o ON o.id = d.organization_id "
                    "WHERE d.domain = ? AND o.id != ?",
                    (domain.lower(), org_id),
                ).fetchone()
                if owner is not None:
                    raise UserError(f"domain {domain} already belongs to {owner['name']}")
                db.execute(
                    "INSERT OR IGNORE INTO domains (domain, organization_id) VALUES (?, ?)",
                    (domain.lower(), org_id),
                )
            assert org_id is not None
            return self.organization(org_id)

    def set_organization_status(self, org_id: int, status: str, *, now: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE organizations SET status = ?, status_changed = ? "
                "WHERE id = ? AND status != ?",
                (status, to_db(now), org_id, status),
            )
            # Setting a status answers the flag, even a false alarm confirmed as active.
            db.execute("UPDATE organizations SET flag = NULL WHERE id = ?", (org_id,))

    def set_organization_flag(self, org_id: int, flag: str | None) -> None:
        self.db.execute("UPDATE organizations SET flag = ? WHERE id = ?", (flag, org_id))

    def forget_organization(self, org_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM organizations WHERE id = ?", (org_id,))

    def organization_for_domain(self, domain: str) -> int | None:
        """The organization owning this domain or a parent of it (mail.acme.com -> acme.com)."""
        parts = domain.lower().split(".")
        candidates = [".".join(parts[i:]) for i in range(len(parts) - 1)]
        if not candidates:
            return None
        marks = ",".join("?" * len(candidates))
        rows = self.db.execute(
            f"SELECT domain, organization_id FROM domains WHERE domain IN ({marks})", candidates
        ).fetchall()
        if not rows:
            return None
        return int(max(rows, key=lambda r: len(r["domain"]))["organization_id"])

    # --- contacts

    def _contacts(self, where: str, params: Sequence[Any]) -> list[Contact]:
        rows = self.db.execute(
            "SELECT c.id, c.name, c.role, c.organization_id, group_concat(a.address, ' ') AS addrs "
            f"FROM contacts c LEFT JOIN addresses a ON a.contact_id = c.id WHERE {where} "
            "GROUP BY c.id ORDER BY c.name COLLATE NOCASE, c.id",
            params,
        ).fetchall()
        return [
            Contact(
                id=r["id"],
                name=r["name"],
                addresses=tuple(sorted((r["addrs"] or "").split())),
                organization_id=r["organization_id"],
                role=r["role"],
            )
            for r in rows
        ]

    def contact(self, contact_id: int) -> Contact:
        found = self._contacts("c.id = ?", (contact_id,))
        if not found:
            raise UserError(f"no contact with id {contact_id}")
        return found[0]

    def contacts(self, organization_id: int | None = None) -> list[Contact]:
        if organization_id is None:
            return self._contacts("1", ())
        return self._contacts("c.organization_id = ?", (organization_id,))

    def contacts_by_id(self, ids: Iterable[int]) -> list[Contact]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return self._contacts(f"c.id IN ({','.join('?' * len(wanted))})", wanted)

    def contact_by_address(self, address: str) -> Contact | None:
        row = self.db.execute(
            "SELECT contact_id FROM addresses WHERE address = ?", (address.lower(),)
        ).fetchone()
        return None if row is None else self.contact(row[0])

    def find_contact(self, text: str) -> Contact:
        """By address, else by a unique case-insensitive match on the name."""
        if "@" in text:
            found = self.contact_by_address(text)
            if found is None:
                raise UserError(f"no contact with address {text!r} (see `pursuit status`)")
            return found
        matches = self._contacts("c.name = ? COLLATE NOCASE", (text,)) or self._contacts(
            "c.name LIKE ? ESCAPE '\\'", (f"%{_like_escape(text)}%",)
        )
        if not matches:
            raise UserError(f"no contact named {text!r}")
        if len(matches) > 1:
            names = [f"{c.name} <{c.address}>" for c in matches]
            raise AmbiguousName(
                text,
                names,
                f"contact {text!r} is ambiguous: it matches {', '.join(names)}; give the address",
            )
        return matches[0]

    def ensure_contact(
        self,
        address: str,
        name: str = "",
        organization_id: int | None = None,
        role: str | None = None,
    ) -> Contact:
        """The contact with this address, created (or its name filled in) as needed."""
        address = address.strip().lower()
        with self.transaction() as db:
            existing = self.contact_by_address(address)
            if existing is not None:
                if name and not existing.name:
                    db.execute("UPDATE contacts SET name = ? WHERE id = ?", (name, existing.id))
                if organization_id and existing.organization_id is None:
                    db.execute(
                        "UPDATE contacts SET organization_id = ? WHERE id = ?",
                        (organization_id, existing.id),
                    )
                if role and not existing.role:
                    db.execute("UPDATE contacts SET role = ? WHERE id = ?", (role, existing.id))
                return self.contact(existing.id)
            contact_id = db.execute(
                "INSERT INTO contacts (organization_id, name, role) VALUES (?, ?, ?)",
                (organization_id, name, role),
            ).lastrowid
            db.execute(
                "INSERT INTO addresses (address, contact_id) VALUES (?, ?)", (address, contact_id)
            )
            assert contact_id is not None
            return self.contact(contact_id)

    def forget_contact(self, contact_id: int) -> None:
        """Remove a person and every trace of them: their own records, their address."""
        addresses = set(self.contact(contact_id).addresses)
        with self.transaction() as db:
            db.execute(
                "DELETE FROM correspondence WHERE id IN (SELECT correspondence_id "
                "FROM correspondence_contacts GROUP BY correspondence_id "
                "HAVING count(*) = 1 AND max(contact_id) = ?)",
                (contact_id,),
            )
            for row in db.execute(
                "SELECT m.id, m.people FROM correspondence m JOIN correspondence_contacts c "
                "ON c.correspondence_id = m.id WHERE c.contact_id = ?",
                (contact_id,),
            ).fetchall():
                people = [p for p in json.loads(row["people"]) if p not in addresses]
                db.execute(
                    "UPDATE correspondence SET people = ? WHERE id = ?",
                    (json.dumps(people), row["id"]),
                )
            db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))

    # --- interviews

    def add_interview(
        self,
        organization_id: int,
        start: datetime,
        end: datetime,
        interviewers: Iterable[int],
        *,
        position: str | None = None,
        source: str = "cli",
        source_key: str | None = None,
    ) -> int:
        with self.transaction() as db:
            interview_id = db.execute(
                "INSERT INTO interviews "
                "(organization_id, position, start, end, source, source_key) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (organization_id, position, to_db(start), to_db(end), source, source_key),
            ).lastrowid
            assert interview_id is not None
            db.executemany(
                "INSERT OR IGNORE INTO interviewers (interview_id, contact_id) VALUES (?, ?)",
                [(interview_id, c) for c in interviewers],
            )
            return interview_id

    def interview_by_source(self, source_key: str) -> Interview | None:
        row = self.db.execute(
            "SELECT id FROM interviews WHERE source_key = ?", (source_key,)
        ).fetchone()
        return None if row is None else self.interview(row[0])

    def set_interview(
        self,
        interview_id: int,
        *,
        start: datetime,
        end: datetime,
        interviewers: Iterable[int],
        cancelled: bool = False,
    ) -> None:
        """An interview as its calendar event says now: times, people, not cancelled.

        Someone no longer invited stops being an interviewer (their duties are
        then cancelled by planning), unless the user wrote a note or a promise
        for them: what the user said is never dropped by a calendar edit.
        """
        people = list(interviewers)
        self.db.execute(
            "UPDATE interviews SET start = ?, end = ?, cancelled = ? WHERE id = ?",
            (to_db(start), to_db(end), int(cancelled), interview_id),
        )
        self.db.execute(
            "DELETE FROM interviewers WHERE interview_id = ? AND note IS NULL "
            f"AND promised IS NULL AND contact_id NOT IN ({','.join('?' * len(people))})",
            (interview_id, *people),
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO interviewers (interview_id, contact_id) VALUES (?, ?)",
            [(interview_id, c) for c in people],
        )

    def move_interview(self, interview_id: int, start: datetime, end: datetime) -> None:
        self.db.execute(
            "UPDATE interviews SET start = ?, end = ? WHERE id = ?",
            (to_db(start), to_db(end), interview_id),
        )

    def cancel_interview(self, interview_id: int) -> None:
        self.db.execute("UPDATE interviews SET cancelled = 1 WHERE id = ?", (interview_id,))

    def interviews(
        self,
        organization_id: int | None = None,
        *,
        include_cancelled: bool = True,
        interview_id: int | None = None,
    ) -> list[Interview]:
        clauses: list[str] = []
        params: list[Any] = []
        if interview_id is not None:
            clauses.append("i.id = ?")
            params.append(interview_id)
        if organization_id is not None:
            clauses.append("i.organization_id = ?")
            params.append(organization_id)
        if not include_cancelled:
            clauses.append("i.cancelled = 0")
        where = " AND ".join(clauses) or "1"
        rows = self.db.execute(
            f"SELECT i.* FROM interviews i WHERE {where} ORDER BY i.start, i.id", params
        ).fetchall()
        people: dict[int, list[Interviewer]] = {}
        links = self.db.execute(
            "SELECT x.* FROM interviewers x JOIN interviews i ON i.id = x.interview_id "
            f"WHERE {where} ORDER BY x.rowid",
            params,
        ).fetchall()
        contacts = {c.id: c for c in self.contacts_by_id(r["contact_id"] for r in links)}
        for r in links:
            people.setdefault(r["interview_id"], []).append(
                Interviewer(
                    contact=contacts[r["contact_id"]],
                    note=r["note"],
                    promised=date.fromisoformat(r["promised"]) if r["promised"] else None,
                )
            )
        return [
            Interview(
                id=r["id"],
                organization_id=r["organization_id"],
                position=r["position"],
                start=from_db(r["start"]),
                end=from_db(r["end"]),
                interviewers=tuple(people.get(r["id"], ())),
                source=r["source"],
                cancelled=bool(r["cancelled"]),
            )
            for r in rows
        ]

    def interview(self, interview_id: int) -> Interview:
        found = self.interviews(interview_id=interview_id)
        if not found:
            raise UserError(f"no interview with id {interview_id}")
        return found[0]

    def latest_interview_with(self, contact_id: int) -> int | None:
        row = self.db.execute(
            "SELECT i.id FROM interviews i JOIN interviewers x ON x.interview_id = i.id "
            "WHERE x.contact_id = ? AND i.cancelled = 0 ORDER BY i.start DESC LIMIT 1",
            (contact_id,),
        ).fetchone()
        return None if row is None else int(row[0])

    def set_interviewer(
        self,
        interview_id: int,
        contact_id: int,
        *,
        note: str | None = None,
        promised: date | None = None,
    ) -> None:
        if note is not None:
            self.db.execute(
                "UPDATE interviewers SET note = ? WHERE interview_id = ? AND contact_id = ?",
                (note, interview_id, contact_id),
            )
        if promised is not None:
            self.db.execute(
                "UPDATE interviewers SET promised = ? WHERE interview_id = ? AND contact_id = ?",
                (promised.isoformat(), interview_id, contact_id),
            )

    # --- duties

    def _duty(self, r: sqlite3.Row) -> Duty:
        return Duty(
            id=r["id"],
            key=r["key"],
            kind=r["kind"],
            organization_id=r["organization_id"],
            contact_id=r["contact_id"],
            interview_id=r["interview_id"],
            due=from_db(r["due"]),
            state=r["state"],
            done_at=_opt(r["done_at"]),
            evidence=r["evidence"],
            snoozed=bool(r["snoozed"]),
        )

    def duties(self, where: str = "1", params: Sequence[Any] = ()) -> list[Duty]:
        rows = self.db.execute(f"SELECT * FROM duties WHERE {where} ORDER BY due, id", params)
        return [self._duty(r) for r in rows]

    def duty(self, duty_id: int) -> Duty:
        found = self.duties("id = ?", (duty_id,))
        if not found:
            raise UserError(f"no duty with id {duty_id} (see `pursuit status`)")
        return found[0]

    def upsert_duty(
        self,
        key: str,
        kind: str,
        organization_id: int,
        contact_id: int | None,
        interview_id: int | None,
        due: datetime,
    ) -> None:
        """Create a duty, or move a pending one (unless the user snoozed it)."""
        self.db.execute(
            "INSERT INTO duties (key, kind, organization_id, contact_id, interview_id, due) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "due = CASE WHEN snoozed THEN due ELSE excluded.due END, "
            "state = CASE WHEN state = 'cancelled' THEN 'pending' ELSE state END",
            (key, kind, organization_id, contact_id, interview_id, to_db(due)),
        )

    def cancel_duties(self, keys: Iterable[str]) -> None:
        self.db.executemany(
            "UPDATE duties SET state = 'cancelled' WHERE key = ? AND state = 'pending'",
            [(k,) for k in keys],
        )

    def mark_done(
        self, duty_id: int, *, when: datetime, evidence: str, message_id: str | None = None
    ) -> bool:
        changed = self.db.execute(
            "UPDATE duties SET state = 'done', done_at = ?, evidence = ?, evidence_message = ? "
            "WHERE id = ? AND state = 'pending'",
            (to_db(when), evidence, message_id, duty_id),
        ).rowcount
        return bool(changed)

    def snooze(self, duty_id: int, to: datetime) -> None:
        self.db.execute(
            "UPDATE duties SET due = ?, snoozed = 1, "
            "state = CASE WHEN state = 'cancelled' THEN state ELSE 'pending' END WHERE id = ?",
            (to_db(to), duty_id),
        )

    # --- correspondence

    def log_correspondence(
        self,
        *,
        message_id: str,
        direction: str,
        when: datetime,
        channel: str,
        organization_id: int | None,
        contact_ids: Iterable[int],
        subject: str = "",
        snippet: str = "",
        thread: str | None = None,
        people: Iterable[str] = (),
        source_id: str | None = None,
    ) -> bool:
        """Log a message once; False when its message id was already logged."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO correspondence "
                "(message_id, direction, date, organization_id, "
                "channel, subject, snippet, thread, people, source_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    direction,
                    to_db(when),
                    organization_id,
                    channel,
                    subject,
                    snippet,
                    thread,
                    json.dumps(sorted(set(people))),
                    source_id,
                ),
            )
            if not cursor.rowcount:
                return False
            db.executemany(
                "INSERT OR IGNORE INTO correspondence_contacts VALUES (?, ?)",
                [(cursor.lastrowid, c) for c in set(contact_ids)],
            )
            return True

    def correspondence(
        self,
        *,
        organization_id: int | None = None,
        contact_id: int | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[Correspondence]:
        clauses: list[str] = []
        params: list[Any] = []
        if organization_id is not None:
            clauses.append("m.organization_id = ?")
            params.append(organization_id)
        if contact_id is not None:
            clauses.append(
                "m.id IN (SELECT correspondence_id FROM correspondence_contacts "
                "WHERE contact_id = ?)"
            )
            params.append(contact_id)
        if since is not None:
            clauses.append("m.date >= ?")
            params.append(to_db(since))
        where = " AND ".join(clauses) or "1"
        order = "DESC" if newest_first else "ASC"
        sql = (
            "SELECT m.*, (SELECT group_concat(contact_id) FROM correspondence_contacts cc "
            "WHERE cc.correspondence_id = m.id) AS contact_ids "
            f"FROM correspondence m WHERE {where} ORDER BY m.date {order}, m.id {order}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            Correspondence(
                id=r["id"],
                message_id=r["message_id"],
                direction=r["direction"],
                date=from_db(r["date"]),
                organization_id=r["organization_id"],
                channel=r["channel"],
                subject=r["subject"],
                snippet=r["snippet"],
                contact_ids=tuple(int(x) for x in (r["contact_ids"] or "").split(",") if x),
                people=tuple(json.loads(r["people"])),
                thread=r["thread"],
            )
            for r in self.db.execute(sql, params)
        ]

    # --- managed events: what pursuit last asked each calendar to hold

    def managed_events(self, calendar: str) -> dict[str, sqlite3.Row]:
        rows = self.db.execute("SELECT * FROM events WHERE calendar = ?", (calendar,))
        return {r["key"]: r for r in rows}

    def all_events(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM events WHERE live = 1 ORDER BY start, key").fetchall()

    def save_event(
        self,
        calendar: str,
        key: str,
        *,
        duty_ids: Sequence[int],
        start: datetime,
        end: datetime,
        summary: str,
        description: str,
        reminder_minutes: int,
        sequence: int,
        stamp: datetime,
        live: bool,
        generation: int = 0,
    ) -> None:
        self.db.execute(
            "INSERT INTO events (calendar, key, duty_id, duty_ids, start, end, summary, "
            "description, reminder_minutes, sequence, stamp, live, generation) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (calendar, key) DO UPDATE SET "
            "duty_id = excluded.duty_id, duty_ids = excluded.duty_ids, start = excluded.start, "
            "end = excluded.end, summary = excluded.summary, description = excluded.description, "
            "reminder_minutes = excluded.reminder_minutes, sequence = excluded.sequence, "
            "stamp = excluded.stamp, live = excluded.live, generation = excluded.generation",
            (
                calendar,
                key,
                duty_ids[0] if duty_ids else None,
                json.dumps(list(duty_ids)),
                to_db(start),
                to_db(end),
                summary,
                description,
                reminder_minutes,
                sequence,
                to_db(stamp),
                int(live),
                generation,
            ),
        )

    # --- cursors, job runs

    def cursor(self, source: str) -> str | None:
        row = self.db.execute("SELECT value FROM cursors WHERE source = ?", (source,)).fetchone()
        return None if row is None else str(row[0])

    def save_cursor(self, source: str, value: str | None, *, now: datetime) -> None:
        if value is None:
            self.db.execute("DELETE FROM cursors WHERE source = ?", (source,))
        else:
            self.db.execute(
                "INSERT INTO cursors (source, value, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET "
                "value = excluded.value, updated = excluded.updated",
                (source, value, to_db(now)),
            )

    def record_job_run(self, job: str, *, now: datetime, error: str | None) -> None:
        self.db.execute(
            "INSERT INTO job_runs (job, last_run, last_ok, last_error) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (job) DO UPDATE SET last_run = excluded.last_run, "
            "last_ok = COALESCE(excluded.last_ok, last_ok), last_error = excluded.last_error",
            (job, to_db(now), None if error else to_db(now), error),
        )

    def job_runs(self) -> dict[str, sqlite3.Row]:
        return {r["job"]: r for r in self.db.execute("SELECT * FROM job_runs")}

    # --- outbox

    def enqueue(
        self, key: str, action: str, target: str, payload: dict[str, Any], *, now: datetime
    ) -> bool:
        """Queue a side effect once; False when one with this key exists."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO outbox (key, action, target, payload, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, action, target, json.dumps(payload, sort_keys=True), to_db(now)),
        )
        return bool(cursor.rowcount)

    def pending_outbox(self, target: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM outbox WHERE target = ? AND done IS NULL ORDER BY id", (target,)
        ).fetchall()

    def outbox_done(self, entry_id: int, *, now: datetime) -> None:
        self.db.execute(
            "UPDATE outbox SET done = ?, last_error = NULL WHERE id = ?", (to_db(now), entry_id)
        )

    def outbox_failed(self, entry_id: int, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, entry_id),
        )

    # --- added for trustworthy records (issue 9); small, to be ported

    def reopen_duty(self, duty_id: int) -> bool:
        """A done duty pending again; the message that fulfilled it stays spent."""
        changed = self.db.execute(
            "UPDATE duties SET state = 'pending', done_at = NULL, evidence = NULL "
            "WHERE id = ? AND state = 'done'",
            (duty_id,),
        ).rowcount
        return bool(changed)

    def duty_by_key(self, key: str) -> Duty | None:
        row = self.db.execute("SELECT * FROM duties WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._duty(row)

    def clear_snooze(self, duty_id: int) -> None:
        """The planner decides the duty's time again."""
        self.db.execute("UPDATE duties SET snoozed = 0 WHERE id = ?", (duty_id,))

    def restore_interview(self, interview_id: int) -> None:
        self.db.execute("UPDATE interviews SET cancelled = 0 WHERE id = ?", (interview_id,))

    def has_events(self) -> bool:
        """True once any calendar event was ever planned in this database."""
        return self.db.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(text: str) -> str:
    return f"{_like_escape(text)}%"
