"""[imap] and the CalDAV keys of [calendar]: validated at load, every problem named
with the file, the key, the value and what was expected; secrets only by command."""

from __future__ import annotations

import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from pursuit.config.settings import ImapSettings, parse_settings
from pursuit.connectors.secrets import command_secret
from pursuit.daemon.errors import AuthError, ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(tomllib.loads(text), "my.toml")
    return caught.value.problems


def test_an_imap_section_is_read_with_its_defaults() -> None:
    settings = parse_settings(
        tomllib.loads(
            '[imap]\nhost = "imap.example.com"\nusername = "me@example.com"\n'
            'password_command = "pass show mail"\n'
        )
    )
    assert settings.imap == ImapSettings(
        host="imap.example.com", username="me@example.com", password_command="pass show mail"
    )
    assert settings.imap.lookback == timedelta(days=180)


def test_each_imap_problem_is_named_at_once() -> None:
    found = problems(
        '[imap]\nhost = "imap.example.com"\nsecurity = "none"\nport = 0\n'
        'auth = "kerberos"\npassword = "hunter2"\nfolders = "Archive"\n'
    )
    text = "\n".join(found)
    assert "my.toml: imap.username: missing" in text
    assert "my.toml: imap.password_command: missing" in text
    assert "imap.security: 'none' would send the password in the clear to imap.example.com" in text
    assert "my.toml: imap.port: 0: expected a port number from 1 to 65535" in text
    assert "my.toml: imap.auth: 'kerberos': expected one of password, oauth2" in text
    assert "unknown key 'password'" in text  # a password in the file is refused
    assert "imap.folders: expected a list of strings" in text


def test_no_encryption_is_allowed_for_a_server_on_this_machine_only() -> None:
    settings = parse_settings(
        tomllib.loads(
            '[imap]\nhost = "127.0.0.1"\nport = 1143\nsecurity = "none"\nusername = "me"\n'
            'password_command = "echo x"\n'
        )
    )
    assert settings.imap is not None and settings.imap.security == "none"


def test_a_caldav_calendar_needs_its_server_account_and_password_command() -> None:
    found = problems('[calendar]\nkind = "caldav"\nurl = "http://dav.example.com/"\n')
    text = "\n".join(found)
    assert "calendar.url: 'http://dav.example.com/': http:// would send the password" in text
    assert "calendar.username: missing" in text
    assert "calendar.password_command: missing" in text

    settings = parse_settings(
        tomllib.loads(
            '[calendar]\nkind = "caldav"\nurl = "https://caldav.fastmail.com/"\n'
            'username = "me@fastmail.com"\npassword_command = "pass show dav"\n'
            'calendar = "Work"\ncalendars = ["Personal"]\n'
        )
    )
    assert settings.calendar.kind == "caldav"
    assert settings.calendar.url == "https://caldav.fastmail.com/"
    assert (settings.calendar.calendar, settings.calendar.calendars) == ("Work", ("Personal",))


# --- the password command


def test_the_secret_is_the_commands_output_stripped(tmp_path: Path) -> None:
    assert command_secret("printf '  s3cret\\n'", "imap.password_command")() == "s3cret"
    script = tmp_path / "token helper"
    script.write_text("#!/bin/sh\necho token-$1\n")
    script.chmod(0o700)
    assert command_secret(f"'{script}' abc", "imap.password_command")() == "token-abc"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("no-such-command-pursuit", "no such command: no-such-command-pursuit"),
        ("sh -c 'echo hunter2; exit 3'", "failed with exit status 3"),
        ("true", "printed nothing"),
        (f"{sys.executable} -c 'import time; time.sleep(5)'", "no answer within 0.5 s"),
    ],
)
def test_a_failing_password_command_is_one_clear_error_never_its_output(
    command: str, expected: str
) -> None:
    with pytest.raises(AuthError) as raised:
        command_secret(command, "imap.password_command", timeout=0.5)()
    message = str(raised.value)
    assert message.startswith("imap.password_command: ")
    assert expected in message
    assert "hunter2" not in message
