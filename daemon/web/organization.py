"""An organization's page (`/organizations/<id>`): its timeline and people, and the
changes made from there (status, notes, promises, exchanges logged by hand).

Each change is the use case the command line runs (`daemon/actions.py`) with the
words the user gave, answered with the words the command prints: nothing here
decides anything of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request

from pursuit.daemon import actions, feeds, views
from pursuit.daemon.errors import PursuitError, UserError
from pursuit.daemon.models import (
    CHANNELS,
    ORG_STATUSES,
    Contact,
    Duty,
    DutyKind,
    DutyState,
    FeedItem,
    Organization,
)
from pursuit.daemon.store import Store
from pursuit.daemon.web.common import (
    came_from,
    done,
    failed,
    local_path,
    pursuit_app,
    record_id,
    writable_app,
)
from pursuit.daemon.web.pipeline import quiet_words, shown_time

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from pursuit.config.settings import Settings

bp = Blueprint("organization", __name__)

#: The newest timeline entries shown: the page stays quick with thousands of records
#: (`pursuit history ORG` prints them all).
TIMELINE_SHOWN = 200
#: The newest news items, and openings, shown.
ITEMS_SHOWN = 20
#: The duties that are a message the user sends ("I sent it", as on Today).
SENT_KINDS = (DutyKind.THANK_YOU, DutyKind.FOLLOW_UP)

T = TypeVar("T")


def found_or_404(find: Callable[[], T]) -> T:
    """The record an address names, or a page saying it is unknown (404)."""
    try:
        return find()
    except UserError as exc:
        abort(404, description=str(exc))


# --- the page


@bp.get("/organizations/<id:org_id>")
def organization(org_id: int) -> str:
    app = pursuit_app()
    org = found_or_404(lambda: app.store.organization(org_id))
    page = organization_page(app.store, app.settings, org, app.now())
    return render_template("organization.html", page=page, statuses=ORG_STATUSES)


def organization_page(
    store: Store, settings: Settings, org: Organization, now: datetime
) -> dict[str, Any]:
    """What the page shows, as plain data, every text cleaned of what would act instead
    of reading (bidi overrides, control characters); the template escapes it."""
    tz = settings.timezone
    interviews = store.interviews(org.id)
    interviewed = {p.contact.id for i in interviews if not i.cancelled for p in i.interviewers}
    people = store.contacts(org.id)
    everyone = {c.id: c for c in people}
    history = views.history(store, org, tz, limit=TIMELINE_SHOWN)  # newest first
    pending = store.duties(organization=org.id, state=DutyState.PENDING)
    for duty in pending:  # someone at another organization too, still named
        if duty.contact_id is not None and duty.contact_id not in everyone:
            everyone[duty.contact_id] = store.contact(duty.contact_id)
    page = {
        "id": org.id,
        "name": org.name,
        "status": org.status,
        "since": f"{org.status_changed.astimezone(tz):%d %b %Y}",
        "flag": org.flag,
        "quiet": quiet_words(
            next((due for o, due, _ in store.quiet_organizations(now) if o == org.id), None),
            tz,
            now,
        ),
        "domains": list(org.domains),
        "positions": list(org.positions),
        "duties": [duty_row(d, everyone, tz, now) for d in pending],
        "interviews": [
            {
                "id": i.id,
                "when": shown_time(i.start, tz, now),
                "datetime": i.start.astimezone(tz).isoformat(),
                "coming": i.start > now and not i.cancelled,
                "position": i.position or "",
                "with": ", ".join(p.contact.display for p in i.interviewers),
                "cancelled": i.cancelled,
            }
            for i in reversed(interviews)  # the latest first
        ],
        "people": [person_record(store, c, org, c.id in interviewed, tz, now) for c in people],
        "timeline": [timeline_entry(entry, tz, now) for entry in history["entries"]],
        "timeline_hidden": history["more"],
        "news": [item_row(i, tz, now) for i in org_items(store, settings, org, ("press", "news"))],
        "openings": [item_row(i, tz, now) for i in org_items(store, settings, org, ("opening",))],
        "channels": list(CHANNELS),
        "tomorrow": (now.astimezone(tz).date() + timedelta(days=1)).isoformat(),
    }
    cleaned: dict[str, Any] = views.clean_record(page)
    return cleaned


def duty_row(duty: Duty, people: dict[int, Contact], tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    who = people[duty.contact_id].display if duty.contact_id in people else ""
    due = duty.due.astimezone(tz)
    late = duty.due < now
    return {
        "id": duty.id,
        "kind": duty.kind,
        "label": views.KIND_LABELS[duty.kind],
        "with": who,
        "due": due.isoformat(),
        "due_text": shown_time(due, tz, now),
        "late": views.late_by(due.isoformat(), now.astimezone(tz).isoformat()) if late else "",
        "snoozed": duty.snoozed,
        "sendable": duty.kind in SENT_KINDS,
        # the day after it is due, as Today offers: never a day that moves it earlier
        "snooze_to": (due.date() + timedelta(days=1)).isoformat(),
    }


def person_record(
    store: Store,
    contact: Contact,
    org: Organization,
    interviewed: bool,
    tz: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    """A person at the organization, with their last exchange (at any organization)."""
    last = next(iter(store.correspondence(contact_id=contact.id, limit=1)), None)
    exchange = None
    if last is not None:
        exchange = {
            "when": shown_time(last.date, tz, now),
            "datetime": last.date.astimezone(tz).isoformat(),
            "what": f"{last.channel} {'from you' if last.direction == 'out' else 'to you'}",
            "subject": last.subject or last.snippet,
        }
    return {
        "id": contact.id,
        "name": contact.name,
        "display": contact.display,
        "address": contact.address,
        "addresses": list(contact.addresses),
        "role": contact.role_at(org.id) or "",
        "interviewed": interviewed,
        "last_exchange": exchange,
    }


#: How a timeline entry's type reads on the page.
ENTRY_WORDS = {"thank-you": "thank-you line"}


def timeline_entry(entry: dict[str, Any], tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """One entry of `views.history`, with its time and kind in words."""
    moment = datetime.fromisoformat(entry["date"])
    kind = ENTRY_WORDS.get(entry["type"], entry["type"])
    if entry["direction"] is not None:  # an exchange: who wrote or called whom
        kind += " from you" if entry["direction"] == "out" else " to you"
    return {
        "type": entry["type"],
        "direction": entry["direction"],
        "kind": kind,
        "when": shown_time(moment, tz, now),
        "datetime": entry["date"],
        "text": entry["text"],
        "with": ", ".join(entry["with"]),
    }


def org_items(
    store: Store, settings: Settings, org: Organization, kinds: tuple[str, ...]
) -> list[FeedItem]:
    """The newest items of these kinds that pass the organization's keywords, as
    `pursuit news ORG` and `pursuit openings ORG` list them."""
    newest = feeds.items(store, organization_id=org.id, kinds=kinds, limit=ITEMS_SHOWN)
    return feeds.surfaced(store, settings, newest)


def item_row(item: FeedItem, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """A news item or an opening; its link is shown live only when http or https
    (the template's `link_or_text`)."""
    when = item.published or item.first_seen
    return {
        "id": item.id,
        "kind": item.kind,
        "title": item.title,
        "link": item.link,
        "day": f"{when.astimezone(tz):%d %b %Y}",
        "datetime": when.astimezone(tz).isoformat(),
        "where": ", ".join(x for x in (item.location, item.department) if x),
        "closed": f"{item.closed.astimezone(tz):%d %b %Y}" if item.closed else None,
    }


# --- changes: a status


@bp.post("/organizations/<id:org_id>/status")
def change_status(org_id: int) -> Response | str:
    """A status change, in two steps: the first POST says what will happen, in the words
    `pursuit org status` prints, with a button to confirm; the second (`confirm=1`) does it."""
    status = request.form.get("status", "")
    back = local_path(request.form.get("back"), "") or came_from()
    if request.form.get("confirm") != "1":
        app = pursuit_app()
        org = found_or_404(lambda: app.store.organization(org_id))
        _check_status(status)
        words = actions.status_words(app.settings, org, status)
        unchanged = org.status == status and org.flag is None
        return render_template(
            "confirm_status.html",
            org=views.clean_record({"id": org.id, "name": org.name, "status": org.status}),
            status=status,
            words=views.clean(words),
            unchanged=unchanged,
            back=back,
        )
    try:  # this page's own `next` is the address of the first POST: go back further
        app = writable_app()
        org = found_or_404(lambda: app.store.organization(org_id))
        _check_status(status)
        words = actions.status_words(app.settings, org, status)
        actions.set_status(app.store, app.settings, app.now(), org.name, status)
    except PursuitError as exc:
        return failed(str(exc), back)
    return done(words, back)


def _check_status(status: str) -> None:
    if status not in ORG_STATUSES:
        raise UserError(f"status {status!r} is not one of {', '.join(ORG_STATUSES)}")


# --- changes: a note, a promise, an exchange


def _contact(app_store: Store, contact_id: int) -> Contact:
    return found_or_404(lambda: app_store.contact(contact_id))


def _organization_named(store: Store, form_value: str | None) -> str | None:
    """The organization a form is about (its id, a hidden field), by its name as a
    command takes it: for someone at several, the change is about the page's."""
    org_id = record_id(form_value)
    return None if org_id is None else store.organization(org_id).name


@bp.post("/contacts/<id:contact_id>/note")
def note(contact_id: int) -> Response:
    """`pursuit note CONTACT TEXT`, or with `thank_you` checked `--thank-you`."""
    app = writable_app()
    store = app.store
    contact = _contact(store, contact_id)
    text = request.form.get("text", "")
    organization = _organization_named(store, request.form.get("organization"))
    if not request.form.get("thank_you"):
        noted = actions.note(
            store, app.settings, app.now(), contact.address, text, organization=organization
        )
        words = f"Noted for {noted.contact.display} (private, never in a draft): {text.strip()}"
        return done(words + _chosen_words(noted.chose))
    line = actions.thank_you_line(
        store, app.settings, app.now(), contact.address, text, organization=organization
    )
    who = line.contact.display
    words = f"{who}'s thank-you says, on a line of its own: {text.strip()}"
    words += _chosen_words(line.chose)
    if line.replaced is not None and line.replaced != text.strip():
        words += f" (instead of: {line.replaced})"
    if line.duty.state == DutyState.DONE:
        return done(f"{words}. The thank-you to {who} is done already (#{line.duty.id}).")
    return done(words, f"/duties/{line.duty.id}/draft")  # see it in place


@bp.post("/contacts/<id:contact_id>/promise")
def promise(contact_id: int) -> Response:
    """`pursuit commit CONTACT --on DAY` (or `--in 5d`, typed in the same field)."""
    app = writable_app()
    store = app.store
    contact = _contact(store, contact_id)
    day = request.form.get("on", "").strip()
    after = day if DELAY.match(day) else None
    promised = actions.commit(
        store,
        app.settings,
        app.now(),
        contact.address,
        on_day=None if after else day,
        after=after,
        organization=_organization_named(store, request.form.get("organization")),
    )
    who, on = promised.contact.display, f"{promised.day:%a %d %b %Y}"
    if promised.instead is not None:
        words = f"Promised {who} a follow-up on {on}, but {promised.instead}"
    elif promised.already:
        words = f"Already promised: follow up with {who} on {on}"
    else:
        words = f"Follow up with {who} on {on}"
    return done(words + _chosen_words(promised.chose))


#: A delay after the interview ("5d", "2 weeks"), where a day is expected otherwise.
DELAY = re.compile(r"^\d+(\.\d+)?\s*[a-z]", re.IGNORECASE)


@bp.post("/organizations/<id:org_id>/log")
def log_entry(org_id: int) -> Response:
    """`pursuit log CHANNEL CONTACT TEXT [--in] [--at WHEN] --org ORG`."""
    app = writable_app()
    store = app.store
    org = found_or_404(lambda: store.organization(org_id))
    channel = request.form.get("channel", "")
    if channel not in CHANNELS:
        raise UserError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    who = record_id(request.form.get("contact"))
    if who is None:
        raise UserError("choose the person the exchange was with")
    contact = store.contact(who)
    when = request.form.get("when", "").strip() or None
    logged = actions.log_by_hand(
        store,
        app.settings,
        app.now(),
        channel,
        contact.address,
        request.form.get("text", ""),
        inbound=request.form.get("direction") == "in",
        when=when,
        organization=org.name,
    )
    name = logged.contact.display
    if logged.already:
        at = logged.when.astimezone(app.settings.timezone)
        return done(f"Already logged: {channel} with {name} at {at:%H:%M}; not logged twice")
    words = f"Logged {channel} with {name}" + _chosen_words(logged.chose)
    for duty in logged.fulfilled:
        words += f". Duty #{duty.id} done: {_duty_words(store, duty)}"
    return done(words)


def _duty_words(store: Store, duty: Duty) -> str:
    """A duty as `pursuit log` names one it marked done: "follow-up to Jane Doe"."""
    kind = views.KIND_LABELS[duty.kind]
    if duty.contact_id is None:
        return kind
    contact = store.contact(duty.contact_id)
    if len(contact.organization_ids) > 1:
        return f"{kind} to {contact.display} ({store.organization(duty.organization_id).name})"
    return f"{kind} to {contact.display}"


def _chosen_words(chose: actions.Chosen | None) -> str:
    """Which of a person's organizations a change was about, when pursuit chose."""
    if chose is None:
        return ""
    return f" (about {chose.organization.name}: {chose.why})"
