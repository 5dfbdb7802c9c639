"""A weekly summary send Google received but had not carried out when pursuit was killed
(issue 20): measured before, the restart looked, found nothing in Sent yet, and sent again,
and the first send landed too: two summaries. Now a send that began and was never
answered is in doubt for Gmail's `in_doubt`: not looked for, not made again; then looked for
by its Message-ID (Gmail `rfc822msgid:`) and made again only when it never landed.

pursuit is a real process SIGKILLed while the emulator holds its `messages.send`; the
restarts run in the test process, on the real clock moved on with time-machine.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from support.cli import Pursuit
from support.google_emulator import GoogleEmulator, HeldRequests

from pursuit.daemon.summary import IN_DOUBT_FOR

ME = "me@example.test"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


def user(tmp_path: Path, emu: GoogleEmulator) -> Pursuit:
    """Gmail and Google Calendar, the summary due on every run (Monday 00:00)."""
    config = (
        "[feeds]\nnews_search = false\n"
        '[summary]\nday = "monday"\ntime = "00:00"\n'
        f"{emu.signed_in(tmp_path)}"
    )
    return Pursuit(tmp_path, config=config)


def killed_while_held(p: Pursuit, held: HeldRequests) -> None:
    p.killed_once(lambda: held.wait_arrived(timeout=60))


def summaries(emu: GoogleEmulator) -> list[str]:
    """The X-Pursuit-Key of each summary in the user's Sent."""
    keys = []
    for message in emu.sent:
        parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
        keys.append(str(parsed["X-Pursuit-Key"]))
    return keys


def later(minutes: float) -> time_machine.travel:
    return time_machine.travel(datetime.now(UTC) + timedelta(minutes=minutes), tick=True)


def test_a_send_in_flight_that_lands_after_the_restart_is_found_not_sent_again(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = user(tmp_path, emu)
    held = emu.hold("messages.send")
    killed_while_held(p, held)
    assert summaries(emu) == []

    # The restart, still in the window: Sent holds nothing yet, and nothing is sent.
    result = p.run("-v", "run", "--once")
    assert result.code == 0, str(result)
    assert "may still land" in result.err + result.out, str(result)
    asked = p.run("summary", "--send")  # asked by hand: told why not, not sent again
    assert asked.code == 1 and "may still land" in asked.err, str(asked)
    assert summaries(emu) == []

    held.release()  # Google carries out the first send; its answer is lost
    [key] = summaries(emu)
    with later(IN_DOUBT_FOR.total_seconds() / 60 + 1):
        p.ok("run", "--once")  # looks, finds it by its Message-ID, records it
        p.ok("run", "--once")
        assert "was already sent" in p.ok("summary", "--send")
    assert summaries(emu) == [key]


def test_a_send_in_flight_that_never_lands_is_made_again_after_the_window(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = user(tmp_path, emu)
    held = emu.hold("messages.send")  # never released: dropped when the emulator stops
    killed_while_held(p, held)
    p.ok("run", "--once")
    assert summaries(emu) == []
    with later(IN_DOUBT_FOR.total_seconds() / 60 + 1):
        p.ok("run", "--once")
        p.ok("run", "--once")
    assert len(summaries(emu)) == 1
