"""The dashboard's Today page: what to do now, overdue first, and every change made from
there (done, snooze, "I sent it", reopen) landing in the store through the command
line's own use cases, with the command line's words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from support.app import PARIS, Clock, make_settings
from support.cli import Pursuit, duties_by
from support.dashboard import TOKEN, ids_in, post, row, section, signed_in, text_of, words
from support.summary import week_story

from pursuit.config.settings import Settings
from pursuit.daemon.app import App
from pursuit.daemon.models import Duty, DutyKind, DutyState
from pursuit.daemon.web.app import create_app

#: Monday morning, a week after Acme's interview: Raj's thank-you is six days late,
#: Jane's and Raj's follow-ups are due at 10:00, Initech's check-in is in January.
MONDAY_9AM = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)


@dataclass
class Story:
    settings: Settings
    clock: Clock
    client: FlaskClient

    def app(self) -> App:
        return App(self.settings, clock=self.clock)

    def duty(self, kind: DutyKind, contact: str | None = None) -> Duty:
        app = self.app()
        try:
            store = app.store
            person = store.find_contact(contact).id if contact else None
            [found] = [
                d
                for d in store.duties(kinds=[kind])
                if d.state != DutyState.CANCELLED and (person is None or d.contact_id == person)
            ]
            return found
        finally:
            app.close()

    def reread(self, duty: Duty) -> Duty:
        app = self.app()
        try:
            return app.store.duty(duty.id)
        finally:
            app.close()


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    settings = make_settings(tmp_path)
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=PARIS))
    app = App(settings, clock=clock)
    week_story(app, clock)
    app.close()
    clock.now = MONDAY_9AM
    yield Story(settings, clock, signed_in(create_app(settings, token=TOKEN, now=clock)))


def test_overdue_first_then_today_then_the_next(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    jane_follow = story.duty(DutyKind.FOLLOW_UP, "jane@acme.com")
    raj_follow = story.duty(DutyKind.FOLLOW_UP, "raj@acme.com")
    check_in = story.duty(DutyKind.CHECK_IN)

    page = story.client.get("/")

    assert page.status_code == 200
    assert ids_in(section(page, "overdue")) == [raj_thanks.id]
    assert ids_in(section(page, "due-today")) == [jane_follow.id, raj_follow.id]
    assert ids_in(section(page, "next")) == [check_in.id]
    text = text_of(page)
    assert text.index("Overdue (1)") < text.index("Due today (2)") < text.index("Next (1)")
    assert "Thank-you to Raj Patel (Acme Networks)" in row(page, f"duty-{raj_thanks.id}")
    assert "Due Mon 30 Nov 17:00: 6 days late" in row(page, f"duty-{raj_thanks.id}")
    assert "Due Mon 07 Dec 10:00" in row(page, f"duty-{jane_follow.id}")


def test_each_pending_row_offers_its_actions(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    check_in = story.duty(DutyKind.CHECK_IN)
    page = story.client.get("/")

    thanks = row(page, f"duty-{raj_thanks.id}")
    for action in ("Open the draft", "I sent it", "Done", "Snooze to", "Snooze"):
        assert action in thanks
    body = page.get_data(as_text=True)
    assert f'href="/duties/{raj_thanks.id}/draft"' in body
    assert f'<label for="snooze-{raj_thanks.id}">Snooze to</label>' in body
    # The day offered: tomorrow for what is due by then, else the day after it is due.
    assert f'id="snooze-{raj_thanks.id}" name="to" value="2026-12-08" min="2026-12-08"' in body
    assert f'id="snooze-{check_in.id}" name="to" value="2027-01-15" min="2026-12-08"' in body
    # A check-in is no message of pursuit's: no draft, nothing to say sent.
    later = row(page, f"duty-{check_in.id}")
    assert "Done" in later and "I sent it" not in later and "Open the draft" not in later


def test_an_organizations_page_offers_the_same_actions_and_day(story: Story) -> None:
    """One set of buttons wherever a duty shows: a check-in due next month is offered the
    day after it, never tomorrow (one Enter away from moving it earlier)."""
    check_in = story.duty(DutyKind.CHECK_IN)
    page = story.client.get(f"/organizations/{check_in.organization_id}")
    body = page.get_data(as_text=True)
    assert f'id="snooze-{check_in.id}" name="to" value="2027-01-15" min="2026-12-08"' in body
    later = row(page, f"duty-{check_in.id}")
    assert "Done" in later and "I sent it" not in later and "Open the draft" not in later


def test_done_marks_it_done_says_so_and_offers_to_reopen(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")

    page = post(story.client, f"/duties/{raj_thanks.id}/done")

    assert page.status_code == 200
    assert f"Duty #{raj_thanks.id} done" in text_of(page)
    assert story.reread(raj_thanks).state == DutyState.DONE
    assert ids_in(section(page, "overdue")) == []
    assert ids_in(section(page, "done-today")) == [raj_thanks.id]
    assert "Reopen" in row(page, f"duty-{raj_thanks.id}")
    # The message is said once.
    assert f"Duty #{raj_thanks.id} done" not in text_of(story.client.get("/"))

    again = post(story.client, f"/duties/{raj_thanks.id}/done")
    assert f"Duty #{raj_thanks.id} was already done on Mon 07 Dec 2026 09:00" in text_of(again)


def test_the_answer_to_a_change_is_a_redirect_to_the_page_it_came_from(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    answer = post(story.client, f"/duties/{raj_thanks.id}/done", {"next": "/?x=1"}, follow=False)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/?x=1"
    elsewhere = post(
        story.client, f"/duties/{raj_thanks.id}/done", {"next": "//evil.example/"}, follow=False
    )
    assert elsewhere.headers["Location"] == "/"


def test_reopen_makes_a_done_duty_pending_again(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    post(story.client, f"/duties/{raj_thanks.id}/done")

    page = post(story.client, f"/duties/{raj_thanks.id}/reopen")

    assert f"Duty #{raj_thanks.id} is pending again, due Mon 30 Nov 2026 17:00" in text_of(page)
    assert story.reread(raj_thanks).state == DutyState.PENDING
    assert ids_in(section(page, "overdue")) == [raj_thanks.id]


def test_snooze_moves_the_duty_to_that_day_at_its_time(story: Story) -> None:
    jane_follow = story.duty(DutyKind.FOLLOW_UP, "jane@acme.com")

    page = post(story.client, f"/duties/{jane_follow.id}/snooze", {"to": "2026-12-09"})

    assert f"Duty #{jane_follow.id} now due Wed 09 Dec 2026 10:00" in text_of(page)
    assert story.reread(jane_follow).due == datetime(2026, 12, 9, 10, 0, tzinfo=PARIS)
    assert jane_follow.id in ids_in(section(page, "next"))
    assert jane_follow.id not in ids_in(section(page, "due-today"))


def test_snooze_to_a_past_day_is_refused_in_the_command_lines_words(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")

    page = post(story.client, f"/duties/{raj_thanks.id}/snooze", {"to": "2026-12-01"})

    assert page.status_code == 200
    assert "snooze to '2026-12-01' (Tue 01 Dec 2026 17:00): that is in the past" in text_of(page)
    assert 'class="message message-error"' in page.get_data(as_text=True)
    assert story.reread(raj_thanks).due == raj_thanks.due


def test_snooze_without_a_day_says_what_is_missing(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    page = post(story.client, f"/duties/{raj_thanks.id}/snooze", {"to": ""})
    assert f"duty #{raj_thanks.id}: give the day to snooze it to" in text_of(page)


def test_i_sent_it_logs_the_email_and_fulfils_that_duty_alone(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    raj_follow = story.duty(DutyKind.FOLLOW_UP, "raj@acme.com")

    page = post(story.client, f"/duties/{raj_thanks.id}/sent")

    assert f"Duty #{raj_thanks.id} done: sent by you, logged as an email" in text_of(page)
    done = story.reread(raj_thanks)
    assert done.state == DutyState.DONE and done.evidence == "sent by you"
    assert story.reread(raj_follow).state == DutyState.PENDING  # the one email, one duty
    app = story.app()
    try:
        raj = app.store.find_contact("raj@acme.com")
        [logged] = app.store.correspondence(contact_id=raj.id, since=MONDAY_9AM)
    finally:
        app.close()
    assert (logged.direction, logged.channel) == ("out", "email")
    assert logged.subject == "thank-you sent (marked by you)"


def test_a_refused_change_names_why(story: Story) -> None:
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    post(story.client, f"/duties/{raj_thanks.id}/done")
    page = post(story.client, f"/duties/{raj_thanks.id}/snooze", {"to": "2026-12-20"})
    assert (
        f"duty #{raj_thanks.id} is done on Mon 07 Dec 2026; to do it again, reopen it first: "
        f"pursuit reopen {raj_thanks.id}" in text_of(page)
    )
    assert f"<code>pursuit reopen {raj_thanks.id}</code>" in page.get_data(as_text=True)


def test_a_duty_that_does_not_exist_is_a_404_saying_so(story: Story) -> None:
    for action in ("done", "sent", "reopen", "snooze"):
        page = post(story.client, f"/duties/999/{action}", {"to": "2026-12-20"})
        assert page.status_code == 404
        assert "no duty with id 999" in text_of(page)


def test_an_id_beyond_the_store_is_a_404_on_every_page(story: Story) -> None:
    """An address typed or kept with a number SQLite cannot hold: no page breaks on it."""
    huge = "9" * 20
    for path in (f"/duties/{huge}/draft", f"/organizations/{huge}", f"/interviews/{huge}"):
        assert story.client.get(path).status_code == 404, path
    for action in ("done", "sent", "reopen", "snooze"):
        page = post(story.client, f"/duties/{huge}/{action}", {"to": "2026-12-20"})
        assert page.status_code == 404, action
    # a form's person or organization with such a number, or a digit int() refuses
    acme = story.duty(DutyKind.THANK_YOU, "raj@acme.com").organization_id
    for who in (huge, "²"):
        form = {"channel": "call", "contact": who, "direction": "in", "text": "x", "when": ""}
        page = post(story.client, f"/organizations/{acme}/log", form)
        assert "choose the person the exchange was with" in text_of(page)


def test_interviews_of_the_coming_days_link_their_prep_sheet(story: Story) -> None:
    app = story.app()
    try:
        store = app.store
        acme = store.find_organization("Acme Networks")
        jane = store.find_contact("jane@acme.com")
        soon = datetime(2026, 12, 10, 11, 0, tzinfo=PARIS)
        coming = store.add_interview(
            acme.id, soon, soon + timedelta(hours=1), [jane.id], position="Team lead"
        )
        far = datetime(2026, 12, 20, 11, 0, tzinfo=PARIS)
        store.add_interview(acme.id, far, far + timedelta(hours=1), [jane.id])
    finally:
        app.close()

    page = story.client.get("/")

    found = section(page, "interviews")
    assert ids_in(found, "interview-") == [coming]
    assert f'href="/interviews/{coming}"' in found
    assert "Acme Networks: Team lead" in words(found)
    assert "Thu 10 Dec 11:00–12:00" in words(found)
    assert "With Jane Doe" in words(found)


def test_an_organization_gone_quiet_since_its_follow_up_was_due(story: Story) -> None:
    story.clock.now = datetime(2026, 12, 10, 9, 0, tzinfo=PARIS)
    app = story.app()
    try:
        acme = app.store.find_organization("Acme Networks").id
    finally:
        app.close()

    page = story.client.get("/")

    quiet = section(page, "quiet")
    assert ids_in(quiet, "org-") == [acme]
    assert "Follow-up due Mon 07 Dec 10:00; last exchange Mon 30 Nov 17:30" in words(quiet)

    # An answer since: no longer quiet.
    raj_follow = story.duty(DutyKind.FOLLOW_UP, "raj@acme.com")
    post(story.client, f"/duties/{raj_follow.id}/sent")
    assert section(story.client.get("/"), "quiet") == ""


def test_the_service_section_shows_each_job_and_the_failing_feeds(story: Story) -> None:
    page = story.client.get("/")
    service = words(section(page, "service"))
    assert "job feeds: last success 2026-11-30 09:00; nothing since" in service
    assert "job plan: never ran" in service
    assert "Globex: https://globex.example/news.xml: HTTP 503 from globex.example" in service
    # What needs the user is said at the top, before the duties.
    text = text_of(page)
    assert text.index("The service needs you") < text.index("Overdue")
    # Jobs stale for one reason are one thing to do, said with its fix.
    html = page.get_data(as_text=True)
    banner = words(html.split('role="alert"', 1)[1].split("</div>", 1)[0])
    assert "job feeds, job plan" not in banner  # plan never ran: another fix
    assert "job feeds: is the service running?" in banner


def test_an_empty_store_says_how_to_begin(tmp_path: Path) -> None:
    client = signed_in(create_app(make_settings(tmp_path), token=TOKEN, now=MONDAY_9AM))
    text = text_of(client.get("/"))
    assert "Nothing to do yet" in text
    assert 'pursuit org add "Acme Networks" --domain acme.com' in text
    assert "Nothing overdue." in text


def test_the_command_line_says_sent_the_same_way(tmp_path: Path, written_now: datetime) -> None:
    p = Pursuit(tmp_path)
    p.ok("org", "add", "Acme", "--domain", "acme.com")
    p.ok("interview", "add", "acme", "--at", "2026-11-27 14:00", "--with", "Jane <jane@acme.com>")
    [thanks] = duties_by(p.export(), "thank_you")

    out = p.ok("done", str(thanks["id"]), "--sent")

    assert f"Duty #{thanks['id']} done: sent by you, logged as an email" in out
    data = p.export()
    [thanks] = duties_by(data, "thank_you")
    assert (thanks["state"], thanks["evidence"]) == ("done", "sent by you")
    assert duties_by(data, "follow_up")[0]["state"] == "pending"
    assert [m["subject"] for m in data["correspondence"]] == ["thank-you sent (marked by you)"]


def test_a_damaged_database_is_one_message_naming_it_and_nothing_is_written(
    story: Story,
) -> None:
    """The page says what `pursuit status` would: the file, what SQLite found, the fix."""
    database = story.settings.database
    raj_thanks = story.duty(DutyKind.THANK_YOU, "raj@acme.com")
    damaged = b"this is not a database" + bytes(4096)
    database.write_bytes(damaged)
    page = story.client.get("/")
    assert page.status_code == 500
    text = text_of(page)
    assert str(database) in text and "Traceback" not in text
    post(story.client, f"/duties/{raj_thanks.id}/done")
    assert database.read_bytes() == damaged
