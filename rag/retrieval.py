"""Hybrid retrieval: dense (FAISS) and BM25 rankings fused by reciprocal rank fusion."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.embeddings import Embedder
from rag.index import ChunkRecord, DamagedIndexError, IndexStore, KnowledgeIndex

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("zscore", "rrf")


@dataclass(frozen=True)
class Hit:
    record: ChunkRecord
    score: float  # the ranking score of the mode: fused RRF, cosine, or BM25
    similarity: float  # cosine similarity to the query, whatever the mode (used for grounding)


class LiveIndex:
    """The store's current index, reloaded when another process publishes a new version.

    When the published files cannot be read, `heal` (which rebuilds them from the system of
    record) runs once and the load is tried again; without it, `DamagedIndexError` propagates.
    """

    def __init__(
        self,
        store: IndexStore,
        model_id: str,
        dimension: int,
        heal: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.model_id = model_id
        self.dimension = dimension
        self.heal = heal
        self._index: KnowledgeIndex | None = None
        self._lock = threading.Lock()

    def __call__(self) -> KnowledgeIndex:
        try:
            return self._current()
        except DamagedIndexError:
            if self.heal is None:
                raise
            log.warning("the index files cannot be read: rebuilding them", exc_info=True)
            self.heal()
            return self._current()

    def _current(self) -> KnowledgeIndex:
        manifest = self.store.read_manifest()
        current = self._index
        if current is None or (manifest is not None and manifest.version != current.version):
            with self._lock:
                if self._index is None or self._index is current:
                    self._index = self.store.load(self.model_id, self.dimension)
        return self._index


class Retriever:
    def __init__(
        self,
        embedder: Embedder,
        index: Callable[[], KnowledgeIndex],
        fusion: str = "zscore",
        rrf_k: int = 60,
        candidates: int = 50,
    ) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {FUSIONS}")
        self.embedder = embedder
        self.index = index
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.candidates = candidates

    def search(
        self,
        query: str,
        k: int = 5,
        owner_id: int | None = None,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The top `k` chunks the caller may see (global ones and `owner_id`'s own)."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; choose one of {MODES}")
        index = self.index()
        if not len(index) or not query.strip():
            return []
        vector = self.embedder.encode_query(query) if query_vector is None else query_vector
        allowed = index.allowed_rows(owner_id)
        depth = max(k, self.candidates)
        dense = index.dense_search(vector, depth, allowed) if mode != "bm25" else []
        lexical = index.bm25_search(query, depth, allowed) if mode != "dense" else []
        if mode == "dense":
            ranked = dense
        elif mode == "bm25":
            ranked = lexical
        elif self.fusion == "rrf":
            ranked = self._reciprocal_rank_fusion(dense, lexical)
        else:
            ranked = self._zscore_fusion(dense, lexical)
        # Defence in depth: both searches filter by owner already; nothing else may come through.
        ranked = [(row, score) for row, score in ranked if allowed[row]]
        similarities = index.vectors[[row for row, _ in ranked[:k]]] @ vector if ranked else []
        return [
            Hit(index.records[row], score, float(similarity))
            for (row, score), similarity in zip(ranked[:k], similarities, strict=True)
        ]

    def _reciprocal_rank_fusion(self, *rankings: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """score = sum over the rankings of 1 / (rrf_k + rank)."""
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, (row, _) in enumerate(ranking, start=1):
                fused[row] = fused.get(row, 0.0) + 1.0 / (self.rrf_k + rank)
        return sorted(fused.items(), key=lambda item: item[1], reverse=True)

    @staticmethod
    def _zscore_fusion(*rankings: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """score = sum of each ranking's z-normalised score; a row one ranking missed gets its minimum.

        Unlike RRF it keeps how far ahead a result is, not only its place, which
        measured better on SciFact and on the shipped questions (README, "Retrieval quality").
        """
        normalised: list[dict[int, float]] = []
        for ranking in rankings:
            if not ranking:
                continue
            scores = np.array([score for _, score in ranking])
            z = (scores - scores.mean()) / (scores.std() or 1.0)
            normalised.append({row: float(value) for (row, _), value in zip(ranking, z, strict=True)})
        floors = [min(scores.values()) for scores in normalised]
        rows = set().union(*normalised) if normalised else set()
        fused = {
            row: sum(s.get(row, floor) for s, floor in zip(normalised, floors, strict=True)) for row in rows
        }
        return sorted(fused.items(), key=lambda item: item[1], reverse=True)
