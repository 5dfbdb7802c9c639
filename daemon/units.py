"""The systemd units of pursuit, and where `pursuit service install` writes them.

`systemd/pursuit.service` (a user unit, `systemctl --user`) and
`systemd/pursuit@.service` (a system template, `User=%i`) in the repository are
these texts with their default `ExecStart`; a test keeps them equal.

Both are sandboxed: the network, the user's pursuit data and config directories
writable, nothing else (`systemd-analyze security --offline=yes`: the system unit
1.2; the user unit 1.5, scored as the user manager that runs it would with `--user`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pursuit.daemon.errors import UserError
from pursuit.daemon.files import write_atomically

USER_UNIT = "pursuit.service"
SYSTEM_UNIT = "pursuit@.service"

_SANDBOX = """\
# The sandbox: network, the pursuit data and config directories, nothing else.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=-{home}/.local/share/pursuit -{home}/.config/pursuit
# A password_command runs in here: `pass` needs gpg-agent already running (gpg-agent.socket),
# `secret-tool` the session bus and an unlocked keyring (see docs/SERVICE.md).
PrivateTmp=yes
PrivateMounts=yes
PrivateDevices=yes
PrivateUsers=yes
# A session keyring of its own: a user manager's default lets every service share the user's.
KeyringMode=private
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
UMask=0077
"""

_SERVICE = """\
[Unit]
Description=pursuit: follows up after your job interviews
{after}
[Service]
Type=notify
NotifyAccess=main
{user}ExecStart={exec_start} run
ExecReload=/bin/kill -HUP $MAINPID
# READY comes after the config and store checks, before any long first sync.
TimeoutStartSec=90
TimeoutStopSec=20
WatchdogSec=120
Restart=on-failure
RestartSec=30
# A config that cannot be read exits 2: restarting would not fix it.
RestartPreventExitStatus=2

{sandbox}
[Install]
WantedBy={wanted_by}
"""

DEFAULT_USER_EXEC = "%h/.local/bin/pursuit"
DEFAULT_SYSTEM_EXEC = "/usr/local/bin/pursuit"


def _quote(path: str) -> str:
    return f'"{path}"' if any(c.isspace() for c in path) else path


def user_unit(executable: str = DEFAULT_USER_EXEC) -> str:
    return _SERVICE.format(
        after="",
        user="",
        exec_start=_quote(executable),
        sandbox=_SANDBOX.format(home="%h"),
        wanted_by="default.target",
    )


def system_unit(executable: str = DEFAULT_SYSTEM_EXEC) -> str:
    # %h is root's home in a system unit whatever User= says: the user's home is named.
    return _SERVICE.format(
        after="Wants=network-online.target\nAfter=network-online.target\n",
        user="User=%i\n",
        exec_start=_quote(executable),
        sandbox=_SANDBOX.format(home="/home/%i"),
        wanted_by="multi-user.target",
    )


def installed_executable() -> str:
    """The absolute path of the `pursuit` being run (sys.argv[0]), else the one on PATH."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "pursuit" and argv0.exists():
        return str(argv0.resolve())
    found = shutil.which("pursuit")
    if found:
        return str(Path(found).resolve())
    beside = Path(sys.executable).with_name("pursuit")
    if beside.exists():
        return str(beside)
    raise UserError(
        "cannot find the installed `pursuit` command: install pursuit (pipx install .) "
        "or put its virtualenv's bin directory on PATH"
    )


def user_unit_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def install(*, system: bool, root: Path | None = None, executable: str | None = None) -> Path:
    """Write the unit where systemd looks for it; returns its path.

    `root` prefixes the system path (/etc/systemd/system), for packaging and tests.
    """
    executable = executable or installed_executable()
    if system:
        target = (root or Path("/")) / "etc/systemd/system" / SYSTEM_UNIT
        text = system_unit(executable)
    else:
        target = user_unit_dir() / USER_UNIT
        text = user_unit(executable)
        # The sandbox only lets pursuit write directories that exist when it starts.
        from pursuit.config.settings import config_dir, data_dir

        for directory in (data_dir(), config_dir()):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # a temporary file of its own (never a link someone left there), renamed over it
        write_atomically(target, text.encode("utf-8"), mode=0o644)
    except PermissionError:
        raise UserError(
            f"{target}: permission denied; a system unit is installed as root "
            "(sudo pursuit service install --system)"
        ) from None
    return target


def enable_commands(*, system: bool, user: str | None = None) -> list[str]:
    if system:
        who = user or os.environ.get("SUDO_USER") or os.environ.get("USER") or "USER"
        return [
            "systemctl daemon-reload",
            f"systemctl enable --now pursuit@{who}.service",
            f"systemctl status pursuit@{who}.service",
        ]
    return [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now pursuit.service",
        "loginctl enable-linger  # keep it running while you are logged out",
        "systemctl --user status pursuit.service",
    ]
