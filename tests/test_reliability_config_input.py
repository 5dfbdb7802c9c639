"""Issue 14, bad input: generated config files and command lines.

Configs are built from the real keys (every key `config/example.toml` documents)
with wrong types, out-of-range values, unknown keys, bad URLs and time zones, odd
unicode and duplicated organizations: loading gives Settings or one ConfigError
whose every line names the file, never another exception; a sample goes through
the real command. Command lines are built from the real commands and options with
random values and run through the CLI's `main` against a small populated store:
exit 0, 1 or 2, errors are short and never a traceback, and the store stays sound.
"""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from support.cli import Pursuit
from support.config_input import example_keys, to_toml
from support.reliability import scale

from pursuit.config.settings import Settings, load_settings
from pursuit.daemon.cli import cli, main
from pursuit.daemon.errors import ConfigError

pytestmark = pytest.mark.reliability

KEYS = example_keys()
SECTIONS = sorted(s for s in KEYS if s)

odd_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from(["\x00", "\n", "\x1b", "\u202e", "\x7f", "é", "😀"]),
    max_size=30,
)
bad_strings = st.sampled_from(
    [
        "",
        " ",
        "-5m",
        "0s",
        "99999999999999999999d",
        "1.5h",
        "25:61",
        "Mars/Olympus_Mons",
        "../../etc/passwd",
        "Europe/../../etc/passwd",
        "relative/path.sqlite3",
        "~nobody-here/x",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://acme.com/feed",
        "http://",
        "http://[::1",
        "https://acme.com:99999/feed",
        "acme..com",
        "xn--",
        "münchen.de",
        "not an address",
        "funday",
        "x" * 5000,
    ]
)
any_value: st.SearchStrategy[Any] = st.recursive(
    st.none().map(lambda _: "")
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | odd_text
    | bad_strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=6,
)


def value_for(example_value: Any) -> st.SearchStrategy[Any]:
    """Mostly the example's own value or one of its kind gone wrong; sometimes anything."""
    same_kind: st.SearchStrategy[Any]
    if isinstance(example_value, bool):
        same_kind = st.booleans()
    elif isinstance(example_value, int):
        same_kind = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.sampled_from(
            [0, -1, 1, 65535, 65536, 10**9]
        )
    elif isinstance(example_value, str):
        same_kind = odd_text | bad_strings
    elif isinstance(example_value, list):
        same_kind = st.lists(
            st.sampled_from(example_value) | odd_text | bad_strings | any_value, max_size=4
        )
    else:
        same_kind = any_value
    return st.one_of(st.just(example_value), same_kind, any_value)


@st.composite
def table(draw: st.DrawFn, section: str) -> dict[str, Any]:
    known = KEYS[section]
    chosen = draw(st.lists(st.sampled_from(sorted(known)), unique=True, max_size=len(known)))
    out = {key: draw(value_for(known[key])) for key in chosen}
    if draw(st.integers(0, 9)) == 0:
        out[draw(odd_text.filter(bool))] = draw(any_value)  # a key pursuit does not know
    return out


@st.composite
def config_document(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(table(""))
    for section in draw(st.lists(st.sampled_from(SECTIONS), unique=True)):
        if section == "organization":
            organizations: list[dict[str, Any]] = draw(st.lists(table("organization"), max_size=3))
            twice: bool = draw(st.booleans())
            if organizations and twice:
                organizations.append(dict(organizations[0]))  # the same organization twice
            if organizations:
                document[section] = organizations
        else:
            document[section] = draw(table(section))
    return document


def check_config(path: Path, document: dict[str, Any]) -> Settings | None:
    text = to_toml(document)
    assert tomllib.loads(text) is not None  # the generator writes valid TOML
    path.write_text(text, encoding="utf-8")
    try:
        return load_settings(path)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.startswith(f"{path}: "), problem
            assert "\n" not in problem and "\r" not in problem, repr(problem)
            assert len(problem) < 1000, problem
        return None


@settings(
    max_examples=scale(150, 3000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(document=config_document())
@example(document={"timezone": "Europe/../../etc/passwd"})
@example(document={"feeds": {"timeout": "99999999999999999999d"}})
@example(document={"organization": [{"name": "Acme"}, {"name": "Acme"}]})
# found by this test: a time zone name too long for a file name crashed the loading
@example(document={"timezone": "é" * 300})
@example(document={"timezone": "Europe"})
# found by this test: a 5000-character value made a 10 KB message, the value shown twice
@example(document={"calendar": {"ics_file": "x" * 5000}})
@example(document={"organization": [{"name": "x" * 5000, "domains": 1}]})
# found by the full run: an unknown key with a line break split the message in two
@example(document={"\r": ""})
@example(document={"feeds": {"\x1b[2J": 1}, "organization": [{"name": "a\nb", "domains": 1}]})
def test_a_generated_config_loads_or_gives_one_clear_config_error(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    check_config(tmp_path / "config.toml", document)


@settings(max_examples=scale(4, 25), deadline=None, suppress_health_check=list(HealthCheck))
@given(document=config_document())
@example(document={"feeds": {"timeout": 10**30 // 10**12}, "planner": {"reminder": "-5m"}})
def test_a_generated_config_through_the_real_command_is_short_and_without_traceback(
    tmp_path_factory: pytest.TempPathFactory, document: dict[str, Any]
) -> None:
    root = tmp_path_factory.mktemp("user")
    p = Pursuit(root, config=None)
    # the user's own data stays under their temporary home
    document.pop("database", None)
    p.write_config(to_toml(document))
    try:
        valid = load_settings(p.config_path) is not None
    except ConfigError:
        valid = False
    for command in (("doctor", "--no-probe"), ("status",)):
        result = p.run(*command)
        assert "Traceback" not in result.out + result.err, str(result)
        if valid:
            assert result.code in (0, 1), str(result)
            continue
        assert result.code == 2, str(result)
        lines = result.err.strip().splitlines()
        assert lines and all(line.startswith("pursuit: ") for line in lines), str(result)


# ------------------------------------------------------------------ command lines

#: Commands that leave the test's world (a browser, the network, systemd, a loop, a server).
NOT_RUN = {("init",), ("auth", "google"), ("run",), ("service", "install"), ("web",)}
#: Options that write a file where the value says: never given a random path.
PATH_OPTIONS = {"--eml", "--output", "--html"}


def commands() -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                walk(sub, (*path, name))
        elif path not in NOT_RUN:
            found.append((path, command))

    walk(cli, ())
    return found


COMMANDS = commands()
values = st.one_of(
    st.sampled_from(
        [
            "Acme Networks",
            "acme",
            "Globex",
            "jane@acme.com",
            "Jane Doe",
            "raj@acme.com",
            "1",
            "2",
            "0",
            "-1",
            "99999999999999999999",
            "2026-12-01",
            "2026-12-01 14:00",
            "2026-02-31",
            "0001-01-01",
            "9999-12-31 23:59",
            "tomorrow",
            "friday",
            "next week",
            "3d",
            "-3d",
            "99999999d",
            "1h",
            "",
            " ",
            "--",
            "-",
            "email",
            "call",
            "active",
            "offer",
            "rejected",
            "json",
            "csv",
            "ics",
        ]
    ),
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(["\x00", "\n"]),
        max_size=20,
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=3).map(lambda t: t * 2000),
)


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    args = list(path)
    for param in command.params:
        if isinstance(param, click.Option):
            if param.opts[0] in PATH_OPTIONS or param.opts[0] in ("--help", "-h"):
                continue
            if not draw(st.booleans()):
                continue
            if param.is_flag:
                args.append(param.opts[0])
                continue
            for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
                choices = getattr(param.type, "choices", None)
                value = draw(st.sampled_from(list(choices)) | values) if choices else draw(values)
                args += [param.opts[0], value]
        elif draw(st.integers(0, 9)) or not param.required:
            choices = getattr(param.type, "choices", None)
            if choices:
                args.append(draw(st.sampled_from(list(choices)) | values))
            elif isinstance(param.type, click.types.IntParamType):
                # mostly ids that exist, so the command goes past its parsing
                args.append(draw(st.integers(1, 6).map(str) | values))
            else:
                args.append(draw(values))
    return args


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A config file and a small store: two organizations, an interview, people, duties."""
    root = tmp_path_factory.mktemp("cli")
    config = root / "config.toml"
    config.write_text(
        'timezone = "Europe/Paris"\n'
        f'database = "{root / "pursuit.sqlite3"}"\n'
        f'[calendar]\nics_file = "{root / "calendar.ics"}"\n'
        "[feeds]\nnews_search = false\n"
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n',
        encoding="utf-8",
    )
    setup = [
        ["org", "add", "Globex", "--domain", "globex.example"],
        ["contact", "add", "Jane Doe <jane@acme.com>", "--org", "Acme Networks"],
        [
            "interview",
            "add",
            "Acme Networks",
            "--at",
            "2026-11-30 14:00",
            "--with",
            "jane@acme.com",
        ],
        ["interview", "add", "Globex", "--at", "2026-12-02 10:00"],
        ["note", "jane@acme.com", "liked the routing question"],
    ]
    for args in setup:
        with pytest.raises(SystemExit) as done:
            main(["--config", str(config), *args])
        assert done.value.code == 0, args
    yield config


@settings(
    max_examples=scale(150, 2000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(args=argv())
@example(args=["snooze", "1", "--to", "99999999d"])
@example(args=["interview", "move", "99999999999999999999", "--at", "9999-12-31 23:59"])
@example(args=["status", "--limit", "99999999999999999999"])
def test_a_generated_command_line_exits_0_1_or_2_with_a_short_message_and_a_sound_store(
    world: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    monkeypatch.chdir(world.parent)
    with pytest.raises(SystemExit) as done:
        main(["--config", str(world), *args])
    out, err = capsys.readouterr()
    code = done.value.code
    usage = " --help`" in err
    event(f"exit {code}{' (usage)' if usage else ''}")  # shown by --hypothesis-show-statistics
    assert code in (0, 1, 2), (args, code, out, err)
    assert "Traceback" not in out + err, (args, err)
    if code and err.strip():
        lines = err.strip().splitlines()  # one line per problem, click's included
        assert all(line.startswith("pursuit: ") for line in lines) or lines == ["Aborted."], (
            args,
            err,
        )
    database = world.parent / "pursuit.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
