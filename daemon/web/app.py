"""The dashboard as a Flask application: `create_app` wires the locks
(`security.py`), the pages (one blueprint each) and the App of each request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from pursuit.daemon.errors import PursuitError, UserError
from pursuit.daemon.web import common, security

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from pursuit.config.settings import Settings

HERE = Path(__file__).parent


class RecordId(IntegerConverter):
    """`<id:name>`: a record's id, a number the store can hold; a larger one matches no
    page (404) instead of reaching SQLite."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, max=2**63 - 1)


def create_app(
    settings: Settings,
    *,
    token: str,
    now: datetime | Callable[[], datetime] | None = None,
) -> Flask:
    """The dashboard of `settings`' store, opened by `/login?token=TOKEN`.

    `now`: a fixed moment or a clock, for tests (default: the wall clock). The app
    answers to `settings.web.address` and its port; `serve.py` tells it the port it was
    really given (`listening_on`). Flask's test client talks to that address.
    """
    app = Flask(
        __name__,
        root_path=str(HERE),
        instance_path=str(HERE / "instance"),  # never used; spares Flask's search for it
        template_folder="templates",
        static_folder="static",
    )
    app.secret_key = security.session_secret(token)
    app.config["PURSUIT_SETTINGS"] = settings
    app.config["PURSUIT_TOKEN"] = token
    app.config["PURSUIT_CLOCK"] = (lambda: now) if isinstance(now, datetime) else now
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # forms only: a megabyte is plenty
    app.url_map.converters["id"] = RecordId
    listening_on(app, settings.web.address, settings.web.port)
    security.install(app)

    helpers = {
        "safe_link": common.safe_link,
        "link_or_text": common.link_or_text,
        "commands": common.commands,
    }
    app.jinja_env.globals.update(helpers)
    app.jinja_env.filters.update(helpers)
    app.teardown_appcontext(common.close_app)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(PursuitError, pursuit_error)

    from pursuit.daemon.web import interviews, organization, pipeline, today

    for blueprint in (today.bp, pipeline.bp, organization.bp, interviews.bp):
        app.register_blueprint(blueprint)
    return app


def listening_on(app: Flask, address: str, port: int) -> None:
    """Tell `app` where it is served: the Host headers it answers and its cookie's name."""
    app.config["PURSUIT_ADDRESS"] = address
    app.config["PURSUIT_PORT"] = port
    app.config["PURSUIT_HOSTS"] = security.allowed_hosts(address, port)
    # Flask's test client (and url_for(_external=True)) use this name.
    app.config["SERVER_NAME"] = f"{security.bracketed(address)}:{port}"


def http_error(error: HTTPException) -> tuple[str, int]:
    """Every HTTP error as a page of its own; 403 without a session says how to get in."""
    code = error.code or 500
    if code == 403 and error.description == "not_signed_in":
        return render_template("login.html", wrong=False), 403
    return render_template("error.html", code=code, message=error.description), code


def pursuit_error(error: PursuitError) -> Response | tuple[str, int]:
    """A refused change (UserError, or the store saying it cannot write) goes back to
    the page it came from with the message; on a page that only reads, it is the page."""
    if request.method == "POST":
        return common.failed(str(error))
    code = 400 if isinstance(error, UserError) else 500
    return render_template("error.html", code=code, message=str(error)), code
