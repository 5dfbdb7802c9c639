"""Shortcuts taken for speed (issue 20) give what the long way gives."""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.feed_server import FeedServer, Reply
from support.tlscert import self_signed_cert

from pursuit.connectors.feeds import FeedError, FeedSource, client, fetch
from pursuit.connectors.feeds.text import _strip_markup, _TextExtractor


def parsed(value: str) -> str:
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return "".join(parser.parts)


@given(st.text(alphabet=st.characters(blacklist_characters="<&")))
def test_text_without_a_tag_or_an_entity_is_kept_as_the_parser_keeps_it(value: str) -> None:
    assert _strip_markup(value) == parsed(value) == value


@given(st.text(alphabet=st.sampled_from(list("ab <>&;#x3c/lt!?p")), max_size=30))
def test_text_with_markup_still_goes_through_the_parser(value: str) -> None:
    assert _strip_markup(value) == parsed(value)


def ended_by_the_watchdog(seconds: float) -> bool:
    """A read that only the watchdog can end: True when it ended it (within 10 s)."""
    left, right = socket.socketpair()
    with left, right:
        left.settimeout(10)
        deadline = client.Deadline(seconds)
        deadline.start()
        deadline.watch(left)
        try:
            return left.recv(1) == b"" and deadline.expired
        except TimeoutError:
            return False
        finally:
            deadline.cancel()


def test_one_watchdog_ends_the_fetches_whose_time_ran_out_in_a_forked_process_too() -> None:
    assert ended_by_the_watchdog(0.05)  # its thread is running now
    pid = os.fork()
    if pid == 0:  # the child has the watchdog object, not its thread
        os._exit(0 if ended_by_the_watchdog(0.05) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_https_fetches_share_one_tls_context_until_the_trusted_authorities_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each new context reads the system's certificate authorities (25 ms of CPU
    with OpenSSL 3): a poll of 200 HTTPS feeds made 200 of them."""
    cert, key = self_signed_cert(tmp_path)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    made: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(create(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    monkeypatch.setattr(client, "_tls", None)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    feed = (
        b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid></item></channel></rss>'
    )
    with FeedServer(tls=served) as server:
        sources = [
            FeedSource(
                url=server.route(f"/{n}.xml", Reply(body=feed, content_type="application/rss+xml")),
                kind="press",
                format="rss",
                etag=None,
                last_modified=None,
            )
            for n in range(3)
        ]
        assert all(len(fetch(source).items) == 1 for source in sources)
        assert len(made) == 1
        # Another bundle of authorities (SSL_CERT_FILE) is read anew: not trusted now.
        (tmp_path / "other").mkdir()
        other, _ = self_signed_cert(tmp_path / "other")
        monkeypatch.setenv("SSL_CERT_FILE", str(other))
        with pytest.raises(FeedError, match="certificate verification failed"):
            fetch(sources[0])
        assert len(made) == 2
