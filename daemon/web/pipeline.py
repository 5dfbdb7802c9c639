"""The pipeline: every organization and where it stands (`/pipeline`), a card each in a
column per status, with its interviews and its next duty."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template

from pursuit.daemon.models import ORG_STATUSES, OrgStatus
from pursuit.daemon.store import Store
from pursuit.daemon.views import KIND_LABELS, clean_record, late_by
from pursuit.daemon.web.common import pursuit_app

bp = Blueprint("pipeline", __name__)

#: The columns, left to right: what is still open first.
COLUMNS = (
    (OrgStatus.ACTIVE, "Active"),
    (OrgStatus.OFFER, "Offer"),
    (OrgStatus.REJECTED, "Rejected"),
    (OrgStatus.WITHDRAWN, "Withdrawn"),
    (OrgStatus.CLOSED, "Closed"),
)


@bp.get("/pipeline")
def pipeline() -> str:
    app = pursuit_app()
    columns = pipeline_columns(app.store, app.settings.timezone, app.now())
    return render_template("pipeline.html", columns=columns, statuses=ORG_STATUSES)


def shown_time(moment: datetime | None, tz: ZoneInfo, now: datetime) -> str:
    """A moment as the pages show it: `Mon 30 Nov 14:00`, with the year when it is not
    this year."""
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    if local.year != now.astimezone(tz).year:
        return f"{local:%a %d %b %Y %H:%M}"
    return f"{local:%a %d %b %H:%M}"


def pipeline_columns(store: Store, tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """The organizations by status. In a column, those with a duty to do come first,
    the soonest due first; the others follow by name."""
    counts = store.interview_summary(now)
    pending = store.next_pending_duties()
    people = {
        c.id: c
        for c in store.contacts_by_id(d.contact_id for d in pending.values() if d.contact_id)
    }
    next_duty: dict[int, dict[str, Any]] = {}
    for org_id, duty in pending.items():
        due = duty.due.astimezone(tz)
        next_duty[org_id] = {
            "id": duty.id,
            "kind": duty.kind,
            "label": KIND_LABELS[duty.kind],
            "with": people[duty.contact_id].display if duty.contact_id in people else "",
            "due": due.isoformat(),
            "due_text": shown_time(due, tz, now),
            "late": late_by(due.isoformat(), now.astimezone(tz).isoformat())
            if duty.due < now
            else "",
            "order": duty.due.timestamp(),
        }
    quiet = {org_id: due for org_id, due, _ in store.quiet_organizations(now)}
    cards: dict[str, list[dict[str, Any]]] = {status: [] for status, _ in COLUMNS}
    for org in store.organizations():  # by name
        count, _, coming = counts.get(org.id, (0, None, None))
        cards[org.status].append(
            {
                "id": org.id,
                "name": org.name,
                "status": org.status,
                "positions": list(org.positions),
                "flag": org.flag,
                "interviews": count,
                "next_interview": shown_time(coming, tz, now),
                "next_interview_at": coming.astimezone(tz).isoformat() if coming else None,
                "next_duty": next_duty.get(org.id),
                "quiet": quiet_words(quiet.get(org.id), tz, now),
            }
        )
    for column in cards.values():
        column.sort(key=_duty_first)
    columns = [
        {"status": status, "title": title, "cards": cards[status]} for status, title in COLUMNS
    ]
    cleaned: list[dict[str, Any]] = clean_record(columns)  # what acts instead of reading out
    return cleaned


def quiet_words(due: datetime | None, tz: ZoneInfo, now: datetime) -> str:
    """An active organization gone quiet (Today's list): a follow-up was due then, and
    nothing was exchanged since."""
    if due is None:
        return ""
    return f"Gone quiet: a follow-up was due {shown_time(due, tz, now)}, nothing exchanged since"


def _duty_first(card: dict[str, Any]) -> tuple[bool, float]:
    duty = card["next_duty"]
    return (duty is None, duty["order"] if duty else 0.0)
