"""Outlook.com and Microsoft 365 as the user's only account: the [microsoft] section,
`pursuit auth microsoft` against the Graph emulator, and a week of `pursuit run` with
interviews read from the Outlook calendar, reminders in pursuit's own Graph calendar,
thank-you drafts in Dovecot's Drafts and the summary over SMTP, both with XOAUTH2
tokens the emulator vouches for."""

from __future__ import annotations

import tomllib

import pytest

from pursuit.config.settings import MicrosoftSettings, parse_settings
from pursuit.daemon.errors import ConfigError

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


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
            'smtp_port = 0\ntoken_cache = "tokens.json"\nclient_secret = "x"\n'
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
    assert "microsoft.smtp_port: 0: expected a port number from 1 to 65535" in text
    assert "microsoft.token_cache: 'tokens.json': a relative path would change" in text
    assert "[microsoft]: unknown key 'client_secret'" in text  # a public client: no secret


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
            'imap_port = 1143\nimap_security = "none"\nsmtp_host = "localhost"\n'
            'smtp_security = "none"\ngraph_endpoint = "https://127.0.0.1:8443/v1.0"\n'
        )
    )
    assert settings.microsoft is not None
    assert settings.microsoft.graph_endpoint == "https://127.0.0.1:8443/v1.0/"
    assert (settings.microsoft.imap_security, settings.microsoft.smtp_security) == ("none", "none")
