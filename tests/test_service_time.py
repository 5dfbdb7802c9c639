"""The running service (`pursuit run`, a real process) against time and its machine:
a wall clock that goes back or jumps (DST, NTP, a restored snapshot, a user fixing
it), a suspend, a full disk, a source that answers slowly.

The process starts at a chosen instant and its wall clock is stepped while it runs
(support/clock.py: WallClock); its monotonic clock stays real. The jobs run every
second, so a stall shows within seconds: every wait below is a generous upper bound
for something to happen, never a measure of speed.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit, pursuit_command
from support.clock import WallClock
from support.faults import seeds
from support.feed_server import FeedServer, Reply, Request, static
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail
from support.reliability import full
from support.tmpfs import small_disk
from support.world import rss

pytestmark = pytest.mark.reliability

NEW_YORK = ZoneInfo("America/New_York")
#: Jobs every second: a job held by the wall clock shows at once.
EVERY_SECOND = '[service]\nplan_every = "1s"\nretry_after = "1s"\n'


class Service:
    """`pursuit run` in the background, its log in a file."""

    def __init__(self, p: Pursuit, env: dict[str, str] | None = None) -> None:
        self.p = p
        self.log = p.root / f"service-{time.monotonic_ns()}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*pursuit_command(), "-v", "run"],
                # A service that hangs shows where (SIGABRT below).
                env=p.env({"PYTHONFAULTHANDLER": "1", **(env or {})}),
                cwd=p.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def rounds(self, after: str = "") -> list[str]:
        """The round lines logged (after the first line holding `after`)."""
        text = self.output
        if after:
            text = text[text.index(after) :]
        return [line for line in text.splitlines() if "round: ran" in line]

    def ran(self, job: str) -> bool:
        """A round ran `job` (its name, or its name and result: "mail (1)"). A round's line
        names its jobs in the order they ended, and the sources end in any order."""
        ran = (line.split("round: ran", 1)[1].split(";", 1)[0] for line in self.rounds())
        return any(f" {job}" in jobs for jobs in ran)

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        give_up = time.monotonic() + timeout
        while not check():
            assert self.proc.poll() is None, f"the service ended: {what}\n{self.output}"
            if time.monotonic() > give_up:
                self.proc.send_signal(signal.SIGABRT)  # its threads' stacks into the log
                self.proc.wait()
                raise AssertionError(f"timed out waiting: {what}\n{self.output}")
            time.sleep(0.05)

    def wait_for_rounds(self, count: int, after: str = "", timeout: float = 60.0) -> None:
        self.wait_for(
            lambda: len(self.rounds(after)) >= count, f"{count} rounds after {after!r}", timeout
        )

    def stop(self) -> None:
        """SIGTERM: exit 0 within the 10 s systemd is promised, no traceback."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"not stopped 10 s after SIGTERM:\n{self.output}") from None
        assert code == 0, self.output
        assert "Traceback" not in self.output, self.output


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        if service.proc.poll() is None:
            service.proc.send_signal(signal.SIGCONT)
            service.proc.kill()
            service.proc.wait()


def job_runs(p: Pursuit) -> dict[str, datetime]:
    """Each job's last run, as the store has it (UTC)."""
    if not p.database.exists():
        return {}
    db = sqlite3.connect(f"file:{p.database}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT job, last_run FROM job_runs").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    return {job: datetime.fromisoformat(last) for job, last in rows}


# --- DST


@pytest.mark.parametrize(
    ("change", "local", "offsets"),
    [
        # 02:00 EDT becomes 01:00 EST: the hour from 01:00 is lived twice.
        ("fall back", datetime(2026, 11, 1, 1, 59, 59), ("-04:00", "-05:00")),
        # 02:00 EST becomes 03:00 EDT: the hour from 02:00 never comes (the old loop
        # held nothing here: in the full run only, which keeps the normal suite short).
        *[("spring forward", datetime(2026, 3, 8, 1, 59, 59), ("-05:00", "-04:00"))] * full(),
    ],
)
def test_the_jobs_run_on_through_a_dst_change_and_duties_keep_their_local_times(
    tmp_path: Path,
    services: list[Service],
    change: str,
    local: datetime,
    offsets: tuple[str, str],
) -> None:
    p = Pursuit(tmp_path, timezone="America/New_York", config=EVERY_SECOND)
    p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
    day = local.date()
    p.ok("interview", "add", "acme", "--at", f"{day} 10:00", "--with", "jane@acme.com")
    start = local.replace(tzinfo=NEW_YORK)
    assert start.isoformat().endswith(offsets[0])
    # In UTC: aware arithmetic in one zone is wall-clock arithmetic, an hour off here.
    change_at = start.astimezone(UTC) + timedelta(seconds=1)
    service = Service(p, WallClock(tmp_path, start).env())
    services.append(service)

    # Rounds after the change, a second apart: nothing waits for the repeated hour.
    service.wait_for(
        lambda: job_runs(p).get("plan", change_at) >= change_at + timedelta(seconds=2),
        f"the plan job running on after the {change}",
    )
    shown = p.ok("status")
    service.stop()
    assert "the wall clock jumped" not in service.output, "a DST change is no clock step"

    # The interview and its thank-you at the local hours the user expects, on the new offset.
    starts = sorted(
        e.decoded("DTSTART").astimezone(NEW_YORK).isoformat()
        for e in p.calendar_events()
        if not str(e["X-PURSUIT-KEY"]).startswith("prep:")  # the prep sheet's, added late
    )
    thank_you, follow_up = starts
    assert thank_you == f"{day}T17:00:00{offsets[1]}", starts  # that evening at 17:00
    assert follow_up.endswith(f"T10:00:00{offsets[1]}"), starts  # a week on, at 10:00
    assert "Acme Networks" in shown


# --- the wall clock stepped, the machine suspended


STEPS = {"an hour back": timedelta(hours=-1), "a day forward": timedelta(days=1)}
if full():  # the same two ways, by the other span
    STEPS |= {"an hour forward": timedelta(hours=1), "a day back": timedelta(days=-1)}


@pytest.mark.parametrize("step", list(STEPS.values()), ids=list(STEPS))
def test_a_wall_clock_step_is_noticed_and_the_jobs_keep_their_schedule(
    tmp_path: Path, services: list[Service], step: timedelta
) -> None:
    # The feeds job every 30 minutes: due again only once that much time has passed.
    p = Pursuit(
        tmp_path, config=EVERY_SECOND + '[feeds]\nnews_search = false\npoll_every = "30m"\n'
    )
    clock = WallClock(tmp_path, datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Europe/Paris")))
    service = Service(p, clock.env())
    services.append(service)
    service.wait_for_rounds(2)
    assert "feeds" in service.rounds()[0]

    clock.step(step)
    way, span = ("back", -step) if step < timedelta(0) else ("forward", step)
    hours = int(span.total_seconds() // 3600)
    noticed = f"the wall clock jumped {way} {hours} h 00 min; planning the jobs again from now"
    service.wait_for(lambda: noticed in service.output, "the step noticed and said")
    assert service.output.count("the wall clock jumped") == 1
    # The jobs go on, a second apart, whichever way the clock went.
    service.wait_for_rounds(3, after=noticed)
    after = service.rounds(after=noticed)
    if step > timedelta(0):
        # Half an hour and more has passed by the wall clock: the feeds fell due, at once.
        assert "feeds" in after[0], after
    else:
        # Going back an hour or a day makes nothing due, and holds nothing either.
        assert not any("feeds" in line for line in after), after
    service.stop()


@pytest.mark.skipif(not full(), reason="in the full run (PURSUIT_RELIABILITY=full)")
@pytest.mark.parametrize("seed", seeds(1))
def test_random_clock_steps_each_way_never_hold_the_jobs(
    tmp_path: Path, services: list[Service], seed: int
) -> None:
    """Steps of 10 s to 3 days, back or forward, one after another: after each, one line
    and the jobs on, a second apart: 30 steps, in the full run."""
    draw = random.Random(seed)
    p = Pursuit(tmp_path, config=EVERY_SECOND + "[feeds]\nnews_search = false\n")
    clock = WallClock(tmp_path, datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Europe/Paris")))
    service = Service(p, clock.env())
    services.append(service)
    service.wait_for_rounds(1)
    noticed = "planning the jobs again from now"
    steps = 30
    for n in range(1, steps + 1):
        clock.step(timedelta(seconds=draw.choice((-1, 1)) * draw.uniform(10, 3 * 86400)))
        service.wait_for(
            lambda n=n: service.output.count(noticed) >= n,  # type: ignore[misc]
            f"seed {seed}: step {n}",
        )

        def rounds_since_the_step() -> int:
            return service.output.rsplit(noticed, 1)[1].count("round: ran")

        service.wait_for(lambda: rounds_since_the_step() >= 2, f"seed {seed}: jobs after {n}")
    service.stop()
    assert service.output.count(noticed) == steps, f"seed {seed}"
    print(f"seed {seed}: {steps} steps, each noticed once, the jobs on after each")


def test_a_feed_is_polled_on_its_interval_after_the_clock_went_back_a_day(
    tmp_path: Path, services: list[Service]
) -> None:
    """Each feed's next poll is stored as an instant: planned on a clock a day ahead, it
    would hold the feed for a day had the service not moved it back."""
    with FeedServer() as feeds:
        url = feeds.route("/careers.xml", static(rss([("job1", "Network Engineer")])))
        p = Pursuit(
            tmp_path,
            config=(
                '[feeds]\nnews_search = false\npoll_every = "1s"\n'
                '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
                f'feeds = [{{ url = "{url}", kind = "careers" }}]\n'
            ),
        )
        clock = WallClock(tmp_path, datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Europe/Paris")))
        service = Service(p, clock.env())
        services.append(service)
        service.wait_for(lambda: len(feeds.requests) >= 1, "the feed polled")
        clock.step(timedelta(days=-1))
        service.wait_for(lambda: "the wall clock jumped back" in service.output, "the step")
        polled = len(feeds.requests)
        service.wait_for(lambda: len(feeds.requests) > polled, "the feed polled on")
        service.stop()


def test_a_suspended_service_runs_what_fell_due_as_soon_as_it_wakes(
    tmp_path: Path, services: list[Service]
) -> None:
    """A laptop closed for three hours: the process stops while the wall clock moves on
    (SIGSTOP), then runs again (SIGCONT)."""
    p = Pursuit(tmp_path, config=EVERY_SECOND + '[feeds]\nnews_search = false\npoll_every = "1h"\n')
    clock = WallClock(tmp_path, datetime(2026, 12, 2, 18, 0, tzinfo=ZoneInfo("Europe/Paris")))
    service = Service(p, clock.env())
    services.append(service)
    service.wait_for_rounds(2)
    fed = job_runs(p)["feeds"]

    service.proc.send_signal(signal.SIGSTOP)
    clock.step(timedelta(hours=3), wait=False)
    service.proc.send_signal(signal.SIGCONT)
    clock.applied()
    service.wait_for(lambda: "planning the jobs again" in service.output, "the wake noticed")
    service.wait_for(lambda: job_runs(p)["feeds"] > fed + timedelta(hours=2), "feeds at once")
    assert "feeds" in service.rounds(after="planning the jobs again")[0]
    service.stop()


# --- a slow source never holds local work


def test_an_interview_reaches_the_calendar_file_while_a_feed_is_still_answering(
    tmp_path: Path, services: list[Service]
) -> None:
    held = threading.Event()
    release = threading.Event()

    def slow(_request: Request) -> Reply:
        held.set()
        release.wait(60)
        return Reply(body=rss([("job1", "Network Engineer")]))

    with FeedServer() as feeds:
        url = feeds.route("/careers.xml", slow)
        p = Pursuit(
            tmp_path,
            config=(
                '[feeds]\nnews_search = false\ntimeout = "60s"\n'
                '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
                f'feeds = [{{ url = "{url}", kind = "careers" }}]\n'
            ),
        )
        p.ok("interview", "add", "acme", "--at", "yesterday 10:00", "--with", "jane@acme.com")
        service = Service(p)
        services.append(service)
        try:
            service.wait_for(held.is_set, "the feed asked for")
            service.wait_for(
                lambda: p.ics.exists() and "jane@acme.com" in p.ics.read_text(),
                "the interview in the calendar file",
            )
            assert not release.is_set() and not service.ran("feeds")
        finally:
            release.set()
        service.wait_for(lambda: service.ran("feeds"), "the feed's answer stored")
        service.stop()
    # The jobs this config has and no others: no mailbox, no mail job.
    [started] = [line for line in service.output.splitlines() if "pursuit is running:" in line]
    assert "feeds every 1:00:00, plan every" in started and "mail" not in started, started
    assert "Network Engineer" in p.ok("status") + p.ok("export", "--format", "json")


def test_an_interview_reaches_the_calendar_file_while_the_first_mail_sync_is_held(
    tmp_path: Path, services: list[Service]
) -> None:
    """A first sync of a big mailbox takes minutes: the local work goes on beside it."""
    with GoogleEmulator(user_email="me@example.com") as emu:
        when = datetime.now(UTC) - timedelta(days=2)
        emu.add_message(raw_mail("Jane <jane@acme.com>", "me@example.com", "Hi", when, "m1@acme"))
        p = Pursuit(
            tmp_path,
            config=(
                '[calendar]\nkind = "ics"\n[feeds]\nnews_search = false\n'
                f"{emu.signed_in(tmp_path)}"
                '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
            ),
        )
        p.ok("interview", "add", "acme", "--at", "yesterday 10:00", "--with", "jane@acme.com")
        listing = emu.hold("messages.list")
        service = Service(p)
        services.append(service)
        try:
            assert listing.wait_arrived(), service.output
            service.wait_for(
                lambda: p.ics.exists() and "jane@acme.com" in p.ics.read_text(),
                "the interview in the calendar file",
            )
            assert listing.committed == 0, "the mail sync was already over"
        finally:
            listing.release(wait=False)
        service.wait_for(lambda: service.ran("mail (1)"), "the first sync over")
        service.stop()
    assert "pursuit is running: mail every 0:05:00," in service.output


# --- a full disk stops a job, never the service


def test_a_full_disk_stops_the_jobs_not_the_service_which_goes_on_once_there_is_room(
    tmp_path: Path, services: list[Service]
) -> None:
    openings = [(f"job{n}", f"Network Engineer {n}") for n in range(150)]
    with FeedServer() as feeds:
        url = feeds.route("/careers.xml", static(rss(openings[:1])))
        p = Pursuit(
            tmp_path,
            config=(
                EVERY_SECOND + '[feeds]\nnews_search = false\npoll_every = "1s"\n'
                '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
                f'feeds = [{{ url = "{url}", kind = "careers" }}]\n'
            ),
        )
        with small_disk(p.data_home, "3m") as disk:
            service = Service(p)
            services.append(service)
            service.wait_for(lambda: "new_items=1 " in service.output, "a first poll")
            disk.fill(0)
            # A big change to store: the next poll fails for want of room.
            feeds.route("/careers.xml", static(rss(openings)))
            full = "the disk is full; the jobs wait until there is room again"
            service.wait_for(lambda: full in service.output, "the full disk said")
            assert str(p.data_home) in service.output

            disk.unfill()
            service.wait_for(lambda: "there is room on the disk again" in service.output, "room")
            service.wait_for(lambda: stored_items(p) == len(openings), "the openings stored")
            service.stop()
            assert service.output.count(full) == 1, service.output
            assert "Network Engineer 149" in p.ok("export", "--format", "json")


def stored_items(p: Pursuit) -> int:
    db = sqlite3.connect(f"file:{p.database}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM feed_items").fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        db.close()


def test_a_service_started_on_a_full_disk_waits_and_starts_once_there_is_room(
    tmp_path: Path, services: list[Service]
) -> None:
    p = Pursuit(tmp_path, config=EVERY_SECOND + "[feeds]\nnews_search = false\n")
    with small_disk(p.data_home, "3m") as disk:
        p.ok("org", "add", "Acme Networks", "--domain", "acme.com")
        disk.fill(0)
        service = Service(p)
        services.append(service)
        waits = "the service waits, and starts once there is room"
        service.wait_for(lambda: waits in service.output, "the full disk said")
        assert f"{p.database.parent}: the disk is full" in service.output
        disk.unfill()
        service.wait_for_rounds(2)
        service.stop()
        assert service.output.count(waits) == 1, service.output
