"""Text from outside, made safe to store, print and put in a header.

Anyone can send the user mail or an invitation, so names, subjects and
descriptions are cleaned once, at the connector: no escape sequence or unsafe
character (a CR/LF in a name would split the header built from it, an escape
sequence would reach the terminal, a bidi control reorders what a reader sees:
`daemon/textsafety.py` says which), and a bounded length (a 1 MB subject is
stored and printed whole otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable

from pursuit.daemon.textsafety import clean, one_line

SUBJECT_LIMIT = 500
NAME_LIMIT = 200
ADDRESS_LIMIT = 320  # RFC 5321: 64 for the local part, 255 for the domain, and the @
DESCRIPTION_LIMIT = 8000
HEADER_LIMIT = 2000
#: Where an event takes place: an address over a few lines, or a room and a long link.
LOCATION_LIMIT = 1000
#: A link pursuit keeps (a meeting's join address): a longer one is dropped, never cut.
LINK_LIMIT = 2000


def clean_text(value: object, limit: int) -> str:
    """One line of at most `limit` characters, without escape sequences or unsafe
    characters (`daemon/textsafety.py`), runs of white space made one space."""
    return one_line(str(value)[: limit * 4])[:limit].rstrip()


def clean_multiline(value: object, limit: int) -> str:
    """Like `clean_text` but keeps line breaks (as ``\\n``), for descriptions."""
    lines = clean(str(value)[: limit * 4], multiline=True).split("\n")
    return "\n".join(one_line(line) for line in lines).strip("\n")[:limit].rstrip()


def clean_link(value: object) -> str:
    """A link as given, on one line and cleaned; "" when it is longer than LINK_LIMIT
    (a link cut short leads somewhere else). Whether it is one pursuit opens is the
    core's decision."""
    link = clean_text(value, LINK_LIMIT + 1)
    return "" if len(link) > LINK_LIMIT or " " in link else link


def clean_links(values: Iterable[object]) -> tuple[str, ...]:
    """The links among `values`, each cleaned as `clean_link` does, once each, in order."""
    links: list[str] = []
    for value in values:
        link = clean_link(value) if isinstance(value, str) else ""
        if link and link not in links:
            links.append(link)
    return tuple(links)
