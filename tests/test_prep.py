"""The interview prep sheet (`pursuit prep`) and its event the evening before.

The story: Acme Networks, applied to early November; a phone screen with Sam Lee (the
recruiter) on 10 November, a first interview with Jane Doe (the hiring manager) on 24
November, mail both ways, a call, notes and a promise; a press feed and a careers feed
with items before and after that interview, one of them hostile; and the next interview,
with Jane Doe and Raj Patel (network lead), on Wednesday 9 December at 10:00.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import icalendar
import pytest
from support import clock
from support.app import PARIS, Clock, make_settings
from support.cli import Pursuit
from support.golden import check_golden
from support.summary import Item

from pursuit.daemon import prep
from pursuit.daemon.app import App
from pursuit.daemon.errors import UserError
from pursuit.daemon.jobs import plan
from pursuit.daemon.models import Channel, Direction, NoteKind, WantedFeed
from pursuit.daemon.store import Store

#: Monday 7 December 2026, noon: two days before the interview.
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=PARIS)
INTERVIEW_AT = datetime(2026, 12, 9, 10, 0, tzinfo=PARIS)
COMING = 3  # the story's coming interview
PLACE: dict[str, str] = {
    "location": "Acme Networks, 12 rue de la Paix, Paris (room 4B)",
    "meeting_link": "https://meet.example.com/acme-4b",
    "zone": "Europe/London",
}
HOSTILE_TITLE = "<script>alert(1)</script> Acme in the news"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS)


def tell_story(store: Store) -> None:
    """Acme Networks as the module's doc tells it (interviews #1, #2 and the coming #3)."""
    acme = store.add_organization(
        "Acme Networks", ["acme.com"], ["Senior Network Engineer"], now=at(2, 9, month=11)
    )
    sam = store.ensure_contact("sam@acme.com", "Sam Lee", acme.id, role="recruiter")
    jane = store.ensure_contact("jane@acme.com", "Jane Doe", acme.id, role="hiring manager")
    raj = store.ensure_contact("raj@acme.com", "Raj Patel", acme.id, role="network lead")
    position = "Senior Network Engineer"
    store.add_interview(
        acme.id, at(10, 15, month=11), at(10, 15, 30, month=11), [sam.id], position=position
    )
    second = store.add_interview(
        acme.id, at(24, 14, month=11), at(24, 15, month=11), [jane.id], position=position
    )
    coming = store.add_interview(
        acme.id,
        INTERVIEW_AT,
        INTERVIEW_AT + timedelta(minutes=90),
        [jane.id, raj.id],
        position=position,
        **PLACE,  # as its invitation says: the interviewer is in London
    )
    assert coming == COMING
    mail = [
        (sam, Direction.IN, at(3, 9, 12, month=11), Channel.EMAIL, "Your application to Acme"),
        (sam, Direction.OUT, at(3, 18, 40, month=11), Channel.EMAIL, "Re: Your application"),
        (jane, Direction.IN, at(20, 11, month=11), Channel.EMAIL, "Interview on Tuesday"),
        (jane, Direction.OUT, at(24, 18, 5, month=11), Channel.EMAIL, "Thank you for today"),
        (sam, Direction.IN, at(27, 16, 30, month=11), Channel.CALL, "A second round"),
        (sam, Direction.IN, at(1, 11), Channel.EMAIL, "Next round: Jane and Raj"),
        (sam, Direction.OUT, at(1, 13, 20), Channel.EMAIL, "Re: Next round: Jane and Raj"),
    ]
    for number, (who, direction, when, channel, subject) in enumerate(mail):
        store.log_correspondence(
            message_id=f"<m{number}@story>",
            direction=direction,
            when=when,
            channel=channel,
            organization_id=acme.id,
            contact_ids=[who.id],
            subject=subject,
        )
    store.set_interviewer(
        second,
        jane.id,
        note="wants someone to own the on-call rotation",
        promised=date(2026, 11, 27),
        now=at(24, 15, 30, month=11),
    )
    store.add_note(
        NoteKind.NOTE,
        "wrote the team's blog post on EVPN",
        now=at(2, 9),
        organization_id=acme.id,
        contact_id=raj.id,
    )
    store.add_note(
        NoteKind.NOTE,
        "four rounds in all, says Glassdoor",
        now=at(4, 9, month=11),
        organization_id=acme.id,
    )
    store.set_feeds(
        [
            WantedFeed(acme.id, "https://acme.com/press.xml", "x", "press", "rss"),
            WantedFeed(acme.id, "https://boards.example/acme", "x", "careers", "rss"),
        ]
    )
    press, careers = sorted(store.feeds(), key=lambda f: f.kind != "press")
    store.save_feed_items(
        press, [Item("p1", "press", "Acme opens a Lyon office")], now=at(15, 8, month=11)
    )
    hostile = Item("p3", "news", HOSTILE_TITLE, link="javascript:alert(1)")
    store.save_feed_items(press, [hostile], now=at(1, 8))
    deal = Item(
        "p2",
        "press",
        "Acme signs a data-center deal with Globex",
        link="https://acme.com/press/dc-deal",
    )
    store.save_feed_items(press, [deal], now=at(2, 8))
    senior = Item(
        "o1",
        "opening",
        "Senior Network Engineer",
        "https://boards.example/acme/1",
        location="Paris",
    )
    junior = Item(
        "o2", "opening", "Junior Network Engineer", "https://boards.example/acme/2", location="Lyon"
    )
    automation = Item(
        "o3",
        "opening",
        "Network Automation Engineer",
        "https://boards.example/acme/3",
        location="Paris",
        department="Network",
    )
    store.save_feed_items(careers, [senior, junior], now=at(5, 8, month=11), complete_listing=True)
    store.save_feed_items(careers, [senior, automation], now=at(3, 8), complete_listing=True)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    found = App(make_settings(tmp_path), clock=Clock(NOW))
    tell_story(found.store)
    plan(found.store, found.settings, "ics", at(1, 9))  # the duties as the service had them
    yield found
    found.close()


def sheet(app: App, interview_id: int = COMING, now: datetime = NOW) -> dict[str, Any]:
    return prep.prep_sheet(app.store, app.settings, interview_id, now)


# --- the sheet


def test_the_sheet_as_the_terminal_shows_it(app: App) -> None:
    check_golden("prep.txt", prep.render_prep_text(sheet(app)).encode())


def test_the_sheet_holds_what_the_interview_needs(app: App) -> None:
    record = sheet(app)
    interview = record["interview"]
    assert interview["when_text"] == "Wed 09 Dec, 10:00-11:30"
    assert interview["other_zone_text"] == (
        "09:00-10:30 in Europe/London, the invitation's time zone"
    )
    assert interview["meeting_href"] == PLACE["meeting_link"]
    assert interview["number"] == 3
    jane, raj = record["panel"]
    assert (jane["role"], raj["role"]) == ("hiring manager", "network lead")
    assert [e["subject"] for e in jane["exchanges"]] == [
        "Thank you for today",
        "Interview on Tuesday",
    ]
    assert jane["promises"][0]["text"] == "follow up on 2026-11-27"
    assert [n["text"] for n in jane["notes"]] == ["wants someone to own the on-call rotation"]
    assert raj["exchanges_count"] == 0
    assert [n["text"] for n in raj["notes"]] == ["wrote the team's blog post on EVPN"]
    [sam] = record["others"]
    assert sam["role"] == "recruiter"
    assert sam["last_exchange"]["subject"] == "Re: Next round: Jane and Raj"
    # news since the last interview (24 Nov), not the Lyon office of 15 Nov
    assert record["since_text"] == "since your last interview (Tue 24 Nov)"
    assert {n["title"] for n in record["news"]} == {
        "Acme signs a data-center deal with Globex",
        HOSTILE_TITLE,
    }
    assert [o["title"] for o in record["openings"]] == ["Network Automation Engineer"]
    assert [o["title"] for o in record["closed_openings"]] == ["Junior Network Engineer"]
    assert [e["id"] for e in record["earlier_interviews"]] == [1, 2]
    assert any("Globex" in q for q in record["questions"])  # the latest news
    assert any("Network Automation Engineer" in q for q in record["questions"])
    kinds = [a["kind"] for a in record["after"]]
    assert kinds[:3] == ["thank_you", "follow_up", "follow_up"]
    assert record["after"][0]["due_text"] == "Wed 09 Dec 17:00"


def test_a_persons_exchanges_are_the_last_ten_and_a_count_of_the_rest(app: App) -> None:
    store = app.store
    sam = store.find_contact("sam@acme.com")
    for n in range(25):
        store.log_correspondence(
            message_id=f"<extra{n}@story>",
            direction=Direction.IN,
            when=at(5, 8, month=11) + timedelta(hours=n),
            channel=Channel.EMAIL,
            organization_id=sam.organization_id,
            contact_ids=[sam.id],
            subject=f"Note {n}",
        )
    store.add_interviewer(COMING, sam.id)
    [person] = [p for p in sheet(app)["panel"] if p["email"] == "sam@acme.com"]
    assert len(person["exchanges"]) == prep.EXCHANGES
    assert person["exchanges_count"] == 25 + 5
    assert person["exchanges_more"] == 20
    assert "... 20 earlier" in prep.render_prep_text(sheet(app))


class Page(HTMLParser):
    """What a browser would make of the page: its tags, classes, links, text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.classes: set[str] = set()
        self.hrefs: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.classes.update((found.get("class") or "").split())
        if tag == "a":
            self.hrefs.append(found.get("href") or "")
        if "style" in found:
            self.styles.append(found["style"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def test_the_html_sheet_has_every_section_and_nothing_from_outside_acts(app: App) -> None:
    html = prep.render_prep_html(sheet(app))
    page = parsed(html)
    for section in ("prep-people", "prep-organization", "prep-questions", "prep-after"):
        assert section in page.classes, section
    assert "script" not in page.tags  # the hostile title is text
    assert HOSTILE_TITLE in "".join(page.text)
    assert "&lt;script&gt;" in html
    assert not [h for h in page.hrefs if not h.startswith(("http://", "https://"))]
    assert "https://acme.com/press/dc-deal" in page.hrefs
    assert PLACE["meeting_link"] in page.hrefs
    assert "javascript:alert(1)" in "".join(page.text)  # shown, not followed
    assert page.tags.count("style") == 1 and not page.styles


def test_the_fragment_is_a_fragment(app: App) -> None:
    """What the dashboard includes: no page, no style, no script, classes prefixed."""
    fragment = prep.render_prep_fragment(sheet(app))
    page = parsed(fragment)
    assert not {"html", "head", "body", "style", "script"} & set(page.tags)
    assert not page.styles
    assert all(c.startswith("prep-") for c in page.classes), page.classes
    assert f'id="interview-{COMING}"' in fragment


def test_an_interview_by_id_organization_or_none(app: App) -> None:
    store = app.store
    assert prep.find_interview(store, "3", NOW).id == COMING
    assert prep.find_interview(store, "#2", NOW).id == 2
    assert prep.find_interview(store, "acme", NOW).id == COMING
    assert prep.find_interview(store, None, NOW).id == COMING
    with pytest.raises(UserError, match=r"no interview #99 \(see `pursuit interview list`\)"):
        prep.find_interview(store, "99", NOW)
    store.add_organization("Globex", ["globex.example"], now=NOW)
    with pytest.raises(UserError, match="Globex has no interview recorded"):
        prep.find_interview(store, "Globex", NOW)
    later = INTERVIEW_AT + timedelta(days=1)
    with pytest.raises(UserError, match="no coming interview; the latest was #3 on Wed 09 Dec"):
        prep.find_interview(store, "acme", later)
    with pytest.raises(UserError, match="no coming interview"):
        prep.find_interview(store, None, later)


def test_a_bad_questions_template_is_named_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "questions.txt"
    broken.write_text("When do you decide?\nWho is on the team?\n{% if position %}\n")
    with pytest.raises(UserError) as raised:
        prep.load_questions(broken)
    assert str(raised.value).startswith(f"questions template {broken}, line 3:")
    misspelt = tmp_path / "misspelt.txt"
    misspelt.write_text("When do you decide?\nAbout {{ postion }}?\n")
    with pytest.raises(UserError, match=rf"questions template {misspelt}, line 2: 'postion'"):
        prep.load_questions(misspelt)
    unguarded = tmp_path / "unguarded.txt"
    unguarded.write_text("I read {{ latest_news.title }}\n")
    with pytest.raises(UserError, match=rf"questions template {unguarded}, line 1:"):
        prep.load_questions(unguarded)
    with pytest.raises(UserError, match=r"cannot read it"):
        prep.load_questions(tmp_path / "missing.txt")


def test_doctor_names_a_broken_template_of_yours(tmp_path: Path) -> None:
    """Met otherwise only when a thank-you is drafted or an evening-before event
    planned (which then keeps the built-in questions, only the log saying why)."""
    broken = tmp_path / "questions.txt"
    broken.write_text("When do you decide?\n{% if position %}\n")
    thanks = tmp_path / "thanks.txt"
    thanks.write_text("Subject: Thank you\n\nDear {{ first_name }},\n")
    config = f'[prep]\nquestions_template = "{broken}"\n[drafts]\ntemplate = "{thanks}"\n'
    p = Pursuit(tmp_path / "machine", config=config)
    result = p.run("doctor", "--no-probe")
    assert result.code == 1, result
    assert f"questions template: questions template {broken}, line 2:" in result.out
    assert f"thank-you template: {thanks}: loads" in result.out
    broken.write_text("When do you decide?\n")
    assert f"questions template: {broken}: loads" in p.run("doctor", "--no-probe").out


def test_the_users_questions_replace_the_built_in_ones(app: App, tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text(
        "How is {{ organization }} doing since {{ latest_news.title if latest_news else '' }}?\n"
        "\n"
        "{% for name in people %}What does {{ name }} work on?\n{% endfor %}"
    )
    questions = prep.load_questions(mine)
    record = prep.prep_sheet(app.store, app.settings, COMING, NOW, questions=questions)
    assert record["questions"] == [
        f"How is Acme Networks doing since {record['news'][0]['title']}?",
        "What does Jane Doe work on?",
        "What does Raj Patel work on?",
    ]


# --- the command


def story_machine(tmp_path: Path, config: str = "") -> Pursuit:
    p = Pursuit(tmp_path, config=config)
    p.ok("status", env=clock.at(NOW))  # the database, made as pursuit makes it
    store = Store.open(p.database)
    try:
        tell_story(store)
    finally:
        store.close()
    return p


def test_the_command_prints_the_sheet_its_json_and_its_page(tmp_path: Path) -> None:
    p = story_machine(tmp_path)
    now = clock.at(NOW)
    text = p.ok("prep", "3", env=now)
    assert text.startswith("Prep sheet: Acme Networks, Senior Network Engineer (interview #3)")
    assert p.ok("prep", env=now) == text  # the next coming interview
    assert p.ok("prep", "acme", env=now) == text
    record = json.loads(p.ok("prep", "#3", "--json", env=now))
    assert record["id"] == 3 and record["organization"]["name"] == "Acme Networks"
    assert record["panel"][1]["notes"][0]["text"] == "wrote the team's blog post on EVPN"
    page = tmp_path / "prep.html"
    assert p.ok("prep", "3", "--html", str(page), env=now) == f"Wrote {page}.\n"
    assert parsed(page.read_text()).tags.count("article") == 1
    assert page.stat().st_mode & 0o077 == 0  # your notes are on it: yours alone


def test_the_command_says_what_is_wrong(tmp_path: Path) -> None:
    mine = tmp_path / "questions.txt"
    p = story_machine(tmp_path, config=f'[prep]\nquestions_template = "{mine}"\n')
    now = clock.at(NOW)
    mine.write_text("When?\n{{ sheet.title }\n")
    err = p.fails("prep", "3", env=now)
    assert f"questions template {mine}, line 2:" in err
    mine.write_text("When?\n")
    assert "no interview #42" in p.fails("prep", "42", env=now)
    huge = "9" * 20  # beyond SQLite's integers: said as any unknown id, not a traceback
    assert f"no interview #{huge}" in p.fails("prep", huge, env=now)
    assert "no organization named '²'" in p.fails("prep", "²", env=now)
    assert "no organization named 'Initech'" in p.fails("prep", "Initech", env=now)
    nowhere = tmp_path / "no" / "such" / "folder" / "prep.html"
    err = p.fails("prep", "3", "--html", str(nowhere), env=now)
    assert f"cannot write the prep sheet to {nowhere}" in err
    assert "  - When?\n" in p.ok("prep", "3", env=now)


# --- the event the evening before


def prep_events(p: Pursuit) -> list[icalendar.cal.Component]:
    return [e for e in p.calendar_events() if str(e["X-PURSUIT-KEY"]).startswith("prep:")]


def test_the_evening_before_an_event_summarises_the_sheet(tmp_path: Path) -> None:
    p = story_machine(tmp_path)
    p.ok("run", "--once", env=clock.at(NOW))
    [event] = prep_events(p)
    assert event.decoded("DTSTART") == at(8, 19)  # [prep] event_time, the evening before
    assert str(event["SUMMARY"]) == "Prepare: interview at Acme Networks, tomorrow 10:00"
    description = str(event["DESCRIPTION"])
    check_golden("prep-event.txt", (description + "\n").encode())
    assert "Full sheet: pursuit prep 3" in description
    assert "on-call" not in description  # notes are on the sheet, not in the calendar
    before = p.ics.read_bytes()
    p.ok("run", "--once", env=clock.at(NOW + timedelta(minutes=5)))
    assert p.ics.read_bytes() == before  # nothing changed, nothing written

    # the interview moves: its event moves with it; cancelled, it goes
    p.ok("interview", "move", "3", "--at", "2026-12-11 09:30", env=clock.at(NOW))
    p.ok("run", "--once", env=clock.at(NOW))
    [event] = prep_events(p)
    assert event.decoded("DTSTART") == at(10, 19)
    assert "Fri 11 Dec, 09:30-11:00" in str(event["DESCRIPTION"])
    p.ok("interview", "cancel", "3", env=clock.at(NOW))
    p.ok("run", "--once", env=clock.at(NOW))
    assert prep_events(p) == []
    assert [e for e in p.calendar_events() if "thank_you" in str(e["X-PURSUIT-KEY"])]


def test_event_false_takes_the_events_away(tmp_path: Path) -> None:
    p = story_machine(tmp_path)
    p.ok("run", "--once", env=clock.at(NOW))
    assert len(prep_events(p)) == 1
    p.write_config(p.config_path.read_text() + "\n[prep]\nevent = false\n")
    p.ok("run", "--once", env=clock.at(NOW))
    assert prep_events(p) == []
    assert json.loads(p.ok("export", env=clock.at(NOW)))["events"]  # the others stay


def test_an_interview_weeks_away_gets_its_event_two_weeks_before(tmp_path: Path) -> None:
    """Each round builds the sheet of each event, so one far off waits: fresh when it comes."""
    p = story_machine(tmp_path)
    p.ok("interview", "add", "Acme Networks", "--at", "2027-01-05 10:00", env=clock.at(NOW))
    p.ok("run", "--once", env=clock.at(NOW))
    assert {str(e["X-PURSUIT-KEY"]) for e in prep_events(p)} == {"prep:3"}
    later = NOW + timedelta(days=15)
    p.ok("run", "--once", env=clock.at(later))
    found = {str(e["X-PURSUIT-KEY"]): e.decoded("DTSTART") for e in prep_events(p)}
    assert found["prep:4"] == datetime(2027, 1, 4, 19, 0, tzinfo=PARIS)


def test_an_interview_added_after_its_evening_before_gets_its_event_at_once(
    tmp_path: Path,
) -> None:
    """No event in the past: the next quarter hour, kept there; one that begins in less
    than that gets none."""
    p = story_machine(tmp_path)
    late = at(7, 21, 5)
    p.ok("interview", "add", "Acme Networks", "--at", "2026-12-08 09:00", env=clock.at(late))
    p.ok("run", "--once", env=clock.at(late))
    found = {str(e["X-PURSUIT-KEY"]): e.decoded("DTSTART") for e in prep_events(p)}
    assert found == {"prep:3": at(8, 19), "prep:4": at(7, 21, 15)}
    p.ok("run", "--once", env=clock.at(at(7, 21, 40)))
    found = {str(e["X-PURSUIT-KEY"]): e.decoded("DTSTART") for e in prep_events(p)}
    assert found["prep:4"] == at(7, 21, 15)
    soon = at(7, 21, 46)
    p.ok("interview", "add", "Acme Networks", "--at", "2026-12-07 21:55", env=clock.at(soon))
    p.ok("run", "--once", env=clock.at(soon))
    assert "prep:5" not in {str(e["X-PURSUIT-KEY"]) for e in prep_events(p)}


def test_an_interview_under_way_keeps_its_event_as_it_was(tmp_path: Path) -> None:
    p = story_machine(tmp_path)
    p.ok("run", "--once", env=clock.at(NOW))
    [before] = prep_events(p)
    during = INTERVIEW_AT + timedelta(minutes=30)
    p.ok("log", "email", "raj@acme.com", "Slides for today", "--in", env=clock.at(during))
    p.ok("run", "--once", env=clock.at(during))
    [after] = prep_events(p)
    assert after.to_ical() == before.to_ical()


# --- on paper


def full_panel(store: Store) -> None:
    """The story at its fullest: five people on the panel, each with fourteen exchanges
    and four notes, and nine press items and openings, new and closed."""
    acme = store.find_organization("acme")
    people = [store.find_contact("jane@acme.com"), store.find_contact("raj@acme.com")]
    for k in range(3):
        person = store.ensure_contact(f"x{k}@acme.com", f"Alex Martin {k}", acme.id, "engineer")
        store.add_interviewer(COMING, person.id)
        people.append(person)
    for person in people:
        for n in range(14):
            store.log_correspondence(
                message_id=f"<full{person.id}-{n}@story>",
                direction=Direction.IN if n % 2 else Direction.OUT,
                when=at(5, 8, month=11) + timedelta(hours=7 * n),
                channel=Channel.EMAIL,
                organization_id=acme.id,
                contact_ids=[person.id],
                subject=f"A fairly long subject line about the next steps, number {n}",
            )
        for n in range(4):
            store.add_note(
                NoteKind.NOTE,
                f"a note about this person that runs to a reasonable length, number {n}",
                now=at(2, 9),
                organization_id=acme.id,
                contact_id=person.id,
            )
    press, careers = sorted(store.feeds(), key=lambda f: f.kind != "press")
    store.save_feed_items(
        press,
        [Item(f"f{n}", "press", f"Acme press item with a long-ish headline {n}") for n in range(9)],
        now=at(4, 8),
    )
    openings = [
        Item(f"g{n}", "opening", f"Network opening {n}", location="Paris") for n in range(9)
    ]
    store.save_feed_items(careers, openings, now=at(5, 8))
    store.save_feed_items(careers, [], now=at(6, 8), complete_listing=True)
    newer = [Item(f"h{n}", "opening", f"Newer opening {n}", location="Lyon") for n in range(9)]
    store.save_feed_items(careers, newer, now=at(6, 9))


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="headless Chromium is not installed (apt-get install chromium)",
)
@pytest.mark.parametrize("full", [False, True], ids=["the story", "a full panel"])
def test_the_page_prints_on_at_most_two_pages(app: App, tmp_path: Path, full: bool) -> None:
    assert CHROMIUM is not None, "CI installs chromium (.ci/run)"
    if full:
        full_panel(app.store)
    page = tmp_path / "prep.html"
    prep.write_page(page, sheet(app))
    pdf = tmp_path / "prep.pdf"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",  # Chromium's paper, Letter: shorter than A4
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes()))
    assert pages == (2 if full else 1), pages


@pytest.mark.parametrize(
    ("start", "end", "zone", "when", "there"),
    [
        # the interviewer's evening, the user's night: each day as its own clock has it
        (
            at(9, 0, 30),
            at(9, 1, 30),
            "America/New_York",
            "Wed 09 Dec, 00:30-01:30",
            "Tue 08 Dec, 18:30-19:30 in America/New_York, the invitation's time zone",
        ),
        # an onsite over two days
        (at(9, 0), at(11, 0), None, "Wed 09 Dec to Thu 10 Dec, all day", None),
        # the same clock in another zone's name: nothing more to say
        (at(9, 10), at(9, 11), "Europe/Berlin", "Wed 09 Dec, 10:00-11:00", None),
    ],
)
def test_the_time_in_each_zone(
    tmp_path: Path,
    start: datetime,
    end: datetime,
    zone: str | None,
    when: str,
    there: str | None,
) -> None:
    found = App(make_settings(tmp_path), clock=Clock(NOW))
    org = found.store.add_organization("Globex", ["globex.example"], now=NOW)
    interview_id = found.store.add_interview(org.id, start, end, [], zone=zone)
    record = prep.prep_sheet(found.store, found.settings, interview_id, NOW)["interview"]
    found.close()
    assert (record["when_text"], record["other_zone_text"]) == (when, there)


def test_a_broken_questions_template_leaves_the_event_with_the_built_in_questions(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "questions.txt"
    mine.write_text("{% for %}\n")
    p = story_machine(tmp_path, config=f'[prep]\nquestions_template = "{mine}"\n')
    result = p.run("run", "--once", env=clock.at(NOW))
    assert result.code == 0, str(result)
    assert f"questions template {mine}, line 1:" in result.err  # said, and planning goes on
    [event] = prep_events(p)
    assert "What are the next steps after this interview" in str(event["DESCRIPTION"])


def test_text_from_outside_reaches_the_terminal_inert(app: App) -> None:
    press = next(f for f in app.store.feeds() if f.kind == "press")
    title = "\x1b]8;;https://evil.example\x07Acme\x1b]8;;\x07 \x1b[31mwins\u202e big"
    app.store.save_feed_items(press, [Item("p9", "press", title)], now=at(6, 8))
    text = prep.render_prep_text(sheet(app))
    assert "Acme wins big" in text
    assert "\x1b" not in text and "\u202e" not in text
