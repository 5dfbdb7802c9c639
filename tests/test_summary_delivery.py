"""The weekly summary delivered: through a real SMTP server (aiosmtpd) with STARTTLS and
without, through Gmail (the emulator), and what the user sees when SMTP fails."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support.app import PARIS, Clock, make_settings
from support.dovecot import USER, free_port
from support.google_emulator import GoogleEmulator
from support.smtp import Inbox, Server
from support.summary import SUNDAY_6PM, Crash, run_cli

from pursuit.daemon import summary
from pursuit.daemon.app import App
from pursuit.daemon.jobs import run_jobs


def smtp_config(tmp_path: Path, port: int, security: str, password: str = "secret") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'timezone = "Europe/Paris"\ndatabase = "{tmp_path / "state.sqlite3"}"\n'
        f'[calendar]\nics_file = "{tmp_path / "cal.ics"}"\n'
        f'[summary]\nto = "{USER}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\n'
        f'username = "{USER}"\npassword_command = "echo {password}"\n'
    )
    return config


def received(server: Server) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(raw, policy=email.policy.default)
        for _, raw in server.handler.received
    ]


@pytest.fixture
def starttls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    server = Server(Inbox(), tmp_path, starttls=True, require_starttls=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))  # the client trusts the test CA
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(Inbox(), tmp_path)
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_summary_arrives_through_smtp_once(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    security: str,
    request: pytest.FixtureRequest,
) -> None:
    server: Server = request.getfixturevalue(
        "starttls_server" if security == "starttls" else "plain_server"
    )
    config = smtp_config(tmp_path, server.port, security)
    code, out, err = run_cli(["--config", str(config), "summary", "--send"], capsys)
    assert code == 0, err
    assert f"to {USER}" in out
    [message] = received(server)
    assert message["To"] == USER
    assert str(message["X-Pursuit-Key"]).startswith("summary:")
    assert "Your job search, week" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<table" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    code, out, _ = run_cli(["--config", str(config), "summary", "--send"], capsys)
    assert code == 0 and "already sent" in out
    assert len(server.handler.received) == 1


def one_line_failure(config: Path, capsys: pytest.CaptureFixture[str], *expected: str) -> None:
    code, out, err = run_cli(["--config", str(config), "summary", "--send"], capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in expected:
        assert word in lines[0]
    assert "Sent" not in out


def test_smtp_refused_connection_is_one_line_and_nothing_is_marked_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = smtp_config(tmp_path, port, "none")
    one_line_failure(config, capsys, f"127.0.0.1:{port}", "cannot connect")
    server = Server(Inbox(), tmp_path)
    server.port = port
    server.controller.port = port
    server.controller.start()
    try:  # not marked sent: the next try sends it
        code, out, _ = run_cli(["--config", str(config), "summary", "--send"], capsys)
        assert code == 0 and "Sent the summary" in out
        assert len(server.handler.received) == 1
    finally:
        server.controller.stop()


def test_smtp_authentication_refused(
    tmp_path: Path, plain_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    config = smtp_config(tmp_path, plain_server.port, "none", password="wrong")
    one_line_failure(config, capsys, f"127.0.0.1:{plain_server.port}", "login refused")
    assert plain_server.handler.received == []


def test_smtp_5xx_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = Server(Inbox(reject="554 5.7.1 message refused"), tmp_path)
    server.controller.start()
    try:
        config = smtp_config(tmp_path, server.port, "none")
        one_line_failure(config, capsys, f"127.0.0.1:{server.port}", "554")
    finally:
        server.controller.stop()


def test_a_failing_password_command_names_it(
    tmp_path: Path, plain_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    config = smtp_config(tmp_path, plain_server.port, "none")
    config.write_text(config.read_text().replace('"echo secret"', "\"sh -c 'exit 3'\""))
    one_line_failure(config, capsys, "smtp.password_command", "failed with exit status 3")


# --- Gmail


ME = "me@example.test"


def google_app(tmp_path: Path, emu: GoogleEmulator, clock: Clock) -> App:
    token = tmp_path / "google.json"
    if not token.exists():
        emu.write_authorized_user_file(str(token))
    settings = make_settings(
        tmp_path,
        calendar={"kind": "ics", "ics_file": str(tmp_path / "cal.ics")},
        feeds={"news_search": False},
        google={
            "credentials_file": str(token),
            "api_endpoint": emu.base_url,
            "token_uri": emu.token_uri,
        },
    )
    return App(settings, clock=clock)


def test_summary_through_gmail_once_even_after_a_crash(tmp_path: Path) -> None:
    clock = Clock(SUNDAY_6PM)
    with GoogleEmulator(user_email=ME) as emu:
        app = google_app(tmp_path, emu, clock)
        gmail = app.summary_sender(ME)

        class DiesAfterSending:
            """Gmail accepts it, then the process dies before the row is written."""

            keeps_record = True
            in_doubt = gmail.in_doubt

            def find_sent(self, key: str, message_id: str) -> str | None:
                return gmail.find_sent(key, message_id)

            def send(
                self,
                message: email.message.EmailMessage,
                *,
                begin: Callable[[], object] | None = None,
            ) -> str:
                gmail.send(message, begin=begin)
                raise Crash()

        app.summary_sender = lambda to: DiesAfterSending()  # type: ignore[method-assign]
        with pytest.raises(Crash):
            app.send_summary(clock.now)
        [sent] = emu.sent
        message = email.message_from_bytes(sent.raw, policy=email.policy.default)
        assert message["To"] == ME
        assert message["X-Pursuit-Key"] == "summary:2026-W49"
        assert summary.sent_at(app.store, summary.Week.of(clock.now, PARIS)) is None
        app.close()
        again = google_app(tmp_path, emu, clock)
        clock.now += timedelta(minutes=15)
        assert again.send_summary(clock.now) == 1  # found by its header, recorded
        assert summary.sent_at(again.store, summary.Week.of(clock.now, PARIS)) == clock.now
        assert len(emu.sent) == 1
        assert again.send_summary(clock.now + timedelta(hours=1)) == 0
        assert len(emu.sent) == 1
        again.close()


def test_a_revoked_grant_is_recorded_for_the_health_section(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 12, 2, 9, 0, tzinfo=PARIS))
    with GoogleEmulator(user_email=ME) as emu:
        app = google_app(tmp_path, emu, clock)
        emu.revoke()
        failures = run_jobs(app.store, app.jobs(), clock.now)
        assert failures
        text = summary.render_text(summary.gather(app.store, app.settings, clock.now))
        assert "Google sign-in refused since Wed 02 Dec 09:00" in text
        app.close()
