"""Signing in to Google and keeping the token.

One of the modules (with `google_api`, `gmail`, `google_calendar`) that know Google's client
libraries. The token is kept as authorized-user JSON, mode 0600, rewritten
atomically after every refresh. Calls themselves go through `google_api`.

Scopes, the narrowest set that does the job:

* ``gmail.readonly`` -- search the mailbox by sender and recipient (``q`` is
  refused under ``gmail.metadata``) and read message headers and history.
* ``gmail.compose`` -- create the thank-you drafts, and send the weekly summary
  to the user alone (it covers ``messages.send``; ``gmail.send`` would not
  cover drafts).
* ``calendar.readonly`` -- read the user's calendars, where the interviews are;
  pursuit never writes to them.
* ``calendar.app.created`` -- create pursuit's own calendar and manage the
  events on it, and nothing else (``calendar.events`` would write everywhere).
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.parse
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import google_auth_httplib2  # type: ignore[import-untyped]
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials

from pursuit.daemon.errors import AuthError, SourceError
from pursuit.daemon.files import make_private_dirs, write_atomically

log = logging.getLogger(__name__)

_SCOPE = "https://www.googleapis.com/auth/"

#: Search by sender/recipient with ``q``, read headers and history.
GMAIL_READONLY = _SCOPE + "gmail.readonly"
#: Create drafts; send the weekly summary to the user.
GMAIL_COMPOSE = _SCOPE + "gmail.compose"
#: Find interviews on the user's calendars (read only).
CALENDAR_READONLY = _SCOPE + "calendar.readonly"
#: Create pursuit's own calendar and manage the events in it, nothing else.
CALENDAR_APP_CREATED = _SCOPE + "calendar.app.created"

GMAIL_SCOPES: tuple[str, ...] = (GMAIL_READONLY, GMAIL_COMPOSE)
CALENDAR_SCOPES: tuple[str, ...] = (CALENDAR_READONLY, CALENDAR_APP_CREATED)
SCOPES: tuple[str, ...] = GMAIL_SCOPES + CALENDAR_SCOPES

SOURCE = "google"
SIGN_IN = "run `pursuit auth google`"
NOT_SIGNED_IN = f"not signed in: {SIGN_IN}"
REVOKED = f"access was revoked or has expired; {SIGN_IN} to sign in again"

# --------------------------------------------------------------------- the token file


def load_credentials(credentials_file: Path, *, token_uri: str | None = None) -> Credentials:
    """The saved authorized-user credentials.

    google-auth ignores the file's ``token_uri`` (google-auth-library-python#1062),
    so it is applied here: ``token_uri`` if given, else the one in the file.
    """
    if not credentials_file.exists():
        raise AuthError(SOURCE, NOT_SIGNED_IN)
    try:
        info = json.loads(credentials_file.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        creds: Credentials = Credentials.from_authorized_user_info(info)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:
        raise AuthError(
            SOURCE, f"{credentials_file}: not a readable Google token ({exc}); {SIGN_IN}"
        ) from None
    uri = token_uri or info.get("token_uri")
    if uri:
        creds = creds.with_token_uri(uri)
    return creds


def save_credentials(credentials: Credentials, credentials_file: Path) -> None:
    """Write the token atomically, mode 0600, in a directory created 0700.

    An existing directory keeps its mode (it may be one the user chose).
    """
    make_private_dirs(credentials_file.parent)
    data = str(credentials.to_json()).encode("utf-8")  # type: ignore[no-untyped-call]
    write_atomically(credentials_file, data, mode=0o600)


class TokenKeeper(google_auth_httplib2.AuthorizedHttp):  # type: ignore[misc]
    """An authorized HTTP client that saves the token after every refresh.

    After each request (also those of a batch, and a failed one) it compares the
    access token with the last one saved and rewrites the file when it changed.
    Not thread-safe, like httplib2: one per thread.
    """

    def __init__(
        self,
        credentials: Credentials,
        credentials_file: Path | None,
        http: httplib2.Http,
    ) -> None:
        super().__init__(credentials, http=http)
        self.credentials_file = credentials_file
        self._saved_token: str | None = credentials.token

    def request(self, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        try:
            return super().request(uri, method, *args, **kwargs)
        finally:
            self.persist()

    def persist(self) -> None:
        """Save the credentials if the access token changed since the last save."""
        token = self.credentials.token
        if token == self._saved_token:
            return
        self._saved_token = token
        if self.credentials_file is None or not token:
            return
        try:
            save_credentials(self.credentials, self.credentials_file)
        except OSError as exc:  # the refresh token still works: not fatal
            log.warning(
                "could not save the refreshed Google token to %s: %s", self.credentials_file, exc
            )


def authorized_http(
    credentials: Credentials, credentials_file: Path | None, *, timeout: float = 60
) -> TokenKeeper:
    """An authorized HTTP client for one thread (httplib2 is not thread-safe)."""
    return TokenKeeper(credentials, credentials_file, httplib2.Http(timeout=timeout))


def auth_error(exc: RefreshError | TransportError) -> SourceError:
    """The error to raise for a failed token refresh; never includes a token."""
    first = str(exc.args[0]) if exc.args else type(exc).__name__
    if isinstance(exc, RefreshError) and "invalid_grant" in first:
        return AuthError(SOURCE, REVOKED)
    if isinstance(exc, TransportError) or getattr(exc, "retryable", False):
        return SourceError(SOURCE, f"token refresh failed: {first.split(':')[0]}")
    return AuthError(SOURCE, f"token refresh failed ({first.split(':')[0]}); {SIGN_IN}")


def refresh_or_raise(credentials: Credentials, credentials_file: Path | None = None) -> None:
    """Refresh the access token now and save it; AuthError with the fix when revoked."""
    request = google_auth_httplib2.Request(httplib2.Http(timeout=60))
    try:
        credentials.refresh(request)  # type: ignore[no-untyped-call]
    except (RefreshError, TransportError) as exc:
        raise auth_error(exc) from None
    if credentials_file is not None:
        save_credentials(credentials, credentials_file)


# ----------------------------------------------------------------------- consent flow


def run_consent_flow(
    client_secrets_file: Path,
    credentials_file: Path,
    *,
    port: int = 0,
    open_browser: bool = True,
    print_fn: Callable[[str], object] = print,
    scopes: Collection[str] = SCOPES,
) -> None:
    """The installed-app OAuth flow on a loopback port; saves the token.

    Listens on 127.0.0.1 only. Without a browser it prints the URL and the
    ``ssh -L`` command that makes the loopback port reachable from a laptop.
    """
    from google_auth_oauthlib.flow import InstalledAppFlow
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error  # type: ignore[import-untyped]

    if not client_secrets_file.exists():
        raise AuthError(
            SOURCE,
            f"client secrets file {client_secrets_file} not found: create an OAuth client "
            "of type 'Desktop app' in the Google Cloud console (APIs & Services > "
            "Credentials), download its JSON to that path, then run `pursuit auth google`",
        )
    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(client_secrets_file), list(scopes))
    except (OSError, ValueError) as exc:
        raise AuthError(
            SOURCE,
            f"{client_secrets_file}: not an OAuth client secrets file ({exc}); download "
            "the JSON of a 'Desktop app' OAuth client from the Google Cloud console",
        ) from None
    authorization_url = flow.authorization_url

    def announce(**kwargs: Any) -> Any:
        url, state = authorization_url(**kwargs)
        bound = urllib.parse.urlsplit(flow.redirect_uri).port
        if open_browser:
            print_fn(f"A browser window opens to sign in; if it does not, open:\n\n    {url}\n")
        else:
            print_fn(
                f"Open this address in a browser to sign in:\n\n    {url}\n\n"
                f"On a headless server, first run on the machine with the browser:\n\n"
                f"    ssh -L {bound}:localhost:{bound} {socket.gethostname()}\n\n"
                "Waiting for Google to send you back here..."
            )
        return url, state

    flow.authorization_url = announce
    try:
        credentials = flow.run_local_server(
            host="localhost",
            bind_addr="127.0.0.1",
            port=port,
            open_browser=open_browser,
            authorization_prompt_message="",
            access_type="offline",
            prompt="consent",
        )
    except (OSError, OAuth2Error) as exc:
        raise AuthError(SOURCE, f"sign-in failed: {exc}; run `pursuit auth google` again") from None
    save_credentials(credentials, credentials_file)
