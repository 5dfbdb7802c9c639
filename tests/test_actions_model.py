"""The model fits a real job search: people at several organizations, notes as a log,
interviews with nobody named yet, and interviews at closed organizations.

The use cases as plain functions on a real store (the command line is in
test_cli_model.py).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pursuit.config.settings import Settings
from pursuit.connectors.base import Address, MailMessage
from pursuit.daemon import actions, views
from pursuit.daemon.errors import UserError
from pursuit.daemon.jobs import plan
from pursuit.daemon.mail import store_messages
from pursuit.daemon.matcher import Directory, match
from pursuit.daemon.models import Channel, Direction, DutyKind, DutyState, NoteKind, OrgStatus
from pursuit.daemon.store import MIGRATIONS, Store

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)
RITA = "Rita Recruiter <rita@agency.example>"
ME = "sam@gmail.com"


def two_organizations(store: Store) -> None:
    actions.add_organization(store, "Acme Networks", ["acme.com"], [], now=NOW)
    actions.add_organization(store, "Globex", ["globex.com"], [], now=NOW)


def rita_at_both(store: Store, settings: Settings) -> tuple[int, int]:
    """An agency recruiter who interviews you for Acme, then for Globex."""
    two_organizations(store)
    acme = actions.add_interview(
        store, settings, NOW, "acme", start="2026-12-01 14:00", people=[RITA]
    )
    globex = actions.add_interview(
        store, settings, NOW, "globex", start="2026-12-03 10:00", people=[RITA]
    )
    return acme.id, globex.id


def pending(store: Store, kind: DutyKind) -> list[tuple[str, int | None]]:
    orgs = {o.id: o.name for o in store.organizations()}
    return sorted(
        (orgs[d.organization_id], d.contact_id)
        for d in store.duties(state=DutyState.PENDING, kinds=(kind,))
    )


def mail(sender: str, subject: str, *, to: str = ME, when: datetime = NOW) -> MailMessage:
    name, _, address = sender.partition(" <")
    return MailMessage(
        source_id=f"s-{subject}",
        message_id=f"<{abs(hash((sender, subject)))}@test>",
        thread=None,
        date=when,
        sender=Address(name, address.rstrip(">")) if address else Address("", sender),
        to=(Address("", to),),
        cc=(),
        reply_to=(),
        subject=subject,
        snippet="",
        outgoing=False,
        headers=(),
    )


# --- a person at several organizations


def test_a_recruiter_at_two_organizations_keeps_both_follow_ups(
    store: Store, settings: Settings
) -> None:
    rita_at_both(store, settings)
    rita = store.find_contact("rita@agency.example")
    assert sorted(store.organization(o).name for o in rita.organization_ids) == [
        "Acme Networks",
        "Globex",
    ]
    assert pending(store, DutyKind.FOLLOW_UP) == [("Acme Networks", rita.id), ("Globex", rita.id)]
    assert pending(store, DutyKind.THANK_YOU) == [("Acme Networks", rita.id), ("Globex", rita.id)]


def test_forgetting_one_organization_keeps_the_shared_recruiter_and_her_records_elsewhere(
    store: Store, settings: Settings
) -> None:
    acme_interview, _ = rita_at_both(store, settings)
    rita = store.find_contact("rita@agency.example")
    for org, subject in (("Acme Networks", "Acme next steps"), ("Globex", "Globex next steps")):
        store.log_correspondence(
            message_id=f"<{subject}>",
            direction=Direction.IN,
            when=NOW,
            channel=Channel.EMAIL,
            organization_id=store.find_organization(org).id,
            contact_ids=[rita.id],
            subject=subject,
        )
    actions.forget(store, settings, NOW, store.find_organization("Globex"))

    kept = store.find_contact("rita@agency.example")
    assert [store.organization(o).name for o in kept.organization_ids] == ["Acme Networks"]
    assert [i.id for i in store.interviews()] == [acme_interview]
    assert [m.subject for m in store.correspondence(contact_id=kept.id)] == ["Acme next steps"]
    assert pending(store, DutyKind.FOLLOW_UP) == [("Acme Networks", kept.id)]

    # Left with no organization and nothing recorded, she goes with the last one.
    actions.forget(store, settings, NOW, store.find_organization("Acme Networks"))
    assert store.contacts() == []


def test_forgetting_an_organization_keeps_what_a_person_has_elsewhere(
    store: Store, settings: Settings
) -> None:
    two_organizations(store)
    actions.add_organization(store, "Initech", [], [], now=NOW)
    actions.add_contact(store, NOW, "Bob <bob@gmail.com>", organization="initech")
    actions.add_contact(store, NOW, "Jane <jane@gmail.com>", organization="acme")
    actions.add_contact(store, NOW, "jane@gmail.com", organization="globex")
    actions.note(store, settings, NOW, "jane", "met at the meetup", organization="acme")
    actions.note(store, settings, NOW, "jane", "knows the Globex CTO", organization="globex")
    with pytest.raises(UserError, match="Jane is not at Initech"):
        actions.note(store, settings, NOW, "jane", "x", organization="initech")
    actions.forget(store, settings, NOW, store.find_organization("globex"))
    actions.forget(store, settings, NOW, store.find_organization("initech"))
    [jane] = store.contacts()  # Bob had nothing recorded: he went with Initech
    assert [n.text for n in store.notes(contact=jane.id)] == ["met at the meetup"]


def test_forgetting_a_contact_removes_them_everywhere(store: Store, settings: Settings) -> None:
    rita_at_both(store, settings)
    actions.forget(store, settings, NOW, store.find_contact("rita@agency.example"))
    assert store.contacts() == []
    assert [o.name for o in store.organizations()] == ["Acme Networks", "Globex"]
    # both interviews stay, each followed up with the organization itself
    assert pending(store, DutyKind.FOLLOW_UP) == [("Acme Networks", None), ("Globex", None)]


def test_mail_goes_to_the_organization_it_is_about(store: Store, settings: Settings) -> None:
    rita_at_both(store, settings)
    acme = store.find_organization("acme").id
    globex = store.find_organization("globex").id
    directory = Directory.from_store(store, [ME])

    named = match(mail(RITA, "Acme Networks: your onsite"), directory)
    assert named is not None
    assert (named.organization_id, named.reason) == (acme, "named in the subject")

    # Not named: the organization of her latest interview (Globex, on 3 Dec).
    latest = match(mail(RITA, "Quick question"), directory)
    assert latest is not None
    assert (latest.organization_id, latest.reason) == (
        globex,
        "their latest interview or message",
    )

    # A domain of an organization decides, whoever else is on the message.
    copied = mail(RITA, "Quick question", to="sam@gmail.com")
    copied = MailMessage(**{**copied.__dict__, "cc": (Address("Jane", "jane@acme.com"),)})
    found = match(copied, directory)
    assert found is not None and (found.organization_id, found.reason) == (acme, "domain")


def test_mail_from_a_known_person_at_one_organization_is_filed_there(
    store: Store, settings: Settings
) -> None:
    two_organizations(store)
    actions.add_contact(store, NOW, "Jane <jane.doe@gmail.com>", organization="globex")
    logged = store_messages(store, [mail("Jane <jane.doe@gmail.com>", "hello")], ME, NOW)
    assert logged == 1
    [message] = store.correspondence()
    assert message.organization_id == store.find_organization("globex").id


def test_a_hiring_manager_who_changes_company(store: Store, settings: Settings) -> None:
    two_organizations(store)
    actions.add_interview(
        store, settings, NOW, "acme", start="2026-12-01 14:00", people=["Jane <jane@acme.com>"]
    )
    added = actions.add_contact(store, NOW, "jane@acme.com", organization="globex")
    assert (added.created, added.linked) == (False, True)
    actions.add_address(store, "jane@acme.com", "jane@globex.com")
    directory = Directory.from_store(store, [ME])
    found = match(mail("Jane <jane@globex.com>", "Hello from my new job"), directory)
    assert found is not None
    assert found.organization_id == store.find_organization("globex").id
    assert found.contact_ids == (store.find_contact("jane@acme.com").id,)


def test_a_database_from_before_is_migrated_with_its_people_and_notes(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        db.executescript(script)
    db.executescript(
        "INSERT INTO organizations (id, name, status_changed) VALUES (1, 'Acme', "
        "'2026-11-01T00:00:00+00:00');"
        "INSERT INTO contacts (id, organization_id, name, role) VALUES (7, 1, 'Jane', 'recruiter');"
        "INSERT INTO addresses VALUES ('jane@acme.com', 7);"
        "INSERT INTO interviews (id, organization_id, start, end) VALUES (3, 1, "
        "'2026-11-20T13:00:00+00:00', '2026-11-20T14:00:00+00:00');"
        "INSERT INTO interviewers (interview_id, contact_id, note) VALUES (3, 7, 'liked BGP');"
        "PRAGMA user_version = 4;"
    )
    db.close()
    store = Store.open(path)
    try:
        jane = store.find_contact("jane@acme.com")
        assert jane.organization_ids == (1,) and jane.role_at(1) == "recruiter"
        assert store.interview(3).interviewers[0].notes == ("liked BGP",)
        # the old column's cascade is gone: forgetting Acme no longer takes a person
        # who has a record of their own elsewhere
        store.add_note(NoteKind.NOTE, "kept", now=NOW, contact_id=7)
        store.forget_organization(1)
        assert [c.name for c in store.contacts()] == ["Jane"]
    finally:
        store.close()


# --- notes are a log


def test_a_second_note_adds_and_both_reach_the_thank_you_and_the_follow_up(
    store: Store, settings: Settings
) -> None:
    actions.add_organization(store, "Acme Networks", ["acme.com"], [], now=NOW)
    actions.add_interview(
        store, settings, NOW, "acme", start="2026-12-01 14:00", people=["Jane <jane@acme.com>"]
    )
    actions.note(store, settings, NOW, "jane@acme.com", "liked my BGP story")
    actions.note(store, settings, NOW + timedelta(minutes=1), "jane", "asked about Rust")
    [person] = store.interviews()[0].interviewers
    assert person.notes == ("liked my BGP story", "asked about Rust")  # newest last
    assert person.note == "liked my BGP story and asked about Rust"  # the draft's sentence
    plan(store, settings, "ics", NOW)
    follow_up = next(e for e in store.all_events() if e.key.startswith("follow_up"))
    assert "Your notes: liked my BGP story\nYour notes: asked about Rust" in (follow_up.description)
    thank_you = next(e for e in store.all_events() if e.key.startswith("thank_you"))
    assert "You noted: liked my BGP story\n  You noted: asked about Rust" in (thank_you.description)


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_an_empty_note_is_refused(store: Store, settings: Settings, empty: str) -> None:
    actions.add_organization(store, "Acme", ["acme.com"], [], now=NOW)
    actions.add_interview(
        store, settings, NOW, "acme", start="2026-12-01 14:00", people=["j@acme.com"]
    )
    with pytest.raises(UserError, match="the note is empty"):
        actions.note(store, settings, NOW, "j@acme.com", empty)
    assert store.notes() == []


def test_notes_promises_and_status_changes_are_in_history_and_org_show(
    store: Store, settings: Settings
) -> None:
    actions.add_organization(store, "Acme", ["acme.com"], [], now=NOW)
    actions.add_interview(
        store, settings, NOW, "acme", start="2026-12-01 14:00", people=["j@acme.com"]
    )
    actions.note(store, settings, NOW, "j@acme.com", "liked BGP")
    actions.commit(store, settings, NOW, "j@acme.com", on_day="2026-12-04")
    actions.set_status(store, settings, NOW + timedelta(days=9), "acme", "rejected")
    org = store.find_organization("acme")
    texts = {(e["type"], e["text"]) for e in views.history(store, org, PARIS)["entries"]}
    assert {
        ("note", "liked BGP"),
        ("promise", "follow up on 2026-12-04"),
        ("status", "rejected on 09 Dec 2026"),
    } <= texts
    shown = views.render_organization(views.organization_detail(store, org, PARIS, NOW))
    assert "status   rejected on 09 Dec 2026" in shown
    assert "note     liked BGP  [j@acme.com]" in shown


def test_org_add_on_a_tracked_organization_adds_positions_never_replaces(
    store: Store,
) -> None:
    actions.add_organization(store, "Acme", ["acme.com"], ["Network Engineer"], now=NOW)
    again = actions.add_organization(store, "acme", [], ["SRE", "Network Engineer"], now=NOW)
    assert again.existed and again.new_positions == ("SRE",)
    assert again.organization.positions == ("Network Engineer", "SRE")
    nothing = actions.add_organization(store, "Acme", ["acme.com"], [], now=NOW)
    assert nothing.existed and nothing.new_positions == () and nothing.new_domains == ()
    # a prefix of a tracked name is another organization
    other = actions.add_organization(store, "Ac", [], [], now=NOW)
    assert not other.existed


# --- interviews with nobody named, people added and removed


def test_an_interview_with_nobody_named_is_followed_up_with_the_organization(
    store: Store, settings: Settings
) -> None:
    actions.add_organization(store, "Acme Networks", ["acme.com"], [], now=NOW)
    added = actions.add_interview(store, settings, NOW, "acme", start="2026-12-01 14:00")
    assert pending(store, DutyKind.FOLLOW_UP) == [("Acme Networks", None)]
    plan(store, settings, "ics", NOW)
    assert [e.summary for e in store.all_events()] == [
        "Prepare: interview at Acme Networks, tomorrow 14:00",
        "Follow up with Acme Networks",
    ]

    jane = actions.add_person_to_interview(store, settings, NOW, added.id, "Jane <jane@acme.com>")
    assert pending(store, DutyKind.FOLLOW_UP) == [("Acme Networks", jane.id)]
    assert pending(store, DutyKind.THANK_YOU) == [("Acme Networks", jane.id)]
    with pytest.raises(UserError, match="already in interview"):
        actions.add_person_to_interview(store, settings, NOW, added.id, "jane@acme.com")

    actions.remove_person_from_interview(store, settings, NOW, added.id, "jane@acme.com")
    assert pending(store, DutyKind.FOLLOW_UP) == [("Acme Networks", None)]
    assert pending(store, DutyKind.THANK_YOU) == []
    with pytest.raises(UserError, match="not in interview"):
        actions.remove_person_from_interview(store, settings, NOW, added.id, "jane@acme.com")


def test_contacts_added_renamed_and_given_addresses_without_an_interview(
    store: Store,
) -> None:
    two_organizations(store)
    added = actions.add_contact(
        store, NOW, "Jane Doe <Jane@Acme.com>", organization="acme", role="recruiter"
    )
    assert added.created and added.contact.role_at(added.contact.organization_ids[0]) == (
        "recruiter"
    )
    again = actions.add_contact(store, NOW, "jane@acme.com", organization="acme")
    assert (again.created, again.linked) == (False, False)
    old, renamed = actions.rename_contact(store, "jane@acme.com", "Jane Q. Doe")
    assert (old, renamed.name) == ("Jane Doe", "Jane Q. Doe")
    with_two = actions.add_address(store, "Jane Q. Doe", "jane.doe@gmail.com")
    assert with_two.addresses == ("jane.doe@gmail.com", "jane@acme.com")
    actions.add_contact(store, NOW, "raj@acme.com")
    with pytest.raises(UserError, match="already belongs to"):
        actions.add_address(store, "jane@acme.com", "raj@acme.com")
    for bad in ("", "  ", "Jane\nDoe"):
        with pytest.raises(UserError):
            actions.rename_contact(store, "jane@acme.com", bad)
    with pytest.raises(UserError):
        actions.add_contact(store, NOW, "not an address")
    detail = views.contact_detail(store, store.find_contact("jane@acme.com"), PARIS, NOW)
    assert [o["name"] for o in detail["organizations"]] == ["Acme Networks"]
    assert detail["addresses"] == ["jane.doe@gmail.com", "jane@acme.com"]


# --- interviews at closed organizations


def test_an_interview_after_a_rejection_makes_the_organization_active_again(
    store: Store, settings: Settings
) -> None:
    actions.add_organization(store, "Acme", ["acme.com"], [], now=NOW)
    actions.set_status(store, settings, NOW, "acme", "rejected")
    assert pending(store, DutyKind.CHECK_IN) == [("Acme", None)]
    added = actions.add_interview(
        store, settings, NOW, "acme", start="2026-12-10 14:00", people=["j@acme.com"]
    )
    assert added.organization.status == OrgStatus.ACTIVE
    assert added.notice is not None and "active again" in added.notice
    assert "pursuit org status Acme rejected" in added.notice
    assert pending(store, DutyKind.FOLLOW_UP) != [] and pending(store, DutyKind.CHECK_IN) == []


def test_an_interview_at_an_offer_says_why_nothing_is_planned(
    store: Store, settings: Settings
) -> None:
    actions.add_organization(store, "Acme Networks", ["acme.com"], [], now=NOW)
    actions.set_status(store, settings, NOW, "acme", "offer")
    added = actions.add_interview(
        store, settings, NOW, "acme", start="2026-12-10 14:00", people=["j@acme.com"]
    )
    assert added.organization.status == OrgStatus.OFFER
    assert added.notice is not None
    assert "no thank-you or follow-up is planned" in added.notice
    assert 'pursuit org status "Acme Networks" active' in added.notice
    assert store.duties(state=DutyState.PENDING) == []


def test_an_interview_from_before_a_rejection_is_a_record_only(
    store: Store, settings: Settings
) -> None:
    actions.add_organization(store, "Acme", ["acme.com"], [], now=NOW)
    actions.set_status(store, settings, NOW, "acme", "rejected")
    added = actions.add_interview(
        store, settings, NOW, "acme", start="2026-11-20 14:00", people=["j@acme.com"]
    )
    assert added.organization.status == OrgStatus.REJECTED
    assert added.notice is not None and "pursuit org status Acme active" in added.notice
    assert pending(store, DutyKind.FOLLOW_UP) == []


def test_the_thank_you_draft_holds_no_note_and_the_latest_line_given(
    store: Store, settings: Settings
) -> None:
    from email import message_from_bytes, policy

    from pursuit.daemon.drafts import TARGET, load_template, queue_drafts
    from pursuit.daemon.outbox import decode_draft

    actions.add_organization(store, "Acme Networks", ["acme.com"], [], now=NOW)
    actions.add_interview(
        store, settings, NOW, "acme", start="2026-11-30 10:00", people=["Jane <jane@acme.com>"]
    )
    actions.note(store, settings, NOW, "jane@acme.com", "unconvinced about my salary ask")
    actions.thank_you_line(store, settings, NOW, "jane@acme.com", "Your BGP story stayed.")
    line = actions.thank_you_line(
        store, settings, NOW, "jane@acme.com", "I enjoyed hearing about your BGP migration."
    )
    assert line.replaced == "Your BGP story stayed."
    later = NOW + timedelta(hours=3)
    assert queue_drafts(store, load_template(None), later, from_address=ME, your_name="Sam") == 1
    [entry] = store.pending_outbox(TARGET)
    draft = message_from_bytes(decode_draft(entry.payload), policy=policy.default)
    body = draft.get_body()
    assert body is not None
    lines = body.get_content().splitlines()
    assert "I enjoyed hearing about your BGP migration." in lines  # a line of its own
    assert not any("salary" in x or "BGP story stayed" in x for x in lines)
