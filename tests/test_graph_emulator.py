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
