"""Which account serves which role, and the jobs of a round: one place decides.

These tests name providers on purpose: they are the precedence rules. Every other
test of the service, doctor and the summary uses the provider-neutral job names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pursuit.config.settings import parse_settings
from pursuit.daemon.accounts import (
    Account,
    CaldavAccount,
    GoogleAccount,
    IcsAccount,
    ImapAccount,
    OutboxFolder,
    Role,
    SmtpAccount,
    Surroundings,
    choose,
    job_table,
)

IMAP = {"host": "mail.example.org", "username": "me@example.org", "password_command": "true"}
SMTP = {"host": "smtp.example.org", "username": "me@example.org", "password_command": "true"}
CALDAV = {
    "kind": "caldav",
    "url": "https://dav.example.org/",
    "username": "me@example.org",
    "password_command": "true",
}


def roles_of(tmp_path: Path, **sections: Any) -> Any:
    data = {"timezone": "Europe/Paris", "database": str(tmp_path / "state.sqlite3"), **sections}
    settings = parse_settings(data, "test config")
    around = Surroundings(install_id=lambda: "", timezone="Europe/Paris", data_dir=tmp_path)
    return settings, choose(settings, around)


def kinds(roles: Any) -> dict[str, str | None]:
    return {
        "mail": roles.mail and roles.mail.name,
        "drafts": roles.drafts and roles.drafts.name,
        "calendar reader": roles.calendar_reader and roles.calendar_reader.name,
        "calendar": roles.calendar.name,
        "sender": roles.sender.name,
    }


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        # nothing connected: the embedded defaults
        ({}, (None, None, None, "ics", "outbox")),
        ({"google": {}}, ("google", "google", "google", "google", "google")),
        (
            {"google": {}, "calendar": {"kind": "ics"}},
            ("google", "google", "google", "ics", "google"),
        ),
        ({"imap": IMAP}, ("imap", "imap", None, "ics", "outbox")),
        ({"imap": IMAP, "smtp": SMTP}, ("imap", "imap", None, "ics", "smtp")),
        # IMAP is the mailbox once configured; Google still serves the calendars
        ({"google": {}, "imap": IMAP}, ("imap", "imap", "google", "google", "outbox")),
        ({"google": {}, "imap": IMAP, "smtp": SMTP}, ("imap", "imap", "google", "google", "smtp")),
        # Gmail sends the summary whenever it is the mailbox, even with [smtp]
        ({"google": {}, "smtp": SMTP}, ("google", "google", "google", "google", "google")),
        ({"calendar": CALDAV}, (None, None, "caldav", "caldav", "outbox")),
        ({"google": {}, "calendar": CALDAV}, ("google", "google", "caldav", "caldav", "google")),
        (
            {"imap": IMAP, "smtp": SMTP, "calendar": CALDAV},
            ("imap", "imap", "caldav", "caldav", "smtp"),
        ),
    ],
)
def test_one_function_says_which_account_serves_each_role(
    tmp_path: Path, sections: dict[str, Any], expected: tuple[str | None, ...]
) -> None:
    _, roles = roles_of(tmp_path, **sections)
    assert tuple(kinds(roles).values()) == expected
    for role, account in [
        (Role.MAIL, roles.mail),
        (Role.DRAFTS, roles.drafts),
        (Role.CALENDAR_READER, roles.calendar_reader),
        (Role.CALENDAR, roles.calendar),
        (Role.SENDER, roles.sender),
    ]:
        assert account is None or role in account.fills, f"{account.name} cannot be {role}"


def test_the_job_table_follows_the_roles_with_provider_neutral_names(tmp_path: Path) -> None:
    settings, roles = roles_of(tmp_path)
    assert [e.name for e in job_table(settings, roles)] == [
        "feeds",
        "plan",
        "calendar",
        "summary",
    ]
    settings, roles = roles_of(tmp_path, imap=IMAP, calendar=CALDAV, service={"mail_every": "2m"})
    table = job_table(settings, roles)
    assert [e.name for e in table] == [
        "mail",
        "interviews",
        "feeds",
        "plan",
        "calendar",
        "drafts",
        "summary",
    ]
    by_name = {str(e.name): e for e in table}
    assert by_name["mail"].every.total_seconds() == 120
    assert by_name["mail"].account is roles.mail
    assert by_name["interviews"].account is roles.calendar_reader
    assert by_name["drafts"].follows_changes and not by_name["mail"].follows_changes
    settings, roles = roles_of(tmp_path, summary={"enabled": False})
    assert "summary" not in [e.name for e in job_table(settings, roles)]


def test_only_an_oauth_grant_pauses_its_jobs(tmp_path: Path) -> None:
    _, roles = roles_of(tmp_path, google={}, imap=IMAP, smtp=SMTP)
    assert [a.name for a in roles.guarded] == ["google"]
    assert {type(a) for a in roles.accounts} >= {GoogleAccount, ImapAccount, SmtpAccount}


def test_choosing_connects_nothing_and_imports_no_provider_library(tmp_path: Path) -> None:
    """Roles are decided from the config alone: `pursuit status` never pays for Google.
    In a fresh interpreter, since other tests of this process load those libraries."""
    script = f"""
import sys
from pathlib import Path
from pursuit.config.settings import parse_settings
from pursuit.daemon.accounts import Surroundings, choose
settings = parse_settings({{
    "timezone": "Europe/Paris", "database": {str(tmp_path / "s.sqlite3")!r},
    "google": {{}}, "imap": {IMAP!r}, "smtp": {SMTP!r}, "calendar": {CALDAV!r},
}})
roles = choose(settings, Surroundings(lambda: "", "Europe/Paris", Path({str(tmp_path)!r})))
assert roles.mail is not None and roles.calendar_reader is not None
print(sorted(m for m in sys.modules if m.startswith(("googleapiclient", "imapclient", "caldav"))))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_every_provider_class_declares_the_roles_it_fills() -> None:
    kinds: list[type[Account]] = [
        GoogleAccount,
        ImapAccount,
        SmtpAccount,
        CaldavAccount,
        IcsAccount,
        OutboxFolder,
    ]
    assert Account.kinds[: len(kinds)] == kinds
    for cls in kinds:
        assert cls.claims and cls.name, cls.__name__


def test_a_new_provider_is_one_class_and_choose_is_not_edited(tmp_path: Path) -> None:
    """What Microsoft 365 will be: a class built from its section, claiming its roles."""

    class Exchange(Account):
        name = "exchange"
        claims: ClassVar[dict[Role, int]] = {Role.MAIL: 3, Role.CALENDAR_READER: 3}

        @classmethod
        def from_settings(cls, settings: Any, around: Surroundings) -> Account | None:
            return cls(around)

    try:
        _, roles = roles_of(tmp_path, google={}, imap=IMAP, smtp=SMTP)
        assert (roles.mail.name, roles.calendar_reader.name) == ("exchange", "exchange")
        # it keeps no drafts and sends nothing: those go to the best account that does
        assert (roles.drafts.name, roles.sender.name) == ("imap", "smtp")
    finally:
        Account.kinds.remove(Exchange)


def test_interview_patterns_are_read_from_their_old_place_and_not_twice(tmp_path: Path) -> None:
    settings, _ = roles_of(tmp_path, google={"interview_patterns": ["chat with"]})
    assert settings.interviews.patterns == ("chat with",)
    settings, _ = roles_of(tmp_path, interviews={"patterns": ["entrevista"]})
    assert settings.interviews.patterns == ("entrevista",)
    from pursuit.daemon.errors import ConfigError

    with pytest.raises(ConfigError, match=r"google\.interview_patterns.*\[interviews\] patterns"):
        roles_of(
            tmp_path,
            google={"interview_patterns": ["a"]},
            interviews={"patterns": ["b"]},
        )


def test_doctor_promises_a_retry_only_for_what_a_retry_mends(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pursuit.daemon import doctor
    from pursuit.daemon.app import App

    settings, _ = roles_of(tmp_path, summary={"to": "me@example.org"})
    app = App(settings)
    try:
        now = datetime.now(UTC)
        app.store.record_job_run("feeds", now=now, error="HTTP 503", error_kind="retry")
        app.store.record_job_run(
            "summary", now=now, error="summary.to: not yours", error_kind="config"
        )
        found = {c.what: c for c in doctor.checks(app, now, probe=False)}
        assert found["job feeds"].fix == doctor.RETRIED
        summary_fix = found["job summary"].fix or ""
        assert summary_fix.startswith("a retry cannot mend this: change the config")
    finally:
        app.close()


def test_only_a_refusal_signing_in_again_mends_pauses_a_microsoft_account(tmp_path: Path) -> None:
    """Outlook's IMAP refusing a token Microsoft just gave (IMAP turned off for the
    mailbox) is no expired sign-in: the calendars keep syncing and the mail job is
    retried; Microsoft refusing the sign-in itself pauses every job of the account."""
    from datetime import UTC, datetime

    from pursuit.daemon.accounts import guarded
    from pursuit.daemon.errors import AuthError
    from pursuit.daemon.store import Store

    client = "11111111-2222-3333-4444-555555555555"
    _, roles = roles_of(tmp_path, microsoft={"client_id": client})
    [account] = roles.guarded
    store = Store.open(tmp_path / "state.sqlite3")
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def refused_by(source: str) -> Any:
        def run(now: datetime) -> object:
            raise AuthError(source, "AUTHENTICATE failed")

        return guarded(store, account, run)

    with pytest.raises(AuthError):
        refused_by("imap")(now)
    assert store.grant_refused("microsoft") is None
    with pytest.raises(AuthError):
        refused_by("microsoft")(now)
    refusal = store.grant_refused("microsoft")
    assert refusal is not None and "AUTHENTICATE failed" in refusal.error
    store.close()


def test_each_calendar_reader_points_at_the_key_naming_its_calendars() -> None:
    """`doctor`'s fix for a calendar gone names the key that lists it, per reader."""
    import dataclasses
    import re

    from pursuit.config import settings as config

    sections = {
        "google": config.GoogleSettings,
        "microsoft": config.MicrosoftSettings,
        "calendar": config.CalendarSettings,
    }
    readers = [kind for kind in Account.kinds if Role.CALENDAR_READER in kind.claims]
    assert {kind.name for kind in readers} == {"google", "caldav", "microsoft"}
    for kind in readers:
        found = re.fullmatch(r"\[(\w+)\] (\w+)", kind.calendars_key)
        assert found, kind.calendars_key
        fields = {f.name for f in dataclasses.fields(sections[found[1]])}
        assert found[2] in fields, kind.calendars_key
