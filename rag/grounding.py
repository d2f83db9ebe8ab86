"""Is every figure and name in an answer found in its sources?

A claim is a number (amount, date, percentage, version, count) or a proper name:
the things a small model invents most and a reader trusts most. Everything else
(wording, order) may differ from the sources.
"""

from __future__ import annotations

import re

from rag.text import STOPWORDS

SENTENCE_START = re.compile(r"(?<=[.!?:])\s+|\n+")
CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
AMOUNT = re.compile(r"([$€£¥])\s?(\d+(?:[.,]\d+)*)")
NAME = re.compile(r"\b[A-Za-z][A-Za-z0-9'\u2019&.-]*[A-Za-z0-9]|\b[A-Z]\b")
# Capitalised words that name nothing (sentence starts, answer phrasing).
PLAIN_WORDS = STOPWORDS | frozenset(["yes", "please", "note", "according", "sources", "source"])


def numbers_in(text: str) -> set[str]:
    """Digit strings, with thousands separators and trailing zeros of decimals taken off."""
    return {_canonical_number(n) for n in NUMBER.findall(text)}


def _canonical_number(number: str) -> str:
    number = re.sub(r"(?<=\d),(?=\d{3}\b)", "", number)
    if re.fullmatch(r"\d+\.\d+", number):
        number = number.rstrip("0").rstrip(".")
    return number


def amounts_in(text: str) -> set[tuple[str, str]]:
    """Money amounts as (currency sign, number): "$159" is not "€159", and "$34.00" is "$34"."""
    return {(sign, _canonical_number(number)) for sign, number in AMOUNT.findall(text)}


def names_in(text: str) -> set[str]:
    """Words that carry a capital letter and are not plain English words, lower-cased.

    A capital at the start of a sentence marks no name ("Contact support"), unless the next
    word is capitalised too ("Jordan Whitfield") or the word has a capital inside ("iPhone", "SKU").
    """
    names = set()
    for sentence in SENTENCE_START.split(text):
        tokens = NAME.findall(sentence)
        for i, word in enumerate(tokens):
            key = word.lower().strip(".")
            if key in PLAIN_WORDS or not any(c.isupper() for c in word):
                continue
            follows = i + 1 < len(tokens) and tokens[i + 1][:1].isupper()
            if i > 0 or follows or any(c.isupper() for c in word[1:]):
                names.add(key)
    return names


def unsupported_claims(answer: str, sources: list[str]) -> list[str]:
    """The numbers and names of `answer` that appear in none of `sources` (citation markers ignored)."""
    answer = CITATION.sub(" ", answer)
    text = " ".join(sources)
    known_numbers = numbers_in(text)
    known_words = {w.lower().strip(".") for w in NAME.findall(text)}
    missing = [n for n in sorted(numbers_in(answer)) if n not in known_numbers and n not in text]
    missing += [sign + n for sign, n in sorted(amounts_in(answer) - amounts_in(text)) if n not in missing]
    missing += [w for w in sorted(names_in(answer)) if w not in known_words]
    return missing
