"""A Google sign-in that may end soon: Google ends the grant of an app left in "Testing"
7 days after it was made, so the summary's Health section and the doctor warn from day 5."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.app import Clock, make_settings
from support.summary import record

from pursuit.daemon import doctor, summary
from pursuit.daemon.app import App

WARNING = (
    "Google sign-in made on Mon 30 Nov: if your Google Cloud app is still in Testing, "
    "Google ends it on Mon 07 Dec; publish it (README, Connecting Google, step 2) "
    "or run `pursuit auth google` again then."
)


@pytest.fixture
def google_app(tmp_path: Path, clock: Clock) -> Iterator[App]:
    token = tmp_path / "google-token.json"
    token.write_text("{}")
    settings = make_settings(tmp_path, google={"credentials_file": str(token)})
    app = App(settings, clock=clock)
    app.store.record_grant("google", now=clock.now)  # as `pursuit auth google` does
    yield app
    app.close()


@pytest.mark.parametrize(("day", "warned"), [(4, False), (6, True), (8, False)])
def test_the_summary_warns_from_day_5_to_day_7_after_the_sign_in(
    google_app: App, clock: Clock, day: int, warned: bool
) -> None:
    clock.now += timedelta(days=day)
    data = record(google_app)
    text = summary.render_text(data)
    html = summary.render_html(data).replace("&#96;", "`")
    assert (WARNING in text) is warned
    assert (WARNING in html) is warned
    assert ("needs attention" in summary.subject(data)) is warned


def test_a_refused_grant_keeps_its_own_line_without_the_warning(
    google_app: App, clock: Clock
) -> None:
    clock.now += timedelta(days=6)
    google_app.store.record_grant_refused(
        "google", "google: the sign-in was revoked", now=clock.now
    )
    text = summary.render_text(record(google_app))
    assert "Google sign-in refused since" in text
    assert "Google ends it" not in text


def test_the_doctor_warns_on_day_6_as_something_that_needs_you(
    google_app: App, clock: Clock
) -> None:
    clock.now += timedelta(days=6)
    found = doctor.checks(google_app, clock.now, probe=False)
    renewal = [c for c in found if WARNING in c.found]
    assert len(renewal) == 1 and renewal[0].needs_you
    assert WARNING in doctor.render(found)


def test_the_doctor_says_nothing_of_it_on_day_8(google_app: App, clock: Clock) -> None:
    clock.now += timedelta(days=8)
    found = doctor.checks(google_app, clock.now, probe=False)
    assert "Google ends it" not in doctor.render(found)


TESTING = (
    "the sign-in of Mon 30 Nov after 7 days, as it does for an OAuth app "
    'whose publishing status is "Testing". Sign in again with `pursuit auth google`; to '
    'make it last, set the app\'s publishing status to "In production" (Google Cloud '
    'console, OAuth consent screen, "Publish app"), or use an OAuth client of an app of '
    "your own that is in production."
)


@pytest.mark.parametrize(
    ("worked", "refused", "named"),
    [
        (timedelta(days=1), timedelta(days=7, minutes=30), "Google ended"),
        # off from day 5 to day 12: it never worked past day 7
        (timedelta(days=5), timedelta(days=12), "Google probably ended"),
        # it worked on day 29: revoked, not the Testing status
        (timedelta(days=29), timedelta(days=30), None),
    ],
)
def test_a_grant_google_ends_on_day_7_is_named_as_the_testing_status_with_the_fix(
    tmp_path: Path, clock: Clock, worked: timedelta, refused: timedelta, named: str | None
) -> None:
    from support.google_emulator import GoogleEmulator

    from pursuit.daemon.jobs import run_jobs

    made = clock.now
    with GoogleEmulator(user_email="me@example.test") as emu:
        token = tmp_path / "google-token.json"
        emu.write_authorized_user_file(str(token))
        google = {
            "credentials_file": str(token),
            "api_endpoint": emu.base_url,
            "token_uri": emu.token_uri,
        }
        settings = make_settings(tmp_path, google=google, calendar={"kind": "ics"})
        app = App(settings, clock=clock)
        app.store.record_grant("google", now=made)  # as `pursuit auth google` does
        clock.now = made + worked
        assert run_jobs(app.store, app.jobs(), clock.now) == []
        clock.now = made + refused
        emu.revoke()  # invalid_grant: "Token has been expired or revoked."
        assert run_jobs(app.store, app.jobs(), clock.now)
        text = summary.render_text(record(app))
        html = summary.render_html(record(app)).replace("&#34;", '"').replace("&#39;", "'")
        said = doctor.render(doctor.checks(app, clock.now, probe=False))
        assert "Google sign-in refused since" in text
        for where in (text, html.replace("&#96;", "`"), said):
            if named is None:
                assert TESTING not in where
            else:
                assert f"{named} {TESTING}" in where
        app.close()
