"""The dashboard's locks, as a browser (or an attacker's page) meets them: the Host
header (DNS rebinding), the access token and its session cookie, the CSRF token and the
Origin of every change, the headers of every answer, text from outside escaped and
links from outside never made live. Through Flask's test client, then through the real
waitress server over a socket: `pursuit web`, and the service serving the dashboard.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from support.app import PARIS, Clock, make_settings
from support.cli import Pursuit, pursuit_command
from support.dashboard import TOKEN, csrf_token, signed_in, text_of
from support.events import add_week, sync
from support.summary import Item

from pursuit.config.settings import Settings
from pursuit.daemon.app import App
from pursuit.daemon.models import DutyKind, DutyState, OrgStatus, WantedFeed
from pursuit.daemon.runlock import SERVICE, RunLock
from pursuit.daemon.web.app import create_app
from pursuit.daemon.web.common import commands, link_or_text, safe_link
from pursuit.daemon.web.security import CONTENT_SECURITY_POLICY
from pursuit.daemon.web.serve import URL_FILE, Dashboard

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
HOSTILE_NAME = "<script>alert('name')</script>"
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE_LINK = "javascript:alert(1)"


@dataclass
class Site:
    settings: Settings
    app: Flask
    thanks: int  # Jane's thank-you duty, pending

    def duty_state(self, duty_id: int) -> tuple[str, datetime]:
        app = App(self.settings, clock=lambda: NOW)
        try:
            duty = app.store.duty(duty_id)
            return duty.state, duty.due
        finally:
            app.close()


def fill(settings: Settings) -> int:
    """Acme's interview a week ago, and names and a feed written to break a page."""
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=PARIS))
    app = App(settings, clock=clock)
    try:
        store = app.store
        add_week(app)
        store.ensure_contact("eve@acme.com", HOSTILE_NAME, store.find_organization("acme").id)
        initech = store.add_organization(f"Initech {HOSTILE_NAME}", ["initech.example"], now=NOW)
        store.set_organization_status(initech.id, OrgStatus.REJECTED, now=clock.now)
        store.set_feeds(
            [WantedFeed(initech.id, "https://initech.example/jobs", "x", "careers", "rss")]
        )
        [careers] = store.feeds()
        item = Item("o1", "opening", HOSTILE_TITLE, link=HOSTILE_LINK)
        store.save_feed_items(careers, [item], now=clock.now + timedelta(hours=1))
        clock.now = NOW
        sync(app)
        jane = store.find_contact("jane@acme.com").id
        [thanks] = [d for d in store.duties(kinds=[DutyKind.THANK_YOU]) if d.contact_id == jane]
        return thanks.id
    finally:
        app.close()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    settings = make_settings(tmp_path)
    thanks = fill(settings)
    return Site(settings, create_app(settings, token=TOKEN, now=NOW), thanks)


# --- the Host header: a rebound name is refused before anything is read


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765"])
def test_the_loopback_names_with_the_port_are_answered(site: Site, host: str) -> None:
    client = site.app.test_client()
    answer = client.get(f"/login?token={TOKEN}", headers={"Host": host})
    assert answer.status_code == 303
    assert client.get("/", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example:8765", "evil.example", "127.0.0.1:9999", "localhost", "127.0.0.1.evil:8765", ""],
)
def test_any_other_host_is_refused_with_400(site: Site, host: str) -> None:
    client = signed_in(site.app)
    for answer in (
        client.get("/", headers={"Host": host}),
        client.get(f"/login?token={TOKEN}", headers={"Host": host}),
        client.get("/static/pursuit.css", headers={"Host": host}),
        client.post(
            f"/duties/{site.thanks}/done",
            data={"csrf_token": csrf_token(client)},
            headers={"Host": host},
        ),
    ):
        assert answer.status_code == 400
        assert "does not answer to the name" in text_of(answer)
    assert site.duty_state(site.thanks)[0] == DutyState.PENDING


def test_a_server_on_another_address_answers_to_it_alone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, web={"address": "192.0.2.10", "port": 8080})
    app = create_app(settings, token=TOKEN, now=NOW)
    client = app.test_client()
    assert client.get("/", headers={"Host": "192.0.2.10:8080"}).status_code == 403
    assert client.get("/", headers={"Host": "localhost:8080"}).status_code == 400


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("192.168.1.5:8765", True),
        ("[fe80::1]:8765", True),
        ("localhost:8765", True),
        ("192.168.1.5:9999", False),
        ("evil.example:8765", False),
        ("fe80::1:8765", False),
        ("1.2.3.4.evil.example:8765", False),
    ],
)
def test_a_server_on_every_interface_answers_any_address_but_no_other_name(
    tmp_path: Path, host: str, answered: bool
) -> None:
    settings = make_settings(tmp_path, web={"address": "0.0.0.0"})
    client = create_app(settings, token=TOKEN, now=NOW).test_client()
    assert client.get("/", headers={"Host": host}).status_code == (403 if answered else 400)


# --- the access token and the session


def test_the_token_opens_a_strict_httponly_session_and_leaves_the_address(site: Site) -> None:
    client = site.app.test_client()
    answer = client.get(f"/login?token={TOKEN}")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("pursuit-8765=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Expires" not in cookie  # it ends with the browser
    assert TOKEN not in cookie
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("token", ["", "wrong", TOKEN[:-1], TOKEN + "x"])
def test_a_wrong_token_opens_nothing_and_says_how_to_get_in(site: Site, token: str) -> None:
    client = site.app.test_client()
    answer = client.get(f"/login?token={token}")
    assert answer.status_code == 403
    assert "Set-Cookie" not in answer.headers
    assert "pursuit web" in text_of(answer)
    assert client.get("/").status_code == 403


def test_without_the_session_every_page_is_403_saying_how_to_get_in(site: Site) -> None:
    client = site.app.test_client()
    for path in ("/", "/pipeline", f"/duties/{site.thanks}/draft", "/nowhere"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        text = text_of(answer)
        assert "run pursuit web and open the http://…/login?token=… link it prints" in text
        assert "pursuit web --url prints its link" in text
    answer = client.post(f"/duties/{site.thanks}/done", data={"csrf_token": "x"})
    assert answer.status_code == 403
    assert site.duty_state(site.thanks)[0] == DutyState.PENDING


def test_a_session_of_another_dashboard_is_not_this_ones(site: Site, tmp_path: Path) -> None:
    other = create_app(site.settings, token="another-token", now=NOW)
    theirs = other.test_client()
    assert theirs.get("/login?token=another-token").status_code == 303
    cookie = theirs.get_cookie("pursuit-8765", domain="127.0.0.1")
    assert cookie is not None
    ours = site.app.test_client()
    ours.set_cookie("pursuit-8765", cookie.value, domain="127.0.0.1")
    assert ours.get("/").status_code == 403


def test_the_style_sheet_needs_no_session(site: Site) -> None:
    answer = site.app.test_client().get("/static/pursuit.css")
    assert answer.status_code == 200
    assert answer.mimetype == "text/css"


# --- every change: the session's CSRF token, and this site's Origin


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    client = signed_in(site.app)
    for form in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
        answer = client.post(f"/duties/{site.thanks}/done", data=form)
        assert answer.status_code == 403
        assert "nothing was changed" in text_of(answer)
    assert site.duty_state(site.thanks)[0] == DutyState.PENDING


def test_the_csrf_token_of_another_session_is_refused(site: Site) -> None:
    mine, theirs = signed_in(site.app), signed_in(site.app)
    assert csrf_token(mine) != csrf_token(theirs)
    answer = mine.post(f"/duties/{site.thanks}/done", data={"csrf_token": csrf_token(theirs)})
    assert answer.status_code == 403
    assert site.duty_state(site.thanks)[0] == DutyState.PENDING


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "https://127.0.0.1:8765"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of 127.0.0.1
    ],
)
def test_a_change_from_another_site_is_refused_even_with_the_token(
    site: Site, headers: dict[str, str]
) -> None:
    client = signed_in(site.app)
    answer = client.post(
        f"/duties/{site.thanks}/done", data={"csrf_token": csrf_token(client)}, headers=headers
    )
    assert answer.status_code == 403
    assert "came from another site" in text_of(answer)
    assert site.duty_state(site.thanks)[0] == DutyState.PENDING


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:8765", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "null"},  # what browsers send for our own forms under no-referrer
        {},
    ],
)
def test_a_change_from_this_site_goes_through(site: Site, headers: dict[str, str]) -> None:
    client = signed_in(site.app)
    answer = client.post(
        f"/duties/{site.thanks}/done", data={"csrf_token": csrf_token(client)}, headers=headers
    )
    assert answer.status_code == 303
    assert site.duty_state(site.thanks)[0] == DutyState.DONE


def test_every_form_of_today_carries_the_token_and_its_page(site: Site) -> None:
    client = signed_in(site.app)
    page = client.get("/").get_data(as_text=True)
    forms = re.findall(r"<form [^>]*>.*?</form>", page, re.DOTALL)
    assert forms
    for form in forms:
        assert 'method="post"' in form
        assert f'name="csrf_token" value="{csrf_token(client)}"' in form
        assert '<input type="hidden" name="next" value="/">' in form


# --- the headers of every answer


def test_every_answer_carries_the_strict_headers(site: Site) -> None:
    client = signed_in(site.app)
    answers = {
        "page": client.get("/"),
        "redirect": client.get(f"/login?token={TOKEN}"),
        "not found": client.get("/nowhere"),
        "bad host": client.get("/", headers={"Host": "evil.example"}),
        "no session": site.app.test_client().get("/"),
        "style sheet": client.get("/static/pursuit.css"),
    }
    for what, answer in answers.items():
        headers = answer.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, what
        assert headers["X-Content-Type-Options"] == "nosniff", what
        assert headers["Referrer-Policy"] == "no-referrer", what
        if what != "style sheet":
            assert headers["Cache-Control"] == "no-store", what
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def test_the_pages_hold_no_script_and_no_inline_style(site: Site) -> None:
    client = signed_in(site.app)
    for path in ("/", "/nowhere"):
        page = client.get(path).get_data(as_text=True).lower()
        assert "<script" not in page.replace("&lt;script", "")
        assert "style=" not in page and "<style" not in page
        assert not re.search(r"<[^>]+\son[a-z]+=", page), "an event handler attribute"


# --- text and links from outside


def test_names_and_titles_from_outside_are_text(site: Site) -> None:
    client = signed_in(site.app)
    page = client.get("/").get_data(as_text=True)
    assert HOSTILE_NAME not in page
    assert HOSTILE_TITLE not in page
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    text = text_of(client.get("/"))
    assert f"Ask the recruiter at Initech {HOSTILE_NAME} about “{HOSTILE_TITLE}”" in text


def test_a_javascript_link_from_a_feed_is_never_live(site: Site) -> None:
    page = signed_in(site.app).get("/").get_data(as_text=True)
    assert "javascript:" not in page.lower()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith(("/", "#", "http://", "https://")) for h in hrefs), hrefs


@pytest.mark.parametrize(
    "url",
    [
        "https://jobs.example/1",
        "http://jobs.example/1?a=b&c=d",
        " https://jobs.example/1 ",
        "HTTPS://JOBS.EXAMPLE/",
    ],
)
def test_an_http_link_is_a_link(url: str) -> None:
    assert safe_link(url) == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x00javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/",
        "/relative",
        "https:alert(1)",
        "http://",
        "https://exa mple.com/",
        "https://[bad",
        "",
        None,
        42,
    ],
)
def test_anything_else_is_no_link(url: object) -> None:
    assert safe_link(url) is None


def test_link_or_text_escapes_both_ways() -> None:
    assert str(link_or_text("https://a.example/?q=<x>&y", "<b>")) == (
        '<a href="https://a.example/?q=&lt;x&gt;&amp;y" rel="noopener noreferrer">&lt;b&gt;</a>'
    )
    assert str(link_or_text(HOSTILE_LINK, HOSTILE_TITLE)) == "&lt;img src=x onerror=alert(1)&gt;"
    assert str(link_or_text(None, "plain")) == "plain"


def test_commands_in_messages_are_code_and_the_rest_is_text() -> None:
    assert str(commands("run `pursuit reopen 2` <now> & `x<y>`")) == (
        "run <code>pursuit reopen 2</code> &lt;now&gt; &amp; <code>x&lt;y&gt;</code>"
    )


# --- the real server, over a socket


def request(
    port: int,
    method: str,
    path: str,
    *,
    host: str | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, path, skip_host=True)
    connection.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body.encode() if body is not None else None)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


@pytest.fixture
def served(site: Site) -> Iterator[Dashboard]:
    settings = replace(site.settings, web=replace(site.settings.web, port=0))
    dashboard = Dashboard(settings, token=TOKEN, now=NOW)
    thread = dashboard.start()
    yield dashboard
    dashboard.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_real_server_keeps_the_same_locks(served: Dashboard, site: Site) -> None:
    port = served.port
    assert port != 0
    assert served.login_url == f"http://127.0.0.1:{port}/login?token={TOKEN}"

    rebound = request(port, "GET", "/", host=f"evil.example:{port}")
    assert rebound.status == 400
    assert rebound.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert request(port, "GET", "/").status == 403

    login = request(port, "GET", f"/login?token={TOKEN}")
    assert login.status == 303 and login.headers["Location"] == "/"
    cookie = login.headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith(f"pursuit-{port}=")
    page = request(port, "GET", "/", headers={"Cookie": cookie})
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"

    forged = request(
        port, "POST", f"/duties/{site.thanks}/done", headers={"Cookie": cookie}, body="x=1"
    )
    assert forged.status == 403
    assert site.duty_state(site.thanks)[0] == DutyState.PENDING


def test_stopping_the_server_frees_its_port(site: Site) -> None:
    settings = replace(site.settings, web=replace(site.settings.web, port=0))
    dashboard = Dashboard(settings, token=TOKEN, now=NOW)
    thread = dashboard.start()
    port = dashboard.port
    assert request(port, "GET", "/").status == 403
    dashboard.stop()
    thread.join(timeout=10)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_dashboard_beyond_this_machine_is_said_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, web={"address": "0.0.0.0"})
    settings = replace(settings, web=replace(settings.web, port=0))
    with caplog.at_level(logging.WARNING):
        dashboard = Dashboard(settings, token=TOKEN, now=NOW)
    dashboard.close()
    assert f"the dashboard listens on 0.0.0.0:{dashboard.port}, reachable from that network" in (
        caplog.text
    )


# --- `pursuit web`, `pursuit doctor` and the service


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_port_in_use_is_one_line_naming_it_and_the_fix(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = Pursuit(tmp_path).one_line_error("web", "--port", str(port), "--no-browser")
    assert line == (
        f"pursuit: cannot serve the dashboard on 127.0.0.1:{port}: the port is in use (another "
        "program, or pursuit's service serving the dashboard: `pursuit web --url` prints its "
        "link); choose another with `pursuit web --port N` or [web] port in the config"
    )


def test_pursuit_web_prints_its_link_serves_it_and_stops_on_sigterm(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    with subprocess.Popen(
        [*pursuit_command(), "web", "--port", "0", "--no-browser"],
        env=p.env(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as web:
        assert web.stdout is not None
        first = web.stdout.readline()
        found = re.fullmatch(
            r"pursuit's dashboard: (http://127\.0\.0\.1:(\d+)/login\?token=([\w-]{40,}))\n", first
        )
        assert found, first
        port = int(found.group(2))
        login = request(port, "GET", f"/login?token={found.group(3)}")
        assert login.status == 303
        assert (
            request(port, "GET", "/", headers={"Cookie": login.headers["Set-Cookie"]}).status == 200
        )
        web.send_signal(signal.SIGTERM)
        out, err = web.communicate(timeout=15)
    assert web.returncode == 0, err
    assert "Dashboard stopped." in out
    assert "Traceback" not in err


def test_pursuit_web_url_without_the_service_says_why(tmp_path: Path) -> None:
    err = Pursuit(tmp_path).one_line_error("web", "--url")
    assert err == (
        "pursuit: no dashboard to link to: the service does not serve it ([web] serve); "
        "`pursuit web` serves one until you stop it"
    )


def test_pursuit_web_url_with_a_service_serving_none_says_why(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config="[web]\nserve = true\n")
    p.ok("status")  # the data folder exists
    lock = RunLock.beside(p.database)
    assert lock.try_acquire(SERVICE)  # as the service holds it
    try:
        err = p.one_line_error("web", "--url")
    finally:
        lock.release()
    assert err == (
        "pursuit: no dashboard to link to: the service runs without it: it could not listen "
        "(its log says why), or it started before [web] serve was set (restart it); "
        "`pursuit web` serves one until you stop it"
    )


def test_doctor_names_a_dashboard_open_to_the_network(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config='[web]\naddress = "0.0.0.0"\n')
    out = p.run("doctor", "--no-probe").out
    assert (
        "dashboard: `pursuit web` serves it on 0.0.0.0 ([web] address), reachable from that "
        "network by anyone who has its link" in out
    )
    assert "dashboard:" not in Pursuit(tmp_path / "loopback").run("doctor", "--no-probe").out


class Service:
    """`pursuit run` in the background, serving the dashboard."""

    def __init__(self, p: Pursuit) -> None:
        self.p = p
        self.log = p.root / "service.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [*pursuit_command(), "-v", "run"],
                env=p.env(),
                cwd=p.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        give_up = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < give_up, self.log.read_text()
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"not stopped after SIGTERM:\n{self.log.read_text()}") from None


def test_the_service_serves_the_dashboard_and_web_url_links_to_it(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=f"[web]\nserve = true\nport = {free_port()}\n")
    service = Service(p)
    try:
        service.wait_for_log("the dashboard is served on http://127.0.0.1:")
        url = p.ok("web", "--url").strip()
        found = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/login\?token=([\w-]{40,})", url)
        assert found, url
        token_file = p.data_dir / "web-token"
        assert token_file.read_text().strip() == found.group(2)
        assert os.stat(token_file).st_mode & 0o777 == 0o600
        assert os.stat(p.data_dir / URL_FILE).st_mode & 0o777 == 0o600
        port = int(found.group(1))
        login = request(port, "GET", f"/login?token={found.group(2)}")
        assert login.status == 303
        page = request(port, "GET", "/", headers={"Cookie": login.headers["Set-Cookie"]})
        assert page.status == 200
        # `pursuit web` opens the service's dashboard rather than a second one.
        assert p.ok("web", "--no-browser") == f"The service serves the dashboard: {url}\n"
    finally:
        code = service.stop()
    assert code == 0, service.log.read_text()
    assert not (p.data_dir / URL_FILE).exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    err = p.one_line_error("web", "--url")
    assert "the service is not running" in err


def test_a_service_that_cannot_have_its_port_goes_on_without_the_dashboard(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = Pursuit(tmp_path, config=f"[web]\nserve = true\nport = {port}\n")
        service = Service(p)
        try:
            service.wait_for_log("the service goes on without it")
            service.wait_for_log("ran ")  # and the jobs run
        finally:
            code = service.stop()
    assert code == 0
    log = service.log.read_text()
    assert log.count(f"cannot serve the dashboard on 127.0.0.1:{port}: the port is in use") == 1
