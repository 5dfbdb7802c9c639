"""Secrets by command, never in the config file (``password_command = "pass show mail"``).

The command runs at each login, so a rotated password or a refreshed OAuth2
access token (an oauth2 helper script prints a fresh one) is always current.
Its output is the secret: it never appears in a message or a log line.
"""

from __future__ import annotations

import ipaddress
import logging
import shlex
import subprocess
from collections.abc import Callable

from pursuit.daemon.errors import AuthError

log = logging.getLogger(__name__)

#: Long enough for a token helper that refreshes over the network, or a gpg prompt.
TIMEOUT = 60.0


def command_secret(command: str, what: str, *, timeout: float = TIMEOUT) -> Callable[[], str]:
    """A function that runs `command` and returns its stdout, stripped.

    `what` names the config key (such as ``imap.password_command``) in every
    error: a missing command, a non-zero exit, an empty output or a timeout is
    one `AuthError` that says which and how to fix it, never what was printed.
    The command is run without a shell when it is a plain command line, through
    ``sh -c`` when it uses shell syntax (pipes, ``$VAR``, quotes that split).
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
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise AuthError(what, f"no such command: {argv[0]}") from None
        except PermissionError:
            raise AuthError(what, f"{argv[0]} cannot be run (permission denied)") from None
        except subprocess.TimeoutExpired:
            raise AuthError(what, f"the command gave no answer within {timeout:g} s") from None
        except OSError as exc:
            raise AuthError(what, f"cannot run the command ({exc.strerror or exc})") from None
        if done.returncode != 0:
            # stderr may say why (a locked keyring), but could hold the secret: count only
            raise AuthError(
                what,
                f"the command failed with exit status {done.returncode}; "
                "run it in a terminal to see why",
            )
        secret = done.stdout.decode("utf-8", "replace").strip()
        if not secret:
            raise AuthError(what, "the command printed nothing (expected the secret on stdout)")
        return secret

    return run


def is_loopback(host: str) -> bool:
    """True for this machine: the only place a secret may travel unencrypted."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
