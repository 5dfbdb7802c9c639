"""The edges of the machine (issue 20): links where pursuit writes its own files, a
damaged database, a password_command that hangs or never stops talking, and what a
server says about itself reaching a log, a terminal or the store.

Each case runs pursuit as its user does (the command line, the service, doctor) against
real files, real shell commands and real servers on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import io
import logging
import os
import socket
import sqlite3
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.cli import Pursuit

from pursuit.connectors.base import KEY_HEADER
from pursuit.connectors.eml import EmlFolder
from pursuit.connectors.secrets import command_secret
from pursuit.daemon.errors import AuthError, DamagedDatabase, StoreError
from pursuit.daemon.jobs import Job, run_job
from pursuit.daemon.logs import setup_logging
from pursuit.daemon.store import MIGRATIONS, Store

pytestmark = pytest.mark.reliability

VICTIM = b"a file of the user's own, which a link points to\n"


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "precious.txt"
    victim.parent.mkdir()
    victim.write_bytes(VICTIM)
    victim.chmod(0o644)
    return victim


def _intact(victim: Path) -> None:
    assert victim.read_bytes() == VICTIM
    assert victim.stat().st_mode & 0o777 == 0o644


# --- links where pursuit writes a file of its own


def test_a_run_lock_that_is_a_link_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    user = Pursuit(tmp_path)
    user.ok("org", "add", "Acme", "--domain", "acme.com")
    victim = _victim(tmp_path)
    lock = user.database.with_name("pursuit.sqlite3.lock")
    lock.symlink_to(victim)
    err = user.fails("run", "--once")
    lines = err.strip().splitlines()
    assert lines == [
        f"pursuit: {lock}: the run lock is a symbolic link to {victim}; pursuit never writes "
        "through a link there: remove the link and pursuit makes the file anew"
    ], err
    _intact(victim)
    lock.unlink()  # as the message says: the run works again, the lock a plain file
    user.ok("run", "--once")
    assert not lock.is_symlink() and lock.stat().st_mode & 0o777 == 0o600


def test_a_dangling_link_and_a_fifo_as_the_run_lock_are_refused(tmp_path: Path) -> None:
    user = Pursuit(tmp_path)
    user.ok("org", "add", "Acme", "--domain", "acme.com")
    lock = user.database.with_name("pursuit.sqlite3.lock")
    missing = tmp_path / "nowhere" / "made-by-the-link"
    lock.symlink_to(missing)
    assert "is a symbolic link" in user.fails("run", "--once")
    assert not missing.exists()  # O_CREAT through a dangling link would have made it
    lock.unlink()
    os.mkfifo(lock, 0o600)
    err = user.fails("run", "--once")
    assert f"{lock}: the run lock is not a plain file" in err, err


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_a_database_companion_that_is_a_link_is_named(tmp_path: Path, suffix: str) -> None:
    user = Pursuit(tmp_path)
    user.ok("org", "add", "Acme", "--domain", "acme.com")
    victim = _victim(tmp_path)
    companion = user.database.with_name("pursuit.sqlite3" + suffix)
    companion.unlink(missing_ok=True)
    companion.symlink_to(victim)
    err = user.fails("status")
    assert err.strip().splitlines() == [
        f"pursuit: {companion}: the database's {suffix[1:]} is a symbolic link to {victim}; "
        "pursuit never writes through a link there: remove the link and pursuit makes the "
        "file anew"
    ], err
    _intact(victim)  # not even made 0600
    companion.unlink()
    assert "Acme" in user.ok("org", "show", "Acme")


def test_the_copy_before_an_upgrade_is_never_written_through_a_link(tmp_path: Path) -> None:
    path = tmp_path / "pursuit.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:6]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()
    victim = _victim(tmp_path)
    tmp_path.joinpath("pursuit.sqlite3.bak.partial").symlink_to(victim)
    Store.open(path).close()
    _intact(victim)
    with sqlite3.connect(tmp_path / "pursuit.sqlite3.v6.bak") as kept:
        assert kept.execute("PRAGMA user_version").fetchone()[0] == 6


def test_an_eml_written_to_the_outbox_folder_never_goes_through_a_link(tmp_path: Path) -> None:
    folder = EmlFolder(tmp_path / "outbox", "me@example.org")
    message = EmailMessage()
    message["To"] = "me@example.org"
    message["Subject"] = "Your week"
    message[KEY_HEADER] = "summary:2026-W49"
    message.set_content("hello")
    path = folder.path_for("summary:2026-W49")
    path.parent.mkdir(mode=0o700)
    victim = _victim(tmp_path)
    path.with_suffix(".eml.partial").symlink_to(victim)
    assert folder.send(message) == str(path)
    _intact(victim)
    assert b"Your week" in path.read_bytes() and not path.is_symlink()


def test_a_store_error_names_a_link_only_where_it_is_one(tmp_path: Path) -> None:
    """The database itself may be a link (the user's choice: `database` can point
    anywhere); only the files pursuit makes beside it are refused as links."""
    real = tmp_path / "real" / "state.sqlite3"
    real.parent.mkdir()
    Store.open(real).close()
    link = tmp_path / "pursuit.sqlite3"
    link.symlink_to(real)
    store = Store.open(link)
    assert store.version == len(MIGRATIONS)
    store.close()
    with pytest.raises(StoreError):
        tmp_path.joinpath("pursuit.sqlite3-wal").symlink_to(tmp_path / "x")
        Store.open(link)


# --- password_command: bounded output, and a command that hangs killed with its children


def _gone(pid: int) -> bool:
    """True when `pid` has ended (reaped, or a zombie waiting for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def _all_gone(pids: list[int]) -> bool:
    """Waits (up to 10 s, polling) for a SIGKILL already sent to take effect."""
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return all(_gone(pid) for pid in pids)


def test_a_password_command_that_hangs_is_killed_with_everything_it_started(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    # Two children a plain kill of the shell would leave running, holding the pipe.
    command = f"sleep 300 & echo $! >> {pids}; (sleep 300; :) & echo $! >> {pids}; wait"
    run = command_secret(command, "imap.password_command", timeout=1.0)
    with pytest.raises(AuthError) as refused:
        run()
    assert str(refused.value) == ("imap.password_command: the command gave no answer within 1 s")
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2
    assert _all_gone(started), [Path(f"/proc/{p}/stat").read_text() for p in started]


def test_a_password_command_that_prints_without_end_is_stopped_at_once(tmp_path: Path) -> None:
    begin = time.monotonic()
    with pytest.raises(AuthError) as refused:
        command_secret("yes", "smtp.password_command", timeout=60)()
    assert str(refused.value) == (
        "smtp.password_command: the command printed more than 16 KiB, longer than any "
        "password or token could be; is it the right command? (it was stopped)"
    )
    assert time.monotonic() - begin < 30  # not the 60 s timeout: stopped at the bound
    # a long token is still a secret; the output is never in a message
    token = "t" * 8000
    assert command_secret(f"printf {token}", "imap.password_command")() == token


def test_a_password_command_is_run_once_per_login_and_its_flood_is_one_line(
    tmp_path: Path,
) -> None:
    count = tmp_path / "count"
    user = Pursuit(
        tmp_path,
        config=(
            '[calendar]\nkind = "caldav"\nurl = "http://127.0.0.1:9/"\nusername = "me"\n'
            f"password_command = \"sh -c 'echo run >> {count}; exec yes'\"\n"
        ),
    )
    err = user.fails("run", "--once", code=1)
    assert "Traceback" not in err
    flood = [line for line in err.splitlines() if "16 KiB, longer than any password" in line]
    assert flood and all("calendar.password_command" in line for line in flood), err
    assert "y\ny" not in err and "yyy" not in err.replace(" ", "")
    runs = count.read_text().split()
    # one run per login: the interviews' and the calendar's (which reads it first), no retry
    assert 1 <= len(runs) <= 2, (runs, err)


# --- a damaged database: one line naming the file and what to do, nothing written to it


def _checkpointed(database: Path) -> None:
    """Every committed change in the database file itself (no -wal left to replay)."""
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _damage(user: Pursuit, how: str) -> None:
    database = user.database
    _checkpointed(database)
    data = bytearray(database.read_bytes())
    if how == "garbage":  # a file that was never a database, where the database should be
        database.write_bytes(bytes(range(256)) * 64)
        return
    if how == "truncated":  # a copy cut short (a full disk while syncing, a bad restore)
        database.write_bytes(bytes(data[: len(data) // 2 + 100]))
        return
    # a page of a table the everyday reads never touch flipped (a bad sector, a bit rot):
    # SQLite opens it, and `status` answers, without noticing
    with sqlite3.connect(database) as db:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'notes'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    start = (root - 1) * size
    for offset in range(start + 8, start + 60):  # the cell pointers of the table's page
        data[offset] ^= 0xFF
    database.write_bytes(bytes(data))


def _files(user: Pursuit) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in user.data_dir.iterdir() if "sqlite3" in p.name}


@pytest.mark.parametrize("how", ["garbage", "truncated", "page"])
def test_a_damaged_database_is_one_line_everywhere_and_never_written(
    tmp_path: Path, how: str
) -> None:
    user = Pursuit(tmp_path)
    user.ok("org", "add", "Acme", "--domain", "acme.com")
    user.ok("contact", "add", "Jane Doe <jane@acme.com>")
    user.ok("note", "jane@acme.com", "likes Rust")
    user.ok("run", "--once")
    _damage(user, how)
    before = _files(user)
    database = user.database
    found = f"{database}: the state database is damaged ("
    fix = (
        "pursuit writes nothing more to it: stop pursuit, recover what it holds into a new "
        f"file (in {user.data_dir}: `sqlite3 pursuit.sqlite3 .recover | sqlite3 "
        "pursuit.sqlite3.recovered`; where sqlite3 has no .recover, as Debian's, "
        "docs/SERVICE.md has the .dump way) and put that in its place"
    )
    # every command that writes, the service's start and a round: one line, exit 2
    for args in (["org", "add", "Globex", "--domain", "globex.com"], ["run", "--once"], ["run"]):
        err = user.fails(*args, code=2)
        assert err.count("\n") == 1 and err.startswith(f"pursuit: {found}"), (args, err)
        assert err.rstrip().endswith(fix), err
    if how != "page":  # what opening shows, a reading command says too
        err = user.fails("status", code=2)
        assert err.count("\n") == 1 and found in err and fix in err, err
    # doctor: the store's line says what is wrong, the next what to do
    result = user.run("doctor")
    assert result.code == 1, str(result)
    assert "Traceback" not in result.out + result.err
    assert f"store: {found}" in result.out and f"  -> {fix}" in result.out, result.out
    assert "All feeds answered" not in result.out
    assert _files(user) == before  # nothing written: not by a command, a round or doctor


def test_damage_found_in_the_middle_of_a_round_stops_every_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Corruption a read meets after opening (the check is what finds it first at start;
    here the store is opened, then damaged under it): the job's line, then no write."""
    user = Pursuit(tmp_path)
    user.ok("org", "add", "Acme", "--domain", "acme.com")
    store = Store.open(user.database)
    _damage(user, "garbage")
    with pytest.raises(DamagedDatabase) as found:
        store.organizations()
    assert str(found.value).startswith(f"{user.database}: the state database is damaged")
    with pytest.raises(DamagedDatabase):
        store.set_organization_flag(1, "x")  # refused before SQLite is asked
    # a job of the round meeting it: one line in the log, no traceback, nothing recorded
    with caplog.at_level(logging.ERROR):
        outcome = run_job(store, Job("plan", lambda now: store.organizations()), datetime.now(UTC))
    store.close()
    assert outcome is not None and outcome.error == str(found.value)
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [
        (f"job plan failed: {found.value}", None)
    ]


def test_a_damaged_database_names_the_copy_kept_before_the_last_upgrade(tmp_path: Path) -> None:
    user = Pursuit(tmp_path)
    user.ok("org", "add", "Acme", "--domain", "acme.com")
    for version in (7, 8):
        user.database.with_name(f"pursuit.sqlite3.v{version}.bak").write_bytes(b"")
    _damage(user, "truncated")
    err = user.fails("status")
    assert err.rstrip().endswith(
        ", or use the copy kept before the last upgrade, pursuit.sqlite3.v8.bak"
    ), err


def test_an_upgrade_is_never_written_to_a_damaged_database(tmp_path: Path) -> None:
    path = tmp_path / "pursuit.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:6]:
        db.executescript(script)
    db.execute("INSERT INTO notes (kind, text, created) VALUES ('note', 'x', '2026-01-01')")
    db.execute("PRAGMA user_version = 6")
    db.commit()
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'notes'").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    for offset in range((root - 1) * 4096 + 8, (root - 1) * 4096 + 60):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedDatabase):
        Store.open(path)
    assert path.read_bytes() == bytes(data)
    assert not list(tmp_path.glob("*.bak"))


# --- servers that say odd things about themselves


class FakeImap:
    """An IMAP server on a raw socket, for what Dovecot never says: `greeting` is its
    first line (after "* "), `select` the untagged lines it answers SELECT/EXAMINE with,
    `login_refusal` the text of a NO to LOGIN (None: accepted)."""

    def __init__(
        self,
        greeting: bytes = b"OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready",
        select: tuple[bytes, ...] = (b"* 2 EXISTS", b"* OK [UIDNEXT 3] next"),
        login_refusal: bytes | None = None,
    ) -> None:
        self.greeting = greeting
        self.select = select
        self.login_refusal = login_refusal
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"* " + self.greeting + b"\r\n")
            for line in lines:
                tag, _, rest = line.strip().partition(b" ")
                command = rest.split(b" ", 1)[0].upper()
                if command == b"LOGIN" and self.login_refusal is not None:
                    answer = [tag + b" NO " + self.login_refusal]
                elif command == b"CAPABILITY":
                    answer = [b"* CAPABILITY IMAP4rev1", tag + b" OK done"]
                elif command == b"LIST":
                    answer = [b'* LIST (\\HasNoChildren) "/" INBOX', tag + b" OK done"]
                elif command in (b"SELECT", b"EXAMINE"):
                    answer = [*self.select, tag + b" OK [READ-ONLY] done"]
                elif command == b"LOGOUT":
                    conn.sendall(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                    return
                else:
                    answer = [tag + b" OK done"]
                conn.sendall(b"".join(a + b"\r\n" for a in answer))

    def config(self) -> str:
        return (
            f'[imap]\nhost = "127.0.0.1"\nport = {self.port}\nsecurity = "none"\n'
            'username = "me@example.org"\npassword_command = "echo pw"\n'
        )

    def close(self) -> None:
        self.listener.close()


def test_an_imap_server_without_uidvalidity_is_one_line_naming_it(tmp_path: Path) -> None:
    server = FakeImap()
    try:
        user = Pursuit(tmp_path, config=server.config())
        result = user.run("run", "--once")
    finally:
        server.close()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.err and "crashed" not in result.err, result.err
    said = [line for line in result.err.splitlines() if "UIDVALIDITY" in line]
    assert len(said) == 1, result.err
    assert f"imap: 127.0.0.1:{server.port}: the server gave no UIDVALIDITY for 'INBOX'" in said[0]
    assert "ask its operator" in said[0]


#: What a hostile or broken server may say about itself: a window title and a colour
#: (escape sequences), a bell, a C1 control, a bidi override, a CR, then a lot of text.
HOSTILE_WORDS = "\x1b]0;owned\x07\x1b[31mSlow\x9b2J down \u202eevil\rnow " + "z" * 30000
UNSAFE_SEEN = ("\x1b", "\x07", "\x9b", "\u202e", "\r", "]0;", "[31m")


def _clean_everywhere(user: Pursuit, *texts: str) -> None:
    """No escape or control in the text, nor in what the store kept, nor in doctor."""
    doctor = user.run("doctor")
    stored: list[str] = []
    with sqlite3.connect(user.database) as db:
        for table, column in (("job_runs", "last_error"), ("feeds", "last_error")):
            stored += [str(r[0]) for r in db.execute(f"SELECT {column} FROM {table}") if r[0]]
    db.close()
    assert stored, "the failure was recorded"
    for text in (*texts, *stored, doctor.out, doctor.err):
        assert not any(bad in text for bad in UNSAFE_SEEN), repr(text[:300])
        assert all(len(line) < 1500 for line in text.splitlines()), "bounded"
    assert any("Slow" in text and "down" in text for text in stored), stored  # still said


def test_an_http_reason_phrase_is_cleaned_before_a_log_the_store_or_doctor(
    tmp_path: Path,
) -> None:
    class Hostile(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503, HOSTILE_WORDS.replace("\u202e", ""))  # latin-1 only
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PROPFIND = do_REPORT = do_OPTIONS = do_GET  # a CalDAV server too

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    url = f"http://127.0.0.1:{server.server_port}/feed.xml"
    try:
        user = Pursuit(
            tmp_path,
            config=(
                f'[calendar]\nkind = "caldav"\nurl = "{url.removesuffix("feed.xml")}"\n'
                'username = "me"\npassword_command = "echo pw"\n'
                '[feeds]\nnews_search = false\n[[organization]]\nname = "Acme"\n'
                f'domains = ["acme.example"]\nfeeds = [{{ url = "{url}", kind = "press" }}]\n'
            ),
        )
        result = user.run("-v", "run", "--once")
        _clean_everywhere(user, result.out, result.err)
    finally:
        server.shutdown()
        server.server_close()
    assert "HTTP 503 Slow down" in result.err, result.err  # the feed
    assert "job interviews failed: caldav 127.0.0.1" in result.err, result.err


@pytest.mark.parametrize("where", ["greeting", "login"])
def test_what_an_imap_server_says_of_itself_is_cleaned(tmp_path: Path, where: str) -> None:
    words = HOSTILE_WORDS.encode("utf-8")
    if where == "greeting":  # a server that greets with BYE: it is not taking anyone
        server = FakeImap(greeting=b"BYE " + words)
    else:
        server = FakeImap(login_refusal=b"[AUTHENTICATIONFAILED] " + words)
    try:
        user = Pursuit(tmp_path, config=server.config())
        result = user.run("-vv", "run", "--once")
        assert result.code == 1, str(result)
        _clean_everywhere(user, result.out, result.err)
    finally:
        server.close()


def test_a_unit_is_installed_without_writing_through_a_link(tmp_path: Path) -> None:
    user = Pursuit(tmp_path)
    root = tmp_path / "root"
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    victim = _victim(tmp_path)
    units.joinpath("pursuit@.service.tmp").symlink_to(victim)  # the name it once wrote
    user.ok("service", "install", "--system", "--root", str(root))
    _intact(victim)
    unit = units / "pursuit@.service"
    assert "ExecStart=" in unit.read_text() and not unit.is_symlink()
    assert unit.stat().st_mode & 0o777 == 0o644


def test_a_log_line_is_one_clean_bounded_line_and_a_traceback_has_no_escape() -> None:
    root, ours = logging.getLogger(), logging.getLogger("pursuit")
    saved = (root.handlers[:], root.level, ours.level)
    stream = io.StringIO()
    setup_logging(0, stream)
    try:
        try:
            raise RuntimeError(HOSTILE_WORDS * 3)
        except RuntimeError:
            ours.getChild("edges").exception("job %s crashed", "feeds\r\n09:00:00 ERROR forged")
    finally:  # the test process's logging as it was
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        ours.setLevel(saved[2])
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith(" ERROR pursuit.edges: job feeds 09:00:00 ERROR forged crashed")
    assert lines[1] == "Traceback (most recent call last):"
    assert not any(bad in stream.getvalue() for bad in UNSAFE_SEEN if bad != "\r")
    assert max(len(line) for line in lines) <= 4000
