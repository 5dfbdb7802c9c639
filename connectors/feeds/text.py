"""Text and dates from feeds: markup stripped to plain text, links checked,
dates read from the shapes feeds and job boards use."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from pursuit.daemon.textsafety import UNSAFE, one_line

SUMMARY_MAX = 500
TITLE_MAX = 500


class _TextExtractor(HTMLParser):
    _SKIP = frozenset(
        {
            "script",
            "style",
            "noscript",
            "template",
            "iframe",
            "object",
            "embed",
            "svg",
            "math",
            "head",
            "select",
            "textarea",
        }
    )
    _BLOCK = frozenset(
        {
            "p",
            "br",
            "div",
            "li",
            "ul",
            "ol",
            "tr",
            "td",
            "th",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "pre",
            "hr",
            "section",
            "article",
            "table",
            "dd",
            "dt",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_TAGLIKE = re.compile(r"<[A-Za-z/!?]")
_ESCAPED_TAG = re.compile(r"&(?:lt|#0*60|#x0*3c);?[A-Za-z/!?]", re.IGNORECASE)


def _strip_markup(value: str) -> str:
    if "<" not in value and "&" not in value:
        return value  # no tag, no entity: the parser would give it back as it is
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return "".join(parser.parts)


def plain_text(value: object, limit: int | None = None) -> str:
    """Markup stripped, entities decoded, whitespace collapsed, cut to `limit`.

    Escaped markup (`&lt;script&gt;`, even escaped twice) decodes to markup, so
    stripping repeats until none is left, escaped or not.
    """
    if not isinstance(value, str) or not value:
        return ""
    text = value
    for _ in range(5):
        text = _strip_markup(text)
        if not _TAGLIKE.search(text) and not _ESCAPED_TAG.search(text):
            break
    else:  # markup escaped over and over: drop what is left of it
        text = _ESCAPED_TAG.sub(" ", text).replace("<", " ").replace(">", " ")
    text = one_line(text)  # no escape sequence, control, bidi or zero-width character
    if limit is not None and len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        if space >= limit * 0.8:
            cut = cut[:space]
        text = cut.rstrip() + "…"
    return text


def safe_link(value: object) -> str | None:
    """An absolute http(s) URL, or None (javascript:, data:, relative, junk)."""
    if not isinstance(value, str):
        return None
    link = value.strip()
    if not link or UNSAFE.search(link):
        return None
    link = link.replace(" ", "%20")
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return link


def text_or_none(value: object) -> str | None:
    text = plain_text(value, 200)
    return text or None


# ----------------------------------------------------------------------- dates


def from_struct(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def from_iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def from_millis(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return from_iso(value)
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
