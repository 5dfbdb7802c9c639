"""The dashboard on the network: a waitress server for `pursuit web` (in the foreground,
until Ctrl-C or SIGTERM) and for the service (in a thread of its own, `[web] serve`).

waitress serves each request on a thread of its pool, and each request opens an App
of its own (`common.pursuit_app`): an SQLite connection serves only its own thread.

When the service serves the dashboard, its access token is kept in the data folder
(`web-token`, 0600), so a restart keeps the browser's session, and the link it serves
is written beside it (`web-url`, 0600, removed when it stops) for `pursuit web --url`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pursuit.daemon.errors import UserError
from pursuit.daemon.files import make_private_dirs, write_atomically
from pursuit.daemon.web import security
from pursuit.daemon.web.app import create_app, listening_on

if TYPE_CHECKING:
    from collections.abc import Callable

    from waitress.server import TcpWSGIServer

    from pursuit.config.settings import Settings

log = logging.getLogger(__name__)

#: In the data folder: the service's kept access token, and the link it serves.
TOKEN_FILE = "web-token"
URL_FILE = "web-url"
#: waitress's pool: a page is a few milliseconds; four at once is plenty for one person.
THREADS = 4
#: How often the serving loop looks whether it was asked to stop (it is also woken).
POLL_SECONDS = 0.5
#: How long a stop waits for the requests under way.
DRAIN_SECONDS = 5.0


class Dashboard:
    """One waitress server on `settings.web` (address and port), bound at creation."""

    def __init__(
        self,
        settings: Settings,
        *,
        token: str,
        now: datetime | Callable[[], datetime] | None = None,
    ) -> None:
        from waitress.server import TcpWSGIServer, create_server

        self.settings = settings
        self.token = token
        self.address = settings.web.address
        self.app = create_app(settings, token=token, now=now)
        try:
            server = create_server(
                self.app,
                host=self.address,
                port=settings.web.port,
                threads=THREADS,
                ident="pursuit",
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            raise UserError(cannot_listen(self.address, settings.web.port, exc)) from None
        if not isinstance(server, TcpWSGIServer):  # one address, one socket
            server.close()
            raise UserError(f"[web] address {self.address}: expected one address to listen on")
        self._server: TcpWSGIServer = server
        self.port = int(server.effective_port)
        listening_on(self.app, self.address, self.port)
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        if not security.is_loopback(self.address):
            log.warning(
                "the dashboard listens on %s:%d, reachable from that network by anyone who "
                'has its link (plain http); [web] address = "127.0.0.1" keeps it to this '
                "machine",
                self.address,
                self.port,
            )

    @property
    def url(self) -> str:
        return security.origin_of(self.address, self.port)

    @property
    def login_url(self) -> str:
        """The link that opens a session: what `pursuit web` prints."""
        host = "127.0.0.1" if self.address in ("0.0.0.0", "::") else self.address
        return f"{security.origin_of(host, self.port)}/login?token={self.token}"

    def serve(self) -> None:
        """Serve until `stop` is called (from another thread or a signal handler)."""
        from waitress import wasyncore

        sockets = self._server._map  # waitress's own `run()` loops over the same map
        try:
            while not self._stopping.is_set() and sockets:
                wasyncore.loop(timeout=POLL_SECONDS, map=sockets, use_poll=True, count=1)
            # No new connection; the requests under way are answered before the end,
            # else a worker would write to a socket closed under it.
            wasyncore.dispatcher.close(self._server)
            give_up = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < give_up and any(busy(c) for c in list(sockets.values())):
                wasyncore.loop(timeout=0.05, map=sockets, use_poll=True, count=1)
        finally:
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=DRAIN_SECONDS)
            wasyncore.close_all(sockets)
            self._stopped.set()

    def stop(self) -> None:
        """Ask the serving loop to end (safe from a signal handler or another thread)."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # closed already: the loop has ended
            self._server.pull_trigger()  # wakes the loop at once

    def close(self) -> None:
        """Release the socket of a server that never served."""
        if not self._stopped.is_set():
            from waitress import wasyncore

            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=DRAIN_SECONDS)
            wasyncore.close_all(self._server._map)
            self._stopped.set()

    def start(self) -> threading.Thread:
        """Serve in a thread of its own (a daemon thread: it never holds the exit up)."""
        thread = threading.Thread(target=self.serve, name="pursuit-dashboard", daemon=True)
        thread.start()
        return thread


def busy(channel: object) -> bool:
    """A connection with a request under way or an answer not yet sent."""
    return bool(getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0))


def cannot_listen(address: str, port: int, exc: OSError) -> str:
    """One line: what could not be listened on, why, and the fix."""
    where = f"{security.bracketed(address)}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot serve the dashboard on {where}: the port is in use (another program, or "
            "pursuit's service serving the dashboard: `pursuit web --url` prints its link); "
            "choose another with `pursuit web --port N` or [web] port in the config"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot serve the dashboard on {where}: {address} is no address of this "
            "machine; fix [web] address in the config (127.0.0.1 keeps it to this machine)"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot serve the dashboard on {where}: ports below 1024 need privileges; "
            "choose another with `pursuit web --port N` or [web] port in the config"
        )
    return f"cannot serve the dashboard on {where}: {exc.strerror or exc}"


def with_port(settings: Settings, port: int | None) -> Settings:
    return settings if port is None else replace(settings, web=replace(settings.web, port=port))


# --- the service's dashboard


def data_folder(settings: Settings) -> Path:
    return settings.database.parent


def kept_token(settings: Settings) -> str:
    """The service's access token, made once and kept (0600) in the data folder."""
    path = data_folder(settings) / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        token = ""
    if len(token) >= 32 and not path.stat().st_mode & 0o077:
        return token
    token = security.new_token()
    make_private_dirs(path.parent)
    write_atomically(path, token.encode("ascii") + b"\n")
    return token


def served_url(settings: Settings) -> str | None:
    """The link of the dashboard the running service serves, or None when it does not."""
    path = data_folder(settings) / URL_FILE
    try:
        url = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return url if url and service_running(settings) else None


def service_running(settings: Settings) -> bool:
    """The service holds the data folder's run lock (a round of `run --once` is not it)."""
    from pursuit.daemon.runlock import SERVICE, RunLock

    lock = RunLock.beside(settings.database)
    if lock.try_acquire("web"):  # nobody holds it
        lock.release()
        return False
    return lock.holder().startswith(SERVICE)


def why_not_served(settings: Settings) -> str:
    """Why there is no service's dashboard to link to, and what to do."""
    if not settings.web.serve:
        return "the service does not serve it ([web] serve)"
    if not service_running(settings):
        return "the service is not running"
    return (
        "the service runs without it: it could not listen (its log says why), or it "
        "started before [web] serve was set (restart it)"
    )


class ServiceDashboard:
    """The dashboard the service serves, in a thread of its own; `stop` ends it."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self._url_file = data_folder(dashboard.settings) / URL_FILE
        write_atomically(self._url_file, dashboard.login_url.encode("ascii") + b"\n")
        self._thread = dashboard.start()
        log.info(
            "the dashboard is served on %s (`pursuit web --url` prints its link)", dashboard.url
        )

    def stop(self) -> None:
        self.dashboard.stop()
        self._thread.join(timeout=10)
        self._url_file.unlink(missing_ok=True)


def serve_for_service(settings: Settings) -> ServiceDashboard | None:
    """Start the service's dashboard (`[web] serve`); a failure to listen is logged once
    and the service goes on without it."""
    try:
        dashboard = Dashboard(settings, token=kept_token(settings))
    except UserError as exc:
        log.error("%s; the service goes on without it", exc)
        return None
    except OSError as exc:
        log.error("cannot serve the dashboard: %s; the service goes on without it", exc)
        return None
    return ServiceDashboard(dashboard)
