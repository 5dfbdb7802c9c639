"""People as they come, through the command line: names written "Last, First" (as
Outlook writes them), a person at two organizations, a promise typed days after the
interview, an interview moved onto a weekend, someone not known yet (issue 19).
"""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from support.cli import Pursuit, duties_by

from pursuit.daemon import addresses

# Written on 30 November 2026 (a Monday) against fixed dates (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

QUIET = "[feeds]\nnews_search = false\n"


def acme(tmp_path: Path) -> Pursuit:
    p = Pursuit(tmp_path, config=QUIET)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    return p


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(
        path.read_bytes(), _class=EmailMessage, policy=default_policy
    )
    assert isinstance(message, EmailMessage)
    return message


def only_recipient(message: EmailMessage) -> tuple[str, str]:
    """The one person the draft goes to, as a mail client reads its To header."""
    [to] = message.get_all("To") or []
    [person] = to.addresses
    return person.display_name, person.addr_spec


# --- names


@pytest.mark.parametrize(
    ("typed", "header", "greeting"),
    [
        ('"O\'Brien, Sean" <sean@acme.com>', '"O\'Brien, Sean" <sean@acme.com>', "Dear Sean,"),
        ("O'Brien, Sean <sean@acme.com>", '"O\'Brien, Sean" <sean@acme.com>', "Dear Sean,"),
        (
            '"Doe, Jane (Contractor)" <sean@acme.com>',
            '"Doe, Jane (Contractor)" <sean@acme.com>',
            "Dear Jane,",
        ),
        ('"Jane Doe, PhD" <sean@acme.com>', '"Jane Doe, PhD" <sean@acme.com>', "Dear Jane,"),
        ("Dr. Jane Doe <sean@acme.com>", '"Dr. Jane Doe" <sean@acme.com>', "Dear Jane,"),
        ("Sean O'Brien <sean@acme.com>", "Sean O'Brien <sean@acme.com>", "Dear Sean,"),
        ("sean@acme.com", "sean@acme.com", "Dear sean,"),
    ],
)
def test_a_last_first_name_is_greeted_by_its_first_name_and_stays_one_quoted_recipient(
    tmp_path: Path, typed: str, header: str, greeting: str
) -> None:
    p = acme(tmp_path)
    p.ok("interview", "add", "acme", "--at", "2026-11-27 10:00", "--with", typed)
    [thanks] = duties_by(p.export(), "thank_you")
    eml = tmp_path / "thanks.eml"

    lines = p.ok("draft", str(thanks["id"]), "--eml", str(eml)).splitlines()

    assert lines[0] == f"To: {header}"
    assert lines[3] == greeting
    name = typed.rpartition("<")[0].strip().strip('"') if "<" in typed else ""
    assert only_recipient(read_eml(eml)) == (name, "sean@acme.com")


def test_a_long_name_with_commas_and_colons_from_a_calendar_is_still_one_recipient(
    tmp_path: Path,
) -> None:
    p = acme(tmp_path)
    long_name = "O'Brien, Sean: Patrick, Michael; " + "Fitzgerald-Kennedy " * 6
    p.ok(
        "interview",
        "add",
        "acme",
        "--at",
        "2026-11-27 10:00",
        "--with",
        f"{long_name} <s@acme.com>",
    )
    [thanks] = duties_by(p.export(), "thank_you")
    eml = tmp_path / "thanks.eml"

    shown = p.ok("draft", str(thanks["id"]), "--eml", str(eml))

    assert shown.splitlines()[3] == "Dear Sean,"
    name, address = only_recipient(read_eml(eml))
    assert address == "s@acme.com"
    assert name.startswith("O'Brien, Sean Patrick, Michael Fitzgerald-Kennedy")


def test_a_name_python_would_fold_badly_goes_in_its_natural_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python's email folding drops the quotes of a quoted name too long for one line
    (and reads its comma as the end of a recipient): such a name is written without one."""
    monkeypatch.setattr(addresses, "NAME_IN_HEADER_AT_MOST", 300)
    name = "O'Brien, Sean " + "Fitzgerald " * 12
    value = addresses.mailbox(name, "sean@acme.com")
    message = EmailMessage()
    message["To"] = value
    back = email.message_from_bytes(message.as_bytes(), _class=EmailMessage, policy=default_policy)
    assert only_recipient(back) == (value.rpartition(" <")[0], "sean@acme.com")
    assert value.startswith("Sean Fitzgerald") and value.endswith(
        "Fitzgerald O'Brien <sean@acme.com>"
    )


def test_a_thank_you_to_an_internationalised_domain_is_drafted(tmp_path: Path) -> None:
    """A To header needs the ASCII form of the domain: the Unicode one was a traceback."""
    p = Pursuit(tmp_path, config=QUIET)
    p.ok("org", "add", "Bücher", "--domain", "bücher.example")
    p.ok(
        "interview",
        "add",
        "bücher",
        "--at",
        "2026-11-27 10:00",
        "--with",
        "Klein, Jörg <joerg@bücher.example>",
        "--with",
        "Anna Groß <anna.groß@bücher.example>",
    )
    joerg, anna = sorted(duties_by(p.export(), "thank_you"), key=lambda d: d["id"])

    first = tmp_path / "joerg.eml"
    lines = p.ok("draft", str(joerg["id"]), "--eml", str(first)).splitlines()
    assert lines[0] == 'To: "Klein, Jörg" <joerg@xn--bcher-kva.example>'
    assert lines[3] == "Dear Jörg,"
    assert only_recipient(read_eml(first)) == ("Klein, Jörg", "joerg@xn--bcher-kva.example")

    # A local part that is not ASCII is written in UTF-8 (RFC 6532), not as an encoded word.
    second = tmp_path / "anna.eml"
    lines = p.ok("draft", str(anna["id"]), "--eml", str(second)).splitlines()
    assert lines[0] == "To: Anna Groß <anna.groß@xn--bcher-kva.example>"
    assert (
        "To: Anna Gro\u00df <anna.gro\u00df@xn--bcher-kva.example>".encode() in second.read_bytes()
    )


# --- days: a weekday is the coming one, from today; a moved promise lands on a working day


def test_a_weekday_promised_a_week_after_the_interview_is_the_coming_one(tmp_path: Path) -> None:
    p = acme(tmp_path)
    p.ok(
        "interview", "add", "acme", "--at", "2026-11-23 10:00", "--with", "Jane Doe <jane@acme.com>"
    )

    assert p.ok("commit", "jane@acme.com", "--on", "friday") == (
        "Follow up with Jane Doe on Fri 04 Dec 2026\n"
    )
    [follow] = duties_by(p.export(), "follow_up")
    assert follow["due"].startswith("2026-12-04")
    assert p.ok("commit", "jane@acme.com", "--on", "tomorrow") == (
        "Follow up with Jane Doe on Tue 01 Dec 2026\n"
    )


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (("--on", "2026-11-27"), "'2026-11-27': Fri 27 Nov 2026 is in the past"),
        (
            ("--in", "3d"),
            "'3d' after the interview of Mon 23 Nov: Thu 26 Nov 2026 is in the past",
        ),
    ],
)
def test_a_promise_in_the_past_is_refused_with_a_hint(
    tmp_path: Path, typed: tuple[str, str], said: str
) -> None:
    p = acme(tmp_path)
    p.ok(
        "interview", "add", "acme", "--at", "2026-11-23 10:00", "--with", "Jane Doe <jane@acme.com>"
    )
    before = p.export()

    line = p.one_line_error("commit", "jane@acme.com", *typed)

    assert said in line
    assert "a promise is of a day to come (friday, 2026-12-07)" in line
    assert '`pursuit log email jane@acme.com "..."`' in line
    assert p.export()["duties"] == before["duties"]


def test_a_promise_moved_with_its_interview_lands_on_a_working_day(tmp_path: Path) -> None:
    p = acme(tmp_path)
    p.ok(
        "interview", "add", "acme", "--at", "2026-12-07 14:00", "--with", "Jane Doe <jane@acme.com>"
    )
    p.ok("commit", "jane@acme.com", "--on", "2026-12-09")  # a Wednesday

    # Three days later: the promise would move to Saturday 12 December.
    out = p.ok("interview", "move", "1", "--at", "2026-12-10 14:00")

    assert "promised to Jane Doe for Wed 09 Dec would come before the interview: " in out
    assert "moved to Mon 14 Dec" in out
    [follow] = duties_by(p.export(), "follow_up")
    assert follow["due"].startswith("2026-12-14")
    p.ok("run", "--once")
    [event] = [e for e in p.calendar_events() if str(e["summary"]).startswith("Follow up")]
    assert event.decoded("dtstart").date().isoformat() == "2026-12-14"


# --- a person at two organizations

RITA = "Rita Recruiter <rita@agency.example>"


def rita_at_two(tmp_path: Path) -> Pursuit:
    """Rita presented you to Acme (interview Thursday) and to Globex (Friday)."""
    p = acme(tmp_path)
    p.ok("org", "add", "Globex", "--domain", "globex.com")
    p.ok("interview", "add", "acme", "--at", "2026-11-26 10:00", "--with", RITA)
    p.ok("interview", "add", "globex", "--at", "2026-11-27 10:00", "--with", RITA)
    return p


def states(p: Pursuit, kind: str) -> dict[str, str]:
    return {d["organization"]: d["state"] for d in duties_by(p.export(), kind)}


def test_a_log_with_someone_at_two_organizations_closes_only_that_ones_thank_you(
    tmp_path: Path,
) -> None:
    p = rita_at_two(tmp_path)

    out = p.ok("log", "email", "rita@agency.example", "Thank you")
    assert out.splitlines()[1:] == [
        "  About Globex: the organization of their latest interview or message "
        '(for Acme Networks, add --org "Acme Networks")',
        f"  Duty #{duty_id(p, 'thank_you', 'Globex')} done: thank-you to Rita Recruiter (Globex)",
    ]
    assert states(p, "thank_you") == {"Acme Networks": "overdue", "Globex": "done"}

    out = p.ok("log", "email", "rita@agency.example", "Thank you too", "--org", "acme")
    assert "About" not in out  # named: nothing chosen
    assert "thank-you to Rita Recruiter (Acme Networks)" in out
    assert states(p, "thank_you") == {"Acme Networks": "done", "Globex": "done"}

    # A call whose words name an organization is about that one.
    out = p.ok("log", "call", "rita@agency.example", "Acme Networks: next steps")
    assert "About Acme Networks: named in what you logged (for Globex, add --org Globex)" in out
    assert states(p, "follow_up") == {"Acme Networks": "done", "Globex": "pending"}

    p.ok("org", "add", "Initech", "--domain", "initech.example")
    line = p.one_line_error("log", "call", "rita@agency.example", "hello", "--org", "initech")
    assert "Rita Recruiter is not at Initech (add them: `pursuit contact add" in line


def test_commit_and_note_say_which_organization_they_chose_for_someone_at_two(
    tmp_path: Path,
) -> None:
    p = rita_at_two(tmp_path)

    out = p.ok("commit", "rita@agency.example", "--on", "friday")

    assert out == (
        "Follow up with Rita Recruiter on Fri 04 Dec 2026\n"
        "  About Globex: the organization of their latest interview "
        '(for Acme Networks, add --org "Acme Networks")\n'
    )
    assert "About" not in p.ok("commit", "rita@agency.example", "--on", "friday", "--org", "acme")

    chose = (
        "  About Globex: the organization of their latest interview "
        '(for Acme Networks, add --org "Acme Networks")'
    )
    assert p.ok("note", "rita@agency.example", "Knows the Globex CTO").splitlines()[1] == chose
    assert "About" not in p.ok("note", "rita@agency.example", "Met at a meetup", "--org", "acme")
    line = p.ok("note", "rita@agency.example", "--thank-you", "Thank you for the intro.")
    assert line.splitlines()[1] == (
        "  About Globex: the organization of their latest thank-you still to send "
        '(for Acme Networks, add --org "Acme Networks")'
    )


def test_the_history_of_someone_at_two_organizations_names_one_on_each_line(
    tmp_path: Path,
) -> None:
    p = rita_at_two(tmp_path)
    p.ok("log", "email", "rita@agency.example", "Thank you", "--org", "globex")
    p.ok("commit", "rita@agency.example", "--in", "5d", "--org", "acme")

    lines = p.ok("history", "rita@agency.example").splitlines()

    assert lines[:2] == ["Rita Recruiter <rita@agency.example>", "  at Acme Networks, Globex"]
    about = {line.split()[3 if "->" in line else 2]: line for line in lines[2:]}
    assert "  -> email     Globex         Thank you  [Rita Recruiter]" in about["email"]
    assert "     promise   Acme Networks  follow up on 2026-12-01" in about["promise"]
    interviews = [line for line in lines if " interview " in line]
    assert [line.split("interview ")[1][:13] for line in interviews] == [
        "Globex       ",
        "Acme Networks",
    ]
    record = p.ok("history", "rita@agency.example", "--json")
    assert '"organization": "Globex"' in record and '"organization": "Acme Networks"' in record
    # Someone at one organization: no column for it.
    p.ok("interview", "add", "acme", "--at", "2026-11-26 15:00", "--with", "Jane <jane@acme.com>")
    assert "  -> " not in p.ok("history", "jane@acme.com")
    assert "interview Acme" not in p.ok("history", "jane@acme.com")


def duty_id(p: Pursuit, kind: str, organization: str) -> int:
    [duty] = [d for d in duties_by(p.export(), kind) if d["organization"] == organization]
    return int(duty["id"])


# --- someone not known yet, and a name typed in its natural order


def test_a_log_with_someone_unknown_says_how_to_add_them(tmp_path: Path) -> None:
    p = acme(tmp_path)

    line = p.one_line_error("log", "call", "sean@acme.com", "Intro call")
    assert line == (
        "pursuit: no contact with address 'sean@acme.com' (add them: "
        '`pursuit contact add sean@acme.com --org "Acme Networks"`)'
    )
    p.ok("contact", "add", "sean@acme.com", "--org", "Acme Networks")
    assert p.ok("log", "call", "sean@acme.com", "Intro call") == "Logged call with sean@acme.com\n"

    assert "--org ORGANIZATION" in p.one_line_error("log", "call", "x@elsewhere.example", "Hi")
    assert p.one_line_error("log", "call", "Zed", "Hi") == (
        "pursuit: no contact named 'Zed' "
        '(add them: `pursuit contact add "Zed <ADDRESS>" --org ORGANIZATION`)'
    )


def test_a_last_first_name_is_found_typed_first_last(tmp_path: Path) -> None:
    p = acme(tmp_path)
    p.ok(
        "interview",
        "add",
        "acme",
        "--at",
        "2026-11-27 10:00",
        "--with",
        "O'Brien, Sean <s@acme.com>",
    )

    assert p.ok("commit", "Sean O'Brien", "--on", "friday") == (
        "Follow up with O'Brien, Sean on Fri 04 Dec 2026\n"
    )
    assert p.ok("history", "sean o'brien").startswith("O'Brien, Sean <s@acme.com>\n")
