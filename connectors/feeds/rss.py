"""RSS 0.9x/1.0/2.0 and Atom, parsed by feedparser from bytes fetched by the client
(feedparser's own fetching has no timeout and no size cap)."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pursuit.connectors.feeds.model import FeedItem, Problem, item_key, keep_newest
from pursuit.connectors.feeds.text import (
    SUMMARY_MAX,
    TITLE_MAX,
    from_iso,
    from_struct,
    plain_text,
    safe_link,
)
from pursuit.connectors.feeds.urls import redact_url

log = logging.getLogger(__name__)

# Relative ids and links are resolved against this constant base for dedupe keys,
# so a key does not change when the feed moves to a new URL.
_KEY_BASE = "https://feed.invalid/"


def _as_parser_reads(data: bytes, content_type: str) -> tuple[bytes, str]:
    """The document as feedparser's XML parser will read it (UTF-8), and the
    encoding found ('' for none). The guards look at what the parser sees,
    whatever encoding (UTF-16, UTF-32, a declared charset) the bytes came in."""
    from feedparser.encodings import convert_to_utf8

    result: dict[str, Any] = {}
    try:
        converted = convert_to_utf8({"content-type": content_type}, data, result)
    except Exception:  # feedparser on hostile input: look at the bytes as sent
        log.debug("encoding detection failed", exc_info=True)
        return data, ""
    if not isinstance(converted, bytes):
        return data, ""
    return converted, str(result.get("encoding") or "")


# The rest of a DOCTYPE after its keyword, quoted strings included, up to "[" or ">".
_DOCTYPE_BODY = re.compile(rb"""(?:[^"'\[>]+|"[^"]*"|'[^']*')*""")


def declares_dtd(data: bytes) -> bool:
    """True when the prolog has a DOCTYPE with an internal subset, or any ENTITY
    declaration: what entity-expansion bombs need, and no real feed uses.

    Walks the prolog as XML does (comments and processing instructions skipped,
    quoted strings in the DOCTYPE respected) up to the first element, so nothing
    placed before the declarations hides them. A DOCTYPE naming only an
    external DTD (old RSS 0.91 feeds) is fine: it is never fetched.
    """
    at = 0
    while True:
        at = data.find(b"<", at)
        if at < 0:
            return False
        if data.startswith(b"<?", at):
            end = data.find(b"?>", at + 2)
            at = end + 2
        elif data.startswith(b"<!--", at):
            end = data.find(b"-->", at + 4)
            at = end + 3
        elif data[at : at + 9].upper() == b"<!DOCTYPE":
            body = _DOCTYPE_BODY.match(data, at + 9)
            end = body.end() if body else at + 9
            if data[end : end + 1] != b">":
                return True  # an internal subset, or a DOCTYPE that never ends
            at = end + 1
        else:  # an ENTITY outside a DOCTYPE, or the first element: the prolog is over
            return data[at : at + 8].upper() == b"<!ENTITY"
        if end < 0:
            return False  # an unterminated comment: no element follows, not a feed


# One entry of RSS (<item>) or Atom (<entry>), any prefix, and a date inside it.
_ENTRY = re.compile(rb"<(?:[\w.-]+:)?(item|entry)(?:\s[^>]*)?>.*?</(?:[\w.-]+:)?\1\s*>", re.S)
_ENTRY_DATE = re.compile(
    rb"<(?:[\w.-]+:)?(?:pubDate|published|updated|date|issued|modified|created)"
    rb"(?:\s[^>]*)?>\s*([^<]{1,80}?)\s*<"
)


def newest_entries(data: bytes, limit: int) -> tuple[bytes, int] | None:
    """The document cut to its `limit` newest entries, and how many it had; None
    when it has no more than `limit`.

    A cheap scan before the real parse, so a feed of 150,000 items costs
    feedparser only `limit` of them. Entries are ranked by their first date
    (undated ones last); ties, and feeds without dates, keep document order,
    newest first as feeds are written. What lies between entries is dropped.
    """
    spans = [match.span() for match in _ENTRY.finditer(data)]
    if len(spans) <= limit:
        return None
    dates: list[datetime | None] = []
    for start, end in spans:
        found = _ENTRY_DATE.search(data, start, end)
        dates.append(from_iso(found.group(1).decode("utf-8", "replace")) if found else None)
    oldest = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(
        range(len(spans)), key=lambda i: (dates[i] is not None, dates[i] or oldest), reverse=True
    )
    kept = sorted(ranked[:limit])
    body = b"".join(data[spans[i][0] : spans[i][1]] for i in kept)
    return data[: spans[0][0]] + body + data[spans[-1][1] :], len(spans)


def looks_like_html(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or (
        b"<html" in head and not any(t in head for t in (b"<rss", b"<feed", b"<rdf"))
    )


def _feedparser() -> Any:
    """feedparser, imported when the first answer is parsed: a poll's first requests
    are on their way meanwhile (it takes as long to import as the parsing of 15 feeds)."""
    import feedparser

    return feedparser


def _minor_bozo() -> tuple[type[Exception], ...]:
    feedparser = _feedparser()
    return (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


@dataclass
class _Parsed:
    items: list[FeedItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True


def _parse(data: bytes, content_type: str, base: str) -> Any:
    try:
        return _feedparser().parse(
            io.BytesIO(data),
            response_headers={"content-type": content_type, "content-location": base},
        )
    except Exception as exc:  # feedparser on hostile input: one feed, not the daemon
        log.debug("feedparser raised on %s", redact_url(base), exc_info=True)
        raise Problem(f"feed could not be parsed ({type(exc).__name__}: {exc})") from None


def _entry_key_source(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    ident = entry.get("id")
    if isinstance(ident, str) and ident.strip():
        return "guid", ident.strip()
    link = entry.get("link")
    if isinstance(link, str) and link.strip():
        return "link", link.strip()
    return None


def parse_feed(
    data: bytes, content_type: str, final_url: str, kind: str, max_items: int
) -> _Parsed:
    """The items of an RSS/Atom document: its `max_items` newest entries."""
    readable, encoding = _as_parser_reads(data, content_type)
    if declares_dtd(readable):
        raise Problem(
            "refused: the feed declares a DTD with XML entities or an internal subset "
            "(a possible entity-expansion bomb)"
        )
    if "html" in content_type.lower() and looks_like_html(data):
        raise Problem("not a feed (got an HTML page)")
    total = 0
    cut = newest_entries(readable, max_items) if encoding else None
    if cut is not None:
        # feedparser reads the cut document, already UTF-8 and declared so.
        data, total = cut
        content_type = "application/xml; charset=utf-8"
    doc = _parse(data, content_type, final_url)
    entries: list[Any] = list(doc.get("entries") or [])
    version = doc.get("version") or ""
    exc = doc.get("bozo_exception") if doc.get("bozo") else None
    serious = exc is not None and not isinstance(exc, _minor_bozo())
    if not version and not entries:
        if not data.strip():
            raise Problem("not a feed (the response is empty)")
        if looks_like_html(data) or "html" in content_type.lower():
            raise Problem("not a feed (got an HTML page)")
        if data.lstrip()[:1] in (b"{", b"["):
            raise Problem("not a feed (got JSON; set the job board's format)")
        reason = f": {exc}" if exc is not None else ""
        raise Problem(f"not a feed (no RSS or Atom content found{reason})")
    usable = [e for e in entries if _entry_key_source(e) or e.get("title")]
    if serious and not usable:
        raise Problem(f"malformed feed with no usable entries ({exc})")

    result = _Parsed()
    if serious:
        result.warnings.append(f"malformed feed (bozo): {exc}; items used anyway")
        result.complete = False
    elif exc is not None:
        log.debug("%s: minor feed problem: %s", redact_url(final_url), exc)

    # Keys: relative ids/links are resolved by feedparser against the feed URL;
    # re-read them resolved against a constant base so a key survives a move.
    origin_parts = urlsplit(final_url)
    origin = f"{origin_parts.scheme}://{origin_parts.netloc}".lower()
    sources = [_entry_key_source(e) for e in usable]
    stable = list(sources)
    if any(s is not None and s[1].lower().startswith(origin) for s in sources):
        again = _parse(data, content_type, _KEY_BASE)
        again_usable = [
            e for e in (again.get("entries") or []) if _entry_key_source(e) or e.get("title")
        ]
        if len(again_usable) == len(usable):
            for i, src in enumerate(sources):
                other = _entry_key_source(again_usable[i])
                if src is None or other is None or not src[1].lower().startswith(origin):
                    continue
                value = other[1]
                if value.startswith(_KEY_BASE):
                    value = value[len(_KEY_BASE) :]
                stable[i] = (other[0], value)

    item_kind = "opening" if kind == "careers" else kind
    seen: set[str] = set()
    dropped = len(entries) - len(usable)
    for entry, src in zip(usable, stable, strict=True):
        title = plain_text(entry.get("title"), TITLE_MAX)
        summary_html = entry.get("summary")
        if not summary_html:
            contents = entry.get("content") or []
            if contents and isinstance(contents[0], Mapping):
                summary_html = contents[0].get("value")
        summary = plain_text(summary_html, SUMMARY_MAX)
        published = (
            from_struct(entry.get("published_parsed"))
            or from_struct(entry.get("updated_parsed"))
            or from_struct(entry.get("created_parsed"))
        )
        if src is not None:
            key = item_key(*src)
        else:
            stamp = published.isoformat() if published else ""
            key = "hash:" + hashlib.sha256(f"{title}\n{stamp}".encode()).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        result.items.append(
            FeedItem(
                key=key,
                kind=item_kind,
                title=title or "(untitled)",
                link=safe_link(entry.get("link")),
                published=published,
                summary=summary,
            )
        )
    if dropped:
        result.warnings.append(f"skipped {dropped} entries with no title, id or link")
    if len(result.items) > max_items:  # the scan before parsing missed some entries
        total = max(total, len(result.items))
        result.items = keep_newest(result.items, max_items)
    if total:
        log.info("%s: kept the newest %d of %d entries", redact_url(final_url), max_items, total)
        result.complete = False  # an opening not kept is not closed
    return result
