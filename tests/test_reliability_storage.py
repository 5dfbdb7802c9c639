"""Real storage faults: pursuit's data directory on a small tmpfs that fills up in
the middle of real work, or is remounted read-only between runs and under the
running service.

What the user must see: one clear line naming the disk and the file, never a
traceback; a database that passes its integrity check and holds everything
committed before; and once space (or write access) is back, the next run does
the rest, ending where a run without the fault ends: nothing lost, nothing doubled.

tests/test_hostile.py and tests/test_cli_storage.py cover SQLITE_FULL by
max_page_count and read-only files by modes; this is the real file system version.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.cli import Pursuit, Result, pursuit_command
from support.feed_server import FeedServer, static
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail
from support.reliability import scale
from support.tmpfs import SmallDisk, small_disk
from support.world import (
    SUMMARY_DUE,
    google_section,
    interview_yesterday,
    rss,
    what_the_user_has,
)

pytestmark = pytest.mark.reliability

ME = "me@example.test"
MESSAGES = 120  # a Gmail first sync of several batches, each stored in its own transaction
OPENINGS = 150  # a careers feed big enough to take a good part of the small disk
DISK = "3m"


@dataclass
class World:
    """One user's outside world: Gmail and Calendar (or the command line alone), and
    Acme's careers feed. Each user gets a world of their own, so that a reference run
    and a trial never see each other's drafts or sent mail."""

    with_google: bool
    feeds: FeedServer
    #: One moment for every user of the world, so their mail bears the same dates.
    now: datetime

    @contextmanager
    def user(self, root: Path) -> Iterator[tuple[Pursuit, GoogleEmulator]]:
        with GoogleEmulator(user_email=ME) as emu:
            now = self.now
            for n in range(MESSAGES):
                emu.add_message(
                    raw_mail(
                        "Jane Doe <jane@acme.com>",
                        ME,
                        f"Re: the network engineer role, part {n} " + "x" * 400,
                        now - timedelta(hours=n + 2),
                        f"m{n}@acme.com",
                    )
                )
            interview_yesterday(emu, now=now)
            p = Pursuit(root, config=self.config(root, emu))
            p.data_home.mkdir(parents=True, exist_ok=True)
            yield p, emu

    def config(self, root: Path, emu: GoogleEmulator) -> str:
        feed = self.feeds.url("/careers.xml")
        text = (
            '[calendar]\nkind = "ics"\n[feeds]\nnews_search = false\n'
            '[drafts]\nyour_name = "Alex Martin"\n'
            + SUMMARY_DUE
            + '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
            'positions = ["Network Engineer"]\n'
            f'feeds = [{{ url = "{feed}", kind = "careers" }}]\n'
        )
        if not self.with_google:
            return text
        token = root / "token" / "google.json"
        token.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        emu.write_authorized_user_file(str(token))
        return google_section(token, emu) + text

    def prepare(self, p: Pursuit) -> None:
        """What the user did before the round under test (with Google, nothing)."""
        if not self.with_google:
            p.ok(
                "interview",
                "add",
                "Acme Networks",
                "--at",
                (self.now - timedelta(days=1)).strftime("%Y-%m-%d 14:00"),
                "--with",
                "Jane Doe <jane@acme.com>",
            )


@pytest.fixture(params=["gmail", "local"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with FeedServer() as feeds:
        openings = [(f"job{n}", f"Network Engineer {n} " + "y" * 300) for n in range(OPENINGS)]
        feeds.route("/careers.xml", static(rss(openings), etag='"v1"'))
        yield World(request.param == "gmail", feeds, datetime.now(UTC))


def the_effects(emu: GoogleEmulator) -> dict[str, Any]:
    """What pursuit did on Google: drafts and sent mail by subject, each counted."""
    drafts = sorted(str(d.message.subject) for d in emu.drafts.values())
    sent = sorted(str(m.subject) for m in emu.sent)
    return {"drafts": drafts, "sent": sent}


def differences(got: Any, expected: Any, where: str = "") -> list[str]:
    """Where two nested values differ, as short lines (the first few)."""
    if isinstance(got, dict | list | tuple) and type(got) is type(expected):
        if isinstance(got, dict) and isinstance(expected, dict):
            keys = sorted(set(got) | set(expected), key=str)
            pairs = [(f"{where}.{k}", got.get(k), expected.get(k)) for k in keys]
        elif len(got) != len(expected):
            return [f"{where}: {len(got)} items, expected {len(expected)}"]
        else:
            pairs = [
                (f"{where}[{n}]", g, e) for n, (g, e) in enumerate(zip(got, expected, strict=True))
            ]
        return [line for path, g, e in pairs for line in differences(g, e, path)][:10]
    return [] if got == expected else [f"{where}: {got!r:.200} != {expected!r:.200}"]


def integrity(p: Pursuit) -> str:
    db = sqlite3.connect(f"file:{p.database}?mode=ro", uri=True)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def disk_full_said_clearly(result: Result, disk: SmallDisk) -> None:
    """Exit 1, no traceback, and every line says the disk is full and names the file
    (but the last, which counts the jobs that failed)."""
    assert result.code == 1, str(result)
    assert "Traceback" not in result.out + result.err, str(result)
    lines = result.err.strip().splitlines()
    assert lines, str(result)
    for line in lines:
        if re.fullmatch(r"pursuit: \d+ jobs? failed \(.*\); see the message above", line):
            continue
        assert "disk is full" in line or "No space left on device" in line, str(result)
        assert str(disk.path) in line, str(result)


def run_once(p: Pursuit) -> Result:
    return p.run("run", "--once")


def test_a_disk_that_fills_in_the_middle_of_a_round_loses_nothing_and_the_work_resumes(
    tmp_path: Path, world: World
) -> None:
    # The reference: the same round on a disk with room enough.
    with (
        world.user(tmp_path / "reference") as (reference, emu),
        small_disk(reference.data_home, DISK) as disk,
    ):
        world.prepare(reference)
        before = disk.free()
        reference.ok("run", "--once")
        used = before - disk.free()
        expected = what_the_user_has(reference), the_effects(emu)
    assert expected[0]["ics"] and (expected[0]["outbox"] or world.with_google)

    trials = scale(2, 15)
    stopped = 0
    for trial in range(trials):
        leave = used * (trial + 1) // (trials + 1)
        with (
            world.user(tmp_path / f"trial{trial}") as (p, emu),
            small_disk(p.data_home, DISK) as disk,
        ):
            world.prepare(p)
            disk.fill(leave)
            first = p.run("run", "--once")
            if first.code != 0:
                disk_full_said_clearly(first, disk)
                stopped += 1
            disk.unfill()  # the reader below needs room for its shared-memory file too
            if p.database.exists():
                assert integrity(p) == "ok"
            p.ok("run", "--once")
            assert integrity(p) == "ok"
            got = what_the_user_has(p), the_effects(emu)
            assert differences(got, expected) == [], f"leaving {leave} of {used} free:\n{first}"
    print(f"{world.with_google=}: the disk filled in {stopped} of {trials} rounds")
    assert stopped > 0


# --- read-only storage

READING = [
    ("status",),
    ("history", "Acme Networks"),
    ("export", "--format", "json"),
    ("doctor",),
]


def reading_commands_answer(p: Pursuit) -> None:
    for args in READING:
        result = p.run(*args)
        assert "Traceback" not in result.out + result.err, str(result)
        if args == ("doctor",):  # exit 1 when it has something to point out
            assert result.code in (0, 1) and "store: " in result.out, str(result)
        else:
            assert result.code == 0 and "Acme" in result.out, str(result)


def read_only_said_clearly(result: Result, disk: SmallDisk) -> None:
    assert result.code in (1, 2), str(result)
    assert "Traceback" not in result.out + result.err, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, str(result)
    assert "read-only" in lines[0] and str(disk.path) in lines[0], str(result)


def test_a_file_system_remounted_read_only_between_runs_still_answers_and_resumes(
    tmp_path: Path, world: World
) -> None:
    with (
        world.user(tmp_path / "user") as (p, emu),
        small_disk(p.data_home, DISK) as disk,
    ):
        world.prepare(p)
        p.ok("run", "--once")
        before = what_the_user_has(p)
        disk.read_only()
        try:
            reading_commands_answer(p)
            for args in [("org", "add", "Globex", "--domain", "globex.com"), ("run", "--once")]:
                read_only_said_clearly(p.run(*args), disk)
            assert what_the_user_has(p) == before
        finally:
            disk.read_write()
        # What came meanwhile is taken in once the disk can be written again.
        emu.add_message(
            raw_mail("Jane Doe <jane@acme.com>", ME, "While read-only", world.now, "ro@acme.com")
        )
        p.ok("org", "add", "Globex", "--domain", "globex.com")
        p.ok("run", "--once")
        after = p.export()
        assert "Globex" in [o["name"] for o in after["organizations"]]
        subjects = [m["subject"] for m in after["correspondence"]]
        assert ("While read-only" in subjects) == world.with_google
        assert integrity(p) == "ok"


def test_the_service_under_a_file_system_remounted_read_only_says_so_and_resumes(
    tmp_path: Path,
) -> None:
    with FeedServer() as feeds:
        world = World(True, feeds, datetime.now(UTC))
        openings = [("job0", "Network Engineer")]
        feeds.route("/careers.xml", static(rss(openings)))
        with (
            world.user(tmp_path / "user") as (p, emu),
            small_disk(p.data_home, DISK) as disk,
        ):
            config = p.config_path.read_text()
            p.write_config(config + '[service]\nmail_every = "1s"\nretry_after = "1s"\n')
            log = p.root / "service.log"
            with log.open("w") as out:
                service = subprocess.Popen(
                    [*pursuit_command(), "-v", "run"],
                    env=p.env(),
                    cwd=p.root,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                wait_for(lambda: "job mail" in log.read_text() or len(logged(p)) > 0, log)
                wait_for(lambda: len(logged(p)) == MESSAGES, log)
                disk.read_only_under()
                emu.add_message(
                    raw_mail("Jane <jane@acme.com>", ME, "Meanwhile", world.now, "ro@acme.com")
                )
                p.write_config(config + '[service]\nmail_every = "1s"\nretry_after = "1s"\n')
                # The new mail asks for a new event in the calendar file, which cannot be written.
                wait_for(lambda: "Read-only file system" in log.read_text(), log)
                reading_commands_answer(p)
                read_only_said_clearly(p.run("org", "add", "Globex", "--domain", "g.com"), disk)
                read_only_said_clearly(p.run("run", "--once"), disk)
                disk.read_write()
                wait_for(lambda: "Meanwhile" in event_titles(p), log)
                wait_for(lambda: "<ro@acme.com>" in logged(p), log)
            finally:
                service.send_signal(signal.SIGTERM)
                assert service.wait(timeout=30) == 0, log.read_text()
            text = log.read_text()
            assert "Traceback" not in text, text
            assert integrity(p) == "ok"


def event_titles(p: Pursuit) -> str:
    try:
        return p.ics.read_text()
    except OSError:
        return ""


def logged(p: Pursuit) -> list[str]:
    if not p.database.exists():
        return []
    db = sqlite3.connect(f"file:{p.database}?mode=ro", uri=True)
    try:
        return [row[0] for row in db.execute("SELECT message_id FROM correspondence")]
    except sqlite3.Error:
        return []
    finally:
        db.close()


def wait_for(condition: Callable[[], bool], log: Path, timeout: float = 60.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, log.read_text()
        time.sleep(0.2)
