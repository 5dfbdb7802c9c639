"""Text from outside made safe: the one definition of an unsafe character, and the ways
each reader needs it gone.

Anyone can send the user mail, an invitation or a feed, so a name, a subject or a
description may carry what acts instead of reading: an escape sequence (colours, cursor
moves, a window title, a hyperlink), a control character (a CR/LF splits the header built
from it), a bidi override or isolate (Trojan Source: text reads otherwise than it is), a
zero-width or invisible formatting character (two names that look the same and are not;
text hidden in tag characters). Unsafe is every character of the Unicode categories Cc
(controls: C0, DEL, C1), Cf (format: bidi controls and marks, zero-width characters, the
BOM, tags...), Zl and Zp (the line and paragraph separators).

- `clean`: for a terminal or a CSV cell; escape sequences out, unsafe characters out, line
  breaks one space (or kept as newlines, with tabs, for a multi-line text).
- `one_line`: for what is stored and put in a header; `clean`, then runs of white space one.
- `escape_json`: for JSON text, which keeps what was received: the unsafe characters that
  `json.dumps` leaves raw written as escapes.

A leaf: it imports nothing of pursuit.
"""

from __future__ import annotations

import re

# Every character of the categories Cc, Cf, Zl and Zp (Unicode 14; a test keeps it whole,
# and characters a later Unicode assigns to them there are added here).
UNSAFE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F),  # C0 controls
    (0x007F, 0x009F),  # DEL, C1 controls
    (0x00AD, 0x00AD),  # soft hyphen
    (0x0600, 0x0605),  # Arabic number signs
    (0x061C, 0x061C),  # Arabic letter mark
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; LRM, RLM
    (0x2028, 0x202E),  # line and paragraph separators; bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates; deprecated format characters
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),  # Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0001, 0xE0001),  # language tag
    (0xE0020, 0xE007F),  # tag characters
)


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )


#: One unsafe character.
UNSAFE = re.compile(f"[{_char_class(UNSAFE_RANGES)}]")

# Escape sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks), DCS/SOS/PM/APC
# strings, two-character escapes, and the 8-bit CSI; each goes whole, not only its ESC.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
)
# What ends a line (as str.splitlines has it): CRLF, LF, CR, VT, FF, FS, GS, RS, NEL, LS, PS.
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")

# On one line, a line break or a tab is a space (it separated words).
_SPACES = re.compile("\r\n|[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _without(ranges: tuple[tuple[int, int], ...], kept: str) -> tuple[tuple[int, int], ...]:
    """`ranges` less the characters of `kept`."""
    out: list[tuple[int, int]] = []
    for low, high in ranges:
        start = low
        for code in sorted(ord(c) for c in kept if low <= ord(c) <= high):
            if start < code:
                out.append((start, code - 1))
            start = code + 1
        if start <= high:
            out.append((start, high))
    return tuple(out)


_UNSAFE_BUT_LINES = re.compile(f"[{_char_class(_without(UNSAFE_RANGES, chr(9) + chr(10)))}]")
# json.dumps escapes C0 controls itself (and must keep its own newlines); the rest of the
# unsafe characters it leaves raw when ensure_ascii is off.
_JSON_UNSAFE = re.compile(f"[{_char_class(UNSAFE_RANGES[1:])}]")


def clean(text: str, *, multiline: bool = False) -> str:
    """`text` without escape sequences or unsafe characters; line breaks become spaces,
    unless `multiline`, which keeps them (as newlines) and tabs."""
    text = _ESCAPES.sub("", text)
    if multiline:
        return _UNSAFE_BUT_LINES.sub("", _LINE_BREAKS.sub("\n", text))
    return UNSAFE.sub("", _SPACES.sub(" ", text))


def one_line(text: str) -> str:
    """`clean`, then every run of white space one space, none at either end."""
    return " ".join(clean(text).split())


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: JSON writes it as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def escape_json(dumped: str) -> str:
    """JSON text from `json.dumps(..., ensure_ascii=False)` with every unsafe character
    written as an escape: the same data, safe to print."""
    return _JSON_UNSAFE.sub(lambda m: _json_escape(m[0]), dumped)
