"""The model fits a real job search, as its user sees it on the command line.

People at several organizations, notes as a log, interviews with nobody named
and people added later, contacts without interviews, interviews at closed
organizations (the functions are in test_actions_model.py).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit, duties_by

# Written on 30 November 2026 against fixed dates: run at that day (support/clock.py).
pytestmark = pytest.mark.usefixtures("written_now")

PARIS = ZoneInfo("Europe/Paris")


def day(days_from_today: int, clock: str = "14:00") -> str:
    """A moment relative to today, so the tests do not depend on the date they run."""
    return f"{date.today() + timedelta(days=days_from_today)} {clock}"


def two_organizations(tmp_path: Path) -> Pursuit:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    p.ok("org", "add", "Globex", "--domain", "globex.com")
    return p


RITA = "Rita Recruiter <rita@agency.example>"


def test_a_shared_recruiter_keeps_both_follow_ups_and_survives_forgetting_one(
    tmp_path: Path,
) -> None:
    p = two_organizations(tmp_path)
    p.ok("interview", "add", "acme", "--at", day(2), "--with", RITA)
    p.ok("interview", "add", "globex", "--at", day(4, "10:00"), "--with", RITA)
    p.ok("log", "email", "rita@agency.example", "Globex next steps", "--in")

    follow_ups = duties_by(p.export(), "follow_up", "rita@agency.example")
    assert sorted(d["organization"] for d in follow_ups) == ["Acme Networks", "Globex"]
    status = p.ok("status")
    assert "Rita Recruiter (Acme Networks)" in status and "Rita Recruiter (Globex)" in status
    shown = p.ok("contact", "show", "rita@agency.example")
    assert "Organizations\n  Acme Networks, interviewer\n  Globex, interviewer" in shown
    assert "Rita Recruiter <rita@agency.example>\n  at Acme Networks, Globex\n" in p.ok(
        "history", "rita@agency.example"
    )
    record = json.loads(p.ok("history", "rita@agency.example", "--json"))
    assert record["organizations"] == ["Acme Networks", "Globex"]
    assert "Rita Recruiter" in p.ok("org", "show", "globex")

    p.ok("forget", "globex", "--yes")
    data = p.export()
    assert [c["organizations"] for c in data["contacts"]] == [["Acme Networks"]]
    assert [i["organization"] for i in data["interviews"]] == ["Acme Networks"]
    assert [d["organization"] for d in duties_by(data, "follow_up")] == ["Acme Networks"]
    assert data["correspondence"] == []  # the mail was about Globex
    assert "Rita Recruiter" in p.ok("org", "show", "acme")


def test_notes_are_a_log_and_an_empty_one_is_refused(tmp_path: Path) -> None:
    p = two_organizations(tmp_path)
    p.ok("interview", "add", "acme", "--at", day(2), "--with", "Jane Doe <jane@acme.com>")
    p.ok("note", "jane@acme.com", "liked my BGP migration story")
    p.ok("note", "jane@acme.com", "asked about our Rust rewrite")
    for empty in ("", "   "):
        line = p.one_line_error("note", "jane@acme.com", empty)
        assert "the note is empty" in line
    p.ok("commit", "jane@acme.com", "--in", "5d")
    p.ok("run", "--once")
    [event] = [e for e in p.calendar_events() if str(e["summary"]).startswith("Follow up")]
    assert (
        "Your notes: liked my BGP migration story\nYour notes: asked about our Rust rewrite"
        in str(event["description"])
    )
    history = p.ok("history", "jane@acme.com")
    assert "note      liked my BGP migration story" in history
    assert "note      asked about our Rust rewrite" in history
    assert "promise   follow up on" in history

    p.ok("org", "status", "acme", "rejected")
    today = datetime.now(PARIS)
    shown = p.ok("org", "show", "acme")
    assert f"status   rejected on {today:%d %b %Y}" in shown
    assert "note     asked about our Rust rewrite  [jane@acme.com]" in shown
    assert f"status    rejected on {today:%d %b %Y}" in p.ok("history", "acme")
    record = json.loads(p.ok("org", "show", "acme", "--json"))
    assert [n["kind"] for n in record["notes"]] == ["note", "note", "promise", "status"]


def test_org_add_on_a_tracked_organization_says_so_and_adds_positions(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com", "--position", "Network Engineer")
    out = p.ok("org", "add", "acme networks", "--position", "SRE")
    assert out == (
        "Acme Networks is already tracked; added position 'SRE' "
        "(domains: acme.com; positions: Network Engineer, SRE)\n"
    )
    out = p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    assert out.startswith("Acme Networks is already tracked; nothing new to add")
    assert p.export()["organizations"][0]["positions"] == ["Network Engineer", "SRE"]


def test_an_interview_with_nobody_named_then_people_added_and_removed(tmp_path: Path) -> None:
    p = two_organizations(tmp_path)
    out = p.ok("interview", "add", "acme", "--at", day(2))
    assert "with nobody named yet" in out
    status = p.ok("status")
    assert "follow-up  Acme Networks\n" in status
    p.ok("run", "--once")
    assert [str(e["summary"]) for e in p.calendar_events()] == [
        "Prepare: interview at Acme Networks, tomorrow 14:00",
        "Follow up with Acme Networks",
    ]

    out = p.ok("interview", "add-person", "1", "Jane Doe <jane@acme.com>")
    assert out == "Jane Doe added to interview #1\n"
    p.ok("interview", "add-person", "1", "raj@acme.com")
    data = p.export()
    assert data["interviews"][0]["interviewers"] == ["jane@acme.com", "raj@acme.com"]
    assert {d["contact"] for d in duties_by(data, "follow_up") if d["state"] != "cancelled"} == {
        "jane@acme.com",
        "raj@acme.com",
    }
    assert "already in interview #1" in p.one_line_error(
        "interview", "add-person", "1", "jane@acme.com"
    )
    assert "expected" in p.one_line_error("interview", "add-person", "1", "not an address")
    assert "no interview with id 9" in p.one_line_error(
        "interview", "add-person", "9", "jane@acme.com"
    )

    out = p.ok("interview", "remove-person", "1", "jane@acme.com")
    assert out == "Jane Doe removed from interview #1\n"
    data = p.export()
    assert data["interviews"][0]["interviewers"] == ["raj@acme.com"]
    pending = {(d["kind"], d["contact"]) for d in data["duties"] if d["state"] != "cancelled"}
    assert pending == {("thank_you", "raj@acme.com"), ("follow_up", "raj@acme.com")}
    assert "not in interview #1" in p.one_line_error(
        "interview", "remove-person", "1", "jane@acme.com"
    )
    assert "add-person" in p.ok("interview", "--help")
    assert "remove-person" in p.ok("interview", "--help")


def test_contacts_without_an_interview(tmp_path: Path) -> None:
    p = two_organizations(tmp_path)
    out = p.ok("contact", "add", "Jane Doe <jane@acme.com>", "--org", "acme", "--role", "recruiter")
    assert out == "Added Jane Doe <jane@acme.com> at Acme Networks\n"
    out = p.ok("contact", "add", "jane@acme.com", "--org", "acme")
    assert out == "Jane Doe <jane@acme.com> is already known at Acme Networks; nothing changed\n"
    out = p.ok("contact", "add", "jane@acme.com", "--org", "globex")
    assert out == "Jane Doe <jane@acme.com> is known; now also at Globex\n"
    assert p.ok("contact", "rename", "jane@acme.com", "Jane Q. Doe") == (
        "Jane Doe is now Jane Q. Doe\n"
    )
    assert p.ok("contact", "address-add", "jane@acme.com", "Jane.Doe@gmail.com") == (
        "Jane Q. Doe: jane.doe@gmail.com, jane@acme.com\n"
    )
    p.ok("note", "jane.doe@gmail.com", "met at the NANOG meetup", "--org", "globex")
    p.ok("log", "call", "jane@acme.com", "intro call", "--at", day(-1, "10:00"))

    shown = p.ok("contact", "show", "Jane Q. Doe")
    assert shown.startswith("Jane Q. Doe <jane.doe@gmail.com>\n")
    assert "addresses: jane.doe@gmail.com, jane@acme.com" in shown
    assert "Organizations\n  Acme Networks, recruiter\n  Globex" in shown
    assert "met at the NANOG meetup (Globex)" in shown
    assert "Last correspondence: " in shown and 'call from you "intro call"' in shown
    record = json.loads(p.ok("contact", "show", "jane@acme.com", "--json"))
    assert record["name"] == "Jane Q. Doe"
    assert [(o["name"], o["role"]) for o in record["organizations"]] == [
        ("Acme Networks", "recruiter"),
        ("Globex", None),
    ]
    assert record["notes"][0]["text"] == "met at the NANOG meetup"
    assert record["interviews"] == [] and record["duties"] == []

    assert "type it on one line" in p.one_line_error(
        "contact", "rename", "jane@acme.com", "Jane\nDoe"
    )
    assert "the name is empty" in p.one_line_error("contact", "rename", "jane@acme.com", " ")
    p.ok("contact", "add", "raj@acme.com")
    assert "already belongs to" in p.one_line_error(
        "contact", "address-add", "jane@acme.com", "raj@acme.com"
    )
    assert "no contact" in p.one_line_error("contact", "show", "nobody@acme.com")
    assert "no organization named" in p.one_line_error(
        "contact", "add", "x@acme.com", "--org", "initech"
    )
    for command in ("add", "rename", "address-add", "show"):
        assert command in p.ok("contact", "--help")


def test_an_interview_after_a_rejection_reopens_the_organization(tmp_path: Path) -> None:
    p = two_organizations(tmp_path)
    p.ok("org", "status", "acme", "rejected")
    out = p.ok("interview", "add", "acme", "--at", day(5), "--with", "jane@acme.com")
    assert "Acme Networks was rejected on" in out
    assert "this interview makes it active again and plans its thank-you and follow-up" in out
    assert 'pursuit org status "Acme Networks" rejected' in out
    data = p.export()
    assert data["organizations"][0]["status"] == "active"
    assert duties_by(data, "follow_up", "jane@acme.com")[0]["state"] == "pending"
    assert all(d["state"] == "cancelled" for d in duties_by(data, "check_in"))


def test_an_interview_at_an_offer_says_why_nothing_is_planned(tmp_path: Path) -> None:
    p = two_organizations(tmp_path)
    p.ok("org", "status", "globex", "offer")
    out = p.ok("interview", "add", "globex", "--at", day(5), "--with", "max@globex.com")
    assert "Globex is at the offer stage (since" in out
    assert "no thank-you or follow-up is planned for this interview" in out
    assert "(to plan them: `pursuit org status Globex active`)" in out
    assert duties_by(p.export(), "follow_up") == []
    # an interview from before a rejection is a record only, and says so
    p.ok("org", "status", "acme", "rejected")
    out = p.ok("interview", "add", "acme", "--at", day(-3), "--with", "jane@acme.com")
    assert "Acme Networks was rejected on" in out and "after this interview" in out
    assert duties_by(p.export(), "follow_up", "jane@acme.com") == []
    p.ok("org", "status", "globex", "active")
    assert duties_by(p.export(), "follow_up", "max@globex.com")[0]["state"] == "pending"
