"""Storage the user cannot write: one clear line naming the path and the fix, never a
traceback; and a read-only database or data directory still answers every reading command.

Root ignores file modes, so when the tests run as root pursuit runs as `nobody`
(setpriv), in a directory under /tmp that user owns.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit, Result, pursuit_command
from support.reliability import full

from pursuit.config.settings import Settings
from pursuit.daemon import actions
from pursuit.daemon.export import export_data
from pursuit.daemon.store import Store

# Written on 30 November 2026 against fixed dates: run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)
NOBODY = 65534
AS_ROOT = os.geteuid() == 0
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


class Unprivileged(Pursuit):
    """pursuit run by a user whom file modes bind (nobody, when the tests run as root)."""

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        prefix = AS_NOBODY if AS_ROOT else []
        done = subprocess.run(
            [*prefix, *pursuit_command(), *args],
            env=self.env(env),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
        )
        return Result(tuple(args), done.returncode, done.stdout, done.stderr)

    def give(self) -> None:
        """Everything under root belongs to the user pursuit runs as."""
        if AS_ROOT:
            for folder, dirs, files in os.walk(self.root):
                for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                    os.chown(name, NOBODY, NOBODY)


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's tmp_path is root's alone)."""
    if AS_ROOT and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be tested")
    folder = Path(tempfile.mkdtemp(prefix="pursuit-storage-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for sub, dirs, _files in os.walk(folder):
            for name in [sub, *(os.path.join(sub, d) for d in dirs)]:
                os.chmod(name, 0o700)
        shutil.rmtree(folder)


def machine(place: Path, config: str = "") -> Unprivileged:
    p = Unprivileged(place, config=config)
    p.give()
    return p


def with_records(place: Path, config: str = "") -> Unprivileged:
    """A machine whose user has tracked Acme and had an interview there."""
    p = machine(place, config)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("interview", "add", "Acme Networks", "--at", "2026-12-01 14:00", "--with", "j@acme.com")
    p.ok("note", "j@acme.com", "Liked the team")
    return p


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line:\n{err}"
    assert lines[0].startswith("pursuit: "), err
    return lines[0]


READING_COMMANDS: list[tuple[str, ...]] = [
    ("status",),
    ("status", "--json"),
    ("history", "Acme Networks"),
    ("org", "list"),
    ("org", "show", "Acme Networks"),
    ("interview", "list"),
    ("contact", "show", "j@acme.com"),
    ("week",),
    ("news",),
    ("openings",),
    ("doctor",),
    ("export", "--format", "json"),
    ("export", "--format", "csv", "--table", "duties"),
    ("export", "--format", "ics"),
]

CHANGING_COMMANDS: list[tuple[str, ...]] = [
    ("org", "add", "Globex", "--domain", "globex.com"),
    ("org", "status", "Acme Networks", "rejected"),
    ("interview", "add", "Acme Networks", "--at", "2026-12-08 10:00", "--with", "k@acme.com"),
    ("note", "j@acme.com", "Another note"),
    ("contact", "add", "Kim <kim@acme.com>", "--org", "Acme Networks"),
    ("forget", "Acme Networks"),
    ("run", "--once"),
]


#: What every read-only cause but the first is tried with (each command is a process of
#: a user of its own, a third of a second): the full lists in the full run.
SOME_READING = [("status",), ("doctor",), ("export", "--format", "json")]
SOME_CHANGING = [("note", "j@acme.com", "Another note"), ("run", "--once")]


def read_only_cases(p: Unprivileged, database: Path, *, every: bool = True) -> None:
    """Every reading command answers; every changing one says, in one line, that the
    database is read-only, naming it; nothing is changed."""
    before = database.read_bytes()
    every = every or full()
    for args in READING_COMMANDS if every else SOME_READING:
        out = p.ok(*args)
        if args[0] in ("status", "history", "org", "export", "interview"):
            assert "Acme" in out or "j@acme.com" in out or "14:00" in out, (args, out)
    for args in CHANGING_COMMANDS if every else SOME_CHANGING:
        result = p.run(*args)
        assert result.code in (1, 2), str(result)
        assert "Traceback" not in result.err + result.out, str(result)
        line = one_line(result.err)
        assert "read-only" in line and str(database) in line, line
    assert database.read_bytes() == before
    assert "Globex" not in p.ok("org", "list")


def test_a_read_only_data_directory_answers_reading_commands(place: Path) -> None:
    p = with_records(place)
    p.data_dir.chmod(0o500)
    read_only_cases(p, p.database)


def test_a_read_only_database_file_answers_reading_commands(place: Path) -> None:
    p = with_records(place)
    p.database.chmod(0o400)
    read_only_cases(p, p.database, every=False)


def test_a_data_directory_owned_by_someone_else_is_read_only(place: Path) -> None:
    if not AS_ROOT:
        pytest.skip("needs root to give the directory to someone else")
    p = with_records(place)
    for name in [p.data_dir, *p.data_dir.iterdir()]:
        os.chown(name, 0, 0)
        name.chmod(0o755 if name.is_dir() else 0o644)
    read_only_cases(p, p.database, every=False)


def test_the_read_only_database_is_read_even_with_its_write_ahead_log_left(place: Path) -> None:
    """A database whose last writer left its -wal and -shm beside it (a service that was
    killed) is read with what they hold."""
    p = with_records(place)
    database = p.database
    # Keep a writer open so the -wal survives, then make the whole directory read-only.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); "
            "db.execute('PRAGMA wal_autocheckpoint=0'); "
            "db.execute(\"UPDATE organizations SET name='Acme Renamed'\"); db.commit(); "
            "print('ok', flush=True); sys.stdin.readline()",
            str(database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ok\n"
        for name in p.data_dir.iterdir():
            name.chmod(0o444)
        p.data_dir.chmod(0o555)
        assert "Acme Renamed" in p.ok("org", "list")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_database_whose_directory_cannot_be_made_is_one_line(place: Path) -> None:
    blocker = place / "afile"
    blocker.write_text("not a directory\n")
    locked = place / "locked"
    locked.mkdir()
    p = machine(place)
    locked.chmod(0o555)
    for database in (blocker / "state" / "pursuit.sqlite3", locked / "sub" / "pursuit.sqlite3"):
        p.write_config(f'timezone = "Europe/Paris"\ndatabase = "{database}"\n')
        p.give()
        for args in (("status",), ("org", "add", "Globex"), ("run", "--once")):
            result = p.run(*args)
            assert result.code in (1, 2), str(result)
            assert "Traceback" not in result.err, str(result)
            line = one_line(result.err)
            assert str(database.parent) in line, line
            assert "database" in line, line


def test_a_new_database_in_a_read_only_directory_is_one_line(place: Path) -> None:
    p = machine(place)
    p.data_dir.mkdir(parents=True)
    p.give()
    p.data_dir.chmod(0o500)
    for args in (("status",), ("org", "add", "Globex"), ("run", "--once")):
        result = p.run(*args)
        assert result.code in (1, 2), str(result)
        line = one_line(result.err)
        assert str(p.data_dir) in line, line
    assert not p.database.exists()


def test_missing_or_unwritable_home_is_one_line(place: Path) -> None:
    p = machine(place)
    nowhere = place / "locked"
    nowhere.mkdir()
    nowhere.chmod(0o555)
    environments: list[dict[str, str]] = [
        {"XDG_DATA_HOME": str(nowhere / "data")},
        {"XDG_DATA_HOME": str(nowhere)},
        {"XDG_DATA_HOME": "", "HOME": str(nowhere)},
    ]
    for env in environments:
        for args in (("status",), ("org", "add", "Globex"), ("run", "--once")):
            result = p.run(*args, env=env)
            assert result.code in (1, 2), str(result)
            line = one_line(result.err)
            assert str(nowhere) in line, line
    # With HOME unset too, pursuit falls back to the account's home; as nobody that is
    # a place that does not exist and cannot be made.
    if AS_ROOT:
        env = p.env({})
        del env["HOME"], env["XDG_DATA_HOME"]
        done = subprocess.run(
            [*AS_NOBODY, *pursuit_command(), "status"],
            env=env,
            cwd=place,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        assert done.returncode in (1, 2), done.stderr
        one_line(done.stderr)


def test_a_missing_data_home_that_can_be_made_is_made(place: Path) -> None:
    p = machine(place)
    p.ok("org", "add", "Globex", env={"XDG_DATA_HOME": str(place / "new" / "data")})
    assert (place / "new" / "data" / "pursuit" / "pursuit.sqlite3").is_file()


def test_an_unwritable_calendar_file_fails_its_job_alone(place: Path) -> None:
    shut = place / "shut"
    shut.mkdir()
    ics = shut / "calendar.ics"
    p = with_records(place, f'[calendar]\nics_file = "{ics}"\n')
    shut.chmod(0o555)
    result = p.run("run", "--once")
    assert result.code == 1, str(result)
    assert "Traceback" not in result.err, str(result)
    calendar_lines = [line for line in result.err.splitlines() if "calendar" in line]
    assert any(str(ics) in line for line in calendar_lines), result.err
    assert "1 job failed (calendar)" in result.err, result.err
    # the other jobs ran: the plan is there and the round was recorded
    assert "pending duties" in result.out
    assert not ics.exists()
    shut.chmod(0o755)
    p.ok("run", "--once")
    assert ics.is_file()


def test_modes_are_as_pursuit_left_them(place: Path) -> None:
    """Opening read-only never changes a file's mode (it must not try to "fix" them)."""
    p = with_records(place)
    p.database.chmod(0o400)
    p.ok("status")
    assert stat.S_IMODE(p.database.stat().st_mode) == 0o400


# --- a command that fails half-way leaves the store as it was


def snapshot(store: Store) -> tuple[str, dict[str, int]]:
    data = export_data(store, PARIS, NOW)
    return json.dumps(data, sort_keys=True, default=str), store.counts()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings.database)
    actions.add_organization(opened, "Acme Networks", ["acme.com"], [], now=NOW)
    actions.add_interview(
        opened,
        settings,
        NOW,
        "acme",
        start="2026-12-01 14:00",
        people=["Jane Doe <jane@acme.com>", "raj@acme.com"],
    )
    yield opened
    opened.close()


class PlannerBroke(Exception):
    pass


USE_CASES: dict[str, Callable[[Store, Settings], object]] = {
    "org status": lambda s, c: actions.set_status(s, c, NOW, "Acme Networks", "rejected"),
    "interview add": lambda s, c: actions.add_interview(
        s, c, NOW, "acme", start="2026-12-08 10:00", people=["kim@acme.com"]
    ),
    "interview move": lambda s, c: actions.move_interview(s, c, NOW, 1, start="2026-12-03 09:00"),
    "interview cancel": lambda s, c: actions.cancel_interview(s, c, NOW, 1),
    "commit": lambda s, c: actions.commit(s, c, NOW, "jane@acme.com", after="10d"),
    "note": lambda s, c: actions.note(s, c, NOW, "jane@acme.com", "Liked the team"),
    "note without interview": lambda s, c: actions.note(s, c, NOW, "lee@acme.com", "Met"),
    "log": lambda s, c: actions.log_by_hand(
        s,
        c,
        NOW + timedelta(days=2),
        "email",
        "jane@acme.com",
        "Thank you",
        when="2026-12-01 18:00",
    ),
    "done": lambda s, c: actions.mark_done(s, c, NOW, 1),
    "add-person": lambda s, c: actions.add_person_to_interview(s, c, NOW, 1, "kim@acme.com"),
    "remove-person": lambda s, c: actions.remove_person_from_interview(
        s, c, NOW, 1, "raj@acme.com"
    ),
    "forget org": lambda s, c: actions.forget(s, c, NOW, s.find_organization("Acme Networks")),
    "forget contact": lambda s, c: actions.forget(s, c, NOW, s.find_contact("jane@acme.com")),
}


@pytest.mark.parametrize("use_case", sorted(USE_CASES))
def test_a_planner_failure_leaves_the_store_as_before(
    use_case: str, store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is made, the planner even does its own writes, then fails: nothing of
    the change nor of its consequences is kept."""
    from pursuit.daemon import jobs

    real_plan = jobs.plan
    if use_case == "note without interview":
        actions.add_contact(store, NOW, "lee@acme.com", organization="Acme Networks")
    before = snapshot(store)

    def plan_then_fail(*args: Any, **kwargs: Any) -> Any:
        real_plan(*args, **kwargs)
        raise PlannerBroke("the planner failed after writing")

    monkeypatch.setattr(jobs, "plan", plan_then_fail)
    with pytest.raises(PlannerBroke):
        USE_CASES[use_case](store, settings)

    assert snapshot(store) == before
    monkeypatch.setattr(jobs, "plan", real_plan)
    USE_CASES[use_case](store, settings)  # and with a working planner, it goes through
    assert snapshot(store) != before


def test_a_status_change_through_the_command_line_is_all_or_nothing(tmp_path: Path) -> None:
    """`org status` whose planning fails (a bug, simulated in the process) keeps the old
    status: the next `status` shows the organization as it was, its duties pending."""
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("interview", "add", "Acme Networks", "--at", "2026-12-01 14:00", "--with", "j@acme.com")
    before = p.export()
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import pursuit.daemon.jobs as jobs\n"
        "real = jobs.plan\n"
        "def plan(*args, **kwargs):\n"
        "    real(*args, **kwargs)\n"
        "    raise SystemExit('pursuit: the planner failed (simulated)')\n"
        "jobs.plan = plan\n"
    )
    # The hook is read at Python's startup: a process of its own.
    result = p.run_process(
        "org", "status", "Acme Networks", "rejected", env={"PYTHONPATH": str(hook)}
    )
    assert result.code != 0 and "planner failed" in result.err, str(result)
    after = p.export()
    assert after == before
    assert [o["status"] for o in after["organizations"]] == ["active"]
