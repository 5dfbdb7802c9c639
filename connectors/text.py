"""Text from outside, made safe to store, print and put in a header.

Anyone can send the user mail or an invitation, so names, subjects and
descriptions are cleaned once, at the connector: no control characters (a CR/LF
in a name would split the header built from it, an escape sequence would reach
the terminal), no bidi controls (they reorder what a reader sees), and a bounded
length (a 1 MB subject is stored and printed whole otherwise).
"""

from __future__ import annotations

import re

SUBJECT_LIMIT = 500
NAME_LIMIT = 200
ADDRESS_LIMIT = 320  # RFC 5321: 64 for the local part, 255 for the domain, and the @
DESCRIPTION_LIMIT = 8000
HEADER_LIMIT = 2000

# C0 and C1 controls and DEL become spaces (a tab or a line break separated words)
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# bidi embeddings, overrides, isolates and marks, zero-width and invisible
# formatting characters are dropped: they join or reorder, they separate nothing
_INVISIBLE_RE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_LINE_RE = re.compile(r"\r\n?|\n|[\u2028\u2029]")


def clean_text(value: object, limit: int) -> str:
    """One line of at most `limit` characters, without control or bidi
    characters, runs of white space made one space."""
    return _line(str(value)[: limit * 4])[:limit].rstrip()


def _line(text: str) -> str:
    return " ".join(_CONTROL_RE.sub(" ", _INVISIBLE_RE.sub("", text)).split())


def clean_multiline(value: object, limit: int) -> str:
    """Like `clean_text` but keeps line breaks (as ``\\n``), for descriptions."""
    lines = _LINE_RE.split(str(value)[: limit * 4])
    return "\n".join(_line(line) for line in lines).strip("\n")[:limit].rstrip()
