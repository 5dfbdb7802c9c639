"""Any IMAP mailbox as pursuit's mailbox: the correspondence log reads it, drafts go to it.

Folders read: INBOX, the Sent folder (SPECIAL-USE ``\\Sent``, else a usual name
in one of several languages) and any folder the config names. Mail in the Sent
folder is `outgoing`.

First sync: per folder, one ``UID SEARCH SINCE <lookback> (OR FROM x OR TO x
...)`` for the tracked addresses and domains, one more for hiring-system mail
naming a tracked organization (``FROM greenhouse.io ... SUBJECT "Acme" ...``),
then headers only (plus the first 2 KB of the text, for the snippet rejection
detection reads) of what they found.
After that: the cursor (an opaque JSON string) holds per folder its
UIDVALIDITY, the last UID seen and the HIGHESTMODSEQ (CONDSTORE) where offered;
a folder with nothing new costs one EXAMINE. A changed UIDVALIDITY (or a new
folder to read) raises `CursorExpired`: the core searches again, and its records
are keyed by Message-ID, so nothing is doubled.

Facts respected (ENGINEERING.md): imapclient 4.1 rejects ``N:*`` in fetch, so
UIDs come from SEARCH; ``UID N:*`` returns the last message even when N is above
it, so only ``uid > last`` is kept; IDLE is re-issued well before 29 minutes and
guarded by a socket timeout.

One instance per thread; `wait_for_mail` uses a connection of its own.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import logging
import re
import ssl
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from typing import Any, Literal, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imapclient import DRAFTS, SENT

from pursuit.connectors.base import HEADERS_READ, KEY_HEADER, MailChanges, MailMessage
from pursuit.connectors.headers import decoded, message_from_headers, text_excerpt, text_part
from pursuit.connectors.secrets import is_loopback
from pursuit.daemon.addresses import ascii_address, ascii_domain
from pursuit.daemon.errors import (
    AuthError,
    ConfigError,
    CursorExpired,
    ItemError,
    PursuitError,
    SourceError,
    Unreachable,
)

log = logging.getLogger(__name__)

SOURCE = "imap"
Security = Literal["ssl", "starttls", "none"]
Auth = Literal["password", "oauth2"]

#: Headers fetched for each message: what the core reads, nothing else.
# The body's encoding too: the snippet rejection detection reads is decoded with it.
HEADER_FIELDS = (*HEADERS_READ, "Content-Type", "Content-Transfer-Encoding")
_HEADERS_ITEM = f"BODY.PEEK[HEADER.FIELDS ({' '.join(h.upper() for h in HEADER_FIELDS)})]"
#: How much of the body is fetched for the start of its text (`headers.TEXT_CHARS`):
#: enough to get past the MIME headers and an HTML head of styles to the words.
TEXT_BYTES = 16384
_TEXT_ITEM = f"BODY.PEEK[TEXT]<0.{TEXT_BYTES}>"

#: The Sent and Drafts folders' usual names, when the server names no special use.
SENT_NAMES = (
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "Gesendet",
    "Gesendete Objekte",
    "Gesendete Elemente",
    "Envoyés",
    "Éléments envoyés",
    "Messages envoyés",
    "Enviados",
    "Elementos enviados",
    "Inviati",
    "Posta inviata",
    "Verzonden",
    "Verzonden items",
    "Skickat",
    "Sendt",
    "Wysłane",
)
DRAFT_NAMES = ("Drafts", "Entwürfe", "Brouillons", "Borradores", "Bozze", "Concepten", "Rascunhos")

BATCH = 200  # UIDs per FETCH
SEARCH_TERMS = 40  # addresses and domains per SEARCH (each is three keys: FROM, TO, CC)
IDLE_RENEW = 10 * 60.0  # seconds; RFC 2177 allows 29 minutes, imapclient suggests 10

T = TypeVar("T")


@dataclass
class _Folder:
    """Where one folder stood: its UIDVALIDITY, the last UID seen, HIGHESTMODSEQ."""

    uidvalidity: int
    last_uid: int
    modseq: int | None

    def dump(self) -> dict[str, int | None]:
        return {"uidvalidity": self.uidvalidity, "uid": self.last_uid, "modseq": self.modseq}


class ImapMailbox:
    """The user's IMAP mailbox (see the module docstring).

    `password` is called at each login: it returns the password, or with
    ``auth="oauth2"`` an access token (XOAUTH2). `address` is the user's own
    address, the username when omitted. `ssl_context` replaces the system's
    trust store (a private CA).
    """

    name = "imap"
    #: An APPEND is saved once its message has arrived whole, before it is answered,
    #: and dropped when the connection ends before that: once the process that sent
    #: it is gone, it has landed or never will, as soon as the server has read what
    #: the dead connection still delivers.
    in_doubt = timedelta(minutes=1)

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Security = "ssl",
        username: str,
        password: Callable[[], str],
        auth: Auth = "password",
        address: str | None = None,
        folders: Sequence[str] = (),
        timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("ssl", "starttls", "none"):
            raise ConfigError(f"imap security {security!r}: use ssl, starttls or none")
        if security == "none" and not is_loopback(host):
            raise ConfigError(
                f"imap: security = none sends the password in the clear; it is allowed only "
                f"for a server on this machine, not {host} (use ssl or starttls)"
            )
        if auth not in ("password", "oauth2"):
            raise ConfigError(f"imap auth {auth!r}: use password or oauth2")
        self.host = host
        self.port = port or (993 if security == "ssl" else 143)
        self.security = security
        self.username = username
        self.password = password
        self.auth = auth
        self.address = (address or username).lower()
        self.extra_folders = tuple(folders)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._client: IMAPClient | None = None
        self._idle_client: IMAPClient | None = None
        #: INBOX's UIDNEXT as the last wait for mail left it (see wait_for_mail).
        self._waited_uidnext: Any = None
        self._folders: list[tuple[str, bool]] | None = None  # (name, outgoing)
        self._drafts_folder: str | None = None
        self._selected: str | None = None  # the folder the connection has open

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------------ connection

    def _connect(self) -> IMAPClient:
        context = self.ssl_context or ssl.create_default_context()
        what = "connect"
        try:
            client = IMAPClient(
                self.host,
                self.port,
                ssl=self.security == "ssl",
                ssl_context=context,
                timeout=self.timeout,
            )
            try:
                if self.security == "starttls":
                    what = "STARTTLS"
                    client.starttls(context)
                what = "login"
                secret = self.password()
                if self.auth == "oauth2":
                    client.oauth2_login(self.username, secret)
                else:
                    client.login(self.username, secret)
                if client.has_capability("CONDSTORE"):
                    client.enable("CONDSTORE")  # so EXAMINE answers HIGHESTMODSEQ
            except BaseException:
                with contextlib.suppress(Exception):
                    client.shutdown()
                raise
        except LoginError as exc:
            raise AuthError(
                SOURCE, f"{self.server}: login refused for {self.username} ({_text(exc)})"
            ) from None
        except ssl.SSLError as exc:
            raise SourceError(SOURCE, f"{self.server}: TLS failed ({exc})") from None
        except (OSError, IMAPClientError) as exc:
            if what == "STARTTLS":
                raise SourceError(SOURCE, f"{self.server}: STARTTLS failed ({exc})") from None
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _text(exc)
            if what == "connect":
                raise Unreachable(SOURCE, f"{self.server}: cannot connect ({reason})") from None
            raise SourceError(SOURCE, f"{self.server}: cannot {what} ({reason})") from None
        return client

    def _run(self, operation: Callable[[IMAPClient], T]) -> T:
        """Run `operation` on the connection, opening it if needed.

        A connection kept from an earlier call may have been dropped by the
        server meanwhile: then the operation runs once more on a new one (every
        operation here is a read, or looks before it writes). Any other failure
        is a SourceError naming the server.
        """
        for attempt in (1, 2):
            reused = self._client is not None
            if self._client is None:
                self._client = self._connect()
            try:
                return operation(self._client)
            except PursuitError:
                raise
            except (IMAPClientAbortError, OSError) as exc:
                self._drop()
                if reused and attempt == 1:
                    log.info("imap: %s: connection lost (%s); reconnecting", self.server, exc)
                    continue
                raise SourceError(
                    SOURCE, f"{self.server}: connection lost ({_text(exc)}); will resume"
                ) from None
            except IMAPClientError as exc:
                self._drop()
                raise SourceError(SOURCE, f"{self.server}: {_text(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._folders = None
        self._selected = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()

    def close(self) -> None:
        """Log out of both connections (a no-op when none is open)."""
        for client in (self._client, self._idle_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.logout()
        self._client = self._idle_client = None

    # ------------------------------------------------------------------ folders

    def _read_folders(self, client: IMAPClient) -> list[tuple[str, bool]]:
        """(folder, outgoing) for INBOX, Sent and the configured folders that exist."""
        if self._folders is None:
            listing = client.list_folders()
            names = [str(name) for _, _, name in listing]
            found: list[tuple[str, bool]] = [("INBOX", False)]
            sent = _special(listing, SENT, SENT_NAMES)
            if sent is None:
                log.warning("imap: %s has no Sent folder: sent mail is not read", self.server)
            else:
                found.append((sent, True))
            for folder in self.extra_folders:
                if folder not in names:
                    log.warning("imap: %s: no folder named %r; skipped", self.server, folder)
                elif all(folder != f for f, _ in found):
                    found.append((folder, False))
            self._folders = found
        return self._folders

    def _examine(self, client: IMAPClient, folder: str) -> dict[bytes, Any] | None:
        """The folder's EXAMINE answer; None (logged) when it was deleted meanwhile."""
        self._selected = None
        try:
            info: dict[bytes, Any] = client.select_folder(folder, readonly=True)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            log.warning(
                "imap: %s: folder %r cannot be read (%s); skipped", self.server, folder, _text(exc)
            )
            self._folders = None
            return None
        self._selected = folder
        return self._with_uidvalidity(folder, info)

    def _with_uidvalidity(self, folder: str, info: dict[bytes, Any]) -> dict[bytes, Any]:
        """The SELECT/EXAMINE answer, which must carry UIDVALIDITY (RFC 3501 6.3.1): without
        it a UID names no message for sure, so the mail is not read (one line, no crash)."""
        try:
            int(info[b"UIDVALIDITY"])
        except (KeyError, TypeError, ValueError):
            raise Unreachable(  # as unusable to the drafts as to the mail: one line says it
                SOURCE,
                f"{self.server}: the server gave no UIDVALIDITY for {folder!r} (RFC 3501 requires "
                "it; without it pursuit cannot tell its messages apart from one sync to the next): "
                "ask its operator, or use another server",
            ) from None
        return info

    @staticmethod
    def _state(info: dict[bytes, Any]) -> _Folder:
        modseq = info.get(b"HIGHESTMODSEQ")
        return _Folder(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            last_uid=int(info.get(b"UIDNEXT", 1)) - 1,
            modseq=int(modseq) if modseq is not None else None,
        )

    def _account(self) -> str:
        return f"{self.username}@{self.server}"

    # ------------------------------------------------------------------ reading

    def profile(self) -> tuple[str, str]:
        """(the user's address, a cursor: every folder's UIDVALIDITY and last UID now)."""

        def run(client: IMAPClient) -> str:
            folders: dict[str, dict[str, int | None]] = {}
            for folder, _ in self._read_folders(client):
                info = self._examine(client, folder)
                if info is None:
                    continue
                state = self._state(info)
                if b"UIDNEXT" not in info:  # rare: ask for the last UID itself
                    uids = client.search(["ALL"])
                    state.last_uid = max(uids, default=0)
                folders[folder] = state.dump()
            return json.dumps({"account": self._account(), "folders": folders})

        return self.address, self._run(run)

    def search(
        self,
        *,
        addresses: Sequence[str],
        domains: Sequence[str],
        since: datetime,
        progress: Callable[[int, int], None] | None = None,
        known: Collection[str] = (),  # a hint only: the core stores each message once
        organizations: Sequence[str] = (),
        hiring_systems: Sequence[str] = (),
    ) -> Iterator[list[MailMessage]]:
        """Messages since `since` from, to or cc'd to the addresses and domains (or
        their subdomains), and mail from the `hiring_systems` (or their subdomains)
        naming one of the `organizations` in its subject or sender name, once each,
        in batches of up to 200. Both are searched for on the server: nothing
        else is fetched."""
        # SEARCH takes ASCII: an internationalised domain in its punycode form
        wanted = sorted({ascii_address(a) for a in addresses if a.strip()})
        zones = sorted({_ascii_zone(d) for d in domains if d.strip()})
        terms = [*wanted, *zones]
        systems = sorted({s.strip().lower().lstrip("@") for s in hiring_systems if s.strip()})
        hiring = _hiring_criteria(systems, organizations, since)
        if not terms and not hiring:
            if progress is not None:
                progress(0, 0)
            return

        def find(client: IMAPClient) -> list[tuple[str, bool, int, list[int]]]:
            found = []
            for folder, outgoing in self._read_folders(client):
                info = self._examine(client, folder)
                if info is None:
                    continue
                uids: set[int] = set()
                for start in range(0, len(terms), SEARCH_TERMS):
                    criteria = _criteria(terms[start : start + SEARCH_TERMS], since)
                    uids.update(int(u) for u in client.search(criteria))
                for criteria, charset in [] if outgoing else hiring:  # the user sends none
                    try:
                        uids.update(int(u) for u in client.search(criteria, charset=charset))
                    except IMAPClientAbortError:
                        raise
                    except IMAPClientError as exc:  # e.g. [BADCHARSET]: the rest still syncs
                        problem = _text(exc)
                        log.warning("imap: %s: hiring mail not searched (%s)", self.server, problem)
                found.append((folder, outgoing, int(info[b"UIDVALIDITY"]), sorted(uids)))
            return found

        plan = self._run(find)
        total = sum(len(uids) for *_, uids in plan)
        done = 0
        seen: set[tuple[str, str | None]] = set()
        if progress is not None:
            progress(0, total)
        for folder, outgoing, uidvalidity, uids in plan:
            for start in range(0, len(uids), BATCH):
                chunk = uids[start : start + BATCH]
                messages = self._run(
                    functools.partial(
                        self._fetch,
                        folder=folder,
                        uidvalidity=uidvalidity,
                        uids=chunk,
                        outgoing=outgoing,
                    )
                )
                batch = []
                for m in messages:
                    if _identity(m) in seen or m.date < since:
                        continue
                    if not _concerns(m, wanted, zones) and not _from_any(m, systems):
                        continue  # a look-alike address found by IMAP's substring match
                    seen.add(_identity(m))
                    batch.append(m)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
                yield batch

    def changes(self, cursor: str) -> MailChanges:
        """Messages added to the folders since `cursor`, and the cursor to save after them."""
        try:
            saved = json.loads(cursor)
            account = saved["account"]
            before = {name: _Folder(**_fields(v)) for name, v in saved["folders"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CursorExpired(SOURCE, f"{self.server}: unreadable cursor; resyncing") from None
        if account != self._account():
            raise CursorExpired(SOURCE, f"{self.server}: cursor of another account; resyncing")

        def run(client: IMAPClient) -> MailChanges:
            messages: list[MailMessage] = []
            seen: set[tuple[str, str | None]] = set()
            after = dict(before)
            folders = self._read_folders(client)
            read = {folder for folder, _ in folders}
            gone = [f for f in self.extra_folders if f not in read]
            for folder, outgoing in folders:
                old = before.get(folder)
                if old is None:
                    raise CursorExpired(SOURCE, f"{self.server}: new folder {folder!r}; resyncing")
                info = self._examine(client, folder)
                if info is None:
                    gone.append(folder)
                    continue  # deleted: its state is kept, a new one will resync
                now = self._state(info)
                if now.uidvalidity != old.uidvalidity:
                    raise CursorExpired(
                        SOURCE, f"{self.server}: {folder} has a new UIDVALIDITY; resyncing"
                    )
                quiet = (now.modseq is not None and now.modseq == old.modseq) or (
                    b"UIDNEXT" in info and now.last_uid <= old.last_uid
                )
                last = old.last_uid
                if not quiet:
                    # `UID n:*` answers the last message even when n is past it
                    uids = sorted(
                        u
                        for u in (int(x) for x in client.search(["UID", f"{last + 1}:*"]))
                        if u > last
                    )
                    for start in range(0, len(uids), BATCH):
                        chunk = uids[start : start + BATCH]
                        for m in self._fetch(client, folder, now.uidvalidity, chunk, outgoing):
                            if _identity(m) not in seen:
                                seen.add(_identity(m))
                                messages.append(m)
                    last = max([last, *uids])
                after[folder] = _Folder(now.uidvalidity, last, now.modseq)
            state = {name: f.dump() for name, f in after.items()}
            cursor = json.dumps({"account": account, "folders": state})
            return MailChanges(tuple(messages), cursor, gone=tuple(dict.fromkeys(gone)))

        return self._run(run)

    def _fetch(
        self, client: IMAPClient, folder: str, uidvalidity: int, uids: list[int], outgoing: bool
    ) -> list[MailMessage]:
        """Headers and the text's start of these messages, parsed; unusable ones skipped."""
        if not uids:
            return []
        if self._selected != folder:
            info = self._examine(client, folder)
            if info is None:
                return []
            if int(info[b"UIDVALIDITY"]) != uidvalidity:
                raise SourceError(
                    SOURCE, f"{self.server}: {folder} changed its UIDVALIDITY during the sync"
                )
        found = client.fetch(uids, [_HEADERS_ITEM, _TEXT_ITEM, "INTERNALDATE"])
        out = []
        for uid in uids:
            data = found.get(uid)
            if data is None:
                continue  # expunged meanwhile
            try:
                out.append(parse(data, f"{folder}/{uidvalidity}/{uid}", outgoing))
            except ItemError as exc:
                log.warning("%s", exc)
        return out

    # ------------------------------------------------------------------ waiting

    def wait_for_mail(self, timeout: float) -> bool:
        """Wait on INBOX up to `timeout` seconds; True as soon as mail arrives.

        IDLE where the server offers it (re-issued every 10 minutes, each wait
        guarded by a socket timeout); else a plain wait, then a look at UIDNEXT.
        A connection dropped while waiting returns True (a sync will tell what
        happened); one that cannot be opened raises SourceError.

        Mail that came since the previous call ended (while the caller did
        something else) makes this one return True at once, so a caller may wait
        in short steps; `wait_for_mail(0)` before reading the mailbox marks where
        the next wait starts from.
        """
        deadline = time.monotonic() + timeout
        try:
            if self._idle_client is None:
                self._idle_client = self._connect()
            client = self._idle_client
            info = client.select_folder("INBOX", readonly=True)
            before, self._waited_uidnext = self._waited_uidnext, info.get(b"UIDNEXT")
            if before is not None and info.get(b"UIDNEXT") != before:
                return True
            if not client.has_capability("IDLE"):
                time.sleep(max(0.0, deadline - time.monotonic()))
                after = client.select_folder("INBOX", readonly=True)
                self._waited_uidnext = after.get(b"UIDNEXT")
                return bool(after.get(b"UIDNEXT") != info.get(b"UIDNEXT"))
            count = int(info.get(b"EXISTS", 0))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                client.idle()
                arrived = False
                renew = time.monotonic() + min(left, IDLE_RENEW)
                while not arrived and (wait := renew - time.monotonic()) > 0:
                    responses = client.idle_check(timeout=min(wait, 30.0))
                    arrived = any(_arrived(r, count) for r in responses)
                # DONE ends this IDLE; its answer may carry the news too
                if any(_arrived(r, count) for r in client.idle_done()[1]) or arrived:
                    # what came, the caller reads now: the next wait starts after it
                    after = client.select_folder("INBOX", readonly=True)
                    self._waited_uidnext = after.get(b"UIDNEXT")
                    return True
        except PursuitError:
            raise
        except (IMAPClientError, OSError) as exc:
            log.info("imap: %s: waiting for mail stopped (%s)", self.server, exc)
            self._waited_uidnext = None
            idle, self._idle_client = self._idle_client, None
            if idle is not None:
                with contextlib.suppress(Exception):
                    idle.shutdown()
            return True

    # ------------------------------------------------------------------ drafts

    def _drafts(self, client: IMAPClient) -> str:
        if self._drafts_folder is None:
            folder = _special(client.list_folders(), DRAFTS, DRAFT_NAMES)
            if folder is None:
                folder = "Drafts"
                log.info("imap: %s has no Drafts folder; creating one", self.server)
                client.create_folder(folder)
            self._drafts_folder = folder
        return self._drafts_folder

    def _find_keyed(self, client: IMAPClient, folder: str, key: str) -> str | None:
        """`folder/uidvalidity/uid` of a message carrying ``X-Pursuit-Key: key`` exactly."""
        info = self._examine(client, folder)
        if info is None:
            return None
        uids = self._keyed_uids(client, key)
        return f"{folder}/{int(info[b'UIDVALIDITY'])}/{uids[0]}" if uids else None

    @staticmethod
    def _keyed_uids(client: IMAPClient, key: str, *criteria: str) -> list[int]:
        """The UIDs, oldest first, of the open folder's messages carrying the key exactly."""
        # HEADER is a substring match: checked below
        uids = client.search([*criteria, "HEADER", KEY_HEADER, key])
        if not uids:
            return []
        item = f"BODY.PEEK[HEADER.FIELDS ({KEY_HEADER.upper()})]"
        return [
            uid
            for uid, data in sorted(client.fetch(uids, [item]).items())
            if str(BytesHeaderParser().parsebytes(_body(data)).get(KEY_HEADER, "")).strip() == key
        ]

    def find_draft(self, key: str) -> str | None:
        return self._run(lambda client: self._find_keyed(client, self._drafts(client), key))

    def create_draft(self, raw: bytes, key: str) -> str:
        """Append the draft to the Drafts folder unless one with this key is there.

        A draft answering a message (``In-Reply-To``) gets the ``References``
        chain of that message when the mailbox holds it, so mail clients show
        it in the thread.
        """
        headers = BytesHeaderParser().parsebytes(raw)
        if str(headers.get(KEY_HEADER, "")).strip() != key:
            raise ValueError(f"the draft must carry {KEY_HEADER}: {key}")

        def run(client: IMAPClient) -> str:
            folder = self._drafts(client)
            existing = self._find_keyed(client, folder, key)
            if existing is not None:
                return existing
            message = self._threaded(client, raw)
            answer = client.append(folder, message, flags=[b"\\Draft", b"\\Seen"])
            appended = re.search(rb"APPENDUID (\d+) (\d+)", bytes(answer or b""))
            if appended:
                return f"{folder}/{int(appended[1])}/{int(appended[2])}"
            found = self._find_keyed(client, folder, key)
            if found is None:
                raise SourceError(SOURCE, f"{self.server}: the draft was not saved in {folder}")
            return found

        return self._run(run)

    def read_draft(self, key: str) -> bytes | None:
        """The draft carrying this key as the Drafts folder holds it now, or None (a
        mail client saves an edited draft as a new message, often without the key)."""

        def run(client: IMAPClient) -> bytes | None:
            folder = self._drafts(client)
            if self._examine(client, folder) is None:
                return None
            uids = self._keyed_uids(client, key, "UNDELETED")
            if not uids:
                return None
            data = client.fetch(uids[:1], ["BODY.PEEK[]"])
            return _body(data[uids[0]]) if uids[0] in data else None

        return self._run(run)

    def replace_draft(self, key: str, raw: bytes) -> str | None:
        """Append `raw` to the Drafts folder, then delete the draft(s) it replaces
        (UID EXPUNGE where the server has UIDPLUS, else flagged \\Deleted for the
        mail client to expunge). A repeat after a crash between the two finds both
        and keeps one. None, and nothing appended, when no draft carries the key."""
        headers = BytesHeaderParser().parsebytes(raw)
        if str(headers.get(KEY_HEADER, "")).strip() != key:
            raise ValueError(f"the draft must carry {KEY_HEADER}: {key}")

        def run(client: IMAPClient) -> str | None:
            folder = self._drafts(client)
            message = self._threaded(client, raw)
            if self._examine(client, folder) is None:
                return None
            old = self._keyed_uids(client, key, "UNDELETED")
            if not old:
                return None
            answer = client.append(folder, message, flags=[b"\\Draft", b"\\Seen"])
            self._selected = None
            info = self._with_uidvalidity(folder, client.select_folder(folder))  # to delete
            self._selected = folder
            appended = re.search(rb"APPENDUID (\d+) (\d+)", bytes(answer or b""))
            keyed = [int(appended[2])] if appended else self._keyed_uids(client, key, "UNDELETED")
            client.delete_messages(old)
            if client.has_capability("UIDPLUS"):
                client.expunge(old)
            return f"{folder}/{int(info[b'UIDVALIDITY'])}/{max(keyed)}"

        return self._run(run)

    def draft_keys(self) -> dict[str, int]:
        """How many drafts in the Drafts folder carry each key (not deleted)."""

        def run(client: IMAPClient) -> dict[str, int]:
            if self._examine(client, self._drafts(client)) is None:
                return {}
            uids = client.search(["UNDELETED", "HEADER", KEY_HEADER, ""])  # "": has the header
            item = f"BODY.PEEK[HEADER.FIELDS ({KEY_HEADER.upper()})]"
            counts: dict[str, int] = {}
            for data in client.fetch(uids, [item]).values() if uids else []:
                key = str(BytesHeaderParser().parsebytes(_body(data)).get(KEY_HEADER, "")).strip()
                if key:
                    counts[key] = counts.get(key, 0) + 1
            return counts

        return self._run(run)

    def drafts_with_key(self, key: str) -> list[tuple[str, bytes]]:
        """Every draft carrying this key (not deleted), oldest first, as
        `folder/uidvalidity/uid` and the message."""

        def run(client: IMAPClient) -> list[tuple[str, bytes]]:
            folder = self._drafts(client)
            info = self._examine(client, folder)
            if info is None:
                return []
            uids = self._keyed_uids(client, key, "UNDELETED")
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            validity = int(info[b"UIDVALIDITY"])
            return [(f"{folder}/{validity}/{uid}", _body(data[uid])) for uid in uids if uid in data]

        return self._run(run)

    def delete_draft(self, draft_id: str) -> None:
        """Delete the draft (UID EXPUNGE where the server has UIDPLUS, else flagged
        \\Deleted); nothing when the folder was renewed since it was named."""
        folder, validity, uid = draft_id.rsplit("/", 2)

        def run(client: IMAPClient) -> None:
            self._selected = None
            info = client.select_folder(folder)  # read-write, to delete
            self._selected = folder
            if int(info[b"UIDVALIDITY"]) != int(validity):
                return
            client.delete_messages([int(uid)])
            if client.has_capability("UIDPLUS"):
                client.expunge([int(uid)])

        self._run(run)

    def _threaded(self, client: IMAPClient, raw: bytes) -> bytes:
        """`raw` with a References header when it answers a message and has none."""
        headers = BytesHeaderParser().parsebytes(raw)
        parent = str(headers.get("In-Reply-To", "")).strip()
        if not parent or headers.get("References"):
            return raw
        chain = ""
        for folder, _ in self._read_folders(client):
            if self._examine(client, folder) is None:
                continue
            uids = client.search(["HEADER", "Message-ID", parent])
            if uids:
                item = "BODY.PEEK[HEADER.FIELDS (REFERENCES)]"
                data = next(iter(client.fetch(uids[:1], [item]).values()))
                chain = " ".join(
                    str(BytesHeaderParser().parsebytes(_body(data)).get("References", "")).split()
                )
                break
        references = f"{chain} {parent}".strip()
        return f"References: {references}\r\n".encode() + raw

    def find_sent(self, key: str, message_id: str) -> str | None:
        """The Message-ID of a message with this Message-ID carrying this key in INBOX
        or Sent, if any: what `SmtpSender` sent to the user arrives in their INBOX. The
        Message-ID is the sending install's, so another install's is never found."""
        wanted = message_id.strip()

        def run(client: IMAPClient) -> str | None:
            for folder, _ in self._read_folders(client):
                if self._examine(client, folder) is None:
                    continue
                for uid in self._keyed_uids(client, key, "HEADER", "Message-ID", wanted):
                    data = client.fetch([uid], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])[uid]
                    value = BytesHeaderParser().parsebytes(_body(data)).get("Message-ID")
                    if value is not None and str(value).strip() == wanted:
                        return wanted
            return None

        return self._run(run)


# ------------------------------------------------------------------------- helpers


def _text(exc: BaseException) -> str:
    value = exc.args[0] if exc.args else exc
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    text = str(value)
    quoted = re.fullmatch(r"b(['\"])(.*)\1", text)  # imapclient's str() of a bytes answer
    if not quoted:
        return text
    try:  # the server's own words (SourceError cleans them), not their escaped repr
        return bytes(ast.literal_eval(text)).decode("utf-8", "replace")
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return quoted[2]


def _fields(value: Any) -> dict[str, Any]:
    modseq = value.get("modseq")
    return {
        "uidvalidity": int(value["uidvalidity"]),
        "last_uid": int(value["uid"]),
        "modseq": None if modseq is None else int(modseq),
    }


def _special(
    listing: Iterable[tuple[tuple[bytes, ...], bytes, str]], flag: bytes, names: Sequence[str]
) -> str | None:
    """The folder with this SPECIAL-USE flag, else the first with a usual name
    (as a whole name, or the last level under any parent such as ``INBOX.``)."""
    folders = list(listing)
    for flags, _, name in folders:
        if flag in flags:
            return str(name)
    wanted = [n.casefold() for n in names]
    best: tuple[int, str] | None = None
    for _, delimiter, name in folders:
        leaf = str(name)
        if delimiter:
            leaf = leaf.rsplit(delimiter.decode(), 1)[-1]
        if leaf.casefold() in wanted:
            rank = wanted.index(leaf.casefold())
            if best is None or rank < best[0]:
                best = (rank, str(name))
    return best[1] if best else None


def _criteria(terms: Sequence[str], since: datetime) -> list[Any]:
    """``SINCE d OR FROM t OR TO t OR CC t ...`` for these addresses and domains.

    IMAP matches FROM/TO/CC as substrings, so a domain also finds its
    subdomains (and a few look-alikes, which the caller drops).
    """
    keys: list[list[str]] = [[field, term] for term in terms for field in ("FROM", "TO", "CC")]
    tree: list[Any] = []
    for key in keys[:-1]:
        tree += ["OR", *key]
    tree += keys[-1]
    return ["SINCE", since.astimezone(UTC).date(), *tree]


def _ascii_zone(domain: str) -> str:
    """A domain as SEARCH and headers carry it: münchen.de -> xn--mnchen-3ya.de."""
    cleaned = domain.strip().lower().lstrip("@")
    try:
        return ascii_domain(cleaned)
    except ValueError:
        return cleaned


def _hiring_criteria(
    systems: Sequence[str], organizations: Sequence[str], since: datetime
) -> list[tuple[list[Any], str | None]]:
    """(criteria, charset) of the searches for hiring-system mail naming an organization:
    ``SINCE d OR FROM sys1 FROM sys2 ... OR SUBJECT "Acme" OR FROM "Acme" ...``.

    A hiring system writes from its own domain on an organization's behalf;
    only the subject or the sender's name ("Acme Hiring Team") says whose it
    is, and that is what the matcher files it by, so the body is not searched.
    A non-ASCII name is sent as a UTF-8 literal with ``CHARSET UTF-8``.
    """
    names = list(dict.fromkeys(" ".join(o.split()) for o in organizations if o.strip()))
    if not systems or not names:
        return []
    from_system = _any([["FROM", s] for s in systems])
    out: list[tuple[list[Any], str | None]] = []
    for start in range(0, len(names), SEARCH_TERMS):
        chunk = names[start : start + SEARCH_TERMS]
        named = _any([[field, name] for name in chunk for field in ("SUBJECT", "FROM")])
        charset = None if all(name.isascii() for name in chunk) else "UTF-8"
        out.append((["SINCE", since.astimezone(UTC).date(), *from_system, *named], charset))
    return out


def _any(keys: Sequence[list[str]]) -> list[str]:
    """``OR k1 OR k2 ... kn``: any of these search keys, flat (prefix notation)."""
    tree: list[str] = []
    for key in keys[:-1]:
        tree += ["OR", *key]
    return tree + keys[-1]


def _from_any(message: MailMessage, domains: Sequence[str]) -> bool:
    domain = message.sender.email.rpartition("@")[2] if message.sender else ""
    return bool(domain) and any(domain == d or domain.endswith("." + d) for d in domains)


def _identity(message: MailMessage) -> tuple[str, str | None]:
    """One message however many folders hold it: its Message-ID and its sender. A
    stranger's mail borrowing a real message's Message-ID is another message, handed
    over beside it (the store files both), never in its place."""
    return message.message_id, message.sender.email if message.sender else None


def _concerns(message: MailMessage, addresses: Sequence[str], domains: Sequence[str]) -> bool:
    """Whether the message is from, to or cc'd to one of the addresses or domains (their
    ASCII forms: a message may carry either form)."""
    for who in (*([message.sender] if message.sender else []), *message.to, *message.cc):
        email = ascii_address(who.email)
        domain = email.rpartition("@")[2]
        if email in addresses or any(domain == d or domain.endswith("." + d) for d in domains):
            return True
    return False


def _arrived(response: Any, count: int) -> bool:
    return (
        isinstance(response, tuple)
        and len(response) >= 2
        and response[1] == b"EXISTS"
        and isinstance(response[0], int)
        and response[0] > count
    )


def _body(data: dict[bytes, Any]) -> bytes:
    """The first BODY[...] item of a FETCH answer."""
    for name, value in data.items():
        if name.startswith(b"BODY[") and value is not None:
            return bytes(value)
    return b""


def _snippet(head: Message, text: bytes) -> str:
    """The start of the message's text (`headers.text_excerpt`), read from its first
    text part as Gmail's is (`headers.text_part`); the part may be cut short, only the
    first `TEXT_BYTES` of the body being fetched."""
    content_type = head.get("Content-Type", "text/plain")
    encoding = head.get("Content-Transfer-Encoding", "7bit")
    partial = BytesParser().parsebytes(
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n".encode()
        + text
    )
    parts = [p for p in partial.walk() if not p.is_multipart()]
    chosen = text_part(
        [(p.get_content_type(), p.get_content_disposition() == "attachment") for p in parts]
    )
    if chosen is None:
        return ""
    part = parts[chosen]
    payload = part.get_payload()
    if not isinstance(payload, str):
        return ""
    if part.get("Content-Transfer-Encoding", "").strip().lower() == "base64":
        payload = re.sub(r"[^A-Za-z0-9+/=]", "", payload)
        payload = payload[: len(payload) // 4 * 4]  # cut short with the fetch
        part.set_payload(payload)
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return text_excerpt(
        data, part.get_content_charset(), is_html=part.get_content_type() == "text/html"
    )


def parse(data: dict[bytes, Any], source_id: str, outgoing: bool) -> MailMessage:
    """A MailMessage from one FETCH answer (header fields, text start, INTERNALDATE),
    read by the one header reader every mailbox shares (`connectors.headers`)."""
    try:
        raw_headers = b""
        text = b""
        for name, value in data.items():
            if name.startswith(b"BODY[HEADER"):
                raw_headers = bytes(value or b"")
            elif name.startswith(b"BODY[TEXT]"):
                text = bytes(value or b"")
        head = BytesHeaderParser().parsebytes(raw_headers)
        values: dict[str, list[str]] = {}
        for field, value in head.items():
            values.setdefault(field.lower(), []).append(str(value))
        try:
            snippet = _snippet(head, text)
        except Exception:  # a snippet is a nicety: odd MIME gives none
            snippet = ""
        internal = data.get(b"INTERNALDATE")
        return message_from_headers(
            values,
            source_id=source_id,
            outgoing=outgoing,
            received=internal if isinstance(internal, datetime) else None,
            decode=decoded,
            snippet=snippet,
        )
    except Exception as exc:  # whatever a stranger's message holds, it is skipped alone
        raise ItemError(
            f"imap: message {source_id} skipped: cannot parse it ({type(exc).__name__}: {exc})"
        ) from None
