"""Owner filtering inside FAISS, swept across index sizes: no search ever returns another user's row.

The selector's bitmap once was a temporary freed before the search ran: at some
sizes (1,593-1,600 and 3,193-3,200 chunks, with the allocator of the day) about 45
of 50 hits belonged to someone else. The sweep covers those sizes and many others.
"""

from __future__ import annotations

import numpy as np
import pytest

from rag.index import GLOBAL_OWNER, ChunkRecord, KnowledgeIndex
from rag.retrieval import Retriever

DIMENSION = 384
SIZES = sorted({*range(1000, 4001, 50), *range(1590, 1604), *range(3190, 3204)})
KS = (5, 20, 50)
CALLER, OTHER = 7, 8


def owner_of(row: int) -> int:
    """One row in ten is global, the caller owns a few, another user most."""
    if row % 10 == 0:
        return GLOBAL_OWNER
    return CALLER if row % 37 == 0 else OTHER


def random_unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def growing_index():
    """Yields the index at each size of SIZES, grown in place (as ingestion grows it)."""
    rng = np.random.default_rng(0)
    vectors = random_unit_vectors(rng, SIZES[-1])
    records = [ChunkRecord(i, i, owner_of(i), f"doc {i}", "", f"text {i}") for i in range(SIZES[-1])]
    queries = random_unit_vectors(rng, 8)

    def sizes():
        index = KnowledgeIndex("test-model", DIMENSION)
        for size in SIZES:
            index.add(records[len(index) : size], vectors[len(index) : size])
            yield size, index

    return sizes, queries


@pytest.mark.parametrize("viewer", [None, CALLER], ids=["anonymous", "owner"])
def test_dense_search_never_returns_a_row_the_caller_may_not_see(growing_index, viewer):
    sizes, queries = growing_index
    for size, index in sizes():
        allowed = index.allowed_rows(viewer)
        for k in KS:
            for query in queries:
                hits = index.dense_search(query, k, allowed)
                foreign = [row for row, _ in hits if not allowed[row]]
                assert not foreign, f"{len(foreign)} foreign rows at {size} chunks, k={k}"
                # Filtering must not cost results either: k hits while k visible rows exist.
                assert len(hits) == min(k, int(allowed.sum())), (size, k)


def test_fused_results_are_checked_against_the_callers_visibility_again(growing_index):
    """Even if one search let foreign rows through, the fused list drops them."""
    sizes, _ = growing_index
    _, index = next(sizes())
    leaky = LeakyIndex(index)
    query = index.vectors[0]  # a global row's own vector: visible, and ranked first
    assert any(not index.allowed_rows(CALLER)[row] for row, _ in leaky.dense_search(query, 20, None))
    hits = Retriever(FixedQueryVector(query), lambda: leaky, candidates=20).search("x", k=20, owner_id=CALLER)
    assert hits and hits[0].record.chunk_id == 0
    assert all(hit.record.owner_id in (GLOBAL_OWNER, CALLER) for hit in hits)


class LeakyIndex:
    """An index whose dense search ignores the filter (the bug above, made certain)."""

    def __init__(self, index: KnowledgeIndex) -> None:
        self._index = index

    def __getattr__(self, name: str):
        return getattr(self._index, name)

    def __len__(self) -> int:
        return len(self._index)

    def dense_search(self, query, k, _allowed):
        return self._index.dense_search(query, k, np.ones(len(self._index), dtype=bool))


class FixedQueryVector:
    """Stands in for the embedder: the test chooses the query vector itself."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def encode_query(self, _text: str) -> np.ndarray:
        return self.vector
