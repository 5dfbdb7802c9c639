"""People and addresses as the user types them: checked once, at the door.

An address is kept as typed (lower-cased), internationalised domains included
(jane@bücher.de); mail may carry the same address in its ASCII form
(jane@xn--bcher-kva.de), so lookups compare `ascii_address` of both sides.
"""

from __future__ import annotations

import re
import unicodedata

from pursuit.daemon.errors import UserError

_NAME_AND_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>]*)>\s*$", re.S)
_LOCAL_PART = re.compile(r"[^\s@<>()\[\],;:\"\\]+")
_ASCII_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def ascii_domain(domain: str) -> str:
    """The domain's ASCII (punycode) form: 'bücher.de' -> 'xn--bcher-kva.de'.

    Raises ValueError when it is not a domain at all.
    """
    cleaned = domain.strip().lower().lstrip("@").removesuffix(".")
    labels = cleaned.split(".")
    if len(labels) < 2 or not all(labels):
        raise ValueError("expected a mail domain such as acme.com")
    ascii_labels = []
    for label in labels:
        if label.isascii():
            ascii_label = label
        else:
            try:
                ascii_label = label.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"{label!r} is not a valid domain label") from None
        if not _ASCII_LABEL.fullmatch(ascii_label):
            raise ValueError("expected a mail domain such as acme.com")
        ascii_labels.append(ascii_label)
    return ".".join(ascii_labels)


def other_form(address: str) -> str | None:
    """The same address with its domain in the other form (Unicode <-> ASCII), if any."""
    local, _, domain = address.rpartition("@")
    try:
        ascii_form = ascii_domain(domain)
    except ValueError:
        return None
    if ascii_form != domain:
        return f"{local}@{ascii_form}"
    if "xn--" not in domain:
        return None
    try:
        unicode_form = domain.encode("ascii").decode("idna")
    except UnicodeError:
        return None
    return f"{local}@{unicode_form}" if unicode_form != domain else None


def ascii_address(address: str) -> str:
    """One form for comparing: lower-cased, the domain in ASCII (when it is a domain)."""
    local, _, domain = address.strip().lower().rpartition("@")
    try:
        return f"{local}@{ascii_domain(domain)}"
    except ValueError:
        return f"{local}@{domain}"


def check_address(text: str, what: str = "address", shown: str | None = None) -> str:
    """A mail address as typed, lower-cased; anything that is not one is refused,
    naming `shown` (default: the text)."""
    address = text.strip().lower()
    local, at, domain = address.rpartition("@")
    problem = None
    if not at or not local or not domain or not _LOCAL_PART.fullmatch(local):
        problem = "expected an address such as jane@acme.com"
    else:
        try:
            ascii_domain(domain)
        except ValueError as exc:
            problem = f"the domain {domain!r}: {exc}"
    if problem:
        raise UserError(f"{what} {shown or repr(text)} is not a mail address: {problem}")
    return address


def check_name(text: str, what: str = "name") -> str:
    """A name on one line: control characters (a newline, a tab, a bidi override) refused."""
    bad = [
        c
        for c in text
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\u200c\u200d"
    ]
    if bad:
        shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad}))
        raise UserError(
            f"{what} {text!r} contains control characters ({shown}); type it on one line"
        )
    return text.strip()


def parse_person(text: str, what: str = "--with") -> tuple[str, str]:
    """'Jane Doe <jane@acme.com>', '"Doe, Jane" <jd@acme.com>', 'Doe, Jane <jd@acme.com>'
    or a bare address -> (name, address). One person per value: a comma in the name is
    part of the name."""
    found = _NAME_AND_ADDRESS.match(text.strip())
    if found:
        name = found["name"].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').strip()
        raw_address = found["address"]
    else:
        name, raw_address = "", text
    if not raw_address.strip():
        raise UserError(f'{what} {text!r}: expected "Name <address@example.com>" or an address')
    return check_name(name, f"{what} name"), check_address(raw_address, what, repr(text))
