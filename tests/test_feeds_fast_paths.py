"""Shortcuts taken for speed (issue 20) give what the long way gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

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
