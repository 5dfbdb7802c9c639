"""Hiring-system mail in the matcher, one rule at a time (issue 19).

The whole corpus goes through every way in `test_hiring_mail.py`; here each rule it
asked for is held on its own, with the look-alikes it must not catch.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support.mail import ME, message, person

from pursuit.daemon.matcher import Directory, match
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
