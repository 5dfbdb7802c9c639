"""The correspondence log: mail from a mailbox into the store, once each.

The first sync searches only mail to or from tracked people and domains; later
syncs read the mailbox's changes since the saved cursor (one call when nothing
changed). An expired cursor means a full sync again, harmlessly: a message is
keyed by its Message-ID. The cursor is saved only after the messages it covers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pursuit.connectors.base import Mailbox, MailMessage
from pursuit.daemon.errors import CursorExpired, PursuitError, Stopped, StoreError
from pursuit.daemon.matcher import (
    HIRING_SYSTEMS,
    Directory,
    counterparts,
    domain_of,
    hiring_search_terms,
    match,
    normalize,
    verdict,
)
from pursuit.daemon.models import (
    Channel,
    Contact,
    Direction,
    Duty,
    DutyKind,
    DutyState,
    FirstSync,
    OrgStatus,
    WatchedSet,
)
from pursuit.daemon.store import Store

log = logging.getLogger(__name__)

#: The duties a sent mail can fulfil, in the order it fulfils them.
FULFILLED_BY_MAIL = (DutyKind.THANK_YOU, DutyKind.FOLLOW_UP)


def watched(store: Store) -> tuple[list[str], list[str]]:
    """The addresses and domains whose mail is logged."""
    addresses = sorted({a for c in store.contacts() for a in c.addresses})
    domains = sorted({d for o in store.organizations() for d in o.domains})
    return addresses, domains


def sync_mail(
    store: Store,
    mailbox: Mailbox,
    now: datetime,
    *,
    lookback: timedelta,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    account: str | None = None,
) -> int:
    """Bring the correspondence log up to date; returns the messages logged.

    `account` names where the store keeps what it learns of the account (the
    user's address, what was searched); the mailbox's name by default.

    A long first sync stores batch by batch and checks `should_stop` between
    batches: stopped, it raises `Stopped` without saving the cursor, so the next
    start resumes the first sync without fetching again the messages it stored.
    """
    account = account or mailbox.name
    cursor_name = mailbox.name
    addresses, domains = watched(store)
    cursor = store.cursor(cursor_name)
    me = store.account_address(account) or ""
    logged = 0
    if cursor is not None and me:
        # People and domains added since the last sync get their past mail.
        before = store.watched_set(account) or WatchedSet()
        new_domains = sorted(set(domains) - set(before.domains))
        covered = set(before.domains)  # their mail was already searched by domain
        new_addresses = sorted(
            a
            for a in set(addresses) - set(before.addresses)
            if not any(a.endswith("@" + d) or a.endswith("." + d) for d in covered)
        )
        if new_addresses or new_domains:
            # hiring-system mail naming an organization whose domains are new
            named = [
                term
                for o in store.organizations()
                if set(o.domains) & set(new_domains)
                for term in hiring_search_terms(o.name, o.domains)
            ]
            logged += _search(
                store,
                mailbox,
                me,
                new_addresses,
                new_domains,
                now,
                lookback,
                progress,
                named,
                should_stop,
            )
            store.set_watched_set(account, WatchedSet(tuple(addresses), tuple(domains)))
        try:
            changes = mailbox.changes(cursor)
        except CursorExpired as exc:
            log.warning("%s; resyncing from scratch", exc)
            cursor = None
        else:
            with store.transaction():
                logged += store_messages(store, changes.messages, me, now)
                store.save_cursor(cursor_name, changes.cursor, now=now)
                _folders_gone(store, account, changes.gone, now)
            return logged
    # The history id is taken before the search, so nothing between is missed. It is
    # saved first: an interrupted first sync resumes from it, without fetching again
    # the messages it stored (`known`), and the changes since it are read after.
    started = store.first_sync(account)
    if started is None:
        me, history_before = mailbox.profile()
        store.set_first_sync(account, FirstSync(me, history_before))
    else:
        me, history_before = started.address, started.cursor
        log.info("%s: resuming the interrupted first sync", mailbox.name)
    named = [t for o in store.organizations() for t in hiring_search_terms(o.name, o.domains)]
    logged += _search(
        store,
        mailbox,
        me,
        addresses,
        domains,
        now,
        lookback,
        progress,
        named,
        should_stop,
        resume=started is not None,
    )
    with store.transaction():
        store.set_account_address(account, me)
        store.save_cursor(cursor_name, history_before, now=now)
        store.set_first_sync(account, None)
        store.set_watched_set(account, WatchedSet(tuple(addresses), tuple(domains)))
        _folders_gone(store, account, (), now)  # the next changes name any still gone
    return logged


def _folders_gone(store: Store, account: str, gone: Sequence[str], now: datetime) -> None:
    """Hold a note of each folder the user named that is gone (for `doctor`), warned once;
    a folder back, or no longer named, is let go."""
    prefix = f"mail:{account}:"
    for held in store.emptied_sources():
        if held.source.startswith(prefix) and held.source[len(prefix) :] not in gone:
            store.release_emptied(held.source, now=now)
    for folder in gone:
        if store.hold_emptied(prefix + folder, 0, now=now).since == now:
            log.warning(
                "%s: the folder %r is gone (renamed or deleted?): its mail is not read until "
                "the config names it again (see `pursuit doctor`)",
                account,
                folder,
            )


def _search(
    store: Store,
    mailbox: Mailbox,
    me: str,
    addresses: Sequence[str],
    domains: Sequence[str],
    now: datetime,
    lookback: timedelta,
    progress: Callable[[int, int], None] | None,
    organizations: Sequence[str] = (),
    should_stop: Callable[[], bool] = lambda: False,
    *,
    resume: bool = False,
) -> int:
    if not addresses and not domains:
        return 0
    logged = 0
    # One directory for the whole search: store_messages adds the newcomers to it.
    directory = Directory.from_store(store, [me])
    flagged: dict[int, datetime] = {}  # the newest verdict flags, whatever the order
    senders: dict[str, set[str]] = {}  # of each Message-ID logged, whatever the order
    # Only a resumed search passes `known`, so a mailbox without it still works.
    resumed = {"known": store.logged_source_ids()} if resume else {}
    for batch in mailbox.search(
        addresses=addresses,
        domains=domains,
        since=now - lookback,
        progress=progress,
        organizations=organizations,  # with the hiring systems that write for them
        hiring_systems=sorted(HIRING_SYSTEMS),
        **resumed,
    ):
        with store.transaction():
            logged += store_messages(
                store, batch, me, now, directory=directory, flagged=flagged, senders=senders
            )
        if should_stop():
            raise Stopped
    return logged


#: The most messages `pursuit audit` reads from the mailbox (5 quota units each on Gmail).
AUDIT_LIMIT = 5000


@dataclass(frozen=True)
class MailAudit:
    """The mailbox against the log: what the mailbox holds with tracked people and
    domains over the look-back, and which of those the log lacks."""

    read: int  # messages the mailbox's search gave (at most the limit)
    expected: int  # of them, those that concern someone tracked: the log should hold each
    missing: tuple[MailMessage, ...]
    complete: bool  # False when the limit stopped the reading


def audit_mail(
    store: Store,
    mailbox: Mailbox,
    now: datetime,
    *,
    lookback: timedelta,
    account: str | None = None,
    limit: int = AUDIT_LIMIT,
) -> MailAudit:
    """Compare the mailbox with the log by Message-ID and sender, read-only: the same
    search as a first sync (tracked addresses, domains, hiring systems naming a tracked
    organization) over the look-back, each message judged by the matcher as a sync
    judges it. One sync engine in this field lost 41% of incoming mail unnoticed until
    someone compared like this."""
    account = account or mailbox.name
    addresses, domains = watched(store)
    me = store.account_address(account) or mailbox.profile()[0]
    directory = Directory.from_store(store, [me])
    named = [t for o in store.organizations() for t in hiring_search_terms(o.name, o.domains)]
    read = expected = 0
    missing: list[MailMessage] = []
    complete = True
    if addresses or domains:
        for batch in mailbox.search(
            addresses=addresses,
            domains=domains,
            since=now - lookback,
            organizations=named,
            hiring_systems=sorted(HIRING_SYSTEMS),
        ):
            for message in batch:
                if read >= limit:
                    complete = False  # and the rest of the mailbox is not fetched
                    break
                read += 1
                if match(message, directory) is None:
                    continue  # a sync would not log it either
                expected += 1
                sender = message.sender.email if message.sender else None
                if not store.is_logged(message.message_id, sender):
                    missing.append(message)
            if not complete:
                break
    return MailAudit(read, expected, tuple(missing), complete)


def store_messages(
    store: Store,
    messages: Iterable[MailMessage],
    me: str,
    now: datetime,
    *,
    directory: Directory | None = None,
    flagged: dict[int, datetime] | None = None,
    senders: dict[str, set[str]] | None = None,
) -> int:
    """Log each matching message once; flag rejections and offers.

    `directory` is the caller's, kept across batches; new contacts are added to it.
    `flagged` (the caller's too) holds the date of the message that flagged each
    organization in this sync: the newest verdict names it, in whatever order the
    mailbox gives the messages (Gmail's search newest first, IMAP's oldest first).
    `senders` (the caller's too) holds the senders of each Message-ID logged in this
    sync: a stranger's copy of a real message's Message-ID read in the same sync is
    named after the real one whichever comes first (`Store.settle_message_id`).
    """
    directory = directory or Directory.from_store(store, [me])
    flagged = {} if flagged is None else flagged
    senders = {} if senders is None else senders
    logged = 0
    for message in messages:
        newcomers: list[Contact] = []
        try:
            # A savepoint each: a message that fails leaves nothing half-stored.
            with store.transaction():
                fresh = _store_message(store, message, directory, newcomers, flagged)
                if fresh and message.sender is not None:
                    _settle(store, message.message_id, message.sender.email, senders)
                logged += fresh
        except StoreError:
            raise  # a full disk is no bad message: the job stops, nothing is skipped
        except Exception as exc:  # one stranger's mail must never stop the log
            skip_item(store, "mail", describe_message(message), exc, now)
            continue
        for contact in newcomers:  # known to the next messages once stored for good
            directory.add_contact(contact)
    return logged


def _settle(store: Store, message_id: str, sender: str, senders: dict[str, set[str]]) -> None:
    this_sync = senders.setdefault(message_id, set())
    this_sync.add(sender.casefold())
    if len(this_sync) > 1:  # a Message-ID reused: its names must not depend on the order
        store.settle_message_id(message_id, this_sync)


#: Mail to more people than this is mass mail: it never creates contacts.
MAX_RECIPIENTS = 20


def describe_message(message: MailMessage) -> str:
    """A message as a warning names it: its id, sender and date, never its body."""
    sender = message.sender.email if message.sender else "unknown sender"
    return f"message {message.source_id} {message.message_id[:200]!r} from {sender[:200]}"


def skip_item(store: Store, source: str, item: str, error: BaseException, now: datetime) -> None:
    """Skip one item a job cannot handle: one warning naming it, counted for `doctor`."""
    reason = printable(f"{type(error).__name__}: {error}")
    item = printable(item)
    log.warning("%s: skipped %s: %s", source, item, reason, exc_info=log.isEnabledFor(10))
    try:
        store.record_skipped(source, item, reason, now=now)
    except PursuitError as exc:  # the count is a nicety; the warning was given
        log.debug("cannot count the skipped item: %s", exc)


def printable(text: str) -> str:
    """Text from outside, fit for a log line or a terminal: control characters out."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _store_message(
    store: Store,
    message: MailMessage,
    directory: Directory,
    newcomers: list[Contact],
    flagged: dict[int, datetime],
) -> int:
    """Log one message if it concerns someone tracked; 1 when newly logged.

    The contacts it creates are appended to `newcomers`."""
    found = match(message, directory)
    if found is None:
        return 0  # mail that concerns nobody tracked is not stored at all
    mass = len(message.to) + len(message.cc) > MAX_RECIPIENTS
    contact_ids = list(found.contact_ids)
    if found.new_contacts and found.organization_id is not None and not mass:
        for person in found.new_contacts:
            # each newcomer belongs to their own domain's organization
            own = directory.organization_for_domain(domain_of(person.email))
            contact = store.ensure_contact(person.email, person.name, own or found.organization_id)
            contact_ids.append(contact.id)
            newcomers.append(contact)
    if not mass:
        # a contact first met nameless (a calendar invitation) takes the name mail gives
        for person in counterparts(message, directory):
            known = directory.contacts.get(normalize(person.email))
            if person.name and known is not None and not store.contact(known[0]).name:
                store.rename_contact(known[0], person.name)
    fresh = store.log_correspondence(
        message_id=message.message_id,
        direction=found.direction,
        when=message.date,
        channel=Channel.EMAIL,
        organization_id=found.organization_id,
        contact_ids=contact_ids,
        subject=message.subject,
        thread=message.thread,
        # the people of mass mail: the known ones, and a bounded few others
        people=found.people[:MAX_RECIPIENTS] if mass else found.people,
        source_id=message.source_id,
        sender=message.sender.email if message.sender else None,
    )
    if not fresh:
        return 0
    if not message.outgoing and found.organization_id is not None:
        _flag(store, message, found.organization_id, flagged)  # reads the text, keeps none
    return 1


def fulfil_from_log(store: Store) -> list[Duty]:
    """Mark done each pending duty that a logged sent mail fulfils.

    Run after planning, so the order in which mail and interviews arrive does
    not matter. A message fulfils at most one duty per person, once.
    """
    pending = store.duties(state=DutyState.PENDING, kinds=FULFILLED_BY_MAIL, after_interview=True)
    if not pending:
        return []
    used = store.evidence_messages()
    starts = _interview_starts(store, pending)
    since = min(starts.values())
    open_duties = _PendingDuties(pending, starts)
    done: list[Duty] = []
    for sent in store.correspondence(since=since, newest_first=False):
        if (
            sent.direction != Direction.OUT
            or sent.channel != Channel.EMAIL
            or sent.message_id in used
        ):
            continue
        done += fulfil_duties(
            store,
            sent.date,
            sent.subject,
            sent.message_id,
            list(sent.contact_ids),
            sent.organization_id,
            pending=open_duties,
        )
        if not open_duties.by_id:
            break
    return done


def _interview_starts(store: Store, duties: list[Duty]) -> dict[int | None, datetime]:
    """When each duty's interview started, each interview read once."""
    ids = {d.interview_id for d in duties}
    return {i: store.interview(i or 0).start for i in ids}


class _PendingDuties:
    """The pending duties a run over the log may fulfil, read once (not once per
    message), found by person and by organization, each gone once done."""

    def __init__(self, duties: list[Duty], starts: dict[int | None, datetime]) -> None:
        self.by_id = {d.id: d for d in duties}
        self.starts = starts
        self.organizations: dict[int, tuple[int, ...]] = {}
        self._by_contact: dict[int | None, dict[int, Duty]] = {}
        self._by_organization: dict[int, dict[int, Duty]] = {}
        for d in duties:
            self._by_contact.setdefault(d.contact_id, {})[d.id] = d
            self._by_organization.setdefault(d.organization_id, {})[d.id] = d

    def of_contacts(self, contact_ids: Iterable[int]) -> list[Duty]:
        return [d for c in contact_ids for d in self._by_contact.get(c, {}).values()]

    def of_organization(self, org_id: int) -> list[Duty]:
        return list(self._by_organization.get(org_id, {}).values())

    def done(self, duty: Duty) -> None:
        del self.by_id[duty.id]
        del self._by_contact[duty.contact_id][duty.id]
        del self._by_organization[duty.organization_id][duty.id]


def fulfil_duties(
    store: Store,
    sent: datetime,
    subject: str,
    message_id: str,
    contact_ids: list[int],
    org_id: int | None,
    *,
    pending: _PendingDuties | None = None,
) -> list[Duty]:
    """A sent mail after an interview fulfils each addressee's next pending duty.

    Each person's thank-you comes first, then the follow-up. Mail to someone
    else at the organization counts for everyone there when no interviewer
    was addressed directly. Mail about one of a person's organizations fulfils
    none of their duties at another: a recruiter at two has a thank-you at each.
    """
    if pending is None:
        duties = store.duties(
            state=DutyState.PENDING, kinds=FULFILLED_BY_MAIL, after_interview=True
        )
        pending = _PendingDuties(duties, _interview_starts(store, duties))
    theirs = {}
    for c in contact_ids:
        if c not in pending.organizations:
            pending.organizations[c] = store.contact(c).organization_ids
        theirs[c] = pending.organizations[c]
    addressed = [
        d
        for d in pending.of_contacts(theirs)
        if d.organization_id == org_id or org_id not in theirs[d.contact_id or 0]
    ]
    if not addressed and org_id is not None:
        addressed = pending.of_organization(org_id)
    done: list[Duty] = []
    handled: set[int | None] = set()
    order = {kind: rank for rank, kind in enumerate(FULFILLED_BY_MAIL)}
    for duty in sorted(addressed, key=lambda d: (order[d.kind], d.due, d.id)):
        if duty.contact_id in handled:
            continue
        if sent < pending.starts[duty.interview_id]:
            continue
        evidence = f'sent "{subject}" on {sent:%Y-%m-%d %H:%M %Z}'.strip()
        if store.mark_done(duty.id, when=sent, evidence=evidence, message_id=message_id):
            done.append(duty)
            handled.add(duty.contact_id)
            pending.done(duty)
    return done


def _flag(store: Store, message: MailMessage, org_id: int, flagged: dict[int, datetime]) -> None:
    said = verdict(message)
    if said is None:
        return
    org = store.organization(org_id)
    if org.status != OrgStatus.ACTIVE:
        return
    if flagged.setdefault(org_id, message.date) > message.date:
        return  # a newer message of this sync had its say
    flagged[org_id] = message.date
    status = OrgStatus.REJECTED if said == "rejection" else OrgStatus.OFFER
    store.set_organization_flag(
        org_id,
        f'possible {said}: "{message.subject}" ({message.date:%d %b}); '
        f'confirm with `pursuit org status "{org.name}" {status}`',
    )
