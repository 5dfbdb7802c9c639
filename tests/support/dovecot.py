"""A real Dovecot IMAP server on 127.0.0.1 for the tests, rootless.

Debian's `dovecot-imapd` started in the foreground on OS-chosen ports with its
own config, state and maildirs in a temporary directory (the recipe in
ENGINEERING.md). Run as root (CI), the server runs as `nobody` through
runuser; otherwise as the current user. It offers plain IMAP with STARTTLS
and IMAPS, both with a self-signed certificate from `support.tlscert`.

When dovecot is not installed the tests skip saying so, except under CI=true,
where they fail: CI installs it (.ci/run). A support module, not a test module.

    with Dovecot() as server:
        server.append("INBOX", raw_message)
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from imapclient import IMAPClient

from pursuit.connectors.imap import ImapMailbox
from support.tlscert import self_signed_cert

USER = "alice@example.test"
PASSWORD = "secret"


def require_dovecot() -> str:
    """The dovecot binary, or a skip (a failure under CI=true) saying it is missing."""
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None
    )
    if found:
        return found
    message = "dovecot is not installed (apt-get install dovecot-imapd): IMAP tests skipped"
    if os.environ.get("CI") == "true":
        pytest.fail(message.replace("skipped", "cannot run in CI"))
    pytest.skip(message)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1, all different: held open together while chosen (two
    calls of one at a time may be given the same port)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
default_internal_user = {user}
default_login_user = {user}
default_internal_group = {group}
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
{oauth2}userdb {{
  driver = static
  args = uid={user} gid={group} home={d}/mail/%u
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
}}
"""

#: With `introspection_url`: XOAUTH2 and OAUTHBEARER logins, each token asked of that
#: RFC 7662 endpoint (POST token=...), as Dovecot 2.3's oauth2 passdb does for a real
#: identity provider; the password logins stay for the tests' own clients.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}
"""
OAUTH2_CONFIG = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


class Dovecot:
    """One Dovecot instance; `port` speaks IMAP (+STARTTLS), `tls_port` IMAPS. With
    `introspection_url` (the Graph emulator's), it also takes XOAUTH2 logins whose
    token that endpoint says is live for the user (`OAUTH2_PASSDB`)."""

    host = "127.0.0.1"

    def __init__(self, *, introspection_url: str | None = None) -> None:
        self.binary = require_dovecot()
        self.dir = Path(tempfile.mkdtemp(prefix="pursuit-dovecot-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self.user, self.group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        else:
            self.user = pwd.getpwuid(os.getuid()).pw_name
            self.group = grp.getgrgid(os.getgid()).gr_name
        self.port, self.tls_port = free_ports(2)
        self.cert, _ = self_signed_cert(self.dir)
        (self.dir / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir()
        mechanisms, oauth2 = "plain login", ""
        if introspection_url is not None:
            mechanisms += " xoauth2 oauthbearer"
            # a refused token is answered at once (Dovecot waits 2 s by default)
            oauth2 = "auth_failure_delay = 0\n" + OAUTH2_PASSDB.format(d=self.dir)
            (self.dir / "oauth2.conf.ext").write_text(OAUTH2_CONFIG.format(url=introspection_url))
        (self.dir / "dovecot.conf").write_text(
            CONFIG.format(
                d=self.dir,
                user=self.user,
                group=self.group,
                port=self.port,
                tls_port=self.tls_port,
                mechanisms=mechanisms,
                oauth2=oauth2,
            )
        )
        if self.as_root:
            subprocess.run(["chown", "-R", f"{self.user}:{self.group}", str(self.dir)], check=True)
        self.process: subprocess.Popen[bytes] | None = None
        self._loaded = 0  # messages written by `load`, for unique file names

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.as_root else []
        return [*prefix, *args]

    def start(self) -> Dovecot:
        # a restart may find the killed server's port or pid file not yet released
        for attempt in range(5):
            try:
                return self._start()
            except RuntimeError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def _start(self) -> Dovecot:
        self.process = subprocess.Popen(
            self._command(self.binary, "-F", "-c", str(self.dir / "dovecot.conf")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                error = self.process.stderr.read().decode(errors="replace")
                self.process = None
                raise RuntimeError(f"dovecot exited: {error} {self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1) as s,
            ):
                if s.recv(100).startswith(b"* OK"):
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def stop(self) -> None:
        """Stop the server at once (its clients see the connection drop)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        # the killed children may hold the ports a moment longer
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
            except OSError:
                break
            time.sleep(0.05)
        for leftover in (self.dir / "run").glob("*"):
            if leftover.name == "master.pid":
                leftover.unlink()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    # -------------------------------------------------------------- the mail in it

    def client(self) -> IMAPClient:
        """Another mail client, signed in (as the user's phone would be)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(
        self,
        folder: str,
        raw: bytes,
        *,
        when: datetime | None = None,
        flags: tuple[bytes, ...] = (),
    ) -> None:
        with contextlib.closing(_Session(self)) as session:
            if not session.client.folder_exists(folder):
                session.client.create_folder(folder)
            session.client.append(folder, raw, flags=flags, msg_time=when)

    def messages(self, folder: str) -> list[bytes]:
        with contextlib.closing(_Session(self)) as session:
            client = session.client
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            found = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
            return [bytes(found[uid][b"BODY[]"]) for uid in sorted(found)]

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """What a server does when it rebuilds a folder: a new UIDVALIDITY."""
        subprocess.run(
            self._command(
                "doveadm",
                "-c",
                str(self.dir / "dovecot.conf"),
                "mailbox",
                "update",
                "-u",
                USER,
                "--uid-validity",
                str(value),
                folder,
            ),
            check=True,
            capture_output=True,
        )

    def maildir(self, folder: str) -> Path:
        """Where a folder's messages are kept (Maildir++: INBOX is the root)."""
        root = self.dir / "mail" / USER / "Maildir"
        return root if folder == "INBOX" else root / ("." + folder.replace("/", "."))

    def load(self, folder: str, messages: Iterable[tuple[bytes, datetime]]) -> int:
        """Write messages straight into the folder's Maildir as read mail, each
        received at its datetime (a Maildir file's mtime is its INTERNALDATE);
        Dovecot numbers them when a client next opens the folder. Thousands of
        messages load in seconds, where as many APPENDs take minutes. Returns
        how many were written."""
        path = self.maildir(folder)
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if folder != "INBOX":
            (path / "maildirfolder").touch()
        start = self._loaded
        stamp = int(time.time())
        for raw, when in messages:
            self._loaded += 1
            # Dovecot's own naming: unique base, S= the file's size, :2,S = seen
            name = path / "cur" / f"{stamp}.P{os.getpid()}Q{self._loaded}.bench,S={len(raw)}:2,S"
            name.write_bytes(raw)
            os.utime(name, (when.timestamp(), when.timestamp()))
        if self.as_root:
            mail = str(self.dir / "mail")
            subprocess.run(["chown", "-R", f"{self.user}:{self.group}", mail], check=True)
        return self._loaded - start


class _Session:
    def __init__(self, server: Dovecot) -> None:
        self.client = server.client()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()


class OnDovecot:
    """Mixed into a test class: a `dovecot` fixture, a fresh server per test (0.2 s)."""

    @pytest.fixture
    def dovecot(self) -> Iterator[Dovecot]:
        with Dovecot() as server:
            yield server


def imap_mailbox(server: Dovecot, **options: Any) -> ImapMailbox:
    """A connector on the server's account, over plain IMAP on loopback unless told."""
    settings: dict[str, Any] = {
        "security": "none",
        "username": USER,
        "password": lambda: PASSWORD,
        "timeout": 10,
    }
    settings.update(options)
    port = settings.pop("port", server.port)
    return ImapMailbox(server.host, port, **settings)
