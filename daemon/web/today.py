"""Today (`/`): what to do now, overdue first, and the changes made from there (a duty
done, snoozed, sent by hand, reopened), each through the use case the command line runs."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("today", __name__)


@bp.get("/")
def today() -> str:
    return render_template("today.html")
