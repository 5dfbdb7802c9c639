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
import email.utils
import os
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar

from pursuit.connectors.caldav import CaldavCalendar
from support.cli import Pursuit, Result
from support.dovecot import PASSWORD as DOVECOT_PASSWORD
from support.dovecot import USER as DOVECOT_USER
from support.dovecot import Dovecot
from support.google_emulator import GoogleEmulator, _Fault
from support.mail import raw_mail
from support.radicale_server import PASSWORD as DAV_PASSWORD
from support.radicale_server import USER as DAV_USER
from support.radicale_server import RadicaleServer, pursuit_events

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
    # Under pytest-xdist every worker must collect the same tests: the seeds are drawn
    # from the run's id, which the workers share (a fresh draw without xdist).
    draw = random.Random(os.environ.get("PYTEST_XDIST_TESTRUNUID"))
    return [draw.randrange(1, 2**31) for _ in range(count)]


# --- the world


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
            emu.add_message(raw_mail(sender, ME, f"About the role, {n}", when, f"m{n}@world"))
        for n in range(10):  # mail from nobody tracked: never fetched
            when = start - timedelta(days=n + 2)
            emu.add_message(
                raw_mail("Deals <deals@shop.example>", ME, f"Deal {n}", when, f"d{n}@s")
            )
        # Raj thanked already, from the Sent folder; a reply to Bob before the interview
        emu.add_message(
            raw_mail(
                ME, "Raj Patel <raj@acme.com>", "Thank you", start + timedelta(hours=3), "t1@me"
            ),
            label_ids=("SENT",),
        )
        emu.add_message(
            raw_mail(ME, "Bob <bob@globex.com>", "Re: Onsite", start - timedelta(days=3), "r1@me"),
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
            raw_mail(
                ME, "Jane Doe <jane@acme.com>", "Thank you!", start + timedelta(hours=4), "t2@me"
            ),
            label_ids=("SENT",),
        )
        for n in range(5):
            when = start + timedelta(hours=5 + n)
            emu.add_message(
                raw_mail("Jane Doe <jane@acme.com>", ME, f"Re: next {n}", when, f"l{n}@a")
            )
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
    root: Any,
    emu: GoogleEmulator,
    extra: str = "",
    *,
    calendar: str = "google",
    feeds: str = "",
    timeout: str = "60s",
) -> str:
    """The config of a user with Gmail, Google Calendar (pursuit's events there too,
    unless `calendar` says "ics"), three tracked organizations (Acme's `feeds` a TOML
    list) and the summary due already this week. Retries wait 50 ms first (then twice
    as long each time): the faults are many."""
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
        f'retry_wait = "50ms"\ntimeout = "{timeout}"\n'
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
    ids (and so the ids inside event keys), event ids (a random per-install part),
    sequences (how often an event changed on its way, not where it ended), when a
    feed item was first seen."""
    out: dict[str, Any] = {}
    for section, rows in data.items():
        kept = []
        for row in rows:
            row = {k: v for k, v in row.items() if k not in ("id", "interview", "duty", "duties")}
            if section == "events":
                row.pop("sequence", None)
                row["key"] = key_shape(row["key"])
            if section == "feed_items":
                row.pop("first_seen", None)
            kept.append(row)
        out[section] = _sorted(kept, *(sorted(kept[0]) if kept else ()))
    return out


def key_shape(key: str) -> str:
    """An event's or a draft's key without the row ids in it (`draft:thank_you:#:#`):
    two installs number their records in the order they met them (and a draft's key
    names its install, left out too)."""
    return re.sub(r"(?<=:)\d+(?=:|$)", "#", re.sub(r"^draft:[0-9a-f]+:", "draft:", key))


def _message(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@dataclass(frozen=True)
class GoogleState:
    """What the user sees in Google: pursuit's calendar, the drafts, the summaries."""

    calendars: tuple[str, ...]  # the names of pursuit's calendars (one)
    events: tuple[tuple[str, str, str], ...]  # (summary, start, end) of each live event
    drafts: tuple[tuple[str, str, str], ...]  # (key, To's address, Subject) of each draft
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
                (
                    key_shape(str(message["X-Pursuit-Key"])),
                    # the address: a draft made before mail gave the name keeps it nameless
                    email.utils.parseaddr(str(message["To"]))[1],
                    str(message["Subject"]),
                )
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


# --- a world without Google: IMAP on Dovecot, CalDAV on Radicale


def imap_message(sender: str, to: str, subject: str, when: datetime, msgid: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = email.utils.format_datetime(when)
    message["Message-ID"] = f"<{msgid}>"
    message.set_content("Hello\n")
    return message.as_bytes()


class FaultyRadicale(RadicaleServer):
    """Radicale answering 500 to a seeded share of requests (`fail_share`), half of
    them after doing the work (the answer lost), besides the all-or-nothing
    `failing` of the base class."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.fail_share = 0.0
        self.rng = random.Random(0)
        self.served = 0  # 500s answered by the share

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self.fail_share and self.rng.random() < self.fail_share:
            self.served += 1
            if self.rng.random() < 0.5:  # done, then the answer lost
                list(super()._serve(environ, lambda *args: None))
            else:
                self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"try again later"]
        return super()._serve(environ, start_response)


@dataclass(frozen=True)
class MailWorld:
    """A user without Google: `messages` mails in a Dovecot INBOX (loaded straight into
    its Maildir), a thank-you in Sent, yesterday's interview on a Radicale calendar."""

    anchor: datetime
    messages: int

    @staticmethod
    def now(messages: int) -> MailWorld:
        anchor = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        return MailWorld(anchor, messages)

    def build(self, dovecot: Dovecot, radicale: RadicaleServer) -> None:
        start = self.anchor
        people = ["Jane Doe <jane@acme.com>", "Raj Patel <raj@acme.com>", "Bob <bob@globex.com>"]
        mails = []
        for n in range(self.messages):
            when = start - timedelta(minutes=20 * n + 30)
            sender = people[n % len(people)] if n % 10 else "Deals <deals@shop.example>"
            mails.append((imap_message(sender, DOVECOT_USER, f"Mail {n}", when, f"{n}@w"), when))
        dovecot.load("INBOX", mails)
        thanks = start + timedelta(hours=3)
        dovecot.load(
            "Sent",
            [
                (
                    imap_message(
                        DOVECOT_USER, "Raj Patel <raj@acme.com>", "Thanks", thanks, "t@me"
                    ),
                    thanks,
                )
            ],
        )
        calendar = CaldavCalendar(radicale.url, username=DAV_USER, password=lambda: DAV_PASSWORD)
        personal = calendar._principal_of().make_calendar(name="Personal", cal_id="personal")
        self.add_interview(personal, "interview1@phone", start)

    @staticmethod
    def personal_calendar(radicale: RadicaleServer) -> Any:
        calendar = CaldavCalendar(radicale.url, username=DAV_USER, password=lambda: DAV_PASSWORD)
        return calendar._principal_of().calendar(cal_id="personal")

    @staticmethod
    def add_interview(personal: Any, uid: str, start: datetime) -> None:
        """An interview with Jane and Raj on the user's Personal calendar."""
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", start)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(hours=1))
        event.add("summary", "Interview: Network Engineer")
        for address, name in (("jane@acme.com", "Jane Doe"), ("raj@acme.com", "Raj Patel")):
            event.add("attendee", f"mailto:{address}", parameters={"CN": name})
        wrapper = icalendar.Calendar()
        wrapper.add("prodid", "-//phone//EN")
        wrapper.add("version", "2.0")
        wrapper.add_component(event)
        personal.save_event(wrapper.to_ical().decode())


def mail_config(dovecot: Dovecot, radicale: RadicaleServer) -> str:
    return (
        "[feeds]\nnews_search = false\n"
        '[drafts]\nyour_name = "Alex Martin"\n'
        f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
        f'username = "{DOVECOT_USER}"\npassword_command = "echo {DOVECOT_PASSWORD}"\n'
        f'[calendar]\nkind = "caldav"\nurl = "{radicale.url}"\nusername = "{DAV_USER}"\n'
        f'password_command = "echo {DAV_PASSWORD}"\n'
        '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
        'positions = ["Network Engineer"]\n'
        '[[organization]]\nname = "Globex"\ndomains = ["globex.com"]\n'
    )


@dataclass(frozen=True)
class MailState:
    """What the user sees outside pursuit: its CalDAV calendar and the Drafts folder."""

    events: tuple[tuple[str, str], ...]  # (summary, start) of each event on pursuit's calendar
    drafts: tuple[tuple[str, str], ...]  # (key, To) of each draft

    @staticmethod
    def of_calendar(radicale: RadicaleServer) -> list[tuple[str, str]]:
        """(summary, start) of each event on pursuit's calendar."""
        return sorted((e.summary, e.start.isoformat()) for e in pursuit_events(radicale).values())

    @staticmethod
    def of(dovecot: Dovecot, radicale: RadicaleServer) -> MailState:
        events = MailState.of_calendar(radicale)
        drafts = [
            (key_shape(str(m["X-Pursuit-Key"])), str(m["To"]))
            for m in (_message(raw) for raw in dovecot.messages("Drafts"))
        ]
        return MailState(tuple(events), tuple(sorted(drafts)))

    def doubled(self) -> list[str]:
        found = []
        for name, rows in (("event", self.events), ("draft", self.drafts)):
            found += [f"{name} {row!r} x{n}" for row, n in Counter(rows).items() if n > 1]
        return found
