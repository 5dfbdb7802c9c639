"""An interview's prep sheet (`/interviews/<id>`) and a thank-you's draft
(`/duties/<id>/draft`, and `.eml` to open it in a mail client)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from flask import Blueprint, Response, render_template
from markupsafe import Markup

from pursuit.daemon import drafts
from pursuit.daemon.app import App
from pursuit.daemon.errors import UserError
from pursuit.daemon.views import KIND_LABELS, clean
from pursuit.daemon.web.common import pursuit_app
from pursuit.daemon.web.organization import found_or_404

bp = Blueprint("interviews", __name__)


@bp.get("/interviews/<id:interview_id>")
def interview(interview_id: int) -> str:
    """The prep sheet (`pursuit prep ID`), with a way back to its organization."""
    from pursuit.daemon import prep

    app = pursuit_app()
    found = found_or_404(lambda: app.store.interview(interview_id))
    org = app.store.organization(found.organization_id)
    sheet = prep.prep_sheet(app.store, app.settings, interview_id, app.now())
    return render_template(
        "interview.html",
        sheet=sheet,
        fragment=Markup(prep.render_prep_fragment(sheet)),  # escaped by prep's autoescape
        org={"id": org.id, "name": clean(org.name)},
    )


# --- a thank-you's draft


def draft_message(app: App, duty_id: int) -> tuple[drafts.Draft, EmailMessage]:
    """The thank-you note as `pursuit draft ID` shows it: the draft pursuit leaves in
    the mailbox (a UserError, in the command's words, for a duty that has none)."""
    found_or_404(lambda: app.store.duty(duty_id))
    return drafts.shown_draft(
        app.store, app.settings.drafts, duty_id, app.now(), from_address=app.your_address() or ""
    )


@bp.get("/duties/<id:duty_id>/draft")
def draft(duty_id: int) -> str | tuple[str, int]:
    app = pursuit_app()
    store = app.store
    try:
        found, message = draft_message(app, duty_id)
    except UserError as exc:  # not a thank-you, or one done or cancelled: said as the CLI does
        org = store.organization(store.duty(duty_id).organization_id)
        back = {"id": org.id, "name": clean(org.name)}
        return render_template("draft.html", error=str(exc), draft=None, org=back), 409
    duty = store.duty(duty_id)
    contact = store.contact(duty.contact_id) if duty.contact_id is not None else None
    org = store.organization(duty.organization_id)
    body = message.get_body(("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    shown: dict[str, Any] = {
        "duty": duty.id,
        "kind": KIND_LABELS[duty.kind],
        "organization": {"id": org.id, "name": clean(org.name)},
        "contact": None if contact is None else {"id": contact.id, "name": clean(contact.display)},
        "from": clean(str(message["From"])) if message["From"] is not None else None,
        "to": clean(str(message["To"])),
        "subject": clean(str(message["Subject"])),
        "body": clean(text, multiline=True),
        "address": found.to,
        "has_line": found.personal_line is not None,
        "mailbox": drafts.in_the_mailbox(store, duty_id, found.raw),
    }
    return render_template("draft.html", draft=shown, error=None)


@bp.get("/duties/<id:duty_id>/draft.eml")
def draft_eml(duty_id: int) -> Response:
    """The draft as `pursuit draft ID --eml FILE` writes it: a mail client opens it as
    a message to send (X-Unsent: 1)."""
    _, message = draft_message(pursuit_app(), duty_id)
    message["X-Unsent"] = "1"  # Outlook and Windows Mail open it as a draft to send
    return Response(
        message.as_bytes(),
        mimetype="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="thank-you-{duty_id}.eml"'},
    )
