"""The real google-api-python-client and google-auth against tests/support/google_emulator.py.

Nothing in the client libraries is mocked: every call below goes over HTTP to the
emulator on 127.0.0.1.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest
from support.google_emulator import GMAIL_QUOTA_UNITS, GoogleEmulator

ME = "me@example.test"
SCOPE = "https://www.googleapis.com/auth/"


def rfc822(
    *,
    frm: str = "Recruiter <jane@acme.test>",
    to: str = ME,
    subject: str = "Interview",
    body: str = "Thanks for your time today.",
    date: datetime | None = None,
    msgid: str | None = None,
    in_reply_to: str | None = None,
    cc: str | None = None,
) -> bytes:
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to
    if cc:
        m["Cc"] = cc
    m["Subject"] = subject
    m["Date"] = (date or datetime(2024, 3, 1, 15, 0, tzinfo=UTC)).strftime(
        "%a, %d %b %Y %H:%M:%S +0000"
    )
    if msgid:
        m["Message-ID"] = msgid
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = in_reply_to
    m.set_content(body)
    return m.as_bytes()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(user_email=ME) as e:
        yield e


def make_creds(emu: GoogleEmulator, scopes: list[str] | None = None) -> Credentials:
    # from_authorized_user_info() ignores the info's token_uri: re-point it.
    info = emu.authorized_user_info()
    creds: Credentials = Credentials.from_authorized_user_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
    creds = creds.with_token_uri(emu.token_uri)
    return creds


def gmail_service(emu: GoogleEmulator, creds: Credentials | None = None) -> Any:
    return build(
        "gmail",
        "v1",
        credentials=creds or make_creds(emu),
        client_options={"api_endpoint": emu.gmail_endpoint},
        cache_discovery=False,
        static_discovery=True,
    )


def calendar_service(emu: GoogleEmulator, creds: Credentials | None = None) -> Any:
    return build(
        "calendar",
        "v3",
        credentials=creds or make_creds(emu),
        client_options={"api_endpoint": emu.calendar_endpoint},
        cache_discovery=False,
        static_discovery=True,
    )


@pytest.fixture
def gmail(emu: GoogleEmulator) -> Any:
    return gmail_service(emu)


@pytest.fixture
def cal(emu: GoogleEmulator) -> Any:
    return calendar_service(emu)


def run_batch(uri: str, requests: list[Any]) -> dict[str, tuple[Any, HttpError | None]]:
    results: dict[str, tuple[Any, HttpError | None]] = {}

    def cb(request_id: str, response: Any, exception: HttpError | None) -> None:
        results[request_id] = (response, exception)

    batch = BatchHttpRequest(callback=cb, batch_uri=uri)
    for i, req in enumerate(requests):
        batch.add(req, request_id=str(i))
    batch.execute()
    return results


def event_body(eid: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "Thank-you note: Acme",
        "start": {"dateTime": "2024-05-01T10:00:00+02:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2024-05-01T10:15:00+02:00", "timeZone": "Europe/Berlin"},
        "reminders": {"useDefault": False, "overrides": [{"method": "popup", "minutes": 10}]},
        "extendedProperties": {"private": {"pursuit": "1"}},
    }
    if eid:
        body["id"] = eid
    body.update(extra)
    return body


# ----------------------------------------------------------------- client wiring


def test_client_wiring_quirks(emu: GoogleEmulator, gmail: Any, cal: Any) -> None:
    # The quirk: from_authorized_user_info ignores the token_uri of the info.
    raw = Credentials.from_authorized_user_info(emu.authorized_user_info())  # type: ignore[no-untyped-call]
    assert raw.token_uri == "https://oauth2.googleapis.com/token"
    assert emu.credentials().token_uri == emu.token_uri
    # new_batch_http_request() ignores api_endpoint.
    assert gmail.new_batch_http_request()._batch_uri.startswith("https://gmail.googleapis.com/")
    assert cal.new_batch_http_request()._batch_uri.startswith("https://www.googleapis.com/")
    profile = gmail.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == ME
    cal.calendarList().list().execute()
    assert [c.path for c in emu.calls] == [
        "/gmail/v1/users/me/profile",
        "/calendar/v3/users/me/calendarList",
    ]
    assert emu.token_requests == 2  # one initial refresh per Credentials object


def test_profile_and_nagle_off(emu: GoogleEmulator, gmail: Any) -> None:
    emu.add_message(rfc822())
    p = gmail.users().getProfile(userId="me").execute()
    assert p == {
        "emailAddress": ME,
        "messagesTotal": 1,
        "threadsTotal": 1,
        "historyId": str(emu.history_id),
    }
    t0 = time.perf_counter()
    for _ in range(20):
        gmail.users().getProfile(userId="me").execute()
    assert (time.perf_counter() - t0) / 20 < 0.02  # ~2-3 ms with Nagle off, 44 ms with it on


# ---------------------------------------------------------------------- messages


def test_list_pagination_newest_first(emu: GoogleEmulator, gmail: Any) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    ids = [
        emu.add_message(rfc822(subject=f"m{i}"), internal_date=base + timedelta(hours=i))
        for i in range(7)
    ]
    seen: list[str] = []
    req = gmail.users().messages().list(userId="me", maxResults=3)
    pages = 0
    while req is not None:
        resp = req.execute()
        pages += 1
        assert resp["resultSizeEstimate"] == 7
        seen += [m["id"] for m in resp["messages"]]
        assert all(m["threadId"] for m in resp["messages"])
        req = gmail.users().messages().list_next(req, resp)
    assert pages == 3
    assert seen == list(reversed(ids))
    empty = gmail.users().messages().list(userId="me", q="from:nobody@nowhere").execute()
    assert empty == {"resultSizeEstimate": 0}


def test_get_formats(emu: GoogleEmulator, gmail: Any) -> None:
    m = EmailMessage()
    m["From"] = "Jane <jane@acme.test>"
    m["To"] = ME
    m["Subject"] = "=?utf-8?q?Caf=C3=A9_chat?="
    m["Message-ID"] = "<abc@acme.test>"
    m.set_content("Plain body, it's great")
    m.add_alternative("<p>HTML body</p>", subtype="html")
    when = datetime(2024, 2, 2, 12, 0, tzinfo=UTC)
    gid = emu.add_message(m.as_bytes(), label_ids=["INBOX", "UNREAD"], internal_date=when)
    msgs = gmail.users().messages()

    meta = msgs.get(
        userId="me", id=gid, format="metadata", metadataHeaders=["From", "Subject"]
    ).execute()
    assert meta["labelIds"] == ["INBOX", "UNREAD"]
    assert meta["internalDate"] == str(int(when.timestamp() * 1000))
    assert meta["snippet"] == "Plain body, it&#39;s great"
    assert {h["name"]: h["value"] for h in meta["payload"]["headers"]} == {
        "From": "Jane <jane@acme.test>",
        "Subject": "Café chat",
    }
    assert int(meta["historyId"]) <= emu.history_id and meta["sizeEstimate"] > 0

    raw = msgs.get(userId="me", id=gid, format="raw").execute()
    assert b"Message-ID: <abc@acme.test>" in base64.urlsafe_b64decode(raw["raw"])
    assert "payload" not in raw

    full = msgs.get(userId="me", id=gid).execute()
    assert full["payload"]["mimeType"] == "multipart/alternative"
    parts = full["payload"]["parts"]
    assert [p["partId"] for p in parts] == ["0", "1"]
    assert base64.urlsafe_b64decode(parts[0]["body"]["data"]).startswith(b"Plain body")

    minimal = msgs.get(userId="me", id=gid, format="minimal").execute()
    assert "payload" not in minimal and minimal["id"] == gid

    with pytest.raises(HttpError) as ei:
        msgs.get(userId="me", id="0000000000000bad").execute()
    assert ei.value.status_code == 404
    assert ei.value.error_details[0]["reason"] == "notFound"


def test_search_filters(emu: GoogleEmulator, gmail: Any) -> None:
    now = datetime.now(UTC)
    a = emu.add_message(
        rfc822(frm="jane@acme.test", subject="Interview"), internal_date=now - timedelta(days=1)
    )
    b = emu.add_message(
        rfc822(frm="bob@globex.test", cc="hr@globex.test", subject="Offer"),
        internal_date=now - timedelta(days=10),
    )
    c = emu.add_message(
        rfc822(frm=ME, to="jane@acme.test", subject="Thanks"),
        label_ids=["SENT"],
        internal_date=now - timedelta(hours=2),
    )
    emu.add_message(rfc822(frm="spam@x.test"), label_ids=["SPAM"])

    def q(query: str, **kw: Any) -> set[str]:
        resp = gmail.users().messages().list(userId="me", q=query, **kw).execute()
        return {m["id"] for m in resp.get("messages", [])}

    assert q("from:jane@acme.test") == {a}
    assert q("from:(jane@acme.test OR bob@globex.test)") == {a, b}
    assert q("{from:jane@acme.test from:bob@globex.test}") == {a, b}
    assert q("from:jane@acme.test OR to:jane@acme.test") == {a, c}
    assert q("cc:hr@globex.test") == {b}
    assert q("to:jane@acme.test in:sent") == {c}
    assert q("newer_than:3d -in:chats") == {a, c}
    assert q(f"after:{int((now - timedelta(days=5)).timestamp())}") == {a, c}
    assert q(f"before:{int((now - timedelta(days=5)).timestamp())}") == {b}
    assert q("subject:offer") == {b}
    assert q("-from:jane@acme.test") == {b, c}
    assert q("from:spam@x.test") == set()  # spam is excluded by default
    assert q("in:anywhere from:spam@x.test") != set()
    assert q("", labelIds=["SENT"]) == {c}


# ----------------------------------------------------------------------- history


def test_history_incremental_and_expiry(emu: GoogleEmulator, gmail: Any) -> None:
    emu.add_message(rfc822(subject="old"))
    start = gmail.users().getProfile(userId="me").execute()["historyId"]
    a = emu.add_message(rfc822(subject="new a"), label_ids=["INBOX", "UNREAD"])
    b = emu.add_message(rfc822(subject="new b"))
    emu.modify_labels(a, remove=["UNREAD"])
    emu.delete_message(b)

    h = gmail.users().history()
    resp = h.list(userId="me", startHistoryId=start).execute()
    kinds = [next(k for k in r if k not in ("id", "messages")) for r in resp["history"]]
    assert kinds == ["messagesAdded", "messagesAdded", "labelsRemoved", "messagesDeleted"]
    assert resp["historyId"] == str(emu.history_id)
    ids = [int(r["id"]) for r in resp["history"]]
    assert ids == sorted(ids) and ids[0] > int(start)
    assert resp["history"][0]["messagesAdded"][0]["message"]["labelIds"] == ["INBOX", "UNREAD"]
    assert "nextPageToken" not in resp

    # Paging with a repeated historyTypes: pass pageToken ourselves (list_next raises).
    added: list[str] = []
    token = None
    while True:
        page = h.list(
            userId="me",
            startHistoryId=start,
            historyTypes=["messageAdded", "messageDeleted"],
            maxResults=1,
            pageToken=token,
        ).execute()
        added += [r["messages"][0]["id"] for r in page.get("history", [])]
        token = page.get("nextPageToken")
        if not token:
            break
    assert added == [a, b, b]

    labelled = h.list(userId="me", startHistoryId=start, labelId="UNREAD").execute()
    assert {r["messages"][0]["id"] for r in labelled["history"]} == {a}

    latest = resp["historyId"]
    assert "history" not in h.list(userId="me", startHistoryId=latest).execute()
    emu.expire_history()
    with pytest.raises(HttpError) as ei:
        h.list(userId="me", startHistoryId=start).execute()
    assert ei.value.status_code == 404
    # The current id stays valid.
    h.list(userId="me", startHistoryId=str(emu.history_id)).execute()


# ------------------------------------------------------------------------- batch


def test_batch_of_50_gets(emu: GoogleEmulator, gmail: Any) -> None:
    ids = [emu.add_message(rfc822(subject=f"s{i}")) for i in range(60)]
    gmail.users().getProfile(userId="me").execute()  # initial token refresh
    emu.reset_counters()
    reqs = [
        gmail.users()
        .messages()
        .get(userId="me", id=i, format="metadata", metadataHeaders=["Subject"])
        for i in ids[:50]
    ]
    results = run_batch(emu.batch_uri, reqs)
    assert len(results) == 50
    assert all(exc is None for _, exc in results.values())
    assert [results[str(i)][0]["id"] for i in range(50)] == ids[:50]
    assert emu.batches == [50]
    assert emu.http_requests == 1
    assert emu.call_count("gmail/v1/users/me/messages/", batched=True) == 50
    assert emu.quota_units == 50 * GMAIL_QUOTA_UNITS["messages.get"]


def test_batch_part_429_is_not_retried_caller_requeues(emu: GoogleEmulator, gmail: Any) -> None:
    ids = [emu.add_message(rfc822(subject=f"s{i}")) for i in range(10)]
    emu.inject_fault(429, count=3, path_contains="/messages/")
    results = run_batch(
        emu.batch_uri, [gmail.users().messages().get(userId="me", id=i) for i in ids]
    )
    failed = [k for k, (_, exc) in results.items() if exc is not None]
    assert len(failed) == 3
    assert all(results[k][1].status_code == 429 for k in failed)  # type: ignore[union-attr]
    again = run_batch(
        emu.batch_uri,
        [gmail.users().messages().get(userId="me", id=ids[int(k)]) for k in failed],
    )
    assert all(exc is None for _, exc in again.values())
    assert emu.batches == [10, 3]


def test_batch_limits_and_wrong_api(emu: GoogleEmulator, gmail: Any, cal: Any) -> None:
    gid = emu.add_message(rfc822())
    with pytest.raises(HttpError) as ei:
        run_batch(emu.batch_uri, [gmail.users().messages().get(userId="me", id=gid)] * 101)
    assert ei.value.status_code == 400
    mixed = run_batch(
        emu.calendar_batch_uri,
        [cal.calendarList().list(), gmail.users().getProfile(userId="me")],
    )
    assert mixed["0"][1] is None
    assert mixed["1"][1] is not None and mixed["1"][1].status_code == 400


def test_batch_refreshes_expired_token_per_part(emu: GoogleEmulator, gmail: Any) -> None:
    ids = [emu.add_message(rfc822(subject=f"s{i}")) for i in range(5)]
    gmail.users().getProfile(userId="me").execute()
    emu.expire_tokens()
    results = run_batch(
        emu.batch_uri, [gmail.users().messages().get(userId="me", id=i) for i in ids]
    )
    assert all(exc is None for _, exc in results.values())
    assert emu.token_requests == 2
    assert emu.batches == [5, 5]  # the 401 parts were resent in a second batch


# ------------------------------------------------------------------ drafts, send


def test_drafts_create_list_get(emu: GoogleEmulator, gmail: Any) -> None:
    orig = emu.add_message(rfc822(msgid="<orig@acme.test>"))
    thread = emu.messages[orig].thread_id
    raw = rfc822(
        frm=ME,
        to="jane@acme.test",
        subject="Re: Interview",
        body="Thank you!",
        in_reply_to="<orig@acme.test>",
    )
    start = emu.history_id
    d = (
        gmail.users()
        .drafts()
        .create(userId="me", body={"message": {"raw": b64(raw), "threadId": thread}})
        .execute()
    )
    assert d["id"].startswith("r") and d["message"]["labelIds"] == ["DRAFT"]
    assert d["message"]["threadId"] == thread

    stored = emu.drafts[d["id"]]
    assert stored.message.subject == "Re: Interview"
    assert stored.message.text.strip() == "Thank you!"
    assert stored.message.header("To") == "jane@acme.test"

    listed = gmail.users().drafts().list(userId="me").execute()
    assert listed["drafts"] == [
        {"id": d["id"], "message": {"id": d["message"]["id"], "threadId": thread}}
    ]
    got = gmail.users().drafts().get(userId="me", id=d["id"], format="raw").execute()
    assert base64.urlsafe_b64decode(got["message"]["raw"]).endswith(
        b"Thank you!\r\n"
    )  # stored with CRLF
    full = gmail.users().drafts().get(userId="me", id=d["id"]).execute()
    headers = {h["name"]: h["value"] for h in full["message"]["payload"]["headers"]}
    assert headers["Subject"] == "Re: Interview"

    hist = gmail.users().history().list(userId="me", startHistoryId=str(start)).execute()
    assert hist["history"][0]["messagesAdded"][0]["message"]["labelIds"] == ["DRAFT"]

    with pytest.raises(HttpError) as ei:
        gmail.users().drafts().create(userId="me", body={"message": {}}).execute()
    assert ei.value.status_code == 400


def test_send(emu: GoogleEmulator, gmail: Any) -> None:
    orig = emu.add_message(rfc822(msgid="<orig@acme.test>"))
    raw = rfc822(
        frm=ME, to="jane@acme.test", subject="Following up", in_reply_to="<orig@acme.test>"
    )
    sent = gmail.users().messages().send(userId="me", body={"raw": b64(raw)}).execute()
    assert sent["labelIds"] == ["SENT"]
    assert sent["threadId"] == emu.messages[orig].thread_id  # threaded by In-Reply-To
    assert [m.id for m in emu.sent] == [sent["id"]]
    assert emu.sent[0].header("Message-ID")  # Gmail adds one
    found = gmail.users().messages().list(userId="me", q="in:sent to:jane@acme.test").execute()
    assert [m["id"] for m in found["messages"]] == [sent["id"]]


# ---------------------------------------------------------------------- calendar


def test_calendars(emu: GoogleEmulator, cal: Any) -> None:
    items = cal.calendarList().list().execute()["items"]
    assert [(c["id"], c.get("primary")) for c in items] == [(ME, True)]
    new = cal.calendars().insert(body={"summary": "pursuit", "timeZone": "Europe/Berlin"}).execute()
    assert new["id"].endswith("@group.calendar.google.com")
    assert cal.calendars().get(calendarId=new["id"]).execute()["summary"] == "pursuit"
    assert len(cal.calendarList().list().execute()["items"]) == 2
    cal.events().insert(calendarId=new["id"], body=event_body("pursuit00001")).execute()
    assert list(emu.events(new["id"])) == ["pursuit00001"]
    emu.add_calendar("work@example.test", "Work")
    assert "work@example.test" in emu.calendars


def test_event_insert_ids_409_and_410(emu: GoogleEmulator, cal: Any) -> None:
    ev = cal.events().insert(calendarId="primary", body=event_body("pursuit0a1b2c")).execute()
    assert ev["id"] == "pursuit0a1b2c" and ev["status"] == "confirmed"
    assert ev["extendedProperties"] == {"private": {"pursuit": "1"}}
    assert ev["reminders"]["overrides"] == [{"method": "popup", "minutes": 10}]
    assert ev["start"]["timeZone"] == "Europe/Berlin" and ev["iCalUID"] and ev["etag"]

    for bad in ("PURSUIT1", "abc", "pursuit-1", "wxyz12345"):
        with pytest.raises(HttpError) as ei:
            cal.events().insert(calendarId="primary", body=event_body(bad)).execute()
        assert ei.value.status_code == 400, bad

    with pytest.raises(HttpError) as ei:
        cal.events().insert(calendarId="primary", body=event_body("pursuit0a1b2c")).execute()
    assert ei.value.status_code == 409
    assert ei.value.error_details[0]["reason"] == "duplicate"

    cal.events().delete(calendarId="primary", eventId="pursuit0a1b2c").execute()
    got = cal.events().get(calendarId="primary", eventId="pursuit0a1b2c").execute()
    assert got["status"] == "cancelled" and got["summary"] == "Thank-you note: Acme"
    with pytest.raises(HttpError) as ei:
        cal.events().insert(calendarId="primary", body=event_body("pursuit0a1b2c")).execute()
    assert ei.value.status_code == 409  # the id stays taken after deletion
    with pytest.raises(HttpError) as ei:
        cal.events().delete(calendarId="primary", eventId="pursuit0a1b2c").execute()
    assert ei.value.status_code == 410

    with pytest.raises(HttpError) as ei:
        cal.events().insert(
            calendarId="primary",
            body=event_body(
                "pursuit99999",
                reminders={
                    "useDefault": False,
                    "overrides": [{"method": "popup", "minutes": 1}] * 6,
                },
            ),
        ).execute()
    assert ei.value.status_code == 400
    with pytest.raises(HttpError) as ei:
        cal.events().get(calendarId="primary", eventId="nosuchevent").execute()
    assert ei.value.status_code == 404


def test_event_update_and_patch(emu: GoogleEmulator, cal: Any) -> None:
    ev = cal.events().insert(calendarId="primary", body=event_body("pursuit00002")).execute()
    patched = (
        cal.events()
        .patch(calendarId="primary", eventId=ev["id"], body={"description": "notes"})
        .execute()
    )
    assert patched["description"] == "notes" and patched["summary"] == ev["summary"]
    assert patched["updated"] > ev["updated"] and patched["etag"] != ev["etag"]
    body = event_body(summary="Renamed")
    updated = cal.events().update(calendarId="primary", eventId=ev["id"], body=body).execute()
    assert updated["summary"] == "Renamed" and "description" not in updated
    assert emu.events("primary")[ev["id"]]["summary"] == "Renamed"


def test_list_filters(emu: GoogleEmulator, cal: Any) -> None:
    cal.events().insert(calendarId="primary", body=event_body("pursuit00003")).execute()
    emu.put_event(
        "primary",
        {
            "summary": "Interview with Acme",
            "start": {"dateTime": "2024-06-01T09:00:00Z"},
            "end": {"dateTime": "2024-06-01T10:00:00Z"},
            "attendees": [{"email": "jane@acme.test"}, {"email": ME}],
        },
    )
    ev = cal.events()
    mine = ev.list(calendarId="primary", privateExtendedProperty="pursuit=1").execute()
    assert [e["id"] for e in mine["items"]] == ["pursuit00003"]
    june = ev.list(
        calendarId="primary", timeMin="2024-05-15T00:00:00Z", timeMax="2024-07-01T00:00:00Z"
    ).execute()
    assert [e["summary"] for e in june["items"]] == ["Interview with Acme"]
    assert june["items"][0]["attendees"][0]["responseStatus"] == "needsAction"
    ordered = ev.list(calendarId="primary", singleEvents=True, orderBy="startTime").execute()
    assert [e["start"]["dateTime"][:10] for e in ordered["items"]] == ["2024-05-01", "2024-06-01"]


def test_sync_token_flow(emu: GoogleEmulator, cal: Any) -> None:
    for i in range(5):
        cal.events().insert(calendarId="primary", body=event_body(f"pursuit0000{i}")).execute()
    ev = cal.events()

    items: list[dict[str, Any]] = []
    req = ev.list(calendarId="primary", maxResults=2)
    sync_token = None
    while req is not None:
        page = req.execute()
        items += page["items"]
        if "nextPageToken" in page:
            assert "nextSyncToken" not in page
        else:
            sync_token = page["nextSyncToken"]
        req = ev.list_next(req, page)
    assert len(items) == 5 and sync_token

    # Nothing changed: empty incremental page with a fresh token.
    page = ev.list(calendarId="primary", syncToken=sync_token).execute()
    assert page["items"] == [] and page["nextSyncToken"]

    interview = emu.put_event(
        "primary",
        {
            "summary": "Interview",
            "start": {"dateTime": "2024-05-02T10:00:00Z"},
            "end": {"dateTime": "2024-05-02T11:00:00Z"},
        },
    )
    emu.cancel_event("primary", "pursuit00001")
    ev.patch(calendarId="primary", eventId="pursuit00002", body={"summary": "moved"}).execute()
    page = ev.list(calendarId="primary", syncToken=sync_token).execute()
    changed = {e["id"]: e for e in page["items"]}
    assert set(changed) == {interview["id"], "pursuit00001", "pursuit00002"}
    assert changed["pursuit00001"]["status"] == "cancelled"
    assert changed["pursuit00002"]["summary"] == "moved"
    # The same changes, one per page: the token comes on the last page only.
    paged: list[str] = []
    req = ev.list(calendarId="primary", syncToken=sync_token, maxResults=1)
    while req is not None:
        page1 = req.execute()
        paged += [e["id"] for e in page1["items"]]
        assert ("nextSyncToken" in page1) != ("nextPageToken" in page1)
        req = ev.list_next(req, page1)
    assert sorted(paged) == sorted(changed)

    # Cancelled events are hidden from a full list unless showDeleted.
    full = ev.list(calendarId="primary").execute()
    assert "pursuit00001" not in {e["id"] for e in full["items"]}
    shown = ev.list(calendarId="primary", showDeleted=True).execute()
    assert "pursuit00001" in {e["id"] for e in shown["items"]}

    with pytest.raises(HttpError) as ei:
        ev.list(
            calendarId="primary", syncToken=sync_token, timeMin="2024-01-01T00:00:00Z"
        ).execute()
    assert ei.value.status_code == 400
    with pytest.raises(HttpError) as ei:
        ev.list(
            calendarId="primary", syncToken=sync_token, privateExtendedProperty="pursuit=1"
        ).execute()
    assert ei.value.status_code == 400

    emu.expire_sync_tokens()
    with pytest.raises(HttpError) as ei:
        ev.list(calendarId="primary", syncToken=page["nextSyncToken"]).execute()
    assert ei.value.status_code == 410
    assert ev.list(calendarId="primary").execute()["nextSyncToken"]


def test_recurring_events_expand_into_instances_with_singleevents(
    emu: GoogleEmulator, cal: Any
) -> None:
    """Google's documented shape: instances `{id}_{original start in UTC}` with
    recurringEventId and originalStartTime; an exception replaces its instance; an
    EXDATE leaves it out; the series itself only without singleEvents."""
    emu.put_event(
        "primary",
        {
            "id": "loop0001",
            "summary": "Interview loop",
            "start": {"dateTime": "2026-12-04T14:00:00+01:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-12-04T15:00:00+01:00", "timeZone": "Europe/Paris"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20261211T130000Z"],
        },
    )
    emu.put_event(
        "primary",
        {
            "id": "loop0001_20261218T130000Z",
            "recurringEventId": "loop0001",
            "originalStartTime": {"dateTime": "2026-12-18T14:00:00+01:00"},
            "summary": "Final round",
            "start": {"dateTime": "2026-12-18T16:00:00+01:00"},
            "end": {"dateTime": "2026-12-18T17:00:00+01:00"},
        },
    )
    emu.put_event(
        "primary",
        {
            "id": "day00001",
            "summary": "Onsite",
            "start": {"date": "2026-12-09"},
            "end": {"date": "2026-12-10"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"],
        },
    )
    ev = cal.events()
    series = ev.list(calendarId="primary").execute()["items"]
    assert sorted(e["id"] for e in series) == ["day00001", "loop0001", "loop0001_20261218T130000Z"]
    first = ev.list(calendarId="primary", singleEvents=True)
    page = first.execute()
    instances = {e["id"]: e for e in page["items"]}
    assert sorted(instances) == [
        "day00001_20261209",
        "day00001_20261210",
        "loop0001_20261204T130000Z",
        "loop0001_20261218T130000Z",
        "loop0001_20261225T130000Z",
    ]
    moved = instances["loop0001_20261218T130000Z"]
    assert (moved["summary"], moved["recurringEventId"]) == ("Final round", "loop0001")
    christmas = instances["loop0001_20261225T130000Z"]
    assert christmas["originalStartTime"] == christmas["start"]
    assert christmas["start"]["dateTime"].startswith("2026-12-25T14:00:00+01:00")
    assert "recurrence" not in christmas
    assert instances["day00001_20261210"]["end"] == {"date": "2026-12-11"}
    window = ev.list(
        calendarId="primary",
        singleEvents=True,
        timeMin="2026-12-15T00:00:00Z",
        timeMax="2026-12-20T00:00:00Z",
    ).execute()
    assert [e["id"] for e in window["items"]] == ["loop0001_20261218T130000Z"]

    # One occurrence cancelled, then the whole series deleted: an incremental sync
    # gives cancelled instances, each with the fields Google guarantees.
    emu.put_event(
        "primary",
        {
            "id": "loop0001_20261204T130000Z",
            "recurringEventId": "loop0001",
            "originalStartTime": {"dateTime": "2026-12-04T14:00:00+01:00"},
            "status": "cancelled",
            "start": {"dateTime": "2026-12-04T14:00:00+01:00"},
            "end": {"dateTime": "2026-12-04T15:00:00+01:00"},
        },
    )
    changes = ev.list(calendarId="primary", singleEvents=True, syncToken=page["nextSyncToken"])
    changed = changes.execute()
    assert changed["items"] == [
        {
            "kind": "calendar#event",
            "etag": changed["items"][0]["etag"],
            "id": "loop0001_20261204T130000Z",
            "status": "cancelled",
            "updated": changed["items"][0]["updated"],
            "recurringEventId": "loop0001",
            "originalStartTime": {"dateTime": "2026-12-04T14:00:00+01:00"},
        }
    ]
    emu.cancel_event("primary", "loop0001")
    gone = ev.list(
        calendarId="primary", singleEvents=True, syncToken=changed["nextSyncToken"]
    ).execute()
    assert {e["id"]: e["status"] for e in gone["items"]} == {
        "loop0001_20261211T130000Z": "cancelled",  # the EXDATE's
        "loop0001_20261218T130000Z": "cancelled",  # the exception goes with its series
        "loop0001_20261225T130000Z": "cancelled",
    }


def test_calendar_batch(emu: GoogleEmulator, cal: Any) -> None:
    reqs = [
        cal.events().insert(calendarId="primary", body=event_body(f"batch0000{i}"))
        for i in range(3)
    ]
    results = run_batch(emu.calendar_batch_uri, reqs)
    assert sorted(r["id"] for r, _ in results.values()) == [
        "batch00000",
        "batch00001",
        "batch00002",
    ]
    assert emu.call_count("calendar/v3/calendars/primary/events", batched=True) == 3


# ------------------------------------------------------------------------- OAuth


def test_token_refresh_on_401(emu: GoogleEmulator, gmail: Any) -> None:
    gmail.users().getProfile(userId="me").execute()
    assert emu.token_requests == 1
    emu.expire_tokens()
    gmail.users().getProfile(userId="me").execute()
    assert emu.token_requests == 2
    assert [c.status for c in emu.calls] == [200, 401, 200]


def test_revoked_grant_raises_refresh_error(emu: GoogleEmulator, gmail: Any) -> None:
    gmail.users().getProfile(userId="me").execute()
    emu.revoke()
    with pytest.raises(RefreshError) as ei:
        gmail.users().getProfile(userId="me").execute()
    assert "invalid_grant" in str(ei.value)
    assert ei.value.retryable is False


def test_wrong_client_secret(emu: GoogleEmulator) -> None:
    info = {**emu.authorized_user_info(), "client_secret": "wrong"}
    creds = Credentials.from_authorized_user_info(info).with_token_uri(emu.token_uri)  # type: ignore[no-untyped-call]
    with pytest.raises(RefreshError) as ei:
        gmail_service(emu, creds).users().getProfile(userId="me").execute()
    assert "invalid_client" in str(ei.value)


def test_scopes_enforced() -> None:
    granted = [SCOPE + "gmail.metadata", SCOPE + "gmail.readonly", SCOPE + "calendar.readonly"]
    with GoogleEmulator(scopes=granted) as emu:
        gid = emu.add_message(rfc822())
        for scopes in (
            [SCOPE + "gmail.metadata"],
            [SCOPE + "gmail.metadata", SCOPE + "gmail.readonly"],
        ):
            meta = gmail_service(emu, make_creds(emu, scopes))
            meta.users().messages().list(userId="me").execute()
            meta.users().messages().get(userId="me", id=gid, format="metadata").execute()
            with pytest.raises(HttpError) as ei:
                meta.users().messages().list(userId="me", q="from:jane@acme.test").execute()
            assert ei.value.status_code == 403
            with pytest.raises(HttpError) as ei:
                meta.users().messages().get(userId="me", id=gid, format="full").execute()
            assert ei.value.status_code == 403
        ro = gmail_service(emu, make_creds(emu, [SCOPE + "gmail.readonly"]))
        ro.users().messages().list(userId="me", q="from:jane@acme.test").execute()
        with pytest.raises(HttpError) as ei:
            ro.users().drafts().create(userId="me", body={"message": {"raw": "eA"}}).execute()
        assert ei.value.status_code == 403
        rocal = calendar_service(emu, make_creds(emu, [SCOPE + "calendar.readonly"]))
        rocal.events().list(calendarId="primary").execute()
        with pytest.raises(HttpError) as ei:
            rocal.events().insert(calendarId="primary", body=event_body("pursuit12345")).execute()
        assert ei.value.status_code == 403
        # Asking for a scope the user never granted fails the refresh.
        with pytest.raises(RefreshError, match="invalid_scope"):
            gmail_service(emu, make_creds(emu, [SCOPE + "gmail.send"])).users().getProfile(
                userId="me"
            ).execute()


# ----------------------------------------------------------- faults and accounting


def test_fault_injection_retried_by_num_retries(emu: GoogleEmulator, gmail: Any) -> None:
    gmail.users().getProfile(userId="me").execute()
    emu.reset_counters()
    emu.inject_fault(503, retry_after=1)
    emu.inject_fault(429, path_contains="/messages", retry_after=1)
    gmail.users().getProfile(userId="me").execute(num_retries=3)
    gmail.users().messages().list(userId="me").execute(num_retries=3)
    assert [c.status for c in emu.calls] == [503, 200, 429, 200]
    # Without retries the error surfaces, Retry-After included.
    emu.inject_fault(429, retry_after=7)
    with pytest.raises(HttpError) as ei:
        gmail.users().getProfile(userId="me").execute()
    assert ei.value.status_code == 429 and ei.value.resp["retry-after"] == "7"


def test_slow_answer(emu: GoogleEmulator, gmail: Any) -> None:
    gmail.users().getProfile(userId="me").execute()
    emu.inject_fault(200, delay=0.3)
    t0 = time.perf_counter()
    gmail.users().getProfile(userId="me").execute()
    assert time.perf_counter() - t0 >= 0.3


def test_latency(gmail: Any, emu: GoogleEmulator) -> None:
    gmail.users().getProfile(userId="me").execute()
    emu.latency = 0.05
    t0 = time.perf_counter()
    gmail.users().getProfile(userId="me").execute()
    assert time.perf_counter() - t0 >= 0.05


def test_quota_accounting(emu: GoogleEmulator, gmail: Any) -> None:
    gid = emu.add_message(rfc822())
    u = gmail.users()
    start = u.getProfile(userId="me").execute()["historyId"]  # 1
    u.messages().list(userId="me").execute()  # 5
    u.messages().get(userId="me", id=gid).execute()  # 5
    u.history().list(userId="me", startHistoryId=start).execute()  # 2
    raw = b64(rfc822(frm=ME, to="jane@acme.test"))
    u.drafts().create(userId="me", body={"message": {"raw": raw}}).execute()  # 10
    u.drafts().list(userId="me").execute()  # 5
    u.messages().send(userId="me", body={"raw": raw}).execute()  # 100
    assert emu.quota_units == 1 + 5 + 5 + 2 + 10 + 5 + 100
    assert emu.call_count("gmail/v1/users/me/messages") == 3
    assert emu.call_count("/gmail/v1/users/me/drafts", method="POST") == 1


def test_quota_enforcement() -> None:
    with GoogleEmulator(enforce_quota=True) as emu:
        ids = [emu.add_message(rfc822(subject=f"s{i}")) for i in range(51)]
        gmail = gmail_service(emu)
        results = run_batch(
            emu.batch_uri, [gmail.users().messages().get(userId="me", id=i) for i in ids[:50]]
        )  # 250 units: exactly the per-second budget
        assert all(exc is None for _, exc in results.values())
        with pytest.raises(HttpError) as ei:
            gmail.users().messages().get(userId="me", id=ids[50]).execute()
        assert ei.value.status_code == 429
        assert ei.value.error_details[0]["reason"] == "userRateLimitExceeded"
        assert emu.rate_limited == 1 and emu.quota_units == 250
        time.sleep(1.05)
        gmail.users().messages().get(userId="me", id=ids[50]).execute()


def test_batch_envelope_fault(emu: GoogleEmulator, gmail: Any) -> None:
    gid = emu.add_message(rfc822())
    emu.inject_fault(503, path_contains="/batch")
    with pytest.raises(HttpError) as ei:
        run_batch(emu.batch_uri, [gmail.users().messages().get(userId="me", id=gid)])
    assert ei.value.status_code == 503
    assert run_batch(emu.batch_uri, [gmail.users().messages().get(userId="me", id=gid)])["0"][0]


def test_token_endpoint_outage_retried_by_google_auth(emu: GoogleEmulator, gmail: Any) -> None:
    emu.inject_fault(503, path_contains="/token")
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == ME
    assert emu.token_requests == 1  # the 503 was answered before reaching the endpoint
    assert emu.http_requests == 3  # 503 token, 200 token, profile


def test_concurrent_clients_one_http_per_thread(emu: GoogleEmulator) -> None:
    ids = [emu.add_message(rfc822(subject=f"s{i}")) for i in range(40)]
    errors: list[BaseException] = []

    def worker(chunk: list[str]) -> None:
        try:
            svc = gmail_service(emu)  # httplib2.Http is not thread-safe: one per thread
            for gid in chunk:
                assert svc.users().messages().get(userId="me", id=gid).execute()["id"] == gid
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(ids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert emu.call_count("gmail/v1/users/me/messages/") == 40


def test_a_fault_after_commit_does_the_work_then_fails_and_calendars_can_be_deleted(
    emu: GoogleEmulator, cal: Any
) -> None:
    from googleapiclient.errors import HttpError

    emu.inject_fault(503, method="calendars.insert", after_commit=True)
    with pytest.raises(HttpError) as failed:
        cal.calendars().insert(body={"summary": "Mine"}).execute()
    assert failed.value.resp.status == 503
    [made] = [cid for cid, c in emu.calendars.items() if c["summary"] == "Mine"]
    # the fault was for that method alone: the next insert is answered
    cal.calendars().insert(body={"summary": "Other"}).execute()
    emu.delete_calendar(made)
    assert sorted(c["summary"] for c in emu.calendars.values()) == ["Other", ME]


def test_a_held_request_is_committed_only_when_released(emu: GoogleEmulator, gmail: Any) -> None:
    held = emu.hold("drafts.create")
    outcome: list[Any] = []
    raw = rfc822(frm=ME, to="jane@acme.test", subject="Thanks")

    def create() -> None:
        body = {"message": {"raw": b64(raw)}}
        other = gmail_service(emu)  # httplib2 connections are one thread's each
        try:
            outcome.append(other.users().drafts().create(userId="me", body=body).execute())
        except HttpError as exc:
            outcome.append(exc)

    client = threading.Thread(target=create)
    client.start()
    assert held.wait_arrived()
    # received, neither answered nor carried out; other calls go on meanwhile
    assert emu.drafts == {} and outcome == []
    assert gmail.users().drafts().list(userId="me").execute().get("drafts") is None
    held.release()
    client.join()
    [draft] = emu.drafts.values()
    assert outcome[0]["id"] == draft.id and held.committed == 1
    # only the next `count` calls are held; the rest are answered at once
    gmail.users().drafts().create(userId="me", body={"message": {"raw": b64(raw)}}).execute()
    assert len(emu.drafts) == 2

    # a timer lets a held call go too
    timed = emu.hold("calendars.insert", release_after=0.2)
    other_cal = calendar_service(emu)
    inserting = threading.Thread(
        target=lambda: other_cal.calendars().insert(body={"summary": "Late"}).execute()
    )
    inserting.start()
    assert timed.wait_arrived()
    assert "Late" not in {c["summary"] for c in emu.calendars.values()}
    assert timed.wait_committed()
    inserting.join()
    assert "Late" in {c["summary"] for c in emu.calendars.values()}
