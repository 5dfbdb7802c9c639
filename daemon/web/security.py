"""The dashboard's locks: who may talk to it and how.

- The Host header names this server (its address and port, or localhost, 127.0.0.1 or
  [::1] with its port), else 400: a page of another site whose name was made to point
  at 127.0.0.1 (DNS rebinding) is refused before anything is read.
- An access token, printed by `pursuit web`, opens a session: `/login?token=T` sets an
  HttpOnly, SameSite=Strict cookie and sends the browser to `/` (the token gone from
  the address bar). Without the cookie every page is 403, saying how to get in.
- Every POST carries the session's CSRF token, and its Origin, when sent, is this
  server: else 403 and nothing changes.
- Every answer carries a strict Content-Security-Policy (no script, no inline style, no
  frame), nosniff and no referrer; pages are not cached.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from typing import TYPE_CHECKING

from flask import Flask, abort, current_app, g, redirect, render_template, request, session
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: What is reachable without a session: the way in, and the style sheet of its page.
OPEN_ENDPOINTS = frozenset({"login", "static"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: The addresses that listen on every interface of the machine.
WILDCARDS = ("0.0.0.0", "::")


def session_secret(token: str) -> bytes:
    """The key that signs session cookies, derived from the access token: a service
    restarted with its kept token keeps its sessions; a new `pursuit web` starts afresh."""
    return hmac.new(token.encode(), b"pursuit dashboard session", hashlib.sha256).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def bracketed(address: str) -> str:
    """An IPv6 address as a URL names it."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def allowed_hosts(address: str, port: int) -> frozenset[str]:
    """The Host headers this server answers: its own address, and the loopback names
    when it listens there (or everywhere), each with its port."""
    names = {bracketed(address)}
    if is_loopback(address) or address in WILDCARDS:
        names.update(LOOPBACK_NAMES)
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:  # a browser leaves the default port out
        hosts.update(names)
    return frozenset(hosts)


def host_allowed(host: str) -> bool:
    """The Host header names this server: one of its names with its port; listening on
    every interface, any IP address with its port too (an address cannot be rebound,
    only a name can)."""
    config = current_app.config
    host = host.lower()
    if host in config["PURSUIT_HOSTS"]:
        return True
    if config["PURSUIT_ADDRESS"] not in WILDCARDS:
        return False
    name, colon, port = host.rpartition(":")
    if not colon or port != str(config["PURSUIT_PORT"]) or (":" in name) != name.startswith("["):
        return False
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


def origin_of(address: str, port: int) -> str:
    return f"http://{bracketed(address)}:{port}"


class PerPortSessions(SecureCookieSessionInterface):
    """A cookie named after the port: browsers share cookies between the ports of one
    host, so `pursuit web` and the service's dashboard would otherwise log each other out."""

    def get_cookie_name(self, app: Flask) -> str:
        return f"pursuit-{app.config['PURSUIT_PORT']}"


def install(app: Flask) -> None:
    """Put the locks on `app` (called once by `create_app`)."""
    app.session_interface = PerPortSessions()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=False,  # plain http on loopback
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.before_request(check_request)
    app.after_request(add_headers)
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.add_url_rule("/login", "login", login)


def check_request() -> Response | None:
    """Before every view: the Host, then the session, then a POST's CSRF and Origin."""
    host = request.environ.get("HTTP_HOST", "")
    if not host_allowed(host):
        abort(400, description=f"This server does not answer to the name {host!r}.")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not session.get("in"):
        abort(403, description="not_signed_in")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_change()
    return None


def check_change() -> None:
    """A change comes from a page of this server: its Origin, when the browser sends one,
    is this server's ("null" too: the no-referrer policy makes browsers send that for our
    own forms), its Sec-Fetch-Site, when sent, says same-origin, and its CSRF token is
    the session's."""
    origin = request.headers.get("Origin")
    fetched_from = request.headers.get("Sec-Fetch-Site")
    if (origin is not None and origin not in ("null", f"http://{request.host}")) or (
        fetched_from is not None and fetched_from not in ("same-origin", "none")
    ):
        abort(403, description="This change came from another site; nothing was changed.")
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(
            403,
            description="This form is out of date (its security token does not match); "
            "nothing was changed. Go back, reload the page and try again.",
        )


def login() -> Response | str:
    """`/login?token=T`: the token right opens a session and sends the browser to `/`."""
    given = request.args.get("token", "")
    expected: str = current_app.config["PURSUIT_TOKEN"]
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return render_template("login.html", wrong=bool(given)), 403  # type: ignore[return-value]
    session.clear()
    session["in"] = True
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect("/", code=303)


def csrf_field() -> Markup:
    """The hidden fields of every POST form: the session's CSRF token, and the page the
    form is on (where a refused change comes back to, with its message)."""
    if "csrf_field" not in g:  # the same for every form of the page: written once
        here = request.full_path if request.query_string else request.path
        g.csrf_field = Markup(
            '<input type="hidden" name="csrf_token" value="{}">'
            '<input type="hidden" name="next" value="{}">'
        ).format(session.get("csrf", ""), here)
    field: Markup = g.csrf_field
    return field


def add_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    return response
