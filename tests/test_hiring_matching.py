"""Hiring-system mail in the matcher, one rule at a time (issue 19).

The whole corpus goes through every way in `test_hiring_mail.py`; here each rule it
asked for is held on its own, with the look-alikes it must not catch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.mail import ME, message, person

from pursuit.connectors.memory import MemoryMailbox
from pursuit.daemon.mail import sync_mail
from pursuit.daemon.matcher import Directory, hiring_search_terms, match
from pursuit.daemon.store import Store

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def directory() -> Directory:
    store = Store.open(":memory:")
    for name, domain in [
        ("Acme Networks", "acme.example"),
        ("Globex", "globex.example"),
        ("Umbrella Health", "umbrella-health.example"),
    ]:
        store.add_organization(name, [domain], now=NOW)
    return Directory.from_store(store, [ME])


def filed_under(directory: Directory, sender: str, name: str = "", subject: str = "") -> str | None:
    found = match(message(person(sender, name), subject=subject), directory)
    if found is None or found.organization_id is None:
        return None
    return directory.org_names[found.organization_id]


@pytest.mark.parametrize(
    "sender",
    [
        "elin.berg@acme.teamtailor-mail.com",  # Teamtailor
        "acme-jobs@m.personio.de",  # Personio
        "noreply@candidates.workablemail.com",  # Workable
        "notifications@app.bamboohr.com",  # BambooHR
        "recruiting+4411732-9c2e1f07@applytojob.com",  # JazzHR
        "no-reply@mail.recruitee.com",  # Recruitee
        "system@successfactors.com",  # SAP SuccessFactors
        "no-reply@ats.rippling.com",  # Rippling's hiring system
    ],
)
def test_the_hiring_systems_of_real_mail_are_known(directory: Directory, sender: str) -> None:
    assert filed_under(directory, sender, "", "Thanks for applying to Acme Networks") == (
        "Acme Networks"
    )


@pytest.mark.parametrize(
    "sender",
    [
        "payroll@rippling.com",  # Rippling's payroll, not its hiring system
        "news@teamtailor.com.example",  # a look-alike domain
        "hello@notpersonio.de",
    ],
)
def test_look_alikes_of_hiring_systems_are_not(directory: Directory, sender: str) -> None:
    assert filed_under(directory, sender, "", "Thanks for applying to Acme Networks") is None


@pytest.mark.parametrize(
    ("sender", "name", "organization"),
    [
        ("umbrellahealth@myworkday.com", "Workday", "Umbrella Health"),
        ("acme+email+lta-7c41e2d09b@talent.icims.com", "Marcus Hale", "Acme Networks"),
        ("acme-jobs@m.personio.de", "Recruiting Team", "Acme Networks"),
        ("elin.berg@acme.teamtailor-mail.com", "Elin Berg - Acme", "Acme Networks"),
        ("no-reply@globex.teamtailor-mail.com", "", "Globex"),
        ("nadia@globex.recruitee.com", "Nadia Okafor", "Globex"),
        # no tenant in the address: nothing but the name or subject would say
        ("acme@greenhouse.io", "Greenhouse", None),
        ("noreply@myworkday.com", "Workday", None),
        ("no-reply@mail.recruitee.com", "", None),
        ("jobs@m.personio.de", "HR", None),
        # a tenant is the whole name, never a part of one
        ("acmex@myworkday.com", "Workday", None),
        ("globexcorp-jobs@m.personio.de", "HR", None),
    ],
)
def test_an_organization_is_known_by_its_account_with_the_hiring_system(
    directory: Directory, sender: str, name: str, organization: str | None
) -> None:
    assert filed_under(directory, sender, name, "Thank you for your application") == organization


def test_a_tenant_two_organizations_could_be_is_neither() -> None:
    store = Store.open(":memory:")
    store.add_organization("Acme", ["acme-robotics.example"], now=NOW)
    store.add_organization("Acme Networks", ["acme.example"], now=NOW)
    directory = Directory.from_store(store, [ME])
    assert filed_under(directory, "acme@myworkday.com", "Workday", "Thank you") is None
    assert filed_under(directory, "acmenetworks@myworkday.com", "Workday", "Thank you") == (
        "Acme Networks"
    )


def test_the_search_looks_for_the_tenant_names_too() -> None:
    assert hiring_search_terms("Umbrella Health", ["umbrella-health.example"]) == [
        "Umbrella Health",
        "umbrellahealth",
    ]
    assert hiring_search_terms("Acme Networks", ["acme.example", "acme.co.uk"]) == [
        "Acme Networks",
        "acmenetworks",
        "acme",
    ]
    assert hiring_search_terms("Globex", ["globex.example"]) == ["Globex"]


def test_a_first_sync_finds_mail_naming_its_organization_by_tenant_alone() -> None:
    store = Store.open(":memory:")
    umbrella = store.add_organization("Umbrella Health", ["umbrella-health.example"], now=NOW)
    received = message(
        person("umbrellahealth@myworkday.com", "Workday"),
        subject="Vielen Dank für Ihre Bewerbung",
        when=NOW - timedelta(days=3),
    )
    elsewhere = message(
        person("initech@myworkday.com", "Workday"),
        subject="Thank you for your application!",
        when=NOW - timedelta(days=2),
    )
    mailbox = MemoryMailbox(ME, received, elsewhere)
    assert sync_mail(store, mailbox, NOW, lookback=timedelta(days=30)) == 1
    [logged] = store.correspondence()
    assert (logged.message_id, logged.organization_id) == (received.message_id, umbrella.id)
