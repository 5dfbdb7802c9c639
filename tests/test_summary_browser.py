"""The summary's HTML in a real browser (headless Chromium): it loads nothing from the
network, and the screenshot in the README (docs/summary.png) is what it looks like."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.app import Clock
from support.summary import record, week_story

from pursuit.daemon import summary
from pursuit.daemon.app import App

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).parent.parent / "docs" / "summary.png"
#: Chromium's own background calls (time, updates, sign-in), not the page's.
BROWSER_HOSTS = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")

if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip(
        "headless Chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


class Trap:
    """A proxy that answers nothing and notes each request a browser sends through it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                first = connection.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                self.requests.append(first)

    def page_requests(self) -> list[str]:
        """The requests the page made: every one but the browser's own."""
        found = []
        for line in self.requests:
            parts = line.split()
            target = parts[1] if len(parts) > 1 else ""
            host = (urlsplit(target).hostname if "//" in target else target.split(":")[0]) or ""
            if not any(host == h or host.endswith("." + h) for h in BROWSER_HOSTS):
                found.append(line)
        return found


@pytest.fixture
def trap() -> Iterator[Trap]:
    found = Trap()
    yield found
    found.server.close()


def chromium(page: Path, trap: Trap, tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None, "CI installs chromium (.ci/run)"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--proxy-server=http://127.0.0.1:{trap.port}",
            "--proxy-bypass-list=<-loopback>",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_the_summary_loads_nothing_from_the_network(
    app: App, clock: Clock, tmp_path: Path, trap: Trap
) -> None:
    week_story(app, clock)
    page = tmp_path / "summary.html"
    page.write_text(summary.render_html(record(app)), encoding="utf-8")
    dom = chromium(page, trap, tmp_path, "--dump-dom")
    assert "Your job search, week 2026-W49" in dom
    assert "Globex" in dom
    assert trap.page_requests() == []


def test_the_trap_sees_a_page_that_loads_an_image(tmp_path: Path, trap: Trap) -> None:
    """The check above would notice: a remote image goes through the proxy."""
    page = tmp_path / "remote.html"
    page.write_text('<html><body><img src="http://pixel.example.org/p.png"></body></html>')
    chromium(page, trap, tmp_path, "--dump-dom")
    assert any("pixel.example.org" in r for r in trap.page_requests())


def test_the_screenshot_shows_the_summary(
    app: App, clock: Clock, tmp_path: Path, trap: Trap
) -> None:
    """UPDATE_GOLDEN=1 writes docs/summary.png anew from the golden week."""
    week_story(app, clock)
    page = tmp_path / "summary.html"
    page.write_text(summary.render_html(record(app)), encoding="utf-8")
    shot = tmp_path / "summary.png"
    chromium(page, trap, tmp_path, f"--screenshot={shot}", "--window-size=720,1070")
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("UPDATE_GOLDEN"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")
