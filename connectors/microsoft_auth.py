"""Signing in to Microsoft (Outlook.com, Microsoft 365) and keeping the tokens.

The only module that imports msal (about 120 ms): the account imports it inside the
methods that need a token, so `pursuit status` never pays for it.

* The sign-in is the device-code flow: a code and an address the user opens on any
  machine (over SSH, on a headless server). It asks for Graph's scopes, and with mail
  Graph's Mail.Send too (the summary goes out through Graph's sendMail: many
  Microsoft 365 tenants turn SMTP AUTH off); the token for Outlook's IMAP comes from
  the same refresh token, and only when the user never allowed that scope does a
  second device flow ask for it (one token serves one resource: AADSTS28000 when
  scopes of two are mixed).
* The token cache is msal's `SerializableTokenCache` in a file of its own, mode 0600
  in a 0700 folder, written whole (`daemon/files.py`) each time msal changed it:
  refresh tokens are replaced on every use, and the new one must be kept. Another
  process (the service and `pursuit auth microsoft`) may rewrite the file, so it is
  read again whenever it changed on disk.
* Every failure that only the user can mend is an `AuthError` whose one line names
  `pursuit auth microsoft`: not signed in, a sign-in unused for 90 days (AADSTS700082),
  consent withdrawn (AADSTS65001), a code declined or expired. A server that cannot
  be reached is `Unreachable`, tried again at the next round.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from pursuit.daemon.errors import AuthError, SourceError, Unreachable
from pursuit.daemon.files import make_private_dirs, write_atomically

log = logging.getLogger(__name__)

SOURCE = "microsoft"
SIGN_IN = "run `pursuit auth microsoft`"
GRAPH_SCOPES = (
    "https://graph.microsoft.com/Calendars.ReadWrite",
    "https://graph.microsoft.com/User.Read",
)
#: Sending the summary to the user (Graph's sendMail), asked only when mail is used.
MAIL_SEND_SCOPE = "https://graph.microsoft.com/Mail.Send"
#: Outlook's IMAP, the mailbox and its Drafts (a resource of its own: a token apart).
MAIL_SCOPES = ("https://outlook.office.com/IMAP.AccessAsUser.All",)
PUBLIC_LOGIN = "https://login.microsoftonline.com"

#: What the token endpoint answers when the user must act (AADSTS codes).
EXPIRED_BY_INACTIVITY = 700082
CONSENT_MISSING = 65001

_locks_lock = threading.Lock()
_locks: dict[str, threading.RLock] = {}


def _lock_for(path: Path) -> threading.RLock:
    """One lock per cache file in this process: a refresh and its save are one step."""
    with _locks_lock:
        return _locks.setdefault(os.path.abspath(path), threading.RLock())


def _first_line(description: object) -> str:
    """The first sentence of an Entra error description, without its trace ids."""
    text = str(description or "").replace("\r", " ").replace("\n", " ")
    text = text.split(" Trace ID:")[0].strip()
    return text[:300]


def _codes(result: dict[str, Any]) -> set[int]:
    codes = result.get("error_codes") or []
    found = {int(c) for c in codes if isinstance(c, int | str) and str(c).isdigit()}
    description = str(result.get("error_description") or "")
    found.update(int(code) for code in re.findall(r"AADSTS(\d+)", description))
    return found


#: What a new user's app registration or config gets wrong, and its fix (AADSTS codes).
REGISTRATION_FIXES = {
    700016: "Microsoft knows no app with this client_id there: check [microsoft] client_id "
    "(the Application (client) ID on the app registration's Overview page) and tenant",
    7000218: "the app registration does not allow the code sign-in: in its Authentication "
    'page, set "Allow public client flows" to Yes, then sign in again',
    50020: "this account cannot sign in with [microsoft] tenant as set: a personal account "
    'needs tenant = "consumers" or "common", a work one "organizations", "common" or its '
    "tenant, and the app registration must accept that kind of account",
    500200: 'the app registration accepts no personal account: make one that does ("Accounts '
    'in any organizational directory and personal Microsoft accounts")',
    50194: "the app registration accepts only its own organization: set tenant to it, or let "
    "the registration accept other organizations' accounts",
    53003: "your organization's access policies refused this sign-in: ask its administrator "
    "to allow the app",
}


def token_error(result: dict[str, Any], what: str) -> SourceError:
    """The error for an msal answer without a token: one line, never a token."""
    error = str(result.get("error") or "unknown_error")
    codes = _codes(result)
    detail = _first_line(result.get("error_description")) or error
    if EXPIRED_BY_INACTIVITY in codes:
        return AuthError(
            SOURCE,
            f"the Microsoft sign-in expired after 90 days without use; {SIGN_IN} to sign in again",
        )
    if CONSENT_MISSING in codes or result.get("suberror") == "consent_required":
        return AuthError(
            SOURCE, f"pursuit is not allowed to use {what} (consent_required); {SIGN_IN}"
        )
    for code, fix in REGISTRATION_FIXES.items():
        if code in codes:
            return AuthError(SOURCE, f"{fix} (AADSTS{code})")
    if error == "authorization_declined":
        return AuthError(SOURCE, f"the sign-in was declined; {SIGN_IN} to try again")
    if error == "expired_token":
        return AuthError(
            SOURCE, f"the code expired before the sign-in was completed; {SIGN_IN} again"
        )
    if error in ("temporarily_unavailable", "server_error"):
        return SourceError(SOURCE, f"the Microsoft sign-in service failed ({error}: {detail})")
    if error == "invalid_grant":
        return AuthError(
            SOURCE, f"the Microsoft sign-in is no longer valid ({detail}); {SIGN_IN} again"
        )
    return AuthError(SOURCE, f"the Microsoft sign-in failed ({error}: {detail}); {SIGN_IN}")


class MicrosoftSignIn:
    """One Microsoft account's sign-in and its token cache file."""

    def __init__(
        self,
        client_id: str,
        tenant: str,
        cache_file: Path,
        *,
        login_endpoint: str = PUBLIC_LOGIN,
        timeout: float = 60.0,
    ) -> None:
        self.client_id = client_id
        self.tenant = tenant
        self.cache_file = Path(cache_file)
        self.login_endpoint = login_endpoint.rstrip("/")
        self.timeout = timeout
        self.cache = msal.SerializableTokenCache()
        self._lock = _lock_for(self.cache_file)
        self._seen: tuple[int, int, int] | None = None  # the file as last read or written
        self._app: Any = None

    # ---------------------------------------------------------------- the cache file

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            found = self.cache_file.stat()
        except FileNotFoundError:
            return None
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def _load(self) -> None:
        """Read the cache file again when it changed on disk since it was last read."""
        now = self._stat()
        if now == self._seen:
            return
        if now is None:
            self.cache.deserialize("{}")
        else:
            try:
                text = self.cache_file.read_text(encoding="utf-8")
                json.loads(text)
                self.cache.deserialize(text)
            except (OSError, ValueError) as exc:
                raise AuthError(
                    SOURCE,
                    f"{self.cache_file}: not a readable Microsoft token cache "
                    f"({type(exc).__name__}); {SIGN_IN}",
                ) from None
        self._seen = now

    def _save(self) -> None:
        """Write the cache whole when msal changed it (a rotated refresh token)."""
        if not self.cache.has_state_changed:
            return
        try:
            make_private_dirs(self.cache_file.parent)
            write_atomically(self.cache_file, self.cache.serialize().encode("utf-8"), 0o600)
        except OSError as exc:  # the old refresh token may still work: not fatal now
            log.warning("could not save the Microsoft token cache to %s: %s", self.cache_file, exc)
            return
        self._seen = self._stat()

    # ---------------------------------------------------------------- msal

    @property
    def app(self) -> Any:
        if self._app is None:
            host = urlsplit(self.login_endpoint).hostname or ""
            public = host == urlsplit(PUBLIC_LOGIN).hostname
            self._app = self._calling(
                "reaching the Microsoft sign-in service",
                lambda: msal.PublicClientApplication(
                    self.client_id,
                    authority=f"{self.login_endpoint}/{self.tenant}",
                    token_cache=self.cache,
                    instance_discovery=None if public else False,
                    timeout=self.timeout,
                ),
            )
        return self._app

    def _calling(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except requests.RequestException as exc:
            raise Unreachable(SOURCE, f"{what}: no answer ({type(exc).__name__})") from None
        except ValueError as exc:  # msal: an authority it cannot read
            raise SourceError(SOURCE, f"{what}: {_first_line(exc)}") from None

    # ---------------------------------------------------------------- sign-in

    def sign_in(self, show: Callable[[str], None], *, mail: bool) -> str:
        """The device-code flow for Graph (`show` prints msal's message: the address and
        the code), with Mail.Send when `mail`; then, with `mail`, the IMAP token (a
        second flow only when the user never allowed it). Saves the cache; returns the
        account's username. Without `mail` nothing of the mail is asked for."""
        with self._lock:
            try:
                self._load()
            except AuthError:  # a damaged file: this sign-in writes it anew
                log.warning("%s: not a readable token cache; replaced", self.cache_file)
                self.cache.deserialize("{}")
                self._seen = self._stat()
        result = self._device_flow(GRAPH_SCOPES + ((MAIL_SEND_SCOPE,) if mail else ()), show)
        claims = result.get("id_token_claims") or {}
        home = self._home_account(result)
        with self._lock:
            for account in self.app.get_accounts():  # one account per cache: the new one
                if home and account.get("home_account_id") != home:
                    self.app.remove_account(account)
            self._save()
        if mail:
            try:
                self.mail_token()
            except AuthError:
                show("Now allow pursuit to read your mail and leave drafts in it:")
                self._device_flow(MAIL_SCOPES, show)
                self.mail_token()
        return str(claims.get("preferred_username") or self.username() or "")

    @staticmethod
    def _home_account(result: dict[str, Any]) -> str:
        info = result.get("client_info")
        claims = result.get("id_token_claims") or {}
        if isinstance(info, dict) and info.get("uid") and info.get("utid"):
            return f"{info['uid']}.{info['utid']}"
        oid, tid = claims.get("oid"), claims.get("tid")
        return f"{oid}.{tid}" if oid and tid else ""

    def _device_flow(self, scopes: Sequence[str], show: Callable[[str], None]) -> dict[str, Any]:
        flow = self._calling(
            "starting the sign-in", lambda: self.app.initiate_device_flow(scopes=list(scopes))
        )
        if "user_code" not in flow:
            raise token_error(flow, "your account")
        show(
            str(flow.get("message") or f"Open {flow.get('verification_uri')}: {flow['user_code']}")
        )
        result: dict[str, Any] = self._calling(
            "waiting for the sign-in", lambda: self.app.acquire_token_by_device_flow(flow)
        )
        with self._lock:
            self._save()
        if "access_token" not in result:
            raise token_error(result, "your account")
        return result

    # ---------------------------------------------------------------- tokens

    def graph_token(self, force_refresh: bool = False) -> str:
        """An access token for Graph, from the cache or its refresh token (no prompt)."""
        return self._token(GRAPH_SCOPES, "your calendar", force_refresh)

    def send_token(self, force_refresh: bool = False) -> str:
        """An access token for Graph that may also send mail to the user (sendMail), the
        same way; a sign-in made without mail is refused it (consent_required)."""
        return self._token(
            (*GRAPH_SCOPES, MAIL_SEND_SCOPE), "your mailbox to send you the summary", force_refresh
        )

    def mail_token(self, force_refresh: bool = False) -> str:
        """An access token for Outlook's IMAP (XOAUTH2), the same way."""
        return self._token(MAIL_SCOPES, "your mail", force_refresh)

    def _token(self, scopes: Sequence[str], what: str, force_refresh: bool) -> str:
        with self._lock:
            self._load()
            if not self._accounts():
                raise AuthError(SOURCE, f"not signed in to Microsoft: {SIGN_IN}")
            try:
                result = self._calling(
                    "renewing the Microsoft sign-in",
                    lambda: self.app.acquire_token_silent_with_error(
                        list(scopes), self.app.get_accounts()[0], force_refresh=force_refresh
                    ),
                )
            finally:
                self._save()
        if not result:
            raise AuthError(
                SOURCE, f"no Microsoft sign-in for {what} in {self.cache_file}; {SIGN_IN}"
            )
        if "access_token" in result:
            return str(result["access_token"])
        raise token_error(result, what)

    # ---------------------------------------------------------------- who

    def _accounts(self) -> list[dict[str, Any]]:
        found = self.cache.search(msal.TokenCache.CredentialType.ACCOUNT)
        return [dict(account) for account in found]

    def username(self) -> str | None:
        """The signed-in account's username, from the cache file (no network)."""
        with self._lock:
            try:
                self._load()
            except AuthError:
                return None
            accounts = self._accounts()
        return str(accounts[0].get("username") or "") or None if accounts else None
