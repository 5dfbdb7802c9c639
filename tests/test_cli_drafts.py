"""The thank-you drafts through the command line, without an account: a private note
never reaches one, the line given for it is placed as written, the placeholder, the
day ("today"), the subject without a position, the From header, and an upgrade's
notes staying private. The mailbox's drafts are in tests/test_cli_drafts_mailbox.py."""

from __future__ import annotations

import email
import json
import sqlite3
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from support import clock
from support.cli import Pursuit, Result, duties_by

from pursuit.daemon.store import MIGRATIONS

# Written on Monday 30 November 2026 (noon in Paris): run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

QUIET = "[feeds]\nnews_search = false\n"
SECRET = "She seemed unconvinced about my salary ask - don't mention it"
PLACEHOLDER = "[a line of your own: what you enjoyed talking about]"


def acme(tmp_path: Path, *, position: str | None = "Network Engineer", config: str = "") -> Pursuit:
    """Jane interviewed this morning (9:00 to 10:00, Paris)."""
    p = Pursuit(tmp_path, config=QUIET + config)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    at = ("--position", position) if position else ()
    p.ok(
        "interview",
        "add",
        "acme",
        "--at",
        "2026-11-30 09:00",
        *at,
        "--with",
        "Jane Doe <jane@acme.com>",
    )
    return p


def thank_you_of(p: Pursuit, who: str = "jane@acme.com") -> str:
    [duty] = duties_by(p.export(), "thank_you", who)
    return str(duty["id"])


def draft(p: Pursuit, *args: str, env: dict[str, str] | None = None) -> Result:
    result = p.run("draft", thank_you_of(p), *args, env=env)
    assert result.code == 0, result
    return result


def body_lines(result: Result) -> list[str]:
    """The note's lines, after the header lines and the blank line."""
    lines = result.out.splitlines()
    return lines[lines.index("") + 1 :]


def test_a_private_note_never_reaches_the_draft_but_reaches_your_own_views(
    tmp_path: Path,
) -> None:
    p = acme(tmp_path)
    out = p.ok("note", "jane@acme.com", SECRET)
    assert "private, never in a draft" in out
    eml = tmp_path / "thanks.eml"
    shown = draft(p, "--eml", str(eml))
    assert "salary" not in shown.out and "unconvinced" not in shown.out
    assert "salary" not in eml.read_text() and "unconvinced" not in eml.read_text()
    assert PLACEHOLDER in body_lines(shown), "a line of its own, where the personal line goes"
    assert "pursuit note jane@acme.com --thank-you" in shown.err  # how to fill it in
    # The user's own views keep it: the calendar, history, org show, contact show.
    p.ok("run", "--once")
    descriptions = {str(e["SUMMARY"]): str(e["DESCRIPTION"]) for e in p.calendar_events()}
    assert f"You noted: {SECRET}" in descriptions["Send thank-you notes: Acme Networks (Jane Doe)"]
    assert f"Your notes: {SECRET}" in descriptions["Follow up with Jane Doe (Acme Networks)"]
    assert f"note      {SECRET}" in p.ok("history", "jane@acme.com")
    assert SECRET in p.ok("org", "show", "acme")
    assert SECRET in p.ok("contact", "show", "jane@acme.com")


def test_the_line_for_the_thank_you_is_placed_as_written_on_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    p = acme(tmp_path)
    assert "--thank-you" in p.ok("note", "--help")
    assert "--thank-you" in p.ok("draft", "--help")
    p.ok("note", "jane@acme.com", SECRET)
    line = "your story about the BGP migration at 3 a.m. – unforgettable!"
    out = p.ok("note", "jane@acme.com", "--thank-you", line)
    assert out.splitlines()[0] == f"Jane Doe's thank-you says, on a line of its own: {line}"
    assert f"pursuit draft {thank_you_of(p)}" in out
    shown = draft(p)
    lines = body_lines(shown)
    assert lines[:3] == [
        "Dear Jane,",
        "",
        "Thank you for taking the time to speak with me today about the Network Engineer "
        "position at Acme Networks.",
    ]
    assert lines[3:6] == ["", line, ""], "verbatim, between blank lines, not in a sentence"
    assert PLACEHOLDER not in shown.out and "salary" not in shown.out
    assert "--thank-you" not in shown.err  # nothing left to fill in

    # The latest line counts; both stay in the log, as thank-you lines.
    better = "I enjoyed hearing how you moved the backbone to BGP."
    out = p.ok("note", "jane@acme.com", "--thank-you", better)
    assert f"(instead of: {line})" in out
    lines = body_lines(draft(p))
    assert better in lines and line not in "\n".join(lines)
    history = p.ok("history", "jane@acme.com")
    assert f"thank-you {line}" in history and f"thank-you {better}" in history
    p.ok("run", "--once")
    [thanks] = [e for e in p.calendar_events() if "thank-you" in str(e["SUMMARY"])]
    assert f"Your line for the thank-you: {better}" in str(thanks["DESCRIPTION"])


def test_a_line_for_someone_without_an_interview_is_refused_with_how_to_add_one(
    tmp_path: Path,
) -> None:
    p = Pursuit(tmp_path, config=QUIET)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("contact", "add", "Jane Doe <jane@acme.com>", "--org", "acme")
    error = p.one_line_error("note", "jane@acme.com", "--thank-you", "Thanks!")
    assert "Jane Doe has no interview" in error and "pursuit interview add" in error
    assert "empty" in p.one_line_error("note", "jane@acme.com", "--thank-you", "  ")


def test_today_yesterday_and_a_subject_without_a_position(tmp_path: Path) -> None:
    p = acme(tmp_path, position=None)
    shown = draft(p)
    assert shown.out.splitlines()[:2] == [
        "To: Jane Doe <jane@acme.com>",
        "Subject: Thank you for your time today",
    ]
    assert "Thank you for taking the time to speak with me today at Acme Networks." in shown.out
    assert "None" not in shown.out and "position" not in shown.out
    tomorrow = clock.at(clock.WRITTEN_AT + timedelta(days=1))
    later = draft(p, env=tomorrow)
    assert "Subject: Thank you for your time yesterday" in later.out
    assert "speak with me yesterday at Acme Networks" in later.out
    in_a_week = draft(p, env=clock.at(clock.WRITTEN_AT + timedelta(days=8)))
    assert "speak with me on 30 November at Acme Networks" in in_a_week.out

    named = acme(tmp_path / "named")
    assert "Subject: Thank you – Network Engineer interview" in draft(named).out


def test_a_draft_has_a_from_header_when_pursuit_knows_your_address(tmp_path: Path) -> None:
    configured = '[drafts]\nyour_name = "Alex Martin"\naddress = "Alex@Example.com"\n'
    p = acme(tmp_path, config=configured)
    eml = tmp_path / "thanks.eml"
    shown = draft(p, "--eml", str(eml))
    assert shown.out.splitlines()[:2] == [
        "From: Alex Martin <alex@example.com>",
        "To: Jane Doe <jane@acme.com>",
    ]
    assert "No From" not in shown.err
    message = email.message_from_bytes(eml.read_bytes(), _class=EmailMessage, policy=default_policy)
    assert message["From"] == "Alex Martin <alex@example.com>"
    assert message["To"] == "Jane Doe <jane@acme.com>"
    assert message["Subject"] == "Thank you – Network Engineer interview"
    assert message["Date"] is not None and message["X-Unsent"] == "1"
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    assert body.get_content().rstrip().endswith("Best regards,\nAlex Martin")

    # Your own address for the summary is yours for the drafts too.
    summary = acme(tmp_path / "summary", config='[summary]\nto = "sam@example.org"\n')
    assert draft(summary).out.startswith("From: sam@example.org\n")

    # Nothing known: no made-up address, and how to give one.
    unknown = acme(tmp_path / "unknown")
    shown = draft(unknown, "--eml", str(tmp_path / "unknown.eml"))
    assert not shown.out.startswith("From:")
    assert '[drafts] address = "you@example.com"' in shown.err
    assert "From:" not in (tmp_path / "unknown.eml").read_text()


def test_a_template_still_using_note_is_refused_with_the_fix(tmp_path: Path) -> None:
    template = tmp_path / "thanks.txt"
    template.write_text("Subject: Thanks\n\nDear {{ first_name }}, I'm glad you {{ note }}.\n")
    p = acme(tmp_path, config=f'[drafts]\ntemplate = "{template}"\n')
    p.ok("note", "jane@acme.com", SECRET)
    error = p.fails("draft", thank_you_of(p))
    assert "`note` is no longer given to templates" in error
    assert "{{ personal_line }}" in error and "--thank-you" in error
    assert "salary" not in error

    template.write_text("Subject: Thanks\n\nDear {{ first_name }},\n\n{{ personal_line }}\n")
    p.ok("note", "jane@acme.com", "--thank-you", "Loved the whiteboard session.")
    assert "Loved the whiteboard session." in body_lines(draft(p))


def test_notes_written_before_the_upgrade_stay_private(tmp_path: Path) -> None:
    """A database of version 7: its notes stay notes (none becomes a line for a
    thank-you), and its draft, queued with the note spliced in, is rendered anew."""
    p = Pursuit(tmp_path, config=QUIET)
    p.data_dir.mkdir(parents=True)
    db = sqlite3.connect(p.database)
    for script in MIGRATIONS[:7]:
        db.executescript(script)
    now = "2026-11-30T09:00:00+00:00"
    db.execute(
        "INSERT INTO organizations (id, name, status_changed) VALUES (1, 'Acme Networks', ?)",
        (now,),
    )
    db.execute("INSERT INTO domains (domain, organization_id) VALUES ('acme.com', 1)")
    db.execute("INSERT INTO contacts (id, name) VALUES (1, 'Jane Doe')")
    db.execute("INSERT INTO addresses (address, contact_id) VALUES ('jane@acme.com', 1)")
    db.execute(
        "INSERT INTO contact_organizations (contact_id, organization_id, since) VALUES (1, 1, ?)",
        (now,),
    )
    db.execute(
        "INSERT INTO interviews (id, organization_id, position, start, end) "
        "VALUES (1, 1, 'Network Engineer', '2026-11-30T08:00:00+00:00', ?)",
        (now,),
    )
    db.execute("INSERT INTO interviewers (interview_id, contact_id) VALUES (1, 1)")
    db.execute(
        "INSERT INTO notes (kind, text, created, organization_id, contact_id, interview_id) "
        "VALUES ('note', ?, ?, 1, 1, 1)",
        (SECRET, now),
    )
    db.execute(
        "INSERT INTO duties (id, key, kind, organization_id, contact_id, interview_id, due) "
        "VALUES (1, 'thank_you:1:1', 'thank_you', 1, 1, 1, '2026-11-30T16:00:00+00:00')"
    )
    spliced = f"To: Jane Doe <jane@acme.com>\nSubject: Thank you\n\nI'm glad you {SECRET}.\n"
    db.execute(
        "INSERT INTO outbox (key, action, target, payload, created, done) "
        "VALUES ('draft:thank_you:1:1', 'draft', 'drafts', ?, ?, ?)",
        (json.dumps({"raw": spliced}), now, now),
    )
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()

    assert f"note      {SECRET}" in p.ok("history", "jane@acme.com")
    shown = draft(p)
    assert "salary" not in shown.out and PLACEHOLDER in body_lines(shown)
    # pursuit knows that draft as its own, so the next round brings the mailbox's
    # copy up to date (unless the user edited it there).
    assert "gets this version at the next round" in shown.err
    db = sqlite3.connect(p.database)
    try:
        [(kind,)] = db.execute("SELECT kind FROM notes").fetchall()
        [(written,)] = db.execute("SELECT written FROM drafts WHERE duty_id = 1").fetchall()
    finally:
        db.close()
    assert kind == "note" and written == spliced
