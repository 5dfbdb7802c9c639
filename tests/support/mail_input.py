"""Mail as it comes off the wire, for the reliability suite: CPython's email test
corpus, and a raw message turned into the FETCH answer an IMAP server gives
pursuit (only the header fields it asks for, the start of the text it asks for)."""

from __future__ import annotations

import importlib.util
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pursuit.connectors.imap import HEADER_FIELDS, TEXT_BYTES

_WANTED = frozenset(f.lower() for f in HEADER_FIELDS)
_FIELD_NAME = re.compile(rb"^([^:\s]+)\s*:")


def email_corpus() -> list[Path]:
    """Every msg_*.txt of the running Python's `test.test_email` package: real-world
    oddities (bad MIME, 8-bit headers, missing fields) collected over two decades.
    Skips the test when the package is not installed, and fails instead under CI."""
    spec = importlib.util.find_spec("test.test_email")
    folders = spec.submodule_search_locations if spec is not None else None
    found = sorted((Path(folders[0]) / "data").glob("msg_*.txt")) if folders else []
    if not found:
        reason = "this Python has no test.test_email package (its email test corpus)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """The header block and the text of a raw message (any line ending)."""
    match = re.search(rb"\r?\n\r?\n", raw)
    if match is None:
        return raw, b""
    return raw[: match.start()] + b"\r\n", raw[match.end() :]


def wanted_fields(header: bytes) -> bytes:
    """What ``BODY.PEEK[HEADER.FIELDS (...)]`` answers: the asked-for fields, folded
    lines kept with their field, CRLF line ends, and the blank line after them."""
    kept: list[bytes] = []
    keep = False
    for line in re.split(rb"\r?\n", header):
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line)
            continue
        name = _FIELD_NAME.match(line)
        keep = (
            bool(name) and name is not None and name.group(1).lower().decode("latin-1") in _WANTED
        )
        if keep:
            kept.append(line)
    return b"".join(line + b"\r\n" for line in kept) + b"\r\n"


def fetch_answer(raw: bytes, internal: datetime) -> dict[bytes, Any]:
    """The FETCH answer an IMAP server gives pursuit's connector for `raw`."""
    header, text = split_message(raw)
    return {
        b"BODY[HEADER.FIELDS (" + b" ".join(f.upper().encode() for f in HEADER_FIELDS) + b")]": (
            wanted_fields(header)
        ),
        b"BODY[TEXT]<0>": text[:TEXT_BYTES],
        b"INTERNALDATE": internal,
    }


#: Characters no stored or printed text may hold: C0 and C1 controls, DEL, line and
#: paragraph separators, bidi embeddings, overrides and isolates.
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
