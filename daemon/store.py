"""The store: one SQLite database holding records, sync cursors and the outbox.

The schema has a version (SQLite's `user_version`) and numbered migrations, each
applied in one transaction. A database written by a newer pursuit is refused.
Every side effect is a row in `outbox`, keyed by what it is for, so a repeat
after a crash finds the row instead of acting twice.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import re
import shlex
import sqlite3
import time
import urllib.parse
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from pursuit.daemon.addresses import ascii_domain, natural_order, other_form
from pursuit.daemon.errors import (
    AmbiguousName,
    DamagedDatabase,
    DiskFull,
    StoreError,
    UserError,
)
from pursuit.daemon.files import make_private_dirs, not_followed
from pursuit.daemon.models import (
    Channel,
    Contact,
    Correspondence,
    Direction,
    DraftRecord,
    Duty,
    DutyKind,
    DutyState,
    Feed,
    FeedItem,
    FirstSync,
    GrantRefusal,
    Interview,
    Interviewer,
    JobRun,
    ManagedEvent,
    Membership,
    Note,
    NoteKind,
    Organization,
    OrgStatus,
    OtherInstall,
    OutboxEntry,
    WantedFeed,
    WatchedSet,
)
from pursuit.daemon.textsafety import one_line

#: The longest mail subject stored; the connectors cap it too, this is the last line.
MAX_SUBJECT = 998

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
    # 5: a person can belong to several organizations, and notes are a log.
    # contacts.organization_id is emptied (it is no longer read or written): its
    # ON DELETE CASCADE made forgetting one organization delete a shared recruiter
    # with their records at every other one.
    """
    CREATE TABLE contact_organizations (
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        role TEXT,
        since TEXT NOT NULL,
        PRIMARY KEY (contact_id, organization_id)
    );
    CREATE INDEX contact_organizations_org ON contact_organizations(organization_id);
    INSERT INTO contact_organizations (contact_id, organization_id, role, since)
        SELECT id, organization_id, role, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
        FROM contacts WHERE organization_id IS NOT NULL;
    UPDATE contacts SET organization_id = NULL;
    CREATE TABLE notes (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('note', 'promise', 'status')),
        text TEXT NOT NULL,
        created TEXT NOT NULL,
        organization_id INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
        contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
        interview_id INTEGER REFERENCES interviews(id) ON DELETE CASCADE
    );
    CREATE INDEX notes_org ON notes(organization_id);
    CREATE INDEX notes_contact ON notes(contact_id);
    INSERT INTO notes (kind, text, created, organization_id, contact_id, interview_id)
        SELECT 'note', x.note, i.start, i.organization_id, x.contact_id, x.interview_id
        FROM interviewers x JOIN interviews i ON i.id = x.interview_id
        WHERE x.note IS NOT NULL AND trim(x.note) != '';
    UPDATE interviewers SET note = NULL;
    """,
    # 6: a hostile world. A message is the same message only when its sender is
    # the same too (a stranger can reuse any Message-ID); no body text is kept;
    # subjects are bounded; items that could not be handled are counted per source.
    f"""
    ALTER TABLE correspondence ADD COLUMN sender TEXT;
    UPDATE correspondence SET snippet = '';
    UPDATE correspondence SET subject = substr(subject, 1, {MAX_SUBJECT})
        WHERE channel = 'email' AND length(subject) > {MAX_SUBJECT};
    CREATE TABLE skipped (
        source TEXT PRIMARY KEY,
        count INTEGER NOT NULL DEFAULT 0,
        last_item TEXT NOT NULL,
        last_error TEXT NOT NULL,
        last_at TEXT NOT NULL
    );
    """,
    # 7: accounts get a room of their own. What pursuit knows of each account (the
    # user's address there, the people and domains searched, a first sync under way,
    # a sign-in made or refused) was free-form cursor rows under several spellings;
    # it is one row per account now. The mail jobs of every provider are `mail`.
    """
    CREATE TABLE accounts (
        account TEXT PRIMARY KEY,
        address TEXT,
        watched TEXT,
        first_sync TEXT,
        granted TEXT,
        refused_since TEXT,
        refused_error TEXT,
        refused_token TEXT
    );
    INSERT INTO accounts (account) SELECT 'google' WHERE EXISTS (
        SELECT 1 FROM cursors WHERE source IN ('gmail:address', 'gmail:watched',
            'gmail:first-sync', 'grant_made:google', 'grant_refused:google', 'google:paused'));
    INSERT INTO accounts (account) SELECT 'imap' WHERE EXISTS (
        SELECT 1 FROM cursors WHERE source IN ('imap:address', 'imap:watched', 'imap:first-sync'));
    UPDATE accounts SET
        address = (SELECT value FROM cursors WHERE source = (CASE account
            WHEN 'google' THEN 'gmail' ELSE account END) || ':address'),
        watched = (SELECT value FROM cursors WHERE source = (CASE account
            WHEN 'google' THEN 'gmail' ELSE account END) || ':watched'),
        first_sync = (SELECT value FROM cursors WHERE source = (CASE account
            WHEN 'google' THEN 'gmail' ELSE account END) || ':first-sync'),
        granted = (SELECT value FROM cursors WHERE source = 'grant_made:' || account),
        refused_since = COALESCE(
            (SELECT json_extract(value, '$.since') FROM cursors
                WHERE source = 'grant_refused:' || account),
            (SELECT json_extract(value, '$.since') FROM cursors
                WHERE source = account || ':paused')),
        refused_error = COALESCE(
            (SELECT json_extract(value, '$.error') FROM cursors
                WHERE source = 'grant_refused:' || account),
            (SELECT json_extract(value, '$.error') FROM cursors
                WHERE source = account || ':paused')),
        refused_token = (SELECT json_extract(value, '$.token') FROM cursors
            WHERE source = account || ':paused');
    DELETE FROM cursors WHERE source IN ('gmail:address', 'gmail:watched', 'gmail:first-sync',
        'imap:address', 'imap:watched', 'imap:first-sync', 'grant_made:google',
        'grant_refused:google', 'google:paused');
    INSERT INTO job_runs (job, last_run, last_ok, last_error)
        SELECT 'mail', last_run, last_ok, last_error FROM job_runs
        WHERE job IN ('gmail', 'imap') ORDER BY last_run DESC LIMIT 1;
    DELETE FROM job_runs WHERE job IN ('gmail', 'imap');
    """,
    # 8: notes are private. A line the user gives for a thank-you is a kind of its
    # own (no note written before becomes one), and what pursuit wrote to each
    # mailbox draft is kept, so that a draft the user edited is never overwritten:
    # the drafts written before are what their outbox rows hold.
    """
    CREATE TABLE notes_8 (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('note', 'promise', 'status', 'thank_you')),
        text TEXT NOT NULL,
        created TEXT NOT NULL,
        organization_id INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
        contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
        interview_id INTEGER REFERENCES interviews(id) ON DELETE CASCADE
    );
    INSERT INTO notes_8 (id, kind, text, created, organization_id, contact_id, interview_id)
        SELECT id, kind, text, created, organization_id, contact_id, interview_id FROM notes;
    DROP TABLE notes;
    ALTER TABLE notes_8 RENAME TO notes;
    CREATE INDEX notes_org ON notes(organization_id);
    CREATE INDEX notes_contact ON notes(contact_id);
    CREATE TABLE drafts (
        duty_id INTEGER PRIMARY KEY REFERENCES duties(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        queued TEXT NOT NULL,
        written TEXT,
        left_alone TEXT CHECK (left_alone IN ('edited', 'deleted')),
        changed TEXT NOT NULL
    );
    INSERT INTO drafts (duty_id, version, queued, written, changed)
        SELECT d.id, 0, json_extract(o.payload, '$.raw'),
            CASE WHEN o.done IS NOT NULL THEN json_extract(o.payload, '$.raw') END,
            coalesce(o.done, o.created)
        FROM outbox o JOIN duties d ON o.key = 'draft:' || d.key
        WHERE o.target = 'drafts' AND json_extract(o.payload, '$.raw') IS NOT NULL;
    """,
    # 9: a promise made before notes were a log (schema 4 and older) is in the log,
    # dated by its interview, as `commit` writes one; a job's error says whether a
    # retry can mend it (a config or a password cannot), for `doctor`.
    """
    INSERT INTO notes (kind, text, created, organization_id, contact_id, interview_id)
        SELECT 'promise', 'follow up on ' || x.promised, i.start, i.organization_id,
            x.contact_id, x.interview_id
        FROM interviewers x JOIN interviews i ON i.id = x.interview_id
        WHERE x.promised IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM notes n WHERE n.kind = 'promise' AND n.contact_id = x.contact_id
            AND n.interview_id = x.interview_id);
    ALTER TABLE job_runs ADD COLUMN last_error_kind TEXT;
    """,
    # 10: where an interview takes place, as its invitation (or the user) says: the
    # place in words, the link to join it, and the invitation's own time zone when it
    # differs from the user's. Interviews stored before have none until their calendar
    # gives them again.
    """
    ALTER TABLE interviews ADD COLUMN location TEXT;
    ALTER TABLE interviews ADD COLUMN meeting_link TEXT;
    ALTER TABLE interviews ADD COLUMN zone TEXT;
    """,
    # 11: each calendar is read whole again once (its cursor forgotten, as when a sync
    # token expires), so that the interviews stored before 10 learn where they take
    # place without waiting for their invitation to change.
    """
    DELETE FROM cursors WHERE substr(source, 1, 9) = 'calendar:';
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

#: Copies of the database kept from before an upgrade (`NAME.v6.bak`), newest first.
KEPT_COPIES = 3

#: The cursor holding this database's install id.
INSTALL_ID = "install_id"

#: The cursors naming other installs seen: `{OTHER_INSTALL}{account}:{install id}`.
OTHER_INSTALL = "other install:"

INVALID_FORMAT = "invalid"  # the format stored for a feed whose configured URL is unusable

#: The cursors naming a source that came back empty: `{EMPTIED}{source}`.
EMPTIED = "emptied:"


@dataclass(frozen=True)
class EmptiedSource:
    """A source (`calendar:{id}`, `mail:{account}:{folder}`) that came back empty
    while pursuit held things from it: what it would have cancelled is kept until
    the user confirms (`confirmed`) or the source holds them again."""

    source: str
    count: int  # the interviews it would cancel, or the messages the folder held
    since: datetime
    confirmed: bool


class NewFeedItem(Protocol):
    """An item as a feed connector hands it over."""

    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def link(self) -> str | None: ...
    @property
    def summary(self) -> str: ...
    @property
    def location(self) -> str | None: ...
    @property
    def department(self) -> str | None: ...
    @property
    def published(self) -> datetime | None: ...


def to_db(moment: datetime) -> str:
    """Datetimes are stored in UTC, in one format, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def told(error: str, limit: int = 1000) -> str:
    """An error as the store keeps it: one clean line of at most `limit` characters (what
    failed is often a server's own text: an escape or a megabyte never reaches `doctor`)."""
    return one_line(error[: limit * 4])[:limit]


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _opt(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)


def private_file(path: Path) -> None:
    """Create `path` readable by its owner alone (0600, whatever the umask), or make an
    existing file so; SQLite gives its -wal and -shm files the database's mode."""
    try:
        if not os.stat(path).st_mode & 0o077:
            # Already private. Opening and closing it would drop every POSIX lock this
            # process's other connections hold on it (the service's threads each have
            # one), letting another program write at the same time: a corrupt file.
            return
    except OSError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # a read-only place: opening the database says what is wrong
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError:
        pass  # not the owner: the file stays as its owner made it
    finally:
        os.close(fd)


def _little_room(path: Path | None) -> bool:
    """True when the file system of `path` is (all but) full. SQLite says "disk I/O
    error", not "full", when its WAL or shared-memory file cannot grow."""
    if path is None or str(path) == ":memory:":
        return False
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1024 * 1024


# SQLite's result codes for a file that is not a sound database: SQLITE_CORRUPT ("database
# disk image is malformed") and SQLITE_NOTADB ("file is not a database").
_DAMAGE_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _is_damage(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _DAMAGE_CODES


def damaged(path: Path | None, why: str) -> DamagedDatabase:
    """The one line for a damaged database: the file, what SQLite found, and how to get
    the data back (SQLite's .recover into a new file; the copy kept before the last
    upgrade, when there is one)."""
    if path is None:
        return DamagedDatabase(f"the state database is damaged ({why})", "start anew")
    name = shlex.quote(path.name)
    fix = (
        "pursuit writes nothing more to it: stop pursuit, recover what it holds into a new "
        f"file (in {path.parent}: `sqlite3 {name} .recover | sqlite3 {name}.recovered`; "
        "where sqlite3 has no .recover, as Debian's, docs/SERVICE.md has the .dump way) "
        "and put that in its place"
    )
    copies = sorted(
        path.parent.glob(f"{glob.escape(path.name)}.v*.bak"),
        key=lambda copy: int(re.sub(r"\D", "", copy.name[len(path.name) :]) or 0),
    )
    if copies:
        fix += f", or use the copy kept before the last upgrade, {copies[-1].name}"
    why = " ".join(why.split())[:200]
    return DamagedDatabase(f"{path}: the state database is damaged ({why})", fix)


class _Cursor(sqlite3.Cursor):
    """A cursor that turns SQLite's word for a damaged file, wherever it comes (opening,
    a statement, a fetch several pages in), into `DamagedDatabase`, and marks the
    connection damaged: nothing more is written to it."""

    connection: _Connection

    def _damaged(self, exc: sqlite3.Error) -> DamagedDatabase | None:
        if not _is_damage(exc):
            return None
        found = damaged(self.connection.path, str(exc))
        self.connection.damage = found
        return found

    def execute(self, *args: Any) -> _Cursor:
        try:
            return super().execute(*args)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) or exc from None

    def executemany(self, *args: Any) -> _Cursor:
        try:
            return super().executemany(*args)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) or exc from None

    def executescript(self, *args: Any) -> _Cursor:
        try:
            super().executescript(*args)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) or exc from None
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) or exc from None

    def fetchmany(self, *args: Any) -> list[Any]:
        try:
            return super().fetchmany(*args)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) or exc from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) or exc from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) or exc from None


class _Connection(sqlite3.Connection):
    """pursuit's connection: its statements run on `_Cursor` (`execute` makes one)."""

    path: Path | None = None
    #: Set once the file was found damaged.
    damage: DamagedDatabase | None = None

    def cursor(self, *args: Any, **kwargs: Any) -> _Cursor:  # type: ignore[override]
        return super().cursor(_Cursor)

    # As sqlite3's own: a new cursor's, which C calls without looking `cursor` up.
    def execute(self, *args: Any) -> _Cursor:
        return self.cursor().execute(*args)

    def executemany(self, *args: Any) -> _Cursor:
        return self.cursor().executemany(*args)

    def executescript(self, *args: Any) -> _Cursor:
        return self.cursor().executescript(*args)


def _connect(
    target: Path | str, path: Path | None, busy_timeout: float, **options: Any
) -> _Connection:
    db = sqlite3.connect(
        target, isolation_level=None, timeout=busy_timeout, factory=_Connection, **options
    )
    assert isinstance(db, _Connection)
    db.path = path
    return db


_WRITABLE_FIX = (
    "give your user write access to it and its directory (chmod u+w), "
    "or set `database` in the config to a place you can write"
)


def _prepare_place(path: Path) -> str | None:
    """Make the database's directory; None when the database can be written there, else
    why it can only be read. A place where no database exists nor can be made raises
    StoreError, one line naming it and the fix."""
    folder = path.parent
    try:
        make_private_dirs(folder)
    except OSError as exc:
        in_the_way = isinstance(exc, FileExistsError | NotADirectoryError)
        reason = "a file is in the way" if in_the_way else (exc.strerror or str(exc)).lower()
        raise StoreError(
            f"{folder}: cannot make the directory of the state database ({reason}); "
            "make that place writable, or set `database` in the config to a place you can write"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        if not path.exists():
            raise StoreError(
                f"{folder}: cannot create the state database there (the directory is not "
                f"writable); {_WRITABLE_FIX}"
            )
        return f"its directory {folder} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is not writable"
    return None


class Store:
    """The one SQLite database. Open with `Store.open(path)`; close when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None = None) -> None:
        self._db = connection
        self.path = path
        self._savepoints = itertools.count()
        #: Why this database cannot be changed (None: it can); see `require_writable`.
        self.read_only: str | None = None
        self._intact = False  # `check_intact` found it so

    # --- opening and migrations

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = 30.0) -> Store:
        """Open (and create or migrate) the database; nothing else is written.

        `busy_timeout`: seconds a change waits for another program's change to
        finish. Reading never waits: the database is in WAL mode. A database the
        user cannot write (the file, or its directory) is opened read-only: every
        reading works, a change raises StoreError saying so.
        """
        path = Path(path)
        read_only: str | None = None
        if str(path) != ":memory:":
            read_only = _prepare_place(path)
            if read_only is None:
                private_file(path)
                for suffix in ("-wal", "-shm"):
                    companion = path.with_name(path.name + suffix)
                    if companion.is_symlink():  # SQLite refuses it, saying only "unable to open"
                        raise StoreError(not_followed(companion, "the database's " + suffix[1:]))
                    if companion.exists():
                        private_file(companion)  # left 0644 by an older pursuit
        # A new database opened by several processes at once: switching to WAL or
        # reading the schema can answer "locked" without waiting; try again a while.
        give_up = time.monotonic() + busy_timeout
        while True:
            try:
                if read_only is not None:
                    return cls._connect_read_only(path, busy_timeout, read_only)
                return cls._connect(path, busy_timeout)
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if "full" in str(exc) or ("disk I/O" in str(exc) and _little_room(path)):
                    raise DiskFull(
                        f"{path}: cannot open the state database: the disk is full; "
                        "free some space and run pursuit again"
                    ) from None
                if not busy or time.monotonic() > give_up:
                    raise StoreError(f"{path}: cannot use the state database: {exc}") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                if _is_damage(exc):
                    raise damaged(path, str(exc)) from None
                raise StoreError(f"{path}: cannot use the state database: {exc}") from None

    @classmethod
    def _connect(cls, path: Path, busy_timeout: float) -> Store:
        db = _connect(path, path, busy_timeout)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            store = cls(db, path)
            if 0 < store.version < SCHEMA_VERSION:  # an upgrade writes all through it
                store.check_intact()  # (even WAL mode is a write): never on a damaged file
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            store._migrate_raw()
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def _connect_read_only(cls, path: Path, busy_timeout: float, why: str) -> Store:
        """SQLite's read-only mode. A WAL database needs its -shm file, which a read-only
        directory cannot get: with no -wal file beside it every committed change is in
        the database file itself, which is then read as it is (`immutable`)."""
        uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
        try:
            return cls._open_uri(uri, path, busy_timeout, why)
        except sqlite3.OperationalError as exc:
            wal = path.with_name(path.name + "-wal")
            if "locked" in str(exc) or "busy" in str(exc) or wal.exists():
                raise
            return cls._open_uri(uri + "&immutable=1", path, busy_timeout, why)

    @classmethod
    def _open_uri(cls, uri: str, path: Path, busy_timeout: float, why: str) -> Store:
        db = _connect(uri, path, busy_timeout, uri=True)
        try:
            db.row_factory = sqlite3.Row
            store = cls(db, path)
            store.read_only = why
            current = store.version
            store._refuse_newer(current)
            if current != SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: the state database is read-only ({why}) and this pursuit must "
                    f"upgrade it first; {_WRITABLE_FIX}"
                )
        except BaseException:
            db.close()
            raise
        return store

    def require_writable(self) -> None:
        """Raise StoreError, one line naming the database and the fix, if it is read-only
        or was found damaged."""
        damage = getattr(self._db, "damage", None)
        if damage is not None:
            raise DamagedDatabase(damage.found, damage.fix)
        if self.read_only is not None:
            raise StoreError(
                f"{self.path}: the state database is read-only ({self.read_only}); "
                f"reading commands work, changes do not: {_WRITABLE_FIX}"
            )

    def _migrate_raw(self) -> None:
        """`migrate`, with a busy database's error left raw for `open` to retry."""
        try:
            self.migrate()
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, sqlite3.OperationalError):
                raise cause from None
            if "locked" in str(exc):
                raise sqlite3.OperationalError("database is locked") from None
            raise

    def close(self) -> None:
        self._db.close()

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        self._refuse_newer(self.version)
        if self.version == SCHEMA_VERSION:
            return
        # Several processes may open a new database at once: the version is read
        # again inside the write lock, so exactly one of them migrates.
        if self.version > 0 and self.path is not None:
            # Before the write lock: SQLite cannot copy a database its connection writes.
            self._keep_copy(self.path)
        with self.transaction():
            current = self.version
            self._refuse_newer(current)
            for number in range(current + 1, SCHEMA_VERSION + 1):
                with self.transaction():
                    for statement in _split_sql(MIGRATIONS[number - 1]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")

    def check_intact(self) -> None:
        """SQLite's `quick_check` of every page: raises DamagedDatabase (and nothing more
        is written to this database) when it fails. It reads the whole file: some 30 ms
        for 20,000 messages, 200 ms for 200,000 (docs/RELIABILITY.md); so once a process,
        before its first change."""
        if self._intact:
            return
        found = [str(row[0]) for row in self._db.execute("PRAGMA quick_check(1)")]
        if found != ["ok"]:
            damage = damaged(self.path, found[0] if found else "no answer")
            if isinstance(self._db, _Connection):
                self._db.damage = damage
            raise damage
        self._intact = True

    @staticmethod
    def _copy_path(path: Path, version: int) -> Path:
        return path.with_name(f"{path.name}.v{version}.bak")

    def _keep_copy(self, path: Path) -> None:
        """A copy of the database as it is before an upgrade (`NAME.v6.bak`, readable
        by the user alone), one consistent snapshot: a pursuit of that version can use it
        again. Another process that upgraded it meanwhile leaves nothing to keep. The
        newest few copies are kept."""
        partial = path.with_name(f"{path.name}.bak.partial")
        try:
            partial.unlink(missing_ok=True)  # a leftover, or a link: never written through
            private_file(partial)
            copy = sqlite3.connect(partial)
            try:
                self._db.backup(copy)
                version = int(copy.execute("PRAGMA user_version").fetchone()[0])
            finally:
                copy.close()
            if version >= SCHEMA_VERSION:
                partial.unlink()
                return
            os.replace(partial, self._copy_path(path, version))
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(
                f"{path}: not upgraded: no copy of it could be kept first ({exc})"
            ) from None
        except sqlite3.OperationalError as exc:
            partial.unlink(missing_ok=True)
            self._raise_storage_error(exc)
            raise
        numbered = re.compile(rf"{re.escape(path.name)}\.v(\d+)\.bak")
        copies = sorted(
            (int(found[1]), p)
            for p in path.parent.glob(f"{glob.escape(path.name)}.v*.bak")
            if (found := numbered.fullmatch(p.name))
        )
        for _, old in copies[:-KEPT_COPIES]:
            old.unlink(missing_ok=True)

    def _refuse_newer(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            copy = None if self.path is None else self._copy_path(self.path, SCHEMA_VERSION)
            kept = (
                f"; the copy kept before that upgrade, {copy}, is this pursuit's to use"
                if copy is not None and copy.exists()
                else ""
            )
            raise StoreError(
                f"{self.path}: the state database has schema version {current}, newer than "
                f"this pursuit understands ({SCHEMA_VERSION}); upgrade pursuit to use it{kept}"
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; a nested block is a savepoint, undone alone when it fails.

        A COMMIT that fails (a full disk, a deferred constraint) is rolled back,
        so the connection never stays inside a transaction later blocks would join.
        """
        self.require_writable()
        if self._db.in_transaction:
            name = f"nested_{next(self._savepoints)}"
            self._db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException as exc:
                # A full disk can make SQLite roll the whole transaction back itself.
                if self._db.in_transaction:
                    self._db.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    self._db.execute(f"RELEASE SAVEPOINT {name}")
                if isinstance(exc, sqlite3.OperationalError):
                    self._raise_storage_error(exc)
                raise
            self._db.execute(f"RELEASE SAVEPOINT {name}")
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"{self.path}: the state database is locked by another program; try again"
                ) from None
            raise
        try:
            try:
                yield
            except sqlite3.OperationalError as exc:
                self._raise_storage_error(exc)
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._raise_storage_error(exc)
                raise StoreError(f"{self.path}: the change could not be saved: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: the change could not be saved: {exc}") from exc
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _raise_storage_error(self, exc: sqlite3.OperationalError) -> None:
        """A storage fault as one clear line: where, and what to do; other errors as they are.

        Nothing is lost: the transaction is undone and its work is done again
        once the fault is gone (cursors move only with what they cover).
        """
        text = str(exc)
        if "full" in text or ("disk I/O" in text and _little_room(self.path)):
            raise DiskFull(
                f"{self.path}: the disk is full; nothing was lost: free some space "
                "and pursuit picks up where it stopped"
            ) from exc
        if "locked" in text or "busy" in text:
            raise StoreError(
                f"{self.path}: the state database is locked by another program; try again"
            ) from exc
        if "readonly" in text or "read-only" in text or "disk I/O" in text:
            raise StoreError(
                f"{self.path}: cannot write the state database ({text}); check the disk "
                "and the permissions of its directory"
            ) from exc

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One change, in the current transaction or a transaction of its own."""
        with self.transaction():
            return self._db.execute(sql, params)

    def _write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        with self.transaction():
            return self._db.executemany(sql, rows)

    # --- organizations

    def _org(self, row: sqlite3.Row) -> Organization:
        domains = tuple(
            r[0]
            for r in self._db.execute(
                "SELECT domain FROM domains WHERE organization_id = ? ORDER BY domain", (row["id"],)
            )
        )
        return Organization(
            id=row["id"],
            name=row["name"],
            status=OrgStatus(row["status"]),
            status_changed=from_db(row["status_changed"]),
            domains=domains,
            positions=tuple(json.loads(row["positions"])),
            flag=row["flag"],
        )

    def organizations(self) -> list[Organization]:
        rows = self._db.execute("SELECT * FROM organizations ORDER BY name COLLATE NOCASE")
        return sorted((self._org(row) for row in rows), key=lambda o: natural_key(o.name))

    def organization_names(self) -> dict[int, str]:
        """Every organization's name by its id, in one read (for a page naming many rows)."""
        rows = self._db.execute("SELECT id, name FROM organizations")
        return {int(r[0]): str(r[1]) for r in rows}

    def organization(self, org_id: int) -> Organization:
        row = self._db.execute("SELECT * FROM organizations WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise UserError(f"no organization with id {org_id}")
        return self._org(row)

    def find_organization(self, name: str) -> Organization:
        """By exact name, a domain, or a unique prefix of the name (case-insensitive)."""
        row = self._db.execute("SELECT * FROM organizations WHERE name = ?", (name,)).fetchone()
        if row is None:
            # a domain in either form: münchen.de or xn--mnchen-3ya.de
            other = (other_form(f"x@{name.lower()}") or "").partition("@")[2]
            row = self._db.execute(
                "SELECT o.* FROM organizations o JOIN domains d ON d.organization_id = o.id "
                "WHERE d.domain IN (?, ?)",
                (name.lower(), other or name.lower()),
            ).fetchone()
        if row is None:
            rows = self._db.execute(
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
        with self.transaction():
            row = self._db.execute(
                "SELECT id FROM organizations WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                org_id = self._db.execute(
                    "INSERT INTO organizations (name, status_changed, positions, from_config) "
                    "VALUES (?, ?, ?, ?)",
                    (name, to_db(now), json.dumps(list(positions)), int(from_config)),
                ).lastrowid
            else:
                org_id = row["id"]
                positions = list(positions)
                if positions and not from_config:
                    # The user adds positions; the ones already recorded stay.
                    known = self.organization(org_id).positions
                    positions = [*known, *(p for p in positions if p not in known)]
                if positions:
                    self._db.execute(
                        "UPDATE organizations SET positions = ? WHERE id = ?",
                        (json.dumps(positions), org_id),
                    )
            for domain in domains:
                owner = self._db.execute(
                    "SELECT o.name FROM domains d JOIN organizations o ON o.id = d.organization_id "
                    "WHERE d.domain = ? AND o.id != ?",
                    (domain.lower(), org_id),
                ).fetchone()
                if owner is not None:
                    raise UserError(f"domain {domain} already belongs to {owner['name']}")
                self._db.execute(
                    "INSERT OR IGNORE INTO domains (domain, organization_id) VALUES (?, ?)",
                    (domain.lower(), org_id),
                )
            assert org_id is not None
            return self.organization(org_id)

    def set_organization_status(self, org_id: int, status: OrgStatus, *, now: datetime) -> None:
        with self.transaction():
            changed = self._db.execute(
                "UPDATE organizations SET status = ?, status_changed = ? "
                "WHERE id = ? AND status != ?",
                (status, to_db(now), org_id, status),
            ).rowcount
            if changed:  # the log keeps every status the organization had, with its day
                self.add_note(NoteKind.STATUS, str(status), now=now, organization_id=org_id)
            # Setting a status answers the flag, even a false alarm confirmed as active.
            self._db.execute("UPDATE organizations SET flag = NULL WHERE id = ?", (org_id,))

    def set_organization_flag(self, org_id: int, flag: str | None) -> None:
        self._write("UPDATE organizations SET flag = ? WHERE id = ?", (flag, org_id))

    def forget_organization(self, org_id: int) -> None:
        """Remove an organization with its records and its people's ties to it.

        A person who also belongs elsewhere stays, with their records there; one
        left with no organization and nothing recorded goes.
        """
        with self.transaction():
            people = [
                int(r[0])
                for r in self._db.execute(
                    "SELECT contact_id FROM contact_organizations WHERE organization_id = ?",
                    (org_id,),
                )
            ]
            self._db.execute("DELETE FROM organizations WHERE id = ?", (org_id,))
            for contact_id in people:
                if not self._has_records(contact_id):
                    self._db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))

    def _has_records(self, contact_id: int) -> bool:
        row = self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM contact_organizations WHERE contact_id = :c) "
            "OR EXISTS (SELECT 1 FROM interviewers WHERE contact_id = :c) "
            "OR EXISTS (SELECT 1 FROM correspondence_contacts WHERE contact_id = :c) "
            "OR EXISTS (SELECT 1 FROM duties WHERE contact_id = :c) "
            "OR EXISTS (SELECT 1 FROM notes WHERE contact_id = :c)",
            {"c": contact_id},
        ).fetchone()
        return bool(row[0])

    def organization_for_domain(self, domain: str) -> int | None:
        """The organization owning this domain or a parent of it (mail.acme.com -> acme.com)."""
        parts = domain.lower().split(".")
        candidates = [".".join(parts[i:]) for i in range(len(parts) - 1)]
        if not candidates:
            return None
        marks = ",".join("?" * len(candidates))
        rows = self._db.execute(
            f"SELECT domain, organization_id FROM domains WHERE domain IN ({marks})", candidates
        ).fetchall()
        if not rows:
            return None
        return int(max(rows, key=lambda r: len(r["domain"]))["organization_id"])

    def domains(self) -> dict[str, int]:
        """Every tracked domain and the organization it belongs to."""
        rows = self._db.execute("SELECT domain, organization_id FROM domains")
        return {str(r[0]): int(r[1]) for r in rows}

    # --- contacts

    def _contacts(self, where: str, params: Sequence[Any]) -> list[Contact]:
        rows = self._db.execute(
            "SELECT c.id, c.name, c.role, group_concat(a.address, ' ') AS addrs "
            f"FROM contacts c LEFT JOIN addresses a ON a.contact_id = c.id WHERE {where} "
            "GROUP BY c.id ORDER BY c.name COLLATE NOCASE, c.id",
            params,
        ).fetchall()
        ids = [r["id"] for r in rows]
        ties: dict[int, list[Membership]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for link in self._db.execute(
                "SELECT contact_id, organization_id, role, since FROM contact_organizations "
                f"WHERE contact_id IN ({','.join('?' * len(chunk))}) ORDER BY since, rowid",
                chunk,
            ):
                ties.setdefault(link["contact_id"], []).append(
                    Membership(link["organization_id"], link["role"], from_db(link["since"]))
                )
        contacts = []
        for r in rows:
            memberships = tuple(ties.get(r["id"], ()))
            first = memberships[0] if memberships else None
            contacts.append(
                Contact(
                    id=r["id"],
                    name=r["name"],
                    addresses=tuple(sorted((r["addrs"] or "").split())),
                    organization_id=first.organization_id if first else None,
                    role=(first.role if first else None) or r["role"],
                    memberships=memberships,
                )
            )
        return contacts

    def contact(self, contact_id: int) -> Contact:
        found = self._contacts("c.id = ?", (contact_id,))
        if not found:
            raise UserError(f"no contact with id {contact_id}")
        return found[0]

    def contacts(self, organization_id: int | None = None) -> list[Contact]:
        if organization_id is None:
            return self._contacts("1", ())
        return self._contacts(
            "c.id IN (SELECT contact_id FROM contact_organizations WHERE organization_id = ?)",
            (organization_id,),
        )

    def contacts_by_id(self, ids: Iterable[int]) -> list[Contact]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return self._contacts(f"c.id IN ({','.join('?' * len(wanted))})", wanted)

    def contact_by_address(self, address: str) -> Contact | None:
        row = self._db.execute(
            "SELECT contact_id FROM addresses WHERE address = ?", (address.lower(),)
        ).fetchone()
        return None if row is None else self.contact(row[0])

    def find_contact(self, text: str) -> Contact:
        """The person a command names; every command finds people through this.

        An address in any case and either form of its domain (jörg@bücher.de or
        jörg@xn--bcher-kva.de), else a name in any case (Unicode too), else a unique
        part of a name. A name matching several people is `AmbiguousName`.
        """
        wanted = text.strip()
        if "@" in wanted:
            address = wanted.lower()
            found = self.contact_by_address(address)
            other = other_form(address)
            if found is None and other is not None:
                found = self.contact_by_address(other)
            if found is None:
                raise UserError(
                    f"no contact with address {text!r} "
                    + _add_hint(f"{address} --org {self._org_of(address)}")
                )
            return found
        folded = wanted.casefold()
        named = self._contacts("c.name != ''", ()) if folded else []
        # "Sean O'Brien" finds the "O'Brien, Sean" an Outlook invitation gave.
        forms = {c.id: (c.name.casefold(), natural_order(c.name).casefold()) for c in named}
        matches = [c for c in named if folded in forms[c.id]] or [
            c for c in named if any(folded in form for form in forms[c.id])
        ]
        if not matches:
            raise UserError(
                f"no contact named {text!r} "
                + _add_hint(f'"{wanted} <ADDRESS>" --org ORGANIZATION')
            )
        if len(matches) > 1:
            names = [f"{c.name} <{c.address}>" for c in matches]
            raise AmbiguousName(
                text,
                names,
                f"contact {text!r} is ambiguous: it matches {', '.join(names)}; give the address",
            )
        return matches[0]

    def _org_of(self, address: str) -> str:
        """The tracked organization an address's domain belongs to, as a command takes
        it (ORGANIZATION when none): for a hint."""
        domain = address.rpartition("@")[2]
        tracked: dict[str, int] = {}
        for known, owner in self.domains().items():
            with suppress(ValueError):
                tracked[ascii_domain(known)] = owner
        with suppress(ValueError):
            labels = ascii_domain(domain).split(".")
            for start in range(len(labels) - 1):
                org_id = tracked.get(".".join(labels[start:]))
                if org_id is not None:
                    name = self.organization(org_id).name
                    return f'"{name}"' if any(c.isspace() for c in name) else name
        return "ORGANIZATION"

    def ensure_contact(
        self,
        address: str,
        name: str = "",
        organization_id: int | None = None,
        role: str | None = None,
    ) -> Contact:
        """The contact with this address, created (or its name filled in) as needed."""
        address = address.strip().lower()
        with self.transaction():
            existing = self.contact_by_address(address)
            if existing is not None:
                if name and not existing.name:
                    self._db.execute(
                        "UPDATE contacts SET name = ? WHERE id = ?", (name, existing.id)
                    )
                if role and not existing.role:
                    self._db.execute(
                        "UPDATE contacts SET role = ? WHERE id = ?", (role, existing.id)
                    )
                contact_id: int | None = existing.id
            else:
                contact_id = self._db.execute(
                    "INSERT INTO contacts (name, role) VALUES (?, ?)", (name, role)
                ).lastrowid
                self._db.execute(
                    "INSERT INTO addresses (address, contact_id) VALUES (?, ?)",
                    (address, contact_id),
                )
            assert contact_id is not None
            if organization_id:
                self.link_contact(contact_id, organization_id, role=role)
            return self.contact(contact_id)

    def link_contact(
        self,
        contact_id: int,
        organization_id: int,
        *,
        role: str | None = None,
        since: datetime | None = None,
    ) -> bool:
        """The person belongs to this organization too (a role given fills an empty one).

        Returns False when they already did."""
        with self.transaction():
            added = self._db.execute(
                "INSERT OR IGNORE INTO contact_organizations "
                "(contact_id, organization_id, role, since) VALUES (?, ?, ?, ?)",
                (contact_id, organization_id, role, to_db(since or datetime.now(UTC))),
            ).rowcount
            if role:
                self._db.execute(
                    "UPDATE contact_organizations SET role = ? "
                    "WHERE contact_id = ? AND organization_id = ? AND role IS NULL",
                    (role, contact_id, organization_id),
                )
            return bool(added)

    def rename_contact(self, contact_id: int, name: str) -> None:
        self._write("UPDATE contacts SET name = ? WHERE id = ?", (name, contact_id))

    def add_address(self, contact_id: int, address: str) -> None:
        """Another address of the same person; an address is one person's only."""
        address = address.strip().lower()
        with self.transaction():
            owner = self.contact_by_address(address)
            if owner is not None and owner.id != contact_id:
                raise UserError(f"{address} already belongs to {owner.display}")
            self._db.execute(
                "INSERT OR IGNORE INTO addresses (address, contact_id) VALUES (?, ?)",
                (address, contact_id),
            )

    def latest_organization_of(self, contact_id: int) -> int | None:
        """Of a person's organizations, the one of their latest interview or message."""
        row = self._db.execute(
            "SELECT organization_id FROM ("
            "  SELECT i.organization_id, i.start AS at FROM interviews i "
            "  JOIN interviewers x ON x.interview_id = i.id "
            "  WHERE x.contact_id = :c AND i.cancelled = 0 "
            "  UNION ALL SELECT m.organization_id, m.date FROM correspondence m "
            "  JOIN correspondence_contacts cc ON cc.correspondence_id = m.id "
            "  WHERE cc.contact_id = :c AND m.organization_id IS NOT NULL"
            ") WHERE organization_id IN "
            "(SELECT organization_id FROM contact_organizations WHERE contact_id = :c) "
            "ORDER BY at DESC LIMIT 1",
            {"c": contact_id},
        ).fetchone()
        if row is not None:
            return int(row[0])
        return self.contact(contact_id).organization_id

    def latest_activity(self) -> dict[int, int]:
        """For every person in several organizations: the organization of their latest
        interview or message (what the matcher falls back on)."""
        rows = self._db.execute(
            "SELECT contact_id FROM contact_organizations GROUP BY contact_id HAVING count(*) > 1"
        ).fetchall()
        found: dict[int, int] = {}
        for r in rows:
            org = self.latest_organization_of(int(r[0]))
            if org is not None:
                found[int(r[0])] = org
        return found

    def forget_contact(self, contact_id: int) -> None:
        """Remove a person and every trace of them: their own records, their address."""
        addresses = set(self.contact(contact_id).addresses)
        with self.transaction():
            self._db.execute(
                "DELETE FROM correspondence WHERE id IN (SELECT correspondence_id "
                "FROM correspondence_contacts GROUP BY correspondence_id "
                "HAVING count(*) = 1 AND max(contact_id) = ?)",
                (contact_id,),
            )
            for row in self._db.execute(
                "SELECT m.id, m.people FROM correspondence m JOIN correspondence_contacts c "
                "ON c.correspondence_id = m.id WHERE c.contact_id = ?",
                (contact_id,),
            ).fetchall():
                people = [p for p in json.loads(row["people"]) if p not in addresses]
                self._db.execute(
                    "UPDATE correspondence SET people = ? WHERE id = ?",
                    (json.dumps(people), row["id"]),
                )
            self._db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))

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
        location: str | None = None,
        meeting_link: str | None = None,
        zone: str | None = None,
    ) -> int:
        with self.transaction():
            interview_id = self._db.execute(
                "INSERT INTO interviews (organization_id, position, start, end, source, "
                "source_key, location, meeting_link, zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    organization_id,
                    position,
                    to_db(start),
                    to_db(end),
                    source,
                    source_key,
                    location,
                    meeting_link,
                    zone,
                ),
            ).lastrowid
            assert interview_id is not None
            self._db.executemany(
                "INSERT OR IGNORE INTO interviewers (interview_id, contact_id) VALUES (?, ?)",
                [(interview_id, c) for c in interviewers],
            )
            return interview_id

    def interview_by_source(self, source_key: str) -> Interview | None:
        row = self._db.execute(
            "SELECT id FROM interviews WHERE source_key = ?", (source_key,)
        ).fetchone()
        return None if row is None else self.interview(row[0])

    def interviews_by_source(self, prefix: str) -> dict[str, Interview]:
        """{source key: interview} of the interviews whose source key starts with `prefix`."""
        rows = self._db.execute(
            "SELECT source_key, id FROM interviews WHERE substr(source_key, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchall()
        found = {str(key): self.interview(interview_id) for key, interview_id in rows}
        return {key: interview for key, interview in found.items() if interview is not None}

    def set_interview(
        self,
        interview_id: int,
        *,
        start: datetime,
        end: datetime,
        interviewers: Iterable[int],
        cancelled: bool = False,
        location: str | None = None,
        meeting_link: str | None = None,
        zone: str | None = None,
    ) -> None:
        """An interview as its calendar event says now: times, people, where, not
        cancelled.

        Someone no longer invited stops being an interviewer (their duties are
        then cancelled by planning), unless the user wrote a note or a promise
        for them: what the user said is never dropped by a calendar edit.
        """
        people = list(interviewers)
        with self.transaction():
            self._db.execute(
                "UPDATE interviews SET start = ?, end = ?, cancelled = ?, location = ?, "
                "meeting_link = ?, zone = ? WHERE id = ?",
                (
                    to_db(start),
                    to_db(end),
                    int(cancelled),
                    location,
                    meeting_link,
                    zone,
                    interview_id,
                ),
            )
            self._db.execute(
                "DELETE FROM interviewers WHERE interview_id = ? AND note IS NULL "
                "AND promised IS NULL AND NOT EXISTS (SELECT 1 FROM notes n WHERE "
                "n.interview_id = interviewers.interview_id "
                "AND n.contact_id = interviewers.contact_id) "
                f"AND contact_id NOT IN ({','.join('?' * len(people))})",
                (interview_id, *people),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO interviewers (interview_id, contact_id) VALUES (?, ?)",
                [(interview_id, c) for c in people],
            )

    def move_interview(self, interview_id: int, start: datetime, end: datetime) -> None:
        self._write(
            "UPDATE interviews SET start = ?, end = ? WHERE id = ?",
            (to_db(start), to_db(end), interview_id),
        )

    def cancel_interview(self, interview_id: int) -> None:
        self._write("UPDATE interviews SET cancelled = 1 WHERE id = ?", (interview_id,))

    def interviews(
        self,
        organization_id: int | None = None,
        *,
        include_cancelled: bool = True,
        interview_id: int | None = None,
        starts_from: datetime | None = None,
        starts_before: datetime | None = None,
    ) -> list[Interview]:
        clauses: list[str] = []
        params: list[Any] = []
        for bound, op in ((starts_from, ">="), (starts_before, "<")):
            if bound is not None:
                clauses.append(f"i.start {op} ?")
                params.append(to_db(bound))
        if interview_id is not None:
            clauses.append("i.id = ?")
            params.append(interview_id)
        if organization_id is not None:
            clauses.append("i.organization_id = ?")
            params.append(organization_id)
        if not include_cancelled:
            clauses.append("i.cancelled = 0")
        where = " AND ".join(clauses) or "1"
        rows = self._db.execute(
            f"SELECT i.* FROM interviews i WHERE {where} ORDER BY i.start, i.id", params
        ).fetchall()
        people: dict[int, list[Interviewer]] = {}
        links = self._db.execute(
            "SELECT x.* FROM interviewers x JOIN interviews i ON i.id = x.interview_id "
            f"WHERE {where} ORDER BY x.rowid",
            params,
        ).fetchall()
        contacts = {c.id: c for c in self.contacts_by_id(r["contact_id"] for r in links)}
        notes: dict[tuple[int, int], list[str]] = {}
        thank_you: dict[tuple[int, int], str] = {}
        for n in self._db.execute(
            "SELECT n.interview_id, n.contact_id, n.kind, n.text FROM notes n "
            "JOIN interviews i ON i.id = n.interview_id "
            f"WHERE n.kind IN ('note', 'thank_you') AND n.contact_id IS NOT NULL AND {where} "
            "ORDER BY n.created, n.id",
            params,
        ):
            person = (n["interview_id"], n["contact_id"])
            if n["kind"] == NoteKind.THANK_YOU:
                thank_you[person] = n["text"]  # the latest counts
            else:
                notes.setdefault(person, []).append(n["text"])
        for r in links:
            person = (r["interview_id"], r["contact_id"])
            people.setdefault(r["interview_id"], []).append(
                Interviewer(
                    contact=contacts[r["contact_id"]],
                    notes=tuple(notes.get(person, ())),
                    promised=date.fromisoformat(r["promised"]) if r["promised"] else None,
                    thank_you=thank_you.get(person),
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
                location=r["location"],
                meeting_link=r["meeting_link"],
                zone=r["zone"],
            )
            for r in rows
        ]

    def interview(self, interview_id: int) -> Interview:
        found = self.interviews(interview_id=interview_id)
        if not found:
            raise UserError(f"no interview with id {interview_id}")
        return found[0]

    def latest_interview_with(
        self, contact_id: int, organization_id: int | None = None
    ) -> int | None:
        where = _Where()
        where.add("x.contact_id = ? AND i.cancelled = 0", contact_id)
        where.equal("i.organization_id", organization_id)
        row = self._db.execute(
            "SELECT i.id FROM interviews i JOIN interviewers x ON x.interview_id = i.id "
            f"WHERE {where} ORDER BY i.start DESC LIMIT 1",
            where.params,
        ).fetchone()
        return None if row is None else int(row[0])

    def interview_counts(self) -> dict[int, tuple[int, datetime]]:
        """For each organization: its interviews not cancelled, and the latest start."""
        rows = self._db.execute(
            "SELECT organization_id, count(*), max(start) FROM interviews "
            "WHERE cancelled = 0 GROUP BY organization_id"
        )
        return {int(r[0]): (int(r[1]), from_db(r[2])) for r in rows}

    def interview_summary(
        self, now: datetime
    ) -> dict[int, tuple[int, datetime | None, datetime | None]]:
        """For each organization: its interviews not cancelled, the latest that has
        started by `now` and the first still to come."""
        rows = self._db.execute(
            "SELECT organization_id, count(*), max(start) FILTER (WHERE start <= ?), "
            "min(start) FILTER (WHERE start > ?) FROM interviews "
            "WHERE cancelled = 0 GROUP BY organization_id",
            (to_db(now), to_db(now)),
        )
        return {int(r[0]): (int(r[1]), _opt(r[2]), _opt(r[3])) for r in rows}

    def set_interviewer(
        self,
        interview_id: int,
        contact_id: int,
        *,
        note: str | None = None,
        promised: date | None = None,
        now: datetime | None = None,
        note_kind: NoteKind = NoteKind.NOTE,
    ) -> None:
        """Add a note (of `note_kind`) to the log of this person at this interview, or
        set the promised day."""
        when = now or datetime.now(UTC)
        with self.transaction():
            org_id = self.interview(interview_id).organization_id
            if note is not None:
                self.add_note(
                    note_kind,
                    note,
                    now=when,
                    organization_id=org_id,
                    contact_id=contact_id,
                    interview_id=interview_id,
                )
            if promised is not None:
                self._db.execute(
                    "UPDATE interviewers SET promised = ? "
                    "WHERE interview_id = ? AND contact_id = ?",
                    (promised.isoformat(), interview_id, contact_id),
                )
                self.add_note(
                    NoteKind.PROMISE,
                    f"follow up on {promised.isoformat()}",
                    now=when,
                    organization_id=org_id,
                    contact_id=contact_id,
                    interview_id=interview_id,
                )

    def add_interviewer(self, interview_id: int, contact_id: int) -> bool:
        """Someone joins an interview; False when they were already in it."""
        return bool(
            self._write(
                "INSERT OR IGNORE INTO interviewers (interview_id, contact_id) VALUES (?, ?)",
                (interview_id, contact_id),
            ).rowcount
        )

    def remove_interviewer(self, interview_id: int, contact_id: int) -> bool:
        """Someone was not in the interview after all (their notes there go with them)."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM notes WHERE interview_id = ? AND contact_id = ?",
                (interview_id, contact_id),
            )
            return bool(
                self._db.execute(
                    "DELETE FROM interviewers WHERE interview_id = ? AND contact_id = ?",
                    (interview_id, contact_id),
                ).rowcount
            )

    # --- the user's log: notes, promises, status changes

    def add_note(
        self,
        kind: NoteKind,
        text: str,
        *,
        now: datetime,
        organization_id: int | None = None,
        contact_id: int | None = None,
        interview_id: int | None = None,
    ) -> int:
        note_id = self._write(
            "INSERT INTO notes (kind, text, created, organization_id, contact_id, interview_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kind, text, to_db(now), organization_id, contact_id, interview_id),
        ).lastrowid
        assert note_id is not None
        return note_id

    def notes(
        self,
        *,
        organization: int | None = None,
        contact: int | None = None,
        kinds: Collection[NoteKind] | None = None,
    ) -> list[Note]:
        """The log, oldest first, filtered by every keyword given."""
        where = _Where()
        where.equal("organization_id", organization)
        where.equal("contact_id", contact)
        where.one_of("kind", kinds)
        rows = self._db.execute(
            f"SELECT * FROM notes WHERE {where} ORDER BY created, id", where.params
        )
        return [
            Note(
                id=r["id"],
                kind=NoteKind(r["kind"]),
                text=r["text"],
                created=from_db(r["created"]),
                organization_id=r["organization_id"],
                contact_id=r["contact_id"],
                interview_id=r["interview_id"],
            )
            for r in rows
        ]

    # --- duties

    def _duty(self, r: sqlite3.Row) -> Duty:
        return Duty(
            id=r["id"],
            key=r["key"],
            kind=DutyKind(r["kind"]),
            organization_id=r["organization_id"],
            contact_id=r["contact_id"],
            interview_id=r["interview_id"],
            due=from_db(r["due"]),
            state=DutyState(r["state"]),
            done_at=_opt(r["done_at"]),
            evidence=r["evidence"],
            snoozed=bool(r["snoozed"]),
        )

    def duties(
        self,
        *,
        state: DutyState | Collection[DutyState] | None = None,
        kinds: Collection[DutyKind] | None = None,
        organization: int | None = None,
        contact: int | None = None,
        interview: int | None = None,
        after_interview: bool | None = None,
        due_before: datetime | None = None,
        due_from: datetime | None = None,
        done_from: datetime | None = None,
        limit: int | None = None,
    ) -> list[Duty]:
        """Duties by due time (then id), filtered by every keyword given.

        `state` is the stored state (pending, done, cancelled) or a collection of
        them; `after_interview` keeps only duties tied (True) or not tied (False)
        to an interview; `done_from`, those done then or later.
        """
        where = _Where()
        where.one_of("state", [state] if isinstance(state, str) else state)
        where.one_of("kind", kinds)
        where.equal("organization_id", organization)
        where.equal("contact_id", contact)
        where.equal("interview_id", interview)
        if after_interview is not None:
            where.add(f"interview_id IS {'NOT ' if after_interview else ''}NULL")
        if due_before is not None:
            where.add("due < ?", to_db(due_before))
        if due_from is not None:
            where.add("due >= ?", to_db(due_from))
        if done_from is not None:
            where.add("done_at >= ?", to_db(done_from))
        rows = self._db.execute(
            f"SELECT * FROM duties WHERE {where} ORDER BY due, id{_limit(limit)}", where.params
        )
        return [self._duty(r) for r in rows]

    def quiet_organizations(
        self, now: datetime, *, limit: int | None = None
    ) -> list[tuple[int, datetime, datetime | None]]:
        """Active organizations gone quiet: the latest follow-up due before `now` (done or
        pending) and nothing exchanged with them since. For each, longest quiet first:
        its id, that due time, and its last exchange (None: never any)."""
        rows = self._db.execute(
            "SELECT o.id, f.due, (SELECT max(m.date) FROM correspondence m "
            "WHERE m.organization_id = o.id) AS last FROM organizations o "
            "JOIN (SELECT organization_id, max(due) AS due FROM duties "
            "WHERE kind = 'follow_up' AND state IN ('pending', 'done') AND due < ? "
            "GROUP BY organization_id) f ON f.organization_id = o.id "
            "WHERE o.status = 'active' AND NOT EXISTS (SELECT 1 FROM correspondence m "
            "WHERE m.organization_id = o.id AND m.date >= f.due) "
            f"ORDER BY f.due, o.id{_limit(limit)}",
            (to_db(now),),
        )
        return [(int(r[0]), from_db(r[1]), _opt(r[2])) for r in rows]

    def duty(self, duty_id: int) -> Duty:
        row = self._db.execute("SELECT * FROM duties WHERE id = ?", (duty_id,)).fetchone()
        if row is None:
            raise UserError(f"no duty with id {duty_id} (see `pursuit status`)")
        return self._duty(row)

    def pending_counts(self, now: datetime) -> tuple[int, int]:
        """How many pending duties are overdue at `now`, and how many there are in all."""
        overdue, pending = self._db.execute(
            "SELECT count(*) FILTER (WHERE due < ?), count(*) FROM duties WHERE state = 'pending'",
            (to_db(now),),
        ).fetchone()
        return int(overdue), int(pending)

    def pending_by_organization(self) -> dict[int, int]:
        rows = self._db.execute(
            "SELECT organization_id, count(*) FROM duties WHERE state = 'pending' "
            "GROUP BY organization_id"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    def next_pending_duties(self) -> dict[int, Duty]:
        """Each organization's next pending duty (the soonest due, then the first made),
        for those that have one: a page of all organizations reads no more."""
        rows = self._db.execute(
            "SELECT d.* FROM duties d JOIN (SELECT organization_id, min(due) AS due "
            "FROM duties WHERE state = 'pending' GROUP BY organization_id) n "
            "ON n.organization_id = d.organization_id AND n.due = d.due "
            "WHERE d.state = 'pending' ORDER BY d.due, d.id"
        )
        found: dict[int, Duty] = {}
        for row in rows:
            found.setdefault(row["organization_id"], self._duty(row))
        return found

    def evidence_messages(self) -> set[str]:
        """The sent messages that already fulfilled a duty (each fulfils only one)."""
        rows = self._db.execute(
            "SELECT evidence_message FROM duties WHERE evidence_message IS NOT NULL"
        )
        return {str(r[0]) for r in rows}

    def upsert_duty(
        self,
        key: str,
        kind: DutyKind,
        organization_id: int,
        contact_id: int | None,
        interview_id: int | None,
        due: datetime,
    ) -> None:
        """Create a duty, or move a pending one (unless the user snoozed it)."""
        self._write(
            "INSERT INTO duties (key, kind, organization_id, contact_id, interview_id, due) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "due = CASE WHEN snoozed THEN due ELSE excluded.due END, "
            "state = CASE WHEN state = 'cancelled' THEN 'pending' ELSE state END",
            (key, kind, organization_id, contact_id, interview_id, to_db(due)),
        )

    def cancel_duties(self, keys: Iterable[str]) -> None:
        self._write_many(
            "UPDATE duties SET state = 'cancelled' WHERE key = ? AND state = 'pending'",
            [(k,) for k in keys],
        )

    def mark_done(
        self, duty_id: int, *, when: datetime, evidence: str, message_id: str | None = None
    ) -> bool:
        changed = self._write(
            "UPDATE duties SET state = 'done', done_at = ?, evidence = ?, evidence_message = ? "
            "WHERE id = ? AND state = 'pending'",
            (to_db(when), evidence, message_id, duty_id),
        ).rowcount
        return bool(changed)

    def snooze(self, duty_id: int, to: datetime) -> None:
        self._write(
            "UPDATE duties SET due = ?, snoozed = 1, "
            "state = CASE WHEN state = 'cancelled' THEN state ELSE 'pending' END WHERE id = ?",
            (to_db(to), duty_id),
        )

    # --- correspondence

    def log_correspondence(
        self,
        *,
        message_id: str,
        direction: Direction,
        when: datetime,
        channel: Channel,
        organization_id: int | None,
        contact_ids: Iterable[int],
        subject: str = "",
        thread: str | None = None,
        people: Iterable[str] = (),
        source_id: str | None = None,
        sender: str | None = None,
    ) -> bool:
        """Log a message once; False when this message was already logged.

        A message is known by its Message-ID and its `sender` together: anyone
        can send mail reusing the Message-ID of a real message, and the stranger's
        message is then logged beside the real one (under `<id>#2`), never over it
        or instead of it. No body text is stored.
        """
        if channel == Channel.EMAIL:
            subject = subject[:MAX_SUBJECT]
        sender = sender.casefold() if sender else sender
        with self.transaction():
            stored_id = self._message_identity(message_id, sender)
            if stored_id is None:
                return False
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO correspondence "
                "(message_id, direction, date, organization_id, "
                "channel, subject, thread, people, source_id, sender) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stored_id,
                    direction,
                    to_db(when),
                    organization_id,
                    channel,
                    subject,
                    thread,
                    json.dumps(sorted(set(people))),
                    source_id,
                    sender,
                ),
            )
            if not cursor.rowcount:
                return False
            self._db.executemany(
                "INSERT OR IGNORE INTO correspondence_contacts VALUES (?, ?)",
                [(cursor.lastrowid, c) for c in set(contact_ids)],
            )
            return True

    def logged_source_ids(self) -> frozenset[str]:
        """The mailbox ids of the messages logged: what a resumed search skips."""
        rows = self._db.execute("SELECT source_id FROM correspondence WHERE source_id IS NOT NULL")
        return frozenset(str(r[0]) for r in rows)

    def _message_identity(self, message_id: str, sender: str | None) -> str | None:
        """The id to store a message under, or None when it is logged already.

        Rows from before senders were kept (sender NULL) match any sender, as before.
        """
        rows = self._db.execute(
            "SELECT message_id, sender FROM correspondence "
            "WHERE message_id = ? OR message_id LIKE ? ESCAPE '\\'",
            (message_id, _like_escape(message_id) + "#%"),
        ).fetchall()
        if not rows:
            return message_id
        if any(r["sender"] is None or sender is None or r["sender"] == sender for r in rows):
            return None
        return f"{message_id}#{len(rows) + 1}"

    def is_logged(self, message_id: str, sender: str | None) -> bool:
        """Whether the message with this Message-ID from this sender is in the log."""
        return self._message_identity(message_id, sender.casefold() if sender else None) is None

    def settle_message_id(self, message_id: str, senders: Collection[str]) -> None:
        """Give the records of one Message-ID logged by one sync (from `senders`) its
        names in the order the messages say they were sent (then by sender): the real
        message, sent before anyone could copy its id, keeps the bare id whichever the
        mailbox listed first, as it does when the copy comes in a later sync. Records of
        earlier syncs keep theirs. (A copy forging an earlier Date wins only in one sync.)"""
        wanted = {s.casefold() for s in senders}
        rows = [
            r
            for r in self._db.execute(
                "SELECT id, message_id, sender, date FROM correspondence "
                "WHERE message_id = ? OR message_id LIKE ? ESCAPE '\\'",
                (message_id, _like_escape(message_id) + "#%"),
            )
            if r["sender"] in wanted
        ]
        names = sorted((r["message_id"] for r in rows), key=lambda n: (n != message_id, len(n), n))
        order = sorted(rows, key=lambda r: (r["date"], r["sender"]))
        with self.transaction():
            for r in rows:  # out of the way first: the names are unique
                self._db.execute(
                    "UPDATE correspondence SET message_id = ? WHERE id = ?",
                    (f"{message_id}#settling{r['id']}", r["id"]),
                )
            for name, r in zip(names, order, strict=True):
                self._db.execute(
                    "UPDATE correspondence SET message_id = ? WHERE id = ?", (name, r["id"])
                )

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
                direction=Direction(r["direction"]),
                date=from_db(r["date"]),
                organization_id=r["organization_id"],
                channel=Channel(r["channel"]),
                subject=r["subject"],
                snippet=r["snippet"],
                contact_ids=tuple(int(x) for x in (r["contact_ids"] or "").split(",") if x),
                people=tuple(json.loads(r["people"])),
                thread=r["thread"],
            )
            for r in self._db.execute(sql, params)
        ]

    def count_correspondence(
        self, *, contact_id: int | None = None, organization_id: int | None = None
    ) -> int:
        """How many messages and calls with this person, or about this organization, are
        logged (a page shows the last few of them and says how many more there are)."""
        if organization_id is not None:
            row = self._db.execute(
                "SELECT count(*) FROM correspondence WHERE organization_id = ?", (organization_id,)
            ).fetchone()
            return int(row[0])
        row = self._db.execute(
            "SELECT count(*) FROM correspondence_contacts WHERE contact_id = ?", (contact_id,)
        ).fetchone()
        return int(row[0])

    # --- managed events: what pursuit last asked each calendar to hold

    def managed_events(self, calendar: str) -> dict[str, ManagedEvent]:
        rows = self._db.execute("SELECT * FROM events WHERE calendar = ?", (calendar,))
        return {r["key"]: _event(r) for r in rows}

    def all_events(self) -> list[ManagedEvent]:
        """The events every calendar should hold now, by start."""
        rows = self._db.execute("SELECT * FROM events WHERE live = 1 ORDER BY start, key")
        return [_event(r) for r in rows]

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
        self._write(
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

    # --- company feeds and what they said

    def set_feeds(self, wanted: Iterable[WantedFeed]) -> None:
        """Feed rows follow the config; items of a removed feed stay, with its URL."""
        with self.transaction():
            keep: set[tuple[int, str]] = set()
            for feed in wanted:
                keep.add((feed.organization_id, feed.configured_url))
                if feed.error is not None:
                    # Kept as a stopped feed with its error, so `pursuit doctor` lists it.
                    self._db.execute(
                        "INSERT INTO feeds (organization_id, configured_url, url, kind, format, "
                        "active, last_error) VALUES (?, ?, ?, ?, ?, 0, ?) "
                        "ON CONFLICT (organization_id, configured_url) DO UPDATE "
                        "SET kind = excluded.kind, format = excluded.format, url = excluded.url, "
                        "active = 0, last_error = excluded.last_error",
                        (
                            feed.organization_id,
                            feed.configured_url,
                            feed.url,
                            feed.kind,
                            INVALID_FORMAT,
                            feed.error,
                        ),
                    )
                    continue
                self._db.execute(
                    "INSERT INTO feeds (organization_id, configured_url, url, kind, format) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (organization_id, configured_url) "
                    "DO UPDATE SET kind = excluded.kind, format = excluded.format, "
                    # A new resolution of the configured URL wins over a remembered redirect
                    # only when the user changed the format; otherwise keep where it moved to.
                    "url = CASE WHEN feeds.format = excluded.format THEN feeds.url "
                    "ELSE excluded.url END, "
                    # A feed the user fixed (kind or format) is polled again.
                    f"active = CASE WHEN feeds.format = '{INVALID_FORMAT}' "
                    "THEN 1 ELSE feeds.active END, "
                    f"last_error = CASE WHEN feeds.format = '{INVALID_FORMAT}' THEN NULL "
                    "ELSE feeds.last_error END",
                    (feed.organization_id, feed.configured_url, feed.url, feed.kind, feed.format),
                )
            rows = self._db.execute("SELECT id, organization_id, configured_url FROM feeds")
            for row in rows.fetchall():
                if (row["organization_id"], row["configured_url"]) not in keep:
                    self._db.execute(
                        "UPDATE feed_items SET removed_feed_url = ? WHERE feed_id = ?",
                        (row["configured_url"], row["id"]),
                    )
                    self._db.execute("DELETE FROM feeds WHERE id = ?", (row["id"],))

    def feeds(
        self, *, active: bool | None = None, due_by: datetime | None = None, failing: bool = False
    ) -> list[Feed]:
        """Feeds in the order they were added; `failing` ones by organization and URL.

        `due_by`: only feeds whose next poll is at or before that moment (or never set).
        """
        where = _Where()
        if active is not None:
            where.add("f.active = ?", int(active))
        if due_by is not None:
            where.add("(f.next_poll IS NULL OR f.next_poll <= ?)", to_db(due_by))
        if failing:
            where.add("f.last_error IS NOT NULL")
        order = "o.name, f.configured_url" if failing else "f.id"
        rows = self._db.execute(
            "SELECT f.*, o.name AS organization FROM feeds f "
            f"JOIN organizations o ON o.id = f.organization_id WHERE {where} ORDER BY {order}",
            where.params,
        )
        return [
            Feed(
                id=r["id"],
                organization_id=r["organization_id"],
                organization=r["organization"],
                configured_url=r["configured_url"],
                url=r["url"],
                kind=r["kind"],
                format=r["format"],
                etag=r["etag"],
                last_modified=r["last_modified"],
                active=bool(r["active"]),
                failures=r["failures"],
                last_error=r["last_error"],
                last_ok=_opt(r["last_ok"]),
                next_poll=_opt(r["next_poll"]),
            )
            for r in rows
        ]

    def save_feed_items(
        self,
        feed: Feed,
        items: Iterable[NewFeedItem],
        *,
        now: datetime,
        complete_listing: bool = False,
        keep: int | None = None,
        skip: Callable[[NewFeedItem, Exception], None] | None = None,
    ) -> tuple[int, int]:
        """Store a feed's items once each; with a complete listing, close the openings
        no longer in it. Returns (new items, openings closed).

        `keep`: the feed then holds only its newest `keep` items, so a feed that
        invents new items every poll cannot grow the store without bound.
        `skip`: called with an item that cannot be stored, which is left out
        (without it, the error stops the whole feed).
        """
        new = closed = 0
        seen: list[str] = []
        items = list(items)
        stamp = to_db(now)
        with self.transaction():
            try:
                # All the items in one savepoint; only when one of them cannot be
                # stored are they stored again one savepoint each, to leave out that one.
                with self.transaction():
                    new = sum(self._save_feed_item(feed, item, stamp) for item in items)
                seen = [item.key for item in items]
            except StoreError:
                raise
            except Exception:
                if skip is None:
                    raise
                new = 0
                for item in items:
                    try:
                        with self.transaction():
                            new += self._save_feed_item(feed, item, stamp)
                    except Exception as exc:
                        if isinstance(exc, StoreError):
                            raise
                        skip(item, exc)
                        continue
                    seen.append(item.key)
            if complete_listing:
                marks = ",".join("?" * len(seen)) or "''"
                closed = self._db.execute(
                    "UPDATE feed_items SET closed = ? WHERE feed_id = ? AND kind = 'opening' "
                    f"AND closed IS NULL AND key NOT IN ({marks})",
                    (to_db(now), feed.id, *seen),
                ).rowcount
            if keep is not None:
                self._db.execute(
                    "DELETE FROM feed_items WHERE feed_id = ? AND id NOT IN "
                    "(SELECT id FROM feed_items WHERE feed_id = ? "
                    "ORDER BY COALESCE(published, first_seen) DESC, id DESC LIMIT ?)",
                    (feed.id, feed.id, keep),
                )
        return new, closed

    def _save_feed_item(self, feed: Feed, item: NewFeedItem, stamp: str) -> int:
        """One item, inserted or refreshed; 1 when it is new (`stamp`: now, as stored)."""
        cursor = self._db.execute(
            "INSERT INTO feed_items (organization_id, feed_id, key, kind, title, link, "
            "summary, location, department, published, first_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (organization_id, key) DO UPDATE SET "
            "feed_id = excluded.feed_id, title = excluded.title, link = excluded.link, "
            "summary = excluded.summary, location = excluded.location, "
            "department = excluded.department, closed = NULL "
            "RETURNING first_seen",
            (
                feed.organization_id,
                feed.id,
                item.key,
                item.kind,
                item.title,
                item.link,
                item.summary,
                item.location,
                item.department,
                to_db(item.published) if item.published else None,
                stamp,
            ),
        )
        return int(cursor.fetchone()[0] == stamp)

    def feed_answered(
        self,
        feed_id: int,
        *,
        etag: str | None,
        last_modified: str | None,
        moved_to: str | None,
        now: datetime,
        next_poll: datetime,
    ) -> None:
        """A poll went well: its cursor, its new address if it moved, no error."""
        self._write(
            "UPDATE feeds SET etag = ?, last_modified = ?, url = COALESCE(?, url), failures = 0, "
            "last_error = NULL, last_ok = ?, next_poll = ? WHERE id = ?",
            (etag, last_modified, moved_to, to_db(now), to_db(next_poll), feed_id),
        )

    def move_feed_polls(self, seconds: float, *, after: datetime) -> int:
        """Move every feed poll planned after `after` by `seconds`: the service's answer
        to a wall clock that went back (those polls were planned on a clock that was ahead)."""
        return self._write(
            "UPDATE feeds SET next_poll = strftime('%Y-%m-%dT%H:%M:%S+00:00', next_poll, ?) "
            "WHERE next_poll > ?",
            (f"{seconds:+.0f} seconds", to_db(after)),
        ).rowcount

    def feed_failed(
        self, feed_id: int, *, failures: int, error: str, next_poll: datetime, active: bool
    ) -> None:
        self._write(
            "UPDATE feeds SET failures = ?, last_error = ?, next_poll = ?, active = ? WHERE id = ?",
            (failures, told(error), to_db(next_poll), int(active), feed_id),
        )

    def feed_items(
        self,
        *,
        organization: int | None = None,
        kinds: Collection[str] = ("press", "news", "opening"),
        since: datetime | None = None,
        open_only: bool = False,
        closed_since: datetime | None = None,
        limit: int | None = None,
    ) -> list[FeedItem]:
        """Items newest first (by publication, else by when first seen); at most `limit`.
        `since`: first seen then or later; `closed_since`: closed then or later."""
        where = _Where()
        where.one_of("i.kind", kinds)
        where.equal("i.organization_id", organization)
        if since is not None:
            where.add("i.first_seen >= ?", to_db(since))
        if closed_since is not None:
            where.add("i.closed >= ?", to_db(closed_since))
        if open_only:
            where.add("i.closed IS NULL")
        rows = self._db.execute(
            "SELECT i.*, o.name AS organization, "
            "COALESCE(f.configured_url, i.removed_feed_url) AS feed_url "
            "FROM feed_items i JOIN organizations o ON o.id = i.organization_id "
            "LEFT JOIN feeds f ON f.id = i.feed_id "
            f"WHERE {where} ORDER BY COALESCE(i.published, i.first_seen) DESC, i.id DESC"
            + _limit(limit),
            where.params,
        )
        return [
            FeedItem(
                id=r["id"],
                organization_id=r["organization_id"],
                organization=r["organization"],
                feed_url=r["feed_url"],
                key=r["key"],
                kind=r["kind"],
                title=r["title"],
                link=r["link"],
                summary=r["summary"],
                location=r["location"],
                department=r["department"],
                published=_opt(r["published"]),
                first_seen=from_db(r["first_seen"]),
                closed=_opt(r["closed"]),
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """Rows in each table: for tests, benchmarks and curious users."""
        tables = [
            r[0]
            for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            t: int(self._db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables
        }

    # --- items skipped because they could not be handled

    def record_skipped(self, source: str, item: str, error: str, *, now: datetime) -> None:
        """Count one item a job skipped, and remember it, for `pursuit doctor`."""
        self._write(
            "INSERT INTO skipped (source, count, last_item, last_error, last_at) "
            "VALUES (?, 1, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
            "count = count + 1, last_item = excluded.last_item, "
            "last_error = excluded.last_error, last_at = excluded.last_at",
            (source, told(item, 300), told(error, 500), to_db(now)),
        )

    def skipped(self) -> list[SkippedItems]:
        """Per source, how many items were skipped and the last one, by source."""
        return [
            SkippedItems(
                source=r["source"],
                count=r["count"],
                last_item=r["last_item"],
                last_error=r["last_error"],
                last_at=from_db(r["last_at"]),
            )
            for r in self._db.execute("SELECT * FROM skipped ORDER BY source")
        ]

    # --- cursors, job runs

    def cursor(self, source: str) -> str | None:
        row = self._db.execute("SELECT value FROM cursors WHERE source = ?", (source,)).fetchone()
        return None if row is None else str(row[0])

    def save_cursor(self, source: str, value: str | None, *, now: datetime) -> None:
        if value is None:
            self._write("DELETE FROM cursors WHERE source = ?", (source,))
        else:
            self._write(
                "INSERT INTO cursors (source, value, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET "
                "value = excluded.value, updated = excluded.updated",
                (source, value, to_db(now)),
            )

    def record_job_run(
        self, job: str, *, now: datetime, error: str | None, error_kind: str | None = None
    ) -> None:
        """A run of a job: its error, and the error's kind (`ErrorKind`), if it failed;
        nothing on a damaged database (nothing is written to it: the log has the failure)."""
        if getattr(self._db, "damage", None) is not None:
            return
        if error:  # a crash's text can be a server's own (an exception pursuit did not expect)
            error = told(error)
        self._write(
            "INSERT INTO job_runs (job, last_run, last_ok, last_error, last_error_kind) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (job) DO UPDATE SET last_run = excluded.last_run, "
            "last_ok = COALESCE(excluded.last_ok, last_ok), last_error = excluded.last_error, "
            "last_error_kind = excluded.last_error_kind",
            (job, to_db(now), None if error else to_db(now), error, error_kind if error else None),
        )

    def data_version(self) -> int:
        """A number that changes when another connection (a command the user typed)
        committed a change since this one last asked; the service replans then."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def job_runs(self) -> dict[str, JobRun]:
        return {
            r["job"]: JobRun(
                job=r["job"],
                last_run=_opt(r["last_run"]),
                last_ok=_opt(r["last_ok"]),
                last_error=r["last_error"],
                last_error_kind=r["last_error_kind"],
            )
            for r in self._db.execute("SELECT * FROM job_runs")
        }

    # --- outbox

    def enqueue(
        self, key: str, action: str, target: str, payload: dict[str, Any], *, now: datetime
    ) -> bool:
        """Queue a side effect once; False when one with this key exists."""
        cursor = self._write(
            "INSERT OR IGNORE INTO outbox (key, action, target, payload, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, action, target, json.dumps(payload, sort_keys=True), to_db(now)),
        )
        return bool(cursor.rowcount)

    def pending_outbox(self, target: str) -> list[OutboxEntry]:
        """What is queued for a target and not yet done, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE target = ? AND done IS NULL ORDER BY id", (target,)
        )
        return [_outbox_entry(r) for r in rows]

    def drop_pending(self, target: str) -> int:
        """Forget what is queued for a target and not yet done; returns how many."""
        return self._write(
            "DELETE FROM outbox WHERE target = ? AND done IS NULL", (target,)
        ).rowcount

    def outbox_done(self, entry_id: int, *, now: datetime) -> None:
        self._write(
            "UPDATE outbox SET done = ?, last_error = NULL WHERE id = ?", (to_db(now), entry_id)
        )

    def outbox_failed(self, entry_id: int, error: str) -> None:
        self._write(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (told(error), entry_id),
        )

    # --- the thank-you drafts in the mailbox: what was queued, written, left alone

    def draft_record(self, duty_id: int) -> DraftRecord | None:
        row = self._db.execute("SELECT * FROM drafts WHERE duty_id = ?", (duty_id,)).fetchone()
        if row is None:
            return None
        return DraftRecord(
            duty_id=row["duty_id"],
            version=row["version"],
            queued=str(row["queued"]).encode(),
            written=None if row["written"] is None else str(row["written"]).encode(),
            left_alone=row["left_alone"],
            changed=from_db(row["changed"]),
        )

    def record_draft_queued(self, duty_id: int, version: int, raw: bytes, *, now: datetime) -> None:
        self._write(
            "INSERT INTO drafts (duty_id, version, queued, changed) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (duty_id) DO UPDATE SET version = excluded.version, "
            "queued = excluded.queued, changed = excluded.changed",
            (duty_id, version, raw.decode(), to_db(now)),
        )

    def record_draft_written(self, duty_id: int, raw: bytes, *, now: datetime) -> None:
        self._write(
            "UPDATE drafts SET written = ?, changed = ? WHERE duty_id = ?",
            (raw.decode(), to_db(now), duty_id),
        )

    def record_draft_left_alone(self, duty_id: int, why: str, *, now: datetime) -> None:
        """The user edited or deleted the draft: pursuit never touches it again."""
        self._write(
            "UPDATE drafts SET left_alone = ?, changed = ? WHERE duty_id = ?",
            (why, to_db(now), duty_id),
        )

    # --- other pursuit installs seen in the accounts this one uses

    def record_other_install(
        self, account: str, install_id: str, seen_in: str, *, now: datetime
    ) -> bool:
        """Note that another install (`install_id`, "" when it is from before install
        ids) leaves things in `account`, as `seen_in` shows; True the first time it
        is seen there in `seen_in`, when it is worth a line in the log."""
        source = f"{OTHER_INSTALL}{account}:{install_id}"
        with self.transaction():
            known = self.cursor(source)
            record = json.loads(known) if known else {"seen_in": [], "first_seen": to_db(now)}
            new = seen_in not in record["seen_in"]
            record["seen_in"] = sorted({*record["seen_in"], seen_in})
            self.save_cursor(source, json.dumps(record), now=now)
        return new

    def other_installs(self) -> list[OtherInstall]:
        """Every other install seen, by account and id."""
        rows = self._db.execute(
            "SELECT source, value, updated FROM cursors WHERE source LIKE ? ORDER BY source",
            (OTHER_INSTALL + "%",),
        )
        found = []
        for source, value, updated in rows:
            account, _, install_id = str(source).removeprefix(OTHER_INSTALL).partition(":")
            record = json.loads(value)
            found.append(
                OtherInstall(
                    account=account,
                    install_id=install_id,
                    seen_in=" and ".join(record["seen_in"]),
                    first_seen=from_db(record["first_seen"]),
                    last_seen=from_db(updated),
                )
            )
        return found

    # --- sources that came back empty (kept in the cursors, no migration)

    def hold_emptied(self, source: str, count: int, *, now: datetime) -> EmptiedSource:
        """Note that `source` came back empty while `count` things came from it; the
        hold as it stands (`confirmed` when the user already said they are gone)."""
        with self.transaction():
            known = self.emptied(source)
            held = EmptiedSource(
                source,
                count,
                known.since if known else now,
                known.confirmed if known else False,
            )
            value = {"count": count, "since": to_db(held.since), "confirmed": held.confirmed}
            self.save_cursor(EMPTIED + source, json.dumps(value), now=now)
        return held

    def confirm_emptied(self, source: str | None = None, *, now: datetime) -> list[str]:
        """The user says the things of `source` (of every held source when None) are
        really gone; returns the sources confirmed."""
        confirmed = []
        with self.transaction():
            for held in self.emptied_sources():
                if source is not None and held.source != source:
                    continue
                value = {"count": held.count, "since": to_db(held.since), "confirmed": True}
                self.save_cursor(EMPTIED + held.source, json.dumps(value), now=now)
                confirmed.append(held.source)
        return confirmed

    def release_emptied(self, source: str, *, now: datetime) -> None:
        """The source holds things again, or what it held was let go: no hold."""
        self.save_cursor(EMPTIED + source, None, now=now)

    def emptied_sources(self) -> list[EmptiedSource]:
        rows = self._db.execute(
            "SELECT source FROM cursors WHERE source LIKE ? ORDER BY source", (EMPTIED + "%",)
        )
        found = [self.emptied(str(r[0]).removeprefix(EMPTIED)) for r in rows]
        return [held for held in found if held is not None]

    def cursor_names(self, prefix: str) -> list[str]:
        """The sources whose cursors start with `prefix` (the calendars read before)."""
        rows = self._db.execute(
            "SELECT source FROM cursors WHERE source LIKE ? ESCAPE '\\' ORDER BY source",
            (_like_prefix(prefix),),
        )
        return [str(r[0]) for r in rows]

    def emptied(self, source: str) -> EmptiedSource | None:
        value = self.cursor(EMPTIED + source)
        if value is None:
            return None
        record = json.loads(value)
        return EmptiedSource(
            source, int(record["count"]), from_db(record["since"]), bool(record["confirmed"])
        )

    # --- duties and interviews set back by the user

    def reopen_duty(self, duty_id: int) -> bool:
        """A done duty pending again; the message that fulfilled it stays spent."""
        changed = self._write(
            "UPDATE duties SET state = 'pending', done_at = NULL, evidence = NULL "
            "WHERE id = ? AND state = 'done'",
            (duty_id,),
        ).rowcount
        return bool(changed)

    def duty_by_key(self, key: str) -> Duty | None:
        row = self._db.execute("SELECT * FROM duties WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._duty(row)

    def clear_snooze(self, duty_id: int) -> None:
        """The planner decides the duty's time again."""
        self._write("UPDATE duties SET snoozed = 0 WHERE id = ?", (duty_id,))

    def restore_interview(self, interview_id: int) -> None:
        self._write("UPDATE interviews SET cancelled = 0 WHERE id = ?", (interview_id,))

    # --- this database's identity

    def install_id(self) -> str:
        """Mixed into every calendar event id, so no two installs share one ("" before
        it is made, and for databases that had events before it existed)."""
        return self.cursor(INSTALL_ID) or ""

    def ensure_install_id(self, *, now: datetime) -> str:
        """Make the install id once: random for a new database, so neither another
        install nor a database made anew repeats an event id; "" for one that already
        had events, so an upgrade keeps the ids of the events it created."""
        with self.transaction():
            found = self.cursor(INSTALL_ID)
            if found is None:
                had_events = self._db.execute("SELECT 1 FROM events LIMIT 1").fetchone()
                found = "" if had_events else uuid.uuid4().hex
                self.save_cursor(INSTALL_ID, found, now=now)
        return found

    # --- the weekly summary: its outbox row, sends begun, the Google grant's state

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        """The outbox entry with this key, done or not."""
        row = self._db.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else _outbox_entry(row)

    def drop_outbox_entry(self, entry_id: int) -> None:
        self._write("DELETE FROM outbox WHERE id = ? AND done IS NULL", (entry_id,))

    def sends_begun(self, key: str) -> int:
        """How many sends of this outbox key began and were neither recorded nor refused."""
        return int(self.cursor(f"sending:{key}") or 0)

    def set_sends_begun(self, key: str, count: int, *, now: datetime) -> None:
        self.save_cursor(f"sending:{key}", str(count) if count else None, now=now)

    def send_begun_at(self, key: str) -> datetime | None:
        """When the latest send of this outbox key that is still in doubt began."""
        return self._cursor_updated(f"sending:{key}")

    def installed_at(self) -> datetime | None:
        """When this database got its install id: the first run of this install (or of
        the release that brought install ids); no weekly summary is owed before it."""
        return self._cursor_updated(INSTALL_ID)

    def _cursor_updated(self, source: str) -> datetime | None:
        row = self._db.execute("SELECT updated FROM cursors WHERE source = ?", (source,)).fetchone()
        return None if row is None or row[0] is None else from_db(row[0])

    def outbox_history(self, target: str, *, action: str | None = None) -> list[OutboxEntry]:
        """Every entry of a target (of one action), done or not, oldest first."""
        where = _Where()
        where.equal("target", target)
        where.equal("action", action)
        rows = self._db.execute(f"SELECT * FROM outbox WHERE {where} ORDER BY id", where.params)
        return [_outbox_entry(r) for r in rows]

    def outbox_keys(self, target: str) -> list[str]:
        """The keys of every entry of a target, done or not (without their payloads)."""
        rows = self._db.execute("SELECT key FROM outbox WHERE target = ? ORDER BY id", (target,))
        return [str(r[0]) for r in rows]

    # --- accounts: one row each of what pursuit knows about an account it reads

    def _account_field(self, account: str, column: str) -> Any:
        row = self._db.execute(
            f"SELECT {column} FROM accounts WHERE account = ?", (account,)
        ).fetchone()
        return None if row is None else row[0]

    def _set_account(self, account: str, **values: str | None) -> None:
        columns = ", ".join(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values)
        self._write(
            f"INSERT INTO accounts (account, {columns}) VALUES (?{', ?' * len(values)}) "
            f"ON CONFLICT (account) DO UPDATE SET {updates}",
            (account, *values.values()),
        )

    def account_address(self, account: str) -> str | None:
        """The user's own address at an account, once a sync has learnt it."""
        value = self._account_field(account, "address")
        return None if value is None else str(value)

    def own_addresses(self) -> set[str]:
        """Every address the user is known to own, in every account."""
        rows = self._db.execute("SELECT address FROM accounts WHERE address IS NOT NULL")
        return {str(r[0]).lower() for r in rows}

    def set_account_address(self, account: str, address: str) -> None:
        self._set_account(account, address=address)

    def watched_set(self, account: str) -> WatchedSet | None:
        """The people and domains an account's mail was last searched for."""
        raw = self._account_field(account, "watched")
        if raw is None:
            return None
        found = json.loads(raw)
        return WatchedSet(tuple(found["addresses"]), tuple(found["domains"]))

    def set_watched_set(self, account: str, watched: WatchedSet) -> None:
        value = {"addresses": list(watched.addresses), "domains": list(watched.domains)}
        self._set_account(account, watched=json.dumps(value))

    def first_sync(self, account: str) -> FirstSync | None:
        """The first mail sync under way at an account (so a restart resumes it)."""
        raw = self._account_field(account, "first_sync")
        if raw is None:
            return None
        address, cursor = json.loads(raw)
        return FirstSync(str(address), str(cursor))

    def set_first_sync(self, account: str, started: FirstSync | None) -> None:
        value = None if started is None else json.dumps([started.address, started.cursor])
        self._set_account(account, first_sync=value)

    def record_grant_refused(
        self, account: str, error: str, *, now: datetime, token: tuple[int, int] | None = None
    ) -> None:
        """An account's sign-in was refused (revoked, expired): shown until it works
        again; the first refusal's time is kept, the refused token is the latest."""
        with self.transaction():
            since = self.grant_refused(account)
            self._set_account(
                account,
                refused_since=to_db(now) if since is None else to_db(since.since),
                refused_error=error if since is None else since.error,
                refused_token=None if token is None else json.dumps(list(token)),
            )

    def forget_refused_token(self, account: str) -> None:
        """The user signed in again: the refused token is no longer the one on disk."""
        self._set_account(account, refused_token=None)

    def clear_grant_refused(self, account: str) -> None:
        self._set_account(account, refused_since=None, refused_error=None, refused_token=None)

    def grant_refused(self, account: str) -> GrantRefusal | None:
        """The refusal of an account's sign-in, while it lasts."""
        row = self._db.execute(
            "SELECT refused_since, refused_error, refused_token FROM accounts "
            "WHERE account = ? AND refused_since IS NOT NULL",
            (account,),
        ).fetchone()
        if row is None:
            return None
        token = json.loads(row[2]) if row[2] else None
        return GrantRefusal(
            from_db(row[0]), str(row[1] or ""), None if not token else (token[0], token[1])
        )

    def record_grant(self, account: str, *, now: datetime) -> None:
        """The user signed in to an account now (`pursuit auth google`): a grant of an
        app still in Google's Testing mode ends 7 days later, so the summary warns."""
        self._set_account(account, granted=to_db(now))

    def grant_made(self, account: str) -> datetime | None:
        """When the user last signed in to an account, if pursuit saw it."""
        raw = self._account_field(account, "granted")
        return None if raw is None else from_db(raw)


def _add_hint(arguments: str) -> str:
    """How to add someone a command did not find, shown as they typed them when that
    can be shown on one line (a control character would break the message)."""
    if arguments.isprintable():
        return f"(add them: `pursuit contact add {arguments}`)"
    return "(add them with `pursuit contact add`)"


def _outbox_entry(r: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(
        id=r["id"],
        key=r["key"],
        action=r["action"],
        target=r["target"],
        payload=json.loads(r["payload"]),
        created=from_db(r["created"]),
        done=_opt(r["done"]),
        attempts=r["attempts"],
        last_error=r["last_error"],
    )


@dataclass(frozen=True)
class SkippedItems:
    """Items of one source a job could not handle and skipped."""

    source: str
    count: int
    last_item: str
    last_error: str
    last_at: datetime


def _event(r: sqlite3.Row) -> ManagedEvent:
    return ManagedEvent(
        calendar=r["calendar"],
        key=r["key"],
        duty_ids=tuple(json.loads(r["duty_ids"])),
        start=from_db(r["start"]),
        end=from_db(r["end"]),
        summary=r["summary"],
        description=r["description"],
        reminder_minutes=r["reminder_minutes"],
        sequence=r["sequence"],
        stamp=from_db(r["stamp"]),
        live=bool(r["live"]),
        generation=r["generation"],
    )


class _Where:
    """A WHERE clause built from keyword filters; values always go as parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def equal(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} = ?", value)

    def one_of(self, column: str, values: Collection[Any] | None) -> None:
        if values is not None:
            wanted = list(values)
            self.add(f"{column} IN ({','.join('?' * len(wanted))})", *wanted)

    def __str__(self) -> str:
        return " AND ".join(self.clauses) or "1"


def _limit(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {int(limit)}"


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(text: str) -> str:
    return f"{_like_escape(text)}%"


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sorts "Company 2" before "Company 10", and ignores case."""
    parts = re.split(r"(\d+)", name.casefold())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))
