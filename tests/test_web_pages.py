"""The dashboard's pipeline, organization, prep-sheet and draft pages, and the changes
made from them, through Flask's test client: each page shows what the user expects of a
week of a job search, each change is the command line's (same store, same words)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from support.app import PARIS, Clock, make_settings
from support.summary import Item, week_story
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from pursuit.daemon.app import App
from pursuit.daemon.models import Channel, Direction, DutyKind, DutyState, NoteKind, WantedFeed
from pursuit.daemon.web.app import create_app

TOKEN = "test-token"
#: Monday morning, a week after Acme's interview (30 November, 14:00, Jane and Raj).
MONDAY_MORNING = datetime(2026, 12, 7, 8, 30, tzinfo=PARIS)
HOSTILE = "<script>alert(1)</script>"


@dataclass
class Site:
    """One user's store, its dashboard signed in, and the clock both read."""

    app: App
    client: FlaskClient
    clock: Clock

    def page(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data(as_text=True)

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            token: str = session["csrf"]
        return token

    def post(self, path: str, on_page: str, **form: str) -> TestResponse:
        """A form of the page `on_page` sent, with its hidden fields."""
        fields = {"csrf_token": self.csrf(), "next": on_page, **form}
        return self.client.post(path, data=fields)

    def follow(self, response: TestResponse) -> str:
        """The page a change redirected to (303), with its message."""
        assert response.status_code == 303, response.get_data(as_text=True)
        return self.page(response.headers["Location"])

    def org_id(self, name: str) -> int:
        return self.app.store.find_organization(name).id


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = make_settings(tmp_path)
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=PARIS))
    app = App(settings, clock=clock)
    week_story(app, clock)  # Acme's interview, Globex's likely rejection, Initech rejected
    clock.now = MONDAY_MORNING
    client = create_app(settings, token=TOKEN, now=clock).test_client()
    assert client.get(f"/login?token={TOKEN}").status_code == 303
    yield Site(app, client, clock)
    app.close()


def text(page: str) -> str:
    """What the page reads as: tags out (a block's as a space), entities read, white
    space one space."""
    inline = re.sub(r"</?(a|time|span|strong|code|label|button)\b[^>]*>", "", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def column_of(page: str, org_id: int) -> str:
    """The status column of the pipeline holding the organization's card."""
    for status, body in re.findall(
        r'<section class="pipeline-column pipeline-(\w+)".*?>(.*?)</section>', page, re.S
    ):
        if f'id="org-{org_id}"' in body:
            return str(status)
    raise AssertionError(f"org-{org_id} is on no column")


def card(page: str, org_id: int) -> str:
    found = re.search(rf'<li class="pipeline-card[^"]*" id="org-{org_id}">(.*?)</li>', page, re.S)
    assert found, f"no card org-{org_id}"
    return text(found[1])


# --- the pipeline


def test_the_pipeline_shows_each_organization_in_its_column_with_its_next_duty(
    site: Site,
) -> None:
    page = site.page("/pipeline")
    acme, globex, initech = (site.org_id(n) for n in ("Acme Networks", "Globex", "Initech"))
    assert [column_of(page, o) for o in (acme, globex, initech)] == [
        "active",
        "active",
        "rejected",
    ]
    assert f'<a href="/organizations/{acme}">Acme Networks</a>' in page
    assert "Acme Networks 1 interview Next:" in card(page, acme)
    assert "Next: thank-you to Raj Patel, due Mon 30 Nov 17:00 (6 days late)" in card(page, acme)
    assert "likely rejection: 'Your application' (Wed 02 Dec)" in card(page, globex)
    assert "Nothing to do." in card(page, globex)
    assert "Next: check-in, due Thu 14 Jan 2027 10:00" in card(page, initech)
    for status in ("Active (2)", "Offer (0)", "Rejected (1)", "Withdrawn (0)", "Closed (0)"):
        assert status in text(page)
    # Raj's thank-you done, the next are two follow-ups due at the same time: Jane's, made first
    store = site.app.store
    (thanks,) = store.duties(state=DutyState.PENDING, kinds=(DutyKind.THANK_YOU,))
    store.mark_done(thanks.id, when=MONDAY_MORNING, evidence="marked done by you")
    after = card(site.page("/pipeline"), acme)
    assert "Next: follow-up to Jane Doe, due Mon 07 Dec 10:00 Status" in after


def test_a_coming_interview_is_on_its_card(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    start = datetime(2026, 12, 9, 10, 0, tzinfo=PARIS)
    store.add_interview(acme.id, start, start + timedelta(hours=1), [jane.id])
    assert "2 interviews, next Wed 09 Dec 10:00" in card(site.page("/pipeline"), acme.id)


def test_an_organization_gone_quiet_since_its_follow_up_was_due_says_so(site: Site) -> None:
    acme = site.org_id("Acme Networks")
    words = "Gone quiet: a follow-up was due Mon 07 Dec 10:00, nothing exchanged since"
    assert "Gone quiet" not in site.page("/pipeline")  # Monday 8:30: not due yet
    site.clock.now = datetime(2026, 12, 8, 9, 0, tzinfo=PARIS)
    assert words in card(site.page("/pipeline"), acme)
    assert words in text(site.page(f"/organizations/{acme}"))


# --- an organization


def test_an_organization_shows_its_timeline_newest_first_its_people_and_feeds(
    site: Site,
) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    store.set_feeds(
        [WantedFeed(f.organization_id, f.configured_url, "x", f.kind, "rss") for f in store.feeds()]
        + [
            WantedFeed(acme.id, "https://acme.com/press.xml", "x", "press", "rss"),
            WantedFeed(acme.id, "https://acme.com/careers.xml", "x", "careers", "rss"),
        ]
    )
    feeds = {f.configured_url: f for f in store.feeds()}
    wednesday = datetime(2026, 12, 2, 9, 0, tzinfo=PARIS)
    store.save_feed_items(
        feeds["https://acme.com/press.xml"],
        [Item("p1", "press", "Acme wins a data-center deal", link="https://acme.com/deal")],
        now=wednesday,
    )
    careers = feeds["https://acme.com/careers.xml"]
    store.save_feed_items(
        careers,
        [
            Item("j1", "opening", "Senior Network Engineer", location="Lyon"),
            Item("j2", "opening", "SRE"),
        ],
        now=wednesday,
    )
    store.save_feed_items(  # SRE left the board on Friday
        careers,
        [Item("j1", "opening", "Senior Network Engineer", location="Lyon")],
        now=wednesday + timedelta(days=2),
        complete_listing=True,
    )
    page = site.page(f"/organizations/{acme.id}")
    shown = text(page)
    assert f'id="org-{acme.id}"' in page
    assert "Acme Networks Status: active since 30 Nov 2026" in shown
    assert "Domains acme.com" in shown
    timeline = text(page.split('id="timeline"')[1].split("</ol>")[0])
    assert timeline.index("email from you Thank you for today [Jane Doe]") < timeline.index(
        "interview Network Engineer [Jane Doe, Raj Patel]"
    )
    assert timeline.index("interview Network Engineer") < timeline.index(
        "email to you Interview invitation [Jane Doe]"
    )
    assert "done thank-you done (sent" in timeline
    assert "note liked my BGP migration story [Raj Patel]" in timeline
    assert (
        "Jane Doe jane@acme.com Last exchange: Mon 30 Nov 17:30, email from you: "
        "“Thank you for today”" in shown
    )
    assert "Raj Patel raj@acme.com No exchange logged yet." in shown
    assert re.search(r'<li id="interview-\d+"><a href="/interviews/\d+">', page)
    assert (
        '<a href="https://acme.com/deal" rel="noopener noreferrer">Acme wins a data-center deal</a>'
        in page
    )
    assert "Senior Network Engineer Lyon" in shown
    assert "SRE (closed 04 Dec 2026)" in shown
    # What is to do there, with the draft of the thank-you
    raj = store.find_contact("raj@acme.com")
    (thanks,) = store.duties(contact=raj.id, kinds=(DutyKind.THANK_YOU,))
    row = re.search(rf'<li class="item late" id="duty-{thanks.id}">(.*?)</li>', page, re.S)
    assert row is not None
    assert text(row[1]).startswith(
        f"Thank-you to Raj Patel #{thanks.id} Due Mon 30 Nov 17:00: 6 days late "
        "Open the draft I sent it Done Snooze to"
    )


def test_a_long_timeline_shows_the_newest_entries_and_counts_the_rest(site: Site) -> None:
    store = site.app.store
    globex = store.find_organization("Globex")
    lee = store.find_contact("lee@globex.example")
    start = datetime(2026, 6, 1, 9, 0, tzinfo=PARIS)
    with store.transaction():
        for n in range(250):
            store.log_correspondence(
                message_id=f"<m{n}@globex.example>",
                direction=Direction.IN,
                when=start + timedelta(hours=n),
                channel=Channel.EMAIL,
                organization_id=globex.id,
                contact_ids=[lee.id],
                subject=f"message {n}",
            )
    page = site.page(f"/organizations/{globex.id}")
    assert page.count('class="org-entry ') == 200
    assert "Your application" in page  # the newest, 2 December
    assert "message 249<" in page and "message 50<" not in page
    assert '51 older entries not shown: <code>pursuit history "Globex"</code>' in page


def test_an_unknown_organization_is_not_found(site: Site) -> None:
    response = site.client.get("/organizations/999")
    assert response.status_code == 404
    assert "no organization with id 999" in response.get_data(as_text=True)


# --- a status change


def test_a_status_change_says_what_will_happen_then_does_it_when_confirmed(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    pending = {d.id for d in store.duties(organization=acme.id, state=DutyState.PENDING)}
    assert len(pending) == 3
    back = "/pipeline"
    first = site.post(f"/organizations/{acme.id}/status", back, status="rejected")
    assert first.status_code == 200
    shown = text(first.get_data(as_text=True))
    assert "Set Acme Networks to rejected?" in shown
    assert (
        "Acme Networks: rejected; pending duties cancelled, a check-in is planned in 45 days"
        in shown
    )
    assert store.find_organization("Acme Networks").status == "active"  # nothing changed yet
    assert {d.id for d in store.duties(organization=acme.id, state=DutyState.PENDING)} == pending
    assert ">Set to rejected</button>" in first.get_data(as_text=True)

    confirmed = site.post(
        f"/organizations/{acme.id}/status",
        f"/organizations/{acme.id}/status",
        status="rejected",
        confirm="1",
        back=back,
    )
    assert confirmed.headers["Location"] == back  # back to the page the change began on
    page = text(site.follow(confirmed))
    assert (
        "Acme Networks: rejected; pending duties cancelled, a check-in is planned in 45 days"
        in page
    )
    assert store.find_organization("Acme Networks").status == "rejected"
    assert all(store.duty(d).state == DutyState.CANCELLED for d in pending)
    check_in = store.duties(organization=acme.id, state=DutyState.PENDING)
    assert [d.kind for d in check_in] == [DutyKind.CHECK_IN]
    assert column_of(site.page("/pipeline"), acme.id) == "rejected"
    timeline = text(site.page(f"/organizations/{acme.id}"))
    assert "status rejected on 07 Dec 2026" in timeline


def test_a_status_already_set_changes_nothing_and_says_so(site: Site) -> None:
    initech = site.org_id("Initech")
    response = site.post(f"/organizations/{initech}/status", "/pipeline", status="rejected")
    shown = text(response.get_data(as_text=True))
    assert "Initech is already rejected (since 30 Nov 2026). Nothing to change." in shown
    assert "Set to rejected" not in shown


def test_a_flagged_organization_set_to_what_it_is_clears_the_flag(site: Site) -> None:
    """Globex is active, flagged as a likely rejection: 'active' says so and clears it,
    as `pursuit org status globex active` does."""
    globex = site.org_id("Globex")
    first = text(
        site.post(f"/organizations/{globex}/status", "/pipeline", status="active").get_data(
            as_text=True
        )
    )
    assert "Globex: active" in first and "Set to active" in first
    site.follow(
        site.post(
            f"/organizations/{globex}/status", "/", status="active", confirm="1", back="/pipeline"
        )
    )
    assert site.app.store.organization(globex).flag is None


def test_an_unknown_status_is_refused_with_the_choices(site: Site) -> None:
    acme = site.org_id("Acme Networks")
    response = site.post(f"/organizations/{acme}/status", f"/organizations/{acme}", status="hired")
    page = text(site.follow(response))
    assert "status 'hired' is not one of active, offer, rejected, withdrawn, closed" in page
    assert site.app.store.organization(acme).status == "active"


# --- a note, a promise, an exchange


def test_a_note_is_kept_private_and_appears_on_the_timeline(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    back = f"/organizations/{acme.id}"
    response = site.post(
        f"/contacts/{jane.id}/note", back, text="asked about on-call", organization=str(acme.id)
    )
    assert response.headers["Location"] == back
    page = text(site.follow(response))
    assert "Noted for Jane Doe (private, never in a draft): asked about on-call" in page
    assert "note asked about on-call [Jane Doe]" in page
    notes = store.notes(contact=jane.id, kinds=[NoteKind.NOTE])
    assert [n.text for n in notes] == ["asked about on-call"]


def test_a_line_for_the_thank_you_goes_into_the_draft(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    raj = store.find_contact("raj@acme.com")
    (duty,) = store.duties(contact=raj.id, kinds=(DutyKind.THANK_YOU,))
    before = text(site.page(f"/duties/{duty.id}/draft"))
    assert "[a line of your own: what you enjoyed talking about]" in before
    assert "No line of your own yet" in before
    response = site.post(
        f"/contacts/{raj.id}/note",
        f"/organizations/{acme.id}",
        text="I enjoyed hearing about your BGP migration.",
        thank_you="1",
        organization=str(acme.id),
    )
    assert response.headers["Location"] == f"/duties/{duty.id}/draft"  # see it in place
    page = text(site.follow(response))
    assert (
        "Raj Patel's thank-you says, on a line of its own: "
        "I enjoyed hearing about your BGP migration." in page
    )
    assert "Acme Networks. I enjoyed hearing about your BGP migration. Our conversation" in page
    assert "[a line of your own" not in page


def test_a_promise_plans_the_follow_up_on_that_day(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    back = f"/organizations/{acme.id}"
    page = text(
        site.follow(
            site.post(f"/contacts/{jane.id}/promise", back, on="friday", organization=str(acme.id))
        )
    )
    assert "Follow up with Jane Doe on Fri 11 Dec 2026" in page
    assert "promise follow up on 2026-12-11 [Jane Doe]" in page
    follow_up = store.duty_by_key(f"follow_up:{store.interviews(acme.id)[0].id}:{jane.id}")
    assert follow_up is not None
    assert follow_up.due.astimezone(PARIS).date().isoformat() == "2026-12-11"


def test_a_promise_may_be_a_delay_after_the_interview(site: Site) -> None:
    """As `pursuit commit jane@acme.com --in 2w`: two weeks after Monday 30 November."""
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    response = site.post(
        f"/contacts/{jane.id}/promise",
        f"/organizations/{acme.id}",
        on="2w",
        organization=str(acme.id),
    )
    assert "Follow up with Jane Doe on Mon 14 Dec 2026" in text(site.follow(response))


def test_a_promise_in_the_past_is_refused_in_the_commands_words(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    back = f"/organizations/{acme.id}"
    page = text(
        site.follow(
            site.post(
                f"/contacts/{jane.id}/promise", back, on="2026-12-01", organization=str(acme.id)
            )
        )
    )
    assert "'2026-12-01': Tue 01 Dec 2026 is in the past; a promise is of a day to come" in page
    assert store.notes(contact=jane.id, kinds=[NoteKind.PROMISE]) == []


def test_a_call_logged_by_hand_does_the_follow_up_and_is_on_the_timeline(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    raj = store.find_contact("raj@acme.com")
    site.clock.now = datetime(2026, 12, 7, 11, 0, tzinfo=PARIS)
    back = f"/organizations/{acme.id}"
    response = site.post(
        f"/organizations/{acme.id}/log",
        back,
        channel="call",
        contact=str(raj.id),
        direction="out",
        text="checked on the decision",
        when="",
    )
    page = text(site.follow(response))
    follow_up = store.duty_by_key(f"follow_up:{store.interviews(acme.id)[0].id}:{raj.id}")
    assert follow_up is not None and follow_up.state == DutyState.DONE
    assert f"Logged call with Raj Patel. Duty #{follow_up.id} done: follow-up to Raj Patel" in page
    assert "call from you checked on the decision [Raj Patel]" in page
    assert "Last exchange: Mon 07 Dec 11:00, call from you: “checked on the decision”" in page


def test_an_email_they_sent_logged_at_a_given_time(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    back = f"/organizations/{acme.id}"
    page = text(
        site.follow(
            site.post(
                f"/organizations/{acme.id}/log",
                back,
                channel="email",
                contact=str(jane.id),
                direction="in",
                text="Next steps",
                when="2026-12-04 16:00",
            )
        )
    )
    assert "Logged email with Jane Doe" in page
    assert "Fri 04 Dec 16:00 email to you Next steps [Jane Doe]" in page


# --- the prep sheet and the draft


def test_an_interview_shows_its_prep_sheet_with_a_way_back(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    start = datetime(2026, 12, 9, 10, 0, tzinfo=PARIS)
    coming = store.add_interview(
        acme.id, start, start + timedelta(hours=1), [jane.id], position="Senior Network Engineer"
    )
    page = site.page(f"/interviews/{coming}")
    shown = text(page)
    assert f'id="interview-{coming}"' in page
    assert "Acme Networks, Senior Network Engineer" in shown
    assert "Who you will meet" in shown and "Jane Doe" in shown
    assert f'<a href="/organizations/{acme.id}#interview-{coming}">Acme Networks</a>' in page
    assert "Print" in shown
    assert site.client.get("/interviews/999").status_code == 404


def test_the_draft_downloads_as_the_commands_eml(site: Site) -> None:
    store = site.app.store
    raj = store.find_contact("raj@acme.com")
    (duty,) = store.duties(contact=raj.id, kinds=(DutyKind.THANK_YOU,))
    draft = site.page(f"/duties/{duty.id}/draft")
    page = text(draft)
    assert "To Raj Patel <raj@acme.com>" in page
    assert "Subject Thank you – Network Engineer interview" in page
    assert "Dear Raj, Thank you for taking the time to speak with me on 30 November" in page
    assert "No From: pursuit does not know your address yet" in page
    response = site.client.get(f"/duties/{duty.id}/draft.eml")
    assert response.status_code == 200
    assert response.mimetype == "message/rfc822"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="thank-you-{duty.id}.eml"'
    )
    message = message_from_bytes(response.data, policy=policy.default)
    assert message["X-Unsent"] == "1"
    assert message["To"] == "Raj Patel <raj@acme.com>"
    assert "in your mailbox says" not in page  # no mailbox holds it yet
    store.record_draft_queued(duty.id, 1, response.data, now=MONDAY_MORNING)
    assert "pursuit leaves this draft in your mailbox at its next round." in text(
        site.page(f"/duties/{duty.id}/draft")
    )
    store.record_draft_written(duty.id, response.data, now=MONDAY_MORNING)
    assert "The draft in your mailbox says the same." in text(site.page(f"/duties/{duty.id}/draft"))
    form = re.search(r'<form method="post" action="/duties/\d+/sent">(.*?)</form>', draft, re.S)
    assert form is not None
    fields = MultiDict(re.findall(r'name="(\w+)" value="([^"]*)"', form[1]))  # in page order
    sent = site.client.post(f"/duties/{duty.id}/sent", data=fields)
    assert sent.status_code == 303
    assert sent.headers["Location"] == f"/organizations/{raj.organization_id}"
    assert store.duty(duty.id).state == DutyState.DONE


def test_a_duty_that_is_not_a_thank_you_has_no_draft(site: Site) -> None:
    store = site.app.store
    jane = store.find_contact("jane@acme.com")
    (follow_up,) = store.duties(contact=jane.id, kinds=(DutyKind.FOLLOW_UP,))
    response = site.client.get(f"/duties/{follow_up.id}/draft")
    assert response.status_code == 409
    assert (
        f"duty #{follow_up.id} is a follow-up, not a thank-you: pursuit drafts only thank-you notes"
        in text(response.get_data(as_text=True))
    )
    (done,) = store.duties(contact=jane.id, kinds=(DutyKind.THANK_YOU,))
    response = site.client.get(f"/duties/{done.id}/draft")
    assert f"duty #{done.id} is done: there is nothing left to draft" in text(
        response.get_data(as_text=True)
    )


# --- text from outside, and changes from elsewhere


def test_hostile_names_subjects_and_feed_items_are_text_never_markup(site: Site) -> None:
    store = site.app.store
    now = site.clock.now
    org = store.add_organization(HOSTILE, ["evil.example"], now=now)
    person = store.ensure_contact("x@evil.example", HOSTILE, org.id)
    store.log_correspondence(
        message_id="<evil@evil.example>",
        direction=Direction.IN,
        when=now - timedelta(hours=1),
        channel=Channel.EMAIL,
        organization_id=org.id,
        contact_ids=[person.id],
        subject=HOSTILE,
    )
    store.set_feeds(
        [WantedFeed(f.organization_id, f.configured_url, "x", f.kind, "rss") for f in store.feeds()]
        + [WantedFeed(org.id, "https://evil.example/news.xml", "x", "news", "rss")]
    )
    (feed,) = [f for f in store.feeds() if f.organization_id == org.id]
    store.save_feed_items(
        feed,
        [
            Item("e1", "news", HOSTILE, link="javascript:alert(1)"),
            Item("e2", "news", "Plain news", link="JavaScript:alert(2)"),
        ],
        now=now,
    )
    for path in ("/pipeline", f"/organizations/{org.id}"):
        page = site.page(path)
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "javascript:" not in page.lower()
    confirm = site.post(f"/organizations/{org.id}/status", "/pipeline", status="closed")
    assert "<script>" not in confirm.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: closed" in confirm.get_data(as_text=True)
    page = site.page(f"/organizations/{org.id}")
    assert "Plain news" in page and 'href="' not in page.split('id="news"')[1].split("</ul>")[0]


def test_a_change_without_the_forms_token_changes_nothing(site: Site) -> None:
    store = site.app.store
    acme = store.find_organization("Acme Networks")
    jane = store.find_contact("jane@acme.com")
    for path, form in (
        (f"/contacts/{jane.id}/note", {"text": "forged"}),
        (f"/contacts/{jane.id}/promise", {"on": "friday"}),
        (
            f"/organizations/{acme.id}/log",
            {"channel": "call", "contact": str(jane.id), "text": "x"},
        ),
        (f"/organizations/{acme.id}/status", {"status": "rejected", "confirm": "1"}),
    ):
        response = site.client.post(path, data=form)
        assert response.status_code == 403, path
    assert store.organization(acme.id).status == "active"
    assert store.notes(contact=jane.id, kinds=[NoteKind.NOTE, NoteKind.PROMISE]) == []
    assert [m.subject for m in store.correspondence(organization_id=acme.id)] == [
        "Thank you for today",
        "Interview invitation",
    ]
