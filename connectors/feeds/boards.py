"""The public JSON APIs of job boards: Greenhouse, Lever, Ashby, SmartRecruiters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from pursuit.connectors.feeds.client import Answer, Deadline, get
from pursuit.connectors.feeds.model import FeedItem, Problem, item_key, keep_newest
from pursuit.connectors.feeds.rss import looks_like_html
from pursuit.connectors.feeds.text import (
    SUMMARY_MAX,
    TITLE_MAX,
    from_iso,
    from_millis,
    plain_text,
    safe_link,
    text_or_none,
)
from pursuit.connectors.feeds.urls import redact_url, segment

log = logging.getLogger(__name__)

SMARTRECRUITERS_PAGE = 100
SMARTRECRUITERS_MAX_PAGES = 20


def load_json(data: bytes, fmt: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        if looks_like_html(data):
            raise Problem(f"not a {fmt} board API answer (got an HTML page)") from None
        raise Problem(f"invalid JSON from {fmt} board ({exc})") from None


def _shape(fmt: str, expected: str) -> Problem:
    return Problem(f"unexpected JSON from {fmt} board: expected {expected}")


def _opening(
    fmt: str,
    *,
    ident: object,
    title: object,
    link: object,
    published: datetime | None,
    summary: object = None,
    location: object = None,
    department: object = None,
) -> FeedItem | None:
    if isinstance(ident, bool) or not isinstance(ident, str | int) or str(ident).strip() == "":
        return None
    return FeedItem(
        key=item_key(fmt, str(ident).strip()),
        kind="opening",
        title=plain_text(title, TITLE_MAX) or "(untitled)",
        link=safe_link(link),
        published=published,
        summary=plain_text(summary, SUMMARY_MAX),
        location=text_or_none(location),
        department=text_or_none(department),
    )


def _names(values: object) -> str | None:
    if not isinstance(values, list):
        return None
    names = [v.get("name") for v in values if isinstance(v, Mapping)]
    joined = ", ".join(n for n in names if isinstance(n, str) and n.strip())
    return joined or None


def greenhouse(doc: Any) -> Iterator[FeedItem | None]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("jobs"), list):
        raise _shape("greenhouse", "an object with 'jobs'")
    for job in doc["jobs"]:
        if not isinstance(job, Mapping):
            yield None
            continue
        location = job.get("location")
        yield _opening(
            "greenhouse",
            ident=job.get("id"),
            title=job.get("title"),
            link=job.get("absolute_url"),
            published=from_iso(job.get("first_published")) or from_iso(job.get("updated_at")),
            summary=job.get("content"),
            location=location.get("name") if isinstance(location, Mapping) else location,
            department=_names(job.get("departments")),
        )


def lever(doc: Any) -> Iterator[FeedItem | None]:
    if not isinstance(doc, list):
        raise _shape("lever", "a list of postings")
    for post in doc:
        if not isinstance(post, Mapping):
            yield None
            continue
        cats = post.get("categories")
        cats = cats if isinstance(cats, Mapping) else {}
        yield _opening(
            "lever",
            ident=post.get("id"),
            title=post.get("text"),
            link=post.get("hostedUrl") or post.get("applyUrl"),
            published=from_millis(post.get("createdAt")),
            summary=post.get("descriptionPlain") or post.get("description"),
            location=cats.get("location"),
            department=cats.get("department") or cats.get("team"),
        )


def ashby(doc: Any) -> Iterator[FeedItem | None]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("jobs"), list):
        raise _shape("ashby", "an object with 'jobs'")
    for job in doc["jobs"]:
        if not isinstance(job, Mapping):
            yield None
            continue
        if job.get("isListed") is False:
            continue
        location = job.get("location")
        if isinstance(location, Mapping):
            location = location.get("name") or location.get("locationName")
        yield _opening(
            "ashby",
            ident=job.get("id"),
            title=job.get("title"),
            link=job.get("jobUrl") or job.get("applyUrl"),
            published=from_iso(job.get("publishedAt")),
            summary=job.get("descriptionPlain") or job.get("descriptionHtml"),
            location=location,
            department=job.get("department") or job.get("team"),
        )


def smartrecruiters_page(doc: Any, company: str) -> tuple[list[FeedItem | None], int | None]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("content"), list):
        raise _shape("smartrecruiters", "an object with 'content'")
    out: list[FeedItem | None] = []
    for post in doc["content"]:
        if not isinstance(post, Mapping):
            out.append(None)
            continue
        loc = post.get("location")
        location: str | None = None
        if isinstance(loc, Mapping):
            full = loc.get("fullLocation")
            if isinstance(full, str) and full.strip():
                location = full
            else:
                bits = [loc.get(k) for k in ("city", "region", "country")]
                location = ", ".join(b for b in bits if isinstance(b, str) and b.strip())
            if loc.get("remote") is True:
                location = f"{location} (remote)" if location else "Remote"
        dept = post.get("department")
        owner = post.get("company")
        ident = owner.get("identifier") if isinstance(owner, Mapping) else None
        ident = ident if isinstance(ident, str) and ident.strip() else company
        link = post.get("postingUrl")
        if not link and post.get("id") is not None:
            link = f"https://jobs.smartrecruiters.com/{segment(ident)}/{segment(str(post['id']))}"
        out.append(
            _opening(
                "smartrecruiters",
                ident=post.get("id"),
                title=post.get("name"),
                link=link,
                published=from_iso(post.get("releasedDate")),
                location=location,
                department=dept.get("label") if isinstance(dept, Mapping) else dept,
            )
        )
    total = doc.get("totalFound")
    return out, total if isinstance(total, int) and not isinstance(total, bool) else None


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return parts._replace(query=urlencode(query)).geturl()


def smartrecruiters(
    first: Answer,
    doc: Any,
    *,
    headers: Mapping[str, str],
    deadline: Deadline,
    max_bytes: int,
) -> tuple[list[FeedItem | None], bool, list[str], int]:
    segs = [s for s in urlsplit(first.url).path.split("/") if s]
    company = unquote(segs[2]) if len(segs) >= 3 and segs[:2] == ["v1", "companies"] else ""
    postings, total = smartrecruiters_page(doc, company)
    page_url = first.url
    seen_count = len(doc["content"])
    pages = 1
    while total is not None and seen_count < total:
        if pages >= SMARTRECRUITERS_MAX_PAGES:
            cut = (
                f"listing cut at {seen_count} of {total} postings "
                f"({SMARTRECRUITERS_MAX_PAGES} pages); openings not closed"
            )
            return postings, False, [cut], pages
        page_url = with_query(page_url, offset=str(seen_count), limit=str(SMARTRECRUITERS_PAGE))
        answer = get(page_url, headers=headers, deadline=deadline, max_bytes=max_bytes)
        if answer.status == 304:  # no conditional headers were sent for later pages
            raise Problem(f"unexpected HTTP 304 for page {pages + 1} ({redact_url(page_url)})")
        more, total = smartrecruiters_page(load_json(answer.body, "smartrecruiters"), company)
        pages += 1
        if not more:
            break
        postings += more
        seen_count += len(more)
    return postings, True, [], pages


def parse_board(
    first: Answer,
    fmt: str,
    *,
    headers: Mapping[str, str],
    deadline: Deadline,
    max_bytes: int,
    max_items: int,
) -> tuple[list[FeedItem], bool, list[str], int]:
    """(openings, complete listing?, warnings, pages read) of a job board's answer:
    its `max_items` newest openings."""
    doc = load_json(first.body, fmt)
    complete, pages = True, 1
    warnings: list[str] = []
    postings: list[FeedItem | None]
    if fmt == "greenhouse":
        postings = list(greenhouse(doc))
    elif fmt == "lever":
        postings = list(lever(doc))
    elif fmt == "ashby":
        postings = list(ashby(doc))
    else:
        postings, complete, warnings, pages = smartrecruiters(
            first, doc, headers=headers, deadline=deadline, max_bytes=max_bytes
        )
    skipped = sum(1 for p in postings if p is None)
    seen: set[str] = set()
    items: list[FeedItem] = []
    for posting in postings:
        if posting is not None and posting.key not in seen:
            seen.add(posting.key)
            items.append(posting)
    if skipped:
        warnings.append(f"skipped {skipped} postings with no id or of an unknown shape")
    if len(items) > max_items:
        shown = redact_url(first.url)
        log.info("%s: kept the newest %d of %d openings", shown, max_items, len(items))
        items = keep_newest(items, max_items)
        complete = False  # an opening not kept is not closed
    return items, complete, warnings, pages
