"""Wires the pieces together from plain settings: one `Engine` per process, models loaded once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import faiss

from rag.answering import Answerer, AnswerSettings
from rag.chunking import Chunker
from rag.embeddings import Embedder
from rag.index import IndexStore
from rag.llm import LLMBackend, create_backend
from rag.retrieval import LiveIndex, Retriever


@dataclass(frozen=True)
class EngineSettings:
    index_dir: Path
    embedding_threads: int | None = None
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    fusion: str = "zscore"
    search_threads: int = 1
    llm_backend: str = "llamacpp"
    llm_model_path: str | None = None
    llm_model: str = "gemma3-270m"  # a packaged GGUF model, used when llm_model_path is None
    llm_context: int = 2048
    llm_threads: int = 2
    ollama_host: str = "http://127.0.0.1:11434"
    ollama_model: str = "llama3.2:1b"
    ollama_timeout: float = 120.0
    answer: AnswerSettings = field(default_factory=AnswerSettings)


class Engine:
    def __init__(self, settings: EngineSettings, heal_index: Callable[[], None] | None = None) -> None:
        """`heal_index` rebuilds the index files from the system of record when they can't be read."""
        self.settings = settings
        self.heal_index = heal_index
        # One query scans the vectors fastest on one thread here: FAISS's OpenMP threads fight the
        # embedding model's for two cores (bench/query_latency.py: 7.6 ms vs 14.9 ms at 100k).
        faiss.omp_set_num_threads(settings.search_threads)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(threads=self.settings.embedding_threads)

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(self.embedder.tokenizer, self.settings.chunk_tokens, self.settings.chunk_overlap)

    @cached_property
    def store(self) -> IndexStore:
        return IndexStore(self.settings.index_dir)

    @cached_property
    def live_index(self) -> LiveIndex:
        return LiveIndex(self.store, self.embedder.model_id, self.embedder.dimension, heal=self.heal_index)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.embedder, self.live_index, fusion=self.settings.fusion)

    @cached_property
    def llm(self) -> LLMBackend:
        s = self.settings
        if s.llm_backend == "ollama":
            return create_backend(
                "ollama", host=s.ollama_host, model=s.ollama_model, timeout=s.ollama_timeout
            )
        return create_backend(
            s.llm_backend,
            model_path=s.llm_model_path,
            context_size=s.llm_context,
            threads=s.llm_threads,
            packaged_model=s.llm_model,
        )

    @property
    def generates(self) -> bool:
        """Whether answers are generated (an LLM is needed) rather than quoted from the evidence."""
        return self.settings.answer.mode == "generative"

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(self.retriever, self.llm if self.generates else None, self.settings.answer)

    def warm_up(self) -> None:
        """Load the models and the index now rather than on the first request."""
        self.embedder.encode_query("warm up")
        self.live_index()
        if self.generates and hasattr(self.llm, "load"):
            self.llm.load()
