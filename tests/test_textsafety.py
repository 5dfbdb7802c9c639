"""One definition of an unsafe character (`daemon/textsafety.py`), used by every reader of
text from outside: the connectors as they store it, the terminal views, the CSV and JSON
exports and the feeds. Before, four definitions disagreed: the views and the JSON export
let zero-width characters, the BOM and tag characters through, the feeds let C1 controls
and bidi overrides into titles and links, and the connectors kept the tail of an escape
sequence ("[2J").
"""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest

from pursuit.connectors.feeds.text import plain_text, safe_link
from pursuit.connectors.text import clean_multiline, clean_text
from pursuit.daemon.export import to_csv, to_json
from pursuit.daemon.textsafety import UNSAFE, UNSAFE_RANGES, clean, escape_json, one_line
from pursuit.daemon.views import clean as views_clean

UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def test_unsafe_is_every_control_format_and_separator_character() -> None:
    listed = {code for low, high in UNSAFE_RANGES for code in range(low, high + 1)}
    wanted = {
        code
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in UNSAFE_CATEGORIES
    }
    assert sorted(wanted - listed) == [], "a newer Unicode: add these to UNSAFE_RANGES"
    # what is listed beyond them is not assigned yet in this Python's Unicode
    assert {unicodedata.category(chr(code)) for code in listed - wanted} <= {"Cn"}
    assert all(UNSAFE.fullmatch(chr(code)) for code in listed)
    assert not any(UNSAFE.search(chr(code)) for code in (0x20, 0xA0, 0xE9, 0x4E2D, 0x1F600))


#: One of each kind, among words: escape sequences (CSI, OSC, 8-bit CSI), C0, DEL, C1,
#: bidi override and isolate, zero-width space and joiner, word joiner, BOM, soft hyphen,
#: interlinear annotation, a tag character, and line breaks of every sort.
HOSTILE = (
    "Re:\x1b[2J offer\x1b]0;pwned\x07 \x9b31mred\x00\x7f\x85now \u202eevil\u202c "
    "\u2066iso\u2069 zero\u200bwidth\u200djoin\u2060er\ufeff soft\xadhyphen "
    "\ufff9note\ufffb tag\U000e0041s\r\nnext\u2028line\x0bvt\x0cff\ttab"
)


def unsafe_in(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in UNSAFE_CATEGORIES]


def test_one_line_drops_every_unsafe_character_and_keeps_the_words() -> None:
    line = one_line(HOSTILE)
    assert unsafe_in(line) == []
    assert line == (
        "Re: offer red now evil iso zerowidthjoiner softhyphen note tags next line vt ff tab"
    )


def test_clean_keeps_lines_and_tabs_only_when_asked() -> None:
    assert clean("a\r\nb\rc\u2028d\x85e\tf") == "a b c d e f"
    assert clean("a\r\nb\rc\u2028d\x85e\tf\n", multiline=True) == "a\nb\nc\nd\ne\tf\n"
    assert unsafe_in(clean(HOSTILE)) == []
    assert set(unsafe_in(clean(HOSTILE, multiline=True))) == {"U+000A", "U+0009"}


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("what the connectors store", lambda t: clean_text(t, 500)),
        ("a description", lambda t: clean_multiline(t, 8000)),
        ("the terminal", views_clean),
        ("a terminal, many lines", lambda t: views_clean(t, multiline=True)),
        ("a feed's text", plain_text),
        ("a CSV cell", lambda t: to_csv([{"subject": t}]).decode()),
    ],
)
def test_every_reader_of_outside_text_uses_the_same_definition(name: str, cleaned: object) -> None:
    assert callable(cleaned)
    out = cleaned(HOSTILE)
    left = [c for c in unsafe_in(out) if c not in ("U+000A", "U+0009")]  # lines, tabs
    assert left == [], name
    assert "[2J" not in out and "pwned" not in out and "31m" not in out, name
    for word in ("offer", "evil", "zerowidthjoiner", "softhyphen", "tags", "tab"):
        assert word in out, (name, word)


def test_the_connectors_drop_a_whole_escape_sequence_and_separate_words_at_line_breaks() -> None:
    assert clean_text("\x1b[2JJane\x07 \u202eDoe\u2069", 200) == "Jane Doe"
    assert clean_text("Jane\r\nBcc: evil@x", 200) == "Jane Bcc: evil@x"
    assert clean_multiline("Line one\r\nLine two\x1b[2J\u2028three", 100) == (
        "Line one\nLine two\nthree"
    )


def test_json_keeps_what_was_received_escaped() -> None:
    text = to_json({"subject": HOSTILE})
    assert unsafe_in(text.replace("\n", "")) == []
    assert json.loads(text) == {"subject": HOSTILE}
    assert "\\u200b" in text and "\\udb40\\udc41" in text  # beyond the BMP: a surrogate pair
    assert escape_json('"caf\u00e9 \u4e2d"') == '"caf\u00e9 \u4e2d"'  # text that reads stays


def test_a_feed_link_with_any_unsafe_character_is_refused() -> None:
    assert safe_link("https://jobs.example/offer?id=1") == "https://jobs.example/offer?id=1"
    for bad in ("\x85", "\u202e", "\u200b", "\x9b", "\t", "\u2028"):
        assert safe_link(f"https://jobs.example/of{bad}fer") is None, repr(bad)
