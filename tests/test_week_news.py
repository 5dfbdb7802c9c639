"""A week's status changes are its news: `week` and the weekly summary tell them
first, an offer before anything else."""

from __future__ import annotations

from pathlib import Path

from support.cli import Pursuit


def test_the_weeks_status_changes_come_first_an_offer_before_all(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    for name in ("Globex", "Acme Networks", "Initech"):
        p.ok("org", "add", name)
    p.ok("org", "status", "globex", "rejected")
    p.ok("org", "status", "acme", "offer")
    p.ok("org", "status", "initech", "withdrawn")
    week = p.ok("week").splitlines()
    assert week[0] == "Status changes"
    assert [line.split(" (")[0] for line in week[1:4]] == [
        "  Acme Networks: offer",
        "  Globex: rejected",
        "  Initech: withdrawn",
    ]
    assert week[5].startswith("The past 7 days")
    summary = p.ok("summary", "--preview")
    news = summary.split("THIS WEEK'S NEWS\n")[1].split("\n\n")[0].splitlines()
    assert news[0].startswith("  Acme Networks: offer - congratulations!")
    assert [line.split(":")[0].strip() for line in news] == ["Acme Networks", "Globex", "Initech"]
    assert summary.index("THIS WEEK'S NEWS") < summary.index("OVERDUE")


def test_a_quiet_week_has_no_news_section(tmp_path: Path) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme Networks")
    assert p.ok("week").startswith("The past 7 days")
    assert "THIS WEEK'S NEWS" not in p.ok("summary", "--preview")
