"""An interview's prep sheet (`/interviews/<id>`) and a thank-you's draft
(`/duties/<id>/draft`)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("interviews", __name__)
