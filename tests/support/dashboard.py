"""The dashboard through Flask's test client: a browser that has opened the link
`pursuit web` printed, and posts its forms as the pages write them."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

TOKEN = "test-access-token"


def signed_in(app: Flask) -> FlaskClient:
    """A client that opened `/login?token=...`: it holds the session cookie."""
    client = app.test_client()
    answer = client.get(f"/login?token={TOKEN}")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client


def csrf_token(client: FlaskClient) -> str:
    """The session's CSRF token, as every form of the dashboard carries it."""
    with client.session_transaction() as session:
        token: str = session["csrf"]
    return token


def post(
    client: FlaskClient, path: str, data: dict[str, str] | None = None, *, follow: bool = True
) -> TestResponse:
    """Post a form of the dashboard (with its CSRF token), following the redirect."""
    form = {"csrf_token": csrf_token(client), "next": "/", **(data or {})}
    return client.post(path, data=form, follow_redirects=follow)


#: Tags that flow within a line: taken out without a space (the others part words).
INLINE = re.compile(r"</?(a|span|time|strong|em|code|abbr|b|i)\b[^>]*>")


def words(fragment: str) -> str:
    """What a reader sees of some HTML: its text, tags out, entities read, spaces collapsed."""
    text = re.sub(r"<[^>]+>", " ", INLINE.sub("", fragment))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def text_of(page: TestResponse) -> str:
    """What a reader sees of a page."""
    return words(page.get_data(as_text=True))


def row(page: TestResponse, element_id: str) -> str:
    """What a reader sees of the list item `<li id=element_id>` ("duty-12")."""
    found = re.search(rf'<li [^>]*id="{element_id}".*?</li>', page.get_data(as_text=True), re.S)
    assert found is not None, f"no row {element_id} in the page"
    return words(found.group(0))


def section(page: TestResponse, heading_id: str) -> str:
    """The HTML of the `<section>` headed by the element with id `heading_id`."""
    found = re.search(
        rf'<section aria-labelledby="{heading_id}".*?</section>',
        page.get_data(as_text=True),
        re.DOTALL,
    )
    return found.group(0) if found else ""


def ids_in(fragment: str, prefix: str = "duty-") -> list[int]:
    """The record ids of the rows in `fragment`, in page order (`id="duty-12"`)."""
    return [int(n) for n in re.findall(rf'id="{prefix}(\d+)"', fragment)]
