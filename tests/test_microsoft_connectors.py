"""The Microsoft connectors against the local Graph emulator, through the real msal and
requests over HTTPS: the sign-in, the token cache, Graph's throttling, the calendar
contracts, delta links that expire, recurring occurrences and a deleted calendar, and
the summary sent by Graph's sendMail into the user's mailbox on a real Dovecot."""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.contracts import (
    NOW,
    CalendarContract,
    CalendarReaderContract,
    SenderContract,
    event,
    summary,
    summary_id,
)
from support.dovecot import USER, Dovecot, OnDovecot, imap_mailbox
from support.graph_emulator import GraphEmulator

from pursuit.connectors.base import KEY_HEADER, Calendar, CalendarReader, Sender
from pursuit.connectors.graph import GraphClient
from pursuit.connectors.microsoft_auth import MAIL_SEND_SCOPE, MicrosoftSignIn
from pursuit.connectors.outlook_calendar import OutlookCalendar, OutlookCalendarReader
from pursuit.connectors.outlook_mail import GraphSender
from pursuit.daemon.errors import AuthError, CalendarGone, CursorExpired, SourceError, Unreachable

FIX = "pursuit auth microsoft"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    emulator = GraphEmulator().start()
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    try:
        yield emulator
    finally:
        emulator.stop()


def sign_in_of(emu: GraphEmulator, cache: Path, tenant: str = "organizations") -> MicrosoftSignIn:
    """The sign-in as a new process makes it from the config."""
    return MicrosoftSignIn(emu.client_id, tenant, cache, login_endpoint=emu.login_endpoint)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "data" / "microsoft-token.json"


@pytest.fixture
def signed_in(emu: GraphEmulator, cache: Path) -> Path:
    sign_in_of(emu, cache).sign_in(lambda message: None, mail=False)
    return cache


def client_of(emu: GraphEmulator, cache: Path, **options: object) -> GraphClient:
    signin = sign_in_of(emu, cache)
    return GraphClient(
        signin.graph_token,
        endpoint=emu.graph_endpoint,
        mailbox=emu.user,
        **options,  # type: ignore[arg-type]
    )


def graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


# ------------------------------------------------------------------------- the contracts


class TestOutlookCalendar(CalendarContract):
    @pytest.fixture
    def reopen(self, emu: GraphEmulator, signed_in: Path) -> Callable[[], Calendar]:
        return lambda: OutlookCalendar(client_of(emu, signed_in), install_id="0a1b")


class OutlookCalendars:
    """The user's default Outlook calendar in the emulator (CalendarWorld)."""

    def __init__(self, emu: GraphEmulator, cache: Path) -> None:
        self.emu = emu
        self.cache = cache
        self.calendar_id = emu.default_calendar_id

    def reader(self) -> CalendarReader:
        return OutlookCalendarReader(client_of(self.emu, self.cache))

    def put(
        self,
        event_id: str,
        summary: str,
        start: datetime,
        *,
        attendees: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.emu.put_event(
            self.calendar_id,
            {
                "subject": summary,
                "start": graph_time(start),
                "end": graph_time(start + timedelta(hours=1)),
                "attendees": [
                    {"type": "required", "emailAddress": {"address": a, "name": n}}
                    for a, n in attendees
                ],
            },
            event_id=event_id,
        )

    def cancel(self, event_id: str) -> None:
        self.emu.cancel_event(event_id)

    def expire_cursors(self) -> None:
        self.emu.expire_delta_tokens()


class TestOutlookCalendarReader(CalendarReaderContract):
    @pytest.fixture
    def calendars(self, emu: GraphEmulator, signed_in: Path) -> OutlookCalendars:
        return OutlookCalendars(emu, signed_in)


# ------------------------------------------------------------------------- sign-in


def test_the_device_flow_shows_a_code_and_keeps_a_private_cache(
    emu: GraphEmulator, cache: Path
) -> None:
    shown: list[str] = []
    who = sign_in_of(emu, cache).sign_in(shown.append, mail=True)
    assert who == emu.user
    [message] = shown  # every scope consented at once: one code to enter
    assert "enter the code" in message and message.split()[-3] in message
    assert cache.stat().st_mode & 0o777 == 0o600
    assert cache.parent.stat().st_mode & 0o777 == 0o700
    again = sign_in_of(emu, cache)  # another process, no network
    assert again.username() == emu.user
    assert emu.mail_token_valid(again.mail_token())


def test_a_personal_account_signs_in_through_consumers(
    monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    with GraphEmulator(user="sam@outlook.test", personal=True) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        signin = sign_in_of(emu, cache, tenant="consumers")
        assert signin.sign_in(lambda m: None, mail=False) == "sam@outlook.test"
        assert sign_in_of(emu, cache, tenant="consumers").username() == "sam@outlook.test"


def test_mail_never_consented_asks_a_second_code(
    monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    with GraphEmulator(consent_all=False) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        shown: list[str] = []
        sign_in_of(emu, cache).sign_in(shown.append, mail=True)
        assert len([m for m in shown if "enter the code" in m]) == 2
        assert emu.mail_token_valid(sign_in_of(emu, cache).mail_token())


def test_a_declined_or_expired_code_is_one_line_naming_the_command(
    emu: GraphEmulator, cache: Path
) -> None:
    emu.auto_approve = False
    with pytest.raises(AuthError, match="declined") as declined:
        sign_in_of(emu, cache).sign_in(lambda m: emu.decline(), mail=False)
    emu.device_code_lifetime = 0.0
    with pytest.raises(AuthError, match="expired") as expired:
        sign_in_of(emu, cache).sign_in(lambda m: None, mail=False)
    for error in (declined.value, expired.value):
        assert FIX in str(error) and "\n" not in str(error)
    assert not cache.exists() or sign_in_of(emu, cache).username() is None


def test_an_app_registration_mistake_names_its_fix(emu: GraphEmulator, cache: Path) -> None:
    """What a new user gets wrong when registering the app reads as the fix, not as
    "sign in again": an unknown client_id, public client flows left off, a personal
    account on the "organizations" tenant."""
    wrong_app = MicrosoftSignIn(
        "22222222-2222-3333-4444-555555555555",
        "organizations",
        cache,
        login_endpoint=emu.login_endpoint,
    )
    with pytest.raises(AuthError) as unknown:
        wrong_app.sign_in(lambda m: None, mail=False)
    assert "[microsoft] client_id" in str(unknown.value)
    assert "AADSTS700016" in str(unknown.value)
    emu.public_client_flows = False
    with pytest.raises(AuthError) as no_public:
        sign_in_of(emu, cache).sign_in(lambda m: None, mail=False)
    assert '"Allow public client flows" to Yes' in str(no_public.value)
    emu.public_client_flows = True
    emu.personal = True
    with pytest.raises(AuthError) as wrong_tenant:
        sign_in_of(emu, cache, tenant="organizations").sign_in(lambda m: None, mail=False)
    assert 'tenant = "consumers"' in str(wrong_tenant.value)
    for error in (unknown.value, no_public.value, wrong_tenant.value):
        assert "\n" not in str(error) and FIX not in str(error)
    assert not cache.exists() or sign_in_of(emu, cache).username() is None


def test_a_damaged_token_cache_names_the_file_and_the_command(
    emu: GraphEmulator, signed_in: Path
) -> None:
    """The user (or a full disk) left the file half written: one line naming the file
    and `pursuit auth microsoft`, which writes it anew."""
    signed_in.write_text('{"AccessToken": {', encoding="utf-8")
    with pytest.raises(AuthError) as damaged:
        sign_in_of(emu, signed_in).graph_token()
    text = str(damaged.value)
    assert f"{signed_in}: not a readable Microsoft token cache" in text and FIX in text
    assert "\n" not in text
    assert sign_in_of(emu, signed_in).username() is None
    sign_in_of(emu, signed_in).sign_in(lambda message: None, mail=False)
    assert sign_in_of(emu, signed_in).graph_token()


def test_not_signed_in_names_the_command(emu: GraphEmulator, cache: Path) -> None:
    with pytest.raises(AuthError, match=f"not signed in.*{FIX}"):
        sign_in_of(emu, cache).graph_token()


# ------------------------------------------------------------------------- tokens


def test_a_rotated_refresh_token_is_saved_and_read_by_the_next_process(
    emu: GraphEmulator, signed_in: Path
) -> None:
    emu.retire_used_refresh_tokens = True  # stricter than Microsoft: the old one is refused
    before = signed_in.read_text()
    first = sign_in_of(emu, signed_in)
    first.graph_token(force_refresh=True)
    after = signed_in.read_text()
    assert after != before and emu.refresh_tokens_issued[-1] in after
    assert emu.refresh_tokens_issued[-2] not in after
    assert signed_in.stat().st_mode & 0o777 == 0o600
    # another process rotates it again; this one reads the file anew, never the spent token
    sign_in_of(emu, signed_in).graph_token(force_refresh=True)
    assert first.graph_token(force_refresh=True)
    assert emu.refresh_tokens_issued[-1] in signed_in.read_text()


def test_a_sign_in_unused_for_90_days_is_one_clear_line(
    emu: GraphEmulator, signed_in: Path
) -> None:
    client = client_of(emu, signed_in)
    assert client.get("me")["mail"] == emu.user
    emu.expire_refresh_tokens()
    emu.expire_access_tokens()
    with pytest.raises(AuthError) as expired:
        client.get("me")
    message = str(expired.value)
    assert "90 days" in message and FIX in message and "\n" not in message
    assert "AADSTS" not in message and "Trace ID" not in message


def test_a_refused_access_token_is_renewed_once(emu: GraphEmulator, signed_in: Path) -> None:
    client = client_of(emu, signed_in)
    client.get("me")
    emu.expire_access_tokens()  # msal still holds it as valid: Graph says 401
    assert client.get("me")["mail"] == emu.user
    emu.revoke()
    with pytest.raises(AuthError, match=FIX):
        client.get("me")


# ------------------------------------------------------------------------- throttling


def test_retry_after_is_honoured_and_a_throttled_read_finishes(
    emu: GraphEmulator, signed_in: Path
) -> None:
    slept: list[float] = []
    client = client_of(emu, signed_in, sleep=slept.append)
    soon = NOW + timedelta(days=2)
    for number in range(7):
        OutlookCalendars(emu, signed_in).put(
            f"iv{number}", "Interview", soon + timedelta(hours=number)
        )
    emu.throttle(2, retry_after=3)
    emu.throttle(1, retry_after=1, status=503)
    reader = OutlookCalendarReader(client, page_size=2)
    changes = reader.changes(emu.default_calendar_id, None, since=NOW - timedelta(days=1))
    assert sorted(e.event_id for e in changes.entries) == [f"iv{n}" for n in range(7)]
    assert slept == [3, 3, 1]


def test_throttling_past_the_longest_wait_is_unreachable_for_this_round(
    emu: GraphEmulator, signed_in: Path
) -> None:
    slept: list[float] = []
    client = client_of(emu, signed_in, sleep=slept.append, max_wait=10)
    emu.throttle(100, retry_after=4)
    with pytest.raises(Unreachable, match="throttling") as throttled:
        client.get("me")
    assert slept == [4, 4] and "\n" not in str(throttled.value)


def test_never_more_than_four_requests_of_a_mailbox_in_flight(
    emu: GraphEmulator, signed_in: Path
) -> None:
    emu.latency = 0.15
    clients = [client_of(emu, signed_in) for _ in range(2)]  # two connectors, one mailbox
    for one in clients:
        one.get("me")  # tokens in hand before the race
    failures: list[BaseException] = []

    def call(client: GraphClient) -> None:
        try:
            client.get("me/calendars")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=call, args=(clients[n % 2],)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and emu.concurrency_refusals == 0
    assert emu.max_concurrent == 4


# ------------------------------------------------------------------------- reading


def test_an_expired_delta_link_reads_the_window_again_with_nothing_doubled(
    emu: GraphEmulator, signed_in: Path
) -> None:
    world = OutlookCalendars(emu, signed_in)
    soon = NOW + timedelta(days=3)
    world.put("iv1", "Interview", soon)
    master = emu.put_event(
        None,
        {
            "subject": "Weekly interview loop",
            "start": graph_time(soon),
            "end": graph_time(soon + timedelta(hours=1)),
            "recurrence": {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [soon.strftime("%A").lower()],
                },
                "range": {
                    "type": "numbered",
                    "startDate": soon.date().isoformat(),
                    "numberOfOccurrences": 3,
                },
            },
        },
    )
    reader = OutlookCalendarReader(client_of(emu, signed_in), page_size=2)
    since = NOW - timedelta(days=30)
    first = reader.changes(emu.default_calendar_id, None, since=since)
    emu.expire_delta_tokens()
    with pytest.raises(CursorExpired):
        reader.changes(emu.default_calendar_id, first.cursor, since=since)
    again = reader.changes(emu.default_calendar_id, None, since=since)
    keys = [(e.event_id, e.occurrence) for e in again.entries]
    assert len(keys) == len(set(keys)) == 4
    assert sorted(keys, key=str) == sorted(
        [("iv1", None)]
        + [(master, soon.replace(microsecond=0) + timedelta(weeks=w)) for w in range(3)],
        key=str,
    )


def test_an_occurrence_removed_cancels_that_occurrence_alone(
    emu: GraphEmulator, signed_in: Path
) -> None:
    soon = (NOW + timedelta(days=3)).replace(microsecond=0)
    master = emu.put_event(
        None,
        {
            "subject": "Interview loop",
            "start": graph_time(soon),
            "end": graph_time(soon + timedelta(hours=1)),
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {
                    "type": "numbered",
                    "startDate": soon.date().isoformat(),
                    "numberOfOccurrences": 3,
                },
            },
        },
    )
    reader = OutlookCalendarReader(client_of(emu, signed_in))
    first = reader.changes(emu.default_calendar_id, None, since=NOW - timedelta(days=1))
    occurrences = {e.occurrence: e for e in first.entries}
    assert {e.event_id for e in first.entries} == {master}
    second = soon + timedelta(days=1)
    [instance_id] = [
        i["id"]
        for i in emu.view(None, soon - timedelta(hours=1), soon + timedelta(days=5))
        if i.get("originalStart", "").startswith(second.strftime("%Y-%m-%dT%H:%M:%S"))
    ]
    emu.delete_event(instance_id)
    later = reader.changes(emu.default_calendar_id, first.cursor, since=NOW - timedelta(days=1))
    # the series changed, so its other instances may come again (a replay): alive
    [gone] = [e for e in later.entries if e.cancelled]
    assert (gone.event_id, gone.occurrence) == (master, second)
    assert second in occurrences
    assert {e.occurrence for e in later.entries if not e.cancelled} <= set(occurrences) - {second}


def test_the_cursor_keeps_recent_occurrences_only_and_packed(
    emu: GraphEmulator, signed_in: Path
) -> None:
    """The cursor, written back every round, holds each occurrence's id to cancel it by
    (`@removed` gives the id alone): packed, and not those more than two weeks past.
    30 weekly series over the year's window: a few kilobytes, not hundreds."""
    began = (NOW - timedelta(days=100)).replace(microsecond=0)
    for n in range(30):
        emu.put_event(
            None,
            {
                "subject": f"Team sync {n}",
                "start": graph_time(began + timedelta(hours=n % 8)),
                "end": graph_time(began + timedelta(hours=n % 8, minutes=30)),
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {"type": "noEnd", "startDate": began.date().isoformat()},
                },
            },
        )
    reader = OutlookCalendarReader(client_of(emu, signed_in))
    first = reader.changes(emu.default_calendar_id, None, since=NOW - timedelta(days=180))
    assert len(first.entries) > 30 * 60  # past and coming Mondays of each series
    state = json.loads(first.cursor)
    kept = json.loads(zlib.decompress(base64.b64decode(state["packed"])))
    oldest = min(datetime.fromisoformat(occurrence) for _, occurrence in kept.values())
    assert NOW - timedelta(days=15) <= oldest
    assert 30 * 50 <= len(kept) < len(first.entries)
    assert len(first.cursor) < 60_000, len(first.cursor)
    again = reader.changes(emu.default_calendar_id, first.cursor, since=NOW - timedelta(days=180))
    assert again.entries == ()


def test_the_window_is_read_whole_again_when_it_must_move(
    emu: GraphEmulator, signed_in: Path
) -> None:
    OutlookCalendars(emu, signed_in).put("iv1", "Interview", NOW + timedelta(days=2))
    client = client_of(emu, signed_in)
    since = NOW - timedelta(days=30)
    first = OutlookCalendarReader(client).changes(emu.default_calendar_id, None, since=since)
    # a month later the window reaches less far ahead than it should
    later = OutlookCalendarReader(client, window_ahead=timedelta(days=365 + 31))
    with pytest.raises(CursorExpired, match="window"):
        later.changes(emu.default_calendar_id, first.cursor, since=since)
    with pytest.raises(CursorExpired, match="lookback"):  # a longer lookback
        OutlookCalendarReader(client).changes(
            emu.default_calendar_id, first.cursor, since=since - timedelta(days=2)
        )


def test_calendar_ids_by_default_name_or_id_never_pursuits_own(
    emu: GraphEmulator, signed_in: Path
) -> None:
    work = emu.add_calendar("Work")
    emu.add_calendar("Job search (pursuit)")
    reader = OutlookCalendarReader(client_of(emu, signed_in))
    assert reader.calendar_ids(["default", "work", work, "Nope"]) == [
        emu.default_calendar_id,
        work,
    ]
    assert reader.calendar_ids([], exclude=["Work"]) == [emu.default_calendar_id]


# ------------------------------------------------------------------------- writing


def test_a_deleted_calendar_is_reported_once_and_made_again_by_the_next_change(
    emu: GraphEmulator, signed_in: Path
) -> None:
    calendar = OutlookCalendar(client_of(emu, signed_in))  # one instance, as the service keeps it
    calendar.upsert(event("k1"))
    calendar.flush()
    first = calendar.calendar_id
    emu.delete_calendar(first)
    with pytest.raises(CalendarGone, match="was deleted") as gone:
        calendar.upsert(event("k2"))
    assert gone.value.calendar == calendar.name
    calendar.upsert(event("k1"))
    calendar.upsert(event("k2"))
    calendar.flush()
    assert calendar.calendar_id != first and set(calendar.events()) == {"k1", "k2"}
    emu.delete_calendar(calendar.calendar_id)
    with pytest.raises(CalendarGone):
        calendar.flush()  # noticed even when nothing was to change


def test_a_create_retried_after_a_lost_answer_makes_one_event(
    emu: GraphEmulator, signed_in: Path
) -> None:
    calendar = OutlookCalendar(client_of(emu, signed_in), install_id="0a1b")
    calendar.upsert(event("k1"))
    # a new process whose first try's answer was lost: it lists nothing yet, posts again
    again = OutlookCalendar(client_of(emu, signed_in), install_id="0a1b")
    again._ids = {}
    again.upsert(event("k1", sequence=1, summary="Moved"))
    events = OutlookCalendar(client_of(emu, signed_in), install_id="0a1b").events()
    assert list(events) == ["k1"] and events["k1"].summary == "Moved"
    assert len(emu.events(calendar.calendar_id)) == 1


def test_another_installs_events_are_left_alone(emu: GraphEmulator, signed_in: Path) -> None:
    ours = OutlookCalendar(client_of(emu, signed_in), install_id="aaaa")
    theirs = OutlookCalendar(client_of(emu, signed_in), install_id="bbbb")
    ours.upsert(event("k1"))
    theirs.upsert(event("k1", summary="Theirs"))
    assert ours.events()["k1"].summary == event().summary
    assert ours.other_installs() == {"bbbb"}
    ours.delete("k1")
    assert list(theirs.events()) == ["k1"]


def test_reading_the_calendar_does_not_load_msal() -> None:
    code = (
        "import sys, pursuit.connectors.outlook_calendar; "
        "sys.exit('msal' in sys.modules or 'icalendar' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ------------------------------------------------------------------------- the summary


def graph_sender(
    emu: GraphEmulator,
    cache: Path,
    *,
    to: str | None = None,
    find_message: Callable[[str, str], str | None] | None = None,
) -> GraphSender:
    """The summary's sender as the account makes it in a new process."""
    client = GraphClient(
        sign_in_of(emu, cache).send_token, endpoint=emu.graph_endpoint, mailbox=emu.user
    )
    return GraphSender(client, address=to or emu.user, mailbox=emu.user, find_message=find_message)


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


class GraphSent:
    """Dovecot's user signed in to Microsoft: what Graph sends lands in their mailbox
    (Exchange's copy in Sent, and in INBOX what is sent to them), where the IMAP
    mailbox finds it again (SendWorld)."""

    user = USER

    def __init__(self, emu: GraphEmulator, dovecot: Dovecot, cache: Path) -> None:
        self.emu = emu
        self.dovecot = dovecot
        self.cache = cache
        emu.deliver = dovecot.append

    def sender(self) -> Sender:
        return graph_sender(self.emu, self.cache, find_message=imap_mailbox(self.dovecot).find_sent)

    def sent(self) -> list[EmailMessage]:
        return [parsed(raw) for raw in self.emu.sent_mime]


@pytest.fixture
def graph_user(monkeypatch: pytest.MonkeyPatch, cache: Path) -> Iterator[GraphEmulator]:
    """Dovecot's user, signed in with mail (Mail.Send among the consented scopes only)."""
    with GraphEmulator(user=USER, consent_all=False) as emulator:
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        sign_in_of(emulator, cache).sign_in(lambda message: None, mail=True)
        yield emulator


class TestGraphSender(OnDovecot, SenderContract):
    @pytest.fixture
    def outgoing(self, graph_user: GraphEmulator, dovecot: Dovecot, cache: Path) -> GraphSent:
        return GraphSent(graph_user, dovecot, cache)


def test_the_summary_arrives_whole_in_the_inbox_as_mime_from_the_signed_in_user(
    graph_user: GraphEmulator, cache: Path
) -> None:
    delivered: list[tuple[str, bytes]] = []
    graph_user.deliver = lambda folder, raw: delivered.append((folder, raw))
    message = summary(USER, From=f"pursuit <{USER}>")
    message.add_alternative("<p>Three follow-ups are due.</p>", subtype="html")
    began: list[bool] = []
    message_id = graph_sender(graph_user, cache).send(message, begin=lambda: began.append(True))
    assert began == [True]
    assert [folder for folder, _ in delivered] == ["Sent", "INBOX"]
    arrived = parsed(delivered[1][1])
    assert arrived["Message-ID"] == message_id == summary_id("summary:2026-W49")
    assert arrived[KEY_HEADER] == "summary:2026-W49"
    assert email.utils.parseaddr(str(arrived["From"])) == ("pursuit", USER)
    assert arrived.get_body(("html",)).get_content().strip() == (  # type: ignore[union-attr]
        "<p>Three follow-ups are due.</p>"
    )
    assert graph_user.graph_requests("POST", "sendMail") == 1
    assert graph_user.sent == [], "MIME, not Graph's JSON message"


def test_to_another_address_of_the_user_it_goes_from_the_signed_in_mailbox(
    graph_user: GraphEmulator, cache: Path
) -> None:
    """Exchange sends only as the signed-in mailbox (403 ErrorSendAsDenied otherwise):
    a summary to the user's other address goes from the Microsoft one."""
    graph_sender(graph_user, cache, to="alex@home.test").send(summary("alex@home.test"))
    [sent] = [parsed(raw) for raw in graph_user.sent_mime]
    assert email.utils.parseaddr(str(sent["From"]))[1] == USER
    assert email.utils.parseaddr(str(sent["To"]))[1] == "alex@home.test"


def test_a_throttled_send_is_waited_out_and_sent_once(
    graph_user: GraphEmulator, cache: Path
) -> None:
    graph_user.throttle(2, retry_after=0)
    graph_sender(graph_user, cache).send(summary(USER))
    assert len(graph_user.sent_mime) == 1
    assert graph_user.graph_requests("POST", "sendMail") == 3


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_send_whose_answer_may_be_lost_is_not_repeated_blindly(
    graph_user: GraphEmulator, cache: Path, status: int
) -> None:
    """A gateway's 504 or a 500 may come after Exchange took the message: the send is not
    tried again in the same breath (the outbox, which noted it before, looks for it once
    its time in doubt is over), while a read meeting the same answer is tried again."""
    graph_user.throttle(1, retry_after=0, status=status)
    with pytest.raises(SourceError, match=str(status)):
        graph_sender(graph_user, cache).send(summary(USER), begin=lambda: None)
    assert graph_user.graph_requests("POST", "sendMail") == 1
    graph_user.throttle(1, retry_after=0, status=status)
    assert client_of(graph_user, cache, sleep=lambda s: None).get("me")["mail"] == USER
    assert graph_user.graph_requests("GET", "/me") == 2


def test_a_calendar_only_sign_in_asks_no_mail_right_and_cannot_send(
    monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    with GraphEmulator(consent_all=False) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        shown: list[str] = []
        sign_in_of(emu, cache).sign_in(shown.append, mail=False)
        assert len(shown) == 1
        assert MAIL_SEND_SCOPE not in emu.consented_scopes
        assert not any("outlook.office.com" in scope for scope in emu.consented_scopes)
        began: list[bool] = []
        with pytest.raises(AuthError) as refused:
            graph_sender(emu, cache).send(summary(emu.user), begin=lambda: began.append(True))
        assert FIX in str(refused.value) and "summary" in str(refused.value)
        assert began == [], "refused before anything could leave: no send in doubt"
        assert emu.sent_mime == [] and emu.graph_requests("POST", "sendMail") == 0
        # signing in with mail asks for it, in the first code already
        sign_in_of(emu, cache).sign_in(shown.append, mail=True)
        assert MAIL_SEND_SCOPE in emu.consented_scopes
        graph_sender(emu, cache).send(summary(emu.user))
        assert len(emu.sent_mime) == 1


def test_a_send_graph_refuses_is_one_line_naming_graphs_code(
    graph_user: GraphEmulator, cache: Path
) -> None:
    """Were From someone else after all (an Exchange rule, a shared mailbox), Graph's
    refusal reads as one line."""
    sender = graph_sender(graph_user, cache)
    sender.mailbox = "boss@contoso.test"  # as if signed in as another user
    with pytest.raises(SourceError) as refused:
        sender.send(summary(USER))
    text = str(refused.value)
    assert "POST me/sendMail: 403 ErrorSendAsDenied" in text and "\n" not in text
    assert graph_user.sent_mime == []
