"""Answer post-processing: citations that point at real sources, also while tokens stream."""

from __future__ import annotations

import re
from collections.abc import Callable

MARKER_CHARS = frozenset("0123456789, ")


class CitationFilter:
    """Passes streamed text through, holding back a `[...]` until it closes, so that a marker
    naming no source is dropped before anyone sees it. The text it emits is the final answer.
    """

    def __init__(self, source_count: int, emit: Callable[[str], None] | None = None) -> None:
        self.source_count = source_count
        self.cited: list[int] = []
        self._emit = emit
        self._parts: list[str] = []
        self._held = ""

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, piece: str) -> None:
        out = []
        for char in piece:
            if self._held:
                self._held += char
                if char == "]":
                    out.append(self._resolve(self._held))
                    self._held = ""
                elif char not in MARKER_CHARS:
                    out.append(self._held)  # not a citation after all
                    self._held = ""
            elif char == "[":
                self._held = char
            else:
                out.append(char)
        self._send("".join(out))

    def close(self) -> str:
        self._send(self._held)
        self._held = ""
        return self.text

    def _resolve(self, marker: str) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", marker)]
        valid = [n for n in numbers if 1 <= n <= self.source_count]
        if not numbers:
            return marker  # "[]" or "[ , ]": not ours to judge
        self.cited.extend(n for n in valid if n not in self.cited)
        return "[" + ", ".join(map(str, valid)) + "]" if valid else ""

    def _send(self, text: str) -> None:
        if text:
            self._parts.append(text)
            if self._emit:
                self._emit(text)


def clean_citations(answer: str, source_count: int) -> tuple[str, list[int]]:
    """Drop `[n]` markers that name no source; return the text and the cited numbers in order."""
    citations = CitationFilter(source_count)
    citations.feed(answer)
    return citations.close(), citations.cited


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
