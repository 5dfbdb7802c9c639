"""pursuit's command line run inside the test process, as its own process would run it.

Starting Python and importing pursuit costs a tenth of a second or more per call,
and the tests make hundreds of calls, so `support.cli.Pursuit` runs the command
here by default: `run(argv, env, cwd)` returns the exit code, standard output and
standard error that `pursuit argv...` started with exactly `env`, in `cwd`, with
no terminal anywhere, would give. What only a real process shows (the installed
script, signals, a crash's exit status, what gets imported) is tested with one:
`Pursuit(..., process=True)` or `Pursuit.run_process`.

What a process has of its own is set for the call and put back after it:

- `os.environ` (exactly `env`), its TZ applied with `time.tzset()`, tzlocal's
  cached zone forgotten, LC_CTYPE from LC_ALL;
- icalendar's time zones made from VTIMEZONE components (kept for the whole
  process: those of an earlier command, or of the test, are none of this one's);
- the working directory and `sys.argv` (the installed script's path first);
- standard input: empty, not a terminal; standard output and error: not
  terminals (no colors, no progress bars), UTF-8 as PYTHONIOENCODING=utf-8 makes
  them (strict on stdout, backslashreplace on stderr), write-through under
  PYTHONUNBUFFERED; 80 columns unless COLUMNS says otherwise; the text read back
  with universal newlines, as `subprocess.run(text=True)` does;
- logging: the root logger's handlers (the test runner's are taken away, so
  pursuit sets up its own as it does in a process) and every logger's level;
- the SIGTERM, SIGINT and SIGHUP handlers the service installs;
- warnings: Python's default filters, so a warning reaches stderr as in a process;
- the clock: `moment` (a timestamp) travels there with time-machine, ticking, as
  `frozen_time/sitecustomize.py` starts a process there.

An exception that escapes is printed as Python prints it (a traceback on stderr,
exit 1), a `SystemExit` is read as Python reads it, threads the command left
running are waited for as at a process's exit, and a call still running after
`timeout` seconds is stopped with `RunTimedOut` (a process's `subprocess.run`
would time out there too).
"""

from __future__ import annotations

import gc
import io
import locale
import logging
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import time_machine

#: The signals whose handlers the service installs (daemon/service.py).
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class RunTimedOut(BaseException):  # like KeyboardInterrupt: `except Exception` misses it
    """The in-process command ran past its time limit."""


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def run(
    main: Callable[[list[str]], object],
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    program: str,
    moment: float | None = None,
    timeout: float = 60,
) -> Ran:
    """`main(argv)` as the process `program argv...` would run it (see the module's doc)."""
    stdin = _stream(io.BytesIO(), "strict", write_through=False)
    stdout_bytes, stderr_bytes = io.BytesIO(), io.BytesIO()
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    stdout = _stream(stdout_bytes, "strict", write_through=unbuffered)
    stderr = _stream(stderr_bytes, "backslashreplace", write_through=True)
    threads = set(threading.enumerate())
    with ExitStack() as stack:
        stack.enter_context(_own_garbage())
        stack.enter_context(_environment(env))
        stack.enter_context(_icalendar_time_zones())
        stack.enter_context(_directory(cwd))
        stack.enter_context(_attributes(sys, argv=[program, *argv]))
        stack.enter_context(
            _attributes(
                sys,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                __stdin__=stdin,
                __stdout__=stdout,
                __stderr__=stderr,
            )
        )
        stack.enter_context(_logging())
        stack.enter_context(_signals())
        stack.enter_context(_warnings())
        if moment is not None:
            stack.enter_context(time_machine.travel(moment, tick=True))
        stack.enter_context(_time_limit(timeout, argv))
        code = _call(main, list(argv), stderr)
        _join_new_threads(threads, timeout, argv)
        stdout.flush()
        stderr.flush()
    return Ran(code, _text(stdout_bytes), _text(stderr_bytes))


@contextmanager
def _own_garbage() -> Iterator[None]:
    """A process's exit closes whatever its command left open (a database connection
    or the run lock's descriptor that a failure left in a reference cycle): what the
    command left is collected before the next call. The test process's own objects
    are set aside meanwhile (gc.freeze), so the collection looks at the command's alone
    and costs milliseconds, not the tenth of a second a full one costs late in a run."""
    gc.freeze()
    try:
        yield
        gc.collect()
    finally:
        gc.unfreeze()


def _call(main: Callable[[list[str]], object], argv: list[str], stderr: io.TextIOBase) -> int:
    """Python's own handling of what leaves `main`: the exit code it would give."""
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        print(code, file=stderr)
        return 1
    except (KeyboardInterrupt, RunTimedOut):
        raise
    except BaseException as exc:  # an uncaught exception: Python prints it and exits 1
        stderr.write("".join(traceback.format_exception(exc)))
        del exc
        return 1
    return 0


def _stream(buffer: io.BytesIO, errors: str, *, write_through: bool) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        buffer, encoding="utf-8", errors=errors, newline="\n", write_through=write_through
    )


def _text(data: io.BytesIO) -> str:
    """The bytes as `subprocess.run(text=True, encoding="utf-8")` reads them."""
    return io.TextIOWrapper(io.BytesIO(data.getvalue()), encoding="utf-8", newline=None).read()


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    saved_ctype = locale.setlocale(locale.LC_CTYPE)
    tzlocal_unix: Any = sys.modules.get("tzlocal.unix")
    saved_zone = (tzlocal_unix._cache_tz_name, tzlocal_unix._cache_tz) if tzlocal_unix else None
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    _forget_tzlocal()
    ctype = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or "C"
    try:
        locale.setlocale(locale.LC_CTYPE, ctype)
    except locale.Error:  # as Python starting under a locale the machine lacks: C
        locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        time.tzset()
        locale.setlocale(locale.LC_CTYPE, saved_ctype)
        _forget_tzlocal()
        if saved_zone is not None:
            tzlocal_unix._cache_tz_name, tzlocal_unix._cache_tz = saved_zone


def _forget_tzlocal() -> None:
    """tzlocal keeps the zone it found: forget it, as a new process starts without it."""
    module: Any = sys.modules.get("tzlocal.unix")
    if module is not None:
        module._cache_tz_name = None
        module._cache_tz = None


@contextmanager
def _icalendar_time_zones() -> Iterator[None]:
    """icalendar keeps each VTIMEZONE it read by its TZID for the rest of the process;
    a new process starts with none."""
    saved = dict(_icalendar_cache())
    _icalendar_cache().clear()
    try:
        yield
    finally:
        cache = _icalendar_cache()
        cache.clear()
        cache.update(saved)


def _icalendar_cache() -> dict[str, Any]:
    """icalendar's cache of time zones made from VTIMEZONEs ({} if it is not loaded)."""
    module: Any = sys.modules.get("icalendar.timezone")
    cache = getattr(getattr(module, "tzp", None), "_TZP__tz_cache", None)
    return cache if isinstance(cache, dict) else {}


@contextmanager
def _directory(cwd: Path) -> Iterator[None]:
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


@contextmanager
def _attributes(owner: object, **values: object) -> Iterator[None]:
    saved = {name: getattr(owner, name) for name in values}
    for name, value in values.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


@contextmanager
def _logging() -> Iterator[None]:
    """No handler on the root logger (a process starts with none), and those the command
    adds hear its own threads only (a server the test runs in a thread, logging
    meanwhile, is no part of the command's stderr); afterwards every logger's handlers,
    level, propagation and disabled flag as they were."""
    root = logging.getLogger()
    own = _OwnThreads({t.ident for t in threading.enumerate()} - {threading.get_ident()})

    def add_handler(handler: logging.Handler) -> None:
        handler.addFilter(own)
        logging.Logger.addHandler(root, handler)

    loggers = [root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    disabled = logging.root.manager.disable
    for handler in list(root.handlers):
        root.removeHandler(handler)
    setattr(root, "addHandler", add_handler)  # noqa: B010 -- on this logger object only
    try:
        yield
    finally:
        delattr(root, "addHandler")
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for logger, level, handlers, propagate, was_disabled in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = was_disabled
        logging.disable(disabled)


class _OwnThreads(logging.Filter):
    def __init__(self, foreign: set[int | None]) -> None:
        super().__init__()
        self.foreign = foreign

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self.foreign


@contextmanager
def _signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {number: signal.getsignal(number) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None:
                signal.signal(number, handler)


@contextmanager
def _warnings() -> Iterator[None]:
    """Python's default warning filters, not the test runner's, and a warning shown on
    stderr (the runner records them elsewhere)."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        text = warnings.formatwarning(message, category, filename, lineno, line)
        (file or sys.stderr).write(text)

    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        for category in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.filterwarnings("ignore", category=category, append=True)
        warnings.showwarning = show
        yield


@contextmanager
def _time_limit(seconds: float, argv: Sequence[str]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise RunTimedOut(f"pursuit {' '.join(argv)} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _join_new_threads(before: set[threading.Thread], timeout: float, argv: Sequence[str]) -> None:
    """A process exits once its non-daemon threads end: wait for those the command left."""
    deadline = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - before:
        if not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise RunTimedOut(f"pursuit {' '.join(argv)} left thread {thread.name} running")
