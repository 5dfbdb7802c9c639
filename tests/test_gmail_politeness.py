"""Gmail's quota refusals slow the first sync down to what the server enforces
(issue 20): at 300 units a minute a first sync met 1,331 answers 429 without slowing
down, because Gmail often says when to retry in the error's message alone
("User-rate limit exceeded. Retry after <time>"), without a Retry-After header.

The real connector and google-api-python-client against the Google emulator; the
emulator's quota windows and pursuit's pacer share one fake clock, so the minutes the
pacer waits pass at once and the counts do not depend on the machine's speed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail

from pursuit.connectors.gmail import GmailMailbox

pytestmark = pytest.mark.reliability

ME = "me@example.test"
NOW = datetime.now(UTC).replace(microsecond=0)


class SharedClock:
    """The pacer's clock and sleep, and the emulator's quota clock: time passes only
    when pursuit waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.slept += seconds


def first_sync(
    retry_after: str, messages: int = 100, per_minute: int = 300
) -> tuple[GoogleEmulator, GmailMailbox, SharedClock, int]:
    with GoogleEmulator(
        user_email=ME,
        enforce_quota=True,
        quota_per_second=10**9,
        quota_per_minute=per_minute,
        quota_retry_after=retry_after,
    ) as emu:
        clock = SharedClock()
        emu.quota_clock = clock
        for i in range(messages):
            emu.add_message(
                raw_mail(
                    "Jane <jane@acme.com>", ME, f"Round {i}", NOW - timedelta(hours=i), f"m{i}@acme"
                )
            )
        box = GmailMailbox(emu.credentials(), None, api_endpoint=emu.base_url, num_retries=0)
        box.pacer.clock, box.pacer.sleep = clock, clock.sleep
        found = [
            m
            for batch in box.search(
                addresses=[], domains=["acme.com"], since=NOW - timedelta(days=30)
            )
            for m in batch
        ]
        assert len(found) == messages  # every message, each once
        return emu, box, clock, emu.quota_units


@pytest.mark.parametrize("says", ["header", "message", "none"])
def test_a_first_sync_over_a_per_minute_quota_is_refused_a_handful_of_times(says: str) -> None:
    emu, box, clock, units = first_sync(says)
    # the first refusal teaches the limit; without a word on when to retry, each refusal
    # in a row waits twice as long, and the third is taken for a per-minute limit
    assert box.pacer.rate_limits <= (2 if says != "none" else 4), box.pacer.rate_limits
    assert emu.rate_limited <= 200, emu.rate_limited  # refused batch parts, each retried
    # and it does not slow down below what the server allows: the units at 300 a minute,
    # with a minute's slack for the first minute's units and the last refusal's wait
    assert clock.slept <= units / 300 * 60 + 60 + 8, clock.slept
    assert box.pacer.limits.get(60.0, 0) >= 250  # the per-minute limit learned


def test_a_rate_limit_said_in_the_message_alone_is_waited_out() -> None:
    _, box, clock, _ = first_sync("message", messages=60, per_minute=150)
    # 60 messages at 150 units a minute: two refusals at most, never one a second
    assert box.pacer.rate_limits <= 2, box.pacer.rate_limits
    assert clock.slept >= 60  # the minute the message named was waited out


def test_the_calendar_waits_as_long_as_a_rate_limit_says_in_its_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pursuit.connectors import google_api
    from pursuit.connectors.google_calendar import GoogleCalendarReader

    slept: list[float] = []
    monkeypatch.setattr(google_api, "time", SimpleNamespace(sleep=slept.append))
    with GoogleEmulator(user_email=ME) as emu:
        when = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        emu.inject_fault(
            429,
            count=1,
            method="events.list",
            message=f"Rate Limit Exceeded. Retry after {when}",
        )
        reader = GoogleCalendarReader(emu.credentials(), None, api_endpoint=emu.calendar_endpoint)
        reader.backoff = 0.005
        reader.changes("primary", None, since=NOW - timedelta(days=1))
    # the server's half minute, not the 5 ms backoff (nor random()·2^n seconds)
    assert len(slept) == 1 and 25 <= slept[0] <= 31, slept


def test_a_retry_after_of_zero_is_a_time_not_a_silence() -> None:
    """Refused batch parts saying "Retry-After: 0" are retried at once: read as a
    refusal that named no time, three in a row were taken for a per-minute limit and
    the sync crawled at what it had spent in the last minute (found by the random
    faults of tests/test_reliability_faults.py: a round went from 7 s to over 60 s)."""
    with GoogleEmulator(user_email=ME) as emu:
        for i in range(30):
            emu.add_message(
                raw_mail("Jane <jane@acme.com>", ME, f"R{i}", NOW - timedelta(hours=i), f"m{i}@a")
            )
        clock = SharedClock()
        box = GmailMailbox(emu.credentials(), None, api_endpoint=emu.base_url, num_retries=0)
        box.pacer.clock, box.pacer.sleep = clock, clock.sleep
        emu.inject_fault(429, count=150, method="messages.get", retry_after=0)  # 5 rounds
        found = [
            m
            for batch in box.search(
                addresses=[], domains=["acme.com"], since=NOW - timedelta(days=3)
            )
            for m in batch
        ]
    assert len(found) == 30
    assert box.pacer.rate_limits >= 3  # refused, in a row
    assert 60.0 not in box.pacer.limits, box.pacer.limits  # no per-minute limit learned
    assert clock.slept < 5, clock.slept
