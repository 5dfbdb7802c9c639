"""The configuration: the example file, defaults, and every kind of bad value.

The example is checked the way a user would use it: uncomment every setting and
load it. Bad files are checked in-process for their messages, and through the
real command for what the user sees (exit 2, every problem at once, no traceback).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit

from pursuit.config import settings
from pursuit.config.settings import (
    EXAMPLE_CONFIG,
    CalendarSettings,
    FeedSettings,
    OrganizationSettings,
    PlannerSettings,
    load_settings,
    parse_settings,
)
from pursuit.daemon.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example.toml"

# A commented-out setting: `# key = value`, a table header, or a line of an inline array.
SETTING_LINE = re.compile(r"^# ?(?=[a-z_]+ = |\[\[?[a-z_]+\]\]?$|  \{ |\]$)")


def uncommented_example() -> str:
    return "\n".join(SETTING_LINE.sub("", line) for line in EXAMPLE.read_text().splitlines())


def keys_in(value: Any, prefix: str = "") -> set[str]:
    """Every key path in parsed TOML, list items flattened: planner.thank_you_time, ..."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}{key}"
            found.add(path)
            found |= keys_in(item, f"{path}.")
    elif isinstance(value, list):
        for item in value:
            found |= keys_in(item, prefix)
    return found


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(tomllib.loads(text), "my.toml")
    return caught.value.problems


# --- the example


def test_example_is_the_packaged_file_and_loads_as_the_defaults(tmp_path: Path) -> None:
    assert EXAMPLE_CONFIG.read_bytes() == EXAMPLE.read_bytes()
    loaded = load_settings(EXAMPLE)
    defaults = parse_settings({})
    assert loaded.planner == defaults.planner == PlannerSettings()
    assert loaded.run_every == defaults.run_every == timedelta(minutes=15)
    assert loaded.calendar == defaults.calendar
    assert loaded.database == defaults.database
    assert loaded.organizations == ()
    assert loaded.source == EXAMPLE


def test_every_commented_setting_is_valid_and_shows_its_default(tmp_path: Path) -> None:
    text = uncommented_example()
    changed = sum(
        a != b for a, b in zip(text.splitlines(), EXAMPLE.read_text().splitlines(), strict=True)
    )
    assert changed >= 20, "the example's settings should be commented out one per line"
    path = tmp_path / "config.toml"
    path.write_text(text)

    loaded = load_settings(path)

    assert loaded.timezone == ZoneInfo("Europe/Paris")
    assert loaded.planner == PlannerSettings(), "each commented value is the default"
    assert loaded.run_every == timedelta(minutes=15)
    assert loaded.calendar.kind == "ics"
    assert loaded.database == Path.home() / ".local/share/pursuit/pursuit.sqlite3"
    assert loaded.calendar.ics_file == Path.home() / ".local/share/pursuit/calendar.ics"
    [org] = loaded.organizations
    assert org.name == "Acme Networks"
    assert org.domains == ("acme.com",)
    assert [(f.kind, f.format) for f in org.feeds] == [("press", "auto"), ("careers", "greenhouse")]


def test_every_key_of_the_schema_is_explained_in_the_example() -> None:
    documented = keys_in(tomllib.loads(uncommented_example()))

    def fields(cls: type) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    schema = set(settings._TOP_KEYS)
    schema |= {f"planner.{k}" for k in fields(PlannerSettings)}
    schema |= {f"calendar.{k}" for k in fields(CalendarSettings)}
    schema |= {f"organization.{k}" for k in fields(OrganizationSettings)}
    schema |= {f"organization.feeds.{k}" for k in fields(FeedSettings)}
    schema |= {f"feeds.{k}" for k in fields(settings.FeedsSettings)}
    schema |= {f"google.{k}" for k in fields(settings.GoogleSettings)}
    schema |= {f"drafts.{k}" for k in fields(settings.DraftSettings)}
    schema |= {f"imap.{k}" for k in fields(settings.ImapSettings)}
    schema |= {f"summary.{k}" for k in ("to", "day", "time", "enabled", "templates")}
    schema |= {f"smtp.{k}" for k in fields(settings.SmtpSettings)}
    schema |= {f"service.{k}" for k in fields(settings.ServiceSettings)}
    schema |= {f"interviews.{k}" for k in fields(settings.InterviewSettings)}
    schema |= {f"prep.{k}" for k in fields(settings.PrepSettings)}
    schema |= {f"web.{k}" for k in fields(settings.WebSettings)}
    schema |= {f"microsoft.{k}" for k in fields(settings.MicrosoftSettings)}
    assert schema - documented == set()
    assert documented - schema == set(), "the example shows a key the schema does not know"


def test_prep_and_web_values_are_checked_each_naming_its_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[prep]\nevent_time = "7pm"\nevent = "yes"\n'
        '[web]\naddress = "localhost:8765"\nport = 80000\nserv = true\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    for key in ("prep.event_time", "prep.event", "web.address", "web.port", "serv"):
        assert key in message
    assert "127.0.0.1" in message  # what an address looks like


def test_web_defaults_to_loopback_and_reads_an_ipv6_address(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("")
    assert load_settings(path).web == settings.WebSettings(False, "127.0.0.1", 8765)
    path.write_text('[web]\nserve = true\naddress = "[::1]"\nport = 9000\n')
    assert load_settings(path).web == settings.WebSettings(True, "::1", 9000)


# --- loading


def test_no_config_file_means_defaults_but_a_named_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_settings()
    assert loaded.source is None
    assert loaded.database == tmp_path / "xdg-data" / "pursuit" / "pursuit.sqlite3"
    assert loaded.calendar.ics_file == tmp_path / "xdg-data" / "pursuit" / "calendar.ics"

    with pytest.raises(ConfigError, match=re.escape("missing.toml: no such config file")):
        load_settings(tmp_path / "missing.toml")
    monkeypatch.setenv("PURSUIT_CONFIG", str(tmp_path / "from-env.toml"))
    with pytest.raises(ConfigError, match=re.escape("from-env.toml: no such config file")):
        load_settings()


def test_accepted_spellings() -> None:
    loaded = parse_settings(
        tomllib.loads(
            'run_every = "90m"\n'
            "[planner]\n"
            "thank_you_time = 18:30:00\n"  # a TOML time is a time of day too
            'follow_up_delay = "2w"\n'
            'check_in_delay = "3 days"\n'
            'event_duration = "1h"\n'
            'reminder = "0m"\n'
            "[google]\n"
            'timeout = "2 min"\n'
            'retry_wait = "250ms"\n'
            "[[organization]]\n"
            'name = "Acme"\n'
            'domains = ["@ACME.com"]\n'
        )
    )
    assert loaded.run_every == timedelta(minutes=90)
    assert loaded.google is not None
    assert (loaded.google.timeout, loaded.google.retry_wait) == (
        timedelta(minutes=2),
        timedelta(milliseconds=250),
    )
    assert loaded.planner.thank_you_time == time(18, 30)
    assert loaded.planner.follow_up_delay == timedelta(weeks=2)
    assert loaded.planner.check_in_delay == timedelta(days=3)
    assert loaded.planner.event_duration == timedelta(hours=1)
    assert loaded.planner.reminder == timedelta(0)
    assert loaded.organizations[0].domains == ("acme.com",)


def test_working_days_by_short_or_full_name_in_any_order() -> None:
    loaded = parse_settings(
        tomllib.loads("[planner]\nworking_days = ['Sunday', 'mon', 'TUES', 'wed', 'thu', 'mon']")
    )
    assert loaded.planner.working_days == (0, 1, 2, 3, 6)
    assert parse_settings({}).planner.working_days == (0, 1, 2, 3, 4)


# --- bad values, one at a time: the message names the key, the value, what was expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour = 'blue'", "my.toml: colour: unknown key 'colour'"),
        ("[planner]\nthank_you = '17:00'", "my.toml: [planner]: unknown key 'thank_you'"),
        ("[calendar]\nfile = 'x.ics'", "my.toml: [calendar]: unknown key 'file'"),
        ("timezone = 'Mars/Olympus'", "timezone: 'Mars/Olympus': expected an IANA time zone"),
        ("timezone = 1", 'timezone: expected a time zone name in quotes, such as "Europe/Paris"'),
        ("run_every = 15", 'run_every: expected a duration in quotes, such as "15m", got 15'),
        ("run_every = true", 'run_every: expected a duration in quotes, such as "15m", got true'),
        ("run_every = '0m'", "run_every: '0m': expected a duration longer than zero"),
        ("run_every = 'often'", "run_every: 'often': expected a duration such as 30m, 12h"),
        ("[planner]\nfollow_up_delay = '1,5d'", "planner.follow_up_delay: '1,5d': expected a dur"),
        ("[planner]\nevent_duration = '0m'", "planner.event_duration: '0m': expected a duration"),
        ("[planner]\nthank_you_time = '5pm'", "planner.thank_you_time: '5pm': expected a time of"),
        ("[planner]\nthank_you_time = '24:00'", "planner.thank_you_time: '24:00': expected"),
        (
            "[planner]\nreminder = 15",
            'planner.reminder: expected a duration in quotes, such as "7d"',
        ),
        ("planner = 3", "[planner]: expected a table [planner], got 3"),
        ("[calendar]\nkind = 'outlook'", "calendar.kind: 'outlook': expected one of ics, google"),
        ("database = 3", "database: expected a file path in quotes, got 3"),
        ("[organization]\nname = 'Acme'", "organization: expected [[organization]] tables"),
        ("[[organization]]\nname = ''", "organization #1.name: expected a non-empty string"),
        ("[[organization]]\nname = 'A'\ncolour = 1", "organization #1: unknown key 'colour'"),
        (
            "[[organization]]\nname = 'A'\ndomains = 'a.com'",
            "organization 'A'.domains: expected a list of strings, got 'a.com'",
        ),
        (
            "[[organization]]\nname = 'A'\ndomains = ['a com']",
            "organization 'A'.domains: 'a com': expected a mail domain such as acme.com",
        ),
        ("[[organization]]\nname = 'A'\n[[organization]]\nname = 'a'", "'a': declared twice"),
        (
            "[[organization]]\nname = 'A'\nfeeds = [{ url = 'https://a.com/rss', kind = 'blog' }]",
            "organization 'A'.feeds[1].kind: 'blog': expected one of press, news, careers",
        ),
        (
            "[[organization]]\nname = 'A'\nfeeds = [{ url = 'a.com/rss', kind = 'press' }]",
            "organization 'A'.feeds[1].url: 'a.com/rss': expected an http:// or https:// URL",
        ),
        (
            "[[organization]]\nname = 'A'\nfeeds = [{ url = 'https://a.com', kind = 'news', "
            "format = 'xml' }]",
            "organization 'A'.feeds[1].format: 'xml': expected one of auto, rss",
        ),
        (
            "[[organization]]\nname = 'A'\nfeeds = { url = 'https://a.com' }",
            "organization 'A'.feeds: expected a list of { url = ..., kind = ... }",
        ),
        (
            "[[organization]]\nname = 'A'\nfeeds = [{ kind = 'press' }]",
            "organization 'A'.feeds[1].url: expected an http:// or https:// URL in quotes, "
            "got None",
        ),
        # Problems that once surfaced only when the feeds job ran.
        (
            "[[organization]]\nname = 'A'\n"
            "feeds = [{ url = 'https://boards.greenhouse.io/', kind = 'careers' }]",
            "organization 'A'.feeds[1].url: 'https://boards.greenhouse.io/': is a greenhouse "
            "address without a board name (expected https://boards.greenhouse.io/<board>)",
        ),
        (
            "[[organization]]\nname = 'A'\n"
            "feeds = [{ url = 'https://jobs.lever.co/', kind = 'careers', format = 'lever' }]",
            "feeds[1].url: 'https://jobs.lever.co/': is a lever address without a board name",
        ),
        (
            "[[organization]]\nname = 'A'\n"
            "feeds = [{ url = 'https://a.com/press.xml', kind = 'press', format = 'greenhouse' }]",
            "organization 'A'.feeds[1].kind: feed 'https://a.com/press.xml': a greenhouse job "
            "board lists openings, so its kind must be 'careers', not 'press'",
        ),
        (
            "[[organization]]\nname = 'A'\n"
            "feeds = [{ url = 'https://jobs.ashbyhq.com/a', kind = 'news' }]",
            "feeds[1].kind: feed 'https://jobs.ashbyhq.com/a': a ashby job board lists openings, "
            "so its kind must be 'careers', not 'news'",
        ),
        (
            "[[organization]]\nname = 'A'\n"
            "feeds = [{ url = 'https://jobs.lever.co/a', kind = 'careers', format = 'ashby' }]",
            "feeds[1].format: 'ashby': 'https://jobs.lever.co/a' is a lever job board; "
            "expected format 'lever' or 'auto'",
        ),
        (
            "[[organization]]\nname = 'A'\n"
            "feeds = [{ url = 'http://127.0.0.1:99999/feed.xml', kind = 'news' }]",
            "feeds[1].url: 'http://127.0.0.1:99999/feed.xml': is not a valid URL",
        ),
        (
            "[[organization]]\nname = 'A'\nfeeds = [{ url = 'https://a.com/x y', kind = 'news' }]",
            "feeds[1].url: 'https://a.com/x y': contains spaces or control characters",
        ),
        (
            "[[organization]]\nname = 'A'\ndomains = ['a.com']\n"
            "[[organization]]\nname = 'B'\ndomains = ['b.com', 'A.COM.']",
            "organization 'B'.domains: 'A.COM.': a.com is already a domain of 'A'; "
            "mail from it can belong to one organization only",
        ),
        (
            "[planner]\ncheck_in_delay = '99999999999999999999d'",
            "planner.check_in_delay: '99999999999999999999d': expected a duration of at most 3650d",
        ),
        ("run_every = '3651d'", "run_every: '3651d': expected a duration of at most 3650d"),
        ("outbox_dir = '~/outbox'", "my.toml: outbox_dir: unknown key 'outbox_dir'"),
        (
            "[planner]\nworking_days = ['mon', 'funday']",
            "planner.working_days: ['mon', 'funday']: 'funday' is not a day; expected days "
            'such as "mon" or "friday"',
        ),
        (
            "[planner]\nworking_days = []",
            'planner.working_days: []: expected at least one day, such as ["mon", "tue"',
        ),
        (
            "[planner]\nworking_days = 'mon-fri'",
            'planner.working_days: expected a list of days, such as ["mon", "tue", "wed", '
            '"thu", "fri"], got \'mon-fri\'',
        ),
        ("[planner]\nworking_days = ['mo']", "planner.working_days: ['mo']: 'mo' is not a day"),
    ],
)
def test_each_bad_value_is_named(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert expected in problems[0]
    assert problems[0].startswith("my.toml: ")


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        "timezone = 'Nowhere/Land'\n"
        "colour = 'blue'\n"
        "[planner]\n"
        "follow_up_delay = 'a week'\n"
        "thank_you_time = '25:00'\n"
        "[[organization]]\n"
        "name = 'Acme'\n"
        "feeds = [{ url = 'ftp://acme.com', kind = 'blog' }]\n"
    )
    assert len(problems) == 6, problems
    for fragment in (
        "timezone",
        "colour",
        "follow_up_delay",
        "thank_you_time",
        ".feeds[1].url",
        ".feeds[1].kind",
    ):
        assert any(fragment in p for p in problems), fragment


def test_a_domain_spelled_twice_in_one_organization_is_kept_once() -> None:
    loaded = parse_settings(
        tomllib.loads("[[organization]]\nname = 'A'\ndomains = ['a.com', '@A.com', 'a.com.']")
    )
    assert loaded.organizations[0].domains == ("a.com",)


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("", "database", "state.sqlite3"),
        ("", "database", ""),
        ("calendar", "ics_file", "cal/pursuit.ics"),
        ("drafts", "template", "thanks.txt"),
        ("google", "credentials_file", "token.json"),
        ("google", "client_secrets_file", "./secret.json"),
    ],
)
def test_a_relative_path_is_refused_with_the_absolute_one_beside_the_config(
    tmp_path: Path, table: str, key: str, value: str
) -> None:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text((f"[{table}]\n" if table else "") + f"{key} = {value!r}\n")
    key = f"{table}.{key}" if table else key
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: {key}: ")
    assert "a relative path would change with the directory pursuit is started from" in problem
    assert "expected an absolute path or one starting with ~" in problem
    if value:
        assert f"such as {str(path.parent / value)!r}" in problem


def test_absolute_home_and_variable_paths_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURSUIT_TEST_DIR", str(tmp_path))
    loaded = parse_settings(
        tomllib.loads(
            "database = '$PURSUIT_TEST_DIR/state.sqlite3'\n"
            "[calendar]\nics_file = '~/cal.ics'\n"
            f"[drafts]\ntemplate = {str(tmp_path / 't.txt')!r}\n"
        )
    )
    assert loaded.database == tmp_path / "state.sqlite3"
    assert loaded.calendar.ics_file == Path.home() / "cal.ics"
    assert loaded.drafts.template == tmp_path / "t.txt"


def test_feeds_are_kept_as_written_when_they_resolve() -> None:
    loaded = parse_settings(
        tomllib.loads(
            "[[organization]]\nname = 'A'\nfeeds = [\n"
            "  { url = 'https://boards.greenhouse.io/a', kind = 'careers' },\n"
            "  { url = 'https://jobs.lever.co/a', kind = 'careers', format = 'lever' },\n"
            "  { url = 'http://127.0.0.1:8080/jobs.json', kind = 'careers', format = 'ashby' },\n"
            "  { url = 'https://a.com/press.xml', kind = 'press', format = 'rss' },\n"
            "]\n"
        )
    )
    assert [(f.url, f.format) for f in loaded.organizations[0].feeds] == [
        ("https://boards.greenhouse.io/a", "auto"),
        ("https://jobs.lever.co/a", "lever"),
        ("http://127.0.0.1:8080/jobs.json", "ashby"),
        ("https://a.com/press.xml", "rss"),
    ]


RUN_TIME_PROBLEMS = """timezone = "Europe/Paris"
database = "pursuit.sqlite3"

[calendar]
ics_file = "calendar.ics"

[[organization]]
name = "Acme Networks"
domains = ["acme.com"]
feeds = [
  { url = "https://boards.greenhouse.io/", kind = "careers" },
  { url = "https://acme.com/press.xml", kind = "press", format = "lever" },
]

[[organization]]
name = "Globex"
domains = ["Acme.com."]
"""


def test_problems_that_once_surfaced_at_run_time_stop_every_command_at_once(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path, config=None)
    path = p.write_config(RUN_TIME_PROBLEMS)
    for args in (("status",), ("run", "--once")):
        err = p.fails(*args)
        lines = err.strip().splitlines()
        assert len(lines) == 5, err
        assert all(line.startswith(f"pursuit: {path}: ") for line in lines), err
        for fragment in (
            f"database: 'pursuit.sqlite3': a relative path would change with the directory "
            f"pursuit is started from; expected an absolute path or one starting with ~, "
            f"such as {str(path.parent / 'pursuit.sqlite3')!r}",
            "calendar.ics_file: 'calendar.ics': a relative path",
            "organization 'Acme Networks'.feeds[1].url: 'https://boards.greenhouse.io/': "
            "is a greenhouse address without a board name",
            "organization 'Acme Networks'.feeds[2].kind: feed 'https://acme.com/press.xml': "
            "a lever job board lists openings, so its kind must be 'careers', not 'press'",
            "organization 'Globex'.domains: 'Acme.com.': acme.com is already a domain of "
            "'Acme Networks'",
        ):
            assert fragment in err, fragment
    assert not p.data_dir.exists(), "nothing is written with a bad config"
    assert not (tmp_path / "pursuit.sqlite3").exists()
    assert not (path.parent / "pursuit.sqlite3").exists()


# --- what the user sees from the command


BAD_FILE = """\
timezone = "Mars/Olympus"
colour = "blue"
run_every = 15

[planner]
follow_up_delay = "a week"
thank_you_time = "5pm"

[calendar]
kind = "outlook"

[[organization]]
name = "Acme Networks"
domains = ["not a domain"]
feeds = [
  { url = "ftp://acme.com/feed", kind = "blog" },
]
"""


def test_a_bad_config_stops_every_command_with_all_its_problems(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=None)
    path = p.write_config(BAD_FILE)

    for args in (("status",), ("run", "--once"), ("org", "add", "Globex")):
        err = p.fails(*args)
        lines = err.strip().splitlines()
        assert len(lines) == 9, err
        assert all(line.startswith(f"pursuit: {path}: ") for line in lines), err
        for fragment in (
            "timezone: 'Mars/Olympus': expected an IANA time zone",
            "colour: unknown key 'colour'",
            'run_every: expected a duration in quotes, such as "15m", got 15',
            "planner.follow_up_delay: 'a week': expected a duration",
            "planner.thank_you_time: '5pm': expected a time of day as HH:MM",
            "calendar.kind: 'outlook': expected one of ics, google",
            "domains: 'not a domain': expected a mail domain",
            "feeds[1].url: 'ftp://acme.com/feed': expected an http:// or https:// URL",
            "feeds[1].kind: 'blog': expected one of press, news, careers",
        ):
            assert fragment in err, fragment
    assert not p.data_dir.exists(), "nothing is written with a bad config"


def test_malformed_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=None)
    path = p.write_config('timezone = "Europe/Paris"\n\n[planner\nthank_you_time = "17:00"\n')
    line = p.one_line_error("status")
    assert str(path) in line
    assert "not valid TOML" in line and "line 3" in line

    named = p.write_config('run_every = "15m\n', tmp_path / "other.toml")
    line = p.one_line_error("--config", str(named), "run", "--once")
    assert str(named) in line and "line 1" in line

    p.config_path.write_bytes(b'timezone = "Europe/Paris"\n# caf\xe9\n')
    line = p.one_line_error("status")
    assert str(p.config_path) in line and "cannot read config file" in line
    assert not p.data_dir.exists()


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=None)
    err = p.fails("--config", str(tmp_path), "status")
    assert str(tmp_path) in err and "directory" in err


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (
            "[planer]\nthank_you_time = '17:00'\n",
            "planer: unknown key 'planer' (did you mean 'planner'?)",
        ),
        (
            "[planner]\nthankyou_time = '17:00'\n",
            "[planner]: unknown key 'thankyou_time' (did you mean 'thank_you_time'?)",
        ),
        ("[sumary]\nday = 'friday'\n", "(did you mean 'summary'?)"),
    ],
)
def test_a_misspelled_section_or_key_gets_a_hint(tmp_path: Path, text: str, hint: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert hint in str(caught.value)


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Windows Notepad starts a UTF-8 file with a BOM, which TOML does not allow."""
    path = tmp_path / "config.toml"
    path.write_bytes('timezone = "Europe/Paris"\n[drafts]\nyour_name = "Zoë"\n'.encode("utf-8-sig"))
    loaded = load_settings(path)
    assert loaded.timezone.key == "Europe/Paris" and loaded.drafts.your_name == "Zoë"


def test_typographic_quotes_are_named_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# my config\ntimezone = \u201cEurope/Paris\u201d\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "line 2 has the typographic quote \u201c (U+201C)" in message
    assert "straight quotes" in message and "\n" not in message


@pytest.mark.parametrize(
    ("written", "minutes"),
    [
        ("5 min", 5),
        ("1 h", 60),
        ("30 mins", 30),
        ("1 hr", 60),
        ("1.5h", 90),
        ("1h30m", 90),
        ("1 h 30 min", 90),
        ("2 wks", 14 * 24 * 60),
        ("90 minutes", 90),
    ],
)
def test_durations_as_people_write_them(written: str, minutes: int) -> None:
    assert settings.parse_duration(written) == timedelta(minutes=minutes)
