"""A real CalDAV server for the tests: Radicale, on 127.0.0.1 and a port the OS picks.

Radicale's WSGI application runs in a thread of the test process behind
wsgiref, with a plain-text htpasswd (user `me`, password `secret`) and its own
storage folder. A thin layer in front of it lets a test make the server answer
500 to everything, refuse MKCALENDAR (as some hosted servers do) or forget the
sync tokens it issued (RFC 6578's expired token).

Without Radicale installed the tests that need it skip, saying so; with
CI=true they fail instead (CI installs it through the test extra).
"""

from __future__ import annotations

import os
import shutil
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import icalendar
import pytest

from pursuit.connectors.base import CalendarEvent
from pursuit.connectors.caldav import CALENDAR_SLUG
from pursuit.connectors.ical import from_vevent

USER = "me"
PASSWORD = "secret"


def radicale_or_skip() -> Any:
    try:
        import radicale
        import radicale.config
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("Radicale is not installed (pip install radicale): CalDAV tests skipped")
    return radicale


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class RadicaleServer:
    """Radicale with a user `me` and a few switches a test flips (see the module)."""

    def __init__(self, folder: Path, *, max_events: int | None = None) -> None:
        """`max_events`: the most VEVENTs one REPORT may answer with (Radicale's
        `[reporting] max_expand_occurrence`, 10,000 by default): above it, 400."""
        radicale = radicale_or_skip()
        self.folder = folder
        self.storage = folder / "collections"
        users = folder / "users"
        users.write_text(f"{USER}:{PASSWORD}\n")
        configuration = radicale.config.load()
        configuration.update(
            {
                "auth": {
                    "type": "htpasswd",
                    "htpasswd_filename": str(users),
                    "htpasswd_encryption": "plain",
                    "delay": "0",
                },
                "rights": {"type": "owner_only"},
                "storage": {"filesystem_folder": str(self.storage)},
                **(
                    {"reporting": {"max_expand_occurrence": str(max_events)}}
                    if max_events is not None
                    else {}
                ),
            },
            "test",
            privileged=True,
        )
        self._app = radicale.Application(configuration)
        self.failing = False  # every request answers 500
        self.refuse_mkcalendar = False  # MKCALENDAR answers 403
        self.requests: list[tuple[str, str]] = []  # (method, path), in order
        self._server = make_server(
            "127.0.0.1", 0, self._serve, server_class=_ThreadingServer, handler_class=_Quiet
        )
        # Polled every 50 ms, as the other test servers are: stopping waits for the poll
        # (half a second by default, at every test's teardown).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def start(self) -> RadicaleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        self.requests.append((method, environ.get("PATH_INFO", "")))
        if self.failing:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"storage exploded"]
        if self.refuse_mkcalendar and method in ("MKCALENDAR", "MKCOL"):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"calendars cannot be created here"]
        result: Iterable[bytes] = self._app(environ, start_response)
        return result

    def expire_sync_tokens(self) -> None:
        """Radicale forgets every sync token it issued (a token then is 403 valid-sync-token)."""
        for folder, dirs, _ in os.walk(self.storage):
            if os.path.basename(folder) == ".Radicale.cache" and "sync-token" in dirs:
                shutil.rmtree(os.path.join(folder, "sync-token"))

    def password(self) -> str:
        return PASSWORD


def running(tmp_path: Path, *, max_events: int | None = None) -> Iterator[RadicaleServer]:
    """For a fixture: a started server, stopped afterwards."""
    (tmp_path / "radicale").mkdir()
    server = RadicaleServer(tmp_path / "radicale", max_events=max_events).start()
    try:
        yield server
    finally:
        server.stop()


def pursuit_events(server: RadicaleServer) -> dict[str, CalendarEvent]:
    """The events on pursuit's calendar as a calendar app shows them, by UID: every one
    pursuit wrote, whichever install wrote it (`CaldavCalendar.events()` gives one
    install's own alone)."""
    folder = server.storage / "collection-root" / USER / CALENDAR_SLUG
    found: dict[str, CalendarEvent] = {}
    for resource in sorted(folder.glob("*.ics")):
        for vevent in icalendar.Calendar.from_ical(resource.read_bytes()).walk("VEVENT"):
            found[str(vevent["UID"])] = from_vevent(vevent)
    return found


def hook_requests(server: RadicaleServer, hook: Callable[[str, str, str], bool]) -> None:
    """Call `hook(method, path, "before")` on every request (a True answer drops it
    unperformed, with a 503) and `hook(method, path, "after")` once Radicale carried it
    out: where the crash tests kill pursuit."""
    app = server._app

    def hooked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if hook(method, path, "before"):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"dropped"]
        result = list(app(environ, start_response))  # Radicale has committed on return
        hook(method, path, "after")
        return result

    server._app = hooked
