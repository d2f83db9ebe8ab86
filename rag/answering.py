"""Retrieve, decide whether the knowledge base covers the question, generate, cite."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.citations import CitationFilter, attribute
from rag.llm.base import Completion, GenerationSettings, LLMBackend, TokenCallback, Usage
from rag.prompting import NO_ANSWER_NOTICE, STOP, PromptParts, Source, Turn, render_completion_prompt
from rag.retrieval import Hit, Retriever

SNIPPET_CHARS = 300
HitFilter = Callable[[list[Hit]], list[Hit]]


@dataclass(frozen=True)
class CitedSource:
    n: int
    hit: Hit

    @property
    def snippet(self) -> str:
        text = self.hit.record.text
        return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Answer:
    text: str
    grounded: bool
    sources: list[CitedSource]
    model: str
    usage: Usage
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerSettings:
    top_k: int = 2  # more sources confuse the 270M model (README, "Answer quality")
    relevance_threshold: float = 0.45  # cosine of the best chunk; below it nothing is "on topic"
    max_tokens: int = 192
    temperature: float = 0.0
    history_turns: int = 6


class Answerer:
    def __init__(self, retriever: Retriever, llm: LLMBackend, settings: AnswerSettings | None = None) -> None:
        self.retriever = retriever
        self.llm = llm
        self.settings = settings or AnswerSettings()

    def answer(
        self,
        question: str,
        owner_id: int | None = None,
        history: list[Turn] | None = None,
        on_token: TokenCallback | None = None,
        keep: HitFilter | None = None,
    ) -> Answer:
        started = time.perf_counter()
        hits = self.relevant_hits(question, owner_id, keep)
        retrieved = time.perf_counter()
        citations = CitationFilter(len(hits), on_token)
        if not hits:
            completion = self._fallback(citations.feed)
        else:
            parts = self._fit_to_context(
                PromptParts(
                    question=question,
                    sources=[Source(n, h.record.title, h.record.text) for n, h in enumerate(hits, 1)],
                    history=(history or [])[-self.settings.history_turns :],
                )
            )
            hits = hits[: len(parts.sources)]
            citations.source_count = len(hits)
            generation = GenerationSettings(self.settings.max_tokens, self.settings.temperature, tuple(STOP))
            completion = self.llm.generate(parts, generation, citations.feed)
        citations.close()
        if hits and not citations.cited:
            source = attribute(citations.text, [h.record.text for h in hits])
            if source is not None:
                citations.feed(f" [{source}]")
                citations.close()
        if not citations.text:  # the model said nothing at all
            citations.feed(NO_ANSWER_NOTICE)
            citations.close()
        text = citations.text
        # The cited sources; when no source can be named, every source the model was given.
        numbers = citations.cited or list(range(1, len(hits) + 1))
        finished = time.perf_counter()
        return Answer(
            text=text,
            grounded=bool(hits),
            sources=[CitedSource(n, hits[n - 1]) for n in numbers],
            model=completion.model,
            usage=completion.usage,
            timings={
                "retrieval_ms": round((retrieved - started) * 1000, 1),
                "generation_ms": round((finished - retrieved) * 1000, 1),
            },
        )

    def relevant_hits(
        self, question: str, owner_id: int | None = None, keep: HitFilter | None = None
    ) -> list[Hit]:
        """The top chunks, if the best of them is on topic; `keep` drops hits the caller knows are stale."""
        hits = self.retriever.search(question, self.settings.top_k * (2 if keep else 1), owner_id)
        hits = (keep(hits) if keep else hits)[: self.settings.top_k]
        if not hits or max(h.similarity for h in hits) < self.settings.relevance_threshold:
            return []
        return hits

    def _fallback(self, on_token: TokenCallback | None) -> Completion:
        # The embedded base model cannot be trusted to admit ignorance, so the notice is fixed.
        if on_token:
            on_token(NO_ANSWER_NOTICE)
        return Completion(NO_ANSWER_NOTICE, Usage(0, 0), self.llm.model)

    def _fit_to_context(self, parts: PromptParts) -> PromptParts:
        """Drop the oldest turns, then the weakest sources, until the prompt fits the context."""
        budget = self.llm.context_size - self.settings.max_tokens
        while self.llm.count_tokens(render_completion_prompt(parts)) > budget:
            if parts.history:
                parts = PromptParts(parts.question, parts.sources, parts.history[1:])
            elif len(parts.sources) > 1:
                parts = PromptParts(parts.question, parts.sources[:-1], parts.history)
            else:
                break
        return parts
