"""The dashboard in a real browser: headless Chromium driven by Playwright, and the story
it shows (a week of a job search, seen on Monday morning, 7 December 2026).

Debian's Chromium (`/usr/bin/chromium`) is driven as it is installed, never a browser
Playwright downloads; without it the tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Browser, Playwright

from pursuit.config.settings import Settings
from pursuit.daemon import actions
from pursuit.daemon.app import App
from pursuit.daemon.models import Channel, Direction, WantedFeed
from support.app import PARIS, Clock
from support.events import sync
from support.summary import Item, week_story

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Headless as root (CI), and quiet: Chromium's own calls (updates, sign-in, QUIC probes)
#: fail on a closed network and slow every page down.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: The morning the dashboard is looked at: Monday, a week after Acme's first interview.
MONDAY_MORNING = datetime(2026, 12, 7, 8, 30, tzinfo=PARIS)
#: A feed item's title and link written to break the page (they must reach it as text).
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE_LINK = "javascript:alert(1)"


def skip_without_chromium() -> None:
    """Skip the calling module when Chromium is missing, unless under CI."""
    if CHROMIUM is None and not os.environ.get("CI"):
        pytest.skip(
            "headless Chromium is not installed (apt-get install chromium)",
            allow_module_level=True,
        )


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless (CI installs it; it is never downloaded)."""
    assert CHROMIUM is not None, "CI installs chromium (.ci/run)"
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
    )


@dataclass(frozen=True)
class Served:
    """A dashboard being served: where, and the link `pursuit web` prints."""

    port: int
    login: str

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve(settings: Settings, now: datetime, token: str) -> Iterator[Served]:
    """The dashboard of `settings` served as `pursuit web --port 0` serves it (on
    127.0.0.1, at a port the OS chose, in a thread), its clock stopped at `now`."""
    from pursuit.daemon.web.serve import Dashboard, with_port

    dashboard = Dashboard(with_port(settings, 0), token=token, now=now)
    thread = dashboard.start()
    try:
        yield Served(dashboard.port, dashboard.login_url)
    finally:
        dashboard.stop()
        thread.join(timeout=10)


@dataclass(frozen=True)
class Story:
    """The ids the pages show, by what they are in the story."""

    acme: int
    globex: int
    hooli: int
    initech: int
    #: Acme's second round, Wednesday 9 December 10:00: the prep sheet's interview.
    second_round: int
    #: Raj's thank-you, a week late.
    raj_thank_you: int
    #: The follow-up promised to Sam at Hooli for Friday 4 December, overdue.
    sam_follow_up: int
    #: Raj's follow-up, due this morning at 10:00 (Jane's moved after the second round).
    raj_follow_up: int
    #: Priya's thank-you, due after the second round.
    priya_thank_you: int


def dashboard_story(app: App, clock: Clock, *, hostile: bool = True) -> Story:
    """The summary's week (Acme's interview, Globex's likely rejection, Initech's
    rejection) and its sequel: a phone screen at Hooli with a promise for Friday, Acme's
    invitation to a second round on Wednesday, Acme's news and a new opening. With
    `hostile`, Globex's news feed also carries an item written to break the page."""
    week_story(app, clock)  # ends on Sunday 6 December, 18:00
    store, settings = app.store, app.settings
    acme = store.find_organization("Acme Networks")
    globex = store.find_organization("Globex")
    initech = store.find_organization("Initech")
    jane = store.find_contact("jane@acme.com")
    first_round = store.interviews(acme.id)[0].id
    store.set_interviewer(
        first_round,
        jane.id,
        note="asked how I would run on-call for a team of six",
        now=datetime(2026, 11, 30, 15, 30, tzinfo=PARIS),
    )

    thursday = datetime(2026, 12, 3, 16, 0, tzinfo=PARIS)
    actions.add_organization(
        store, "Hooli", ["hooli.example"], ["Site Reliability Engineer"], now=thursday
    )
    screen = actions.add_interview(
        store,
        settings,
        thursday,
        "Hooli",
        start="2026-12-03 16:00",
        end="2026-12-03 16:45",
        people=["Sam Rivera <sam@hooli.example>"],
    )
    sam = screen.interviewers[0]
    after_call = thursday + timedelta(hours=1)
    actions.note(store, settings, after_call, "sam@hooli.example", "team moves to Kubernetes")
    actions.commit(store, settings, after_call, "sam@hooli.example", on_day="2026-12-04")
    store.log_correspondence(
        message_id="<thanks-sam@me>",
        direction=Direction.OUT,
        when=after_call + timedelta(hours=1),
        channel=Channel.EMAIL,
        organization_id=screen.organization.id,
        contact_ids=[sam.id],
        subject="Thank you for the call",
    )

    friday = datetime(2026, 12, 4, 11, 0, tzinfo=PARIS)
    store.log_correspondence(
        message_id="<second-round@acme.com>",
        direction=Direction.IN,
        when=friday,
        channel=Channel.EMAIL,
        organization_id=acme.id,
        contact_ids=[jane.id],
        subject="Second round: Wednesday 9 December",
    )
    second = actions.add_interview(
        store,
        settings,
        friday,
        "Acme Networks",
        start="2026-12-09 10:00",
        end="2026-12-09 11:30",
        position="Senior Network Engineer",
        people=["Jane Doe <jane@acme.com>", "Priya Shah <priya@acme.com>"],
    )
    store.set_interview(  # as the invitation said it
        second.id,
        start=second.start,
        end=second.start + timedelta(hours=1, minutes=30),
        interviewers=[person.id for person in second.interviewers],
        location="Acme Networks, 21 quai de Valmy, Paris 10e (4th floor, ask for Jane)",
    )

    wanted = [
        WantedFeed(f.organization_id, f.configured_url, "x", f.kind, "rss") for f in store.feeds()
    ]
    wanted += [
        WantedFeed(acme.id, "https://acme.com/press.xml", "x", "press", "rss"),
        WantedFeed(acme.id, "https://acme.com/careers.xml", "x", "careers", "rss"),
    ]
    store.set_feeds(wanted)
    feeds = {f.configured_url: f for f in store.feeds()}
    wednesday = datetime(2026, 12, 2, 9, 0, tzinfo=PARIS)
    store.save_feed_items(
        feeds["https://acme.com/press.xml"],
        [
            Item(
                "p1",
                "news",
                "Acme Networks signs a data-center deal with Northwind",
                link="https://acme.com/press/northwind",
            )
        ],
        now=wednesday,
    )
    store.save_feed_items(
        feeds["https://acme.com/careers.xml"],
        [Item("j1", "opening", "Senior Network Engineer", location="Paris")],
        now=wednesday,
    )
    if hostile:
        store.save_feed_items(
            feeds["https://globex.example/news.xml"],
            [Item("evil", "news", HOSTILE_TITLE, link=HOSTILE_LINK)],
            now=datetime(2026, 12, 5, 9, 0, tzinfo=PARIS),
        )

    clock.now = MONDAY_MORNING
    sync(app)
    for job in app.job_table():  # the service ran its round a few minutes ago
        store.record_job_run(job.name, now=MONDAY_MORNING - timedelta(minutes=4), error=None)

    def duty(key: str) -> int:
        found = store.duty_by_key(key)
        assert found is not None, key
        return found.id

    raj = store.find_contact("raj@acme.com")
    return Story(
        acme=acme.id,
        globex=globex.id,
        hooli=screen.organization.id,
        initech=initech.id,
        second_round=second.id,
        raj_thank_you=duty(f"thank_you:{first_round}:{raj.id}"),
        sam_follow_up=duty(f"follow_up:{screen.id}:{sam.id}"),
        raj_follow_up=duty(f"follow_up:{first_round}:{raj.id}"),
        priya_thank_you=duty(f"thank_you:{second.id}:{second.interviewers[1].id}"),
    )
