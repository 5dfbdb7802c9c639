"""Issue 19: hiring-system mail means one thing, whichever way it arrives.

The corpus in tests/fixtures/hiring_mail/ (its README names the real structure each
message follows) is application confirmations, interview scheduling, rejections and
offers from the hiring systems (Greenhouse, Lever, Workday, Ashby, SmartRecruiters,
iCIMS, Teamtailor, Personio, Workable, BambooHR, JazzHR, Recruitee) and from
recruiters on the company's own domain, in English, French, German and Spanish,
with the phrasings that look like a verdict and are not one ("we're moving forward
with your application", "unfortunately, we have to move your interview", "pleased
to offer you an interview", "la oferta de empleo").

It goes three ways, each in two waves (a first sync, then the changes since):
through the core in process (a memory mailbox of the messages as the IMAP
connector parses them), through a real Dovecot and `pursuit run --once`, and
through the Gmail emulator (the real client libraries) and `pursuit run --once`.
Every way must log the same records (organization, contacts, people, direction)
and flag the same organizations, and those must be the expected ones; each
message read back through each connector must be filed and judged the same.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit
from support.dovecot import PASSWORD, USER, Dovecot
from support.google_emulator import GoogleEmulator
from support.mail_input import fetch_answer

from pursuit.connectors import imap
from pursuit.connectors.base import MailMessage
from pursuit.connectors.gmail import GmailMailbox
from pursuit.connectors.imap import ImapMailbox
from pursuit.connectors.memory import MemoryMailbox
from pursuit.daemon.export import export_data
from pursuit.daemon.mail import sync_mail
from pursuit.daemon.matcher import Directory, match, verdict
from pursuit.daemon.store import Store

CORPUS = Path(__file__).parent / "fixtures" / "hiring_mail"
ME = "sam.seeker@example.test"
PARIS = ZoneInfo("Europe/Paris")
#: The organizations the user tracks, by name, with their own mail domain.
ORGANIZATIONS = {
    "Northwind Labs": "northwind.example",
    "Globex": "globex.example",
    "Initech": "initech.example",
    "Umbrella Health": "umbrella-health.example",
    "Meridian Bank": "meridian.example",
    "Hooli": "hooli.example",
    "Lumen Conseil": "lumen-conseil.example",
    "Vandelay Industries": "vandelay.example",
    "Soylent": "soylent.example",
    "Kestrel Systems": "kestrel.example",
    "Wavelength": "wavelength.example",
    "Brightline": "brightline.example",
    "Pinecrest": "pinecrest.example",
    "Tidewater Analytics": "tidewater.example",
    "Orbital Freight": "orbitalfreight.example",
}
DANA = "dana.whitfield@northwind.example"
PRIYA = "priya.raman@globex.example"
JORDAN = "jordan.kim@hooli.example"
CLAIRE = "claire.dubois@lumen-conseil.example"
MARCUS = "marcus.hale@soylent.example"
JONAS = "jonas.weber@wavelength.example"
ROWAN = "rowan.pierce@pinecrest.example"


@dataclass(frozen=True)
class Expected:
    organization: str
    contacts: tuple[str, ...] = ()
    verdict: str | None = None
    direction: str = "in"


#: What each message of the corpus means; None: it concerns no tracked organization.
EXPECTED: dict[str, Expected | None] = {
    "greenhouse-received": Expected("Northwind Labs"),
    "greenhouse-interview-from-recruiter": Expected("Northwind Labs", (DANA,)),
    "sent-reply-to-northwind": Expected("Northwind Labs", (DANA,), direction="out"),
    "greenhouse-reschedule-from-recruiter": Expected("Northwind Labs", (DANA,)),
    "greenhouse-rejection": Expected("Northwind Labs", (DANA,), "rejection"),
    "lever-received": Expected("Globex"),
    "lever-next-steps-from-recruiter": Expected("Globex", (PRIYA,)),
    "lever-rejection": Expected("Globex", (), "rejection"),
    "lever-untracked-organization": None,
    "workday-received": Expected("Initech"),
    "workday-rejection-other-role": Expected("Initech", (), "rejection"),
    "workday-rejection": Expected("Initech", (), "rejection"),
    "workday-received-de": Expected("Umbrella Health"),
    "workday-rejection-de": Expected("Umbrella Health", (), "rejection"),
    "workday-received-es": Expected("Meridian Bank"),
    "workday-offer-es": Expected("Meridian Bank", (), "offer"),
    "ashby-received": Expected("Hooli"),
    "ashby-interview-scheduled": Expected("Hooli", (JORDAN,)),
    "ashby-offer-from-recruiter": Expected("Hooli", (JORDAN,), "offer"),
    "ashby-received-fr": Expected("Lumen Conseil"),
    "interview-invitation-fr": Expected("Lumen Conseil", (CLAIRE,)),
    "offer-fr": Expected("Lumen Conseil", (CLAIRE,), "offer"),
    "smartrecruiters-received-es": Expected("Vandelay Industries"),
    "smartrecruiters-rejection-es": Expected("Vandelay Industries", (), "rejection"),
    "icims-interview-from-recruiter": Expected("Soylent", (MARCUS,)),
    "icims-rejection": Expected("Soylent", (), "rejection"),
    "teamtailor-received": Expected("Kestrel Systems"),
    "teamtailor-rejection": Expected("Kestrel Systems", (), "rejection"),
    "personio-received-de": Expected("Wavelength"),
    "reschedule-de": Expected("Wavelength", (JONAS,)),
    "offer-de": Expected("Wavelength", (JONAS,), "offer"),
    "sent-reply-to-offer-de": Expected("Wavelength", (JONAS,), direction="out"),
    "workable-received": Expected("Brightline"),
    "workable-rejection-fr": Expected("Brightline", (), "rejection"),
    "interview-invitation-en": Expected("Pinecrest", (ROWAN,)),
    "bamboohr-rejection": Expected("Pinecrest", (), "rejection"),
    "jazzhr-received": None,  # the organization is named in the text only
    "jazzhr-rejection": Expected("Tidewater Analytics", (), "rejection"),
    "recruitee-received": Expected("Orbital Freight"),
    "recruitee-interview-de": Expected("Orbital Freight"),
    "recruitee-rejection-de": Expected("Orbital Freight", (), "rejection"),
}
#: Mail up to this day of the corpus arrives before the first sync, the rest after it.
FIRST_WAVE_UNTIL = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass(frozen=True)
class Letter:
    name: str
    raw: bytes  # with its Date moved to the recent past
    date: datetime
    message_id: str
    outgoing: bool
    first_wave: bool


def corpus() -> list[Letter]:
    """The corpus in date order, moved in time so that its newest message is a day old
    (every sync looks back that far); the days between messages are kept."""
    found = []
    for path in sorted(CORPUS.glob("*.eml")):
        raw = path.read_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        date = email.utils.parsedate_to_datetime(parsed["Date"])
        sender = email.utils.parseaddr(parsed["From"])[1].lower()
        found.append((path.stem, raw, date, str(parsed["Message-ID"]), sender == ME))
    assert {name for name, *_ in found} == set(EXPECTED), "each fixture has its expectation"
    shift = datetime.now(UTC) - timedelta(days=1) - max(date for _, _, date, *_ in found)
    letters = []
    for name, raw, date, message_id, outgoing in sorted(found, key=lambda f: f[2]):
        moved = date + shift
        header = b"Date: " + email.utils.format_datetime(moved).encode()
        raw = re.sub(rb"(?m)^Date:[^\r\n]*", header, raw, count=1)
        letters.append(Letter(name, raw, moved, message_id, outgoing, date < FIRST_WAVE_UNTIL))
    return letters


LETTERS = corpus()


# ------------------------------------------------------------------ the three ways


def config(mail_section: str) -> str:
    organizations = "".join(
        f'[[organization]]\nname = "{name}"\ndomains = ["{domain}"]\n'
        for name, domain in ORGANIZATIONS.items()
    )
    return f"[feeds]\nnews_search = false\n{mail_section}\n{organizations}"


def run_once(p: Pursuit) -> None:
    result = p.run("run", "--once")
    assert result.code == 0 and "Traceback" not in result.err + result.out, str(result)


@dataclass
class Ways:
    """What each way logged (`pursuit export` and `status`), and each connector's reading
    of every message (by file name)."""

    exports: dict[str, dict[str, Any]]
    statuses: dict[str, dict[str, Any]]
    read: dict[str, dict[str, MailMessage]]


def in_process(root: Path) -> tuple[dict[str, Any], dict[str, MailMessage]]:
    """The core alone: a memory mailbox of the messages as the IMAP connector parses
    them, synced in the same two waves."""
    parsed = {
        letter.name: imap.parse(
            fetch_answer(letter.raw, letter.date), f"memory/{n}", letter.outgoing
        )
        for n, letter in enumerate(LETTERS)
    }
    store = Store.open(root / "core.sqlite3")
    now = datetime.now(UTC)
    for name, domain in ORGANIZATIONS.items():
        store.add_organization(name, [domain], now=now)
    mailbox = MemoryMailbox(ME, *(parsed[x.name] for x in LETTERS if x.first_wave), batch=50)
    sync_mail(store, mailbox, now, lookback=timedelta(days=180))
    mailbox.deliver(*(parsed[x.name] for x in LETTERS if not x.first_wave))
    sync_mail(store, mailbox, now, lookback=timedelta(days=180))
    data = export_data(store, PARIS, now)
    store.close()
    return data, parsed


@pytest.fixture(scope="module")
def ways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ways]:
    root = tmp_path_factory.mktemp("hiring-mail")
    with Dovecot() as dovecot, GoogleEmulator(user_email=ME) as emu:
        imap_box = ImapMailbox(
            "127.0.0.1",
            dovecot.port,
            security="none",
            username=USER,
            password=lambda: PASSWORD,
            address=ME,
        )
        token = root / "token" / "google.json"
        token.parent.mkdir(mode=0o700)
        emu.write_authorized_user_file(str(token))
        gmail_box = GmailMailbox(emu.credentials(), None, api_endpoint=emu.base_url)
        imap_cursor, gmail_cursor = imap_box.profile()[1], gmail_box.profile()[1]
        on_imap = Pursuit(
            root / "imap",
            config=config(
                f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
                f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\n'
                f'address = "{ME}"\n'
            ),
        )
        on_gmail = Pursuit(
            root / "gmail",
            config=config(
                f'[google]\ncredentials_file = "{token}"\n'
                f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
            ),
        )
        for wave in (True, False):
            for letter in LETTERS:
                if letter.first_wave != wave:
                    continue
                dovecot.append("Sent" if letter.outgoing else "INBOX", letter.raw, when=letter.date)
                emu.add_message(
                    letter.raw,
                    label_ids=("SENT",) if letter.outgoing else ("INBOX",),
                    internal_date=letter.date,
                )
            run_once(on_imap)
            run_once(on_gmail)
        by_id = {letter.message_id: letter.name for letter in LETTERS}
        read = {
            way: {by_id[m.message_id]: m for m in box.changes(cursor).messages}
            for way, box, cursor in (
                ("imap", imap_box, imap_cursor),
                ("gmail", gmail_box, gmail_cursor),
            )
        }
        core, parsed = in_process(root)
        read["core"] = parsed
        yield Ways(
            exports={"core": core, "imap": on_imap.export(), "gmail": on_gmail.export()},
            statuses={"imap": on_imap.status(), "gmail": on_gmail.status()},
            read=read,
        )


# ------------------------------------------------------------------ what they must give


def logged(export: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Each logged message (by file name): organization, contacts, direction, people,
    subject, date."""
    names = {letter.message_id: letter.name for letter in LETTERS}
    return {
        names[m["message_id"]]: (
            m["organization"],
            tuple(sorted(m["contacts"])),
            m["direction"],
            tuple(m["people"]),
            m["subject"],
            m["date"],
        )
        for m in export["correspondence"]
    }


def flags(export: dict[str, Any]) -> dict[str, str | None]:
    return {o["name"]: o["flag"] for o in export["organizations"]}


def people(export: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {c["email"]: (c["name"], tuple(c["organizations"])) for c in export["contacts"]}


def test_every_way_logs_the_same_records(ways: Ways) -> None:
    core = ways.exports["core"]
    for way in ("imap", "gmail"):
        export = ways.exports[way]
        assert logged(export) == logged(core), way
        assert people(export) == people(core), way
        assert flags(export) == flags(core), way
        status = {o["name"]: o["flag"] for o in ways.statuses[way]["organizations"]}
        assert status == flags(core), way


def test_the_records_are_the_expected_ones(ways: Ways) -> None:
    records = logged(ways.exports["core"])
    assert set(records) == {name for name, e in EXPECTED.items() if e is not None}
    for name, (organization, contacts, direction, *_) in records.items():
        expected = EXPECTED[name]
        assert expected is not None
        assert (organization, contacts, direction) == (
            expected.organization,
            tuple(sorted(expected.contacts)),
            expected.direction,
        ), name


def test_each_organization_is_flagged_by_its_verdict(ways: Ways) -> None:
    subjects = {
        letter.name: email.message_from_bytes(letter.raw, policy=email.policy.default)["Subject"]
        for letter in LETTERS
    }
    last: dict[str, tuple[str, str]] = {}  # organization -> (verdict, subject), newest last
    for letter in LETTERS:
        expected = EXPECTED[letter.name]
        if expected is not None and expected.verdict:
            last[expected.organization] = (expected.verdict, subjects[letter.name])
    for name, flag in flags(ways.exports["core"]).items():
        if name not in last:
            assert flag is None, name
            continue
        said, subject = last[name]
        assert flag is not None and flag.startswith(f'possible {said}: "{subject}"'), (name, flag)


@pytest.mark.parametrize("way", ["core", "imap", "gmail"])
def test_each_message_read_by_each_connector_means_what_it_says(ways: Ways, way: str) -> None:
    store = Store.open(":memory:")
    now = datetime.now(UTC)
    names = {}
    for name, domain in ORGANIZATIONS.items():
        names[store.add_organization(name, [domain], now=now).id] = name
    directory = Directory.from_store(store, [ME])
    read = ways.read[way]
    assert set(read) == set(EXPECTED), way
    wrong = []
    for name, expected in EXPECTED.items():
        message = read[name]
        found = match(message, directory)
        said = verdict(message) if found is not None and not message.outgoing else None
        got = (
            None
            if found is None or found.organization_id is None
            else (names[found.organization_id], said)
        )
        want = None if expected is None else (expected.organization, expected.verdict)
        if got != want:
            wrong.append(f"{name}: {got} instead of {want}")
    assert not wrong, "\n".join(wrong)
