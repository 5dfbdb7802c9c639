"""Every command that names a person finds them the same way (one finder: the store's
`find_contact`): by address in either form of an internationalised domain and in any
case, else by name in any case (Unicode too) or a unique part of it; a name matching
several people is the same error in every command.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from support.cli import Pursuit

# Written on 30 November 2026 against fixed dates: run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

UNICODE = "bücher.example"
ASCII = "xn--bcher-kva.example"


def day(days_from_today: int, clock: str = "14:00") -> str:
    return f"{date.today() + timedelta(days=days_from_today)} {clock}"


def with_jorg(tmp_path: Path, domain: str) -> Pursuit:
    """Jörg Weiß, interviewed at Bücher in two days, his address stored in DOMAIN's form."""
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Bücher", "--domain", UNICODE)
    p.ok("interview", "add", "bücher", "--at", day(2), "--with", f"Jörg Weiß <jörg@{domain}>")
    return p


def addresses(p: Pursuit) -> list[str]:
    [contact] = p.export()["contacts"]
    return list(contact["addresses"])


# (stored in, typed as): the address in the other form, upper-cased, both; the name in
# another case (ß folds to ss), a part of it.
FORMS = [
    (UNICODE, f"jörg@{ASCII}"),
    (UNICODE, f"JÖRG@{UNICODE.upper()}"),
    (UNICODE, f"Jörg@{ASCII.upper()}"),
    (ASCII, f"jörg@{UNICODE}"),
    (ASCII, f" JÖRG@{UNICODE.upper()} "),
    (UNICODE, "JÖRG WEISS"),
    (UNICODE, "weiß"),
]


@pytest.mark.parametrize(("stored", "typed"), FORMS)
def test_every_command_finds_a_person_however_they_are_typed(
    tmp_path: Path, stored: str, typed: str
) -> None:
    p = with_jorg(tmp_path, stored)

    assert "Jörg Weiß" in p.ok("contact", "show", typed)
    assert "Jörg Weiß" in p.ok("history", typed)
    assert "Noted for Jörg Weiß" in p.ok("note", typed, "liked the demo")
    assert "Follow up with Jörg Weiß" in p.ok("commit", typed, "--in", "5d")
    assert "Logged email with Jörg Weiß" in p.ok("log", "email", typed, "Thanks", "--in")
    p.ok("contact", "address-add", typed, f"joerg@{UNICODE}")
    assert addresses(p) == sorted([f"joerg@{UNICODE}", f"jörg@{stored}"])
    assert "is now Jörg Weiß-Roth" in p.ok("contact", "rename", typed, "Jörg Weiß-Roth")
    assert "removed from interview #1" in p.ok("interview", "remove-person", "1", typed)
    assert "Forgot contact Jörg Weiß-Roth" in p.ok("forget", typed, "--yes")
    assert p.export()["contacts"] == []


@pytest.mark.parametrize(("stored", "typed"), [(UNICODE, ASCII), (ASCII, UNICODE.upper())])
def test_a_known_address_typed_in_its_other_form_is_the_known_person(
    tmp_path: Path, stored: str, typed: str
) -> None:
    p = with_jorg(tmp_path, stored)
    p.ok("org", "add", "Verlag", "--domain", "verlag.example")

    assert "is known; now also at Verlag" in p.ok(
        "contact", "add", f"jörg@{typed}", "--org", "verlag"
    )
    p.ok("interview", "add", "verlag", "--at", day(3))
    assert "Jörg Weiß added to interview #2" in p.ok(
        "interview", "add-person", "2", f"Jörg <jörg@{typed}>"
    )
    # his address in the other form is still his: it cannot go to someone else
    p.ok("contact", "add", "Ada <ada@verlag.example>")
    err = p.one_line_error("contact", "address-add", "ada", f"jörg@{typed}")
    assert "already belongs to Jörg Weiß" in err

    assert [(c["name"], c["addresses"]) for c in p.export()["contacts"]] == [
        ("Ada", ["ada@verlag.example"]),
        ("Jörg Weiß", [f"jörg@{stored}"]),
    ]


COMMANDS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "contact show": lambda who: ("contact", "show", who),
    "contact rename": lambda who: ("contact", "rename", who, "Someone"),
    "contact address-add": lambda who: ("contact", "address-add", who, "x@bücher.example"),
    "history": lambda who: ("history", who),
    "note": lambda who: ("note", who, "a note"),
    "commit": lambda who: ("commit", who, "--in", "5d"),
    "log": lambda who: ("log", "call", who, "a call"),
    "interview remove-person": lambda who: ("interview", "remove-person", "1", who),
    "forget": lambda who: ("forget", who, "--yes"),
}


def test_a_name_two_people_share_is_the_same_error_in_every_command(tmp_path: Path) -> None:
    p = with_jorg(tmp_path, UNICODE)
    p.ok("contact", "add", "Jörg Klein <jk@bücher.example>", "--org", "bücher")

    errors = {name: p.one_line_error(*command("JÖRG")) for name, command in COMMANDS.items()}

    assert len(set(errors.values())) == 1, errors
    [line] = set(errors.values())
    assert "'JÖRG' is ambiguous" in line
    assert "jk@bücher.example" in line and "jörg@bücher.example" in line
    assert len(p.export()["contacts"]) == 2  # nothing changed


def test_nobody_by_that_name_or_address_is_the_same_error_in_every_command(
    tmp_path: Path,
) -> None:
    p = with_jorg(tmp_path, UNICODE)
    for who, said in (("nobody@bücher.example", "no contact with address"), ("Zed", "named")):
        errors = {name: p.one_line_error(*command(who)) for name, command in COMMANDS.items()}
        for either in ("history", "forget"):  # an organization or a contact
            assert f"no organization or contact named {who!r}" in errors.pop(either)
        assert all(said in line and repr(who) in line for line in errors.values()), errors


def test_a_name_with_a_control_character_is_not_echoed_into_the_hint(tmp_path: Path) -> None:
    """Found by the generated command lines: the hint repeated a typed carriage return,
    which split the one-line message in two."""
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    line = p.one_line_error("contact", "show", "Ja\rne")
    assert "(add them with `pursuit contact add`)" in line
    line = p.one_line_error("contact", "show", "jane@acme.com")
    assert '(add them: `pursuit contact add jane@acme.com --org "Acme Networks"`)' in line
