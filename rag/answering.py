"""Retrieve, select the evidence, decide whether it answers the question, answer, cite.

1. Retrieval runs on the conversation (`rag.conversation`): a follow-up carries its topic.
2. The best chunks are split into sentences and ranked as evidence (`rag.evidence`).
3. Off topic (no chunk near the question) or unanswered (key terms or the asked-for kind
   of thing absent from the evidence): an honest notice, `grounded=False`, no sources,
   the closest passages as `related`.
4. An answer: the best evidence sentences quoted with citations ("extractive"), or a
   generated answer from those sentences ("generative") kept only when every number and
   name in it is found in them (`rag.grounding`); otherwise the quoted evidence replaces it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from rag.citations import CitationFilter, attribute, clean_citations
from rag.conversation import retrieval_query
from rag.evidence import (
    AnswerabilitySettings,
    Evidence,
    EvidenceSelector,
    EvidenceSettings,
    Verdict,
    judge,
    rank,
    section_name,
    sentence_body,
    without_section,
)
from rag.grounding import unsupported_claims
from rag.llm.base import GenerationSettings, LLMBackend, TokenCallback, Usage
from rag.prompting import NO_ANSWER_NOTICE, NOT_IN_DOCUMENTS_NOTICE, STOP, PromptParts, Source, Turn
from rag.retrieval import Hit, Retriever
from rag.text import words

SNIPPET_CHARS = 300
# A sentence shorter than this states nothing alone ("Yes.", a code line "python"): near in cosine to
# anything that shares its one word, it cannot put a question on topic by itself.
STATEMENT_WORDS = 3
MODES = ("extractive", "generative")
EXTRACTIVE_MODEL = "extractive"
HitFilter = Callable[[list[Hit]], list[Hit]]


@dataclass(frozen=True)
class CitedSource:
    n: int
    hit: Hit

    @property
    def snippet(self) -> str:
        return snippet(self.hit)


def snippet(hit: Hit) -> str:
    text = hit.record.text
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Answer:
    text: str
    grounded: bool
    sources: list[CitedSource]
    model: str
    usage: Usage
    timings: dict[str, float] = field(default_factory=dict)
    related: list[Hit] = field(default_factory=list)  # when not grounded: the closest passages
    context: list[str] = field(default_factory=list)  # the texts the answer was made from
    method: str = "extractive"  # "extractive" | "generated" | "replaced" | "abstained" | "off_topic"
    rejected: str = ""  # a generated answer that failed the grounding check, for the logs
    reason: str = ""  # why the documents were judged not to answer


@dataclass(frozen=True)
class AnswerSettings:
    top_k: int = 3  # chunks whose sentences compete as evidence
    relevance_threshold: float = 0.4  # best chunk's cosine; below it nothing is "on topic"
    # Whether a sentence's cosine may also put a question on topic, when it shares a word with it
    # (a short sentence alone, "Europe team (Berlin): December 24, 25, 26, and 31", comes near anything).
    sentence_gate: bool = True
    max_tokens: int = 96
    temperature: float = 0.0
    history_turns: int = 6
    mode: str = "extractive"  # "extractive" | "generative" (README, "Retrieval and answer quality")
    # Fitted on the fit halves (bench/answer_tuning.py): most gold answers contained at a mean of
    # at most 38 words.
    quoted_sentences: int = 3  # at most, in an extractive answer
    second_sentence_margin: float = 0.2  # a further sentence is quoted when it scores this close
    max_answer_words: int = 60
    prompt_sentences: int = 4  # evidence sentences a generator is given
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    answerability: AnswerabilitySettings = field(default_factory=AnswerabilitySettings)


@dataclass(frozen=True)
class Gathered:
    query: str  # what was retrieved with: the message, or the conversation it continues
    vector: np.ndarray  # the query's embedding
    hits: list[Hit]
    evidence: list[Evidence]  # the hits' sentences, best first
    retrieval: float  # seconds retrieving (choosing the evidence counts as building the answer)


@dataclass(frozen=True)
class Draft:
    """An answer before it is streamed: text with [n] markers and the hits they number."""

    text: str
    hits: list[Hit]
    model: str
    usage: Usage
    method: str
    rejected: str = ""


class Answerer:
    def __init__(
        self, retriever: Retriever, llm: LLMBackend | None, settings: AnswerSettings | None = None
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.settings = settings or AnswerSettings()
        if self.settings.mode not in MODES:
            raise ValueError(f"unknown answer mode {self.settings.mode!r}; choose one of {MODES}")
        self.selector = EvidenceSelector(retriever.embedder.encode, self.settings.evidence)

    def answer(
        self,
        question: str,
        owner_id: int | None = None,
        history: list[Turn] | None = None,
        on_token: TokenCallback | None = None,
        keep: HitFilter | None = None,
    ) -> Answer:
        started = time.perf_counter()
        history = (history or [])[-self.settings.history_turns :]
        found = self.gather(question, owner_id, history, keep)
        if not on_topic(found.hits, found.evidence, self.settings):
            return self._abstain(NO_ANSWER_NOTICE, [], "off topic", on_token, started, found.retrieval)
        verdict = judge(
            found.query,
            found.evidence,
            found.hits,
            self.settings.answerability,
            self._frequencies,
            self.retriever.index().subject_names(),
        )
        if not verdict.answerable:
            reason = _explain(verdict)
            return self._abstain(
                NOT_IN_DOCUMENTS_NOTICE, found.hits, reason, on_token, started, found.retrieval
            )
        draft = self._extract(found.evidence)
        if self.settings.mode == "generative" and self.llm is not None:
            draft = self._generate(question, history, found.evidence, draft)
        return self._deliver(draft, found.hits, on_token, started, found.retrieval)

    def gather(
        self,
        question: str,
        owner_id: int | None = None,
        history: list[Turn] | None = None,
        keep: HitFilter | None = None,
    ) -> Gathered:
        """What the question finds: retrieved with the conversation it follows up on, the top chunks'
        sentences ranked as evidence."""
        found = self._gather(retrieval_query(question, history), question, owner_id, keep)
        if found.query != question or not history or on_topic(found.hits, found.evidence, self.settings):
            return found
        # A message that finds nothing near by itself may still continue the conversation ("is there a
        # top-up later on?" after a question about the home office stipend): retrieved with it, the
        # message is on topic when it is near a sentence of what was found.
        widened = self._gather(retrieval_query(question, history, follow_up=True), question, owner_id, keep)
        # `found` was retrieved with the message alone: its vector is the message's.
        chosen = widened if self._near_message(question, found.vector, widened.hits) else found
        return replace(chosen, retrieval=found.retrieval + widened.retrieval)

    def _gather(self, query: str, question: str, owner_id: int | None, keep: HitFilter | None) -> Gathered:
        began = time.perf_counter()
        vector = self.retriever.embedder.encode_query(query)
        hits = self.retrieve(query, owner_id, keep, vector)
        retrieval = time.perf_counter() - began
        focus = question if query != question else None
        found = self.selector.candidates(query, hits, self._frequencies, vector, focus) if hits else []
        return Gathered(query, vector, hits, rank(found, self.settings.evidence), retrieval)

    def _near_message(self, message: str, vector: np.ndarray, hits: list[Hit]) -> bool:
        """The on-topic test for the message alone (`vector`: its embedding), on sentences of hits
        found some other way."""
        own = self.selector.candidates(message, hits, self._frequencies, vector) if hits else []
        return nearest_similarity([], own) >= self.settings.relevance_threshold

    def retrieve(
        self, query: str, owner_id: int | None = None, keep: HitFilter | None = None, vector=None
    ) -> list[Hit]:
        """The top chunks; `keep` drops hits the caller knows are stale."""
        hits = self.retriever.search(
            query, self.settings.top_k * (2 if keep else 1), owner_id, query_vector=vector
        )
        return (keep(hits) if keep else hits)[: self.settings.top_k]

    def relevant_hits(
        self, question: str, owner_id: int | None = None, keep: HitFilter | None = None
    ) -> list[Hit]:
        """The top chunks if the best of them is on topic, else none."""
        hits = self.retrieve(question, owner_id, keep)
        if not hits or max(h.similarity for h in hits) < self.settings.relevance_threshold:
            return []
        return hits

    def _frequencies(self, stems: list[str]) -> tuple[dict[str, int], int]:
        return self.retriever.index().document_frequencies(stems)

    # ---- drafts ---------------------------------------------------------------------------------
    def _extract(self, evidence: list[Evidence]) -> Draft:
        text, hits = quote(evidence, self.settings)
        return Draft(text, hits, EXTRACTIVE_MODEL, Usage(0, 0), "extractive")

    def _generate(self, question: str, history: list[Turn], evidence: list[Evidence], quoted: Draft) -> Draft:
        """A generated answer from the best evidence, or the quoted evidence when it states anything else."""
        best = evidence[: self.settings.prompt_sentences]
        hits = list(dict.fromkeys(e.hit for e in best))
        sources = [
            Source(n, hit.record.title, " ".join(e.sentence for e in best if e.hit == hit))
            for n, hit in enumerate(hits, 1)
        ]
        settings = GenerationSettings(self.settings.max_tokens, self.settings.temperature, tuple(STOP))
        completion = self.llm.generate(PromptParts(question, sources, history), settings)
        text, cited = clean_citations(completion.text.strip(), len(hits))
        # The model saw each source's title too ("Aerolume Hub and Outdoor Guide").
        problems = unsupported_claims(text, [f"{s.title} {s.text}" for s in sources]) if text else ["(empty)"]
        if problems or not words(text):
            return Draft(quoted.text, quoted.hits, completion.model, completion.usage, "replaced", text)
        if not cited:
            source = attribute(text, [s.text for s in sources])
            text = f"{text} [{source}]" if source else f"{text} [1]"
        return Draft(text, hits, completion.model, completion.usage, "generated")

    # ---- delivery -------------------------------------------------------------------------------
    def _deliver(
        self, draft: Draft, hits: list[Hit], on_token: TokenCallback | None, started: float, retrieval: float
    ) -> Answer:
        # The whole answer is checked before anyone sees it, then sent as one piece.
        citations = CitationFilter(len(draft.hits), on_token)
        citations.feed(draft.text)
        citations.close()
        numbers = citations.cited or list(range(1, len(draft.hits) + 1))
        return Answer(
            text=citations.text,
            grounded=True,
            sources=[CitedSource(n, draft.hits[n - 1]) for n in numbers],
            model=draft.model,
            usage=draft.usage,
            timings=_timings(started, retrieval),
            context=[f"{h.record.title}\n{h.record.heading_path}\n{h.record.text}" for h in hits],
            method=draft.method,
            rejected=draft.rejected,
        )

    def _abstain(
        self,
        notice: str,
        related: list[Hit],
        reason: str,
        on_token: TokenCallback | None,
        started: float,
        retrieval: float,
    ) -> Answer:
        if on_token:
            on_token(notice)
        model = (
            self.llm.model
            if self.llm is not None and self.settings.mode == "generative"
            else EXTRACTIVE_MODEL
        )
        return Answer(
            text=notice,
            grounded=False,
            sources=[],
            model=model,
            usage=Usage(0, 0),
            timings=_timings(started, retrieval),
            related=related,
            method="abstained" if related else "off_topic",
            reason=reason,
        )


def on_topic(hits: list[Hit], evidence: list[Evidence], settings: AnswerSettings) -> bool:
    """Whether anything retrieved is near the question: the best chunk (or the best sentence alone)."""
    return (
        nearest_similarity(hits, evidence if settings.sentence_gate else []) >= settings.relevance_threshold
    )


def nearest_similarity(hits: list[Hit], evidence: list[Evidence]) -> float:
    statements = [e for e in evidence if e.overlap > 0 and len(words(sentence_body(e))) >= STATEMENT_WORDS]
    return max([h.similarity for h in hits] + [e.cosine for e in statements], default=0.0)


def quote(evidence: list[Evidence], settings: AnswerSettings) -> tuple[str, list[Hit]]:
    """The best evidence sentence, and the next ones that score nearly as well and fit, with [n]
    citations; returns the text and the hits it numbers."""
    best = evidence[: settings.quoted_sentences]
    chosen = [(best[0], completed(best[0], evidence, []))]
    for candidate in best[1:]:
        quoted = [t for _, t in chosen]
        text = completed(candidate, evidence, quoted)
        length = sum(len(words(t)) for t in quoted) + len(words(text))
        close = candidate.score >= best[0].score - settings.second_sentence_margin
        if close and length <= settings.max_answer_words and not _quoted(candidate, quoted):
            chosen.append((candidate, text))
    hits: list[Hit] = []
    passages: list[tuple[Hit, str]] = []
    for e, text in chosen:
        if e.hit not in hits:
            hits.append(e.hit)
        # A section's name once, however many of its sentences follow ("Payload Format: ... ... [1]",
        # not "Payload Format: ... [1] Payload Format: ... [1]"); one chunk's sentences, one citation.
        if passages and section_name(passages[-1][0]) == section_name(e.hit):
            text = without_section(text, e.hit)
        if passages and passages[-1][0] == e.hit:
            passages[-1] = (e.hit, f"{passages[-1][1]} {text}")
        else:
            passages.append((e.hit, text))
    return " ".join(f"{text} [{hits.index(hit) + 1}]" for hit, text in passages), hits


def completed(e: Evidence, evidence: list[Evidence], quoted: list[str]) -> str:
    """The sentence, and when it ends in a colon ("... ignore quiet hours by default:") the next one of
    its chunk, what the colon announces ("CO2 above 2,500 ppm"), unless that is quoted already."""
    follower = next((f for f in evidence if f.hit == e.hit and f.position == e.position + 1), None)
    if not e.sentence.endswith(":") or follower is None or _quoted(follower, quoted):
        return e.sentence
    return f"{e.sentence} {sentence_body(follower)}"


def _quoted(e: Evidence, texts: list[str]) -> bool:
    """Whether the sentence is in one of the quoted texts already (alone, or completing another)."""
    return any(sentence_body(e) in text for text in texts)


def _explain(verdict: Verdict) -> str:
    return (
        f"{verdict.reason}: {', '.join(verdict.missing_terms)}" if verdict.missing_terms else verdict.reason
    )


def _timings(started: float, retrieval: float) -> dict[str, float]:
    """Milliseconds retrieving (`retrieval`, in seconds) and building the answer (the rest)."""
    elapsed = time.perf_counter() - started
    return {
        "retrieval_ms": round(retrieval * 1000, 1),
        "generation_ms": round((elapsed - retrieval) * 1000, 1),
    }
