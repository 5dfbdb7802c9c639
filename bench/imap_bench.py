"""IMAP benchmark: a first sync of a 20,000-message folder of which 1,000 are relevant.

A real Dovecot (tests/support/dovecot.py) on 127.0.0.1 with its INBOX loaded by writing
Maildir files directly (`Dovecot.load`: no 20,000 APPENDs), timed apart from the
sync. pursuit's `ImapMailbox` then runs, with every command and byte counted on
the client's side of the socket (`Meter`: imapclient's imaplib connection
wrapped, so a command is a round trip):

1. the first sync as the core runs it: `profile()` then `search()` over the
   tracked addresses, domains and organizations (with the hiring systems), on a
   new connection; the first run is cold (Dovecot builds its caches), the others
   warm; each must fetch exactly the relevant messages, by Message-ID;
2. a sync with nothing new: `changes(cursor)` on the open connection;
3. IDLE: `wait_for_mail` while another connection APPENDs a reply; the delay
   from the APPEND to the wake-up, and to the reply parsed by `changes`;
4. the naive peer the issue names: imapclient fetching every message's header
   (``BODY.PEEK[HEADER]``) to filter locally, and the same with the items
   pursuit fetches.

    python bench/imap_bench.py [--messages 20000] [--runs 5] [--idle-runs 7]

Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import logging
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from imapclient import IMAPClient
from support.dovecot import PASSWORD, USER, Dovecot, imap_mailbox

import pursuit.connectors.imap as imap
from pursuit.daemon.matcher import HIRING_SYSTEMS

NOW = datetime.now(UTC).replace(microsecond=0)
LOOKBACK = timedelta(days=180)
ORGS = 40  # tracked organizations, each with a domain
PEOPLE = 20  # tracked addresses at a shared provider
WORDS = [
    "team",
    "update",
    "offer",
    "schedule",
    "review",
    "note",
    "project",
    "meeting",
    "plan",
    "thanks",
    "report",
    "question",
    "launch",
    "draft",
    "budget",
    "weekly",
    "summary",
    "design",
    "release",
    "agenda",
]


# ---------------------------------------------------------------------- the counting


@dataclass
class Meter:
    """Commands sent and bytes crossing the socket, on every counted connection."""

    commands: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    received: int = 0
    fetched_uids: int = 0
    seconds: Counter[str] = field(default_factory=Counter)  # from a command to the next
    _last: tuple[str, float] | None = None

    def reset(self) -> None:
        self.commands.clear()
        self.seconds.clear()
        self.sent = self.received = self.fetched_uids = 0
        self._last = None

    def start(self, name: str) -> None:
        self.stop()
        self.commands[name] += 1
        self._last = (name, time.perf_counter())

    def stop(self) -> None:
        if self._last is not None:
            self.seconds[self._last[0]] += time.perf_counter() - self._last[1]
            self._last = None

    def snapshot(self) -> dict[str, Any]:
        self.stop()
        return {
            "seconds_by_command": {k: round(v, 3) for k, v in self.seconds.items()},
            "commands": sum(self.commands.values()),
            "by_command": dict(self.commands),
            "fetch_commands": self.commands["FETCH"],
            "fetched_uids": self.fetched_uids,
            "sent": self.sent,
            "received": self.received,
        }


METER = Meter()


def _uid_count(uid_set: bytes) -> int:
    count = 0
    for part in uid_set.split(b","):
        low, _, high = part.partition(b":")
        count += int(high) - int(low) + 1 if high and high != b"*" else 1
    return count


class CountingIMAPClient(IMAPClient):
    """imapclient with its imaplib connection's send/read/readline counted in METER."""

    def _create_IMAP4(self) -> Any:
        conn = super()._create_IMAP4()
        send, read, readline = conn.send, conn.read, conn.readline

        def counted_send(data: bytes) -> None:
            METER.sent += len(data)
            words = data.split(b" ", 3)
            if len(words) >= 2 and words[0][:1].isalpha() and words[0][-1:].isdigit():
                name = words[1]
                if name == b"UID" and len(words) >= 3:
                    name = words[2]
                    if name == b"FETCH" and len(words) == 4:
                        METER.fetched_uids += _uid_count(words[3].split(b" ", 1)[0])
                METER.start(name.decode())
            elif data.strip() == b"DONE":
                METER.start("DONE")
            send(data)

        def counted_read(size: int) -> bytes:
            data: bytes = read(size)
            METER.received += len(data)
            return data

        def counted_readline() -> bytes:
            data: bytes = readline()
            METER.received += len(data)
            return data

        conn.send, conn.read, conn.readline = counted_send, counted_read, counted_readline
        return conn


def counted_client(server: Dovecot) -> IMAPClient:
    client = CountingIMAPClient(server.host, server.port, ssl=False, timeout=60)
    client.login(USER, PASSWORD)
    return client


# ---------------------------------------------------------------------- the mailbox


@dataclass
class Corpus:
    messages: list[tuple[bytes, datetime]]
    relevant: set[str]  # Message-IDs the first sync must return
    addresses: list[str]
    domains: list[str]
    organizations: list[str]


def _headers(sender: str, to: str, subject: str, when: datetime, mid: str, cc: str = "") -> str:
    """Headers the way delivered mail has them, relay and DKIM lines included."""
    rng = random.Random(mid)
    relay = "".join(
        f"Received: from mx{rng.randrange(99)}.relay.example (mx.relay.example "
        f"[192.0.2.{rng.randrange(255)}])\n\tby mail.example.test with ESMTPS id "
        f"{rng.getrandbits(64):016x}\n\tfor <{USER}>; {email.utils.format_datetime(when)}\n"
        for _ in range(3)
    )
    dkim = "DKIM-Signature: v=1; a=rsa-sha256; d=example; s=s1; b=" + "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        for _ in range(344)
    )
    lines = [
        "Return-Path: <bounce@relay.example>",
        relay.rstrip("\n"),
        dkim,
        f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        f"Date: {email.utils.format_datetime(when)}",
        f"Message-ID: {mid}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return "\n".join(lines) + "\n"


def build_corpus(total: int, seed: int = 13) -> Corpus:
    """`total` messages, one in 20 relevant; every tracked name is checked not to be
    a substring of an untracked one, so relevance is exact."""
    rng = random.Random(seed)
    relevant_count = total // 20
    org_names = [f"Northwind {i:03d}" for i in range(ORGS)]
    domains = [f"t{i:03d}corp.example" for i in range(ORGS)]
    people = [f"recruiter{i:03d}@freemail.example" for i in range(PEOPLE)]
    systems = sorted(HIRING_SYSTEMS)
    messages: list[tuple[bytes, datetime]] = []
    relevant: set[str] = set()

    def add(sender: str, to: str, subject: str, *, cc: str = "", old: bool = False) -> str:
        n = len(messages)
        days = rng.uniform(181, 400) if old else rng.uniform(0, 170)
        when = NOW - timedelta(days=days, seconds=n)
        mid = f"<b{n:06d}.{rng.getrandbits(32):08x}@bench.example>"
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(150, 900)))
        text = _headers(sender, to, subject, when, mid, cc) + "\n" + body + "\n"
        messages.append((text.encode(), when))
        return mid

    for n in range(relevant_count):
        kind = n % 10
        org = n % ORGS
        subject = f"Re: {rng.choice(WORDS)} {rng.choice(WORDS)} #{n}"
        if kind < 6:  # from someone at a tracked organization
            sender = f"Person {n} <p{n}@{domains[org]}>"
            mid = add(sender, USER, subject)
        elif kind == 6:  # from a subdomain of one
            mid = add(f"Talent <jobs@careers.{domains[org]}>", USER, subject)
        elif kind == 7:  # from a tracked address at a shared provider
            mid = add(people[n % PEOPLE], USER, subject)
        elif kind == 8:  # a friend's mail with a tracked person in Cc
            mid = add(f"pal{n:05d}@freemail.example", USER, subject, cc=f"x{n}@{domains[org]}")
        else:  # a hiring system writing for a tracked organization
            system = systems[n % len(systems)]
            mid = add(f"no-reply@{system}", USER, f"Your application to {org_names[org]}")
        relevant.add(mid)
    for n in range(total - relevant_count):
        kind = n % 20
        if kind < 8:  # newsletters, some naming a tracked organization in the subject
            named = org_names[n % ORGS] if kind == 0 else rng.choice(WORDS)
            add(f"Digest <news@news{n % 300:04d}.example>", USER, f"This week: {named} news")
        elif kind < 15:  # personal mail
            add(f"pal{n:05d}@freemail.example", USER, f"{rng.choice(WORDS)} tonight?")
        elif kind < 17:  # companies that are not tracked
            add(f"hr@u{n % 500:03d}other.example", USER, "Your interview")
        elif kind < 19:  # hiring systems writing for organizations not tracked
            system = systems[n % len(systems)]
            add(f"no-reply@{system}", USER, f"Your application to Southwind {n % 97:03d}")
        else:  # tracked domains, but before the lookback
            add(f"p{n}@{domains[n % ORGS]}", USER, "An old thread", old=True)
    rng.shuffle(messages)
    used = [f"news{i:04d}.example" for i in range(300)] + [
        f"u{i:03d}other.example" for i in range(500)
    ]
    assert not any(d in u for d in domains for u in used)
    assert not any(a in f"pal{n:05d}@freemail.example" for a in people for n in range(total))
    return Corpus(messages, relevant, people, domains, org_names)


# ---------------------------------------------------------------------- the runs


def first_sync(server: Dovecot, corpus: Corpus) -> dict[str, Any]:
    box = imap_mailbox(server, timeout=120)
    METER.reset()
    start = time.perf_counter()
    _, cursor = box.profile()
    found: list[str] = []
    for batch in box.search(
        addresses=corpus.addresses,
        domains=corpus.domains,
        since=NOW - LOOKBACK,
        organizations=corpus.organizations,
        hiring_systems=sorted(HIRING_SYSTEMS),
    ):
        found += [m.message_id for m in batch]
    elapsed = time.perf_counter() - start
    result = METER.snapshot() | {"seconds": elapsed, "returned": len(found)}
    result["exact"] = sorted(found) == sorted(corpus.relevant)
    result["box"], result["cursor"] = box, cursor
    return result


def quiet_sync(box: imap.ImapMailbox, cursor: str) -> dict[str, Any]:
    METER.reset()
    start = time.perf_counter()
    changes = box.changes(cursor)
    elapsed = time.perf_counter() - start
    assert changes.messages == ()
    return METER.snapshot() | {"seconds": elapsed}


def idle_delay(server: Dovecot, box: imap.ImapMailbox, cursor: str, n: int) -> tuple[float, float]:
    """(seconds from the APPEND to the wake-up, to the reply parsed), and the new cursor."""
    other = server.client()
    reply = (
        f"From: Person <p0@t000corp.example>\nTo: {USER}\nSubject: Re: idle {n}\n"
        f"Date: {email.utils.format_datetime(datetime.now(UTC))}\n"
        f"Message-ID: <idle{n}.{time.time_ns()}@bench.example>\n\nThanks!\n"
    ).encode()
    sent_at: list[float] = []

    def deliver() -> None:
        sent_at.append(time.perf_counter())
        other.append("INBOX", reply)

    timer = threading.Timer(0.5, deliver)
    timer.start()
    woke = box.wait_for_mail(30)
    woke_at = time.perf_counter()
    timer.join()
    other.logout()
    assert woke, "IDLE did not wake"
    changes = box.changes(cursor)
    logged_at = time.perf_counter()
    assert [m.subject for m in changes.messages] == [f"Re: idle {n}"]
    idle_delay.cursor = changes.cursor  # type: ignore[attr-defined]
    return woke_at - sent_at[0], logged_at - sent_at[0]


def naive(server: Dovecot, items: list[str], parse: bool = False) -> dict[str, Any]:
    """imapclient as a plain script uses it: every message's items, filter later
    (with `parse`, each answer is parsed by pursuit's own `parse`, as a connector
    without server-side search would have to before filtering)."""
    METER.reset()
    start = time.perf_counter()
    client = counted_client(server)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    fetched = 0
    for first in range(0, len(uids), 5000):  # Dovecot refuses command lines over 64 KB
        answers = client.fetch(uids[first : first + 5000], items)
        fetched += len(answers)
        if parse:
            for uid, data in answers.items():
                imap.parse(data, f"INBOX/1/{uid}", outgoing=False)
    client.logout()
    elapsed = time.perf_counter() - start
    return METER.snapshot() | {"seconds": elapsed, "returned": fetched}


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5, help="first syncs (the first is cold)")
    parser.add_argument("--idle-runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the figures as JSON here (run_all.py)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the bench runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.runs, args.idle_runs = 1000, 2, 2
    logging.basicConfig(level=logging.WARNING)
    imap.IMAPClient = CountingIMAPClient  # type: ignore[misc]  # the connector's client, counted

    print(f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    started = time.perf_counter()
    corpus = build_corpus(args.messages)
    size = sum(len(raw) for raw, _ in corpus.messages)
    print(
        f"corpus: {len(corpus.messages)} messages ({size / 1e6:.1f} MB), "
        f"{len(corpus.relevant)} relevant, built in {time.perf_counter() - started:.1f} s"
    )
    with Dovecot() as server:
        start = time.perf_counter()
        server.load("INBOX", corpus.messages)
        load = time.perf_counter() - start
        start = time.perf_counter()
        client = server.client()
        exists = client.select_folder("INBOX", readonly=True)[b"EXISTS"]
        client.logout()
        index = time.perf_counter() - start
        print(f"load: files written {load:.1f} s; first SELECT ({exists} messages) {index:.1f} s")
        sample = [raw for raw, _ in corpus.messages[:200]]
        client = server.client()
        client.create_folder("Archive")  # not read by the connector
        start = time.perf_counter()
        for raw in sample:
            client.append("Archive", raw)
        appends = time.perf_counter() - start
        client.logout()
        print(
            f"for comparison, {len(sample)} APPENDs on one connection: {appends:.1f} s, "
            f"{len(sample) / appends:.0f}/s ({len(corpus.messages) * appends / len(sample):.0f} s "
            f"for all {len(corpus.messages)})"
        )

        runs = [first_sync(server, corpus) for _ in range(args.runs)]
        for i, r in enumerate(runs):
            print(
                f"first sync {i + 1}{' (cold)' if i == 0 else ''}: {r['seconds']:.2f} s, "
                f"returned {r['returned']} exact={r['exact']}, {r['commands']} commands "
                f"({r['fetch_commands']} FETCH for {r['fetched_uids']} UIDs), "
                f"received {r['received'] / 1e3:.0f} kB, sent {r['sent'] / 1e3:.1f} kB; "
                f"{r['by_command']}; seconds {r['seconds_by_command']}"
            )
        warm = runs[1:] or runs
        print(f"first sync warm median: {median_of(warm, 'seconds'):.2f} s")
        box, cursor = runs[-1]["box"], runs[-1]["cursor"]
        for r in runs[:-1]:
            r["box"].close()

        box.changes(cursor)  # the connection open, as between two rounds
        quiet = [quiet_sync(box, cursor) for _ in range(20)]
        q = quiet[0]
        print(
            f"nothing new: {q['commands']} commands {q['by_command']}, "
            f"received {q['received']} B, sent {q['sent']} B; "
            f"median {median_of(quiet, 'seconds') * 1e3:.1f} ms of 20"
        )
        fresh = imap_mailbox(server)
        METER.reset()
        fresh.changes(cursor)
        print(f"nothing new on a new connection: {METER.snapshot()['by_command']}")
        fresh.close()

        delays = []
        for n in range(args.idle_runs):
            delays.append(idle_delay(server, box, cursor, n))
            cursor = idle_delay.cursor  # type: ignore[attr-defined]
        box.close()
        wake = [d[0] for d in delays]
        logged = [d[1] for d in delays]
        print(
            f"IDLE: wake-up after the APPEND median {statistics.median(wake) * 1e3:.0f} ms "
            f"(max {max(wake) * 1e3:.0f}), reply parsed median "
            f"{statistics.median(logged) * 1e3:.0f} ms (max {max(logged) * 1e3:.0f}) "
            f"of {len(delays)}"
        )

        ours = [imap._HEADERS_ITEM, imap._TEXT_ITEM, "INTERNALDATE"]
        naive_mb: dict[str, float] = {}
        for label, items, parse in (
            ("naive BODY.PEEK[HEADER]", ["BODY.PEEK[HEADER]"], False),
            ("naive, pursuit's items", ours, False),
            ("naive, pursuit's items, parsed", ours, True),
        ):
            peer = [naive(server, items, parse) for _ in range(3)]
            p = peer[0]
            naive_mb[label] = p["received"] / 1e6
            print(
                f"{label}: {p['returned']} messages, {p['fetch_commands']} FETCH, "
                f"received {p['received'] / 1e6:.1f} MB; median {median_of(peer, 'seconds'):.2f} s "
                f"of {len(peer)} ({', '.join(format(r['seconds'], '.2f') for r in peer)})"
            )
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        figures = {
            "bench": "imap",
            "messages in the folder": len(corpus.messages),
            "relevant": len(corpus.relevant),
            "first sync: messages fetched": runs[-1]["fetched_uids"],
            "first sync: exactly the relevant ones": all(r["exact"] for r in runs),
            "first sync: FETCH commands": runs[-1]["fetch_commands"],
            "first sync: kB received": round(runs[-1]["received"] / 1e3),
            "first sync warm median s": round(median_of(warm, "seconds"), 2),
            "nothing new: commands": q["commands"],
            "IDLE wake-up median ms": round(statistics.median(wake) * 1e3),
            "naive BODY.PEEK[HEADER] of all: MB received": round(
                naive_mb["naive BODY.PEEK[HEADER]"], 1
            ),
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
