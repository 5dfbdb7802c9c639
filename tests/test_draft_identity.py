"""Drafts are each install's own: two installs on one mailbox, a data directory made
anew, and a draft create in flight when pursuit dies (issue 20)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from support.cli import Pursuit, pursuit_command
from support.crash import ImapProxy
from support.dovecot import PASSWORD, USER, Dovecot
from support.google_emulator import GoogleEmulator, HeldRequests

from pursuit.connectors.base import KEY_HEADER
from pursuit.connectors.gmail import GmailMailbox
from pursuit.connectors.imap import ImapMailbox
from pursuit.daemon.drafts import next_look
from pursuit.daemon.store import Store

pytestmark = pytest.mark.reliability


def test_another_install_is_recorded_once_per_account_and_id(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "pursuit.sqlite3")
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert store.other_installs() == []
    assert store.record_other_install("google", "ab12", "drafts", now=now)
    later = now + timedelta(hours=1)
    assert not store.record_other_install("google", "ab12", "drafts", now=later)
    assert store.record_other_install("google", "ab12", "calendar", now=later)
    assert store.record_other_install("google", "", "drafts", now=later)
    assert store.record_other_install("imap", "ab12", "drafts", now=later)
    seen = {(o.account, o.install_id): o for o in store.other_installs()}
    assert sorted(seen) == [("google", ""), ("google", "ab12"), ("imap", "ab12")]
    first = seen["google", "ab12"]
    assert (first.first_seen, first.last_seen, first.seen_in) == (now, later, "calendar and drafts")


# --- on the Gmail emulator, through the command line

ME = "me@example.test"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


def install(root: Path, emu: GoogleEmulator, organization: str, domain: str) -> Pursuit:
    """A pursuit install with a data directory of its own on the one Gmail account."""
    root.mkdir()
    config = (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        f"{emu.signed_in(root)}"
        f'[[organization]]\nname = "{organization}"\ndomains = ["{domain}"]\n'
    )
    return Pursuit(root, config=config)


def interview(p: Pursuit, organization: str, *people: str) -> None:
    """Yesterday's interview with `people`: a thank-you is owed to each."""
    with_people = [arg for person in people for arg in ("--with", person)]
    p.ok("interview", "add", organization, "--at", "yesterday 10:00", *with_people)


def install_id(p: Pursuit) -> str:
    store = Store.open(p.database, busy_timeout=5)
    try:
        return store.install_id()
    finally:
        store.close()


def drafts_to(emu: GoogleEmulator) -> dict[str, list[str]]:
    """Each recipient of a draft, with the key of every draft to them."""
    found: dict[str, list[str]] = {}
    for stored in emu.drafts.values():
        to = str(stored.message.header("To"))
        found.setdefault(to, []).append(str(stored.message.header(KEY_HEADER)))
    return found


def test_two_installs_on_one_account_each_draft_their_own_and_name_the_other(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    a = install(tmp_path / "a", emu, "Acme Networks", "acme.com")
    b = install(tmp_path / "b", emu, "Beta Labs", "beta.io")
    interview(a, "Acme Networks", "Jane Doe <jane@acme.com>")
    interview(b, "Beta Labs", "Dan Roe <dan@beta.io>", "Eve Poe <eve@beta.io>")
    # The same local row numbers on both: interview #1, contact #1.
    a.ok("run", "--once")
    first_b = b.run("run", "--once")
    assert first_b.code == 0, str(first_b)
    a_id, b_id = install_id(a), install_id(b)
    assert a_id and b_id and a_id != b_id
    expected = {
        "Jane Doe <jane@acme.com>": [f"draft:{a_id}:thank_you:1:1"],
        "Dan Roe <dan@beta.io>": [f"draft:{b_id}:thank_you:1:1"],
        "Eve Poe <eve@beta.io>": [f"draft:{b_id}:thank_you:1:2"],
    }
    assert drafts_to(emu) == expected
    assert f"another pursuit install ({a_id}) leaves thank-you drafts" in first_b.err

    # A new line for Jane: A brings its own draft up to date (and, looking over the
    # mailbox to do it, sees B's); B's are not touched, nor A's by B's rounds.
    b_drafts = {
        i: d.message.raw
        for i, d in emu.drafts.items()
        if b_id in (d.message.header(KEY_HEADER) or "")
    }
    assert len(b_drafts) == 2
    a.ok("note", "jane@acme.com", "--thank-you", "I enjoyed the lab tour.")
    assert f"another pursuit install ({b_id}) leaves thank-you drafts" in a.run("run", "--once").err
    for p in (a, b, a, b):
        result = p.run("run", "--once")
        assert result.code == 0, str(result)
        assert "leaves thank-you drafts" not in result.err  # said once, at first sight
    assert drafts_to(emu) == expected
    [jane] = [d for d in emu.drafts.values() if "jane@" in str(d.message.header("To"))]
    assert "I enjoyed the lab tour." in jane.message.text
    assert {i: emu.drafts[i].message.raw for i in b_drafts} == b_drafts

    for p, other in ((a, b_id), (b, a_id)):
        doctor = p.run("doctor", "--no-probe").out
        [line] = [x for x in doctor.splitlines() if f"another pursuit install ({other})" in x]
        assert line.startswith("google: ") and " drafts in this account" in line, doctor


def test_two_installs_from_before_install_ids_each_draft_their_own(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    """Upgraded from a release before install ids with events written, an install keeps
    an empty install id (its event ids unchanged); its drafts get an id of their own."""
    a = install(tmp_path / "a", emu, "Acme Networks", "acme.com")
    b = install(tmp_path / "b", emu, "Beta Labs", "beta.io")
    interview(a, "Acme Networks", "Jane Doe <jane@acme.com>")
    interview(b, "Beta Labs", "Dan Roe <dan@beta.io>")
    ids = []
    for p in (a, b):
        db = sqlite3.connect(p.database)
        db.execute("UPDATE cursors SET value = '' WHERE source = 'install_id'")
        db.commit()
        db.close()
    for p in (a, b, a, b):
        p.ok("run", "--once")
    for p in (a, b):
        assert install_id(p) == ""
        db = sqlite3.connect(p.database)
        [(drafts_id,)] = db.execute(
            "SELECT value FROM cursors WHERE source = 'drafts install id'"
        ).fetchall()
        db.close()
        ids.append(drafts_id)
    assert drafts_to(emu) == {
        "Jane Doe <jane@acme.com>": [f"draft:{ids[0]}:thank_you:1:1"],
        "Dan Roe <dan@beta.io>": [f"draft:{ids[1]}:thank_you:1:1"],
    }
    doctor = b.run("doctor", "--no-probe").out  # B looked over the mailbox after A wrote
    assert f"another pursuit install ({ids[0]}) leaves" in doctor, doctor


def test_a_data_directory_made_anew_adopts_none_of_the_drafts_left_before(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    old = install(tmp_path / "old", emu, "Acme Networks", "acme.com")
    interview(old, "Acme Networks", "Jane Doe <jane@acme.com>", "Raj Patel <raj@acme.com>")
    old.ok("run", "--once")
    old_id = install_id(old)
    # ...and one a pursuit from before draft keys carried the install left, edited since
    legacy = (
        b"To: Kim Lee <kim@acme.com>\r\nSubject: Thank you\r\n"
        b"X-Pursuit-Key: draft:thank_you:1:1\r\n\r\nDear Kim, my own words.\r\n"
    )
    emu.add_draft(legacy)
    left = {i: d.message.raw for i, d in emu.drafts.items()}

    new = install(tmp_path / "new", emu, "Beta Labs", "beta.io")
    interview(new, "Beta Labs", "Dan Roe <dan@beta.io>")  # thank_you:1:1 here too
    new.ok("run", "--once")
    new.ok("run", "--once")
    new_id = install_id(new)
    assert drafts_to(emu) == {
        "Jane Doe <jane@acme.com>": [f"draft:{old_id}:thank_you:1:1"],
        "Raj Patel <raj@acme.com>": [f"draft:{old_id}:thank_you:1:2"],
        "Kim Lee <kim@acme.com>": ["draft:thank_you:1:1"],
        "Dan Roe <dan@beta.io>": [f"draft:{new_id}:thank_you:1:1"],
    }
    assert {i: emu.drafts[i].message.raw for i in left} == left  # untouched
    shown = new.run("draft", "1")
    assert "Dear Dan" in shown.out and "says the same" in shown.err, str(shown)
    doctor = new.run("doctor", "--no-probe").out
    assert f"another pursuit install ({old_id}) leaves" in doctor, doctor
    assert "another pursuit install (of an earlier version, or a data directory" in doctor


def test_an_upgraded_install_keeps_its_drafts_written_before_keys_carried_the_install(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = install(tmp_path / "a", emu, "Acme Networks", "acme.com")
    interview(p, "Acme Networks", "Jane Doe <jane@acme.com>")
    p.ok("run", "--once")
    # As a pursuit before this change wrote it: the key without the install's id,
    # in the mailbox and in what the store says it wrote there.
    new_key, old_key = f"draft:{install_id(p)}:thank_you:1:1", "draft:thank_you:1:1"
    [(draft_id, stored)] = emu.drafts.items()
    stored.message.raw = stored.message.raw.replace(new_key.encode(), old_key.encode())
    db = sqlite3.connect(p.database)
    db.execute("UPDATE drafts SET written = replace(written, ?, ?)", (new_key, old_key))
    db.commit()
    db.close()

    p.ok("note", "jane@acme.com", "--thank-you", "I enjoyed the lab tour.")
    result = p.run("run", "--once")
    assert result.code == 0 and "another pursuit install" not in result.err, str(result)
    [(same_id, updated)] = emu.drafts.items()  # brought up to date in place
    assert same_id == draft_id and "I enjoyed the lab tour." in updated.message.text
    assert updated.message.header(KEY_HEADER) == old_key
    assert "another pursuit install" not in p.run("doctor", "--no-probe").out


# --- a draft create in flight when pursuit dies


def killed_while_held(p: Pursuit, held: HeldRequests) -> None:
    p.killed_once(lambda: held.wait_arrived(timeout=60))


def the_one_draft_to_jane(p: Pursuit, emu: GoogleEmulator) -> None:
    assert drafts_to(emu) == {"Jane Doe <jane@acme.com>": [f"draft:{install_id(p)}:thank_you:1:1"]}
    shown = p.run("draft", "1")
    assert "The draft in your mailbox says the same." in shown.err, str(shown)


def test_a_draft_create_in_flight_when_pursuit_dies_is_waited_for_not_made_twice(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = install(tmp_path / "a", emu, "Acme Networks", "acme.com")
    interview(p, "Acme Networks", "Jane Doe <jane@acme.com>")
    held = emu.hold("drafts.create")
    killed_while_held(p, held)

    # The restart finds no draft yet, and says why it writes none.
    result = p.run("run", "--once")
    assert result.code == 0 and "may still land" in result.err, str(result)
    assert emu.drafts == {}
    # The service runs the drafts job again when the window ends, not an hour later.
    store = Store.open(p.database, busy_timeout=5)
    try:
        now = datetime.now(UTC)
        again = next_look(store, GmailMailbox.in_doubt, now)
    finally:
        store.close()
    assert again is not None and now < again <= now + GmailMailbox.in_doubt

    held.release()  # Google carries out the first attempt; its answer is lost
    result = p.run("run", "--once")
    assert result.code == 0 and "may still land" not in result.err, str(result)
    the_one_draft_to_jane(p, emu)
    p.ok("run", "--once")
    the_one_draft_to_jane(p, emu)


def test_a_draft_landing_after_the_window_is_kept_once(tmp_path: Path, emu: GoogleEmulator) -> None:
    p = install(tmp_path / "a", emu, "Acme Networks", "acme.com")
    interview(p, "Acme Networks", "Jane Doe <jane@acme.com>")
    held = emu.hold("drafts.create")
    killed_while_held(p, held)

    # Past the window the restart writes the draft...
    with time_machine.travel(
        datetime.now(UTC) + GmailMailbox.in_doubt + timedelta(minutes=1), tick=True
    ):
        result = p.run("run", "--once")
        assert result.code == 0 and "may still land" not in result.err, str(result)
        assert len(emu.drafts) == 1
        held.release()  # ...then the first attempt lands: a second copy
        assert len(emu.drafts) == 2
        result = p.run("run", "--once")
        assert result.code == 0, str(result)
        assert "was in the mailbox 2 times" in result.err, str(result)
        the_one_draft_to_jane(p, emu)


def test_of_copies_the_user_edited_one_their_copy_is_kept(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = install(tmp_path / "a", emu, "Acme Networks", "acme.com")
    interview(p, "Acme Networks", "Jane Doe <jane@acme.com>")
    p.ok("run", "--once")
    [(mine, stored)] = emu.drafts.items()
    late = emu.add_draft(stored.message.raw)  # a copy of pursuit's own landed late
    edited = stored.message.raw.replace(b"Dear Jane", b"Hi Jane, my own words")
    emu.user_edits_draft(mine, edited)
    p.ok("note", "jane@acme.com", "--thank-you", "A new line.")
    p.ok("run", "--once")
    assert list(emu.drafts) == [mine] and late not in emu.drafts
    assert "my own words" in emu.drafts[mine].message.text
    assert "A new line." not in emu.drafts[mine].message.text  # the user's, left alone


# --- IMAP: an APPEND in flight when pursuit dies


class KillAt:
    """Kills `proc` when the IMAP relay sees the drafts' APPEND at `stage`: "before"
    (the command never reaches Dovecot) or "after" (saved; the answer is lost)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.proc: subprocess.Popen[bytes] | None = None
        self.fired = threading.Event()

    def hook(self, method: str, target: str, stage: str) -> bool:
        if (method, target, stage) != ("APPEND", "imap:drafts", self.stage) or self.fired.is_set():
            return False
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.fired.set()
        return stage == "before"


@pytest.mark.parametrize("stage", ["before", "after"])
def test_an_imap_draft_append_in_flight_when_pursuit_dies_lands_once(
    tmp_path: Path, stage: str
) -> None:
    watch = KillAt(stage)
    with Dovecot() as dovecot:
        relay = ImapProxy(dovecot, watch)  # type: ignore[arg-type]
        config = (
            "[feeds]\nnews_search = false\n"
            '[drafts]\nyour_name = "Alex Martin"\n'
            '[imap]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\n'
            '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        )
        p = Pursuit(tmp_path, config=config.replace("{port}", str(relay.port)))
        interview(p, "Acme Networks", "Jane Doe <jane@acme.com>")
        try:
            with subprocess.Popen(
                [*pursuit_command(), "run", "--once"],
                env=p.env(),
                cwd=p.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ) as run:
                watch.proc = run
                run.wait(timeout=60)
        finally:
            relay.close()
        assert watch.fired.is_set(), "pursuit never sent the APPEND"
        assert len(dovecot.messages("Drafts")) == (stage == "after")

        p.write_config(config.replace("{port}", str(dovecot.port)))  # the relay's part is done
        result = p.run("run", "--once")
        assert result.code == 0, str(result)
        # Saved: the restart finds it. Never sent: it is not written again for a minute.
        assert ("may still land" in result.err) == (stage == "before"), str(result)
        assert len(dovecot.messages("Drafts")) == (stage == "after")
        with time_machine.travel(
            datetime.now(UTC) + ImapMailbox.in_doubt + timedelta(seconds=5), tick=True
        ):
            p.ok("run", "--once")
            p.ok("run", "--once")
        [draft] = dovecot.messages("Drafts")
        assert f"draft:{install_id(p)}:thank_you:1:1".encode() in draft
