"""The dashboard in a real browser (headless Chromium), used as a person uses it on a
Monday morning: a duty done from the keyboard, one snoozed, one sent by hand, a status
changed after reading what it will do; after each, what the page says and what the store
holds. Then its locks (a foreign Host, a form without its token, no session, a hostile
feed title), and whether it reads at phone width, at 200 % zoom, with labels and a
visible focus. UPDATE_SCREENSHOTS=1 writes docs/today.png and docs/prep.png anew."""

from __future__ import annotations

import http.client
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support.app import PARIS, Clock, make_settings
from support.browser import (
    HOSTILE_LINK,
    HOSTILE_TITLE,
    MONDAY_MORNING,
    Served,
    Story,
    dashboard_story,
    launch,
    serve,
    skip_without_chromium,
)

from pursuit.config.settings import Settings
from pursuit.daemon.app import App
from pursuit.daemon.models import Direction, DutyKind, DutyState, OrgStatus
from pursuit.daemon.store import Store

skip_without_chromium()

DOCS = Path(__file__).parent.parent / "docs"
TOKEN = "browser-test-token"
#: What the story's store is made of, copied for each test (a test changes it).
STORY_FILES = ("state.sqlite3", "calendar.ics")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        found = launch(playwright)
        yield found
        found.close()


def build_story(root: Path, *, hostile: bool) -> Story:
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=PARIS))
    app = App(make_settings(root), clock=clock)
    try:
        return dashboard_story(app, clock, hostile=hostile)
    finally:
        app.close()


@pytest.fixture(scope="module")
def story_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Story]:
    """The story, built once per module (with the hostile feed item)."""
    root = tmp_path_factory.mktemp("story")
    return root, build_story(root, hostile=True)


@dataclass
class Dashboard:
    """One user's machine with the dashboard open: its settings, the server, the story."""

    settings: Settings
    served: Served
    story: Story

    def url(self, path: str) -> str:
        return self.served.origin + path

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The store as the page left it, opened as a command would."""
        opened = Store.open(self.settings.database)
        try:
            yield opened
        finally:
            opened.close()


@pytest.fixture
def dashboard(tmp_path: Path, story_home: tuple[Path, Story]) -> Iterator[Dashboard]:
    root, story = story_home
    for name in STORY_FILES:
        shutil.copyfile(root / name, tmp_path / name)
    settings = make_settings(tmp_path)
    with serve(settings, MONDAY_MORNING, TOKEN) as served:
        yield Dashboard(settings, served, story)


@dataclass
class Tab:
    """A browser tab of a new profile (a context per test), and the dialogs it opened."""

    page: Page
    dialogs: list[str]


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Paris")
    page = context.new_page()
    dialogs: list[str] = []

    def dialog_opened(dialog: object) -> None:
        dialogs.append(getattr(dialog, "message", ""))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", dialog_opened)
    yield Tab(page, dialogs)
    context.close()


def signed_in(tab: Tab, dashboard: Dashboard) -> Page:
    """The tab after opening the link `pursuit web` printed: Today, signed in."""
    page = tab.page
    page.goto(dashboard.served.login)
    assert page.url == dashboard.url("/")  # the token gone from the address bar
    return page


def ids(page: Page, selector: str) -> list[str]:
    return [e.get_attribute("id") or "" for e in page.locator(selector).all()]


def flash(page: Page) -> str:
    return page.locator(".messages [role=status]").inner_text()


# --- a user's Monday morning


def test_today_puts_the_overdue_first_and_a_duty_is_done_from_the_keyboard(
    tab: Tab, dashboard: Dashboard
) -> None:
    page = signed_in(tab, dashboard)
    story = dashboard.story
    expect(page.locator("h1")).to_contain_text("Today Monday 07 December")
    headings = page.locator("main h2").all_inner_texts()
    assert headings[:3] == ["Overdue (2)", "Due today (1)", "Next (5)"], headings
    overdue = "section[aria-labelledby=overdue] li.item"
    assert ids(page, overdue) == [f"duty-{story.raj_thank_you}", f"duty-{story.sam_follow_up}"]
    raj = page.locator(f"#duty-{story.raj_thank_you}")
    expect(raj).to_contain_text("Thank-you to Raj Patel (Acme Networks)")
    expect(raj).to_contain_text("Due Mon 30 Nov 17:00: 6 days late")

    raj.get_by_role("button", name="I sent it").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Done"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert page.url == dashboard.url("/")
    assert flash(page) == f"Duty #{story.raj_thank_you} done"
    assert ids(page, overdue) == [f"duty-{story.sam_follow_up}"]
    done_today = page.locator(f"section[aria-labelledby=done-today] #duty-{story.raj_thank_you}")
    expect(done_today).to_contain_text("Done Mon 07 Dec 08:30")
    expect(done_today.get_by_role("button", name="Reopen")).to_be_visible()
    with dashboard.store() as store:
        duty = store.duty(story.raj_thank_you)
    assert duty.state == DutyState.DONE
    assert duty.done_at == MONDAY_MORNING


def test_a_duty_is_snoozed_to_a_day(tab: Tab, dashboard: Dashboard) -> None:
    page = signed_in(tab, dashboard)
    story = dashboard.story
    sam = page.locator(f"#duty-{story.sam_follow_up}")
    expect(sam).to_contain_text("Follow-up to Sam Rivera (Hooli)")
    sam.get_by_label("Snooze to").fill("2026-12-10")
    with page.expect_navigation():
        sam.get_by_role("button", name="Snooze").click()

    assert flash(page) == f"Duty #{story.sam_follow_up} now due Thu 10 Dec 2026 10:00"
    assert ids(page, "section[aria-labelledby=overdue] li.item") == [f"duty-{story.raj_thank_you}"]
    expect(
        page.locator(f"section[aria-labelledby=next] #duty-{story.sam_follow_up}")
    ).to_contain_text("Due Thu 10 Dec 10:00")
    with dashboard.store() as store:
        duty = store.duty(story.sam_follow_up)
    assert duty.state == DutyState.PENDING
    assert duty.snoozed
    assert duty.due == datetime(2026, 12, 10, 10, 0, tzinfo=PARIS)


def test_the_snooze_field_refuses_a_day_gone_by_before_anything_is_sent(
    tab: Tab, dashboard: Dashboard
) -> None:
    page = signed_in(tab, dashboard)
    sam = page.locator(f"#duty-{dashboard.story.sam_follow_up}")
    field = sam.get_by_label("Snooze to")
    field.fill("2026-12-01")
    sam.get_by_role("button", name="Snooze").click()
    assert field.evaluate("field => field.validity.rangeUnderflow")
    assert page.url == dashboard.url("/")
    assert page.locator(".messages").count() == 0
    with dashboard.store() as store:
        assert not store.duty(dashboard.story.sam_follow_up).snoozed


def test_a_message_sent_by_hand_is_logged_and_its_duty_done(tab: Tab, dashboard: Dashboard) -> None:
    page = signed_in(tab, dashboard)
    story = dashboard.story
    follow_up = page.locator(f"section[aria-labelledby=due-today] #duty-{story.raj_follow_up}")
    expect(follow_up).to_contain_text("Follow-up to Raj Patel (Acme Networks)")
    with page.expect_navigation():
        follow_up.get_by_role("button", name="I sent it").click()

    assert flash(page) == f"Duty #{story.raj_follow_up} done: sent by you, logged as an email"
    expect(page.locator("section[aria-labelledby=due-today]")).to_contain_text(
        "Nothing else due today."
    )
    with dashboard.store() as store:
        duty = store.duty(story.raj_follow_up)
        raj = store.find_contact("raj@acme.com")
        last = store.correspondence(contact_id=raj.id, limit=1)[0]
    assert duty.state == DutyState.DONE
    assert duty.evidence == "sent by you"
    assert last.direction == Direction.OUT
    assert last.date == MONDAY_MORNING


def test_a_status_change_says_what_it_will_do_before_it_does_it(
    tab: Tab, dashboard: Dashboard
) -> None:
    page = signed_in(tab, dashboard)
    story = dashboard.story
    page.get_by_role("link", name="Pipeline").click()
    expect(page.locator("h1")).to_have_text("Pipeline")
    globex = page.locator(f"section.pipeline-active #org-{story.globex}")
    expect(globex).to_contain_text("likely rejection: 'Your application' (Wed 02 Dec)")
    globex.get_by_label("Status").select_option("rejected")
    with page.expect_navigation():
        globex.get_by_role("button", name="Change status").click()

    expect(page.locator("h1")).to_have_text("Set Globex to rejected?")
    expect(page.locator(".confirm-words")).to_have_text(
        "Globex: rejected; pending duties cancelled, a check-in is planned in 45 days"
    )
    with dashboard.store() as store:  # asked, not done
        assert store.organization(story.globex).status == OrgStatus.ACTIVE
    with page.expect_navigation():
        page.get_by_role("button", name="Set to rejected").click()

    assert page.url == dashboard.url("/pipeline")
    assert flash(page) == (
        "Globex: rejected; pending duties cancelled, a check-in is planned in 45 days"
    )
    expect(page.locator(f"section.pipeline-rejected #org-{story.globex}")).to_contain_text(
        "Next: check-in"
    )
    with dashboard.store() as store:
        org = store.organization(story.globex)
        check_ins = store.duties(
            state=DutyState.PENDING, kinds=(DutyKind.CHECK_IN,), organization=story.globex
        )
    assert org.status == OrgStatus.REJECTED
    assert [d.due.date() for d in check_ins] == [(MONDAY_MORNING + timedelta(days=45)).date()]


def test_the_prep_sheet_prints_without_the_page_around_it(tab: Tab, dashboard: Dashboard) -> None:
    page = signed_in(tab, dashboard)
    page.get_by_role("link", name="Prep sheet").click()
    expect(page.locator("h1")).to_have_text("Acme Networks, Senior Network Engineer")
    page.emulate_media(media="print")
    assert page.locator(".prep-sheet").is_visible()
    assert not page.get_by_role("navigation", name="Main").is_visible()
    assert not page.get_by_text("To print it").is_visible()
    printed = page.pdf(format="A4")
    assert 1 <= len(re.findall(rb"/Type\s*/Page\b", printed)) <= 2  # one or two sheets


# --- the locks, in the browser


LIVE_ATTRIBUTES = """() => Array.from(document.querySelectorAll('*'))
  .flatMap(e => Array.from(e.attributes))
  .filter(a => a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value))
  .map(a => `${a.name}=${a.value}`)"""


def test_a_hostile_feed_title_is_text_and_its_link_dead(tab: Tab, dashboard: Dashboard) -> None:
    page = signed_in(tab, dashboard)
    answer = page.goto(dashboard.url(f"/organizations/{dashboard.story.globex}"))
    assert answer is not None and answer.status == 200
    item = page.locator("section[aria-labelledby=news] li", has_text=HOSTILE_TITLE)
    expect(item).to_have_count(1)  # the title, as text
    assert item.locator("a").count() == 0
    assert page.locator("img").count() == 0
    assert page.evaluate(LIVE_ATTRIBUTES) == []  # no handler, no javascript: link anywhere
    assert HOSTILE_LINK.startswith("javascript:")
    assert tab.dialogs == []


def test_the_content_security_policy_stops_a_script_in_the_page(
    tab: Tab, dashboard: Dashboard
) -> None:
    """No inline script runs, whatever reached the page; the pages need none."""
    page = tab.page
    page.goto(dashboard.served.login)
    answer = page.goto(dashboard.url("/"))
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert page.locator("script").count() == 0
    with pytest.raises(Exception, match=r"Content Security Policy|Refused"):
        page.add_script_tag(content="document.body.dataset.ran = 'yes'")
    assert page.evaluate("document.body.dataset.ran") is None
    assert tab.dialogs == []


# --- the locks, over plain HTTP against the real server


def request(
    served: Served,
    method: str,
    path: str,
    *,
    host: str | None = None,
    cookie: str | None = None,
    form: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{served.port}"}
    if cookie:
        headers["Cookie"] = cookie
    body = None
    if form is not None:
        from urllib.parse import urlencode

        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    text = answer.read().decode("utf-8", "replace")
    found = {k.lower(): v for k, v in answer.getheaders()}
    connection.close()
    return answer.status, found, text


def session_cookie(served: Served) -> str:
    status, headers, _ = request(served, "GET", served.login[served.login.index("/login") :])
    assert status == 303 and headers["location"].endswith("/")
    return headers["set-cookie"].split(";")[0]


def test_a_foreign_host_is_refused(dashboard: Dashboard) -> None:
    """A page of another site whose name points at 127.0.0.1 (DNS rebinding) gets nothing."""
    served = dashboard.served
    cookie = session_cookie(served)
    for host in (
        f"evil.example:{served.port}",
        "evil.example",
        f"127.0.0.1.evil.example:{served.port}",
    ):
        status, _, text = request(served, "GET", "/", host=host, cookie=cookie)
        assert status == 400, host
        assert "Raj Patel" not in text
    status, _, text = request(served, "GET", "/", host=f"localhost:{served.port}", cookie=cookie)
    assert status == 200 and "Raj Patel" in text


def test_no_page_without_the_session(dashboard: Dashboard) -> None:
    served, story = dashboard.served, dashboard.story
    for path in (
        "/",
        "/pipeline",
        f"/organizations/{story.acme}",
        f"/interviews/{story.second_round}",
        f"/duties/{story.raj_thank_you}/draft",
    ):
        status, _, text = request(served, "GET", path)
        assert status == 403, path
        assert "Raj Patel" not in text and "Acme" not in text, path
    status, headers, _ = request(served, "GET", "/login?token=wrong")
    assert status == 403 and "set-cookie" not in headers


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    dashboard: Dashboard,
) -> None:
    served, story = dashboard.served, dashboard.story
    cookie = session_cookie(served)
    done = f"/duties/{story.raj_thank_you}/done"
    for form in ({"next": "/"}, {"csrf_token": "forged", "next": "/"}):
        status, _, text = request(served, "POST", done, cookie=cookie, form=form)
        assert status == 403, form
        assert "nothing was changed" in text
    status, _, _ = request(served, "POST", done, form={"next": "/"})  # no session either
    assert status == 403
    with dashboard.store() as store:
        assert store.duty(story.raj_thank_you).state == DutyState.PENDING

    _, _, today = request(served, "GET", "/", cookie=cookie)
    token = re.search(r'name="csrf_token" value="([^"]+)"', today)
    assert token is not None
    status, _, _ = request(
        served, "POST", done, cookie=cookie, form={"csrf_token": token.group(1), "next": "/"}
    )
    assert status == 303  # the same form with its token does it
    with dashboard.store() as store:
        assert store.duty(story.raj_thank_you).state == DutyState.DONE


# --- usable: phone width, zoom, labels, focus


def pages_to_read(story: Story) -> list[str]:
    return [
        "/",
        "/pipeline",
        f"/organizations/{story.acme}",
        f"/organizations/{story.globex}",
        f"/interviews/{story.second_round}",
        f"/duties/{story.raj_thank_you}/draft",
    ]


def overflow(page: Page) -> int:
    """How far the page is wider than its window (0: no horizontal scrolling)."""
    width: int = page.evaluate(
        "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    return width


#: The windows every page must fit without scrolling sideways, in CSS pixels: browser
#: zoom narrows the window a page sees (200 % of a 1280-pixel window is 640).
WINDOWS = {
    "a phone": (375, 740),
    "a 1280x800 window at 200 % zoom": (640, 400),
    "a 1280x800 window at 400 % zoom (WCAG's reflow)": (320, 200),
}


def test_no_page_scrolls_sideways_on_a_phone_or_zoomed(
    browser: Browser, dashboard: Dashboard
) -> None:
    context = browser.new_context(locale="en-GB", viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(dashboard.served.login)
    wide = {}
    for path in pages_to_read(dashboard.story):
        answer = page.goto(dashboard.url(path))
        assert answer is not None and answer.status == 200, path
        for window, (width, height) in WINDOWS.items():
            page.set_viewport_size({"width": width, "height": height})
            if overflow(page) > 0:
                wide[f"{path} on {window}"] = overflow(page)
    context.close()
    assert wide == {}, "wider than the window by (px)"


#: What a screen reader and a reader's eyes need of a page, as lists of what is wrong:
#: each control labelled, one h1 and no heading level skipped, unique ids (a label's
#: `for` finds one element), text contrast of WCAG AA (4.5:1, 3:1 for large text).
READABLE = """() => {
  const unlabelled = Array.from(document.querySelectorAll(
      'input:not([type=hidden]), select, textarea, button'))
    .filter(e => e.tagName === 'BUTTON'
      ? !e.textContent.trim() && !e.getAttribute('aria-label')
      : !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
        && !e.getAttribute('aria-labelledby'))
    .map(e => e.outerHTML);
  const levels = Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))
    .map(h => Number(h.tagName[1]));
  const headings = levels.filter(l => l === 1).length === 1 ? [] : [`${levels}`];
  levels.forEach((l, i) => {
    if (i && l > levels[i - 1] + 1) headings.push(`h${levels[i - 1]} to h${l}`);
  });
  const seen = {};
  document.querySelectorAll('[id]').forEach(e => { seen[e.id] = (seen[e.id] || 0) + 1; });
  const ids = Object.keys(seen).filter(id => seen[id] > 1);
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const luminance = c => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  const linear = c => c.slice(0, 3).map(v => (v /= 255) <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4));
  const background = e => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const contrast = [];
  document.querySelectorAll('body *').forEach(e => {
    if (!Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) return;
    const style = getComputedStyle(e);
    const [a, b] = [luminance(linear(rgb(style.color))), luminance(linear(background(e)))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      contrast.push(`${ratio.toFixed(2)}: ${e.textContent.trim().slice(0, 40)}`);
    }
  });
  return Object.fromEntries(Object.entries({unlabelled, headings, ids, contrast})
    .filter(([, found]) => found.length));
}"""


def test_every_page_reads_to_a_screen_reader_and_to_the_eye(tab: Tab, dashboard: Dashboard) -> None:
    page = signed_in(tab, dashboard)
    wrong = {}
    for path in pages_to_read(dashboard.story):
        page.goto(dashboard.url(path))
        found = page.evaluate(READABLE)
        if found:
            wrong[path] = found
    assert wrong == {}


FOCUS_RING = """() => {
  const e = document.activeElement, style = getComputedStyle(e);
  return {name: `${e.tagName} ${e.id} ${e.textContent.trim().slice(0, 30)}`,
          ring: (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
                || style.boxShadow !== 'none'};
}"""


def test_the_keyboard_focus_is_visible(tab: Tab, dashboard: Dashboard) -> None:
    """Each link, button and field Tab reaches on Today shows where the focus is (a
    date field is reached once per part; the last, its calendar button, is drawn by
    Chromium itself, so one part showing the ring is enough)."""
    page = signed_in(tab, dashboard)
    shown: dict[str, bool] = {}
    for _ in range(16):  # the skip link, the nav, the first rows' links, buttons, fields
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_RING)
        shown[focus["name"]] = shown.get(focus["name"], False) or focus["ring"]
    kinds = {name.split()[0] for name in shown}
    assert {"A", "BUTTON", "INPUT"} <= kinds, shown
    assert [name for name, ring in shown.items() if not ring] == [], shown


def test_the_skip_link_leads_to_the_content(tab: Tab, dashboard: Dashboard) -> None:
    page = signed_in(tab, dashboard)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"


# --- the screenshots in the README and docs


def test_the_screenshots_show_today_and_a_prep_sheet(browser: Browser, tmp_path: Path) -> None:
    """From the story without the hostile item. Taking them costs more CPU than the rest of
    the module, so UPDATE_SCREENSHOTS=1 takes and writes them anew; a normal run checks
    the README's images are there, whole."""
    names = ("today.png", "prep.png")
    if os.environ.get("UPDATE_SCREENSHOTS") or os.environ.get("UPDATE_GOLDEN"):
        story = build_story(tmp_path, hostile=False)
        context = browser.new_context(
            viewport={"width": 900, "height": 1200}, locale="en-GB", timezone_id="Europe/Paris"
        )
        page = context.new_page()
        with serve(make_settings(tmp_path), MONDAY_MORNING, TOKEN) as served:
            page.goto(served.login)
            (DOCS / "today.png").write_bytes(page.screenshot())
            page.goto(f"{served.origin}/interviews/{story.second_round}")
            expect(page.locator("h1")).to_contain_text("Acme Networks")
            (DOCS / "prep.png").write_bytes(page.screenshot(full_page=True))
        context.close()
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    for name in names:
        image = (DOCS / name).read_bytes()
        assert image.startswith(b"\x89PNG") and image.endswith(b"IEND\xaeB`\x82"), name
        width = int.from_bytes(image[16:20], "big")
        assert width == 900, f"docs/{name} is {width} px wide"
        assert f"(docs/{name})" in readme, f"the README shows docs/{name}"
