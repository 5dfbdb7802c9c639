"""Secrets by command, never in the config file (``password_command = "pass show mail"``).

The command runs at each login, so a rotated password or a refreshed OAuth2
access token (an oauth2 helper script prints a fresh one) is always current.
Its output is the secret: it never appears in a message or a log line.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Callable

from pursuit.daemon.errors import AuthError

log = logging.getLogger(__name__)

#: Long enough for a token helper that refreshes over the network, or a gpg prompt.
TIMEOUT = 60.0
#: The most a command may print: a password is short, an OAuth2 access token a few KiB.
MAX_SECRET = 16 * 1024


def command_secret(command: str, what: str, *, timeout: float = TIMEOUT) -> Callable[[], str]:
    """A function that runs `command` and returns its stdout, stripped.

    `what` names the config key (such as ``imap.password_command``) in every
    error: a missing command, a non-zero exit, an empty output, an output longer
    than any secret (MAX_SECRET) or a timeout is one `AuthError` that says which and
    how to fix it, never what was printed. The command is run without a shell when
    it is a plain command line, through ``sh -c`` when it uses shell syntax (pipes,
    ``$VAR``, quotes that split). It runs in a process group of its own: a command
    that hangs or talks on is killed with everything it started, once per call (the
    caller's next attempt is its next login, a round later).
    """
    shell = any(c in command for c in "|&;<>$`(){}*?~")

    def run() -> str:
        try:
            argv = ["sh", "-c", command] if shell else shlex.split(command)
        except ValueError as exc:
            raise AuthError(what, f"cannot read the command ({exc})") from None
        if not argv:
            raise AuthError(what, "the command is empty")
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                # what it says may hold the secret, and is never read: no pipe to fill
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise AuthError(what, f"no such command: {argv[0]}") from None
        except PermissionError:
            raise AuthError(what, f"{argv[0]} cannot be run (permission denied)") from None
        except OSError as exc:
            raise AuthError(what, f"cannot run the command ({exc.strerror or exc})") from None
        late = f"the command gave no answer within {timeout:g} s"
        deadline = time.monotonic() + timeout
        try:
            output, problem = _read_bounded(process, deadline, late)
            if problem is None:  # its output is closed: it is ending
                process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            problem = late
        finally:
            if process.returncode is None:
                _kill_group(process)
        if problem is not None:
            raise AuthError(what, problem)
        if process.returncode != 0:
            # stderr may say why (a locked keyring), but could hold the secret: count only
            raise AuthError(
                what,
                f"the command failed with exit status {process.returncode}; "
                "run it in a terminal to see why",
            )
        secret = output.decode("utf-8", "replace").strip()
        if not secret:
            raise AuthError(what, "the command printed nothing (expected the secret on stdout)")
        return secret

    return run


def _read_bounded(
    process: subprocess.Popen[bytes], deadline: float, late: str
) -> tuple[bytes, str | None]:
    """What the command prints, until it closes its output: (the output, None), or
    (b"", why it must be stopped) when it prints more than MAX_SECRET, or (b"", `late`)
    when it is still talking at `deadline` (time.monotonic)."""
    assert process.stdout is not None
    chunks: list[bytes] = []
    size = 0
    with process.stdout, selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                return b"".join(chunks), None
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SECRET:
                return b"", (
                    f"the command printed more than {MAX_SECRET // 1024} KiB, longer than any "
                    "password or token could be; is it the right command? (it was stopped)"
                )
    return b"", late


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started (its process group), and reap it.
    The group is the command's pid while the command is not reaped, so this is done
    before `wait`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def is_loopback(host: str) -> bool:
    """True for this machine: the only place a secret may travel unencrypted."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
