"""`pursuit audit`: the mailbox against the correspondence log over the look-back, by
Message-ID and sender (issue 20). One sync engine in this field lost 41% of incoming
mail unnoticed until someone compared like this.

A message lost from the store, and one the sync never stored (its cursor moved past
it), are named with their sender and date, and `--fix` logs them as a sync would; a
clean log reports no gap. Through the Gmail emulator and a real Dovecot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.cli import Pursuit
from support.dovecot import PASSWORD, USER, Dovecot
from support.google_emulator import GoogleEmulator
from support.mail import raw_mail

pytestmark = pytest.mark.reliability

ME = "me@example.test"
BASE = (
    '[feeds]\nnews_search = false\n[drafts]\nyour_name = "Alex Martin"\n'
    '[[organization]]\nname = "Acme Networks"\ndomains = ["acme.com"]\n'
)
WHEN = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
MAILS = [
    raw_mail("Jane <jane@acme.com>", ME, "Your interview", WHEN, "1@acme.com"),
    raw_mail("Raj <raj@acme.com>", ME, "Next steps", WHEN + timedelta(hours=1), "2@acme.com"),
    raw_mail(f"Me <{ME}>", "Jane <jane@acme.com>", "Thanks", WHEN + timedelta(hours=2), "3@me"),
    raw_mail("Shop <deals@shop.example>", ME, "Deals", WHEN, "4@shop"),  # nobody tracked
]


def forget(p: Pursuit, message_id: str) -> None:
    """The store loses one record (what a broken sync engine does unseen)."""
    with sqlite3.connect(p.database) as db:
        assert db.execute("DELETE FROM correspondence WHERE message_id = ?", (message_id,)).rowcount


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


def test_gmail_a_message_lost_from_the_log_is_named_and_fixed(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    for raw in MAILS:
        emu.add_message(raw, label_ids=("SENT",) if "Thanks" in raw else ("INBOX",))
    p = Pursuit(
        tmp_path,
        config=BASE + emu.signed_in(tmp_path),
    )
    p.ok("run", "--once")
    clean = p.ok("audit")
    assert "3 concern someone tracked, 3 of them in the log" in clean
    assert "Nothing missing." in clean
    forget(p, "<2@acme.com>")
    gap = p.run("audit")
    assert gap.code == 1, gap
    assert "Not in the log (1):" in gap.out
    assert "raj@acme.com  <2@acme.com>  Next steps" in gap.out
    sent = (WHEN + timedelta(hours=1)).astimezone(ZoneInfo(p.timezone))
    assert f"{sent:%Y-%m-%d %H:%M}  raj@acme.com" in gap.out
    assert "`pursuit audit --fix`" in gap.out
    doctor = p.run("doctor", "--no-probe", "--audit")
    assert doctor.code == 1
    assert f"mail audit: not in the log: {sent:%Y-%m-%d %H:%M} from raj@acme.com <2@acme.com>" in (
        doctor.out
    )
    assert "2 of 3 in the log; 1 missing" in doctor.out
    assert "-> `pursuit audit --fix` logs them" in doctor.out
    [missing] = json.loads(p.run("audit", "--json").out)["missing"]
    assert (missing["message_id"], missing["from"]) == ("<2@acme.com>", "raj@acme.com")
    assert "Logged 1 of them" in p.ok("audit", "--fix")
    assert "Nothing missing." in p.ok("audit")
    assert "3 of 3 in the log" in p.ok("doctor", "--no-probe", "--audit")
    assert sorted(m["subject"] for m in p.export()["correspondence"]) == [
        "Next steps",
        "Thanks",
        "Your interview",
    ]


def test_imap_a_message_the_sync_never_stored_is_named(tmp_path: Path) -> None:
    with Dovecot() as dovecot:
        for raw in MAILS:
            dovecot.append("Sent" if "Thanks" in raw else "INBOX", raw.encode())
        p = Pursuit(
            tmp_path,
            config=BASE + f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
            f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\naddress = "{ME}"\n',
        )
        p.ok("run", "--once")
        assert "Nothing missing." in p.ok("audit")
        late = raw_mail("Raj <raj@acme.com>", ME, "One more thing", WHEN, "5@acme.com")
        dovecot.append("INBOX", late.encode())
        with sqlite3.connect(p.database) as db:  # the engine moves past it without storing it
            [value] = db.execute("SELECT value FROM cursors WHERE source = 'imap'").fetchone()
            cursor = json.loads(value)
            cursor["folders"]["INBOX"]["uid"] += 1
            db.execute("UPDATE cursors SET value = ? WHERE source = 'imap'", (json.dumps(cursor),))
        p.ok("run", "--once")
        assert "One more thing" not in [m["subject"] for m in p.export()["correspondence"]]
        gap = p.run("audit")
        assert gap.code == 1, gap
        assert "raj@acme.com  <5@acme.com>  One more thing" in gap.out
        p.ok("audit", "--fix")
        assert "One more thing" in [m["subject"] for m in p.export()["correspondence"]]
