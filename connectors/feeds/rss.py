"""RSS 0.9x/1.0/2.0 and Atom, parsed by feedparser from bytes fetched by the client
(feedparser's own fetching has no timeout and no size cap)."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import feedparser

from pursuit.connectors.feeds.model import FeedItem, Problem, item_key
from pursuit.connectors.feeds.text import SUMMARY_MAX, TITLE_MAX, from_struct, plain_text, safe_link

log = logging.getLogger(__name__)

# Relative ids and links are resolved against this constant base for dedupe keys,
# so a key does not change when the feed moves to a new URL.
_KEY_BASE = "https://feed.invalid/"


_ENTITY_DECL = re.compile(rb"<!DOCTYPE[^>\[]*\[[^\]]*<!ENTITY", re.IGNORECASE)


def _declares_entities(data: bytes) -> bool:
    head = data[:1_000_000]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            head = head.decode("utf-16", errors="ignore").encode()
        except UnicodeError:
            return False
    return _ENTITY_DECL.search(head) is not None


def looks_like_html(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or (
        b"<html" in head and not any(t in head for t in (b"<rss", b"<feed", b"<rdf"))
    )


_MINOR_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


@dataclass
class _Parsed:
    items: list[FeedItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True


def _parse(data: bytes, content_type: str, base: str) -> Any:
    try:
        return feedparser.parse(
            io.BytesIO(data),
            response_headers={"content-type": content_type, "content-location": base},
        )
    except Exception as exc:  # feedparser on hostile input: one feed, not the daemon
        log.debug("feedparser raised on %s", base, exc_info=True)
        raise Problem(f"feed could not be parsed ({type(exc).__name__}: {exc})") from None


def _entry_key_source(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    ident = entry.get("id")
    if isinstance(ident, str) and ident.strip():
        return "guid", ident.strip()
    link = entry.get("link")
    if isinstance(link, str) and link.strip():
        return "link", link.strip()
    return None


def parse_feed(data: bytes, content_type: str, final_url: str, kind: str) -> _Parsed:
    if _declares_entities(data):
        raise Problem("refused: the feed declares XML entities (a possible entity-expansion bomb)")
    if "html" in content_type.lower() and looks_like_html(data):
        raise Problem("not a feed (got an HTML page)")
    doc = _parse(data, content_type, final_url)
    entries: list[Any] = list(doc.get("entries") or [])
    version = doc.get("version") or ""
    exc = doc.get("bozo_exception") if doc.get("bozo") else None
    serious = exc is not None and not isinstance(exc, _MINOR_BOZO)
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
        log.debug("%s: minor feed problem: %s", final_url, exc)

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
    return result
