"""Citation post-processing, streamed and whole: a reader never sees a citation to a missing source."""

from __future__ import annotations

import pytest

from rag.citations import CitationFilter, attribute, clean_citations


def test_citations_to_missing_sources_are_dropped():
    text, cited = clean_citations("It is 45 days [1][7] and [2, 9]. See [a].", source_count=2)
    assert text == "It is 45 days [1] and [2]. See [a]."
    assert cited == [1, 2]


@pytest.mark.parametrize("cut", range(1, 12))
def test_streamed_text_equals_the_final_text_wherever_tokens_split(cut):
    answer = "Ships in 2 days [1][5], costs $12 [2]."
    seen: list[str] = []
    stream = CitationFilter(2, seen.append)
    stream.feed(answer[:cut])
    stream.feed(answer[cut:])
    final = stream.close()
    assert final == "Ships in 2 days [1], costs $12 [2]."
    assert "".join(seen) == final
    assert stream.cited == [1, 2]


def test_an_unclosed_bracket_at_the_end_is_kept():
    stream = CitationFilter(3)
    stream.feed("see [2")
    assert stream.close() == "see [2"


def test_attribution_names_the_source_the_answer_repeats():
    sources = ["Shipping takes 3 days.", "You can return any Sense within 45 days of delivery."]
    assert attribute("You can return it within 45 days.", sources) == 2
    assert attribute("Nothing in common here.", sources) is None
