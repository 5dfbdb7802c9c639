"""What every page of the dashboard shares: the App of this request, the answer to a
change (a redirect with a message), and the one rule for a link from outside.

A view reads through `pursuit_app()` and changes data through `writable_app()`, the
same App the command line uses, so a page never holds a second implementation of a use
case (`daemon/actions.py`). Each request opens its own App, closed when it ends: an
SQLite connection serves only the thread that opened it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, request
from markupsafe import Markup, escape

from pursuit.daemon.app import App

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from pursuit.config.settings import Settings

#: Where `flash` messages go, by kind: what was done, and what went wrong.
DONE = "done"
ERROR = "error"


def settings() -> Settings:
    found: Settings = current_app.config["PURSUIT_SETTINGS"]
    return found


def pursuit_app() -> App:
    """The App of this request, as it is: what a page that only reads uses."""
    if "pursuit_app" not in g:
        g.pursuit_app = App(settings(), clock=current_app.config["PURSUIT_CLOCK"])
    found: App = g.pursuit_app
    return found


def writable_app() -> App:
    """The App of a change, made ready as the command line's `Context.writable_app`: a
    read-only or damaged database is refused first (a StoreError, shown on the page), and
    the config's organizations are in the store before the change sees it."""
    app = pursuit_app()
    app.store.require_writable()
    app.store.check_intact()
    app.sync_config()
    return app


def close_app(_exception: BaseException | None = None) -> None:
    """Teardown: the request's App (its database connection) is closed with it."""
    app = g.pop("pursuit_app", None)
    if app is not None:
        app.close()


def now() -> datetime:
    return pursuit_app().now()


def local_path(url: str | None, default: str = "/") -> str:
    """`url` when it is a path on this site ("/pipeline?x=1"), else `default`: a form's
    `next` never sends the browser elsewhere."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return default
    return url


def came_from() -> str:
    """The page a form was posted from: its `next` field (written by `csrf_field()`)."""
    return local_path(request.form.get("next"))


def done(message: str, next_url: str | None = None) -> Response:
    """The answer to a change: a 303 to a page of this site (`next_url`, else the page
    the form came from), which shows `message` once."""
    flash(message, DONE)
    return redirect(local_path(next_url) if next_url else came_from(), code=303)


def failed(message: str, next_url: str | None = None) -> Response:
    """A change refused: back to the page it came from, which shows why."""
    flash(message, ERROR)
    return redirect(local_path(next_url) if next_url else came_from(), code=303)


SAFE_SCHEMES = ("http", "https")


def safe_link(url: object) -> str | None:
    """`url` as an href when it is an http or https link, else None: a feed's
    `javascript:`, `data:` or `file:` link is shown as text, never made live. Jinja's
    autoescape still escapes what is returned."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):  # "java\tscript:", CR/LF
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.netloc:
        return None
    return text


COMMAND = re.compile(r"`([^`]+)`")


def commands(text: object) -> Markup:
    """Text as pursuit writes it for a terminal, escaped, its `commands` as <code>."""
    return Markup(COMMAND.sub(r"<code>\1</code>", str(escape(text))))


def link_or_text(url: object, text: object = None) -> Markup:
    """An `<a>` to `url` when `safe_link` allows it, else the text alone; both escaped."""
    label = escape(text if text is not None else url if url is not None else "")
    href = safe_link(url)
    if href is None:
        return Markup(label)
    return Markup('<a href="{}" rel="noopener noreferrer">{}</a>').format(href, label)


def record_id(text: str | None) -> int | None:
    """A record's id as a form sends it, or None: ASCII digits only ("²" is a digit to
    `str.isdigit` and not to `int`), and no larger than the store can hold."""
    if not text or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number < 2**63 else None
