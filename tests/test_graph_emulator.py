"""The real msal and requests against tests/support/graph_emulator.py.

Nothing is mocked: msal signs in over HTTPS to the emulator's identity endpoints
(the certificate trusted through REQUESTS_CA_BUNDLE), and every Graph call below is
a real HTTPS request to it on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msal
import pytest
import requests
from support.graph_emulator import GraphEmulator

GRAPH_SCOPES = [
    "https://graph.microsoft.com/Calendars.ReadWrite",
    "https://graph.microsoft.com/User.Read",
]
MAIL_SCOPES = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
]
WINDOW = "startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        for key, value in emulator.env().items():
            monkeypatch.setenv(key, value)
        yield emulator


def app_for(emu: GraphEmulator, cache: msal.SerializableTokenCache | None = None) -> Any:
    return msal.PublicClientApplication(
        emu.client_id,
        authority=emu.authority("common"),
        instance_discovery=False,
        token_cache=cache or msal.SerializableTokenCache(),
        timeout=10,
    )


def sign_in(emu: GraphEmulator, app: Any, scopes: list[str] = GRAPH_SCOPES) -> dict[str, Any]:
    flow = app.initiate_device_flow(scopes)
    assert "user_code" in flow, flow
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
    return result


class Graph:
    """Plain requests to the emulator's Graph, as a connector would make them."""

    def __init__(self, emu: GraphEmulator, token: str) -> None:
        self.base = emu.graph_endpoint
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else self.base + path

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.session.get(self.url(path), headers=headers, timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.url(path), json=body, timeout=10)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.session.patch(self.url(path), json=body, timeout=10)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.url(path), timeout=10)

    def delta_round(self, url: str, page_size: int = 2) -> tuple[list[dict[str, Any]], str, int]:
        """(items, deltaLink, pages) of one round from `url`."""
        items: list[dict[str, Any]] = []
        pages = 0
        while True:
            resp = self.get(url, Prefer=f"odata.maxpagesize={page_size}")
            assert resp.status_code == 200, resp.text
            page = resp.json()
            pages += 1
            items += page["value"]
            if "@odata.nextLink" in page:
                assert "$skiptoken=" in page["@odata.nextLink"]
                url = page["@odata.nextLink"]
                continue
            assert "$deltatoken=" in page["@odata.deltaLink"]
            return items, page["@odata.deltaLink"], pages


def timed(subject: str, day: int, hour: int = 9, zone: str = "Europe/Paris") -> dict[str, Any]:
    return {
        "subject": subject,
        "body": {"contentType": "text", "content": f"About {subject}"},
        "start": {"dateTime": f"2026-12-{day:02d}T{hour:02d}:00:00", "timeZone": zone},
        "end": {"dateTime": f"2026-12-{day:02d}T{hour + 1:02d}:00:00", "timeZone": zone},
    }


@pytest.fixture
def graph(emu: GraphEmulator) -> Graph:
    result = sign_in(emu, app_for(emu))
    return Graph(emu, result["access_token"])


# --------------------------------------------------------------------------- sign-in


def test_msal_signs_in_by_device_code_and_gets_a_mail_token_from_the_same_refresh_token(
    emu: GraphEmulator,
) -> None:
    cache = msal.SerializableTokenCache()
    app = app_for(emu, cache)
    flow = app.initiate_device_flow(GRAPH_SCOPES)
    assert flow["user_code"] in flow["message"]
    assert "https://microsoft.com/devicelogin" in flow["message"]
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "me@contoso.test"
    [account] = app.get_accounts()
    assert account["username"] == "me@contoso.test"
    me = Graph(emu, result["access_token"]).get("me").json()
    assert (me["mail"], me["displayName"]) == ("me@contoso.test", "Sam Seeker")

    # a second app reading the saved cache: the mail token silently, for another resource
    later = msal.SerializableTokenCache()
    later.deserialize(cache.serialize())
    app2 = app_for(emu, later)
    mail = app2.acquire_token_silent_with_error(MAIL_SCOPES, app2.get_accounts()[0])
    assert mail is not None and "access_token" in mail, mail
    assert emu.mail_token_valid(mail["access_token"])
    assert not emu.mail_token_valid(result["access_token"])  # a Graph token is not for IMAP
    # ... and a mail token is not for Graph
    refused = Graph(emu, mail["access_token"]).get("me")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_request_for_two_resources_at_once_is_refused_aadsts28000(emu: GraphEmulator) -> None:
    flow = app_for(emu).initiate_device_flow([*GRAPH_SCOPES, *MAIL_SCOPES])
    assert flow.get("error") == "invalid_scope"
    assert "AADSTS28000" in flow["error_description"]


# --------------------------------------------------------------------------- calendars, events


def test_calendars_and_events_as_graph_gives_them(emu: GraphEmulator, graph: Graph) -> None:
    cals = graph.get("me/calendars").json()["value"]
    assert [c["name"] for c in cals] == ["Calendar"]
    assert cals[0]["isDefaultCalendar"] and cals[0]["id"] == emu.default_calendar_id
    created = graph.post("me/calendars", {"name": "Job search (pursuit)"})
    assert created.status_code == 201
    cal_id = created.json()["id"]
    again = graph.post("me/calendars", {"name": "Job search (pursuit)"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "ErrorFolderExists")

    body = timed("Interview", 4) | {
        "transactionId": "pursuit-key-1",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 30,
        "singleValueExtendedProperties": [
            {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name pursuitKey", "value": "k1"}
        ],
    }
    first = graph.post(f"me/calendars/{cal_id}/events", body)
    assert first.status_code == 201
    event = first.json()
    # times in UTC, the zone it was written in kept; the text body kept as HTML
    assert event["start"] == {"dateTime": "2026-12-04T08:00:00.0000000", "timeZone": "UTC"}
    assert event["originalStartTimeZone"] == "Europe/Paris"
    assert event["body"]["contentType"] == "html" and "About Interview" in event["body"]["content"]
    assert event["bodyPreview"] == "About Interview"
    assert "singleValueExtendedProperties" not in event
    # a retried POST with the same transactionId does not make a second event
    retried = graph.post(f"me/calendars/{cal_id}/events", body)
    assert retried.json()["id"] == event["id"]
    assert len(emu.events(cal_id)) == 1

    pid = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name pursuitKey"
    expand = f"$expand=singleValueExtendedProperties($filter=id eq '{pid}')"
    listed = graph.get(
        f"me/calendars/{cal_id}/events?{expand}",
        Prefer='outlook.timezone="Pacific Standard Time", outlook.body-content-type="text"',
    ).json()["value"]
    [read] = listed
    assert read["singleValueExtendedProperties"] == [{"id": pid, "value": "k1"}]
    assert read["start"] == {
        "dateTime": "2026-12-04T00:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert read["body"] == {"contentType": "text", "content": "About Interview"}

    patched = graph.patch(f"me/events/{event['id']}", {"subject": "Interview (moved)"})
    assert patched.status_code == 200 and patched.json()["changeKey"] != event["changeKey"]
    assert graph.delete(f"me/events/{event['id']}").status_code == 204
    missing = graph.get(f"me/events/{event['id']}")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "ErrorItemNotFound")
    assert set(missing.json()["error"]["innerError"]) >= {"date", "request-id"}

    emu.delete_calendar(cal_id)
    gone = graph.get(f"me/calendars/{cal_id}")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ErrorItemNotFound")


def test_events_are_listed_ten_a_page_with_a_next_link(emu: GraphEmulator, graph: Graph) -> None:
    for day in range(1, 13):
        emu.put_event(None, timed(f"Event {day}", day))
    page = graph.get("me/calendar/events").json()
    assert len(page["value"]) == 10
    rest = graph.get(page["@odata.nextLink"]).json()
    assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest


# --------------------------------------------------------------------------- delta


def test_calendar_view_delta_pages_then_gives_only_what_changed(
    emu: GraphEmulator, graph: Graph
) -> None:
    ids = [emu.put_event(None, timed(f"Interview {d}", d)) for d in range(1, 6)]
    emu.put_event(
        None,
        timed("Next year", 1)
        | {
            "start": {"dateTime": "2027-03-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-03-01T10:00:00", "timeZone": "UTC"},
        },
    )
    items, delta_link, pages = graph.delta_round(f"me/calendarView/delta?{WINDOW}")
    assert pages == 3
    assert [i["subject"] for i in items] == [f"Interview {d}" for d in range(1, 6)]
    assert all(i["type"] == "singleInstance" for i in items)

    nothing, delta_link, _ = graph.delta_round(delta_link)
    assert nothing == []

    emu.put_event(None, timed("Interview 2 (moved)", 9), event_id=ids[1])
    emu.delete_event(ids[2])
    emu.put_event(
        None,
        timed("Interview 4 (moved away)", 4)
        | {
            "start": {"dateTime": "2027-02-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-02-01T10:00:00", "timeZone": "UTC"},
        },
        event_id=ids[3],
    )
    new = emu.put_event(None, timed("Interview 7", 7))
    changes, delta_link, _ = graph.delta_round(delta_link)
    changed = {c["id"]: c for c in changes}
    assert changed[ids[1]]["subject"] == "Interview 2 (moved)"
    assert changed[new]["subject"] == "Interview 7"
    assert changed[ids[2]] == {
        "@odata.type": "#microsoft.graph.event",
        "id": ids[2],
        "@removed": {"reason": "deleted"},
    }
    assert changed[ids[3]]["@removed"] == {"reason": "deleted"}  # moved out of the window
    assert set(changed) == {ids[1], new, ids[2], ids[3]}


def test_expired_delta_and_skip_tokens_answer_410(emu: GraphEmulator, graph: Graph) -> None:
    for day in range(1, 5):
        emu.put_event(None, timed(f"Interview {day}", day))
    first = graph.get(f"me/calendarView/delta?{WINDOW}", Prefer="odata.maxpagesize=2").json()
    _, delta_link, _ = graph.delta_round(f"me/calendarView/delta?{WINDOW}")
    emu.expire_delta_tokens()
    for url in (first["@odata.nextLink"], delta_link):
        resp = graph.get(url)
        assert resp.status_code == 410
        assert resp.json()["error"]["code"] == "SyncStateNotFound"
    # a new round from the window works again
    items, _, _ = graph.delta_round(f"me/calendarView/delta?{WINDOW}")
    assert len(items) == 4


# --------------------------------------------------------------------------- throttling


def test_throttled_requests_answer_429_with_retry_after(emu: GraphEmulator, graph: Graph) -> None:
    emu.throttle(2, retry_after=3)
    for _ in range(2):
        resp = graph.get("me/calendars")
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "3"
        assert resp.json()["error"]["code"] == "TooManyRequests"
    assert graph.get("me/calendars").status_code == 200
    emu.throttle(1, retry_after=2, status=503)
    assert graph.get("me").status_code == 503


def test_a_fifth_concurrent_request_of_the_mailbox_is_refused(
    emu: GraphEmulator, graph: Graph
) -> None:
    emu.latency = 0.4
    barrier = threading.Barrier(6)
    statuses: list[tuple[int, str]] = []

    def call() -> None:
        session = requests.Session()
        session.headers.update(graph.session.headers)
        barrier.wait()
        resp = session.get(emu.graph_endpoint + "me", timeout=10)
        code = resp.json().get("error", {}).get("message", "") if resp.status_code != 200 else ""
        statuses.append((resp.status_code, code))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [s for s in statuses if s[0] == 200]
    refused = [s for s in statuses if s[0] == 429]
    assert len(ok) == 4 and len(refused) == 2, statuses
    assert all(m == "Application is over its MailboxConcurrency limit." for _, m in refused)
    assert emu.max_concurrent > 4


# --------------------------------------------------------------------------- tokens


def test_refresh_tokens_rotate_and_expire_after_90_days_unused(emu: GraphEmulator) -> None:
    cache = msal.SerializableTokenCache()
    app = app_for(emu, cache)
    sign_in(emu, app)
    [account] = app.get_accounts()
    first_rt = emu.refresh_tokens_issued[-1]
    fresh = app.acquire_token_silent_with_error(GRAPH_SCOPES, account, force_refresh=True)
    assert fresh is not None and "access_token" in fresh
    assert emu.refresh_tokens_issued[-1] != first_rt
    assert cache.has_state_changed  # the app must save it again
    assert emu.refresh_tokens_issued[-1] in cache.serialize()  # msal keeps the new one

    emu.expire_refresh_tokens()
    expired = app.acquire_token_silent_with_error(GRAPH_SCOPES, account, force_refresh=True)
    assert expired is not None and expired["error"] == "invalid_grant"
    assert "AADSTS700082" in expired["error_description"]
    assert 700082 in expired["error_codes"]


def test_expired_access_tokens_answer_401(emu: GraphEmulator, graph: Graph) -> None:
    assert graph.get("me").status_code == 200
    emu.expire_access_tokens()
    resp = graph.get("me")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_utc_now_is_not_used_for_the_window(emu: GraphEmulator, graph: Graph) -> None:
    """The view is the window asked for, whatever the day the test runs."""
    emu.put_event(
        None,
        timed("Old", 1)
        | {
            "start": {"dateTime": "2020-01-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2020-01-01T10:00:00", "timeZone": "UTC"},
        },
    )
    start = datetime(2019, 12, 31, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    view = graph.get(
        f"me/calendarView?startDateTime={start}&endDateTime=2020-01-02T00:00:00Z"
    ).json()["value"]
    assert [v["subject"] for v in view] == ["Old"]


# --------------------------------------------------------------------------- sign-in edges


def test_a_declined_or_expired_device_code_ends_the_flow(emu: GraphEmulator) -> None:
    emu.auto_approve = False
    app = app_for(emu)
    flow = app.initiate_device_flow(GRAPH_SCOPES)
    assert emu.pending_user_codes() == [flow["user_code"]]
    emu.decline(flow["user_code"])
    declined = app.acquire_token_by_device_flow(flow)
    assert declined["error"] == "authorization_declined"

    emu.device_code_lifetime = 0.0  # announced 900 s, dead sooner, as seen in practice
    flow = app.initiate_device_flow(GRAPH_SCOPES)
    assert flow["expires_in"] == 900
    expired = app.acquire_token_by_device_flow(flow)
    assert expired["error"] == "expired_token"
    assert "AADSTS70020" in expired["error_description"]

    emu.device_code_lifetime = 900
    flow = app.initiate_device_flow(GRAPH_SCOPES)
    threading.Timer(0.2, emu.approve).start()  # while msal polls (every second)
    assert "access_token" in app.acquire_token_by_device_flow(flow)


def test_mail_scopes_never_consented_need_a_second_device_flow(monkeypatch: Any) -> None:
    with GraphEmulator(consent_all=False) as emu:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
        app = app_for(emu)
        sign_in(emu, app)
        [account] = app.get_accounts()
        refused = app.acquire_token_silent_with_error(MAIL_SCOPES, account)
        assert refused is not None and refused["error"] == "invalid_grant"
        assert 65001 in refused["error_codes"]
        assert "AADSTS65001" in refused["error_description"]
        assert "access_token" in sign_in(emu, app, MAIL_SCOPES)
        mail = app.acquire_token_silent_with_error(MAIL_SCOPES, account)
        assert mail is not None and emu.mail_token_valid(mail["access_token"])
        # the Graph token still comes silently after the second flow
        graph = app.acquire_token_silent_with_error(GRAPH_SCOPES, account, force_refresh=True)
        assert graph is not None and "access_token" in graph


def test_withdrawn_consent_refuses_every_token(emu: GraphEmulator) -> None:
    app = app_for(emu)
    result = sign_in(emu, app)
    emu.revoke()
    assert Graph(emu, result["access_token"]).get("me").status_code == 401
    again = app.acquire_token_silent_with_error(
        GRAPH_SCOPES, app.get_accounts()[0], force_refresh=True
    )
    assert again is not None and again["error"] == "invalid_grant"


def test_introspection_answers_for_live_mail_tokens_only(emu: GraphEmulator) -> None:
    app = app_for(emu)
    graph_token = sign_in(emu, app)["access_token"]
    mail = app.acquire_token_silent_with_error(MAIL_SCOPES, app.get_accounts()[0])
    assert mail is not None
    answer = requests.post(emu.introspection_url, data={"token": mail["access_token"]}, timeout=5)
    assert answer.json()["active"] is True
    assert answer.json()["username"] == "me@contoso.test"
    for token in (graph_token, "not-a-token"):
        other = requests.post(emu.introspection_url, data={"token": token}, timeout=5)
        assert other.json() == {"active": False}
    emu.expire_access_tokens()
    late = requests.post(emu.introspection_url, data={"token": mail["access_token"]}, timeout=5)
    assert late.json() == {"active": False}


def test_send_mail_needs_the_mail_send_scope(emu: GraphEmulator) -> None:
    app = app_for(emu)
    message = {
        "message": {
            "subject": "Your week",
            "body": {"contentType": "HTML", "content": "<p>hi</p>"},
            "toRecipients": [{"emailAddress": {"address": "me@contoso.test"}}],
        },
        "saveToSentItems": True,
    }
    calendar_only = Graph(emu, sign_in(emu, app)["access_token"])
    denied = calendar_only.post("me/sendMail", message)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "ErrorAccessDenied")
    with_send = sign_in(emu, app, ["https://graph.microsoft.com/Mail.Send"])
    sent = Graph(emu, with_send["access_token"]).post("me/sendMail", message)
    assert sent.status_code == 202 and sent.content == b""
    assert emu.sent == [message]


# --------------------------------------------------------------------------- recurrence


def weekly_series() -> dict[str, Any]:
    return timed("Weekly loop", 2, zone="W. Europe Standard Time") | {
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["wednesday"]},
            "range": {"type": "numbered", "startDate": "2026-12-02", "numberOfOccurrences": 4},
        }
    }


def test_a_series_is_listed_instance_by_instance_and_its_instances_change_alone(
    emu: GraphEmulator, graph: Graph
) -> None:
    created = graph.post("me/events", weekly_series())
    assert created.status_code == 201
    master = created.json()
    assert master["type"] == "seriesMaster" and master["recurrence"]["pattern"]["type"] == "weekly"
    items, delta_link, _ = graph.delta_round(f"me/calendarView/delta?{WINDOW}")
    assert [i["type"] for i in items] == ["occurrence"] * 4
    assert {i["seriesMasterId"] for i in items} == {master["id"]}
    assert [i["start"]["dateTime"] for i in items] == [
        f"2026-12-{d:02d}T08:00:00.0000000" for d in (2, 9, 16, 23)
    ]
    assert items[1]["originalStart"] == "2026-12-09T08:00:00Z"
    assert len({i["id"] for i in items}) == 4 and master["id"] not in {i["id"] for i in items}

    moved = graph.patch(
        f"me/events/{items[1]['id']}",
        {
            "start": {"dateTime": "2026-12-10T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-10T10:00:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200
    assert (moved.json()["type"], moved.json()["id"]) == ("exception", items[1]["id"])
    assert graph.delete(f"me/events/{items[2]['id']}").status_code == 204
    changes, delta_link, _ = graph.delta_round(delta_link)
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {items[1]["id"], items[2]["id"]}
    assert by_id[items[1]["id"]]["start"]["dateTime"] == "2026-12-10T09:00:00.0000000"
    assert by_id[items[1]["id"]]["originalStart"] == "2026-12-09T08:00:00Z"
    assert by_id[items[2]["id"]]["@removed"] == {"reason": "deleted"}

    # the whole series deleted: every instance it had in the view is removed
    assert graph.delete(f"me/events/{master['id']}").status_code == 204
    gone, _, _ = graph.delta_round(delta_link)
    assert {g["id"] for g in gone} == {items[0]["id"], items[1]["id"], items[3]["id"]}
    assert all("@removed" in g for g in gone)


# --------------------------------------------------------------------------- invitations


def test_an_invitation_reads_as_exchange_shows_it(emu: GraphEmulator, graph: Graph) -> None:
    from support.invitations import fixture

    [event_id] = emu.import_ics(None, fixture("teams-london"))
    [read] = graph.get(f"me/calendarView?{WINDOW}").json()["value"]
    assert read["id"] == event_id and read["type"] == "singleInstance"
    assert read["originalStartTimeZone"] == "GMT Standard Time"
    assert read["start"]["timeZone"] == "UTC"
    assert read["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
    assert read["isOnlineMeeting"] is True and read["isOrganizer"] is False
    assert read["organizer"]["emailAddress"]["address"]
    assert read["organizer"]["emailAddress"] not in [a["emailAddress"] for a in read["attendees"]]
    assert {a["type"] for a in read["attendees"]} <= {"required", "optional", "resource"}

    [room_event] = emu.import_ics(None, fixture("teams-pacific"))
    teams = graph.get(f"me/events/{room_event}").json()
    assert teams["originalStartTimeZone"] == "Pacific Standard Time"
    assert "resource" in {a["type"] for a in teams["attendees"]}

    # the organizer cancels: the item stays, cancelled, until the user removes it
    assert emu.import_ics(None, fixture("teams-pacific-cancelled")) == [room_event]
    cancelled = graph.get(f"me/events/{room_event}").json()
    assert cancelled["isCancelled"] is True
    assert cancelled["subject"].startswith("Canceled: ")
    assert not cancelled["subject"].startswith("Canceled: Canceled:")

    [all_day] = emu.import_ics(None, fixture("icloud-onsite"))
    onsite = graph.get(
        f"me/events/{all_day}", Prefer='outlook.timezone="Pacific Standard Time"'
    ).json()
    assert onsite["isAllDay"] is True
    assert onsite["start"]["dateTime"].endswith("T00:00:00.0000000")


def test_a_recurring_invitation_with_a_cancelled_occurrence(
    emu: GraphEmulator, graph: Graph
) -> None:
    from support.invitations import fixture

    master_id, exception_id = emu.import_ics(None, fixture("thunderbird-series"))
    items, delta_link, _ = graph.delta_round(f"me/calendarView/delta?{WINDOW}", page_size=50)
    assert master_id not in {i["id"] for i in items}
    assert {i["seriesMasterId"] for i in items} == {master_id}
    [cancelled] = [i for i in items if i["isCancelled"]]
    assert (cancelled["id"], cancelled["type"]) == (exception_id, "exception")
    assert all(i["originalStartTimeZone"] == "Europe/Berlin" for i in items)

    # a series moved by its organizer (Google's loop, then its update)
    loop_ids = emu.import_ics(None, fixture("google-loop"))
    before, delta_link, _ = graph.delta_round(delta_link, page_size=50)
    assert {i.get("seriesMasterId") for i in before} == {loop_ids[0]}
    assert emu.import_ics(None, fixture("google-loop-updated"))[0] == loop_ids[0]
    after, _, _ = graph.delta_round(delta_link, page_size=50)
    assert after, "the update shows in the next round"
    assert all(a.get("seriesMasterId") == loop_ids[0] or "@removed" in a for a in after)


def test_a_personal_account_signs_in_through_consumers_only(monkeypatch: Any) -> None:
    from support.graph_emulator import CONSUMERS_TENANT

    with GraphEmulator(user="sam@outlook.test", personal=True) as emu:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
        work_only = msal.PublicClientApplication(
            emu.client_id, authority=emu.authority("organizations"), instance_discovery=False
        )
        refused = sign_in(emu, work_only)
        assert "AADSTS50020" in refused["error_description"]
        personal = msal.PublicClientApplication(
            emu.client_id, authority=emu.authority("consumers"), instance_discovery=False
        )
        result = sign_in(emu, personal)
        assert result["id_token_claims"]["tid"] == CONSUMERS_TENANT


def test_a_calendar_deleted_under_a_delta_round_answers_404(
    emu: GraphEmulator, graph: Graph
) -> None:
    cal_id = emu.add_calendar("Interviews")
    emu.put_event(cal_id, timed("Screen", 3))
    items, delta_link, _ = graph.delta_round(f"me/calendars/{cal_id}/calendarView/delta?{WINDOW}")
    assert [i["subject"] for i in items] == ["Screen"]
    assert f"/me/calendars/{cal_id}/calendarView/delta?$deltatoken=" in delta_link
    emu.delete_calendar(cal_id)
    gone = graph.get(delta_link)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ErrorItemNotFound")


def test_a_series_its_organizer_cancelled_shows_every_occurrence_cancelled(
    emu: GraphEmulator, graph: Graph
) -> None:
    master_id = graph.post("me/events", weekly_series()).json()["id"]
    items, delta_link, _ = graph.delta_round(f"me/calendarView/delta?{WINDOW}")
    emu.cancel_event(master_id)
    changes, delta_link, _ = graph.delta_round(delta_link)
    assert {c["id"] for c in changes} == {i["id"] for i in items}
    assert all(c["isCancelled"] and c["subject"] == "Canceled: Weekly loop" for c in changes)
    emu.cancel_event(master_id, remove=True)  # then the user removes it from the calendar
    removed, _, _ = graph.delta_round(delta_link)
    assert [r["@removed"] for r in removed] == [{"reason": "deleted"}] * 4
