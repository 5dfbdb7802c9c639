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
from pursuit.daemon.matcher import Directory, hiring_search_terms, match, verdict
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


def said(text: str, subject: str = "Your application") -> str | None:
    return verdict(message(person("jane@acme.example"), subject=subject, snippet=text))


@pytest.mark.parametrize(
    "text",
    [
        # English, as real rejections word it
        "After careful thought we've decided to move forward with other candidates.",
        "the hiring team has decided to move forward with other candidates who are more closely"
        " aligned with the role",
        "We have carefully considered your application against our hiring needs and are unable"
        " to move forward at this time.",
        "After completing our initial review, we’ve decided not to move forward with your"
        " application at this time.",
        "we regret to inform you that we will not be proceeding at this time",
        "We recently filled the role you originally applied to, so we won't be moving forward"
        " with your candidacy.",
        "We're sorry your application isn't progressing further",
        "we will not be moving forward with your application for now.",
        "At this time, we have decided to go in a different direction.",
        "we have determined that your skills and experience do not quite match the requirements"
        " for this particular role",
        "we have decided to extend an offer to another candidate whose experience more closely"
        " matches the role",
        "Unfortunately, you were not selected for the next round.",
        "The position has been filled.",
        "Your application is no longer under consideration.",
        # French
        "nous avons décidé de ne pas donner suite à votre candidature.",
        "nous ne pourrons pas donner une suite favorable à votre candidature.",
        "nous sommes au regret de vous informer que votre candidature n'a pas été retenue.",
        "Nous avons retenu un autre candidat dont le profil correspond davantage au poste.",
        "Le poste a été pourvu.",
        # German
        "Nach eingehender Prüfung müssen wir Ihnen leider mitteilen, dass wir Ihre Bewerbung für"
        " diese Position nicht weiterverfolgen können.",
        "dass wir deine Bewerbung im Auswahlverfahren nicht weiter berücksichtigen können.",
        "Wir haben uns dieses Mal für Bewerbende entschieden, deren Erfahrungen besser passen.",
        "Wir bedauern, den Bewerbungsprozess deshalb an dieser Stelle beenden zu müssen.",
        "Die Stelle wurde inzwischen anderweitig besetzt.",
        # Spanish
        "hemos decidido seguir adelante con otros candidatos en esta ocasión.",
        "lamentamos informarte que hemos decidido no continuar con tu candidatura.",
        "Tu candidatura no ha sido seleccionada para la siguiente fase.",
        "La vacante ya ha sido cubierta.",
    ],
)
def test_a_rejection_is_read_as_one_in_the_ways_real_ones_word_it(text: str) -> None:
    assert said(text) == "rejection"


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        (
            "I'm thrilled to confirm that we'd like to offer you the Site Reliability Engineer"
            " position at Hooli.",
            "Good news",
        ),
        ("We are pleased to extend an offer for the Network Engineer role.", "Good news"),
        ("Your offer letter is attached.", "Next steps"),
        ("Please find the details below.", "Your offer from Hooli"),
        ("nous avons le plaisir de vous proposer le poste d'Ingénieur réseau.", "Bonne nouvelle"),
        ("Vous trouverez ci-joint notre promesse d'embauche.", "Ingénieur réseau"),
        (
            "freuen wir uns sehr, dir die Stelle als Netzwerkingenieur (m/w/d) anbieten zu können.",
            "Gute Neuigkeiten",
        ),
        ("Im Anhang findest du unser Vertragsangebot.", "Netzwerkingenieur"),
        (
            "¡Enhorabuena! Nos complace ofrecerte el puesto de Ingeniero de Redes.",
            "Buenas noticias",
        ),
        ("Revisa y acepta tu carta de oferta antes del viernes.", "Meridian Bank"),
    ],
)
def test_an_offer_is_read_as_one(text: str, subject: str) -> None:
    assert said(text, subject) == "offer"


@pytest.mark.parametrize(
    "text",
    [
        # good news worded like bad news
        "I'm happy to share that we're moving forward with your application!",
        "We would like to move forward with a 30-minute phone interview.",
        "We are excited to move forward with your application.",
        # an interview moved, not a decision
        "Unfortunately, we have to move Thursday's interview: Raj is out sick this week.",
        "Unfortunately, we will need to reschedule our call to next week.",
        "vielen Dank für deine Zusage zum Vorstellungsgespräch. Leider müssen wir den Termin am"
        " Donnerstag verschieben.",
        "Leider können wir Ihnen noch keinen Termin mitteilen.",
        "Lamentablemente tenemos que aplazar la entrevista al lunes.",
        # what a confirmation supposes, it does not say
        "If you are not selected for an interview, your profile will remain in our talent"
        " community.",
        "Because of the number of applications we receive, we may not be able to reply to each"
        " one personally if we decide not to move forward.",
        "Should you not be selected for the next round, we'll let you know by email.",
        "Si votre profil ne correspond pas à nos besoins, nous vous en informerons par e-mail.",
        "Si votre candidature n'est pas retenue, nous conserverons votre CV.",
        "Falls wir Ihre Bewerbung nicht berücksichtigen können, erhalten Sie eine Nachricht.",
        "Si no has sido seleccionado en 30 días, tu candidatura seguirá en nuestra base de datos.",
        "Unvollständige Bewerbungen können nicht berücksichtigt werden.",
        "Die Stelle ist noch nicht besetzt.",
        # offers of an interview, and job postings called offers
        "We are pleased to offer you an interview for the Network Engineer role.",
        "We'd be happy to offer you a call to discuss the role.",
        "J'ai le plaisir de vous proposer un entretien avec notre directeur technique.",
        "Hemos recibido correctamente tu candidatura para la oferta de empleo Ingeniero de Redes.",
        "Vielen Dank für Ihre Bewerbung auf unser Stellenangebot.",
        "Thank you for applying to our job offer: Backend Developer.",
        "We offer competitive benefits and a remote-friendly culture.",
        # plain news
        "Thanks for your time today, we'd like to schedule a second interview.",
        "Nous vous remercions pour votre candidature au poste d'Ingénieur réseau.",
    ],
)
def test_what_only_looks_like_a_verdict_is_none(text: str) -> None:
    assert said(text) is None


def test_a_choice_for_the_user_is_no_rejection() -> None:
    assert said("Wir haben uns sehr gerne für Sie entschieden!") is None
    assert said("Wir haben uns für Ihre Bewerbung entschieden und laden Sie ein.") is None


@pytest.mark.parametrize("newest_first", [False, True])
def test_the_newest_verdict_flags_whatever_order_the_mailbox_gives(newest_first: bool) -> None:
    """Gmail's search lists the newest first, IMAP's the oldest: one role's rejection
    and, later, another role's offer flag the offer either way."""
    store = Store.open(":memory:")
    acme = store.add_organization("Acme Networks", ["acme.example"], now=NOW)
    rejection = message(
        person("acme@myworkday.com", "Acme Networks"),
        subject="Update on Your Acme Networks Application",
        snippet="We have carefully considered your application and are unable to move forward.",
        when=NOW - timedelta(days=10),
    )
    offer = message(
        person("jane@acme.example", "Jane Doe"),
        subject="Your offer from Acme Networks",
        snippet="We'd like to offer you the Network Architect position.",
        when=NOW - timedelta(days=2),
    )
    found = [offer, rejection] if newest_first else [rejection, offer]
    mailbox = MemoryMailbox(ME, *found, batch=1)  # each in a batch of its own
    sync_mail(store, mailbox, NOW, lookback=timedelta(days=30))
    flag = store.organization(acme.id).flag
    assert flag is not None and flag.startswith('possible offer: "Your offer from Acme Networks"')
