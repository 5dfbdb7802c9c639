"""Faults for the reliability suite: a Google that fails at random, a world of mail
and interviews to run pursuit in, and the end state reduced to what must match.

`FaultyGoogle` is the Google emulator with a seeded random fault mode: a share of
every API call (batch parts too) answered 503 or 429, half of the 503s after the
work was done (the answer lost, as Google sometimes does), and optionally some
answers slower than usual. The seed is printed by the tests and taken from
PURSUIT_RELIABILITY_SEED to replay a failure.
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from support.cli import Pursuit, Result
from support.google_emulator import GoogleEmulator, _Fault

ME = "me@example.test"
PURSUIT_CALENDAR = "Job search (pursuit)"


@dataclass
class _RandomFaults:
    rate_503: float
    rate_429: float
    retry_after: int | None
    slow_rate: float
    slow_delay: float
    rng: random.Random


class FaultyGoogle(GoogleEmulator):
    """The emulator with `random_faults`: the same calls fail the same way for a seed."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._random: _RandomFaults | None = None
        self._random_lock = threading.Lock()
        #: faults served by the random mode, by kind ("503", "503 after commit", "429", "slow")
        self.served: Counter[str] = Counter()

    def __enter__(self) -> FaultyGoogle:
        self.start()
        return self

    def random_faults(
        self,
        *,
        rate_503: float = 0.3,
        rate_429: float = 0.1,
        seed: int = 0,
        retry_after: int | None = 1,
        slow_rate: float = 0.0,
        slow_delay: float = 0.0,
    ) -> None:
        """From now on each API call (batch parts included, the token endpoint not)
        fails with 503 at `rate_503` (half of them after doing the work) or 429 at
        `rate_429` (with `retry_after`), or else, at `slow_rate`, answers normally
        after `slow_delay` seconds. Faults set with `inject_fault` come first."""
        with self._random_lock:
            self._random = _RandomFaults(
                rate_503, rate_429, retry_after, slow_rate, slow_delay, random.Random(seed)
            )

    def stop_random_faults(self) -> None:
        with self._random_lock:
            self._random = None

    def _take_fault(self, path: str, *, api_call: bool, method: str | None = None) -> _Fault | None:
        injected = super()._take_fault(path, api_call=api_call, method=method)
        if injected is not None or not api_call or self._random is None:
            return injected
        with self._random_lock:
            mode = self._random
            if mode is None:
                return None
            draw, after = mode.rng.random(), mode.rng.random() < 0.5
            if draw < mode.rate_503:
                kind, status = ("503 after commit", 503) if after else ("503", 503)
            elif draw < mode.rate_503 + mode.rate_429:
                kind, status = "429", 429
            elif draw < mode.rate_503 + mode.rate_429 + mode.slow_rate:
                kind, status = "slow", 200
            else:
                return None
            self.served[kind] += 1
        return _Fault(
            status,
            1,
            "",
            mode.retry_after if status == 429 else None,
            mode.slow_delay if status == 200 else 0.0,
            None,
            None,
            None,
            after_commit=kind == "503 after commit",
        )


def seeds(count: int) -> list[int]:
    """The seeds to run: PURSUIT_RELIABILITY_SEED alone when set (a replay), else
    `count` seeds drawn afresh; each test prints the ones it ran."""
    chosen = os.environ.get("PURSUIT_RELIABILITY_SEED", "").strip()
    if chosen:
        return [int(chosen)]
    return [random.randrange(1, 2**31) for _ in range(count)]


# --- the world


def _raw(sender: str, to: str, subject: str, when: datetime, msgid: str, extra: str = "") -> str:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{msgid}>\r\n{extra}\r\nHello\r\n"
    )


@dataclass(frozen=True)
class World:
    """One job seeker's Google account, built the same way in every emulator given
    the same `anchor` (yesterday's interview), so two runs can be compared."""

    anchor: datetime
    messages: int = 100

    @staticmethod
    def now() -> World:
        anchor = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        return World(anchor)

    def build(self, emu: GoogleEmulator) -> None:
        start = self.anchor
        people = [
            "Jane Doe <jane@acme.com>",
            "Raj Patel <raj@acme.com>",
            "Bob Stone <bob@globex.com>",
            "Recruiting <jobs@globex.com>",
            "Carol Wu <carol@initech.com>",
        ]
        for n in range(self.messages):
            sender = people[n % len(people)]
            when = start - timedelta(days=60) + timedelta(hours=13 * n + 1)
            emu.add_message(_raw(sender, ME, f"About the role, {n}", when, f"m{n}@world"))
        for n in range(10):  # mail from nobody tracked: never fetched
            when = start - timedelta(days=n + 2)
            emu.add_message(_raw("Deals <deals@shop.example>", ME, f"Deal {n}", when, f"d{n}@s"))
        # Raj thanked already, from the Sent folder; a reply to Bob before the interview
        emu.add_message(
            _raw(ME, "Raj Patel <raj@acme.com>", "Thank you", start + timedelta(hours=3), "t1@me"),
            label_ids=("SENT",),
        )
        emu.add_message(
            _raw(ME, "Bob <bob@globex.com>", "Re: Onsite", start - timedelta(days=3), "r1@me"),
            label_ids=("SENT",),
        )
        interviews = [
            ("acme1", "Interview: Network Engineer", start, ["jane@acme.com", "raj@acme.com"]),
            ("globex1", "Onsite", start - timedelta(days=2), ["bob@globex.com"]),
            ("initech1", "Phone screen", start - timedelta(days=5), ["carol@initech.com"]),
        ]
        for event_id, title, when, guests in interviews:
            emu.put_event(
                "primary",
                {
                    "id": event_id,
                    "summary": title,
                    "start": {"dateTime": when.isoformat()},
                    "end": {"dateTime": (when + timedelta(hours=1)).isoformat()},
                    "attendees": [{"email": ME, "self": True}]
                    + [{"email": guest} for guest in guests],
                },
            )
        emu.put_event(
            "primary",
            {
                "id": "dentist",
                "summary": "Dentist",
                "start": {"dateTime": (start + timedelta(days=2)).isoformat()},
                "end": {"dateTime": (start + timedelta(days=2, hours=1)).isoformat()},
            },
        )

    def build_later(self, emu: GoogleEmulator) -> None:
        """What happens after the first round: Jane is thanked and writes back, a
        second Globex interview is set, the Initech screen is cancelled."""
        start = self.anchor
        emu.add_message(
            _raw(ME, "Jane Doe <jane@acme.com>", "Thank you!", start + timedelta(hours=4), "t2@me"),
            label_ids=("SENT",),
        )
        for n in range(5):
            when = start + timedelta(hours=5 + n)
            emu.add_message(_raw("Jane Doe <jane@acme.com>", ME, f"Re: next {n}", when, f"l{n}@a"))
        when = start + timedelta(days=3)
        emu.put_event(
            "primary",
            {
                "id": "globex2",
                "summary": "Onsite, second round",
                "start": {"dateTime": when.isoformat()},
                "end": {"dateTime": (when + timedelta(hours=2)).isoformat()},
                "attendees": [{"email": ME, "self": True}, {"email": "bob@globex.com"}],
            },
        )
        emu.cancel_event("primary", "initech1")


def google_config(
    root: Any, emu: GoogleEmulator, extra: str = "", *, calendar: str = "google", feeds: str = ""
) -> str:
    """The config of a user with Gmail, Google Calendar (pursuit's events there too,
    unless `calendar` says "ics"), three tracked organizations (Acme's `feeds` a TOML
    list) and the summary due already this week."""
    token = root / "token" / "google.json"
    token.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    emu.write_authorized_user_file(str(token))
    return (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        '[summary]\nday = "monday"\ntime = "00:00"\n'
        f'[calendar]\nkind = "{calendar}"\n'
        f'[google]\ncredentials_file = "{token}"\n'
        f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        'positions = ["Network Engineer"]\n'
        + (f"feeds = {feeds}\n" if feeds else "")
        + '[[organization]]\nname = "Globex"\ndomains = ["globex.com"]\n'
        '[[organization]]\nname = "Initech"\ndomains = ["initech.com"]\n' + extra
    )


# --- rounds


@dataclass
class Rounds:
    """`run --once` repeated until one exits 0: each result, in order."""

    results: list[Result]

    @property
    def count(self) -> int:
        return len(self.results)

    @property
    def completed(self) -> bool:
        return bool(self.results) and self.results[-1].code == 0

    def transcript(self) -> str:
        return "\n".join(str(r) for r in self.results)


def run_until_done(p: Pursuit, bound: int, env: dict[str, str] | None = None) -> Rounds:
    """Rounds of `run --once` until one succeeds, at most `bound`. Every round must
    end as a user expects: exit 0, or exit 1 naming the failed jobs; never a traceback."""
    results: list[Result] = []
    for _ in range(bound):
        result = p.run("run", "--once", env=env)
        results.append(result)
        assert "Traceback" not in result.err + result.out, str(result)
        assert result.code in (0, 1), str(result)
        if result.code == 0:
            break
        assert "failed (" in result.err, str(result)
    return Rounds(results)


# --- the end state, reduced to what must match


def _sorted(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(str(row.get(k)) for k in keys))


def normalised_export(data: dict[str, Any]) -> dict[str, Any]:
    """The export without what differs between two installs of the same world: row
    ids, event ids (a random per-install part), sequences (how often an event
    changed on its way, not where it ended), when a feed item was first seen."""
    out: dict[str, Any] = {}
    for section, rows in data.items():
        kept = []
        for row in rows:
            row = {k: v for k, v in row.items() if k not in ("id", "interview", "duty", "duties")}
            if section == "events":
                row.pop("sequence", None)
            if section == "feed_items":
                row.pop("first_seen", None)
            kept.append(row)
        out[section] = _sorted(kept, *(sorted(kept[0]) if kept else ()))
    return out


def _message(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@dataclass(frozen=True)
class GoogleState:
    """What the user sees in Google: pursuit's calendar, the drafts, the summaries."""

    calendars: tuple[str, ...]  # the names of pursuit's calendars (one)
    events: tuple[tuple[str, str, str], ...]  # (summary, start, end) of each live event
    drafts: tuple[tuple[str, str, str], ...]  # (key, To, Subject) of each draft
    summaries: tuple[str, ...]  # the key of each summary sent

    @staticmethod
    def of(emu: GoogleEmulator) -> GoogleState:
        owned = [c for c, cal in emu.calendars.items() if cal.get("summary") == PURSUIT_CALENDAR]
        events = [
            (
                str(event.get("summary")),
                str(event["start"].get("dateTime")),
                str(event["end"].get("dateTime")),
            )
            for calendar in owned
            for event in emu.events(calendar).values()
            if event.get("status") != "cancelled"
        ]
        drafts = []
        for draft in emu.drafts.values():
            message = _message(draft.message.raw)
            drafts.append(
                (str(message["X-Pursuit-Key"]), str(message["To"]), str(message["Subject"]))
            )
        summaries = [
            str(_message(m.raw)["X-Pursuit-Key"])
            for m in emu.sent
            if str(_message(m.raw)["X-Pursuit-Key"] or "").startswith("summary:")
        ]
        return GoogleState(
            tuple(PURSUIT_CALENDAR for _ in owned),
            tuple(sorted(events)),
            tuple(sorted(drafts)),
            tuple(sorted(summaries)),
        )

    def doubled(self) -> list[str]:
        """What appears more than once, where once is the promise."""
        found = []
        for name, rows in (
            ("calendar", self.calendars),
            ("event", self.events),
            ("draft", self.drafts),
            ("summary", self.summaries),
        ):
            counts = Counter[Any](rows)
            found += [f"{name} {row!r} x{n}" for row, n in counts.items() if n > 1]
        return found


def error_lines(result: Result) -> list[str]:
    """The lines a failing round says about its failed jobs."""
    return [line for line in result.err.splitlines() if "failed:" in line]
