"""Small text helpers shared by evidence selection, grounding checks and the answer evaluation."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

import Stemmer

_stemmer = Stemmer.Stemmer("english")

# Sentence ends: . ! ? followed by space and an upper-case letter, digit or opening quote/bracket.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")
# Abbreviations whose full stop ends no sentence ("Dr. Lena Hoffmann", "e.g. a Hub").
ABBREVIATIONS = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|St|No|Inc|Ltd|Co|vs|etc|e\.g|i\.e|approx|U\.S|Jr|Sr|Prof)\.$")
LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# A list item led by a bold label ("- **Grade B (cosmetic):** deep scratches... Deduction of 20%.").
LIST_LABEL = re.compile(LIST_MARK.pattern + r"\*\*([^*]+?):?\*\*:?\s")
HEADING_MARK = re.compile(r"^\s*#+\s*")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
MARKUP = re.compile(r"\*\*|__|`")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\u2019-]*")
BM25_WORD = re.compile(r"(?u)\b\w\w+\b")

_STOPWORD_LIST = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not of off on once only or other our ours ourselves out over own same she should so some
    such than that the their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom whose why will with would you your yours
    yourself yourselves also get got may might must shall one ones s t don i'm i've let us"""
STOPWORDS = frozenset(_STOPWORD_LIST.split())


def split_sentences(text: str) -> list[str]:
    """Sentences of a chunk: Markdown lines first (list items, each sentence with the item's bold
    label; table rows, each with its column names, since "18 days" means nothing without "PTO per
    year"), then sentence ends."""
    sentences: list[str] = []
    lines = text.splitlines()
    header: list[str] = []
    for i, line in enumerate(lines):
        if TABLE_RULE.match(line):
            continue
        if line.lstrip().startswith("|"):
            cells = [MARKUP.sub("", cell).strip() for cell in line.strip().strip("|").split("|")]
            if i + 1 < len(lines) and TABLE_RULE.match(lines[i + 1]):
                header = cells  # a header row states nothing by itself
                continue
            named = zip(header, cells, strict=False) if len(header) == len(cells) else []
            sentences.append(
                "; ".join(f"{h}: {c}" if h else c for h, c in named) if named else " | ".join(cells)
            )
            continue
        header = []
        if HEADING_MARK.match(line):
            continue  # a section name, not a statement (the heading path carries it)
        label = LIST_LABEL.match(line)
        line = MARKUP.sub("", LIST_MARK.sub("", line)).strip()
        if line:
            first, *rest = _split_line(line)
            # Each further sentence of a labelled item keeps the label: "Deduction of 20%" alone
            # does not say for which grade.
            name = label.group(1).rstrip(".:") if label else ""
            sentences += [first, *(f"{name}: {r}" if name else r for r in rest)]
    return sentences


def _split_line(line: str) -> list[str]:
    sentences, pending = [], ""
    for piece in SENTENCE_END.split(line):
        pending = f"{pending} {piece}".strip() if pending else piece
        if not ABBREVIATIONS.search(pending):
            sentences.append(pending)
            pending = ""
    if pending:
        sentences.append(pending)
    return sentences


def words(text: str) -> list[str]:
    return WORD.findall(text)


# Where a capital letter is the convention, not a name: sentence and line starts, labels, table cells.
CAPITAL_BY_CONVENTION = re.compile(r"[.!?:;|\n]")
NAME_SHARE = 0.8  # of a word's uses inside a sentence, written with a capital letter
NAME_MIN_USES = 3


def proper_names(texts: Iterable[str]) -> frozenset[str]:
    """Lower-cased words the texts nearly always write with a capital letter inside a sentence: the
    names of their products, places and people ("Hub", "Taipei", "SCIM"), which customers write in
    lower case too ("is the hub waterproof")."""
    capitalised: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        for piece in CAPITAL_BY_CONVENTION.split(text):
            for token in words(piece)[1:]:
                if not token.isalpha() or token.lower() in STOPWORDS:
                    continue
                if token[0].isupper():
                    capitalised[token.lower()] += 1
                elif token.islower():
                    lower[token] += 1
    return frozenset(
        w for w, n in capitalised.items() if n >= NAME_MIN_USES and n >= NAME_SHARE * (n + lower[w])
    )


def content_stems(text: str) -> list[str]:
    """Stemmed, lower-cased words that carry meaning (no stop words), in order."""
    # Split as bm25s splits, so the stems match the index's vocabulary (document frequencies).
    lowered = BM25_WORD.findall(text.lower().replace("\u2019", "'"))
    return _stemmer.stemWords([w for w in lowered if w not in STOPWORDS])


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
