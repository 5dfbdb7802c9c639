"""The summary's story: a week of interviews, mail, feeds and job runs; the summary command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from pursuit.daemon import summary
from pursuit.daemon.app import App
from pursuit.daemon.cli import main
from pursuit.daemon.models import Channel, Direction, OrgStatus, WantedFeed
from support.app import PARIS, Clock
from support.events import add_week, sync

#: Sunday of the story's week at the summary's hour (its default: Sunday 18:00).
SUNDAY_6PM = datetime(2026, 12, 6, 18, 0, tzinfo=PARIS)


@dataclass(frozen=True)
class Item:
    key: str
    kind: str
    title: str
    link: str | None = None
    summary: str = ""
    location: str | None = None
    department: str | None = None
    published: datetime | None = None


def week_story(app: App, clock: Clock) -> None:
    """A week: Acme's interview and thank-you, Globex's likely rejection, a failing feed."""
    store = app.store
    add_week(app)  # Acme, interview Monday 14:00 with Jane and Raj
    sync(app)
    jane = store.find_contact("jane@acme.com")
    store.log_correspondence(
        message_id="<first@acme.com>",
        direction=Direction.IN,
        when=datetime(2026, 11, 10, 11, 0, tzinfo=PARIS),
        channel=Channel.EMAIL,
        organization_id=jane.organization_id,
        contact_ids=[jane.id],
        subject="Interview invitation",
    )
    store.log_correspondence(
        message_id="<thanks@me>",
        direction=Direction.OUT,
        when=datetime(2026, 11, 30, 17, 30, tzinfo=PARIS),
        channel=Channel.EMAIL,
        organization_id=jane.organization_id,
        contact_ids=[jane.id],
        subject="Thank you for today",
    )
    globex = store.add_organization("Globex", ["globex.example"], now=clock.now)
    lee = store.ensure_contact("lee@globex.example", "Lee Chen", globex.id)
    store.log_correspondence(
        message_id="<news@globex>",
        direction=Direction.IN,
        when=datetime(2026, 12, 2, 10, 0, tzinfo=PARIS),
        channel=Channel.EMAIL,
        organization_id=globex.id,
        contact_ids=[lee.id],
        subject="Your application",
    )
    store.set_organization_flag(globex.id, "likely rejection: 'Your application' (Wed 02 Dec)")
    initech = store.add_organization("Initech", ["initech.example"], now=clock.now)
    store.set_organization_status(initech.id, OrgStatus.REJECTED, now=clock.now)
    store.set_feeds(
        [
            WantedFeed(globex.id, "https://globex.example/news.xml", "x", "news", "rss"),
            WantedFeed(initech.id, "https://initech.example/jobs", "x", "careers", "rss"),
        ]
    )
    news, careers = sorted(store.feeds(), key=lambda f: f.organization)
    store.save_feed_items(
        news, [Item("n1", "news", "Globex opens a Lyon office")], now=clock.now + timedelta(days=1)
    )
    store.save_feed_items(
        careers,
        [Item("o1", "opening", "Network Engineer", location="Paris")],
        now=clock.now + timedelta(days=1),
    )
    store.feed_answered(
        news.id,
        etag=None,
        last_modified=None,
        moved_to=None,
        now=clock.now + timedelta(days=1),
        next_poll=clock.now + timedelta(days=1, hours=1),
    )
    store.feed_failed(
        news.id,
        failures=3,
        error="HTTP 503 from globex.example",
        next_poll=clock.now + timedelta(days=6),
        active=True,
    )
    store.record_job_run("feeds", now=clock.now, error=None)
    store.record_job_run("mail", now=clock.now, error=None)
    store.record_job_run("mail", now=clock.now + timedelta(days=3), error="gmail: connection reset")
    clock.now = SUNDAY_6PM
    sync(app)


def record(app: App) -> dict[str, object]:
    return summary.gather(app.store, app.settings, app.now())


class Crash(BaseException):
    """The process dies: nothing after it runs, not even an except clause."""


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
