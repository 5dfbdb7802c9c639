"""Issue 14, bad input: mail nobody would write on purpose, through the path a message
really takes (the connector's parsing, the matcher, the store).

CPython's own email test corpus goes through the IMAP connector's parsing in process,
then into a real Dovecot and `pursuit run --once`, and through the Gmail emulator.
Hypothesis then writes headers (encoded words in odd charsets, control and bidi
characters, 8-bit bytes, huge values, missing fields): a message is stored, ignored
or skipped as one `ItemError`, never anything else, and no stored text holds a
control character. PURSUIT_RELIABILITY=full runs many more examples.
"""

from __future__ import annotations

import base64
import email.utils
import json
import quopri
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.cli import Pursuit
from support.dovecot import PASSWORD, USER, Dovecot
from support.google_emulator import GoogleEmulator
from support.mail_input import FORBIDDEN, email_corpus, fetch_answer
from support.reliability import scale

from pursuit.connectors import gmail, imap
from pursuit.connectors.base import MailMessage
from pursuit.daemon.errors import ItemError
from pursuit.daemon.mail import store_messages
from pursuit.daemon.matcher import domain_of
from pursuit.daemon.store import Store

pytestmark = pytest.mark.reliability

ME = "sam.seeker@home.example"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
#: Domains of senders in the corpus, each an organization the user tracks.
CORPUS_ORGANIZATIONS = {
    "Python Software": "python.org",
    "Digicool": "digicool.com",
    "DDD Corp": "ddd.com",
    "Dom Ain": "dom.ain",
}
#: One date for every copy of the corpus: a message without a Message-ID is known by
#: its headers, Date included.
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def recent(raw: bytes) -> bytes:
    """The corpus message as if sent yesterday: its Date header (written from 1999 on,
    older than any first sync looks back) replaced, every other byte as it is."""
    when = email.utils.format_datetime(YESTERDAY).encode()
    return re.sub(rb"(?im)^Date:[^\r\n]*(\r?\n[ \t][^\r\n]*)*", b"Date: " + when, raw, count=1)


def tracked_store(organizations: dict[str, str]) -> tuple[Store, dict[str, int]]:
    store = Store.open(":memory:")
    ids = {
        domain: store.add_organization(name, [domain], now=NOW).id
        for name, domain in organizations.items()
    }
    return store, ids


def text_of(message: MailMessage) -> list[str]:
    """Every piece of text the connector hands the core."""
    people = [message.sender, *message.to, *message.cc, *message.reply_to]
    return [
        message.subject,
        message.snippet,
        message.message_id,
        message.thread or "",
        *(p.name for p in people if p),
        *(p.email for p in people if p),
        *(value for _, value in message.headers),
    ]


def assert_clean(texts: list[str]) -> None:
    for text in texts:
        assert not FORBIDDEN.search(text), repr(text)


def assert_stored_text_is_clean(store: Store) -> None:
    for row in store.correspondence():
        assert_clean([row.subject, row.snippet, *row.people])
    for contact in store.contacts():
        assert_clean([contact.name, *contact.addresses])


# ------------------------------------------------------------------ the corpus


def test_every_message_of_the_email_corpus_is_parsed_matched_and_stored_or_skipped() -> None:
    store, orgs = tracked_store(CORPUS_ORGANIZATIONS)
    parsed: list[MailMessage] = []
    refused: list[str] = []
    for n, path in enumerate(email_corpus()):
        try:
            parsed.append(imap.parse(fetch_answer(path.read_bytes(), NOW), f"INBOX/1/{n}", False))
        except ItemError as exc:
            assert str(exc).startswith(f"imap: message INBOX/1/{n} skipped: "), exc
            refused.append(path.name)
    assert len(parsed) >= 40, f"most of the corpus is usable mail; refused: {refused}"
    for message in parsed:
        assert_clean(text_of(message))
    logged = store_messages(store, parsed, ME, NOW)

    from_tracked = {
        m.message_id
        for m in parsed
        if m.sender and domain_of(m.sender.email) in orgs and not m.outgoing
    }
    assert len(from_tracked) >= 10
    rows = {row.message_id: row for row in store.correspondence()}
    assert logged == len(rows) >= len(from_tracked)
    for message in parsed:
        if message.message_id in from_tracked:
            assert message.sender is not None
            row = rows[message.message_id]
            assert row.organization_id == orgs[domain_of(message.sender.email)], message
    assert store.skipped() == [], "every parsed corpus message is logged or ignored"
    assert_stored_text_is_clean(store)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


def corpus_config(mail_section: str) -> str:
    organizations = "".join(
        f'[[organization]]\nname = "{name}"\ndomains = ["{domain}"]\n'
        for name, domain in CORPUS_ORGANIZATIONS.items()
    )
    return f"[feeds]\nnews_search = false\n{mail_section}\n{organizations}"


def logged_by_organization(p: Pursuit) -> set[tuple[str, str]]:
    """(organization, subject) of the correspondence pursuit logged."""
    return {(m["organization"], m["subject"]) for m in p.export()["correspondence"]}


def expected_from_corpus() -> set[tuple[str, str]]:
    """(organization, subject) of the corpus messages from a tracked domain, as the
    in-process parsing reads them: the runs through a real mailbox must log them all."""
    names = {domain: name for name, domain in CORPUS_ORGANIZATIONS.items()}
    expected: set[tuple[str, str]] = set()
    for n, path in enumerate(email_corpus()):
        try:
            answer = fetch_answer(recent(path.read_bytes()), datetime.now(UTC))
            message = imap.parse(answer, f"x/{n}", False)
        except ItemError:
            continue
        if message.sender and domain_of(message.sender.email) in names:
            expected.add((names[domain_of(message.sender.email)], message.subject))
    return expected


def check_run(p: Pursuit) -> None:
    """One `run --once`: no traceback; the corpus mail from tracked domains logged
    under its organization; `doctor` runs and names any skipped item's reason."""
    result = p.run("run", "--once")
    assert "Traceback" not in result.err + result.out, str(result)
    assert result.code == 0, str(result)
    expected = expected_from_corpus()
    assert len(expected) >= 10
    assert expected <= logged_by_organization(p)
    doctor = p.run("doctor", "--json")
    assert "Traceback" not in doctor.err + doctor.out, str(doctor)
    report = json.loads(doctor.out)
    for item in report.get("skipped", []):
        assert item["last_error"], item  # every skipped item says why


def test_the_email_corpus_in_a_real_imap_mailbox_through_pursuit_run(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    for path in email_corpus():
        dovecot.append(
            "INBOX", recent(path.read_bytes()), when=datetime.now(UTC) - timedelta(days=1)
        )
    imap_section = (
        f'[imap]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
        f'username = "{USER}"\npassword_command = "echo {PASSWORD}"\n'
    )
    check_run(Pursuit(tmp_path, config=corpus_config(imap_section)))


def test_the_email_corpus_through_the_gmail_emulator_and_pursuit_run(tmp_path: Path) -> None:
    with GoogleEmulator(user_email=ME) as emu:
        when = datetime.now(UTC) - timedelta(days=1)
        for path in email_corpus():
            emu.add_message(recent(path.read_bytes()), internal_date=when)
        token = tmp_path / "token" / "google.json"
        token.parent.mkdir(mode=0o700)
        emu.write_authorized_user_file(str(token))
        google = (
            f'[google]\ncredentials_file = "{token}"\n'
            f'api_endpoint = "{emu.base_url}"\ntoken_uri = "{emu.token_uri}"\n'
        )
        check_run(Pursuit(tmp_path, config=corpus_config(google)))


# ------------------------------------------------------------------ generated headers

TRACKED = "acme.com"
#: Text a stranger may put anywhere: controls, bidi, separators, surrogate-free unicode.
HOSTILE_CHARS = st.characters(codec="utf-8") | st.sampled_from(
    ["\x00", "\r", "\n", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\u2066", "\ufeff", "\t"]
)
hostile_text = st.text(HOSTILE_CHARS, max_size=60)
huge_text = st.builds(lambda t, n: (t or "x") * n, hostile_text, st.integers(100, 5000))
CHARSETS = [
    "utf-8",
    "iso-8859-1",
    "koi8-r",
    "shift_jis",
    "utf-7",
    "utf-16",
    "x-bogus",
    "",
    "us-ascii",
]


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    """An RFC 2047 encoded word, well-formed or not, in a charset that may not exist."""
    charset = draw(st.sampled_from(CHARSETS))
    payload = draw(
        st.one_of(
            hostile_text.map(lambda t: t.encode("utf-8")),
            st.binary(max_size=40),
        )
    )
    if draw(st.booleans()):
        data = base64.b64encode(payload)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]  # bad padding
        return b"=?" + charset.encode() + b"?B?" + data + b"?="
    return b"=?" + charset.encode() + b"?Q?" + quopri.encodestring(payload, header=True) + b"?="


header_value = st.one_of(
    hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=80),  # 8-bit, not UTF-8
    encoded_word(),
    st.lists(encoded_word(), min_size=2, max_size=4).map(b" ".join),
    huge_text.map(lambda t: t.encode("utf-8")),
)
local_part = st.sampled_from(["jane", "Jane.Doe", "j+x", '"odd guy"', ""]) | st.from_regex(
    r"[a-z0-9._%+-]{1,20}", fullmatch=True
)
domain = st.sampled_from(
    [TRACKED, "ACME.COM", "elsewhere.example", "bücher.de", "xn--bcher-kva.de", ""]
)


@st.composite
def address(draw: st.DrawFn) -> bytes:
    name: bytes = draw(st.one_of(st.just(b""), header_value))
    addr: bytes = f"{draw(local_part)}@{draw(domain)}".encode()
    form = draw(st.sampled_from(["plain", "angle", "quoted", "comment", "group", "raw"]))
    if form == "plain":
        return addr
    if form == "angle":
        return name + b" <" + addr + b">"
    if form == "quoted":
        return b'"' + name.replace(b'"', b"") + b'" <' + addr + b">"
    if form == "comment":
        return addr + b" (" + name + b")"
    if form == "group":
        return b"Team: " + addr + b", " + name + b";"
    return name


address_list = st.lists(address(), min_size=0, max_size=4).map(b", ".join) | header_value
date_value = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: email.utils.format_datetime(d).encode()),
    st.sampled_from(
        [b"Mon, 32 Foo 2026 25:61:61 +9999", b"yesterday", b"0", b"Tue, 1 Jan 10000 00:00:00 +0000"]
    ),
    header_value,
)
message_id = st.one_of(
    st.from_regex(r"<[a-z0-9.]{1,30}@[a-z.]{1,20}>", fullmatch=True).map(str.encode),
    header_value,
)
FIELDS: dict[str, st.SearchStrategy[bytes]] = {
    "From": address_list,
    "To": address_list,
    "Cc": address_list,
    "Reply-To": address_list,
    "Subject": header_value,
    "Date": date_value,
    "Message-ID": message_id,
    "In-Reply-To": message_id,
    "References": st.lists(message_id, max_size=3).map(b" ".join),
    "List-Id": header_value,
    "Auto-Submitted": st.sampled_from([b"no", b"auto-replied"]) | header_value,
    "Content-Type": st.sampled_from(
        [b"text/plain; charset=x-bogus", b"multipart/mixed; boundary=", b"text/html", b"\xff"]
    )
    | header_value,
    "Content-Transfer-Encoding": st.sampled_from([b"base64", b"quoted-printable", b"8bit", b"x"]),
}


@st.composite
def raw_message(draw: st.DrawFn) -> bytes:
    """A message with any of the fields the connector reads (each maybe missing, maybe
    twice, names in any case, values maybe folded), and a short hostile body."""
    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=12))
    lines: list[bytes] = []
    for name in names:
        value = draw(FIELDS[name])
        if draw(st.booleans()) and len(value) > 10:
            at = draw(st.integers(1, len(value) - 1))
            value = value[:at] + b"\r\n " + value[at:]  # folded
        shown = draw(st.sampled_from([name, name.lower(), name.upper()]))
        lines.append(shown.encode() + b": " + value)
    body = draw(st.binary(max_size=300) | hostile_text.map(str.encode))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def a_tracked_sender(message: MailMessage) -> bool:
    return message.sender is not None and domain_of(message.sender.email) == TRACKED


def through_the_core(message: MailMessage) -> None:
    """The parsed message into a store tracking acme.com: logged under Acme when its
    sender is there (mail received: a sent message is logged by its recipients), never
    an exception, no control character stored."""
    store, orgs = tracked_store({"Acme": TRACKED})
    store_messages(store, [message], ME, NOW)
    rows = store.correspondence()
    sender = message.sender
    if a_tracked_sender(message) and sender and sender.email != ME and not message.outgoing:
        assert [r.organization_id for r in rows] == [orgs[TRACKED]], (message, store.skipped())
    assert_stored_text_is_clean(store)
    for skipped in store.skipped():
        assert_clean([skipped.last_item or "", skipped.last_error or ""])
    store.close()


@settings(
    max_examples=scale(200, 5000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=raw_message())
@example(raw=b"From: Jane <jane@acme.com>\r\nSubject: =?x-bogus?B?/w==?=\r\n\r\nhi")
@example(raw=b"From: \xff\xfe <jane@acme.com>\r\nDate: Tue, 1 Jan 10000 00:00:00 +0000\r\n\r\n")
@example(raw=b"From: jane@acme.com\r\nSubject: a\x1b[31mred\xe2\x80\xae\r\n\r\n")
# found by this test: a bad base64 encoded word in any header stopped the whole IMAP sync
@example(raw=b"Cc: jane@acme.com\r\nAuto-Submitted: =??B?+?=\r\n\r\n")
# found by this test: In-Reply-To (the thread) and Message-ID were stored uncleaned
@example(raw=b"In-Reply-To: 0\x1f0\r\nCc: jane@acme.com\r\n\r\n")
@example(raw=b"Message-ID: <a\x1b[2Jb@x>\r\nFrom: jane@acme.com\r\n\r\n")
# found by this test: an address itself was stored with its control characters
@example(raw=b"Cc: @\x08\r\n\r\n")
def test_generated_headers_through_the_imap_parsing_matcher_and_store(raw: bytes) -> None:
    try:
        message = imap.parse(fetch_answer(raw, NOW), "INBOX/1/7", False)
    except ItemError as exc:
        assert str(exc).startswith("imap: message INBOX/1/7 skipped: "), exc
        assert "\n" not in str(exc)
        return
    assert_clean(text_of(message))
    through_the_core(message)


@st.composite
def gmail_resource(draw: st.DrawFn) -> dict[str, Any]:
    """A ``messages.get(format=metadata)`` answer: Gmail hands header values decoded,
    so any unicode (controls, bidi, separators) may be in them."""
    text = st.one_of(
        hostile_text,
        huge_text,
        address().map(lambda b: b.decode("utf-8", "replace")),
    )
    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=12))
    headers = [
        {"name": draw(st.sampled_from([n, n.lower(), n.upper()])), "value": draw(text)}
        for n in names
    ]
    internal = draw(st.one_of(st.none(), st.integers(-(10**15), 10**15), st.just("x")))
    return {
        "id": "g1",
        "threadId": draw(st.one_of(st.none(), st.just("t1"))),
        "labelIds": draw(st.lists(st.sampled_from(["INBOX", "SENT", "SPAM", "DRAFT"]), max_size=2)),
        "internalDate": internal,
        "snippet": draw(hostile_text),
        "payload": {"headers": headers},
    }


@settings(
    max_examples=scale(200, 5000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(resource=gmail_resource())
# found by this test: a sent message from a tracked address, to nobody, is logged by nobody
@example(
    resource={
        "id": "g1",
        "labelIds": ["SENT"],
        "internalDate": 0,
        "snippet": "",
        "payload": {"headers": [{"name": "From", "value": "@ACME.COM"}]},
    }
)
def test_generated_headers_through_the_gmail_parsing_matcher_and_store(
    resource: dict[str, Any],
) -> None:
    try:
        message = gmail.parse(resource)
    except ItemError as exc:
        assert str(exc).startswith("gmail: message g1 skipped: "), exc
        return
    if message is None:
        return  # spam, trash, drafts: not correspondence
    assert_clean(text_of(message))
    through_the_core(message)
