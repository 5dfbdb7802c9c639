"""Thank-you drafts: one per interviewer of a finished interview, never sent.

A draft is a side effect, so it goes through the outbox with a key derived
from its duty, and the draft itself carries that key in an `X-Pursuit-Key`
header: a repeat after a crash finds the draft instead of writing a second.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import jinja2

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
    "note",
    "day",
    "your_name",
)


def load_template(path: Path | None) -> jinja2.Template:
    source = path or DEFAULT_TEMPLATE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"thank-you template {source}: cannot read it ({exc})") from None
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        template = env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"thank-you template {source}, line {exc.lineno}: {exc.message}") from None
    try:  # a misspelt variable is found now, not at each round's drafts
        template.render({name: "x" for name in TEMPLATE_VARIABLES})
    except jinja2.TemplateError as exc:
        raise UserError(f"thank-you template {source}: {exc}") from None
    return template


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
    note: str | None,
    interview_start: datetime,
    now: datetime,
) -> bytes:
    """The draft as an RFC 5322 message; the template's first line may be `Subject: ...`."""
    text = template.render(
        first_name=first_name(to_name, to_address),
        name=to_name,
        organization=organization,
        position=position,
        note=note,
        day=f"on {interview_start:%A}",
        your_name=your_name,
    )
    subject = f"Thank you – {organization}"
    if text.startswith("Subject:"):
        first, _, text = text.partition("\n")
        subject = first.removeprefix("Subject:").strip()
        text = text.lstrip("\n")
    message = EmailMessage(policy=mail_policy(to_address, from_address))
    message["To"] = mailbox(to_name, to_address)  # one recipient, whatever the name
    if from_address:
        message["From"] = mailbox(your_name, from_address)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="pursuit.invalid")
    message["X-Pursuit-Key"] = key
    message.set_content(text)
    return message.as_bytes()


def queue_drafts(
    store: Store,
    template: jinja2.Template,
    now: datetime,
    *,
    from_address: str,
    your_name: str,
) -> int:
    """Queue a draft for each pending thank-you whose interview is over."""
    queued = 0
    interviews = {i.id: i for i in store.interviews(include_cancelled=False)}
    for duty in store.duties(state=DutyState.PENDING, kinds=(DutyKind.THANK_YOU,)):
        interview = interviews.get(duty.interview_id or -1)
        if interview is None or interview.end > now or duty.contact_id is None:
            continue
        raw = draft_for(
            store, duty, interview, template, now, from_address=from_address, your_name=your_name
        )
        queued += outbox.queue_draft(store, duty.key, raw, now=now)
    return queued


def draft_for(
    store: Store,
    duty: Duty,
    interview: Interview,
    template: jinja2.Template,
    now: datetime,
    *,
    from_address: str,
    your_name: str,
) -> bytes:
    """The thank-you draft of one duty, to the interviewer it names."""
    person = next(p for p in interview.interviewers if p.contact.id == duty.contact_id)
    return render_draft(
        template,
        key=outbox.draft_key(duty.key),
        to_name=person.contact.name,
        to_address=person.contact.address,
        from_address=from_address,
        your_name=your_name,
        organization=store.organization(duty.organization_id).name,
        position=interview.position,
        note=person.note,
        interview_start=interview.start,
        now=now,
    )


def draft_of_duty(
    store: Store, duty_id: int, template: jinja2.Template, now: datetime, *, your_name: str
) -> bytes:
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
    # No From: the mail client that opens it knows your address.
    return draft_for(
        store, duty, interviews[0], template, now, from_address="", your_name=your_name
    )


def push_drafts(store: Store, box: DraftBox, now: datetime) -> int:
    """Create the queued drafts; each recorded only after the mailbox holds it."""

    def perform(entry: OutboxEntry) -> None:
        draft_id = box.create_draft(outbox.decode_draft(entry.payload), entry.key)
        log.info("thank-you draft %s ready (%s)", draft_id, entry.key)

    return outbox.deliver(store, TARGET, perform, now)
