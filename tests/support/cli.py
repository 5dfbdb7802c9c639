"""Run pursuit as its user does: its command line, real files, an isolated home.

`Pursuit(tmp_path)` is one user's machine: its own HOME, XDG_CONFIG_HOME and
XDG_DATA_HOME under tmp_path, a time zone (TZ, and the same `timezone` in the
config file unless told otherwise), nothing inherited from the real user's
PURSUIT_CONFIG or XDG_* variables, and no terminal on standard input.

Each command runs inside the test process (support/inprocess.py: the environment,
directory, streams, clock, logging and exit code of a process, set for the call and
put back after it), which is some twenty times faster than starting Python. What
only a process shows takes one: `Pursuit(..., process=True)` for every call, or
`run_process` for one, or a module marked `processes` (tests/conftest.py). That is
the installed script itself, a crash's exit status, signals, what a command imports,
running as another user, anything killed (the crash trials), and an environment only
Python's startup reads (PYTHONPATH, a sitecustomize hook).

`PURSUIT_TESTS_IN_PROCESS=0 pytest` runs every command as a process, the way to
check that running them in the test process changes no test's outcome.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import icalendar

from support import clock, inprocess

#: Variables only a process honours (read at Python's startup, or naming a file
#: descriptor of its own): a run that sets them must be a process.
PROCESS_ONLY = ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS")
#: PURSUIT_TESTS_IN_PROCESS=0: every command a process (see the module's doc).
IN_PROCESS = os.environ.get("PURSUIT_TESTS_IN_PROCESS", "1") != "0"


def pursuit_command() -> list[str]:
    """The installed `pursuit` script beside this Python, else `python -m pursuit.daemon`."""
    script = Path(sys.executable).with_name("pursuit")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pursuit.daemon"]


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (
            f"pursuit {' '.join(self.args)} -> exit {self.code}\n"
            f"--- stdout\n{self.out}--- stderr\n{self.err}"
        )


def _program() -> str:
    """What sys.argv[0] is in a `pursuit` process: the script, else pursuit.daemon's __main__."""
    command = pursuit_command()
    if len(command) == 1:
        return command[0]
    return str(Path(__file__).resolve().parents[2] / "daemon" / "__main__.py")


class Pursuit:
    """One user's machine, and pursuit run on it (in the test process unless `process`)."""

    def __init__(
        self,
        root: Path,
        *,
        timezone: str = "Europe/Paris",
        config: str | None = "",
        process: bool = False,
    ) -> None:
        """`config`: extra TOML after `timezone = ...`; None writes no config file at all.
        `process`: every command a real subprocess (see the module's doc for when)."""
        self.root = root
        self.process = process
        self.home = root / "home"
        self.config_home = root / "xdg-config"
        self.data_home = root / "xdg-data"
        self.timezone = timezone
        self.home.mkdir(parents=True, exist_ok=True)
        if config is not None:
            self.write_config(f'timezone = "{timezone}"\n{config}')

    # --- where things are

    @property
    def config_path(self) -> Path:
        return self.config_home / "pursuit" / "config.toml"

    @property
    def data_dir(self) -> Path:
        return self.data_home / "pursuit"

    @property
    def database(self) -> Path:
        return self.data_dir / "pursuit.sqlite3"

    @property
    def ics(self) -> Path:
        return self.data_dir / "calendar.ics"

    def write_config(self, text: str, path: Path | None = None) -> Path:
        target = path or self.config_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    # --- running

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PURSUIT_", "XDG_", "LC_"))
            and key not in ("TZ", "LANG", "LANGUAGE")
        }
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.config_home),
            XDG_DATA_HOME=str(self.data_home),
            XDG_CACHE_HOME=str(self.root / "xdg-cache"),
            XDG_STATE_HOME=str(self.root / "xdg-state"),
            TZ=self.timezone,
            LC_ALL="C.UTF-8",
            PYTHONIOENCODING="utf-8",
        )
        env.update(clock.subprocess_env())
        env.update(extra or {})
        return env

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """`pursuit args...` with this machine's environment (and `env` on top)."""
        if self.process or not IN_PROCESS:
            return self.run_process(*args, env=env)
        return self.run_in_process(*args, env=env)

    def run_in_process(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """As `run_process` would, inside the test process (support/inprocess.py)."""
        full, moment = clock.split(self.env(env))
        for key in env or {}:
            if key in PROCESS_ONLY or (key.startswith("PYTHON") and key != "PYTHONPATH"):
                raise ValueError(f"{key} needs a process: Pursuit(..., process=True)")
        if full.get("PYTHONPATH") != os.environ.get("PYTHONPATH"):
            raise ValueError("PYTHONPATH needs a process: Pursuit(..., process=True)")
        from pursuit.daemon.cli import main

        ran = inprocess.run(main, args, env=full, cwd=self.root, program=_program(), moment=moment)
        return Result(tuple(args), ran.code, ran.out, ran.err)

    def run_process(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """`pursuit args...` as a subprocess of its own: the installed script."""
        done = subprocess.run(
            [*pursuit_command(), *args],
            env=self.env(env),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
        )
        return Result(tuple(args), done.returncode, done.stdout, done.stderr)

    def killed_once(self, arrived: Callable[[], bool], *args: str) -> None:
        """`pursuit run --once` (or `args`) in a process of its own, SIGKILLed as soon as
        `arrived()` says the call to be cut short reached its server (an emulator holding
        it, say): what a machine losing power mid-request leaves behind."""
        with subprocess.Popen(
            [*pursuit_command(), *(args or ("run", "--once"))],
            env=self.env(),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as run:
            try:
                assert arrived(), "pursuit never made the call the test waits for"
            finally:
                run.send_signal(signal.SIGKILL)
                run.wait(timeout=30)

    def _run(self, args: tuple[str, ...], env: dict[str, str] | None, process: bool) -> Result:
        return self.run_process(*args, env=env) if process else self.run(*args, env=env)

    def ok(self, *args: str, env: dict[str, str] | None = None, process: bool = False) -> str:
        """Run, expect success and a quiet stderr; return stdout. `process`: this call
        in a subprocess of its own, whatever the machine's default."""
        result = self._run(args, env, process)
        assert result.code == 0, str(result)
        assert "Traceback" not in result.err, str(result)
        return result.out

    def fails(
        self,
        *args: str,
        code: int = 2,
        env: dict[str, str] | None = None,
        process: bool = False,
    ) -> str:
        """Run, expect this exit code and a message without a traceback; return stderr."""
        result = self._run(args, env, process)
        assert result.code == code, str(result)
        assert "Traceback" not in result.err + result.out, str(result)
        assert result.err.strip(), str(result)
        return result.err

    def one_line_error(self, *args: str, env: dict[str, str] | None = None) -> str:
        """A bad command line: exit 2 and exactly one line saying what is wrong."""
        err = self.fails(*args, env=env)
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"expected one line:\n{err}"
        assert lines[0].startswith("pursuit: "), err
        return lines[0]

    # --- what the user can look at

    def export(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("export", "--format", "json"))
        return data

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("status", "--json", "--limit", "1000"))
        return data

    def calendar_events(self) -> list[icalendar.cal.Component]:
        calendar = icalendar.Calendar.from_ical(self.ics.read_bytes())
        return list(calendar.walk("VEVENT"))


def duties_by(data: dict[str, Any], kind: str, contact: str | None = None) -> list[dict[str, Any]]:
    return [
        d
        for d in data["duties"]
        if d["kind"] == kind and (contact is None or d["contact"] == contact)
    ]
