"""Internationalised domains: an organization tracked as münchen.de is the one mail from
xn--mnchen-3ya.de is about, and the reverse; mail servers are searched in the ASCII form.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.cli import Pursuit
from support.google_emulator import GoogleEmulator
from support.mail import message, person

from pursuit.connectors.base import Address, MailMessage
from pursuit.connectors.gmail import build_queries
from pursuit.connectors.imap import _concerns, _criteria
from pursuit.daemon.matcher import Directory, domain_of, match, normalize
from pursuit.daemon.store import Store

UNICODE = "münchen.de"
ASCII = "xn--mnchen-3ya.de"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ME = "me@example.test"


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.open(":memory:")
    yield opened
    opened.close()


def test_both_forms_compare_equal() -> None:
    assert normalize(f"Jane@{UNICODE}") == normalize(f"jane@{ASCII}")
    assert domain_of(f"jane@{UNICODE}") == domain_of(f"jane@{ASCII.upper()}") == ASCII
    assert normalize("not-an-address") == "@not-an-address"  # never raises


@pytest.mark.parametrize(("tracked", "mailed"), [(UNICODE, ASCII), (ASCII, UNICODE)])
def test_mail_in_either_form_is_about_the_organization(
    store: Store, tracked: str, mailed: str
) -> None:
    org = store.add_organization("Stadtwerke", [tracked], [], now=NOW)
    directory = Directory.from_store(store)

    found = match(message(person(f"jane@{mailed}", "Jane")), directory)

    assert found is not None
    assert found.organization_id == org.id and found.reason == "domain"
    assert [a.email for a in found.new_contacts] == [f"jane@{mailed}"]


@pytest.mark.parametrize(("stored", "mailed"), [(UNICODE, ASCII), (ASCII, UNICODE)])
def test_a_known_contact_is_known_in_either_form(store: Store, stored: str, mailed: str) -> None:
    org = store.add_organization("Stadtwerke", [], [], now=NOW)  # no domain: by person only
    contact = store.ensure_contact(f"jane@{stored}", "Jane", org.id)
    directory = Directory.from_store(store)

    found = match(message(person(f"jane@{mailed}", "Jane")), directory)

    assert found is not None and found.contact_ids == (contact.id,)
    assert found.organization_id == org.id and found.new_contacts == ()


def test_the_users_own_address_in_the_other_form_is_not_a_counterpart(store: Store) -> None:
    store.add_organization("Stadtwerke", [UNICODE], [], now=NOW)
    directory = Directory.from_store(store, [f"me@{UNICODE}"])
    sent = message(
        person(f"me@{ASCII}"), [person(f"jane@{ASCII}")], outgoing=True, subject="Thanks"
    )
    found = match(sent, directory)
    assert found is not None and found.people == (f"jane@{ASCII}",)


def test_gmail_and_imap_searches_use_the_ascii_form() -> None:
    since = NOW - timedelta(days=30)
    [query] = build_queries([f"jane@{UNICODE}"], [UNICODE], since)
    assert f"from:jane@{ASCII}" in query and f"from:{ASCII}" in query
    assert UNICODE not in query
    criteria = _criteria([ASCII], since)
    assert ASCII in criteria and all(str(c).isascii() for c in criteria)


def test_imap_keeps_found_mail_in_either_form() -> None:
    def mail(sender: str) -> MailMessage:
        return message(Address("Jane", sender), [person(ME)])

    assert _concerns(mail(f"jane@{UNICODE}"), [], [ASCII])
    assert _concerns(mail(f"jane@{ASCII}"), [], [ASCII])
    assert _concerns(mail(f"jane@{UNICODE}"), [f"jane@{ASCII}"], [])
    assert not _concerns(mail("jane@munchen.de"), [f"jane@{ASCII}"], [ASCII])


# --- through the command line, against the Google emulator


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as emulator:
        yield emulator


def google_user(tmp_path: Path, emu: GoogleEmulator, domain: str) -> Pursuit:
    token = tmp_path / "token" / "google.json"
    token.parent.mkdir(mode=0o700)
    emu.write_authorized_user_file(str(token))
    config = (
        "[feeds]\nnews_search = false\n"
        f'[google]\ncredentials_file = "{token}"\n'
        f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        f'[[organization]]\nname = "Stadtwerke"\ndomains = ["{domain}"]\n'
    )
    return Pursuit(tmp_path, config=config)


def deliver(emu: GoogleEmulator, sender: str, subject: str, when: datetime) -> None:
    emu.add_message(
        f"From: Jane Roth <{sender}>\r\nTo: {ME}\r\nSubject: {subject}\r\n"
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@test>\r\n\r\nHallo\r\n",
        internal_date=when,
    )


def logged(p: Pursuit) -> list[tuple[str, str]]:
    return sorted((m["subject"], m["organization"]) for m in p.export()["correspondence"])


def test_the_first_sync_finds_mail_in_the_ascii_form_of_a_unicode_domain(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = google_user(tmp_path, emu, UNICODE)
    deliver(emu, f"jane@{ASCII}", "Ihr Gespraech", datetime.now(UTC) - timedelta(days=2))

    p.ok("run", "--once")

    assert logged(p) == [("Ihr Gespraech", "Stadtwerke")]
    queries = [q for c in emu.calls for q in c.query.get("q", []) if "cc:" in q]
    assert queries and all(f"from:{ASCII}" in q and UNICODE not in q for q in queries)


def test_later_mail_in_the_unicode_form_of_an_ascii_domain_is_logged(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    p = google_user(tmp_path, emu, ASCII)
    p.ok("run", "--once")  # the first sync: nothing yet
    deliver(emu, f"jane@{UNICODE}", "Termin", datetime.now(UTC))

    p.ok("run", "--once")

    assert logged(p) == [("Termin", "Stadtwerke")]


@pytest.mark.parametrize(("tracked", "typed"), [(UNICODE, ASCII), (ASCII, UNICODE)])
def test_an_organization_is_found_by_its_domain_in_either_form(
    store: Store, tracked: str, typed: str
) -> None:
    org = store.add_organization("Stadtwerke", [tracked], [], now=NOW)
    assert store.find_organization(typed).id == org.id


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\n", "\u202e"])
def test_a_typed_name_on_two_lines_is_refused(separator: str) -> None:
    """A line or paragraph separator breaks a name over lines as a newline does."""
    from pursuit.daemon.addresses import parse_person
    from pursuit.daemon.errors import UserError

    with pytest.raises(UserError, match=r"contains control characters \(U\+"):
        parse_person(f"Jane{separator}Doe <jane@acme.com>")
