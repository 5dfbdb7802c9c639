"""People and addresses as the user types them: checked once, at the door.

An address is kept as typed (lower-cased), internationalised domains included
(jane@bücher.de); mail may carry the same address in its ASCII form
(jane@xn--bcher-kva.de), so lookups compare `ascii_address` of both sides.
"""

from __future__ import annotations

import re
import unicodedata
from contextlib import suppress
from email import message_from_string
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.policy import default as default_policy

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


# --- names as a letter uses them

#: Words before a given name that are not it ("Dr. Jane Doe": Jane).
_TITLES = frozenset(("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor"))
#: What may follow a name after a comma ("Jane Doe, PhD"), unlike a given name
#: ("Doe, Jane"). Compared without dots: Ph.D. is phd.
_SUFFIX = re.compile(r"jr|sr|ii|iii|iv|phd|md|mba|msc|bsc|ma|ba|esq|cpa|cfa|pmp|pe|rn|dds|ceng")
_ASIDES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")  # "Doe, Jane (Contractor)", "[ACME]"


def _is_suffix(part: str) -> bool:
    words = part.replace(".", "").casefold().split()
    return bool(words) and all(_SUFFIX.fullmatch(w) for w in words)


def first_name(name: str, address: str) -> str:
    """The name a letter greets: "Jane" for "Jane Doe", "Doe, Jane" (as Outlook writes
    names), "Dr. Jane Doe", "Jane Doe, PhD" or "Doe, Jane (Contractor)"; the address's
    local part when there is no name."""
    parts = [p.strip() for p in _ASIDES.sub(" ", header_name(name)).split(",")]
    parts = [p for p in parts if p and not _is_suffix(p)]
    reversed_order = len(parts) > 1  # "Doe, Jane": the given name after the comma
    words = (parts[1] if reversed_order else parts[0] if parts else "").split()
    if len(words) > 1 and words[0].replace(".", "").casefold() in _TITLES:
        if len(words) == 2 and not reversed_order:
            return " ".join(words)  # "Dr. Doe": no given name, the title and the name
        words.pop(0)
    return words[0] if words else address.partition("@")[0]


# --- a person in a mail header

#: What a name is made of besides letters, digits and marks: "O'Brien, Sean (Contractor)".
_NAME_PUNCTUATION = frozenset(" .-',()\u2019")
#: A name longer than this in a header is cut: a header line has a length.
NAME_IN_HEADER_AT_MOST = 64
#: A message to or from an address whose local part is not ASCII (jörg@) is an RFC 6532
#: message: its headers in UTF-8. Python writes such a local part as an encoded word otherwise,
#: which no server reads as an address.
UTF8_HEADERS = default_policy.clone(utf8=True)


def header_name(name: str) -> str:
    """An outside name as a header shows it: the letters, digits, marks, spaces and the
    punctuation of names (.-',() and ’) alone, on one line; a word with an @ is an
    address, not a name. An angle bracket, an @ or a quote from outside never reaches a
    header, even inside quotes."""
    name = " ".join(word for word in name.split() if "@" not in word)  # an address is no name
    kept = "".join(
        c if c.isalnum() or c in _NAME_PUNCTUATION or unicodedata.category(c)[0] == "M" else " "
        for c in name
    )
    return " ".join(kept.split())[:NAME_IN_HEADER_AT_MOST].strip()


def natural_order(name: str) -> str:
    """The name "O'Brien, Sean" as "Sean O'Brien"; a name with no comma, or a comma before a
    suffix ("Jane Doe, PhD"), as it is. Parentheses and brackets are dropped."""
    parts = [" ".join(p.split()) for p in _ASIDES.sub(" ", name).split(",")]
    parts = [p for p in parts if p]
    if len(parts) > 1 and not _is_suffix(parts[1]):
        parts = [parts[1], parts[0], *parts[2:]]
    kept = " ".join(parts)
    return " ".join("".join(c for c in kept if c not in ",()").split())


def mail_policy(*addresses: str) -> EmailPolicy[EmailMessage]:
    """The policy of a message between these addresses (see `UTF8_HEADERS`)."""
    ascii_only = all(a.partition("@")[0].isascii() for a in addresses)
    return default_policy if ascii_only else UTF8_HEADERS


def mailbox(name: str, address: str) -> str:
    """One person in a To or From header: 'Jane Doe <jane@acme.com>',
    '"O'Brien, Sean" <sean@acme.com>' with the name kept whole, the domain in its ASCII
    form (jane@xn--bcher-kva.de) as a header needs it.

    Python's email folding (policy.default) drops the quotes of a quoted name too long
    for one line, and its "," then reads as the end of a recipient: "O'Brien" would be
    a second one. So the header is folded as the message will be and read back: a name
    that does not come back whole, as the one recipient, is written in its natural
    order without a comma ("Sean O'Brien"); failing that, the address goes alone.
    """
    local, _, domain = address.strip().rpartition("@")
    with suppress(ValueError):  # checked where it was typed or read; else kept as it is
        domain = ascii_domain(domain)
    addr_spec = f"{local}@{domain}"
    policy = mail_policy(addr_spec)
    shown = header_name(name)
    for candidate in dict.fromkeys((shown, natural_order(shown))):
        if candidate:
            value = f"{_quoted(candidate)} <{addr_spec}>"
            if _reads_back(value, candidate, addr_spec, policy):
                return value
    return addr_spec


def _quoted(name: str) -> str:
    """A name as a header phrase: quoted when it holds what an atom may not (, . ( ))."""
    if all(c.isalnum() or c in " -'\u2019" or unicodedata.category(c)[0] == "M" for c in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reads_back(value: str, name: str, addr_spec: str, policy: EmailPolicy[EmailMessage]) -> bool:
    """Whether the header VALUE, folded by POLICY as a message is written, is read back
    as exactly one recipient with this name and address."""
    message = EmailMessage(policy=policy)
    try:
        message["To"] = value
        written = message.as_bytes().decode("utf-8")
        header = message_from_string(written, policy=policy)["To"]
        [person] = header.addresses if isinstance(header, AddressHeader) else ()
    except Exception:  # whatever the parser trips on, the value is not kept
        return False
    # Python reads a space between two encoded words of a long name: not a difference.
    same_name = person.display_name.split() == name.split() or "".join(
        person.display_name.split()
    ) == "".join(name.split())
    return bool(same_name and person.addr_spec == addr_spec)
