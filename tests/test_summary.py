"""The weekly summary email: its content (golden files), and delivery exactly once a week."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.app import PARIS, Clock, make_settings
from support.contracts import SenderContract
from support.events import sync
from support.golden import check_golden
from support.summary import SUNDAY_6PM, Crash, record, run_cli, week_story

from pursuit.connectors.eml import EmlFolder
from pursuit.connectors.memory import MemorySender
from pursuit.daemon import summary
from pursuit.daemon.app import App
from pursuit.daemon.models import Channel, Direction, DutyState
from pursuit.daemon.store import Store

USER = "sam@example.test"


# --- content


def test_the_text_part_matches_the_golden_file(app: App, clock: Clock) -> None:
    week_story(app, clock)
    check_golden("summary.txt", summary.render_text(record(app)).encode())


def test_the_html_part_matches_the_golden_file(app: App, clock: Clock) -> None:
    week_story(app, clock)
    check_golden("summary.html", summary.render_html(record(app)).encode())


def test_the_html_is_self_contained(app: App, clock: Clock) -> None:
    week_story(app, clock)
    html = summary.render_html(record(app))
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "<link" not in html.lower()
    assert "<style" not in html.lower()  # inlined: Gmail drops style blocks in some views
    assert 'style="' in html


def test_text_and_html_say_the_same_in_the_same_order(app: App, clock: Clock) -> None:
    week_story(app, clock)
    data = record(app)
    text, html = summary.render_text(data), summary.render_html(data)
    landmarks = [
        "Overdue",
        "Raj Patel",
        "Coming seven days",
        "Organizations",
        "Acme Networks",
        "Thank you for today",
        "Globex",
        "likely rejection",
        "Initech",
        'Ask the recruiter at Initech about "Network Engineer"',
        "Health",
        "gmail: connection reset",
        "HTTP 503 from globex.example",
    ]
    for part in (text.lower(), html.lower().replace("&#34;", '"').replace("&quot;", '"')):
        place = 0
        for word in landmarks:  # each found after the one before
            place = part.find(word.lower(), place)
            assert place >= 0, word


def test_what_needs_the_user_comes_first_with_the_command_that_closes_it(
    app: App, clock: Clock
) -> None:
    week_story(app, clock)
    text = summary.render_text(record(app))
    overdue = text[text.index("OVERDUE") : text.index("COMING")]
    raj_thank_you = next(
        d
        for d in app.store.duties(state=DutyState.PENDING)
        if d.kind == "thank_you" and d.contact_id == app.store.find_contact("raj@acme.com").id
    )
    assert f"pursuit done {raj_thank_you.id}" in overdue
    assert "late" in overdue


def test_an_empty_week_is_still_a_summary_with_its_health(app: App) -> None:
    text = summary.render_text(record(app))
    assert "Nothing overdue." in text
    assert "HEALTH" in text
    assert "The service has not run yet" in text


def test_a_refused_google_grant_shows_in_health(tmp_path: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path, google={}, calendar={"kind": "ics"})
    app = App(settings, clock=clock)
    app.store.record_grant_refused("google", "google: the sign-in was revoked", now=clock.now)
    text = summary.render_text(record(app))
    assert "Google sign-in refused since Mon 30 Nov 09:00" in text
    assert "pursuit auth google" in text
    app.close()


def test_a_refused_microsoft_sign_in_shows_in_health_with_its_own_fix(
    tmp_path: Path, clock: Clock
) -> None:
    microsoft = {"client_id": "11111111-2222-3333-4444-555555555555", "mail": False}
    settings = make_settings(tmp_path, microsoft=microsoft, calendar={"kind": "ics"})
    app = App(settings, clock=clock)
    app.store.record_grant_refused(
        "microsoft", "microsoft: your sign-in expired after 90 days unused", now=clock.now
    )
    text = summary.render_text(record(app))
    assert "Microsoft sign-in refused since Mon 30 Nov 09:00" in text
    assert "expired after 90 days unused" in text
    assert "fix it: pursuit auth microsoft" in text
    assert "Google" not in text
    app.close()


def many_organizations(store: Store, count: int, now: datetime) -> None:
    with store.transaction():
        for n in range(count):
            org = store.add_organization(f"Organization {n:03d}", [f"org{n}.example"], now=now)
            person = store.ensure_contact(f"hr@org{n}.example", f"Recruiter {n}", org.id)
            store.add_interview(
                org.id, now - timedelta(days=3), now - timedelta(days=3, hours=-1), [person.id]
            )
            for m in range(5):
                store.log_correspondence(
                    message_id=f"<{n}.{m}@org{n}.example>",
                    direction=Direction.IN if m % 2 else Direction.OUT,
                    when=now - timedelta(days=m),
                    channel=Channel.EMAIL,
                    organization_id=org.id,
                    contact_ids=[person.id],
                    subject=f"Re: the position of network engineer, round {m}",
                )


@pytest.mark.parametrize("count", [100, 500])
def test_many_organizations_stay_under_gmail_clipping(app: App, count: int) -> None:
    many_organizations(app.store, count, app.now())
    sync(app)
    data = record(app)
    html = summary.render_html(data).encode()
    assert len(html) < 90_000  # Gmail clips at 102 KB
    text = summary.render_text(data)
    assert f"... and {count - summary.SHOWN_ORGANIZATIONS} more organizations" in text
    assert "pursuit status" in text


def test_the_users_own_template_replaces_the_built_in_one(tmp_path: Path, clock: Clock) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "summary.txt").write_text("Week {{ week }}: {{ overdue_count }} overdue\n")
    settings = make_settings(tmp_path, summary={"templates": str(folder)})
    app = App(settings, clock=clock)
    assert (
        summary.render_text(record(app), settings.summary.templates) == "Week 2026-W49: 0 overdue\n"
    )
    app.close()


# --- delivery


class DyingSender(MemorySender):
    """Sends, then dies before pursuit can record it."""

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        sent = super().send(message, begin=begin)
        raise Crash(sent)


class ForgetfulSender(MemorySender):
    """A server that keeps no record: `find_sent` never finds anything (SMTP without IMAP)."""

    keeps_record = False

    def find_sent(self, key: str, message_id: str) -> str | None:
        return None

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        if begin is not None:
            begin()
        message_id = f"<{len(self.sent)}@memory>"
        self.sent[message_id] = message
        return message_id


class RefusingSender(MemorySender):
    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        from pursuit.daemon.errors import SourceError

        raise SourceError("smtp", "127.0.0.1:2525: send refused (554 no thanks)")


def push(app: App, sender: object, now: datetime) -> int:
    summary.queue_summary(app.store, app.settings, now, to=USER)
    return summary.push_summaries(app.store, sender, now)  # type: ignore[arg-type]


def test_nothing_is_sent_before_the_hour_then_once(app: App) -> None:
    sender = MemorySender(USER)
    assert push(app, sender, SUNDAY_6PM - timedelta(minutes=1)) == 0
    assert push(app, sender, SUNDAY_6PM) == 1
    assert push(app, sender, SUNDAY_6PM + timedelta(hours=1)) == 0
    [message] = sender.sent.values()
    assert message["X-Pursuit-Key"] == "summary:2026-W49"
    assert message.get_content_type() == "multipart/alternative"
    assert summary.sent_at(app.store, summary.Week.of(SUNDAY_6PM, PARIS)) == SUNDAY_6PM
    # the next week's comes at its own hour
    assert push(app, sender, SUNDAY_6PM + timedelta(days=7)) == 1
    assert len(sender.sent) == 2


def test_a_crash_between_sending_and_recording_sends_no_second_copy(
    app: App, tmp_path: Path, clock: Clock
) -> None:
    dying = DyingSender(USER)
    with pytest.raises(Crash):
        push(app, dying, SUNDAY_6PM)
    app.close()
    # a new process on the same database and the same account
    again = App(make_settings(tmp_path), clock=clock)
    survivor = MemorySender(USER)
    survivor.sent = dying.sent
    assert push(again, survivor, SUNDAY_6PM + timedelta(minutes=15)) == 1
    assert len(survivor.sent) == 1
    assert summary.sent_at(again.store, summary.Week.of(SUNDAY_6PM, PARIS)) is not None
    assert push(again, survivor, SUNDAY_6PM + timedelta(minutes=30)) == 0
    assert len(survivor.sent) == 1
    again.close()


def test_a_server_that_keeps_no_record_gets_at_most_one_retry(app: App) -> None:
    server = ForgetfulSender(USER)

    class DiesAfterSending(ForgetfulSender):
        def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
            server.send(message, begin=begin)
            raise Crash()

    for minutes in (0, 15):
        with pytest.raises(Crash):
            push(app, DiesAfterSending(USER), SUNDAY_6PM + timedelta(minutes=minutes))
    assert len(server.sent) == 2  # the first send and its one retry
    assert push(app, DiesAfterSending(USER), SUNDAY_6PM + timedelta(minutes=30)) == 1
    assert len(server.sent) == 2  # given up as sent, not a third copy


def test_a_failed_send_is_not_counted_and_is_retried_next_round(app: App) -> None:
    from pursuit.daemon.errors import SourceError

    with pytest.raises(SourceError, match="554"):
        push(app, RefusingSender(USER), SUNDAY_6PM)
    assert summary.sent_at(app.store, summary.Week.of(SUNDAY_6PM, PARIS)) is None
    with pytest.raises(SourceError):  # refused again: still not a crash, still retried
        push(app, RefusingSender(USER), SUNDAY_6PM + timedelta(minutes=15))
    sender = MemorySender(USER)
    assert push(app, sender, SUNDAY_6PM + timedelta(minutes=30)) == 1
    assert len(sender.sent) == 1


def test_a_service_down_at_the_hour_sends_while_the_week_lasts(app: App) -> None:
    sender = MemorySender(USER)
    assert push(app, sender, SUNDAY_6PM + timedelta(hours=5, minutes=59)) == 1
    late = MemorySender(USER)
    next_monday = datetime(2026, 12, 7, 0, 30, tzinfo=PARIS)
    assert push(app, late, next_monday) == 0  # W50's hour has not come
    assert late.sent == {}


def test_an_unsent_summary_is_skipped_once_too_late_to_send(app: App) -> None:
    from pursuit.daemon.errors import SourceError

    with pytest.raises(SourceError):
        push(app, RefusingSender(USER), SUNDAY_6PM)
    sender = MemorySender(USER)  # late (tests/test_summary_late.py) until Thursday 00:00
    assert push(app, sender, datetime(2026, 12, 10, 9, 0, tzinfo=PARIS)) == 0
    assert sender.sent == {}
    assert summary.skipped_weeks(app.store, SUNDAY_6PM)[0].key == "summary:2026-W49"


# --- the command line and the default .eml outbox


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'timezone = "Europe/Paris"\ndatabase = "{tmp_path / "state.sqlite3"}"\n'
        f'[calendar]\nics_file = "{tmp_path / "cal.ics"}"\n'
        f'[summary]\nto = "{USER}"\n' + extra
    )
    return config


def test_preview_prints_the_text_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    code, out, _ = run_cli(["--config", str(config), "summary", "--preview"], capsys)
    assert code == 0
    assert out.startswith("Your job search, week ")
    assert "HEALTH" in out
    html = tmp_path / "summary.html"
    code, _, _ = run_cli(["--config", str(config), "summary", "--html", str(html)], capsys)
    assert code == 0
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_send_without_an_account_writes_an_eml_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    code, out, _ = run_cli(["--config", str(config), "summary", "--send"], capsys)
    assert code == 0, out
    [eml] = (tmp_path / "outbox").iterdir()
    # a file written is not a mail sent: said so, with where it is and why
    assert out.startswith(f"Wrote the summary of {eml.stem.removeprefix('summary-')} to {eml}:")
    assert "no account sends mail" in out and "Sent" not in out
    assert eml.name.startswith("summary-") and eml.name.endswith(".eml")
    assert eml.stat().st_mode & 0o777 == 0o600
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == USER
    assert message.get_body(("plain",)) is not None
    assert message.get_body(("html",)) is not None
    code, out, _ = run_cli(["--config", str(config), "summary", "--send"], capsys)
    assert code == 0
    assert "was already sent" in out
    assert len(list((tmp_path / "outbox").iterdir())) == 1


def test_the_service_job_sends_at_the_hour(tmp_path: Path, clock: Clock) -> None:
    from pursuit.daemon.jobs import run_jobs

    app = App(make_settings(tmp_path, summary={"to": USER}), clock=clock)
    assert "summary" in [job.name for job in app.jobs()]
    assert run_jobs(app.store, app.jobs(), clock.now) == []
    assert not (tmp_path / "outbox").exists()
    clock.now = SUNDAY_6PM + timedelta(minutes=7)
    assert run_jobs(app.store, app.jobs(), clock.now) == []
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["summary-2026-W49.eml"]
    app.close()


class EmlSent:
    user = USER

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def sender(self) -> EmlFolder:
        return EmlFolder(self.folder, USER)

    def sent(self) -> list[EmailMessage]:
        if not self.folder.exists():
            return []
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.folder.glob("*.eml"))
        ]


class TestEmlFolderSender(SenderContract):
    shared_by_installs = False

    @pytest.fixture
    def outgoing(self, tmp_path: Path) -> EmlSent:
        return EmlSent(tmp_path / "outbox")


# --- configuration


def test_summary_and_smtp_settings_are_checked_at_load(tmp_path: Path) -> None:
    from pursuit.daemon.errors import ConfigError

    with pytest.raises(ConfigError) as problems:
        make_settings(
            tmp_path,
            summary={"day": "funday", "time": "25:00", "to": "not an address", "enabled": "yes"},
            smtp={
                "host": "smtp.example.com",
                "security": "none",
                "password": "hunter2",
                "username": "me@example.com",
            },
        )
    text = str(problems.value)
    for expected in (
        "test config: summary.day: 'funday'",
        "summary.time: '25:00': expected a time of day",
        "summary.to: 'not an address': expected one email address",
        "summary.enabled: expected a bool",
        "smtp.password: a password is never kept in the config",
        "smtp.security: 'none' sends mail and password in the clear",
        "smtp.password_command: missing",
    ):
        assert expected in text
    assert "hunter2" not in text
    loaded = make_settings(
        tmp_path,
        summary={"day": "sat", "time": "09:30"},
        smtp={"host": "127.0.0.1", "security": "none"},
    )
    assert (loaded.summary.day, loaded.summary.at.isoformat()) == (5, "09:30:00")
    assert loaded.smtp is not None and loaded.smtp.host == "127.0.0.1"
