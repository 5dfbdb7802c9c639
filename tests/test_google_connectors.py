"""The Google connectors against the local emulator: the real google-api-python-client
and google-auth over HTTP, nothing mocked but the retry sleeps."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.contracts import START, event
from support.google_emulator import GoogleEmulator

from pursuit.connectors.base import MailMessage, event_id_for
from pursuit.connectors.gmail import GmailMailbox, QuotaPacer, build_queries, parse
from pursuit.connectors.google_auth import (
    SCOPES,
    load_credentials,
    refresh_or_raise,
    run_consent_flow,
    save_credentials,
)
from pursuit.connectors.google_calendar import GoogleCalendar, GoogleCalendarReader
from pursuit.daemon.errors import AuthError, CursorExpired, ItemError

ME = "me@example.test"
NOW = datetime.now(UTC)
SINCE = NOW - timedelta(days=180)
GET_PREFIX = "gmail/v1/users/me/messages/"  # messages.get (messages.list has no slash)


@pytest.fixture(autouse=True)
def _quick_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """googleapiclient sleeps random()·2**n between retries: keep it short here."""
    import googleapiclient.http

    monkeypatch.setattr(googleapiclient.http.random, "random", lambda: 0.002)


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    emulator = GoogleEmulator(user_email=ME, scopes=SCOPES).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def token_file(tmp_path: Path, emu: GoogleEmulator) -> Path:
    """The token as `pursuit auth google` leaves it, in a fresh 0700 directory."""
    path = tmp_path / "data" / "pursuit" / "google-token.json"
    path.parent.mkdir(parents=True, mode=0o700)
    emu.write_authorized_user_file(str(path))
    return path


def mailbox(emu: GoogleEmulator, token_file: Path, **options: Any) -> GmailMailbox:
    options.setdefault("quota_units_per_second", 100_000)
    options.setdefault("backoff", 0.005)
    creds = load_credentials(token_file, token_uri=emu.token_uri)
    return GmailMailbox(creds, token_file, api_endpoint=emu.gmail_endpoint, **options)


def raw(
    sender: str,
    to: str = ME,
    subject: str = "Hello",
    *,
    ident: str | None = "auto",
    date: datetime | str | None = None,
    extra: str = "",
    body: str = "Thanks for your time.",
) -> str:
    when = date or NOW - timedelta(days=2)
    date_text = when if isinstance(when, str) else when.strftime("%a, %d %b %Y %H:%M:%S %z")
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date_text}"]
    if ident == "auto":
        ident = f"<{abs(hash((sender, to, subject, body)))}@mail.test>"
    if ident:
        lines.append(f"Message-ID: {ident}")
    return "\r\n".join(lines) + "\r\n" + extra + "\r\n" + body + "\r\n"


def fill(emu: GoogleEmulator, matching: int, others: int) -> set[str]:
    """`matching` messages to or from acme (addresses and a subdomain), among others."""
    ids = set()
    for i in range(matching):
        kind = i % 3
        labels = ["SENT"] if kind == 2 else ["INBOX"]
        if kind == 0:
            message = raw("Jane Doe <jane.doe@acme.test>", subject=f"Round {i}")
        elif kind == 1:
            message = raw(f"Recruiting <talent{i}@eu.acme.test>", subject=f"Update {i}")
        else:
            message = raw(f"Me <{ME}>", to=f"Bob <bob{i}@acme.test>", subject=f"Re: {i}")
        when = NOW - timedelta(days=1, minutes=i)
        ids.add(emu.add_message(message, label_ids=labels, internal_date=when))
    for i in range(others):
        emu.add_message(
            raw(f"News <news{i}@shop.test>", subject=f"Sale {i}"),
            internal_date=NOW - timedelta(days=1, minutes=i),
        )
    # matching, but older than the lookback
    emu.add_message(raw("jane.doe@acme.test", subject="old"), internal_date=SINCE - timedelta(1))
    return ids


def collect(box: GmailMailbox, **kwargs: Any) -> list[MailMessage]:
    kwargs.setdefault("addresses", ["jane.doe@acme.test"])
    kwargs.setdefault("domains", ["acme.test"])
    kwargs.setdefault("since", SINCE)
    return [m for batch in box.search(**kwargs) for m in batch]


# ------------------------------------------------------------------------- the token


def test_token_is_saved_0600_in_a_0700_dir_and_rewritten_after_each_refresh(
    tmp_path: Path, emu: GoogleEmulator
) -> None:
    path = tmp_path / "new" / "dir" / "token.json"
    save_credentials(emu.credentials(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    box = mailbox(emu, path)
    box.profile()  # first call: a refresh, saved
    first = json.loads(path.read_text())["token"]
    assert first
    box.profile()
    assert json.loads(path.read_text())["token"] == first  # no refresh, no rewrite

    emu.expire_tokens()  # the next call answers 401: the client refreshes and retries
    box.profile()
    second = json.loads(path.read_text())
    assert second["token"] != first
    assert second["refresh_token"] == emu.refresh_token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]  # no temporary left

    # a fresh process uses the saved token: no refresh needed
    before = emu.token_requests
    mailbox(emu, path).profile()
    assert emu.token_requests == before


def test_a_refresh_during_a_batch_is_saved_too(emu: GoogleEmulator, token_file: Path) -> None:
    fill(emu, 10, 0)
    box = mailbox(emu, token_file)
    box.profile()
    emu.expire_tokens()
    assert len(collect(box)) == 10
    saved = json.loads(token_file.read_text())["token"]
    assert saved == box._http.credentials.token


def test_a_revoked_grant_says_how_to_sign_in_again(emu: GoogleEmulator, token_file: Path) -> None:
    box = mailbox(emu, token_file)
    cal = GoogleCalendar(
        load_credentials(token_file, token_uri=emu.token_uri),
        token_file,
        api_endpoint=emu.calendar_endpoint,
    )
    emu.revoke()
    with pytest.raises(AuthError, match=r"revoked or has expired; run `pursuit auth google`"):
        box.profile()
    with pytest.raises(AuthError, match="pursuit auth google"):
        cal.events()
    assert json.loads(token_file.read_text())["refresh_token"] == emu.refresh_token


def test_missing_or_broken_token_files(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match=r"not signed in: run `pursuit auth google`"):
        load_credentials(tmp_path / "nothing.json")
    bad = tmp_path / "token.json"
    bad.write_text("{not json")
    with pytest.raises(AuthError, match=r"token\.json.*pursuit auth google"):
        load_credentials(bad)
    bad.write_text('{"type": "authorized_user"}')
    with pytest.raises(AuthError, match=r"token\.json"):
        load_credentials(bad)


def test_consent_flow_needs_a_client_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match=r"secrets\.json not found.*Desktop app"):
        run_consent_flow(tmp_path / "secrets.json", tmp_path / "token.json", open_browser=False)


def test_consent_flow_prints_the_url_and_the_ssh_hint_headless(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "cid.apps.googleusercontent.com",
                    "client_secret": "s",
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": "https://oauth2.googleapis.com/token",
                    "redirect_uris": ["http://localhost"],
                }
            }
        )
    )
    printed: list[str] = []

    class Stop(Exception):
        pass

    def print_fn(text: str) -> None:
        printed.append(text)
        raise Stop  # stop before waiting for the browser

    with pytest.raises(Stop):
        run_consent_flow(secrets, tmp_path / "token.json", open_browser=False, print_fn=print_fn)
    (text,) = printed
    port = int(text.split("redirect_uri=http%3A%2F%2Flocalhost%3A")[1].split("%2F")[0])
    assert f"ssh -L {port}:localhost:{port} " in text
    assert "access_type=offline" in text and "prompt=consent" in text
    for scope in ("gmail.readonly", "gmail.compose", "calendar.readonly", "calendar.app.created"):
        assert scope in text
    assert not (tmp_path / "token.json").exists()


# ------------------------------------------------------------------------ Gmail sync


def test_first_sync_fetches_exactly_the_matching_messages_in_batches(
    emu: GoogleEmulator, token_file: Path
) -> None:
    expected = fill(emu, 120, 400)
    box = mailbox(emu, token_file)
    progress: list[tuple[int, int]] = []
    batches = list(
        box.search(
            addresses=["jane.doe@acme.test"],
            domains=["acme.test"],
            since=SINCE,
            progress=lambda done, total: progress.append((done, total)),
        )
    )
    got = [m for b in batches for m in b]
    assert {m.source_id for m in got} == expected
    assert emu.call_count(GET_PREFIX) == 120  # nothing else fetched, nothing twice
    assert emu.batches and max(emu.batches) <= 50 and sum(emu.batches) == 120
    assert emu.call_count(GET_PREFIX, batched=False) == 0
    assert progress[0] == (0, 120) and progress[-1] == (120, 120)
    assert [len(b) for b in batches] == [50, 50, 20]
    outgoing = [m for m in got if m.outgoing]
    assert len(outgoing) == 40 and all(m.sender and m.sender.email == ME for m in outgoing)


def test_long_watch_lists_are_split_into_several_searches_without_duplicates(
    emu: GoogleEmulator, token_file: Path
) -> None:
    addresses = [f"person.number{i}@firm{i}.test" for i in range(120)]
    queries = build_queries(addresses, ["acme.test"], SINCE)
    assert len(queries) > 1 and all(len(q) < 1500 for q in queries)
    assert all(q.endswith(f" after:{int(SINCE.timestamp())}") for q in queries)
    # one message matches two different searches: fetched once
    emu.add_message(raw(addresses[0], to=f"{addresses[119]}, {ME}"))
    emu.add_message(raw(addresses[60]))
    got = collect(mailbox(emu, token_file), addresses=addresses, domains=[])
    assert len(got) == 2
    assert emu.call_count(GET_PREFIX) == 2


def test_incremental_sync_one_call_when_nothing_changed_then_new_messages(
    emu: GoogleEmulator, token_file: Path
) -> None:
    fill(emu, 3, 3)
    box = mailbox(emu, token_file)
    me, cursor = box.profile()
    assert me == ME
    emu.reset_counters()
    nothing = box.changes(cursor)
    assert nothing.messages == () and nothing.cursor == cursor
    assert [(c.method, c.path) for c in emu.calls] == [("GET", "/gmail/v1/users/me/history")]
    assert emu.calls[0].query["historyTypes"] == ["messageAdded"]

    a = emu.add_message(raw("Jane <jane.doe@acme.test>", subject="Next steps"))
    b = emu.add_message(raw(f"Me <{ME}>", to="jane.doe@acme.test"), label_ids=["SENT"])
    emu.add_message(raw("spam@spam.test"), label_ids=["SPAM"])
    changes = box.changes(cursor)
    assert [m.source_id for m in changes.messages] == [a, b]
    assert changes.messages[1].outgoing
    assert int(changes.cursor) > int(cursor)
    emu.reset_counters()
    assert box.changes(changes.cursor).messages == ()
    assert len(emu.calls) == 1


def test_incremental_sync_reads_every_history_page(emu: GoogleEmulator, token_file: Path) -> None:
    box = mailbox(emu, token_file)
    _, cursor = box.profile()
    ids = [emu.add_message(raw(f"p{i}@acme.test", subject=f"s{i}")) for i in range(620)]
    changes = box.changes(cursor)
    assert [m.source_id for m in changes.messages] == ids
    assert emu.call_count("gmail/v1/users/me/history") == 2  # 500 a page
    assert changes.cursor == str(emu.history_id)


def test_a_message_deleted_before_it_is_fetched_is_skipped(
    emu: GoogleEmulator, token_file: Path
) -> None:
    box = mailbox(emu, token_file)
    _, cursor = box.profile()
    gone = emu.add_message(raw("jane.doe@acme.test", subject="gone"))
    kept = emu.add_message(raw("jane.doe@acme.test", subject="kept"))
    emu.delete_message(gone)
    assert [m.source_id for m in box.changes(cursor).messages] == [kept]


def test_an_expired_history_id_raises_cursor_expired(emu: GoogleEmulator, token_file: Path) -> None:
    box = mailbox(emu, token_file)
    _, cursor = box.profile()
    emu.add_message(raw("jane.doe@acme.test"))
    emu.expire_history()
    with pytest.raises(CursorExpired, match="history id expired"):
        box.changes(cursor)


def test_faults_on_batch_parts_envelopes_and_direct_calls_are_retried_nothing_lost(
    emu: GoogleEmulator, token_file: Path
) -> None:
    expected = fill(emu, 80, 20)
    box = mailbox(emu, token_file)
    emu.inject_fault(503, count=2, path_contains="/gmail/v1/users/me/messages")  # the list call
    emu.inject_fault(503, count=1, path_contains="/batch/gmail")  # a whole envelope
    emu.inject_fault(429, count=7, path_contains=GET_PREFIX)  # parts of the first batch
    emu.inject_fault(500, count=3, path_contains=GET_PREFIX)
    got = collect(box)
    assert {m.source_id for m in got} == expected
    assert len(got) == 80  # nothing twice
    ok_gets = sum(1 for c in emu.calls if c.path.startswith("/" + GET_PREFIX) and c.status == 200)
    assert ok_gets == 80
    assert emu.call_count(GET_PREFIX) == 80 + 10


def test_a_part_that_keeps_failing_stops_the_sync_with_a_source_error(
    emu: GoogleEmulator, token_file: Path
) -> None:
    from pursuit.daemon.errors import SourceError

    fill(emu, 3, 0)
    box = mailbox(emu, token_file, num_retries=2)
    emu.inject_fault(503, count=100, path_contains=GET_PREFIX)
    with pytest.raises(SourceError, match=r"gmail: messages.get: HTTP 503"):
        collect(box)


def test_first_sync_at_gmail_quota_is_refused_a_few_times_at_most(token_file: Path) -> None:
    with GoogleEmulator(user_email=ME, scopes=SCOPES, enforce_quota=True) as emu:
        emu.write_authorized_user_file(str(token_file))
        fill(emu, 300, 50)
        box = mailbox(emu, token_file, quota_units_per_second=250, num_retries=0)
        slept: list[float] = []
        sleep = box.pacer.sleep

        def pacer_sleep(seconds: float) -> None:
            slept.append(seconds)
            sleep(seconds)

        box.pacer.sleep = pacer_sleep
        assert len(collect(box)) == 300
        # the pacer trusts late answers to have been counted early, until refused: a
        # loaded machine may see one or two refusals, each part fetched once all the same
        assert box.pacer.rate_limits <= 2
        assert emu.quota_units == 300 * 5 + 5  # one list, 300 gets (refused parts cost nothing)
        # near the quota rate: the pacer waits no longer than the quota makes it (the
        # units at 250 a second), but for the second after the list call and the
        # Retry-After of a refusal. Its waits, not the wall clock: a loaded machine is
        # slower between them, and the pacer then waits less.
        assert sum(slept) <= emu.quota_units / 250 + 1 + box.pacer.rate_limits


# ------------------------------------------------------------------- parsing messages


def test_realistic_headers_are_decoded(
    emu: GoogleEmulator, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = mailbox(emu, token_file)
    _, cursor = box.profile()
    first = emu.add_message(
        raw(
            "=?UTF-8?B?SsOpcsO0bWU=?= Dupont <Jerome.Dupont@Acme.test>",
            to=f'"Doe, Jane" <jane.doe@acme.test>, =?ISO-8859-1?Q?Fran=E7ois?= <f@acme.test>, {ME}',
            subject="=?UTF-8?B?RW50cmV0aWVuIMOgIDE0aA==?= =?ISO-8859-1?Q?_=E9quipe?=",
            ident="<first@acme.test>",
            extra="Cc: Bob <bob@acme.test>, carol@acme.test\r\n"
            "Reply-To: Talent Team <talent@acme.test>\r\n"
            "List-Id: <news.acme.test>\r\n",
            body="Let's talk & meet <soon>",
        )
    )
    reply = emu.add_message(
        raw(
            f"Me <{ME}>",
            to="Jérôme <jerome.dupont@acme.test>",
            subject="Re: Entretien",
            ident="<reply@mail.test>",
            extra="In-Reply-To: <first@acme.test>\r\nReferences: <first@acme.test>\r\n",
        ),
        label_ids=["SENT"],
    )
    no_id = emu.add_message(raw("jane.doe@acme.test", subject="no id", ident=None))
    bad_date = emu.add_message(
        raw("jane.doe@acme.test", subject="bad date", date="someday, maybe"),
        internal_date=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    )
    garbage = emu.add_message(b"\x00\x01 this is not a message at all \xff\r\n")
    last = emu.add_message(raw("jane.doe@acme.test", subject="after the garbage"))
    with caplog.at_level(logging.WARNING):
        changes = box.changes(cursor)
    by_id = {m.source_id: m for m in changes.messages}
    assert list(by_id) == [first, reply, no_id, bad_date, last]
    assert garbage in caplog.text and "skipped" in caplog.text

    m = by_id[first]
    assert m.subject == "Entretien à 14h équipe"
    assert m.sender is not None
    assert (m.sender.name, m.sender.email) == ("Jérôme Dupont", "jerome.dupont@acme.test")
    assert [(a.name, a.email) for a in m.to] == [
        ("Doe, Jane", "jane.doe@acme.test"),
        ("François", "f@acme.test"),
        ("", ME),
    ]
    assert [(a.name, a.email) for a in m.cc] == [("Bob", "bob@acme.test"), ("", "carol@acme.test")]
    assert [(a.name, a.email) for a in m.reply_to] == [("Talent Team", "talent@acme.test")]
    assert m.message_id == "<first@acme.test>"
    assert m.header("List-Id") == "<news.acme.test>"
    assert m.snippet == "Let's talk & meet <soon>"
    assert not m.outgoing

    r = by_id[reply]
    assert r.outgoing and r.thread == m.thread
    assert r.header("in-reply-to") == "<first@acme.test>"
    # made of its own headers, as every mailbox makes it: the same message, the same id
    assert by_id[no_id].message_id.startswith("<imap-")
    assert by_id[bad_date].date == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert by_id[last].date.tzinfo is not None


def test_parse_rejects_a_broken_resource_with_an_item_error() -> None:
    with pytest.raises(ItemError, match="message x1 skipped"):
        parse({"id": "x1", "payload": {"headers": "nonsense"}})
    assert parse({"id": "d", "labelIds": ["DRAFT"]}) is None
    encoded = parse(
        {
            "id": "x2",
            "threadId": "t",
            "internalDate": "0",
            "payload": {
                "headers": [
                    {"name": "From", "value": "=?utf-8?q?Ren=C3=A9e_Roe?= <renee@acme.test>"},
                    {"name": "Subject", "value": "=?utf-8?b?abcde?="},
                ]
            },
        }
    )
    # Gmail gives values decoded already: what looks encoded is the literal text
    assert encoded is not None and encoded.sender is not None
    assert (encoded.sender.name, encoded.subject) == (
        "=?utf-8?q?Ren=C3=A9e_Roe?=",
        "=?utf-8?b?abcde?=",
    )
    assert encoded.date == datetime(1970, 1, 1, tzinfo=UTC)


def test_a_subject_that_looks_encoded_is_kept_literally_and_later_mail_still_arrives(
    emu: GoogleEmulator, token_file: Path
) -> None:
    box = mailbox(emu, token_file)
    _, cursor = box.profile()
    # decodes (once, as Gmail does) to text that looks like an encoded word
    lookalike = emu.add_message(
        raw("jane.doe@acme.test", subject="=?utf-8?q?=3D=3Futf-8=3Fb=3Fabcde=3F=3D?=")
    )
    later = emu.add_message(raw("jane.doe@acme.test", subject="Next steps"))
    changes = box.changes(cursor)
    assert [(m.source_id, m.subject) for m in changes.messages] == [
        (lookalike, "=?utf-8?b?abcde?="),
        (later, "Next steps"),
    ]
    assert changes.skipped == 0


def test_names_and_subjects_from_strangers_are_one_bounded_line(
    emu: GoogleEmulator, token_file: Path
) -> None:
    box = mailbox(emu, token_file)
    _, cursor = box.profile()
    huge = emu.add_message(raw("jane.doe@acme.test", subject="Offer " + "x" * 1_000_000))
    tricky = emu.add_message(
        raw(
            "=?utf-8?b?"
            + base64.b64encode("\x1b[2JJane\x07 \u202eDoe\u2069".encode()).decode()
            + "?="
            " <jane.doe@acme.test>",
            subject="=?utf-8?q?Hi=1B=5B2J_there=07?=",
        )
    )
    by_id = {m.source_id: m for m in box.changes(cursor).messages}
    assert by_id[huge].subject.startswith("Offer xxx") and len(by_id[huge].subject) == 500
    m = by_id[tricky]
    assert m.sender is not None and m.sender.name == "Jane Doe"  # the escapes go whole
    assert m.subject == "Hi there"


def test_a_message_that_cannot_be_read_is_skipped_counted_and_named(
    emu: GoogleEmulator, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = mailbox(emu, token_file)
    _, cursor = box.profile()
    broken = emu.add_message(b"no headers worth the name\r\n\r\nbody\r\n")
    good = emu.add_message(raw("jane.doe@acme.test", subject="After it"))
    with caplog.at_level(logging.WARNING):
        changes = box.changes(cursor)
    assert [m.source_id for m in changes.messages] == [good]
    assert changes.skipped == 1 and box.skipped == 1
    assert [r.getMessage() for r in caplog.records if broken in r.getMessage()] != []


# ----------------------------------------------------------------------- drafts, send


DRAFT = (
    b"From: me@example.test\r\nTo: Jane Doe <jane.doe@acme.test>\r\n"
    b"Subject: Thank you\r\nX-Pursuit-Key: thank_you:7\r\n\r\nThank you, Jane.\r\n"
)


def test_a_draft_is_created_once_per_key(emu: GoogleEmulator, token_file: Path) -> None:
    box = mailbox(emu, token_file)
    first = box.create_draft(DRAFT, "thank_you:7")
    assert box.create_draft(DRAFT, "thank_you:7") == first
    # a new process (after a crash between the call and its record) finds it again
    again = mailbox(emu, token_file)
    assert again.find_draft("thank_you:7") == first
    assert again.create_draft(DRAFT, "thank_you:7") == first
    assert list(emu.drafts) == [first]
    assert emu.drafts[first].message.header("To") == "Jane Doe <jane.doe@acme.test>"
    other = again.create_draft(DRAFT.replace(b"thank_you:7", b"thank_you:8"), "thank_you:8")
    assert other != first and len(emu.drafts) == 2
    assert emu.sent == []  # never sent


def test_send_to_self_once_and_only_to_the_user(emu: GoogleEmulator, token_file: Path) -> None:
    box = mailbox(emu, token_file)
    summary = f"To: {ME}\r\nSubject: Your week\r\n\r\nThree follow-ups.\r\n".encode()
    sent = box.send_to_self(summary, "summary:2026-49")
    assert box.send_to_self(summary, "summary:2026-49") == sent
    assert len(emu.sent) == 1
    with pytest.raises(ValueError, match="user alone"):
        box.send_to_self(b"To: jane.doe@acme.test\r\nSubject: x\r\n\r\nx\r\n", "k")
    with pytest.raises(ValueError, match="user alone"):
        box.send_to_self(f"To: {ME}\r\nBcc: x@acme.test\r\n\r\nx\r\n".encode(), "k")
    assert len(emu.sent) == 1


# --------------------------------------------------------------------------- Calendar


def google_calendar(emu: GoogleEmulator, token_file: Path, **options: Any) -> GoogleCalendar:
    options.setdefault("backoff", 0.005)  # as mailbox(): that it retries, not how long it waits
    creds = load_credentials(token_file, token_uri=emu.token_uri)
    return GoogleCalendar(creds, token_file, api_endpoint=emu.calendar_endpoint, **options)


def test_the_calendar_is_created_once_and_found_again(
    emu: GoogleEmulator, token_file: Path
) -> None:
    cal = google_calendar(emu, token_file, time_zone="Europe/Paris")
    cal.upsert(event())
    again = google_calendar(emu, token_file)
    assert again.calendar_id == cal.calendar_id
    owned = [c for c in emu.calendars.values() if c["summary"] == "Job search (pursuit)"]
    assert len(owned) == 1 and owned[0]["timeZone"] == "Europe/Paris"
    body = emu.events(cal.calendar_id)[event_id_for("follow_up:1:1")]
    assert body["reminders"] == {
        "useDefault": False,
        "overrides": [{"method": "popup", "minutes": 15}],
    }
    assert body["extendedProperties"]["private"]["pursuitKey"] == "follow_up:1:1"
    assert body["start"]["timeZone"] == "Europe/Paris"
    assert body["transparency"] == "transparent"
    # a named existing calendar is used as it is
    emu.add_calendar("mine@group.calendar.google.com", "Mine", app_created=True)
    named = google_calendar(emu, token_file, calendar_id="mine@group.calendar.google.com")
    named.upsert(event("thank_you:2"))
    assert list(named.events()) == ["thank_you:2"]


def test_a_duplicate_insert_updates_in_place(emu: GoogleEmulator, token_file: Path) -> None:
    cal = google_calendar(emu, token_file)
    cal.upsert(event())
    moved = event(start=START + timedelta(hours=2), end=START + timedelta(hours=3), sequence=1)
    emu.reset_counters()
    google_calendar(emu, token_file, calendar_id=cal.calendar_id).upsert(moved)
    assert [(c.method, c.status) for c in emu.calls] == [
        ("POST", 409),
        ("GET", 200),
        ("PUT", 200),
    ]
    events = emu.events(cal.calendar_id)
    assert list(events) == [event_id_for("follow_up:1:1")]
    assert cal.events() == {"follow_up:1:1": moved}


def test_an_event_the_user_deleted_is_not_created_again(
    emu: GoogleEmulator, token_file: Path
) -> None:
    cal = google_calendar(emu, token_file)
    cal.upsert(event())
    ident = event_id_for("follow_up:1:1")
    emu.cancel_event(cal.calendar_id, ident)
    cal.upsert(event(summary="changed", sequence=2))
    assert emu.events(cal.calendar_id)[ident]["status"] == "cancelled"
    assert cal.events() == {}
    cal.delete("follow_up:1:1")  # 410: already gone, fine


def test_calendar_faults_are_retried(emu: GoogleEmulator, token_file: Path) -> None:
    cal = google_calendar(emu, token_file)
    cal.upsert(event())
    emu.inject_fault(503, count=2, path_contains="/events")
    emu.inject_fault(429, count=1, path_contains="/events")
    assert list(cal.events()) == ["follow_up:1:1"]


# ---------------------------------------------------------------- the user's calendars


def interview(ident: str, start: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "summary": "Interview with Acme",
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        "attendees": [
            {"email": ME, "responseStatus": "accepted"},
            {"email": "Jane.Doe@Acme.test", "displayName": "Jane Doe", "organizer": True},
            {"email": "room-4@resource.calendar.google.com", "resource": True},
        ],
        **extra,
    }


def test_reader_full_then_incremental_sync(emu: GoogleEmulator, token_file: Path) -> None:
    creds = load_credentials(token_file, token_uri=emu.token_uri)
    reader = GoogleCalendarReader(creds, token_file, api_endpoint=emu.calendar_endpoint)
    soon = NOW.replace(microsecond=0) + timedelta(days=2)
    emu.put_event("primary", interview("iv1", soon))
    emu.put_event("primary", interview("iv2", soon + timedelta(days=1)))
    emu.put_event("primary", interview("old", NOW - timedelta(days=400)))
    onsite = (NOW + timedelta(days=7)).date()
    emu.put_event(
        "primary",
        {
            "id": "day1",
            "summary": "Onsite",
            "start": {"date": onsite.isoformat()},
            "end": {"date": (onsite + timedelta(days=1)).isoformat()},
        },
    )
    full = reader.changes("primary", None, since=NOW - timedelta(days=30))
    by_id = {e.event_id: e for e in full.entries}
    assert set(by_id) == {"iv1", "iv2", "day1"}
    iv1 = by_id["iv1"]
    assert iv1.start == soon and iv1.end == soon + timedelta(hours=1) and not iv1.cancelled
    assert [(a.email, a.name, a.is_self, a.kind) for a in iv1.attendees] == [
        (ME, "", True, "individual"),
        ("jane.doe@acme.test", "Jane Doe", False, "individual"),
        ("room-4@resource.calendar.google.com", "", False, "resource"),
    ]
    # all-day: the date itself; the core places it in the user's zone
    assert (by_id["day1"].start, by_id["day1"].end) == (onsite, onsite + timedelta(days=1))

    emu.reset_counters()
    same = reader.changes("primary", full.cursor, since=NOW)
    assert same.entries == () and len(emu.calls) == 1
    assert "timeMin" not in emu.calls[0].query and emu.calls[0].query["singleEvents"] == ["true"]

    emu.put_event("primary", interview("iv1", soon + timedelta(hours=3)))  # moved
    emu.cancel_event("primary", "iv2")
    later = reader.changes("primary", same.cursor, since=NOW)
    by_id = {e.event_id: e for e in later.entries}
    assert by_id["iv1"].start == soon + timedelta(hours=3)
    assert by_id["iv2"].cancelled and by_id["iv2"].start is None
    assert len(later.entries) == 2

    emu.expire_sync_tokens()
    with pytest.raises(CursorExpired, match="sync token expired"):
        reader.changes("primary", later.cursor, since=NOW)


def test_reader_reads_every_page_and_the_token_of_the_last(
    emu: GoogleEmulator, token_file: Path
) -> None:
    creds = load_credentials(token_file, token_uri=emu.token_uri)
    reader = GoogleCalendarReader(creds, token_file, api_endpoint=emu.calendar_endpoint)
    for i in range(260):
        emu.put_event("primary", interview(f"ev{i:04d}", NOW + timedelta(hours=i)))
    full = reader.changes("primary", None, since=NOW - timedelta(days=1))
    assert len(full.entries) == 260 and emu.call_count("calendar/v3/calendars") == 2
    emu.reset_counters()
    assert reader.changes("primary", full.cursor, since=NOW).entries == ()
    assert len(emu.calls) == 1


def test_refresh_or_raise_saves_the_new_token_or_reports_the_revoked_grant(
    emu: GoogleEmulator, token_file: Path
) -> None:
    creds = load_credentials(token_file, token_uri=emu.token_uri)
    refresh_or_raise(creds, token_file)
    assert json.loads(token_file.read_text())["token"] == creds.token
    emu.revoke()
    with pytest.raises(AuthError, match=r"revoked or has expired; run `pursuit auth google`"):
        refresh_or_raise(creds, token_file)


def test_an_unreadable_invitation_is_skipped_and_names_are_one_line(
    emu: GoogleEmulator, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    creds = load_credentials(token_file, token_uri=emu.token_uri)
    reader = GoogleCalendarReader(creds, token_file, api_endpoint=emu.calendar_endpoint)
    soon = NOW.replace(microsecond=0) + timedelta(days=2)
    emu.put_event("primary", interview("broken", soon, attendees="not a list of people"))
    emu.put_event(
        "primary",
        interview(
            "iv1",
            soon,
            summary="Interview \u202e" + "x" * 100_000,
            description="Line one\r\nLine two\x1b[2J",
            attendees=[{"email": "jane@acme.test", "displayName": "Jane\r\nBcc: evil@x"}],
        ),
    )
    with caplog.at_level(logging.WARNING):
        changes = reader.changes("primary", None, since=NOW)
    [entry] = changes.entries
    assert changes.skipped == 1 and "event broken skipped" in caplog.text
    assert entry.attendees[0].name == "Jane Bcc: evil@x"
    assert entry.summary.startswith("Interview xxx") and len(entry.summary) == 500
    assert entry.description == "Line one\nLine two"


# ------------------------------------------------------------ creates whose answer is lost


def draft_for(person: int) -> tuple[bytes, str]:
    key = f"thank_you:{person}"
    raw = (
        f"From: {ME}\r\nTo: p{person}@acme.test\r\nSubject: Thank you\r\n"
        f"X-Pursuit-Key: {key}\r\n\r\nThank you.\r\n"
    )
    return raw.encode(), key


@pytest.mark.parametrize("lost", ["503 after the commit", "answer after the timeout"])
def test_drafts_whose_answer_was_lost_are_not_created_again(
    emu: GoogleEmulator, token_file: Path, lost: str
) -> None:
    if lost.startswith("503"):
        emu.inject_fault(503, method="drafts.create", after_commit=True, count=5)
    else:
        emu.inject_fault(200, method="drafts.create", after_commit=True, count=5, delay=1.5)
    box = mailbox(emu, token_file, timeout=1)
    made = {box.create_draft(*draft_for(person)) for person in range(5)}
    assert len(emu.drafts) == 5 and made == set(emu.drafts)
    keys = sorted(str(d.message.header("X-Pursuit-Key")) for d in emu.drafts.values())
    assert keys == [f"thank_you:{p}" for p in range(5)]


def test_mail_to_self_whose_answer_was_lost_is_sent_once(
    emu: GoogleEmulator, token_file: Path
) -> None:
    emu.inject_fault(503, method="messages.send", after_commit=True)
    box = mailbox(emu, token_file)
    summary = f"From: {ME}\r\nTo: {ME}\r\nSubject: Your week\r\n\r\nAll good.\r\n".encode()
    sent = box.send_to_self(summary, "summary:2026-W10")
    assert [m.id for m in emu.sent] == [sent]


@pytest.mark.parametrize("lost", ["503 after the commit", "answer after the timeout"])
def test_the_calendar_whose_answer_was_lost_is_created_once(
    emu: GoogleEmulator, token_file: Path, lost: str
) -> None:
    if lost.startswith("503"):
        emu.inject_fault(503, method="calendars.insert", after_commit=True, count=3)
    else:
        emu.inject_fault(200, method="calendars.insert", after_commit=True, delay=1.5)
    calendar = google_calendar(emu, token_file, timeout=1)
    calendar.upsert(event("k1"))
    owned = [c for c, cal in emu.calendars.items() if cal["summary"] == "Job search (pursuit)"]
    assert owned == [calendar.calendar_id]
    assert set(calendar.events()) == {"k1"}


# ------------------------------------------------------------------- the quota pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def pacer(clock: FakeClock, **options: Any) -> QuotaPacer:
    return QuotaPacer(250, clock=clock, sleep=clock.sleep, **options)


def spend(p: QuotaPacer, clock: FakeClock, units: float, took: float = 0.3) -> float:
    """Spend `units` on a call lasting `took` seconds; returns when it was sent."""
    with p.spend(units):
        sent = clock.now
        clock.now += took
    return sent


def test_the_pacer_counts_a_spend_from_when_it_was_sent_with_a_margin() -> None:
    clock = FakeClock()
    p = pacer(clock, margin=0.05)
    sends = [spend(p, clock, 250, took=0.3) for _ in range(4)]
    # a full window each second plus the margin, not plus the round trip
    assert [round(b - a, 3) for a, b in itertools.pairwise(sends)] == [1.05] * 3
    # a call quicker than the margin counts from its return
    quick = [spend(p, clock, 250, took=0.01) for _ in range(2)]
    assert round(quick[1] - quick[0], 3) == 1.01


def test_a_call_the_server_was_slow_to_answer_delays_the_next_by_what_it_lost() -> None:
    clock = FakeClock()
    p = pacer(clock, margin=0.02, trust=0.0)
    first = spend(p, clock, 250, took=0.3)
    slow = spend(p, clock, 250, took=0.5)  # the server may have counted it 0.2 s late
    after = spend(p, clock, 250, took=0.3)
    assert round(slow - first, 3) == 1.02
    assert round(after - slow, 3) == 1.22
    # trusting that half of the extra time came after the server counted the call
    p.trust = 0.5
    slow = spend(p, clock, 250, took=0.5)
    after = spend(p, clock, 250, took=0.3)
    assert round(after - slow, 3) == 1.12
    # until a refusal says otherwise
    p.rate_limited(refused=5, retry_after=1)
    assert p.trust == 0.25 and p.margin == 0.02


def test_a_per_second_rate_limit_widens_the_margin_then_lowers_the_rate_by_a_tenth() -> None:
    clock = FakeClock()
    p = pacer(clock, margin=0.05, trust=0.0)
    spend(p, clock, 250)
    p.rate_limited(refused=10, retry_after=1)
    assert (p.limit, p.margin) == (250, 0.1)
    assert spend(p, clock, 10) >= 1000 + 1  # Retry-After honoured
    p.rate_limited(refused=5, retry_after=1)
    assert (p.limit, p.margin) == (250, 0.2)
    spend(p, clock, 250)
    p.rate_limited(refused=150, retry_after=1)  # the server took 100: still only a tenth less
    assert p.limit == 225
    spend(p, clock, 225)
    p.rate_limited(refused=200, retry_after=1)
    assert p.limit == pytest.approx(202.5)
    assert p.limits == {1.0: pytest.approx(202.5)}  # no per-minute limit made up


def test_a_rate_limit_after_a_sustained_rate_is_learned_as_a_per_minute_limit() -> None:
    clock = FakeClock()
    p = pacer(clock, margin=0.05)
    for _ in range(24):  # 6,000 units in about 25 s, then the server says no
        spend(p, clock, 250)
    spend(p, clock, 250)
    p.rate_limited(refused=250, retry_after=36)
    assert p.limit == 250 and p.limits[60.0] == 6000
    first = clock.now
    sends = [spend(p, clock, 250) for _ in range(48)]
    # nothing is sent before the oldest units leave the minute, then at full speed
    assert sends[0] >= first + 36
    for s in sends:
        window = [t for t in sends if s <= t < s + 60]
        assert len(window) * 250 <= 6000
    # two minutes' worth in about two minutes: the limit is used, not undercut
    assert sends[-1] - first < 2 * 60 + 5
    assert p.rate_limits == 1


def test_the_pacer_probes_back_up_after_a_quiet_while() -> None:
    clock = FakeClock()
    p = pacer(clock, probe=20, margin=0.2, trust=0.0)
    spend(p, clock, 250)
    p.rate_limited(refused=100, retry_after=1)
    assert p.limit == 225
    clock.now += 21
    spend(p, clock, 100)
    assert p.limit == pytest.approx(247.5) and p.margin == 0.2
    for _ in range(3):
        clock.now += 21
        spend(p, clock, 100)
    assert p.limit == 250  # never above where it started
    assert p.margin == 0.2  # never below where it started


def test_a_learned_per_minute_limit_is_probed_up_rarely() -> None:
    clock = FakeClock()
    p = pacer(clock, margin=0.05, minute_probe=300)
    for _ in range(24):
        spend(p, clock, 250)
    p.rate_limited(refused=0, retry_after=30)
    assert p.limits[60.0] == 6000
    clock.now += 100
    spend(p, clock, 5)
    assert p.limits[60.0] == 6000  # the per-second probes leave it alone
    clock.now += 201
    spend(p, clock, 5)
    assert p.limits[60.0] == pytest.approx(6600)


def test_a_first_sync_under_a_lower_limit_than_documented_waits_it_out(token_file: Path) -> None:
    with GoogleEmulator(
        user_email=ME, scopes=SCOPES, enforce_quota=True, quota_per_second=150
    ) as emu:
        emu.write_authorized_user_file(str(token_file))
        fill(emu, 200, 10)
        box = mailbox(emu, token_file, quota_units_per_second=250, num_retries=0)
        assert len(collect(box)) == 200  # no error: the rate limit was waited out
        # a few refused batches (their refused parts retried), each slowing the pacer
        assert 1 <= box.pacer.rate_limits <= 8
        assert box.pacer.trust < box.pacer.start_trust or box.pacer.limit < 250
        assert emu.rate_limited < 100


def test_a_rate_limit_on_a_single_call_waits_out_its_retry_after(
    emu: GoogleEmulator, token_file: Path
) -> None:
    ids = fill(emu, 5, 0)
    # no client retries: getting through is the pacer's doing, and it honours Retry-After
    box = mailbox(emu, token_file, quota_units_per_second=250, num_retries=0)
    clock = FakeClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.sleep(seconds)

    box.pacer.clock, box.pacer.sleep = clock, sleep
    emu.inject_fault(429, count=3, method="messages.list", retry_after=7)
    assert {m.source_id for m in collect(box)} == ids
    assert box.pacer.rate_limits == 3
    assert sum(slept) >= 3 * 7
    # a few units spent are no measure of a per-minute limit: none is made up
    assert box.pacer.limits == {1.0: 250}


def test_a_rate_limit_that_never_ends_fails_the_call_with_a_source_error(
    emu: GoogleEmulator, token_file: Path
) -> None:
    from pursuit.daemon.errors import SourceError

    box = mailbox(emu, token_file, quota_units_per_second=250)
    clock = FakeClock()
    box.pacer.clock, box.pacer.sleep = clock, clock.sleep
    emu.inject_fault(429, count=1000, method="getProfile", retry_after=60)
    with pytest.raises(SourceError, match=r"getProfile: HTTP 429"):
        box.profile()


def test_a_deleted_calendar_is_reported_once_and_made_again_by_the_next_change(
    emu: GoogleEmulator, token_file: Path
) -> None:
    from pursuit.daemon.errors import CalendarGone

    calendar = google_calendar(emu, token_file)  # one instance, as the service keeps it
    calendar.upsert(event("k1"))
    calendar.flush()
    first = calendar.calendar_id
    emu.delete_calendar(first)
    with pytest.raises(CalendarGone, match="was deleted") as gone:
        calendar.upsert(event("k2"))
    assert gone.value.calendar == calendar.name
    calendar.upsert(event("k1"))
    calendar.upsert(event("k2"))
    calendar.flush()  # there now: no complaint
    assert calendar.calendar_id != first and set(calendar.events()) == {"k1", "k2"}
    emu.delete_calendar(calendar.calendar_id)
    with pytest.raises(CalendarGone):
        calendar.flush()  # noticed even when nothing was to change
