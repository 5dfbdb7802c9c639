"""Thank-you drafts: one per interviewer of a finished interview, never sent.

A draft is addressed to someone else, so it holds none of the user's notes: those
are private. What the user wants a thank-you to mention is a line they give for it
(`pursuit note CONTACT --thank-you "..."`), placed in the draft as they wrote it,
on a line of its own; without one, the draft holds a placeholder for it.

A draft is a side effect, so it goes through the outbox with a key derived
from its duty, and the draft itself carries a key in an `X-Pursuit-Key` header:
`draft:{install id}:{duty key}` (`outbox.draft_key`). A repeat after a crash finds
the draft instead of writing a second, and the install's id keeps another install
on the same mailbox (or this user's database made anew) from taking it for its
own: an install reads, changes and removes only drafts carrying its own id. A
draft written before keys carried the install keeps the key it was written with:
the store's `drafts` table holds what was written, so the upgraded install still
knows it as its own, and no other does. An install from before install ids (whose
install id stays empty, keeping its event ids) makes an id for its drafts.

A create sent when pursuit died may still land afterwards (Google holds a request
for a while before carrying it out): its key is noted before it is sent, and a
restart that does not find the draft waits out the mailbox's `in_doubt` (Google's
10 minutes, IMAP's one) before writing it again.
Should a second copy land anyway, the next look over the mailbox keeps one of the
copies that read as pursuit wrote them and removes the rest; one the user edited
is theirs and stays.

The mailbox's draft and `pursuit draft` agree: each round renders every pending
thank-you again, and a version that reads differently (a new line for it, a
renamed person, the day now "yesterday") replaces the draft in the mailbox, as
long as the draft there is still what pursuit last wrote. A draft the user edited
(its text differs) or deleted (or sent) is left alone from then on, for good.
"""

from __future__ import annotations

import email
import email.policy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

import jinja2
import jinja2.meta

from pursuit.config.settings import DraftSettings
from pursuit.connectors.base import KEY_HEADER, DraftBox
from pursuit.daemon import outbox
from pursuit.daemon.addresses import first_name, mail_policy, mailbox
from pursuit.daemon.errors import PursuitError, UserError
from pursuit.daemon.models import (
    DraftRecord,
    Duty,
    DutyKind,
    DutyState,
    Interview,
    OutboxEntry,
)
from pursuit.daemon.store import INSTALL_ID, Store, from_db, to_db

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = Path(__file__).with_name("templates") / "thank-you.txt"
TARGET = outbox.DRAFTS
TEMPLATE_VARIABLES = (
    "first_name",
    "name",
    "organization",
    "position",
    "personal_line",
    "day",
    "your_name",
)
#: Why a mailbox draft is left alone (`DraftRecord.left_alone`).
EDITED = "edited"
DELETED = "deleted"
#: The store's cursor holding the id the drafts of an install from before install ids
#: carry (its install id stays empty, so that its event ids stay what they were).
DRAFTS_ID = "drafts install id"
#: The store's cursor noting a create begun, not yet seen to land (`{BEGUN}{key}`).
BEGUN = "draft create begun:"
#: How often the drafts in the mailbox are looked over when nothing is queued for it
#: (another install's named, copies of this install's cut to one); every round for as
#: long after a create whose outcome was not known, when a late copy may turn up.
LOOK_EVERY = timedelta(days=1)
#: The store's cursors: when the mailbox was last looked over; when a create was last
#: made again after one whose outcome was not known.
LOOKED = "drafts looked over"
DOUBTED = "draft create doubted"


def load_template(path: Path | None) -> jinja2.Template:
    source = path or DEFAULT_TEMPLATE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"thank-you template {source}: cannot read it ({exc})") from None
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        template = env.from_string(text)
        used = jinja2.meta.find_undeclared_variables(env.parse(text))
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"thank-you template {source}, line {exc.lineno}: {exc.message}") from None
    if "note" in used:
        raise UserError(
            f"thank-you template {source}: `note` is no longer given to templates: your "
            "notes are private and never go into a draft. Write {{ personal_line }} where "
            'the line you give with `pursuit note CONTACT --thank-you "..."` goes'
        )
    try:  # a misspelt variable is found now, not at each round's drafts
        template.render({name: "x" for name in TEMPLATE_VARIABLES})
    except jinja2.TemplateError as exc:
        raise UserError(f"thank-you template {source}: {exc}") from None
    return template


def spoken_day(start: datetime, now: datetime) -> str:
    """The interview's day as the note says it, seen from `now` in the user's zone:
    "today", "yesterday", "on Monday" within the week, else "on 23 November"."""
    day = start.astimezone(now.tzinfo).date()
    ago = (now.date() - day).days
    if ago == 0:
        return "today"
    if ago == 1:
        return "yesterday"
    if -6 <= ago <= 6:
        return f"on {day:%A}"
    return f"on {day.day} {day:%B}" + (f" {day.year}" if day.year != now.year else "")


def render_draft(
    template: jinja2.Template,
    *,
    key: str,
    to_name: str,
    to_address: str,
    from_address: str,
    your_name: str,
    organization: str,
    position: str | None,
    personal_line: str | None,
    interview_start: datetime,
    now: datetime,
) -> bytes:
    """The draft as an RFC 5322 message; the template's first line may be `Subject: ...`."""
    text = template.render(
        first_name=first_name(to_name, to_address),
        name=to_name,
        organization=organization,
        position=position,
        personal_line=personal_line,
        day=spoken_day(interview_start, now),
        your_name=your_name,
    )
    subject = f"Thank you – {organization}"
    if text.startswith("Subject:"):
        first, _, text = text.partition("\n")
        subject = first.removeprefix("Subject:").strip()
        text = text.lstrip("\n")
    message = EmailMessage(policy=mail_policy(to_address, from_address))
    if from_address:
        message["From"] = mailbox(your_name, from_address)
    message["To"] = mailbox(to_name, to_address)  # one recipient, whatever the name
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="pursuit.invalid")
    message["X-Pursuit-Key"] = key
    message.set_content(text)
    return message.as_bytes()


def content(raw: bytes) -> tuple[str, str, str]:
    """What a draft says (its recipients, subject and text), whatever a mailbox did
    to its headers, encoding and line ends: what tells a draft the user edited."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    to = ", ".join(
        f"{' '.join(name.split())} <{address.lower()}>"
        for name, address in getaddresses([str(v) for v in message.get_all("To") or []])
    )
    subject = " ".join(str(message.get("Subject") or "").split())
    body = message.get_body(("plain",)) if isinstance(message, EmailMessage) else None
    text = str(body.get_content()) if isinstance(body, EmailMessage) else ""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return to, subject, "\n".join(lines).strip("\n")


def same_text(one: bytes, other: bytes) -> bool:
    return content(one) == content(other)


@dataclass(frozen=True)
class Draft:
    """One thank-you's draft as pursuit would write it now."""

    raw: bytes
    to: str  # the address
    personal_line: str | None  # the user's line for it, None: the placeholder
    key: str  # the key it carries in the mailbox (`mailbox_key`)


def carried_key(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return str(message.get(KEY_HEADER) or "").strip()


def drafts_id(store: Store) -> str:
    """The install id this install's drafts carry: the install's own; for an install
    from before install ids, one made for its drafts (`ensure_drafts_id`)."""
    return store.install_id() or store.cursor(DRAFTS_ID) or ""


def ensure_drafts_id(store: Store, now: datetime) -> None:
    """Make the drafts' own id of an install from before install ids, once: two such
    installs on one mailbox would otherwise share `draft:{duty key}` keys."""
    if store.cursor(INSTALL_ID) == "" and store.cursor(DRAFTS_ID) is None:
        store.save_cursor(DRAFTS_ID, uuid.uuid4().hex, now=now)


def mailbox_key(store: Store, duty: Duty) -> str:
    """The key the duty's draft carries in the mailbox: the one pursuit wrote it with
    (a draft written before keys carried the install keeps its own), else this
    install's (`outbox.draft_key`)."""
    record = store.draft_record(duty.id)
    if record is not None and record.written is not None and carried_key(record.written):
        return carried_key(record.written)
    return outbox.draft_key(duty.key, drafts_id(store))


def draft_for(
    store: Store,
    duty: Duty,
    interview: Interview,
    template: jinja2.Template,
    now: datetime,
    *,
    from_address: str,
    your_name: str,
) -> Draft:
    """The thank-you draft of one duty, to the interviewer it names."""
    person = next(p for p in interview.interviewers if p.contact.id == duty.contact_id)
    key = mailbox_key(store, duty)
    raw = render_draft(
        template,
        key=key,
        to_name=person.contact.name,
        to_address=person.contact.address,
        from_address=from_address,
        your_name=your_name,
        organization=store.organization(duty.organization_id).name,
        position=interview.position,
        personal_line=person.thank_you,
        interview_start=interview.start,
        now=now,
    )
    return Draft(raw, person.contact.address, person.thank_you, key)


def queue_drafts(
    store: Store,
    template: jinja2.Template,
    now: datetime,
    *,
    from_address: str,
    your_name: str,
) -> int:
    """Queue a draft for each pending thank-you whose interview is over, and a new
    version of one whose text changed since it was queued (unless the user's
    mailbox draft is left alone). Returns how many were queued."""
    queued = 0
    ensure_drafts_id(store, now)
    interviews = {i.id: i for i in store.interviews(include_cancelled=False)}
    for duty in store.duties(state=DutyState.PENDING, kinds=(DutyKind.THANK_YOU,)):
        interview = interviews.get(duty.interview_id or -1)
        if interview is None or interview.end > now or duty.contact_id is None:
            continue
        draft = draft_for(
            store, duty, interview, template, now, from_address=from_address, your_name=your_name
        )
        raw = draft.raw
        record = store.draft_record(duty.id)
        if record is not None and (record.left_alone or same_text(record.queued, raw)):
            continue
        version = 0 if record is None else record.version + 1
        with store.transaction():
            queued += outbox.queue_draft(
                store, duty.key, duty.id, version, raw, carries=draft.key, now=now
            )
            store.record_draft_queued(duty.id, version, raw, now=now)
    return queued


def draft_of_duty(
    store: Store,
    duty_id: int,
    template: jinja2.Template,
    now: datetime,
    *,
    from_address: str,
    your_name: str,
) -> Draft:
    """The thank-you draft of a pending duty, for `pursuit draft` (no account needed)."""
    duty = store.duty(duty_id)
    if duty.kind != DutyKind.THANK_YOU:
        raise UserError(
            f"duty #{duty_id} is a {duty.kind.replace('_', '-')}, not a thank-you: "
            "pursuit drafts only thank-you notes"
        )
    if duty.state != DutyState.PENDING:
        raise UserError(f"duty #{duty_id} is {duty.state}: there is nothing left to draft")
    interviews = store.interviews(interview_id=duty.interview_id) if duty.interview_id else []
    if not interviews or duty.contact_id is None:
        raise UserError(f"duty #{duty_id} has no interview and interviewer to thank")
    return draft_for(
        store, duty, interviews[0], template, now, from_address=from_address, your_name=your_name
    )


def shown_draft(
    store: Store, settings: DraftSettings, duty_id: int, now: datetime, *, from_address: str
) -> tuple[Draft, EmailMessage]:
    """The thank-you of a duty as `pursuit draft` and the dashboard show it: the draft
    pursuit leaves in the mailbox, and that message read back."""
    found = draft_of_duty(
        store,
        duty_id,
        load_template(settings.template),
        now,
        from_address=from_address,
        your_name=settings.your_name,
    )
    message = email.message_from_bytes(found.raw, _class=EmailMessage, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return found, message


def in_the_mailbox(store: Store, duty_id: int, raw: bytes) -> str | None:
    """What the mailbox's draft of this thank-you is, next to `raw` (None: no draft)."""
    record = store.draft_record(duty_id)
    if record is None:
        return None
    if record.left_alone == EDITED:
        return (
            "The draft in your mailbox was edited there: pursuit leaves it as you wrote it "
            "(above is pursuit's version)."
        )
    if record.left_alone == DELETED:
        return (
            "The draft pursuit left in your mailbox is gone from there (sent, deleted, or "
            "saved anew by your mail client): pursuit leaves it to you and does not write "
            "it again."
        )
    if record.written is not None and same_text(record.written, raw):
        return "The draft in your mailbox says the same."
    if record.written is None:
        return "pursuit leaves this draft in your mailbox at its next round."
    return (
        "The draft in your mailbox gets this version at the next round, "
        "unless you edit it there first."
    )


def push_drafts(store: Store, box: DraftBox, now: datetime, *, account: str = "") -> int:
    """Write the queued drafts; each recorded only after the mailbox holds it.

    Of several versions queued for one thank-you only the newest is written. A
    version replaces the mailbox's draft only while that draft still reads as what
    pursuit last wrote there; one the user edited or deleted is left alone for good.
    A create in doubt (sent when pursuit stopped, not found since) holds its entry
    until the box's `in_doubt` has passed. The mailbox (`account`, for the log and
    `doctor`) is looked over first (`look_over`) when anything is queued for it, a
    create was in doubt lately, or `LOOK_EVERY` has passed: a quiet round costs nothing.
    """
    ensure_drafts_id(store, now)
    pending = store.pending_outbox(TARGET)
    if pending or not _lately(store, LOOKED, now) or _lately(store, DOUBTED, now):
        look_over(store, box, account, now)
        store.save_cursor(LOOKED, to_db(now), now=now)

    def holds(entry: OutboxEntry) -> bool:
        _, key, _ = prepared(store, entry)
        until = doubt_ends(store, key, box.in_doubt, now)
        if until is None or box.find_draft(key) is not None:
            return False
        begun = until - box.in_doubt
        log.warning(
            "thank-you draft %s: the create sent at %s UTC before pursuit stopped may still "
            "land; looking for it again after %s UTC",
            key,
            f"{begun:%H:%M}",
            f"{until:%H:%M}",
        )
        return True

    def create(key: str, raw: bytes) -> None:
        if store.cursor(BEGUN + key) is not None:  # an earlier create's outcome unknown
            store.save_cursor(DOUBTED, to_db(now), now=now)  # a late copy may turn up
        store.save_cursor(BEGUN + key, to_db(now), now=now)  # before the call: see holds
        try:
            draft_id = box.create_draft(raw, key)
        except PursuitError:
            store.save_cursor(BEGUN + key, None, now=now)  # answered: the connector looked
            raise
        store.save_cursor(BEGUN + key, None, now=now)
        log.info("thank-you draft %s ready (%s)", draft_id, key)

    def perform(entry: OutboxEntry) -> None:
        record, key, raw = prepared(store, entry)
        if record is None:
            create(key, raw)
            return
        if record.left_alone:
            return
        current = box.read_draft(key)
        if current is not None:
            store.save_cursor(BEGUN + key, None, now=now)  # a create in doubt landed
        if current is not None and same_text(current, raw):
            pass  # written already, by a try whose record was lost
        elif record.written is None:
            if current is not None:  # not what pursuit queued: not pursuit's to change
                store.record_draft_left_alone(record.duty_id, EDITED, now=now)
                return
            create(key, raw)
        elif current is None or not same_text(current, record.written):
            why = DELETED if current is None else EDITED
            log.info("thank-you draft %s was %s in the mailbox: left alone", key, why)
            store.record_draft_left_alone(record.duty_id, why, now=now)
            return
        elif box.replace_draft(key, raw) is None:
            store.record_draft_left_alone(record.duty_id, DELETED, now=now)
            return
        else:
            log.info("thank-you draft %s brought up to date", key)
        store.record_draft_written(record.duty_id, raw, now=now)

    def subject(entry: OutboxEntry) -> str:  # the versions of one thank-you's draft
        duty_id = entry.payload.get("duty")
        return (
            f"duty {duty_id}"
            if duty_id is not None
            else str(entry.payload.get("draft") or entry.key)
        )

    return outbox.deliver(store, TARGET, perform, now, subject=subject, holds=holds)


def _lately(store: Store, cursor: str, now: datetime) -> bool:
    """True when the store's `cursor` holds a moment within `LOOK_EVERY` before `now`."""
    at = store.cursor(cursor)
    return at is not None and from_db(at) <= now < from_db(at) + LOOK_EVERY


def prepared(store: Store, entry: OutboxEntry) -> tuple[DraftRecord | None, str, bytes]:
    """A queued draft's record, and the key and message it is written with."""
    raw = outbox.decode_draft(entry.payload)
    key = str(entry.payload.get("draft") or entry.key)
    duty_id = entry.payload.get("duty")
    duty = store.duty_by_key(key.removeprefix("draft:")) if duty_id is None else None
    if duty_id is None and duty is not None:  # queued by an older pursuit
        duty_id = duty.id
    record = None if duty_id is None else store.draft_record(int(duty_id))
    if record is not None and record.written is None:
        # never written yet: it carries this install's key, whoever queued it
        own = outbox.draft_key(store.duty(record.duty_id).key, drafts_id(store))
        if own != key:
            raw, key = rekeyed(raw, own), own
    return record, key, raw


def doubt_ends(store: Store, key: str, in_doubt: timedelta, now: datetime) -> datetime | None:
    """When a create of the draft carrying `key` that was begun and never seen to land
    stops being in doubt; None when none is (or its window is over)."""
    begun = store.cursor(BEGUN + key)
    if begun is None:
        return None
    until = from_db(begun) + in_doubt
    return until if from_db(begun) <= now < until else None


def next_look(store: Store, in_doubt: timedelta, now: datetime) -> datetime | None:
    """When the drafts job should run again to look for a create in doubt."""
    ends = [
        doubt_ends(store, prepared(store, entry)[1], in_doubt, now)
        for entry in store.pending_outbox(TARGET)
    ]
    return min((end for end in ends if end is not None), default=None)


def rekeyed(raw: bytes, key: str) -> bytes:
    """`raw` carrying `key` instead of the key it carries."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    message.replace_header(KEY_HEADER, key)
    return message.as_bytes()


def is_own(store: Store, key: str) -> bool:
    """True when the draft key is this install's: it carries this install's id, or
    it is the key a draft of this install was written with before keys carried it."""
    parsed = outbox.parse_draft_key(key)
    if parsed is None:
        return False
    install, duty_key = parsed
    if install:
        return install == drafts_id(store)
    duty = store.duty_by_key(duty_key)
    return duty is not None and mailbox_key(store, duty) == key


def look_over(store: Store, box: DraftBox, account: str, now: datetime) -> None:
    """Look over the drafts in the mailbox: another install's are named once (log,
    `doctor`) and never touched; copies of one of this install's are kept once."""
    for key, count in box.draft_keys().items():
        parsed = outbox.parse_draft_key(key)
        if parsed is None:
            continue
        if not is_own(store, key):
            other = parsed[0]
            if store.record_other_install(account, other, "drafts", now=now):
                log.warning(
                    "%s: another pursuit install (%s) leaves thank-you drafts in this mailbox; "
                    "pursuit leaves them alone (stop one of the two, or give each its own "
                    "mailbox)",
                    account or "the drafts' mailbox",
                    other or "of an earlier version, or a data directory made anew",
                )
        elif count > 1:
            keep_one(store, box, key)


def keep_one(store: Store, box: DraftBox, key: str) -> None:
    """Of this install's drafts carrying `key`, keep one that reads as pursuit wrote
    it (none, when the user edited a copy: that one is theirs) and remove the rest."""
    parsed = outbox.parse_draft_key(key)
    duty = None if parsed is None else store.duty_by_key(parsed[1])
    record = None if duty is None else store.draft_record(duty.id)
    if record is None:
        return
    ours = [version for version in (record.written, record.queued) if version is not None]
    copies = box.drafts_with_key(key)
    pristine = [c for c in copies if any(same_text(c[1], version) for version in ours)]
    if len(copies) < 2 or not pristine:
        return
    edited = len(copies) > len(pristine)
    extra = pristine if edited else pristine[1:]
    for draft_id, _ in extra:
        box.delete_draft(draft_id)
    log.warning(
        "thank-you draft %s was in the mailbox %d times (a create pursuit sent before it "
        "stopped landed late): %d copies removed, %s",
        key,
        len(copies),
        len(extra),
        "the one you edited kept" if edited else "one kept",
    )
