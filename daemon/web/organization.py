"""An organization's page (`/organizations/<id>`): its timeline and people, and the
changes made from there (status, notes, promises, exchanges logged by hand)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("organization", __name__)
