"""Outlook.com and Microsoft 365 as the user's only account: the [microsoft] section,
`pursuit auth microsoft` against the Graph emulator, and a week of `pursuit run` with
interviews read from the Outlook calendar, reminders in pursuit's own Graph calendar,
thank-you drafts in Dovecot's Drafts over IMAP with an XOAUTH2 token the emulator
vouches for, and the summary by Graph's sendMail into Dovecot's INBOX."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
import tomllib
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from support import clock
from support.cli import Pursuit, duties_by
from support.contracts import summary
from support.dovecot import USER, Dovecot
from support.graph_emulator import GraphEmulator
from support.mail import raw_mail

from pursuit.config.settings import MicrosoftSettings, load_settings, parse_settings
from pursuit.daemon.accounts import Surroundings, choose
from pursuit.daemon.app import App
from pursuit.daemon.errors import AuthError, ConfigError

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
PARIS = ZoneInfo("Europe/Paris")
#: The week: Monday 30 November 2026, the interview on Tuesday at 14:00.
MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
INTERVIEW = datetime(2026, 12, 1, 14, 0, tzinfo=PARIS)
OWN_CALENDAR = "Job search (pursuit)"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(tomllib.loads(text), "my.toml")
    return caught.value.problems


# --- the section


def test_a_microsoft_section_needs_only_the_client_id_and_serves_the_calendar() -> None:
    settings = parse_settings(tomllib.loads(f'[microsoft]\nclient_id = "{CLIENT_ID}"\n'))
    assert settings.microsoft is not None
    assert settings.microsoft.client_id == CLIENT_ID
    assert (settings.microsoft.tenant, settings.microsoft.calendars) == ("common", ("default",))
    assert settings.microsoft.mail is True
    assert settings.microsoft.token_cache.name == "microsoft-token.json"
    assert settings.calendar.kind == "microsoft", "its calendar is the natural home"
    # with Google too, Google's calendar stays the default; a kind given is kept
    both = parse_settings(tomllib.loads(f'[google]\n[microsoft]\nclient_id = "{CLIENT_ID}"\n'))
    assert both.calendar.kind == "google"
    ics = parse_settings(
        tomllib.loads(f'[calendar]\nkind = "ics"\n[microsoft]\nclient_id = "{CLIENT_ID}"\n')
    )
    assert ics.calendar.kind == "ics"


def test_each_microsoft_problem_is_named_at_once() -> None:
    text = "\n".join(
        problems(
            '[microsoft]\ntenant = "my company"\ncalendars = []\nmail = "yes"\n'
            'login_endpoint = "http://login.example.com"\nimap_security = "none"\n'
            'imap_port = 0\ntoken_cache = "tokens.json"\nclient_secret = "x"\n'
            'smtp_host = "smtp.office365.com"\n'
        )
    )
    assert "my.toml: microsoft.client_id: missing: the Application (client) ID" in text
    assert (
        "microsoft.tenant: 'my company': expected 'consumers' (a personal account), "
        "'organizations' (a work or school one), 'common' (either), or your tenant's id"
    ) in text
    assert 'microsoft.calendars: expected at least one calendar, such as ["default"]' in text
    assert "microsoft.mail: expected a bool, got 'yes'" in text
    assert "microsoft.login_endpoint: 'http://login.example.com': expected an https:// URL" in text
    assert (
        "microsoft.imap_security: 'none' would send your sign-in's token in the clear to "
        "outlook.office365.com"
    ) in text
    assert "microsoft.imap_port: 0: expected a port number from 1 to 65535" in text
    assert "microsoft.token_cache: 'tokens.json': a relative path would change" in text
    assert "[microsoft]: unknown key 'client_secret'" in text  # a public client: no secret
    # the summary goes through Graph: no SMTP server to name
    assert "[microsoft]: unknown key 'smtp_host'" in text


def test_a_client_id_is_the_app_registrations_guid() -> None:
    [problem] = problems('[microsoft]\nclient_id = "pursuit"\n')
    assert problem == (
        "my.toml: microsoft.client_id: 'pursuit': expected your app registration's "
        "Application (client) ID, a GUID such as '11111111-2222-3333-4444-555555555555' "
        "(Microsoft Entra admin center, App registrations)"
    )
    settings = parse_settings(
        tomllib.loads(
            f'[microsoft]\nclient_id = "{CLIENT_ID.upper()}"\ntenant = "Contoso.onmicrosoft.com"\n'
        )
    )
    assert settings.microsoft == MicrosoftSettings(CLIENT_ID, tenant="contoso.onmicrosoft.com")


def test_the_microsoft_calendar_kind_needs_the_section() -> None:
    assert problems('[calendar]\nkind = "microsoft"\n') == [
        "my.toml: calendar.kind: 'microsoft' needs a [microsoft] section with your app's "
        "client_id (then sign in with `pursuit auth microsoft`)"
    ]
    assert (
        "expected one of ics, google, caldav, microsoft"
        in problems('[calendar]\nkind = "outlook"\n')[0]
    )


def test_a_server_on_this_machine_may_go_unencrypted() -> None:
    settings = parse_settings(
        tomllib.loads(
            f'[microsoft]\nclient_id = "{CLIENT_ID}"\nimap_host = "127.0.0.1"\n'
            'imap_port = 1143\nimap_security = "none"\n'
            'graph_endpoint = "https://127.0.0.1:8443/v1.0"\n'
        )
    )
    assert settings.microsoft is not None
    assert settings.microsoft.graph_endpoint == "https://127.0.0.1:8443/v1.0/"
    assert settings.microsoft.imap_security == "none"


# --- the user's week with Microsoft alone


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    # the user of Dovecot's test account, so its own helpers read the same mailbox
    with GraphEmulator(user=USER, client_id=CLIENT_ID) as emulator:
        yield emulator


@pytest.fixture
def dovecot(emu: GraphEmulator) -> Iterator[Dovecot]:
    with Dovecot(introspection_url=emu.introspection_url) as server:
        # what Exchange does with mail sent to yourself: a copy in Sent, one in INBOX
        emu.deliver = server.append
        yield server


def microsoft_user(
    tmp_path: Path, emu: GraphEmulator, dovecot: Dovecot, calendar: str = ""
) -> Pursuit:
    """A user whose config has [microsoft] and nothing else of an account's: the
    endpoints a national cloud would set point at the emulator and Dovecot."""
    config = (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        f"{calendar}"
        f'[microsoft]\nclient_id = "{CLIENT_ID}"\n'
        f'token_cache = "{tmp_path / "signin" / "microsoft.json"}"\n'
        f'login_endpoint = "{emu.login_endpoint}"\ngraph_endpoint = "{emu.graph_endpoint}"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {dovecot.port}\nimap_security = "none"\n'
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        'positions = ["Network Engineer"]\n'
    )
    return Pursuit(tmp_path, config=config)


def at(emu: GraphEmulator, moment: datetime) -> dict[str, str]:
    """A command's environment at `moment`, trusting the emulator's certificate."""
    return {**emu.env(), **clock.at(moment)}


def person(name: str, address: str) -> dict[str, Any]:
    return {
        "type": "required",
        "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
        "emailAddress": {"name": name, "address": address},
    }


def invitation(subject: str, start: datetime, *people: tuple[str, str]) -> dict[str, Any]:
    """An invitation from Jane as it sits in the user's Outlook calendar."""
    utc = start.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    return {
        "subject": subject,
        "body": {"contentType": "html", "content": "<p>Looking forward to it.</p>"},
        "start": {"dateTime": utc.isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": (utc + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
        "originalStartTimeZone": "Romance Standard Time",
        "organizer": {"emailAddress": {"name": "Jane Doe", "address": "jane@acme.com"}},
        "attendees": [person(name, address) for name, address in people],
        "isOrganizer": False,
        "responseStatus": {"response": "accepted", "time": "2026-11-27T09:00:00Z"},
    }


def own_events(emu: GraphEmulator) -> list[dict[str, Any]]:
    """What pursuit wrote to its own calendar on Outlook."""
    return list(emu.events(emu.calendar_named(OWN_CALENDAR)).values())


def messages(dovecot: Dovecot, folder: str) -> list[EmailMessage]:
    return [
        email.message_from_bytes(raw, policy=email.policy.default)
        for raw in dovecot.messages(folder)
    ]


def pursuits_mail(dovecot: Dovecot, folder: str) -> list[EmailMessage]:
    """The messages pursuit sent (its key header) in a folder of the user's mailbox."""
    return [m for m in messages(dovecot, folder) if m["X-Pursuit-Key"]]


def test_a_week_with_only_a_microsoft_account(
    tmp_path: Path, emu: GraphEmulator, dovecot: Dovecot
) -> None:
    p = microsoft_user(tmp_path, emu, dovecot)
    emu.put_event(
        None,
        invitation(
            "Interview: Network Engineer",
            INTERVIEW,
            ("Jane Doe", "jane@acme.com"),
            ("Raj Patel", "Raj@Acme.com"),
            ("Alex Martin", USER),
        ),
    )
    friday = MONDAY - timedelta(days=3)
    dovecot.append(
        "INBOX",
        raw_mail("Jane Doe <jane@acme.com>", USER, "Next steps", friday, "j1@acme").encode(),
    )

    # Monday: the sign-in, a code to type elsewhere; then the first round
    signed = p.ok("auth", "microsoft", env=at(emu, MONDAY))
    assert re.search(
        r"open the page https://microsoft.com/devicelogin and enter the code \w+", signed
    )
    assert f"Signed in as {USER} (calendars and mail)" in signed
    cache = tmp_path / "signin" / "microsoft.json"
    assert cache.stat().st_mode & 0o777 == 0o600
    p.ok("run", "--once", env=at(emu, MONDAY + timedelta(minutes=5)))
    data = p.export()
    [interview] = data["interviews"]
    assert interview["interviewers"] == ["jane@acme.com", "raj@acme.com"]
    assert interview["organization"] == "Acme Networks"
    assert [m["subject"] for m in data["correspondence"]] == ["Next steps"]
    subjects = sorted(e["subject"] for e in own_events(emu))
    assert "Send thank-you notes: Acme Networks (Jane Doe, Raj Patel)" in subjects
    assert all(not e.get("attendees") for e in own_events(emu)), "never an invitation"
    assert {e["calendar"] for e in data["events"]} == {"microsoft"}

    # Tuesday evening: Raj was thanked from the phone; Jane gets a draft
    dovecot.append(
        "Sent",
        raw_mail(
            USER, "Raj Patel <raj@acme.com>", "Thank you", INTERVIEW + timedelta(hours=2), "t1@me"
        ).encode(),
    )
    p.ok("run", "--once", env=at(emu, INTERVIEW + timedelta(hours=4)))
    [draft] = messages(dovecot, "Drafts")
    assert draft["To"] == "Jane Doe <jane@acme.com>"
    assert "Network Engineer" in str(draft["Subject"])
    [raj_thanks] = duties_by(p.export(), "thank_you", "raj@acme.com")
    assert raj_thanks["state"] == "done"

    # Thursday: Jane moves to a second round next week, on the same calendar
    second = INTERVIEW + timedelta(days=7)
    emu.put_event(
        None, invitation("Interview (round 2): Acme", second, ("Jane Doe", "jane@acme.com"))
    )
    p.ok("run", "--once", env=at(emu, MONDAY + timedelta(days=3)))
    assert len(p.export()["interviews"]) == 2

    # Sunday 18:00: the weekly summary, sent to the user by Graph's sendMail (no SMTP:
    # many Microsoft 365 tenants turn SMTP AUTH off) and found in their INBOX
    sunday = MONDAY.replace(hour=18, minute=30) + timedelta(days=6)
    p.ok("run", "--once", env=at(emu, sunday))
    assert emu.graph_requests("POST", "sendMail") == 1
    [summary] = pursuits_mail(dovecot, "INBOX")
    assert email.utils.parseaddr(str(summary["To"]))[1] == USER
    assert email.utils.parseaddr(str(summary["From"]))[1] == USER
    assert "Acme Networks" in summary.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [m["Message-ID"] for m in pursuits_mail(dovecot, "Sent")] == [summary["Message-ID"]]

    # another round changes nothing anywhere; the summary is no correspondence
    events = sorted(e["subject"] for e in own_events(emu))
    p.ok("run", "--once", env=at(emu, sunday + timedelta(minutes=30)))
    assert emu.graph_requests("POST", "sendMail") == 1
    assert len(pursuits_mail(dovecot, "INBOX")) == 1
    assert len(messages(dovecot, "Drafts")) == 1
    assert sorted(e["subject"] for e in own_events(emu)) == events
    assert len(p.export()["correspondence"]) == 2

    # doctor names the account and who is signed in
    doctor = p.run("doctor", env=at(emu, sunday + timedelta(minutes=31)))
    assert f"microsoft: reachable, authorized as {USER}" in doctor.out, doctor


def test_a_sign_in_unused_for_90_days_pauses_microsoft_alone_until_the_user_signs_in(
    tmp_path: Path,
    emu: GraphEmulator,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = microsoft_user(tmp_path, emu, dovecot)
    emu.put_event(
        None, invitation("Interview: Network Engineer", INTERVIEW, ("Jane Doe", "jane@acme.com"))
    )
    p.ok("auth", "microsoft", env=at(emu, MONDAY))
    p.ok("run", "--once", env=at(emu, MONDAY + timedelta(minutes=5)))

    # pursuit was off for three months: Microsoft let the refresh token lapse
    emu.expire_refresh_tokens()
    later = MONDAY + timedelta(days=95)
    p.ok(
        "interview",
        "add",
        "acme",
        "--at",
        "2027-03-09 10:00",
        "--with",
        "Kim <kim@acme.com>",
        env=at(emu, later),
    )
    emu.requests.clear()
    result = p.run("run", "--once", env=at(emu, later + timedelta(minutes=1)))
    assert result.code == 1 and "Traceback" not in result.err, result
    said = [line for line in result.err.splitlines() if "WARNING" in line or "ERROR" in line]
    paused = [line for line in said if "paused" in line]
    assert len(paused) == 1, result.err
    assert "Microsoft sync paused until you sign in again (pursuit auth microsoft)" in paused[0]
    refusal = [line for line in said if "failed:" in line]
    assert len(refusal) == 1 and "pursuit auth microsoft" in refusal[0], result.err
    assert "90 days" in refusal[0] or "AADSTS700082" in refusal[0], refusal[0]
    # planning ran: the interview added by hand has its duties
    assert duties_by(p.export(), "follow_up", "kim@acme.com")

    # the next rounds ask Microsoft nothing and say nothing new; status and doctor say it
    quiet = p.run("run", "--once", env=at(emu, later + timedelta(minutes=20)))
    assert not [line for line in quiet.err.splitlines() if "paused" in line], quiet.err
    assert emu.requests == []
    status = p.ok("status", env=at(emu, later + timedelta(minutes=21)))
    assert "Warning: Microsoft sync paused since" in status
    assert "run `pursuit auth microsoft`" in status
    doctor = p.run("doctor", env=at(emu, later + timedelta(minutes=21)))
    assert doctor.code == 1
    assert "microsoft: paused since" in doctor.out
    assert (
        "-> sign in again: `pursuit auth microsoft` (the service resumes by itself)" in doctor.out
    )
    assert (
        "job calendar: last success 2026-11-30 10:05; paused until you sign in again" in doctor.out
    )
    assert "is the service running" not in doctor.out, "held back, not stale"
    assert "job plan: last success 2027-03-05" in doctor.out

    # the service's wait for new mail (IMAP IDLE) asks nothing with the refused sign-in
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
    with time_machine.travel((later + timedelta(minutes=22)).timestamp(), tick=True):
        service = App(load_settings(p.config_path))
        assert not service.waits_for_mail
        assert service.wait_for_mail(0.1) is False
        assert not service.waits_for_mail
        assert emu.requests == []

    # signing in again resumes it: Kim's follow-up reaches the Outlook calendar
    p.ok("auth", "microsoft", env=at(emu, later + timedelta(minutes=30)))
    assert service.waits_for_mail, "a new sign-in: IDLE again"
    service.close()
    p.ok("run", "--once", env=at(emu, later + timedelta(minutes=31)))
    assert any("Kim" in e["subject"] for e in own_events(emu))
    assert "Warning" not in p.ok("status", env=at(emu, later + timedelta(minutes=32)))


# --- the sign-in's other outcomes, and the account's roles


def decline_when_asked(emu: GraphEmulator) -> threading.Thread:
    """The user opens the page and refuses, once the command has shown the code."""

    def decline() -> None:
        give_up = time.monotonic() + 10
        while not emu.pending_user_codes() and time.monotonic() < give_up:
            time.sleep(0.02)
        emu.decline()

    thread = threading.Thread(target=decline, daemon=True)
    thread.start()
    return thread


def test_a_declined_or_expired_code_is_one_line_and_keeps_no_sign_in(
    tmp_path: Path, emu: GraphEmulator, dovecot: Dovecot
) -> None:
    p = microsoft_user(tmp_path, emu, dovecot)
    emu.auto_approve = False
    refused = decline_when_asked(emu)
    result = p.run("auth", "microsoft", env=emu.env())
    refused.join()
    assert result.code != 0 and "Traceback" not in result.err, result
    assert "devicelogin" in result.out  # the code was shown first
    [line] = result.err.strip().splitlines()
    assert line.startswith("pursuit: microsoft: ") and "declined" in line, line
    assert "pursuit auth microsoft" in line

    emu.device_code_lifetime = 0.0  # nobody typed the code in time
    [line] = p.fails("auth", "microsoft", code=result.code, env=emu.env()).strip().splitlines()
    assert line.startswith("pursuit: microsoft: ") and "expired" in line, line
    doctor = p.run("doctor", "--no-probe", env=emu.env())
    assert "microsoft: not signed in" in doctor.out
    assert "-> run `pursuit auth microsoft`" in doctor.out


def test_auth_microsoft_without_the_section_says_what_to_add(tmp_path: Path) -> None:
    line = Pursuit(tmp_path).one_line_error("auth", "microsoft")
    assert line == (
        "pursuit: no [microsoft] section in the config: add one with your app "
        'registration\'s client_id (`client_id = "..."`; see config/example.toml), '
        "then sign in again"
    )


def roles(tmp_path: Path, **sections: Any) -> dict[str, str | None]:
    data = {"timezone": "Europe/Paris", "database": str(tmp_path / "s.sqlite3"), **sections}
    around = Surroundings(install_id=lambda: "", timezone="Europe/Paris", data_dir=tmp_path)
    chosen = choose(parse_settings(data), around)
    return {
        "mail": chosen.mail.name if chosen.mail else None,
        "drafts": chosen.drafts.name if chosen.drafts else None,
        "calendar reader": chosen.calendar_reader.name if chosen.calendar_reader else None,
        "calendar": chosen.calendar.name,
        "sender": chosen.sender.name,
        "guarded": ",".join(a.name for a in chosen.guarded),
    }


def test_the_account_claims_its_roles_and_choose_does_the_rest(tmp_path: Path) -> None:
    microsoft = {"client_id": CLIENT_ID}
    assert roles(tmp_path, microsoft=microsoft) == {
        "mail": "microsoft",
        "drafts": "microsoft",
        "calendar reader": "microsoft",
        "calendar": "microsoft",
        "sender": "microsoft",
        "guarded": "microsoft",
    }
    # the calendars alone: mail and the summary go where they would without it
    calendars_only = roles(tmp_path, microsoft={**microsoft, "mail": False})
    assert (calendars_only["mail"], calendars_only["sender"]) == (None, "outbox")
    # an [imap] the user configured stays their mailbox, as over Google
    imap = {"host": "mail.example.org", "username": "me@example.org", "password_command": "true"}
    with_imap = roles(tmp_path, microsoft=microsoft, imap=imap, calendar={"kind": "ics"})
    assert (with_imap["mail"], with_imap["calendar reader"], with_imap["calendar"]) == (
        "imap",
        "microsoft",
        "ics",
    )


def test_each_server_takes_its_own_token_and_refuses_the_other(
    tmp_path: Path,
    emu: GraphEmulator,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checks are real: Dovecot's XOAUTH2 takes only what the emulator vouches for,
    a live token of Outlook's mail resource for that user; Graph's sendMail takes only
    a Graph token that carries Mail.Send. One sign-in gives both."""
    from pursuit.connectors.graph import GraphClient
    from pursuit.connectors.microsoft_auth import MicrosoftSignIn
    from pursuit.connectors.outlook_mail import GraphSender

    p = microsoft_user(tmp_path, emu, dovecot)
    p.ok("auth", "microsoft", env=emu.env())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
    signin = MicrosoftSignIn(
        CLIENT_ID,
        "common",
        tmp_path / "signin" / "microsoft.json",
        login_endpoint=emu.login_endpoint,
    )
    mail, graph = signin.mail_token(), signin.graph_token()

    def sender(token: str) -> GraphSender:
        client: GraphClient = GraphClient(
            lambda force_refresh=False: token, endpoint=emu.graph_endpoint, mailbox=USER
        )
        return GraphSender(client, address=USER, mailbox=USER)

    with pytest.raises(AuthError, match="pursuit auth microsoft"):
        sender(mail).send(summary(USER))
    sender(signin.send_token()).send(summary(USER, key="summary:2026-W50"))
    assert len(emu.sent_mime) == 1 and dovecot.messages("INBOX")

    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10)
    client.oauth2_login(USER, mail)
    assert "Drafts" in [name for _, _, name in client.list_folders()]
    client.logout()
    # last: Dovecot holds the logins after a refusal from one address back for seconds
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.oauth2_login(USER, graph)
    client.shutdown()
