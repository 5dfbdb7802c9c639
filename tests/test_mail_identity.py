"""A stranger's mail that reuses a real message's Message-ID, read in the same sync
as the real one: the real message keeps its record whichever the mailbox lists first,
as it does when the stranger's arrives in a later sync (issue 20).

Through the Gmail emulator (its search lists newest received first) and a real
Dovecot (UID order), `pursuit run --once` as the user runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.cli import Pursuit
from support.dovecot import PASSWORD, USER, Dovecot
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail

pytestmark = pytest.mark.reliability

ME = "me@example.test"
ORGANIZATION = (
    '[feeds]\nnews_search = false\n[drafts]\nyour_name = "Alex Martin"\n'
    '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
)


def gmail_user(root: Path, emu: GoogleEmulator) -> Pursuit:
    return Pursuit(
        root,
        config=ORGANIZATION + emu.signed_in(root),
    )


def imap_user(root: Path, dovecot: Dovecot) -> Pursuit:
    return Pursuit(
        root,
        config=ORGANIZATION
        + f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
        f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\naddress = "{ME}"\n',
    )


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


#: The real message, and a stranger's an hour later borrowing its Message-ID.
SENT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
REAL = raw_mail("Jane <jane@acme.com>", ME, "The real one", SENT, "same@acme.com")
IMPOSTOR = raw_mail(
    "Mallory <mallory@acme.com>", ME, "Impostor", SENT + timedelta(hours=1), "same@acme.com"
)
EXPECTED = [("Impostor", "<same@acme.com>#2"), ("The real one", "<same@acme.com>")]


def logged(p: Pursuit) -> list[tuple[str, str]]:
    return sorted((m["subject"], m["message_id"]) for m in p.export()["correspondence"])


@pytest.mark.parametrize("impostor_listed_first", [True, False])
def test_gmail_one_sync_keeps_the_real_record_whichever_comes_first(
    tmp_path: Path, emu: GoogleEmulator, impostor_listed_first: bool
) -> None:
    # Gmail lists the newest received first: the receipt times set which it hands over first
    early, late = SENT + timedelta(hours=2), SENT + timedelta(hours=3)
    emu.add_message(REAL, internal_date=early if impostor_listed_first else late)
    emu.add_message(IMPOSTOR, internal_date=late if impostor_listed_first else early)
    p = gmail_user(tmp_path, emu)
    p.ok("run", "--once")
    assert logged(p) == EXPECTED
    emu.expire_history()  # a resync from scratch changes nothing
    p.ok("run", "--once")
    assert logged(p) == EXPECTED


@pytest.mark.parametrize("impostor_listed_first", [True, False])
def test_imap_one_sync_keeps_the_real_record_whichever_comes_first(
    tmp_path: Path, impostor_listed_first: bool
) -> None:
    with Dovecot() as dovecot:
        # Dovecot lists in UID order, the order of arrival
        for raw in (IMPOSTOR, REAL) if impostor_listed_first else (REAL, IMPOSTOR):
            dovecot.append("INBOX", raw.encode())
        p = imap_user(tmp_path, dovecot)
        p.ok("run", "--once")
        assert logged(p) == EXPECTED


def test_imap_a_later_sync_keeps_the_real_record_too(tmp_path: Path) -> None:
    with Dovecot() as dovecot:
        dovecot.append("INBOX", REAL.encode())
        p = imap_user(tmp_path, dovecot)
        p.ok("run", "--once")
        dovecot.append("INBOX", IMPOSTOR.encode())
        p.ok("run", "--once")
        assert logged(p) == EXPECTED
