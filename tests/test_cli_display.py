"""What the user sees, through the command line: dates, lateness, the overdue and weekly
views, exports a spreadsheet opens safely, drafts without an account, aligned columns,
natural order, log lines, and nothing from outside that can drive the terminal."""

from __future__ import annotations

import csv
import email
import io
import json
import re
import socket
import subprocess
import sys
import unicodedata
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit, duties_by, pursuit_command

from pursuit.daemon.models import Channel, Direction
from pursuit.daemon.store import Store

# Written on 30 November 2026 against fixed dates: run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

PARIS = ZoneInfo("Europe/Paris")
QUIET = "[feeds]\nnews_search = false\n"


def days_ago(days: int, clock: str = "14:00") -> str:
    return f"{date.today() - timedelta(days=days)} {clock}"


def when(moment: datetime) -> str:
    """How pursuit writes a date: with its year only outside the current one."""
    moment = moment.astimezone(PARIS)
    same_year = moment.year == datetime.now(PARIS).year
    return moment.strftime("%a %d %b %H:%M" if same_year else "%a %d %b %Y %H:%M")


@pytest.fixture
def acme(tmp_path: Path) -> Pursuit:
    """Jane interviewed three days ago; her thank-you is overdue."""
    p = Pursuit(tmp_path, config=QUIET)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("interview", "add", "acme", "--at", days_ago(3), "--with", "Jane Doe <jane@acme.com>")
    return p


def width(text: str) -> int:
    """Terminal columns, counted independently of pursuit's own function."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


# --- dates


def test_overdue_says_how_late_and_interviews_are_last_or_next(acme: Pursuit) -> None:
    next_year = date.today().year + 1
    acme.ok(
        "interview", "add", "acme", "--at", f"{next_year}-03-10 10:00", "--with", "raj@acme.com"
    )
    [thanks] = duties_by(acme.export(), "thank_you", "jane@acme.com")
    due = datetime.fromisoformat(thanks["due"])
    out = acme.ok("status")
    late = (datetime.now(PARIS) - due).days
    assert f"{when(due)} thank-you  Jane Doe (Acme Networks)  {late} days late" in out
    past = datetime.fromisoformat(f"{days_ago(3)}+00:00").replace(tzinfo=PARIS)
    future = datetime(next_year, 3, 10, 10, 0, tzinfo=PARIS)
    assert f"2 interviews, last {when(past)}, next {when(future)}" in out
    assert f"{next_year} 10:00" in out, "a date in another year shows it"
    assert f"{when(future)[:10]}" in acme.ok("org", "show", "acme")


def test_a_future_interview_is_next_not_last(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=QUIET)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    soon = f"{date.today() + timedelta(days=2)} 14:00"
    p.ok("interview", "add", "acme", "--at", soon, "--with", "jane@acme.com")
    out = p.ok("status")
    assert "1 interview, next " in out
    assert "last" not in out
    assert p.status()["organizations"][0]["last_interview"] is None


# --- status --overdue, --limit 0, week


def test_status_limit_0_never_hides_overdue_duties(acme: Pursuit) -> None:
    out = acme.ok("status", "--limit", "0")
    assert "Overdue (1)\n  ... 1 not shown (pursuit status --all)" in out
    assert "Next (1)" in out
    assert "Nothing else planned" not in out
    assert "Nothing planned" not in out


def test_status_overdue_shows_only_what_is_late(acme: Pursuit) -> None:
    out = acme.ok("status", "--overdue")
    assert out.startswith("Overdue (1)\n")
    assert "thank-you  Jane Doe" in out and "days late" in out
    assert "follow-up" not in out and "Organizations" not in out
    record = json.loads(acme.ok("status", "--overdue", "--json"))
    assert [d["kind"] for d in record["overdue"]] == ["thank_you"]
    [thanks] = record["overdue"]
    acme.ok("done", str(thanks["id"]))
    assert acme.ok("status", "--overdue") == "Nothing overdue.\n"


def test_week_shows_what_happened_and_what_is_due(acme: Pursuit) -> None:
    acme.ok("interview", "add", "acme", "--at", days_ago(20), "--with", "old@acme.com")
    # Jane called (an outgoing call would count as the follow-up itself).
    acme.ok(
        "log",
        "call",
        "jane@acme.com",
        "Called about the team",
        "--in",
        "--at",
        days_ago(1, "10:00"),
    )
    acme.ok("log", "email", "old@acme.com", "Long ago", "--at", days_ago(12, "10:00"))
    [thanks] = duties_by(acme.export(), "thank_you", "jane@acme.com")
    acme.ok("done", str(thanks["id"]))
    soon = f"{date.today() + timedelta(days=3)} 11:00"
    acme.ok("interview", "add", "acme", "--at", soon, "--with", "raj@acme.com")
    later = f"{date.today() + timedelta(days=30)} 11:00"
    acme.ok("interview", "add", "acme", "--at", later, "--with", "zoe@acme.com")

    out = acme.ok("week")
    past, _, coming = out.partition("The next 7 days")
    assert "interview   Acme Networks, with Jane Doe" in past
    assert "call  <-    Called about the team [Jane Doe] (Acme Networks)" in past
    assert "done        thank-you Jane Doe (Acme Networks)" in past
    happened = past.partition("Overdue")[0]
    assert "Long ago" not in out and "old@acme.com" not in happened, "older than 7 days"
    # Due 13 days ago at 10:00: 12 or 13 whole days late, by the hour the test runs.
    assert re.search(r"follow-up  old@acme\.com \(Acme Networks\)  1[23] days late", past), (
        "still overdue"
    )
    assert "interview  Acme Networks, with raj" in coming
    assert "zoe" not in out, "further than 7 days"
    for duty in duties_by(acme.export(), "follow_up", "jane@acme.com"):
        # Jane's follow-up is due 7 days after the interview: in 4 days.
        assert f"#{duty['id']:<5} {when(datetime.fromisoformat(duty['due']))}" in coming
    record = json.loads(acme.ok("week", "--json"))
    assert [m["text"] for m in record["correspondence"]] == ["Called about the team"]
    assert [d["kind"] for d in record["done"]] == ["thank_you"]


# --- exports


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(acme: Pursuit, tmp_path: Path) -> None:
    acme.ok("log", "call", "jane@acme.com", "+1 555 0100 called back")
    acme.ok("log", "note", "jane@acme.com", '=HYPERLINK("http://evil","x")')
    acme.ok("log", "note", "jane@acme.com", "@SUM(A1)")
    acme.ok("log", "note", "jane@acme.com", "--", "-2+3")
    acme.ok("log", "note", "jane@acme.com", "\tindented")
    out = acme.ok("export", "--format", "csv", "--table", "correspondence")
    subjects = [row["subject"] for row in csv.DictReader(io.StringIO(out))]
    assert sorted(subjects) == sorted(
        [
            "'+1 555 0100 called back",
            '\'=HYPERLINK("http://evil","x")',
            "'@SUM(A1)",
            "'-2+3",
            "'\tindented",
        ]
    )
    # JSON keeps the text exactly as written.
    assert "=HYPERLINK" in {m["subject"][:10] for m in acme.export()["correspondence"]}


def test_csv_is_one_table_per_file_and_opens_in_excel(acme: Pursuit, tmp_path: Path) -> None:
    err = acme.fails("export", "--format", "csv")
    assert "give --table TABLE" in err and "--output DIR" in err
    acme.ok("export", "--format", "csv", "--output", str(tmp_path / "out"), "--excel")
    files = sorted(f.name for f in (tmp_path / "out").iterdir())
    assert files == sorted(
        f"{t}.csv"
        for t in (
            "organizations",
            "contacts",
            "interviews",
            "duties",
            "correspondence",
            "feed_items",
            "events",
        )
    )
    raw = (tmp_path / "out" / "duties.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,kind,contact,")
    assert raw.endswith(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["kind"] for r in rows} == {"thank_you", "follow_up"}
    assert "--excel go with --format csv" in acme.fails("export", "--excel")


def test_json_keeps_non_ascii_readable(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=QUIET)
    p.ok("org", "add", "Société Générale", "--domain", "sg.fr")
    p.ok("interview", "add", "soc", "--at", days_ago(1), "--with", "Zoë Łukasz <zoe@sg.fr>")
    for args in (("export",), ("status", "--json"), ("org", "show", "soc", "--json")):
        out = p.ok(*args)
        assert "Société Générale" in out, args
        assert "\\u00e9" not in out, args
    assert "Zoë Łukasz" in p.ok("history", "soc", "--json")


# --- drafts without an account


def test_draft_prints_the_thank_you_and_writes_an_eml(acme: Pursuit, tmp_path: Path) -> None:
    acme.ok("note", "jane@acme.com", "--thank-you", "I liked your BGP migration story.")
    [thanks] = duties_by(acme.export(), "thank_you", "jane@acme.com")
    [follow] = duties_by(acme.export(), "follow_up", "jane@acme.com")
    eml = tmp_path / "thanks.eml"
    result = acme.run("draft", str(thanks["id"]), "--eml", str(eml))
    assert result.code == 0, result
    lines = result.out.splitlines()
    day = (date.today() - timedelta(days=3)).strftime("%A")
    assert lines[:4] == [
        "To: Jane Doe <jane@acme.com>",
        f"Subject: Thank you for your time on {day}",
        "",
        "Dear Jane,",
    ]
    assert "I liked your BGP migration story." in lines
    assert f"Wrote {eml}" in result.err
    message = email.message_from_bytes(eml.read_bytes(), _class=EmailMessage, policy=default_policy)
    assert message["To"] == "Jane Doe <jane@acme.com>"
    assert message["X-Unsent"] == "1"
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    assert "I liked your BGP migration story." in body.get_content()

    assert "is a follow-up, not a thank-you" in acme.one_line_error("draft", str(follow["id"]))
    acme.ok("done", str(thanks["id"]))
    assert "is done: there is nothing left to draft" in acme.one_line_error(
        "draft", str(thanks["id"])
    )
    assert "no duty with id 99" in acme.one_line_error("draft", "99")


# --- columns and order


def test_columns_stay_aligned_with_wide_characters_and_marks(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=QUIET)
    names = ["Acme Networks", "株式会社テスト", "Cafe\u0301 Zu\u0308rich", "ＦＵＬＬ Width"]
    for i, name in enumerate(names):
        p.ok("org", "add", name, "--domain", f"d{i}.example")
    for out, marker in ((p.ok("status"), " active "), (p.ok("org", "list"), " active ")):
        lines = [line for line in out.splitlines() if marker in line]
        assert len(lines) == len(names), out
        columns = {width(line[: line.index(marker)]) for line in lines}
        assert len(columns) == 1, out


def test_organizations_sort_naturally_and_ignoring_case(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=QUIET)
    for i, name in enumerate(["Company 10", "company 2", "Company 1", "acme"]):
        p.ok("org", "add", name, "--domain", f"c{i}.example")
    expected = ["acme", "Company 1", "company 2", "Company 10"]
    assert [line.split("  ")[0] for line in p.ok("org", "list").splitlines()] == expected
    assert [o["name"] for o in p.export()["organizations"]] == expected
    status = [line.strip().split("  ")[0] for line in p.ok("status").splitlines()[1:5]]
    assert status == expected


# --- log lines


def failing_feed_config() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return (
        QUIET
        + '[[organization]]\nname = "Acme"\ndomains = ["acme.com"]\n'
        + f'feeds = [{{ url = "http://127.0.0.1:{port}/feed", kind = "press" }}]\n'
    )


def run_with_stderr_file(tmp_path: Path, journal: str | None) -> str:
    """`pursuit run --once` on a new machine, its standard error to a file."""
    p = Pursuit(tmp_path, config=failing_feed_config())
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        env = p.env()
        if journal is not None:
            stat = log.stat()
            env["JOURNAL_STREAM"] = journal or f"{stat.st_dev}:{stat.st_ino}"
        subprocess.run(
            [*pursuit_command(), "run", "--once"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=60,
        )
    return log.read_text(encoding="utf-8")


def test_log_lines_carry_a_time_unless_journald_adds_one(tmp_path: Path) -> None:
    stamped = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WARNING pursuit\.daemon\.feeds: ")
    err = run_with_stderr_file(tmp_path / "a", None)
    assert any(stamped.match(line) for line in err.splitlines()), err
    # Another process's journal stream (a shell started by a service): still stamped.
    err = run_with_stderr_file(tmp_path / "b", "1:2")
    assert any(stamped.match(line) for line in err.splitlines()), err
    err = run_with_stderr_file(tmp_path / "c", "")
    feed_lines = [line for line in err.splitlines() if "pursuit.daemon.feeds" in line]
    assert feed_lines, err
    assert all(line.startswith("<4>WARNING pursuit.daemon.feeds: ") for line in feed_lines), err


def test_other_libraries_are_quiet_at_the_default_level(tmp_path: Path) -> None:
    p = Pursuit(tmp_path, config=QUIET)
    script = "\n".join(
        [
            "import logging",
            "from pursuit.daemon.cli import main",
            "try:",
            "    main(sys_argv)",
            "except SystemExit:",
            "    pass",
            "for name in ('pursuit.daemon.feeds', 'urllib3', 'googleapiclient'):",
            "    print(name, logging.getLogger(name).getEffectiveLevel())",
        ]
    )

    def levels(*argv: str) -> dict[str, int]:
        done = subprocess.run(
            [sys.executable, "-c", f"sys_argv = {list(argv)!r}\n{script}"],
            env=p.env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return {k: int(v) for k, v in (line.split() for line in done.stdout.splitlines()[-3:])}

    assert levels("status") == {"pursuit.daemon.feeds": 30, "urllib3": 40, "googleapiclient": 40}
    assert levels("-v", "status") == {
        "pursuit.daemon.feeds": 20,
        "urllib3": 30,
        "googleapiclient": 30,
    }


# --- nothing from outside drives the terminal

HOSTILE = (
    "Re: offer\x1b]0;pwned\x07 \x1b[2J\x1b[31mred\x1b[0m \u202eevil\u202c\x9b31m end\r\nInjected"
)


def test_text_from_outside_reaches_the_terminal_clean(acme: Pursuit) -> None:
    # Mail stored by an older version, before the connectors cleaned what they read.
    store = Store.open(acme.database)
    try:
        jane = store.find_contact("jane@acme.com")
        store.log_correspondence(
            message_id="<hostile@mail.example>",
            direction=Direction.IN,
            when=datetime.now(PARIS) - timedelta(hours=2),
            channel=Channel.EMAIL,
            organization_id=jane.organization_id,
            contact_ids=[jane.id],
            subject=HOSTILE,
        )
        store.ensure_contact("evil@acme.com", "Mallory\x1b[8m\u202e", jane.organization_id)
    finally:
        store.close()
    outputs = {
        "history": acme.ok("history", "acme"),
        "week": acme.ok("week"),
        "org show": acme.ok("org", "show", "acme"),
        "csv": acme.ok("export", "--format", "csv", "--table", "correspondence"),
        "contacts csv": acme.ok("export", "--format", "csv", "--table", "contacts"),
        "json": acme.ok("export"),
        "history json": acme.ok("history", "acme", "--json"),
    }
    for name, out in outputs.items():
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out), name
    line = next(x for x in outputs["history"].splitlines() if "offer" in x)
    assert "Re: offer red evil end Injected" in line, "one line, the words kept"
    assert "Mallory" in outputs["org show"]
    # The JSON keeps what was received, escaped.
    assert json.loads(outputs["json"])["correspondence"][0]["subject"] == HOSTILE
