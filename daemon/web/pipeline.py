"""The pipeline: every organization and where it stands (`/pipeline`)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pipeline", __name__)
