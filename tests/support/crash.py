"""Crash consistency: pursuit killed with SIGKILL at chosen points, restarted, and what
it left behind compared with a run that was never killed.

A *world* is one user's machine and the servers it talks to, built fresh for each
trial from the same fixed data (message ids, times relative to one `now` per test):

- `google`: Gmail (mail, drafts, the summary) and Google Calendar (interviews read,
  pursuit's events pushed), on the Google emulator;
- `anymail`: IMAP on a real Dovecot (mail, drafts), CalDAV on a real Radicale
  (interviews read, events pushed), the summary by SMTP (aiosmtpd) delivered to the
  Dovecot INBOX, where pursuit looks for it after a crash;
- `ics`: Gmail and Google Calendar as sources, the local .ics file as the sink.

Every server calls a `Watch` on each request, before it acts and after it committed;
the watch counts the requests by phase (mail sync, calendar sync, push, drafts,
summary) and kills the process under test at its trigger: the n-th request of a kind,
before the server acts (nothing happened) or right after it committed (the answer is
lost). A trigger may instead be a delay, for the local steps (store commits, the .ics
file). `Snapshot`s are multisets of normalised records: the difference with the
reference's is what was doubled and what was lost.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import time_machine
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from pursuit.connectors.caldav import CaldavCalendar
from support.cli import Pursuit, pursuit_command
from support.dovecot import USER as IMAP_USER
from support.dovecot import Dovecot
from support.google_emulator import GoogleEmulator
from support.radicale_server import PASSWORD as DAV_PASSWORD
from support.radicale_server import USER as DAV_USER
from support.radicale_server import RadicaleServer, hook_requests
from support.smtp import Inbox, Server

ME = "me@example.test"
PHASES = ("mail sync", "calendar sync", "push", "drafts", "summary", "local")
RUN_TIMEOUT = 120.0


# --- the data every world holds


@dataclass(frozen=True)
class Letter:
    raw: bytes
    when: datetime
    sent: bool  # in the Sent folder, from the user


@dataclass(frozen=True)
class Meeting:
    uid: str
    summary: str
    start: datetime
    attendees: tuple[tuple[str, str], ...]  # (address, name)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)


INTERVIEWERS = {
    "acme.com": (("jane@acme.com", "Jane Doe"), ("raj@acme.com", "Raj Patel")),
    "globex.com": (
        ("li@globex.com", "Li Wei"),
        ("sam@globex.com", "Sam Ortiz"),
        ("ana@globex.com", "Ana Costa"),
    ),
}
ORGANIZATIONS = (
    '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
    'positions = ["Network Engineer"]\n'
    '[[organization]]\nname = "Globex"\ndomains = ["globex.com"]\n'
    'positions = ["Site Reliability Engineer"]\n'
)


def the_now() -> datetime:
    """The test's one `now`, on the hour, from which every time in the worlds is set."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def letter(
    sender: str, to: str, subject: str, when: datetime, msgid: str, *, sent: bool = False
) -> Letter:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    m["Date"] = email.utils.format_datetime(when)
    m["Message-ID"] = f"<{msgid}>"
    m.set_content(f"{subject}\n\nBest regards\n")
    return Letter(m.as_bytes(), when, sent)


def letters(now: datetime, me: str, count: int = 120) -> list[Letter]:
    """A first sync's worth of mail: interviewers, a recruiter, hiring systems, noise,
    and the user's replies in Sent (Raj thanked already)."""
    people = [p for group in INTERVIEWERS.values() for p in group]
    out: list[Letter] = []
    for n in range(count):
        when = now - timedelta(days=20) + timedelta(hours=4 * n)
        kind = n % 8
        if kind in (0, 1):
            address, name = people[n % len(people)]
            out.append(letter(f"{name} <{address}>", me, f"Re: our chat {n}", when, f"i{n}@w"))
        elif kind == 2:
            out.append(
                letter("Tara Bell <tara@talentbridge.example>", me, f"Roles {n}", when, f"r{n}@w")
            )
        elif kind == 3:
            org = "Acme Networks" if n % 2 else "Globex"
            out.append(
                letter(
                    "Greenhouse <no-reply@greenhouse.io>",
                    me,
                    f"Your application to {org}",
                    when,
                    f"h{n}@w",
                )
            )
        elif kind == 4 and n % 3 == 0:
            address, name = people[n % len(people)]
            out.append(
                letter(me, f"{name} <{address}>", f"Re: our chat {n}", when, f"s{n}@w", sent=True)
            )
        else:
            out.append(letter("News <news@example.org>", me, f"Deals {n}", when, f"n{n}@w"))
    # Raj thanked after his interview: his thank-you is done, the others get drafts
    thanks = now - timedelta(days=2) + timedelta(hours=3)
    out.append(letter(me, "Raj Patel <raj@acme.com>", "Thank you", thanks, "t1@w", sent=True))
    return out


def meetings(now: datetime) -> list[Meeting]:
    return [
        Meeting(
            "acme-1",
            "Interview: Network Engineer",
            now - timedelta(days=2),
            INTERVIEWERS["acme.com"],
        ),
        Meeting(
            "globex-1",
            "Interview: Site Reliability Engineer",
            now - timedelta(days=1),
            INTERVIEWERS["globex.com"],
        ),
        Meeting(
            "globex-2",
            "Interview: Site Reliability Engineer (onsite)",
            now + timedelta(days=4),
            INTERVIEWERS["globex.com"][:1],
        ),
    ]


# --- triggers, and the watch that fires them


@dataclass(frozen=True)
class Trigger:
    """Kill at the `nth` request of `kind` (phase:method) at `stage`, or after `delay` s."""

    kind: str = ""
    nth: int = 0
    stage: str = ""  # "before" the server acts, or "after" it committed
    delay: float = 0.0

    def __str__(self) -> str:
        if not self.kind:
            return f"after {self.delay:.2f}s"
        return f"{self.kind} #{self.nth} {self.stage}"


@dataclass
class Kill:
    world: str
    trial: int
    trigger: str
    fired: bool
    phase: str
    method: str


class Watch:
    """What the servers see of the process under test, and its killer."""

    def __init__(self, classify: Callable[[str, str], str]) -> None:
        self.classify = classify
        self.proc: subprocess.Popen[bytes] | None = None
        self.trigger: Trigger | None = None
        self.seen: list[str] = []  # "phase:method" of each request, this run
        self.counts: Counter[str] = Counter()
        self.fired: str | None = None  # the request kind it was killed at
        self.lock = threading.Lock()

    def arm(self, proc: subprocess.Popen[bytes], trigger: Trigger | None) -> None:
        with self.lock:
            self.proc, self.trigger, self.fired = proc, trigger, None
            self.seen, self.counts = [], Counter()

    def disarm(self) -> None:
        with self.lock:
            self.proc, self.trigger = None, None

    def hook(self, method: str, target: str, stage: str) -> bool:
        kind = f"{self.classify(method, target)}:{method}"
        with self.lock:
            if self.proc is None or self.fired is not None:
                return self.fired is not None and stage == "before"  # dead: answer nobody
            if stage == "before":
                self.seen.append(kind)
                self.counts[kind] += 1
            t = self.trigger
            if t is None or t.kind != kind or t.stage != stage or self.counts[kind] != t.nth:
                return False
            self.fired = kind
            self.kill()
            return stage == "before"

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    def kill_at_delay(self) -> None:
        """The delay came: kill it, wherever it is (after the last request it made)."""
        with self.lock:
            last = self.seen[-1].split(":")[0] if self.seen else "start"
            self.fired = self.fired or f"{last}:delay"
        self.kill()

    def last_phase(self) -> str:
        with self.lock:
            return self.seen[-1].split(":")[0] if self.seen else "start"


def google_phase(method: str, target: str) -> str:
    if method.startswith("drafts."):
        return "drafts"
    if method == "messages.send" or "rfc822msgid" in target:
        return "summary"
    if target.startswith("/gmail/"):
        return "mail sync"
    if f"/calendars/{ME}/" in target or "/calendars/primary/" in target:
        return "calendar sync"
    return "push"


def caldav_phase(method: str, target: str) -> str:
    if "/personal" in target:
        return "calendar sync"
    parts = [p for p in target.split("/") if p]
    return (
        "push" if len(parts) >= 2 or method in ("PUT", "DELETE", "MKCALENDAR") else "calendar sync"
    )


class HookedInbox(Inbox):
    """The SMTP server's handler, calling the watch around each message it takes."""

    def __init__(self, dovecot: Dovecot, watch: Watch) -> None:
        super().__init__(dovecot)
        self.watch = watch

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.watch.hook("DATA", "smtp", "before"):
            return "451 4.3.0 dropped"
        answer = await super().handle_DATA(server, session, envelope)
        self.watch.hook("DATA", "smtp", "after")
        return answer


class ImapProxy:
    """A TCP relay in front of Dovecot that calls the watch around each IMAP command:
    "before" when the command arrives (True: the connection is dropped, the command
    never reaches the server), "after" when the server's tagged OK comes back (the
    answer is then lost). Commands are told apart by the first line of what the client
    sends: imapclient sends each command whole (an APPEND's literal comes after a
    continuation, and is relayed as it is)."""

    COMMAND = re.compile(rb"^(\S+) (?:UID )?([A-Z]+)(?: (.*))?", re.IGNORECASE)

    def __init__(self, dovecot: Dovecot, watch: Watch) -> None:
        self.dovecot, self.watch = dovecot, watch
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = self._connect()
            if server is None:  # the world is closing
                client.close()
                continue
            pending: dict[bytes, str] = {}  # tag: the watch's name of the command
            folder = ["INBOX"]
            threading.Thread(
                target=self._upstream, args=(client, server, pending, folder), daemon=True
            ).start()
            threading.Thread(
                target=self._downstream, args=(server, client, pending), daemon=True
            ).start()

    def _connect(self) -> socket.socket | None:
        """A connection to Dovecot, trying a while: a loaded machine may refuse one."""
        give_up = time.monotonic() + 10
        while not self.closed:
            try:
                server = socket.create_connection((self.dovecot.host, self.dovecot.port), 10)
                server.settimeout(None)
                return server
            except OSError:
                if time.monotonic() > give_up:
                    return None
                time.sleep(0.05)
        return None

    def _name(self, verb: str, rest: bytes, folder: list[str]) -> tuple[str, str]:
        """(phase, method) of a command, for the watch."""
        text = rest.decode(errors="replace")
        if verb in ("SELECT", "EXAMINE"):
            folder[0] = text.split(" ")[0].strip('"')
        if verb == "APPEND" and "Drafts" in text:
            return "drafts", "APPEND"
        if verb == "SEARCH" and "X-Pursuit-Key" in text:
            return ("drafts" if folder[0] == "Drafts" else "summary"), "SEARCH key"
        return "mail sync", verb

    def _upstream(
        self,
        client: socket.socket,
        server: socket.socket,
        pending: dict[bytes, str],
        folder: list[str],
    ) -> None:
        literal = 0  # bytes of an APPEND's message still to relay unread
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if literal > 0:
                    literal -= len(data)
                    server.sendall(data)
                    continue
                first = data.split(b"\r\n", 1)[0]
                command = self.COMMAND.match(first)
                size = re.search(rb"\{(\d+)\+?\}$", first)
                literal = int(size[1]) if size else 0
                if command and command[2].upper() != b"DONE":
                    phase, method = self._name(
                        command[2].decode().upper(), command[3] or b"", folder
                    )
                    pending[command[1]] = f"{phase}|{method}"
                    if self.watch.hook(method, f"imap:{phase}", "before"):
                        break
                server.sendall(data)
        for end in (client, server):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def _downstream(
        self, server: socket.socket, client: socket.socket, pending: dict[bytes, str]
    ) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                for line in data.split(b"\r\n"):
                    tag, _, status = line.partition(b" ")
                    if tag in pending and status.startswith(b"OK"):
                        phase, method = pending.pop(tag).split("|")
                        self.watch.hook(method, f"imap:{phase}", "after")
                client.sendall(data)
        for end in (client, server):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


# --- what a world holds after a run, as multisets of normalised records


Snapshot = dict[str, Counter[str]]


def canonical(record: Any) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def export_records(data: dict[str, Any]) -> Snapshot:
    """The export without what legitimately differs between runs (row ids)."""
    drop = {
        "interviews": ("id",),
        "duties": ("id", "interview"),
        "events": ("id", "duty", "duties"),
    }
    out: Snapshot = {}
    for section, rows in data.items():
        skip = drop.get(section, ())
        out[f"export.{section}"] = Counter(
            canonical({k: v for k, v in row.items() if k not in skip}) for row in rows
        )
    return out


def headers_of(raw: bytes, *names: str) -> str:
    """The headers named; a draft's key without the install's id (each world has its
    own install, the reference and a trial are compared by shape)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    found = {name: str(message.get(name, "")) for name in names}
    if "X-Pursuit-Key" in found:
        found["X-Pursuit-Key"] = re.sub(r"^draft:[0-9a-f]+:", "draft:", found["X-Pursuit-Key"])
    return canonical(found)


def summary_headers(raw: bytes) -> str:
    """A summary's key and To, and whether its Message-ID is pursuit's own: the id mixes
    in the install's, so two installs (the reference and a trial) are compared by shape."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    own = re.fullmatch(r"<pursuit-[0-9a-f]{32}@pursuit\.invalid>", str(message["Message-ID"]))
    return canonical(
        {
            "X-Pursuit-Key": str(message.get("X-Pursuit-Key", "")),
            "Message-ID": "pursuit's" if own else str(message["Message-ID"]),
            "To": str(message.get("To", "")),
        }
    )


def event_keys(data: dict[str, Any]) -> dict[str, str]:
    """{event id: pursuit's event key} from an export: ids mix in the install's random
    id, so two installs are compared by key (an event no record names shows its id)."""
    return {str(e["id"]): str(e["key"]) for e in data["events"]}


def event_key(uid: str, keys: dict[str, str]) -> str:
    event_id = uid.removesuffix("@pursuit")
    return keys.get(event_id, f"unknown id {event_id}")


def ics_records(text: bytes, keys: dict[str, str]) -> Counter[str]:
    calendar = icalendar.Calendar.from_ical(text)
    return Counter(
        canonical({"event": event_key(str(e.get("uid")), keys), "summary": str(e.get("summary"))})
        for e in calendar.walk("VEVENT")
    )


def diff(reference: Snapshot, got: Snapshot) -> tuple[list[str], list[str]]:
    """(doubled or extra records, lost records), each as 'section: record'."""
    extra: list[str] = []
    lost: list[str] = []
    for section in sorted(set(reference) | set(got)):
        want, have = reference.get(section, Counter()), got.get(section, Counter())
        extra += [f"{section}: {r} x{n}" for r, n in (have - want).items()]
        lost += [f"{section}: {r} x{n}" for r, n in (want - have).items()]
    return extra, lost


def integrity(p: Pursuit) -> str:
    """PRAGMA integrity_check of the database, read-only: "ok" when whole."""
    with contextlib.closing(sqlite3.connect(f"file:{p.database}?mode=ro", uri=True)) as db:
        return ", ".join(str(row[0]) for row in db.execute("PRAGMA integrity_check"))


# --- the worlds


class World:
    """One user's machine and its servers; `snapshot` what they hold."""

    name = ""

    def __init__(self, root: Path, now: datetime) -> None:
        self.root = root
        self.now = now
        self.watch = Watch(self.classify)
        self.stack = contextlib.ExitStack()
        self.p: Pursuit

    def classify(self, method: str, target: str) -> str:
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        raise NotImplementedError

    def servers_log(self) -> str:
        """What the servers logged, for a failure message."""
        return ""

    def close(self) -> None:
        self.stack.close()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def quiet(server: Any) -> None:
    """No traceback on stderr when the killed client's connection resets."""
    server.handle_error = lambda request, address: None


SUMMARY_DUE = '[summary]\nday = "monday"\ntime = "00:00"\n'  # due on every first run
DRAFTS = '[drafts]\nyour_name = "Alex Martin"\n'


class GoogleWorld(World):
    """Gmail and Google Calendar; `ics` writes pursuit's events to the local file."""

    def __init__(self, root: Path, now: datetime, *, sink: str = "google") -> None:
        super().__init__(root, now)
        self.name = sink
        self.emu = self.stack.enter_context(GoogleEmulator(user_email=ME))
        self.emu.call_hook = self.watch.hook
        quiet(self.emu._server)
        for item in letters(now, ME):
            self.emu.add_message(
                item.raw, label_ids=("SENT",) if item.sent else ("INBOX",), internal_date=item.when
            )
        for meeting in meetings(now):
            self.emu.put_event(
                "primary",
                {
                    "id": meeting.uid.replace("-", ""),
                    "summary": meeting.summary,
                    "start": {"dateTime": meeting.start.isoformat()},
                    "end": {"dateTime": meeting.end.isoformat()},
                    "attendees": [{"email": ME, "self": True}]
                    + [{"email": a, "displayName": n} for a, n in meeting.attendees],
                },
            )
        token = root / "token" / "google.json"
        token.parent.mkdir(mode=0o700, parents=True)
        self.emu.write_authorized_user_file(str(token))
        calendar = '[calendar]\nkind = "ics"\n' if sink == "ics" else ""
        self.p = Pursuit(
            root,
            config=(
                "[feeds]\nnews_search = false\n"
                + DRAFTS
                + SUMMARY_DUE
                + calendar
                + f'[google]\ncredentials_file = "{token}"\n'
                f'api_endpoint = "{self.emu.base_url}"\ntoken_uri = "{self.emu.token_uri}"\n'
                + ORGANIZATIONS
            ),
        )

    def classify(self, method: str, target: str) -> str:
        return google_phase(method, target)

    def snapshot(self) -> Snapshot:
        data = self.p.export()
        keys = event_keys(data)
        out = export_records(data)
        out["gmail.drafts"] = Counter(
            headers_of(d.message.raw, "X-Pursuit-Key", "To", "Subject")
            for d in self.emu.drafts.values()
        )
        out["gmail.sent"] = Counter(summary_headers(m.raw) for m in self.emu.sent)
        if self.name == "ics":
            out["ics.events"] = ics_records(self.p.ics.read_bytes(), keys)
        else:
            calendars = {
                cid: cal
                for cid, cal in self.emu.calendars.items()
                if cal.get("summary") == "Job search (pursuit)"
            }
            out["google.calendars"] = Counter(str(c["summary"]) for c in calendars.values())
            out["google.events"] = Counter(
                canonical(
                    {
                        "event": event_key(str(e.get("id")), keys),
                        "summary": e.get("summary"),
                        "start": e.get("start"),
                        "end": e.get("end"),
                        "status": e.get("status"),
                    }
                )
                for cid in calendars
                for e in self.emu.events(cid).values()
            )
        return out


class AnymailWorld(World):
    """IMAP on Dovecot, CalDAV on Radicale, the summary by SMTP into the Dovecot INBOX."""

    name = "anymail"

    def __init__(self, root: Path, now: datetime) -> None:
        super().__init__(root, now)
        self.dovecot = self.stack.enter_context(Dovecot())
        (root / "radicale").mkdir(parents=True)
        self.radicale = RadicaleServer(root / "radicale").start()
        self.stack.callback(self.radicale.stop)
        hook_requests(self.radicale, self.watch.hook)
        quiet(self.radicale._server)
        self.imap = ImapProxy(self.dovecot, self.watch)
        self.stack.callback(self.imap.close)
        self.smtp = Server(HookedInbox(self.dovecot, self.watch), root)
        self.smtp.controller.start()
        self.stack.callback(self.smtp.controller.stop)
        mail = letters(now, IMAP_USER)
        self.dovecot.load("INBOX", [(m.raw, m.when) for m in mail if not m.sent])
        self.dovecot.load("Sent", [(m.raw, m.when) for m in mail if m.sent])
        self._personal_calendar(meetings(now))
        self.p = Pursuit(
            root,
            config=(
                "[feeds]\nnews_search = false\n"
                + DRAFTS
                + SUMMARY_DUE
                + f'to = "{IMAP_USER}"\n'
                + f'[imap]\nhost = "127.0.0.1"\nport = {self.imap.port}\nsecurity = "none"\n'
                f'username = "{IMAP_USER}"\npassword_command = "echo secret"\n'
                f'[smtp]\nhost = "127.0.0.1"\nport = {self.smtp.port}\nsecurity = "none"\n'
                f'username = "{IMAP_USER}"\npassword_command = "echo secret"\n'
                f'[calendar]\nkind = "caldav"\nurl = "{self.radicale.url}"\n'
                f'username = "{DAV_USER}"\npassword_command = "echo {DAV_PASSWORD}"\n'
                + ORGANIZATIONS
            ),
        )

    def _personal_calendar(self, items: list[Meeting]) -> None:
        account = CaldavCalendar(
            self.radicale.url, username=DAV_USER, password=lambda: DAV_PASSWORD
        )
        personal = account._principal_of().make_calendar(name="Personal", cal_id="personal")
        for meeting in items:
            vevent = icalendar.Event()
            vevent.add("uid", f"{meeting.uid}@phone")
            vevent.add("dtstamp", meeting.start)
            vevent.add("dtstart", meeting.start)
            vevent.add("dtend", meeting.end)
            vevent.add("summary", meeting.summary)
            vevent.add("organizer", f"mailto:{IMAP_USER}")
            for address, name in meeting.attendees:
                vevent.add("attendee", f"mailto:{address}", parameters={"CN": name})
            cal = icalendar.Calendar()
            cal.add("prodid", "-//phone//EN")
            cal.add("version", "2.0")
            cal.add_component(vevent)
            personal.save_event(cal.to_ical().decode())

    def servers_log(self) -> str:
        return f"--- dovecot.log\n{self.dovecot.log()}"

    def classify(self, method: str, target: str) -> str:
        if target.startswith("imap:"):
            return target.removeprefix("imap:")
        return "summary" if target == "smtp" else caldav_phase(method, target)

    def snapshot(self) -> Snapshot:
        data = self.p.export()
        keys = event_keys(data)
        out = export_records(data)
        out["imap.drafts"] = Counter(
            headers_of(raw, "X-Pursuit-Key", "To", "Subject")
            for raw in self.dovecot.messages("Drafts")
        )
        out["smtp.received"] = Counter(
            summary_headers(raw) for _, raw in self.smtp.handler.received
        )
        root = self.radicale.storage / "collection-root" / DAV_USER
        out["caldav.calendars"] = Counter()
        out["caldav.events"] = Counter()
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "personal"):
            props = folder / ".Radicale.props"
            name = json.loads(props.read_text()).get("D:displayname", "") if props.exists() else ""
            out["caldav.calendars"][name] += 1
            for item in folder.glob("*.ics"):
                out["caldav.events"] += ics_records(item.read_bytes(), keys)
        return out


WORLDS: dict[str, Callable[[Path, datetime], World]] = {
    "google": lambda root, now: GoogleWorld(root, now, sink="google"),
    "anymail": AnymailWorld,
    "ics": lambda root, now: GoogleWorld(root, now, sink="ics"),
}


# --- running pursuit, and killing it


@dataclass
class Run:
    code: int | None  # None: killed
    seconds: float
    log: str
    fired: str | None  # the request kind it was killed at, for a request trigger


def run_once(world: World, trigger: Trigger | None = None) -> Run:
    """`pursuit -v run --once` as a subprocess, killed at `trigger` if it comes."""
    p = world.p
    log_path = p.root / f"run-{time.monotonic_ns()}.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*pursuit_command(), "-v", "run", "--once"],
            env=p.env(),
            cwd=p.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        world.watch.arm(proc, trigger)
        try:
            if trigger is not None and not trigger.kind:
                try:
                    proc.wait(timeout=trigger.delay)
                except subprocess.TimeoutExpired:
                    world.watch.kill_at_delay()
            proc.wait(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            world.watch.disarm()
    seconds = time.monotonic() - started
    killed = proc.returncode == -signal.SIGKILL
    fired = world.watch.fired if killed else None
    return Run(
        None if killed else proc.returncode,
        seconds,
        log_path.read_text(errors="replace"),
        fired,
    )


def local_step(log: str) -> str:
    """The module of the last line a killed run logged: where a delay kill hit."""
    loggers = re.findall(r"^\S+ \S+ [A-Z]+ (pursuit\.[\w.]+):", log, re.MULTILINE)
    return loggers[-1].removeprefix("pursuit.") if loggers else "start"


@dataclass
class Reference:
    """A crash-free run of a world: what it holds, its requests, how long it took."""

    snapshot: Snapshot
    requests: list[str]
    seconds: float


def reference(world: World) -> Reference:
    first = run_once(world)
    assert first.code == 0, first.log + world.servers_log()
    requests = list(world.watch.seen)
    second = run_once(world)
    assert second.code == 0, second.log + world.servers_log()
    return Reference(world.snapshot(), requests, first.seconds)


def choose_triggers(rng: random.Random, ref: Reference, kills: int) -> list[Trigger]:
    """`kills` triggers for one trial: the first at a request of a phase chosen evenly
    among those the reference made (or a delay, for the local steps), the rest early in
    the restarted runs, where the recovery code runs."""
    by_phase: dict[str, list[int]] = {}
    for index, kind in enumerate(ref.requests):
        by_phase.setdefault(kind.split(":")[0], []).append(index)
    phases = [*sorted(by_phase), "local"]
    triggers: list[Trigger] = []
    for n in range(kills):
        phase = rng.choice(phases)
        if phase == "local":
            triggers.append(Trigger(delay=rng.uniform(0.0, ref.seconds)))
            continue
        index = rng.choice(by_phase[phase])
        kind = ref.requests[index]
        nth = ref.requests[: index + 1].count(kind)
        if n > 0:
            nth = rng.randint(1, min(nth, 3))
        triggers.append(Trigger(kind, nth, rng.choice(("before", "after"))))
    return triggers


@dataclass
class Trial:
    world: str
    number: int
    seed: int
    kills: list[Kill] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    integrity: str = ""
    runs: int = 0


#: Longer than any window in which something a killed run began may still land (the
#: drafts' and calendars' 10 minutes, the summary's 15).
SETTLED = timedelta(minutes=20)


def trial(world: World, number: int, seed: int, triggers: list[Trigger], ref: Reference) -> Trial:
    """Run the world killed at each trigger in turn, then to completion; compare."""
    result = Trial(world.name, number, seed)
    for trigger in triggers:
        run = run_once(world, trigger)
        result.runs += 1
        if run.code is None:
            kind = run.fired or "?:?"
            phase, method = kind.split(":", 1)
            if method == "delay":
                phase, method = "local", f"after {phase} ({local_step(run.log)})"
            result.kills.append(Kill(world.name, number, str(trigger), True, phase, method))
        else:
            result.kills.append(Kill(world.name, number, str(trigger), False, "-", "not reached"))
    finals = 0
    # A create or send a killed run began is in doubt for a while (it may still land,
    # and is not made again until then): the runs to completion come after that.
    with time_machine.travel(datetime.now(UTC) + SETTLED, tick=True):
        while True:  # to completion: a run that exits 0, and one more round
            run = run_once(world)
            result.runs += 1
            finals += 1
            assert run.code is not None
            if run.code == 0:
                break
            assert finals < 3, f"seed {seed}: {world.name} never completed:\n{run.log}" + (
                world.servers_log()
            )
        last = run_once(world)
    result.runs += 1
    assert last.code == 0, f"seed {seed}: {last.log}{world.servers_log()}"
    result.extra, result.lost = diff(ref.snapshot, world.snapshot())
    result.integrity = integrity(world.p)
    return result


def table(trials: list[Trial]) -> str:
    lines = [f"{'world':8} {'trial':>5} {'seed':>10}  {'phase':14} {'at':40} trigger"]
    for t in trials:
        for k in t.kills:
            lines.append(
                f"{k.world:8} {k.trial:5} {t.seed:10}  {k.phase:14} {k.method[:40]:40} {k.trigger}"
            )
    return "\n".join(lines)


def report(trials: list[Trial], seconds: float) -> dict[str, Any]:
    fired = [k for t in trials for k in t.kills if k.fired]
    return {
        "trials": len(trials),
        "kills": len(fired),
        "triggers_not_reached": sum(1 for t in trials for k in t.kills if not k.fired),
        "kills_per_phase": dict(Counter(k.phase for k in fired)),
        "kills_per_world": dict(Counter(k.world for k in fired)),
        "duplicates": sum(len(t.extra) for t in trials),
        "losses": sum(len(t.lost) for t in trials),
        "seconds": round(seconds, 1),
        "kills_list": [
            {"world": k.world, "trial": k.trial, "seed": t.seed, "phase": k.phase, "at": k.method}
            | {"trigger": k.trigger, "fired": k.fired}
            for t in trials
            for k in t.kills
        ],
    }


@contextlib.contextmanager
def world_at(kind: str, root: Path, now: datetime) -> Iterator[World]:
    root.mkdir(parents=True)
    world = WORLDS[kind](root, now)
    try:
        yield world
    finally:
        world.close()
