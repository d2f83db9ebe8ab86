"""Answer post-processing: keep only citations that point at a real source."""

from __future__ import annotations

import re

CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def clean_citations(answer: str, source_count: int) -> tuple[str, list[int]]:
    """Drop `[n]` markers that name no source; return the text and the cited numbers in order."""
    cited: list[int] = []

    def keep_valid(match: re.Match[str]) -> str:
        numbers = [int(n) for n in match.group(1).split(",")]
        valid = [n for n in numbers if 1 <= n <= source_count]
        cited.extend(n for n in valid if n not in cited)
        return "[" + ", ".join(map(str, valid)) + "]" if valid else ""

    text = CITATION.sub(keep_valid, answer)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # no space left before punctuation
    return re.sub(r"[ \t]{2,}", " ", text).strip(), cited


WORD = re.compile(r"[a-z0-9][a-z0-9.$%,'-]*[a-z0-9%]|[a-z0-9]")
COMMON = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "is",
        "are",
        "was",
        "be",
        "by",
        "it",
        "its",
        "this",
        "that",
        "at",
        "as",
        "from",
        "you",
        "your",
        "can",
        "will",
        "not",
        "no",
        "yes",
        "if",
        "do",
        "does",
        "has",
        "have",
    ]
)


def attribute(answer: str, sources: list[str], min_overlap: float = 0.5) -> int | None:
    """The 1-based source that the answer's words come from most, when the model cited none.

    Small models often restate a source without marking it; the answer's own
    words show which source it restated.
    """
    words = {w for w in WORD.findall(answer.lower()) if w not in COMMON}
    if not words:
        return None
    overlaps = [len(words & set(WORD.findall(source.lower()))) / len(words) for source in sources]
    best = max(range(len(sources)), key=overlaps.__getitem__, default=None)
    return best + 1 if best is not None and overlaps[best] >= min_overlap else None
