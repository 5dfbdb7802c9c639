"""Thank-you drafts: one per interviewer of a finished interview, never sent.

A draft is addressed to someone else, so it holds none of the user's notes: those
are private. What the user wants a thank-you to mention is a line they give for it
(`pursuit note CONTACT --thank-you "..."`), placed in the draft as they wrote it,
on a line of its own; without one, the draft holds a placeholder for it.

A draft is a side effect, so it goes through the outbox with a key derived
from its duty, and the draft itself carries that key in an `X-Pursuit-Key`
header: a repeat after a crash finds the draft instead of writing a second.

The mailbox's draft and `pursuit draft` agree: each round renders every pending
thank-you again, and a version that reads differently (a new line for it, a
renamed person, the day now "yesterday") replaces the draft in the mailbox, as
long as the draft there is still what pursuit last wrote. A draft the user edited
(its text differs) or deleted (or sent) is left alone from then on, for good.
"""

from __future__ import annotations

import email.policy
import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

import jinja2
import jinja2.meta

from pursuit.connectors.base import DraftBox
from pursuit.daemon import outbox
from pursuit.daemon.addresses import first_name, mail_policy, mailbox
from pursuit.daemon.errors import UserError
from pursuit.daemon.models import Duty, DutyKind, DutyState, Interview, OutboxEntry
from pursuit.daemon.store import Store

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
    raw = render_draft(
        template,
        key=outbox.draft_key(duty.key),
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
    return Draft(raw, person.contact.address, person.thank_you)


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
    interviews = {i.id: i for i in store.interviews(include_cancelled=False)}
    for duty in store.duties(state=DutyState.PENDING, kinds=(DutyKind.THANK_YOU,)):
        interview = interviews.get(duty.interview_id or -1)
        if interview is None or interview.end > now or duty.contact_id is None:
            continue
        raw = draft_for(
            store, duty, interview, template, now, from_address=from_address, your_name=your_name
        ).raw
        record = store.draft_record(duty.id)
        if record is not None and (record.left_alone or same_text(record.queued, raw)):
            continue
        version = 0 if record is None else record.version + 1
        with store.transaction():
            queued += outbox.queue_draft(store, duty.key, duty.id, version, raw, now=now)
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


def push_drafts(store: Store, box: DraftBox, now: datetime) -> int:
    """Write the queued drafts; each recorded only after the mailbox holds it.

    Of several versions queued for one thank-you only the newest is written. A
    version replaces the mailbox's draft only while that draft still reads as what
    pursuit last wrote there; one the user edited or deleted is left alone for good.
    """

    def perform(entry: OutboxEntry) -> None:
        raw = outbox.decode_draft(entry.payload)
        key = str(entry.payload.get("draft") or entry.key)
        duty_id = entry.payload.get("duty")
        if duty_id is None:  # queued by an older pursuit, with the first version's key
            duty = store.duty_by_key(key.removeprefix("draft:"))
            duty_id = None if duty is None else duty.id
        record = None if duty_id is None else store.draft_record(int(duty_id))
        if duty_id is None or record is None:
            draft_id = box.create_draft(raw, key)
            log.info("thank-you draft %s ready (%s)", draft_id, key)
            return
        if record.left_alone:
            return
        current = box.read_draft(key)
        if current is not None and same_text(current, raw):
            pass  # written already, by a try whose record was lost
        elif record.written is None:
            if current is not None:  # not what pursuit queued: not pursuit's to change
                store.record_draft_left_alone(record.duty_id, EDITED, now=now)
                return
            log.info("thank-you draft %s ready (%s)", box.create_draft(raw, key), key)
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

    def subject(entry: OutboxEntry) -> str:
        return str(entry.payload.get("draft") or entry.key)

    return outbox.deliver(store, TARGET, perform, now, subject=subject)
