"""The use cases behind the commands that change data, as plain functions on a real store."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pursuit.config.settings import Settings
from pursuit.daemon import actions
from pursuit.daemon.errors import AmbiguousName, UserError
from pursuit.daemon.models import Contact, Duty, Organization
from pursuit.daemon.store import Store

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)


def interview_with_jane(store: Store, settings: Settings) -> actions.ScheduledInterview:
    actions.add_organization(store, "Acme Networks", ["acme.com"], [], now=NOW)
    return actions.add_interview(
        store,
        settings,
        NOW,
        "acme",
        start="2026-12-01 14:00",
        people=["Jane Doe <Jane@Acme.com>"],
    )


def duty_of(store: Store, kind: str, state: str = "pending") -> Duty:
    [found] = [d for d in store.duties() if d.kind == kind and d.state == state]
    return found


# --- resolve


def test_resolve_finds_an_organization_or_a_contact_by_any_of_their_names(
    store: Store, settings: Settings
) -> None:
    interview_with_jane(store, settings)
    for name in ("Acme Networks", "acme networks", "acme.com", "Acme"):
        found = actions.resolve(store, name)
        assert isinstance(found, Organization) and found.name == "Acme Networks", name
    for name in ("jane@acme.com", "Jane Doe", "jane"):
        found = actions.resolve(store, name)
        assert isinstance(found, Contact) and found.address == "jane@acme.com", name


def test_resolve_prefers_an_exact_match_to_a_partial_one_of_the_other_kind(
    store: Store, settings: Settings
) -> None:
    interview_with_jane(store, settings)
    actions.add_organization(store, "Jane Street", [], [], now=NOW)  # "jane" is its prefix
    actions.add_organization(store, "Doe", [], [], now=NOW)  # "Doe" is in Jane Doe's name

    by_name = actions.resolve(store, "Jane Doe")
    assert isinstance(by_name, Contact) and by_name.name == "Jane Doe"
    exact = actions.resolve(store, "doe")
    assert isinstance(exact, Organization) and exact.name == "Doe"
    with pytest.raises(AmbiguousName) as raised:
        actions.resolve(store, "jane")  # a prefix of one, a part of the other
    assert raised.value.candidates == ("Jane Street", "Jane Doe <jane@acme.com>")
    assert "'jane' is ambiguous" in str(raised.value)


def test_resolve_passes_on_the_ambiguity_of_one_kind(store: Store, settings: Settings) -> None:
    interview_with_jane(store, settings)
    actions.add_organization(store, "Acme Labs", ["acmelabs.com"], [], now=NOW)
    actions.add_interview(
        store,
        settings,
        NOW,
        "Acme Labs",
        start="2026-12-02 14:00",
        people=["Jane Roe <jane@acmelabs.com>"],
    )

    with pytest.raises(AmbiguousName) as orgs:
        actions.resolve(store, "acme")
    assert orgs.value.candidates == ("Acme Labs", "Acme Networks")
    with pytest.raises(AmbiguousName) as people:
        actions.resolve(store, "jane")
    assert people.value.candidates == (
        "Jane Doe <jane@acme.com>",
        "Jane Roe <jane@acmelabs.com>",
    )
    with pytest.raises(UserError) as nothing:
        actions.resolve(store, "Globex")
    assert not isinstance(nothing.value, AmbiguousName)
    assert nothing.value.problems == [
        "no organization or contact named 'Globex' (see `pursuit org list`)"
    ]


# --- organizations


def test_add_organization_cleans_domains_and_reports_every_bad_one(store: Store) -> None:
    created = actions.add_organization(
        store, "  Acme  ", ["@Acme.com", "ACME.io"], ["Engineer"], now=NOW
    ).organization
    assert (created.name, created.domains, created.positions) == (
        "Acme",
        ("acme.com", "acme.io"),
        ("Engineer",),
    )
    with pytest.raises(UserError) as raised:
        actions.add_organization(store, "Globex", ["globex", "x y.com", "globex.com"], [], now=NOW)
    assert [p.split(":")[0] for p in raised.value.problems] == [
        "--domain 'globex'",
        "--domain 'x y.com'",
    ]
    with pytest.raises(UserError, match="name is empty"):
        actions.add_organization(store, "  ", [], [], now=NOW)
    assert [o.name for o in store.organizations()] == ["Acme"]


def test_a_rejection_cancels_pending_duties_and_plans_a_check_in(
    store: Store, settings: Settings
) -> None:
    interview_with_jane(store, settings)
    assert {d.kind for d in actions.pending_duties(store)} == {"thank_you", "follow_up"}

    later = NOW + timedelta(days=3)
    org = actions.set_status(store, settings, later, "acme.com", "rejected")

    assert org.status == "rejected"
    [check_in] = actions.pending_duties(store)
    assert check_in.kind == "check_in"
    # 45 days after 3 December is Sunday 17 January: the check-in waits for Monday.
    assert check_in.due.date() == date(2027, 1, 18)
    assert {d.state for d in store.duties() if d.kind != "check_in"} == {"cancelled"}


# --- interviews


def test_add_interview_makes_its_people_contacts_and_plans_their_duties(
    store: Store, settings: Settings
) -> None:
    added = interview_with_jane(store, settings)

    assert added.organization.name == "Acme Networks"
    assert added.start == datetime(2026, 12, 1, 14, 0, tzinfo=PARIS)
    [jane] = added.interviewers
    assert (jane.name, jane.address, jane.role) == ("Jane Doe", "jane@acme.com", "interviewer")
    stored = store.interview(added.id)
    assert stored.end - stored.start == timedelta(hours=1)
    assert duty_of(store, "thank_you").due == datetime(2026, 12, 1, 17, 0, tzinfo=PARIS)
    assert duty_of(store, "follow_up").due == datetime(2026, 12, 8, 10, 0, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("end", "people", "message"),
    [
        ("2026-12-01 13:00", [], "--end '2026-12-01 13:00' is not after --at '2026-12-01 14:00'"),
        (None, ["Bob"], "--with 'Bob' is not a mail address"),
        ("soonish", [], "'soonish' is not a date and time"),
    ],
)
def test_a_bad_interview_is_refused_and_changes_nothing(
    store: Store, settings: Settings, end: str | None, people: list[str], message: str
) -> None:
    actions.add_organization(store, "Acme", [], [], now=NOW)
    with pytest.raises(UserError) as raised:
        actions.add_interview(
            store, settings, NOW, "Acme", start="2026-12-01 14:00", end=end, people=people
        )
    assert message in str(raised.value)
    assert store.interviews() == [] and store.contacts() == []


def test_moving_an_interview_keeps_its_length_and_moves_its_duties(
    store: Store, settings: Settings
) -> None:
    added = interview_with_jane(store, settings)
    store.move_interview(added.id, added.start, added.start + timedelta(minutes=90))  # a longer one

    moved_to = actions.move_interview(store, settings, NOW, added.id, start="2026-12-03 10:00")

    assert moved_to.changes == ()
    assert moved_to.start == datetime(2026, 12, 3, 10, 0, tzinfo=PARIS)
    moved = store.interview(added.id)
    assert moved.end == datetime(2026, 12, 3, 11, 30, tzinfo=PARIS)
    assert duty_of(store, "thank_you").due == datetime(2026, 12, 3, 17, 0, tzinfo=PARIS)


def test_cancelling_an_interview_cancels_its_duties(store: Store, settings: Settings) -> None:
    added = interview_with_jane(store, settings)
    actions.cancel_interview(store, settings, NOW, added.id)
    assert store.interview(added.id).cancelled
    assert actions.pending_duties(store) == []
    with pytest.raises(UserError, match="no interview with id 99"):
        actions.cancel_interview(store, settings, NOW, 99)


# --- what was said with whom


def test_commit_sets_the_follow_up_day(store: Store, settings: Settings) -> None:
    interview_with_jane(store, settings)

    promise = actions.commit(store, settings, NOW, "Jane", on_day="friday")
    assert (promise.contact.address, promise.day) == ("jane@acme.com", date(2026, 12, 4))
    assert duty_of(store, "follow_up").due == datetime(2026, 12, 4, 10, 0, tzinfo=PARIS)

    promise = actions.commit(store, settings, NOW, "jane@acme.com", after="2w")
    assert promise.day == date(2026, 12, 15)
    assert store.interviews()[0].interviewers[0].promised == date(2026, 12, 15)


@pytest.mark.parametrize(
    ("on_day", "after", "message"),
    [
        (None, None, "give exactly one of --on DATE or --in DURATION"),
        ("friday", "5d", "give exactly one of --on DATE or --in DURATION"),
        ("2026-11-20", None, "'2026-11-20': Fri 20 Nov 2026 is before the interview"),
    ],
)
def test_a_promise_that_makes_no_sense_is_refused(
    store: Store, settings: Settings, on_day: str | None, after: str | None, message: str
) -> None:
    interview_with_jane(store, settings)
    with pytest.raises(UserError) as raised:
        actions.commit(store, settings, NOW, "Jane", on_day=on_day, after=after)
    assert message in str(raised.value)
    assert store.interviews()[0].interviewers[0].promised is None


def test_a_note_goes_with_the_latest_interview(store: Store, settings: Settings) -> None:
    interview_with_jane(store, settings)
    second = actions.add_interview(
        store, settings, NOW, "Acme", start="2026-12-10 14:00", people=["jane@acme.com"]
    )
    noted = actions.note(store, settings, NOW, "Jane Doe", "liked my BGP story")
    assert noted.contact.name == "Jane Doe"
    notes = {i.id: i.interviewers[0].note for i in store.interviews()}
    assert notes == {1: None, second.id: "liked my BGP story"}


def test_no_promise_without_an_interview(store: Store, settings: Settings) -> None:
    acme = actions.add_organization(store, "Acme", ["acme.com"], [], now=NOW).organization
    store.ensure_contact("raj@acme.com", "Raj", acme.id)
    with pytest.raises(UserError, match="Raj has no interview yet"):
        actions.commit(store, settings, NOW, "raj@acme.com", on_day="2026-12-04")
    # a note needs no interview: it is kept in the person's record
    actions.note(store, settings, NOW, "raj@acme.com", "hello")
    assert [n.text for n in store.notes(contact=store.find_contact("Raj").id)] == ["hello"]


def test_log_by_hand(store: Store, settings: Settings) -> None:
    interview_with_jane(store, settings)
    a_week_on = NOW + timedelta(days=7)  # a log is of what has happened
    found = actions.log_by_hand(
        store,
        settings,
        a_week_on,
        "call",
        "Jane",
        "talked salary",
        inbound=True,
        when="2026-12-02 09:30",
    ).contact
    assert found.address == "jane@acme.com"
    [entry] = store.correspondence(contact_id=found.id)
    assert (entry.channel, entry.direction, entry.subject) == ("call", "in", "talked salary")
    assert entry.date == datetime(2026, 12, 2, 9, 30, tzinfo=PARIS)
    assert entry.people == ("jane@acme.com",)

    actions.log_by_hand(store, settings, NOW, "note", "jane@acme.com", "sent portfolio")
    dates = [m.date for m in store.correspondence(contact_id=found.id, newest_first=False)]
    assert dates == [NOW, datetime(2026, 12, 2, 9, 30, tzinfo=PARIS)]

    with pytest.raises(UserError, match="is in the future; log what has happened"):
        actions.log_by_hand(store, settings, NOW, "call", "Jane", "soon", when="2026-12-02 09:30")
    two_minutes_on = NOW + timedelta(minutes=2)  # a clock a little ahead is no mistake
    actions.log_by_hand(
        store, settings, NOW, "call", "Jane", "now", when=f"{two_minutes_on:%Y-%m-%d %H:%M}"
    )


# --- duties


def test_done_once_and_only_once(store: Store, settings: Settings) -> None:
    interview_with_jane(store, settings)
    thanks = duty_of(store, "thank_you")
    done, already = actions.mark_done(store, settings, NOW, thanks.id)
    assert (done.state, done.evidence, done.done_at, already) == (
        "done",
        "marked done by you",
        NOW,
        False,
    )
    again, already = actions.mark_done(store, settings, NOW + timedelta(hours=1), thanks.id)
    assert (again, already) == (done, True)  # said so, and nothing changed
    with pytest.raises(UserError, match="no duty with id 99"):
        actions.mark_done(store, settings, NOW, 99)


def test_snooze_to_a_day_keeps_the_time_of_day_and_outlives_a_replan(
    store: Store, settings: Settings
) -> None:
    interview_with_jane(store, settings)
    follow_up = duty_of(store, "follow_up")

    moment = actions.snooze(store, settings, NOW, follow_up.id, "2026-12-20")
    assert moment == datetime(2026, 12, 20, 10, 0, tzinfo=PARIS)
    actions.replan(store, settings, NOW)
    assert store.duty(follow_up.id).due == moment

    moment = actions.snooze(store, settings, NOW, follow_up.id, "2026-12-21 08:15")
    assert store.duty(follow_up.id).due == datetime(2026, 12, 21, 8, 15, tzinfo=PARIS)


def test_a_cancelled_duty_cannot_be_snoozed(store: Store, settings: Settings) -> None:
    added = interview_with_jane(store, settings)
    actions.cancel_interview(store, settings, NOW, added.id)
    thanks = duty_of(store, "thank_you", state="cancelled")
    with pytest.raises(UserError, match=f"duty #{thanks.id} is cancelled"):
        actions.snooze(store, settings, NOW, thanks.id, "2026-12-20")


# --- forgetting


def test_forget_a_contact_or_an_organization(store: Store, settings: Settings) -> None:
    interview_with_jane(store, settings)
    actions.forget(store, settings, NOW, actions.resolve(store, "jane@acme.com"))
    assert store.contacts() == []
    assert store.interviews()[0].interviewers == ()
    # her duties went with her; the interview, now with nobody named, is followed up
    # with the organization itself
    assert [d.key for d in actions.pending_duties(store)] == ["follow_up:1:org"]

    actions.forget(store, settings, NOW, actions.resolve(store, "acme.com"))
    assert store.organizations() == [] and store.interviews() == []
