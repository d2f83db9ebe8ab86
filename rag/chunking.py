"""Token-aware chunking with the embedding model's own tokenizer.

A chunk is embedded as "heading path" + newline + body, and that whole text,
special tokens included, fits the model's word-piece limit, so nothing is ever
silently truncated. Text is split at headings first, then paragraphs, then
sentences (a table: rows, each piece under the table's header), and only a single
over-long sentence is cut by tokens.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from rag.text import TABLE_RULE

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")
PATH_SEPARATOR = " > "
# Bumped whenever the same text would be cut differently, so a knowledge base is re-chunked on its
# next ingest (2: tables cut between rows, under their header).
CHUNKING_VERSION = 2


class Tokenizer(Protocol):
    """The subset of a Hugging Face fast tokenizer the chunker uses."""

    def __call__(self, text: list[str], **kwargs: object) -> dict: ...

    def get_vocab(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Chunk:
    position: int
    heading_path: str
    text: str
    token_count: int  # of `embedding_text`, special tokens included

    @property
    def embedding_text(self) -> str:
        return embedding_text(self.heading_path, self.text)


def embedding_text(heading_path: str, text: str) -> str:
    return f"{heading_path}\n{text}" if heading_path else text


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    joiner: str  # how it attaches to the unit before it: paragraph break or space


class Chunker:
    def __init__(
        self, tokenizer: Tokenizer, max_tokens: int = 200, overlap_tokens: int = 32, special_tokens: int = 2
    ) -> None:
        if overlap_tokens >= max_tokens // 2:
            raise ValueError("overlap must be less than half the chunk size")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.special_tokens = special_tokens  # [CLS] and [SEP] for BERT-style models
        # Token counts are the tokenizer's: another embedding model's vocabulary cuts other chunks.
        vocabulary = "\n".join(sorted(tokenizer.get_vocab()))
        self.vocabulary = hashlib.sha256(vocabulary.encode()).hexdigest()[:12]

    @property
    def signature(self) -> str:
        """What decides how a text is cut: a document chunked under another signature is re-chunked."""
        return f"v{CHUNKING_VERSION}:{self.max_tokens}:{self.overlap_tokens}:{self.vocabulary}"

    def chunk(self, text: str, title: str = "") -> list[Chunk]:
        chunks: list[Chunk] = []
        for path, paragraphs in split_sections(text, title):
            heading_path = PATH_SEPARATOR.join(path)
            budget = self.max_tokens - self.special_tokens - self._count([heading_path + "\n"])[0]
            if budget < 16:
                # Absurdly long headings: keep only the innermost one.
                heading_path = path[-1][:200] if path else ""
                budget = self.max_tokens - self.special_tokens - self._count([heading_path + "\n"])[0]
            for body in self._pack(self._units(paragraphs, budget), budget):
                chunks.append(
                    Chunk(
                        position=len(chunks),
                        heading_path=heading_path,
                        text=body,
                        token_count=self.count_with_specials(embedding_text(heading_path, body)),
                    )
                )
        return chunks

    def count_with_specials(self, text: str) -> int:
        return self._count([text])[0] + self.special_tokens

    def _count(self, texts: list[str]) -> list[int]:
        # verbose=False: counting a long paragraph is not feeding it to the model.
        encoded = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _units(self, paragraphs: list[str], budget: int) -> list[_Unit]:
        """Paragraphs that fit, else their sentences, else token windows of a sentence."""
        units: list[_Unit] = []
        for paragraph, tokens in zip(paragraphs, self._count(paragraphs), strict=True):
            if tokens <= budget:
                units.append(_Unit(paragraph, tokens, "\n\n"))
                continue
            if table := self._table_pieces(paragraph, budget):
                units += table
                continue
            sentences = [s for s in SENTENCE_END.split(paragraph) if s]
            for i, (sentence, s_tokens) in enumerate(zip(sentences, self._count(sentences), strict=True)):
                joiner = "\n\n" if i == 0 else " "
                if s_tokens <= budget:
                    units.append(_Unit(sentence, s_tokens, joiner))
                else:
                    units += [
                        _Unit(piece, n, joiner if j == 0 else " ")
                        for j, (piece, n) in enumerate(self._token_windows(sentence, budget))
                    ]
        return units

    def _table_pieces(self, paragraph: str, budget: int) -> list[_Unit]:
        """A Markdown table too long for one chunk, cut between rows, each piece under the table's
        header: a row alone ("| E24 | Connection to the cloud blocked |") does not say what its
        cells are. [] when the paragraph is no table or one row does not fit with the header."""
        lines = paragraph.splitlines()
        if (
            len(lines) < 3
            or not TABLE_RULE.match(lines[1])
            or not all(line.lstrip().startswith("|") for line in lines)
        ):
            return []
        header = "\n".join(lines[:2])
        header_tokens, *row_tokens = self._count([header, *lines[2:]])
        pieces: list[_Unit] = []
        rows: list[str] = []
        used = header_tokens
        for row, tokens in zip(lines[2:], row_tokens, strict=True):
            if header_tokens + tokens + 1 > budget:
                return []
            if rows and used + tokens + 1 > budget:
                pieces.append(_Unit("\n".join([header, *rows]), used, "\n\n"))
                rows, used = [], header_tokens
            rows.append(row)
            used += tokens + 1
        pieces.append(_Unit("\n".join([header, *rows]), used, "\n\n"))
        return pieces

    def _token_windows(self, sentence: str, budget: int) -> Iterator[tuple[str, int]]:
        """Cut at token boundaries, using offsets so the original characters are kept."""
        offsets = self.tokenizer([sentence], add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ][0]
        for start in range(0, len(offsets), budget):
            window = offsets[start : start + budget]
            piece = sentence[window[0][0] : window[-1][1]].strip()
            if piece:
                yield piece, len(window)

    def _pack(self, units: list[_Unit], budget: int) -> Iterator[str]:
        """Greedily fill chunks; a new chunk starts with the previous one's last sentences."""
        current: list[_Unit] = []
        used = 0
        for unit in units:
            # +1 leaves room for the joiner, which may add a token at a word-piece boundary.
            if current and used + unit.tokens + 1 > budget:
                yield _join(current)
                current = self._overlap(current, budget - unit.tokens - 1)
                used = sum(u.tokens + 1 for u in current)
            current.append(unit)
            used += unit.tokens + 1
        if current:
            yield _join(current)

    def _overlap(self, previous: list[_Unit], room: int) -> list[_Unit]:
        carried: list[_Unit] = []
        total = 0
        for unit in reversed(previous):
            total += unit.tokens + 1
            if total > min(self.overlap_tokens, room):
                break
            carried.insert(0, unit)
        return carried


def _join(units: list[_Unit]) -> str:
    text = units[0].text
    for unit in units[1:]:
        text += unit.joiner + unit.text
    return text.strip()


def split_sections(text: str, title: str = "") -> Iterator[tuple[list[str], list[str]]]:
    """Yield (heading path, paragraphs) for each run of text under one heading."""
    stack: list[tuple[int, str]] = [(0, title)] if title else []
    paragraphs: list[str] = []
    lines: list[str] = []

    def flush_paragraph() -> None:
        if lines:
            paragraphs.append("\n".join(lines).strip())
            lines.clear()

    def path() -> list[str]:
        names = [name for _, name in stack]
        # A document's own H1 usually repeats its title.
        return [n for i, n in enumerate(names) if i == 0 or n.lower() != names[i - 1].lower()]

    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading:
            flush_paragraph()
            if paragraphs:
                yield path(), paragraphs
                paragraphs = []
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading.group(2).strip()))
        elif line.strip():
            lines.append(line.rstrip())
        else:
            flush_paragraph()
    flush_paragraph()
    if paragraphs:
        yield path(), paragraphs
