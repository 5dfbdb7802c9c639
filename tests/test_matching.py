"""The correspondence log, interviews from the calendar and thank-you drafts.

Everything runs against the in-memory Mailbox, CalendarReader and DraftBox of
`connectors/memory.py`: no network, no Google.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.app import Clock
from support.events import add_week
from support.mail import AFTER, ME, MONDAY_2PM, PARIS, message, person

from pursuit.connectors.base import (
    Address,
    Attendee,
    CalendarEntry,
    MailMessage,
)
from pursuit.connectors.ics import IcsCalendar
from pursuit.connectors.memory import MemoryCalendarReader, MemoryDraftBox, MemoryMailbox
from pursuit.daemon.app import App
from pursuit.daemon.drafts import load_template, push_drafts, queue_drafts, render_draft
from pursuit.daemon.errors import SourceError, UserError
from pursuit.daemon.interviews import sync_interviews
from pursuit.daemon.jobs import plan, push_events
from pursuit.daemon.mail import store_messages, sync_mail
from pursuit.daemon.matcher import Directory, is_bulk, match, normalize, verdict
from pursuit.daemon.models import Duty, DutyKind, NoteKind, OrgStatus
from pursuit.daemon.store import Store

LOOKBACK = timedelta(days=180)


# --- helpers


def sent(
    *to: Address,
    subject: str = "Thank you",
    snippet: str = "",
    when: datetime = AFTER,
    cc: Sequence[Address] = (),
) -> MailMessage:
    me = person(ME, "Sam Seeker")
    return message(me, to, cc=cc, subject=subject, snippet=snippet, when=when, outgoing=True)


def add_acme(store: Store, now: datetime) -> int:
    org = store.add_organization("Acme Networks", ["acme.com"], ["Network Engineer"], now=now)
    store.ensure_contact("jane@acme.com", "Jane Doe", org.id)
    store.ensure_contact("raj@acme.com", "Raj Patel", org.id)
    return org.id


def rows(store: Store, table: str) -> int:
    return store.counts()[table]


def contact_addresses(store: Store) -> set[str]:
    return {a for c in store.contacts() for a in c.addresses}


def log_one(app: App, msg: MailMessage) -> int:
    return store_messages(app.store, [msg], ME, app.now())


def duty_of(store: Store, kind: str, address: str) -> Duty:
    contact = store.contact_by_address(address)
    assert contact is not None
    [duty] = store.duties(kinds=(DutyKind(kind),), contact=contact.id)
    return duty


# --- faults the in-memory connectors do not have


class FailingMailbox(MemoryMailbox):
    """A mailbox whose search fails with a 503 after `fail_after_batches` batches."""

    fail_after_batches: int | None = None

    def search(
        self,
        *,
        addresses: Sequence[str],
        domains: Sequence[str],
        since: datetime,
        progress: Callable[[int, int], None] | None = None,
        known: Collection[str] = (),
        organizations: Sequence[str] = (),
        hiring_systems: Sequence[str] = (),
    ) -> Iterator[list[MailMessage]]:
        batches = super().search(addresses=addresses, domains=domains, since=since)
        for number, batch in enumerate(batches):
            if self.fail_after_batches is not None and number >= self.fail_after_batches:
                raise SourceError("gmail", "503 backend error")
            yield batch


class Killed(BaseException):
    """Stands for the process dying: nothing catches it."""


class FlakyDraftBox(MemoryDraftBox):
    """A draft box that may be down, or whose process dies right after a draft is made."""

    def __init__(self, die_after_creates: int | None = None) -> None:
        super().__init__()
        self.creates = 0
        self.die_after_creates = die_after_creates
        self.down: SourceError | None = None

    def create_draft(self, raw: bytes, key: str) -> str:
        if self.down is not None:
            raise self.down
        draft_id = super().create_draft(raw, key)
        self.creates += 1
        if self.die_after_creates is not None and self.creates >= self.die_after_creates:
            self.die_after_creates = None
            raise Killed  # the draft exists, the outbox never hears of it
        return draft_id


# --- matching


def test_normalize() -> None:
    assert normalize(" Jane@ACME.com ") == "jane@acme.com"
    assert normalize("Priya.K+jobs@GMAIL.com") == "priyak@gmail.com"
    assert normalize("priyak@googlemail.com") == "priyak@gmail.com"
    # dots and tags only fold for Gmail
    assert normalize("jane.doe+x@acme.com") == "jane.doe+x@acme.com"


def test_an_exact_address_matches_case_insensitively(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    sam = store.ensure_contact("Sam@Headhunters.example", "Sam Hunt", org)
    assert log_one(app, message(person("SAM@headhunters.EXAMPLE", "Sam Hunt"))) == 1
    [logged] = store.correspondence()
    assert logged.organization_id == org
    assert logged.contact_ids == (sam.id,)
    assert logged.direction == "in"


def test_a_gmail_address_matches_whatever_its_dots_and_tag(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    priya = store.ensure_contact("priya.k@gmail.com", "Priya K", org)
    log_one(app, message(person("PriyaK+acme@gmail.com", "Priya")))
    log_one(app, message(person("priya.k@googlemail.com", "Priya")))
    assert [c.contact_ids for c in store.correspondence()] == [(priya.id,), (priya.id,)]
    assert {c.organization_id for c in store.correspondence()} == {org}
    assert not store.contact_by_address("priyak+acme@gmail.com")


def test_an_organization_domain_matches_with_its_subdomains(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    log_one(app, message(person("ops@mail.acme.com", "Olga Ops")))
    [logged] = store.correspondence()
    assert logged.organization_id == org
    olga = store.contact_by_address("ops@mail.acme.com")
    assert olga is not None and olga.organization_id == org and olga.name == "Olga Ops"
    assert logged.contact_ids == (olga.id,)
    # a look-alike domain is not a subdomain
    assert log_one(app, message(person("eve@notacme.com", "Eve"))) == 0
    assert rows(store, "correspondence") == 1


def test_a_free_mail_domain_never_identifies_an_organization(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    store.add_organization("Gmail Lovers", ["gmail.com"], now=app.now())  # a user's mistake
    before = contact_addresses(store)
    assert log_one(app, message(person("stranger@gmail.com", "A Stranger"))) == 0
    assert log_one(app, sent(person("someone@outlook.com", "Someone"))) == 0
    assert rows(store, "correspondence") == 0
    assert contact_addresses(store) == before


def test_hiring_systems_are_matched_to_the_organization_they_name(app: App) -> None:
    store = app.store
    acme = add_acme(store, app.now())
    globex = store.add_organization("Globex", ["globex.io"], now=app.now()).id
    before = contact_addresses(store)
    by_name = message(
        person("no-reply@greenhouse-mail.io", "Acme Networks Hiring"), subject="Next steps"
    )
    by_subject = message(
        person("no-reply@hire.lever.co", "Lever"), subject="Your application to Acme Networks"
    )
    other = message(
        person("noreply@myworkday.com", "Workday"), subject="Thanks for applying: Globex"
    )
    nobody = message(person("no-reply@greenhouse-mail.io", "Initech Hiring"), subject="Hi")
    assert store_messages(store, [by_name, by_subject, other, nobody], ME, app.now()) == 3
    orgs = {c.message_id: c.organization_id for c in store.correspondence()}
    assert orgs == {by_name.message_id: acme, by_subject.message_id: acme, other.message_id: globex}
    assert all(c.contact_ids == () for c in store.correspondence())
    assert contact_addresses(store) == before


def test_a_hiring_system_domain_alone_matches_nothing(app: App) -> None:
    add_acme(app.store, app.now())
    greenhouse = message(person("acme@greenhouse.io", "Greenhouse"), subject="Weekly digest")
    assert log_one(app, greenhouse) == 0


@pytest.mark.parametrize(
    "header",
    [
        ("list-unsubscribe", "<mailto:unsubscribe@acme.com>"),
        ("list-id", "Acme news <news.acme.com>"),
        ("precedence", "bulk"),
        ("precedence", "List"),
        ("auto-submitted", "auto-generated"),
    ],
)
def test_bulk_mail_is_logged_but_never_makes_a_contact(app: App, header: tuple[str, str]) -> None:
    store = app.store
    org = add_acme(store, app.now())
    before = contact_addresses(store)
    newsletter = message(person("news@acme.com", "Acme News"), headers=[header])
    assert is_bulk(newsletter)
    assert log_one(app, newsletter) == 1
    [logged] = store.correspondence()
    assert logged.organization_id == org
    assert logged.contact_ids == ()
    assert contact_addresses(store) == before


def test_mail_that_is_not_bulk() -> None:
    assert not is_bulk(message(person("jane@acme.com")))
    assert not is_bulk(message(person("jane@acme.com"), headers=[("auto-submitted", "no")]))
    assert not is_bulk(message(person("jane@acme.com"), headers=[("precedence", "first-class")]))


def test_a_new_person_at_a_tracked_domain_becomes_a_contact(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    log_one(app, message(person("lena.park@acme.com", "Lena Park"), subject="Scheduling"))
    lena = store.contact_by_address("lena.park@acme.com")
    assert lena is not None
    assert (lena.name, lena.organization_id) == ("Lena Park", org)
    [logged] = store.correspondence()
    assert logged.contact_ids == (lena.id,)
    assert logged.people == ("lena.park@acme.com",)


def test_a_newcomer_writing_twice_in_one_batch_is_one_contact(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    lena = person("Lena.Park@acme.com", "Lena Park")
    batch = [message(lena, subject="Scheduling"), message(lena, subject="Rescheduling")]
    assert store_messages(store, batch, ME, app.now()) == 2
    [contact] = [c for c in store.contacts() if c.name == "Lena Park"]
    assert [m.contact_ids for m in store.correspondence()] == [(contact.id,), (contact.id,)]


def test_an_introduction_to_you_and_a_contact_is_logged_with_the_contact(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    intro = message(
        person("friend@gmail.com", "A Friend"),
        to=[person(ME, "Sam Seeker"), person("Jane@Acme.com", "Jane Doe")],
        subject="Jane, meet Sam",
    )
    log_one(app, intro)
    jane = store.contact_by_address("jane@acme.com")
    assert jane is not None
    [logged] = store.correspondence()
    assert (logged.direction, logged.organization_id) == ("in", org)
    assert logged.contact_ids == (jane.id,)
    assert logged.people == ("friend@gmail.com", "jane@acme.com")


def test_several_recipients_cc_and_reply_to(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    jane = store.contact_by_address("jane@acme.com")
    raj = store.contact_by_address("raj@acme.com")
    assert jane is not None and raj is not None
    # sent to two people, one of them new, with a Cc
    out = sent(
        person("jane@acme.com", "Jane Doe"),
        person("lena@acme.com", "Lena Park"),
        cc=[person("raj@acme.com", "Raj Patel"), person("friend@gmail.com", "Friend")],
    )
    # a scheduling robot writes, replies go to Jane
    robot = message(
        person("notifications@calendly.com", "Jane Doe via Calendly"),
        reply_to=[person("jane@acme.com", "Jane Doe")],
        subject="Invitation: interview",
    )
    # a stranger writes, copying Raj
    copied = message(
        person("stranger@gmail.com", "A Stranger"), cc=[person("raj@acme.com", "Raj Patel")]
    )
    assert store_messages(store, [out, robot, copied], ME, app.now()) == 3
    lena = store.contact_by_address("lena@acme.com")
    assert lena is not None and lena.name == "Lena Park"
    logged = {c.message_id: c for c in store.correspondence()}
    assert set(logged[out.message_id].contact_ids) == {jane.id, lena.id, raj.id}
    assert logged[out.message_id].direction == "out"
    assert set(logged[out.message_id].people) == {
        "jane@acme.com",
        "lena@acme.com",
        "raj@acme.com",
        "friend@gmail.com",
    }
    assert logged[robot.message_id].contact_ids == (jane.id,)
    assert logged[copied.message_id].contact_ids == (raj.id,)
    assert {c.organization_id for c in logged.values()} == {org}
    assert store.contact_by_address("friend@gmail.com") is None
    assert store.contact_by_address("stranger@gmail.com") is None
    assert store.contact_by_address("notifications@calendly.com") is None


def test_a_new_person_belongs_to_the_organization_of_their_own_domain(app: App) -> None:
    store = app.store
    acme = add_acme(store, app.now())
    globex = store.add_organization("Globex", ["globex.io"], now=app.now()).id
    log_one(app, sent(person("jane@acme.com", "Jane Doe"), person("hr@globex.io", "Gloria")))
    gloria = store.contact_by_address("hr@globex.io")
    assert gloria is not None
    assert gloria.organization_id == globex
    [logged] = store.correspondence()
    assert logged.organization_id == acme


def test_the_user_is_never_a_counterpart(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    me_again = person("Sam.Seeker+jobs@gmail.com", "Sam Seeker")
    out = sent(person("jane@acme.com", "Jane Doe"), cc=[me_again])
    inbound = message(person("jane@acme.com", "Jane Doe"), cc=[me_again])
    to_myself = sent(person(ME, "Sam Seeker"), subject="notes on Acme Networks")
    assert store_messages(store, [out, inbound, to_myself], ME, app.now()) == 2
    for logged in store.correspondence():
        assert logged.people == ("jane@acme.com",)
    assert store.contact_by_address(ME) is None
    directory = Directory.from_store(store, [ME])
    assert match(to_myself, directory) is None


def test_mail_that_matches_nothing_is_not_stored(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    before = contact_addresses(store)
    noise = [
        message(person("deals@shop.example", "Shop"), headers=[("list-id", "deals")]),
        message(person("mum@gmail.com", "Mum"), subject="Sunday lunch"),
        sent(person("friend@yahoo.com", "Friend"), subject="Re: Sunday"),
        message(None, subject="no sender at all"),
    ]
    assert store_messages(store, noise, ME, app.now()) == 0
    assert rows(store, "correspondence") == 0
    assert rows(store, "correspondence_contacts") == 0
    assert contact_addresses(store) == before


# --- each message logged once


def test_the_same_batch_twice_is_logged_once(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    batch = [message(person("jane@acme.com")), sent(person("raj@acme.com"))]
    assert store_messages(store, batch, ME, app.now()) == 2
    assert store_messages(store, batch, ME, app.now()) == 0
    assert rows(store, "correspondence") == 2
    assert rows(store, "correspondence_contacts") == 2


def test_a_first_sync_then_an_incremental_one(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    box = MemoryMailbox(
        ME,
        message(person("jane@acme.com"), when=app.now() - timedelta(days=3)),
        message(person("mum@gmail.com"), when=app.now() - timedelta(days=2)),
        message(person("raj@acme.com"), when=app.now() - timedelta(days=400)),  # too old
    )
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 1
    assert box.searches == [(("jane@acme.com", "raj@acme.com"), ("acme.com",))]
    assert store.cursor("memory") == "3"
    assert store.account_address("memory") == ME
    box.deliver(message(person("raj@acme.com")), message(person("mum@gmail.com")))
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 1
    assert box.changes_calls == ["3"]
    assert len(box.searches) == 1
    assert store.cursor("memory") == "5"
    assert rows(store, "correspondence") == 2


def test_an_expired_cursor_resyncs_without_duplicates(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    box = MemoryMailbox(ME, message(person("jane@acme.com")), sent(person("raj@acme.com")))
    sync_mail(store, box, app.now(), lookback=LOOKBACK)
    box.deliver(message(person("raj@acme.com")), message(person("lena@acme.com", "Lena")))
    box.expire_cursors()
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 2
    assert box.changes_calls == ["2"]
    assert len(box.searches) == 2  # the full search again, re-delivering everything
    assert rows(store, "correspondence") == 4
    assert len({c.message_id for c in store.correspondence()}) == 4
    assert store.cursor("memory") == "4"
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 0
    assert rows(store, "correspondence") == 4


def test_the_cursor_is_saved_only_after_the_messages(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    box = FailingMailbox(ME, *(message(person("jane@acme.com")) for _ in range(5)), batch=2)
    box.fail_after_batches = 1
    with pytest.raises(SourceError):
        sync_mail(store, box, app.now(), lookback=LOOKBACK)
    assert rows(store, "correspondence") == 2  # the first batch is kept
    assert store.cursor("memory") is None  # but the cursor is not saved
    box.fail_after_batches = None
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 3
    assert rows(store, "correspondence") == 5
    assert store.cursor("memory") == "5"


def test_a_new_contact_or_domain_gets_its_past_mail(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    last_month = app.now() - timedelta(days=30)
    from_priya = message(person("priya.k@gmail.com", "Priya"), when=last_month)
    from_globex = message(person("hr@globex.io", "Globex HR"), when=last_month)
    box = MemoryMailbox(ME, message(person("jane@acme.com")), from_priya, from_globex)
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 1
    store.ensure_contact("priya.k@gmail.com", "Priya K", org)
    globex = store.add_organization("Globex", ["globex.io"], now=app.now())
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 2
    assert box.searches[1:] == [(("priya.k@gmail.com",), ("globex.io",))]
    assert box.changes_calls == ["3"]
    assert {c.organization_id for c in store.correspondence()} == {org, globex.id}
    # and only once
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 0
    assert len(box.searches) == 2


def test_nothing_new_costs_one_call(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    # the first sync meets a new person at Acme, who becomes a contact
    box = MemoryMailbox(
        ME, message(person("jane@acme.com")), message(person("lena@acme.com", "Lena"))
    )
    sync_mail(store, box, app.now(), lookback=LOOKBACK)
    assert store.contact_by_address("lena@acme.com") is not None
    box.searches.clear()
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 0
    assert box.changes_calls == ["2"]
    assert box.searches == []
    # a new person met during an incremental sync costs nothing either
    box.deliver(message(person("omar@mail.acme.com", "Omar")))
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 1
    assert sync_mail(store, box, app.now(), lookback=LOOKBACK) == 0
    assert box.changes_calls == ["2", "2", "3"]
    assert box.searches == []


# --- duties fulfilled by sent mail


def send_and_plan(app: App, *messages: MailMessage) -> None:
    """Log sent mail, then plan: planning is where sent mail fulfils duties."""
    store_messages(app.store, messages, ME, app.now())
    plan(app.store, app.settings, "ics", app.now())


def test_a_sent_mail_after_the_interview_fulfils_that_persons_duties(app: App) -> None:
    store = app.store
    add_week(app)
    plan(store, app.settings, "ics", app.now())
    jane = person("jane@acme.com", "Jane Doe")
    first = sent(jane, subject="Thank you for today")
    send_and_plan(app, first)
    thanks = duty_of(store, "thank_you", "jane@acme.com")
    assert thanks.state == "done"
    assert thanks.done_at == AFTER
    assert thanks.evidence is not None and "Thank you for today" in thanks.evidence
    assert duty_of(store, "thank_you", "raj@acme.com").state == "pending"
    assert duty_of(store, "follow_up", "jane@acme.com").state == "pending"
    # planning again does not spend the same message twice
    plan(store, app.settings, "ics", app.now())
    assert duty_of(store, "follow_up", "jane@acme.com").state == "pending"
    send_and_plan(app, sent(jane, subject="Following up", when=AFTER + timedelta(days=6)))
    follow_up = duty_of(store, "follow_up", "jane@acme.com")
    assert follow_up.state == "done"
    assert follow_up.evidence is not None and "Following up" in follow_up.evidence
    assert duty_of(store, "thank_you", "raj@acme.com").state == "pending"
    assert duty_of(store, "follow_up", "raj@acme.com").state == "pending"


def test_sent_mail_logged_before_the_duties_exist_still_counts(app: App) -> None:
    store = app.store
    add_week(app)
    store_messages(store, [sent(person("jane@acme.com", "Jane Doe"))], ME, app.now())
    assert store.duties() == []
    plan(store, app.settings, "ics", app.now())
    assert duty_of(store, "thank_you", "jane@acme.com").state == "done"
    assert duty_of(store, "thank_you", "raj@acme.com").state == "pending"


def test_mail_sent_before_the_interview_fulfils_nothing(app: App) -> None:
    store = app.store
    add_week(app)
    plan(store, app.settings, "ics", app.now())
    early = sent(
        person("jane@acme.com"), subject="See you at 2", when=MONDAY_2PM - timedelta(hours=3)
    )
    inbound = message(person("jane@acme.com"), subject="Thanks for coming")  # not sent by me
    send_and_plan(app, early, inbound)
    assert rows(store, "correspondence") == 2
    assert {d.state for d in store.duties()} == {"pending"}


def test_mail_between_two_rounds_counts_for_neither(app: App) -> None:
    store = app.store
    first = add_week(app)
    jane = store.contact_by_address("jane@acme.com")
    assert jane is not None
    next_week = MONDAY_2PM + timedelta(days=7)
    second = store.add_interview(
        jane.organization_id or 0, next_week, next_week + timedelta(hours=1), [jane.id]
    )
    send_and_plan(app, sent(person("jane@acme.com"), subject="Thanks, Jane"))
    states = {d.key: d.state for d in store.duties(contact=jane.id)}
    assert states == {
        f"thank_you:{first}:{jane.id}": "done",
        f"thank_you:{second}:{jane.id}": "pending",
        f"follow_up:{second}:{jane.id}": "pending",
    }
    # mail to Jane before the second round, while Raj's thank-you is still pending
    send_and_plan(app, sent(person("jane@acme.com"), when=next_week - timedelta(days=2)))
    assert {d.state for d in store.duties(interview=second)} == {"pending"}


def test_mail_to_someone_else_at_the_organization_counts_for_everyone(app: App) -> None:
    store = app.store
    add_week(app)
    plan(store, app.settings, "ics", app.now())
    send_and_plan(app, sent(person("recruiter@acme.com", "Rita Recruiter"), subject="Thanks!"))
    assert duty_of(store, "thank_you", "jane@acme.com").state == "done"
    assert duty_of(store, "thank_you", "raj@acme.com").state == "done"
    assert {d.state for d in store.duties(kinds=(DutyKind.FOLLOW_UP,))} == {"pending"}


def test_the_calendar_event_says_the_notes_are_sent(app: App) -> None:
    import icalendar

    store = app.store
    add_week(app)
    path = app.settings.calendar.ics_file

    def sync() -> list[str]:
        plan(store, app.settings, "ics", app.now())
        push_events(store, IcsCalendar(path), app.now())
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
        return sorted(str(e["summary"]) for e in calendar.walk("VEVENT"))

    sync()
    log_one(app, sent(person("jane@acme.com", "Jane Doe")))
    summaries = sync()
    assert "Send thank-you notes: Acme Networks (Jane Doe, Raj Patel)" in summaries
    log_one(app, sent(person("raj@acme.com", "Raj Patel")))
    summaries = sync()
    assert "Thank-you notes sent: Acme Networks (Jane Doe, Raj Patel)" in summaries
    assert not any(s.startswith("Send thank-you") for s in summaries)


# --- rejections and offers


def test_a_rejection_flags_the_organization_until_the_user_confirms(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    log_one(
        app,
        message(
            person("jane@acme.com", "Jane Doe"),
            subject="Your application",
            snippet="After careful thought we've decided to move forward with other candidates.",
        ),
    )
    flag = store.organization(org).flag
    assert flag is not None
    assert "possible rejection" in flag
    assert 'pursuit org status "Acme Networks" rejected' in flag
    store.set_organization_status(org, OrgStatus.REJECTED, now=app.now())
    assert store.organization(org).flag is None
    assert store.organization(org).status == "rejected"


def test_an_offer_flags_the_organization(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    log_one(
        app,
        message(
            person("raj@acme.com", "Raj Patel"),
            subject="Good news",
            snippet="We are pleased to extend an offer for the Network Engineer role.",
        ),
    )
    flag = store.organization(org).flag
    assert flag is not None
    assert "possible offer" in flag
    assert 'pursuit org status "Acme Networks" offer' in flag
    store.set_organization_status(org, OrgStatus.OFFER, now=app.now())
    assert store.organization(org).flag is None


def test_neutral_or_sent_mail_flags_nothing(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    neutral = message(
        person("jane@acme.com"),
        subject="Next steps",
        snippet="Thanks for your time today, we'd like to schedule a second interview.",
    )
    mine = sent(
        person("jane@acme.com"),
        subject="Re: Your application",
        snippet="Sorry to hear I was not selected; thanks for letting me know.",
    )
    assert verdict(neutral) is None
    assert store_messages(store, [neutral, mine], ME, app.now()) == 2
    assert store.organization(org).flag is None


# --- interviews from calendar entries


def entry(
    event_id: str,
    summary: str,
    start: datetime = MONDAY_2PM,
    *,
    attendees: Sequence[Attendee] = (),
    cancelled: bool = False,
) -> CalendarEntry:
    return CalendarEntry(
        calendar_id="primary",
        event_id=event_id,
        cancelled=cancelled,
        summary=summary,
        start=None if cancelled else start,
        end=None if cancelled else start + timedelta(hours=1),
        attendees=tuple(attendees),
    )


def read(app: App, reader: MemoryCalendarReader) -> int:
    return sync_interviews(app.store, reader, ["primary"], app.now(), lookback=LOOKBACK)


def test_the_interviewers_are_the_attendees_at_the_organization(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    reader = MemoryCalendarReader()
    reader.put(
        entry(
            "ev1",
            "Chat",
            attendees=[
                Attendee("jane@acme.com", "Jane Doe"),
                Attendee("sam@acme.com", "Sam Seeker", is_self=True),
                Attendee("boardroom@acme.com", "Boardroom 3", kind="room"),
                Attendee("friend@gmail.com", "Friend"),
            ],
        )
    )
    assert read(app, reader) == 1
    [interview] = store.interviews()
    assert interview.organization_id == org
    assert [p.contact.address for p in interview.interviewers] == ["jane@acme.com"]
    assert interview.position == "Network Engineer"
    assert (interview.start, interview.end) == (MONDAY_2PM, MONDAY_2PM + timedelta(hours=1))
    for stranger in ("sam@acme.com", "boardroom@acme.com", "friend@gmail.com"):
        assert store.contact_by_address(stranger) is None


def test_an_interview_found_by_its_title(app: App) -> None:
    store = app.store
    org = add_acme(store, app.now())
    reader = MemoryCalendarReader()
    reader.put(entry("ev1", "Phone screen with Acme Networks"))
    reader.put(entry("ev2", "Dentist"))
    reader.put(entry("ev3", "Lunch with Acme Networks people"))  # no interview pattern
    assert read(app, reader) == 1
    [interview] = store.interviews()
    assert interview.organization_id == org
    assert interview.interviewers == ()
    assert interview.source == "calendar"


def test_a_moved_entry_moves_the_interview_and_its_duties(app: App, clock: Clock) -> None:
    store = app.store
    add_acme(store, app.now())
    reader = MemoryCalendarReader()
    reader.put(entry("ev1", "Interview", attendees=[Attendee("jane@acme.com", "Jane Doe")]))
    read(app, reader)
    plan(store, app.settings, "ics", app.now())
    assert duty_of(store, "thank_you", "jane@acme.com").due == datetime(
        2026, 11, 30, 17, 0, tzinfo=PARIS
    )
    tuesday = MONDAY_2PM + timedelta(days=1)
    reader.put(entry("ev1", "Interview", tuesday, attendees=[Attendee("jane@acme.com")]))
    clock.now += timedelta(minutes=5)
    read(app, reader)
    [interview] = store.interviews()
    assert interview.start == tuesday
    plan(store, app.settings, "ics", app.now())
    assert duty_of(store, "thank_you", "jane@acme.com").due == datetime(
        2026, 12, 1, 17, 0, tzinfo=PARIS
    )


def test_a_cancelled_entry_cancels_the_interview_and_its_duties(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    reader = MemoryCalendarReader()
    reader.put(entry("ev1", "Interview", attendees=[Attendee("jane@acme.com", "Jane Doe")]))
    read(app, reader)
    plan(store, app.settings, "ics", app.now())
    assert {d.state for d in store.duties()} == {"pending"}
    reader.put(entry("ev1", "", cancelled=True))
    read(app, reader)
    [interview] = store.interviews()
    assert interview.cancelled
    plan(store, app.settings, "ics", app.now())
    assert {d.state for d in store.duties()} == {"cancelled"}


def test_an_interview_on_the_calendar_after_a_rejection_makes_the_organization_active_again(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    store = app.store
    org = add_acme(store, app.now())
    store.set_organization_status(org, OrgStatus.REJECTED, now=app.now() - timedelta(days=10))
    reader = MemoryCalendarReader()
    reader.put(entry("ev1", "Interview", attendees=[Attendee("jane@acme.com", "Jane Doe")]))
    read(app, reader)
    assert store.organization(org).status == OrgStatus.ACTIVE
    assert "was rejected on 20 Nov 2026; this interview makes it active again" in caplog.text
    assert '`pursuit org status "Acme Networks" rejected`' in caplog.text
    plan(store, app.settings, "ics", app.now())
    assert duty_of(store, "thank_you", "jane@acme.com").state == "pending"


def test_an_interview_on_the_calendar_at_an_offer_plans_nothing_and_says_why(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    store = app.store
    org = add_acme(store, app.now())
    store.set_organization_status(org, OrgStatus.OFFER, now=app.now() - timedelta(days=2))
    reader = MemoryCalendarReader()
    reader.put(entry("ev1", "Interview", attendees=[Attendee("jane@acme.com", "Jane Doe")]))
    assert read(app, reader) == 1
    assert store.organization(org).status == OrgStatus.OFFER
    assert "Acme Networks is at the offer stage (since 28 Nov 2026)" in caplog.text
    assert "no thank-you or follow-up is planned" in caplog.text
    plan(store, app.settings, "ics", app.now())
    assert store.duties() == []


def test_an_expired_sync_token_resyncs_without_duplicates(app: App) -> None:
    store = app.store
    add_acme(store, app.now())
    reader = MemoryCalendarReader()
    reader.put(entry("ev1", "Interview", attendees=[Attendee("jane@acme.com", "Jane Doe")]))
    read(app, reader)
    reader.put(entry("ev2", "Onsite at Acme Networks", MONDAY_2PM + timedelta(days=7)))
    reader.expire_cursors()
    assert read(app, reader) == 2
    assert reader.calls == [None, "1", None]
    assert len(store.interviews()) == 2
    assert store.cursor("calendar:primary") == "2"


# --- thank-you drafts


def test_drafts_are_queued_once_per_pending_thank_you(app: App, clock: Clock) -> None:
    store = app.store
    add_week(app)
    plan(store, app.settings, "ics", app.now())
    template = load_template(None)
    kwargs = {"from_address": ME, "your_name": "Sam Seeker"}
    assert queue_drafts(store, template, MONDAY_2PM + timedelta(minutes=30), **kwargs) == 0
    clock.now = AFTER
    assert queue_drafts(store, template, app.now(), **kwargs) == 2
    assert queue_drafts(store, template, app.now(), **kwargs) == 0
    assert len(store.pending_outbox("drafts")) == 2


def test_a_thank_you_already_sent_gets_no_draft(app: App, clock: Clock) -> None:
    store = app.store
    add_week(app)
    plan(store, app.settings, "ics", app.now())
    clock.now = AFTER
    send_and_plan(app, sent(person("jane@acme.com")))
    kwargs = {"from_address": ME, "your_name": "Sam Seeker"}
    assert queue_drafts(store, load_template(None), app.now(), **kwargs) == 1
    [entry] = store.pending_outbox("drafts")
    assert "raj@acme.com" in entry.payload["raw"]


def queue_thank_you_drafts(app: App, clock: Clock) -> None:
    """Monday's interview planned; the evening after it, the two drafts are queued."""
    add_week(app)
    plan(app.store, app.settings, "ics", app.now())
    clock.now = AFTER
    queue_drafts(app.store, load_template(None), app.now(), from_address=ME, your_name="Sam Seeker")


def test_drafts_are_created_once_even_after_a_crash(app: App, clock: Clock) -> None:
    store = app.store
    queue_thank_you_drafts(app, clock)
    box = FlakyDraftBox(die_after_creates=1)
    with pytest.raises(Killed):
        push_drafts(store, box, app.now())
    assert len(box.drafts) == 1
    assert len(store.pending_outbox("drafts")) == 2  # the crash came before the record
    assert push_drafts(store, box, app.now()) == 2
    assert store.pending_outbox("drafts") == []
    assert push_drafts(store, box, app.now()) == 0
    recipients = sorted(
        str(email.message_from_bytes(raw, policy=email.policy.default)["To"])
        for raw in box.drafts.values()
    )
    assert recipients == ["Jane Doe <jane@acme.com>", "Raj Patel <raj@acme.com>"]


def test_a_failed_draft_is_recorded_and_created_on_the_next_round(app: App, clock: Clock) -> None:
    store = app.store
    queue_thank_you_drafts(app, clock)
    box = FlakyDraftBox()
    box.down = SourceError("gmail", "drafts.create: HTTP 503 Service Unavailable")
    with pytest.raises(SourceError):
        push_drafts(store, box, app.now())
    [first, second] = store.pending_outbox("drafts")
    assert (first.attempts, first.last_error) == (
        1,
        "gmail: drafts.create: HTTP 503 Service Unavailable",
    )
    assert second.attempts == 0  # not tried: Gmail is down this round
    box.down = None
    assert push_drafts(store, box, app.now()) == 2
    assert store.pending_outbox("drafts") == []


class DiesAfterReplacing(MemoryDraftBox):
    """A draft box whose process dies right after a draft was replaced, once."""

    dying = True

    def replace_draft(self, key: str, raw: bytes) -> str | None:
        replaced = super().replace_draft(key, raw)
        if self.dying:
            self.dying = False
            raise Killed  # the mailbox holds the new version, the store never hears of it
        return replaced


def test_an_update_repeated_after_a_crash_is_not_taken_for_the_users_edit(
    app: App, clock: Clock
) -> None:
    store = app.store
    queue_thank_you_drafts(app, clock)
    box = DiesAfterReplacing()
    assert push_drafts(store, box, app.now()) == 2
    raj = store.contact_by_address("raj@acme.com")
    assert raj is not None
    [interview] = store.interviews()
    line = "Your BGP story stayed with me."
    store.set_interviewer(interview.id, raj.id, note=line, note_kind=NoteKind.THANK_YOU)
    kwargs = {"from_address": ME, "your_name": "Sam Seeker"}
    assert queue_drafts(store, load_template(None), app.now(), **kwargs) == 1
    with pytest.raises(Killed):
        push_drafts(store, box, app.now())
    assert push_drafts(store, box, app.now()) == 1
    assert len(box.drafts) == 2
    to_raj = [r for r in box.drafts.values() if b"raj@acme.com" in r]
    assert len(to_raj) == 1 and line.encode() in to_raj[0]
    [duty] = store.duties(kinds=(DutyKind.THANK_YOU,), contact=raj.id)
    record = store.draft_record(duty.id)
    assert record is not None and record.left_alone is None  # still pursuit's to update
    assert record.written == record.queued


def test_the_rendered_draft(app: App, clock: Clock) -> None:
    store = app.store
    interview_id = add_week(app)
    plan(store, app.settings, "ics", app.now())
    clock.now = AFTER
    queue_drafts(store, load_template(None), app.now(), from_address=ME, your_name="Sam Seeker")
    box = FlakyDraftBox()
    push_drafts(store, box, app.now())
    raj = store.contact_by_address("raj@acme.com")
    assert raj is not None
    key = f"draft:thank_you:{interview_id}:{raj.id}"
    draft_id = box.find_draft(key)
    assert draft_id is not None
    draft = email.message_from_bytes(box.drafts[draft_id], policy=email.policy.default)
    assert draft["To"] == "Raj Patel <raj@acme.com>"
    assert draft["From"] == f"Sam Seeker <{ME}>"
    assert draft["X-Pursuit-Key"] == key
    assert "Network Engineer" in draft["Subject"]
    body_part = draft.get_body()
    assert body_part is not None
    body = body_part.get_content()
    assert body.startswith("Dear Raj,")
    assert "Acme Networks" in body
    assert "Network Engineer" in body
    assert "liked my BGP migration story" not in body  # a note is private
    assert "[a line of your own: what you enjoyed talking about]" in body
    assert "Sam Seeker" in body
    assert rows(store, "correspondence") == 0  # a draft is not mail sent


def test_a_template_with_a_syntax_error_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "thanks.txt"
    path.write_text("Subject: Thanks\n\nDear {{ first_name }},\n{% if note %}oops\n")
    with pytest.raises(UserError) as caught:
        load_template(path)
    assert str(path) in str(caught.value)
    assert "line 4" in str(caught.value) or "line 5" in str(caught.value)
    with pytest.raises(UserError, match="cannot read"):
        load_template(tmp_path / "missing.txt")


def test_a_template_naming_an_unknown_variable_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "thanks.txt"
    path.write_text("Dear {{ frist_name }},\n")
    with pytest.raises(UserError) as caught:
        load_template(path)
    assert str(path) in str(caught.value)
    assert "frist_name" in str(caught.value)


def test_a_user_template_can_set_the_subject(tmp_path: Path) -> None:
    path = tmp_path / "thanks.txt"
    path.write_text(
        "Subject: Great talking about {{ position }} at {{ organization }}\n\n"
        "Hi {{ first_name }},\n\nThanks! {{ your_name }}\n"
    )
    raw = render_draft(
        load_template(path),
        key="draft:k",
        to_name="Jane Doe",
        to_address="jane@acme.com",
        from_address="",
        your_name="Sam",
        organization="Acme Networks",
        position="Network Engineer",
        personal_line=None,
        interview_start=MONDAY_2PM,
        now=AFTER,
    )
    draft = email.message_from_bytes(raw, policy=email.policy.default)
    assert draft["Subject"] == "Great talking about Network Engineer at Acme Networks"
    assert draft["From"] is None
    body_part = draft.get_body()
    assert body_part is not None
    assert body_part.get_content() == "Hi Jane,\n\nThanks! Sam\n"


def test_an_interviewer_met_earlier_in_a_round_is_known_to_the_entries_after(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracked people are read once a round, not once an entry (65 ms an entry
    beside 3,000 contacts), and learn each interviewer as it is added: Lee, new, met
    at a one-to-one first, is the interviewer of the all-hands after it, whose 25 other
    people at Acme are strangers to it (MAX_INTERVIEWERS)."""
    store = app.store
    add_acme(store, app.now())
    reader = MemoryCalendarReader()
    lee = Attendee("lee@acme.com", "Lee Chen")
    reader.put(entry("ev1", "Interview", attendees=[lee]))
    crowd = [Attendee(f"person{n}@acme.com", f"Person {n}") for n in range(25)]
    later = MONDAY_2PM + timedelta(days=1)
    reader.put(entry("ev2", "Acme Networks: meet the team", later, attendees=[*crowd, lee]))
    built: list[int] = []
    real = Directory.from_store

    def counted(*args: Any, **kwargs: Any) -> Directory:
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(Directory, "from_store", counted)
    assert read(app, reader) == 2
    assert len(built) == 1
    panels = {i.start: [p.contact.address for p in i.interviewers] for i in store.interviews()}
    assert panels == {MONDAY_2PM: ["lee@acme.com"], later: ["lee@acme.com"]}
