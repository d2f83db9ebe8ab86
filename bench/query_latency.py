"""Query latency at 100,000 chunks: our hybrid search vs raw encode + FAISS search on the same vectors.

The 100k chunks are the shipped corpus's real chunks and vectors, repeated with
small perturbations (vectors jittered and re-normalised, a tag word added to the
text) so that FAISS and BM25 work on a realistic 100k-row index. Also measured:
HNSW against exact search on the same vectors (latency and recall@10).

    python -m bench.query_latency [--chunks 100000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np

from bench.report import latencies_ms, percentiles, print_table, write_results
from rag.chunking import Chunker
from rag.embeddings import Embedder
from rag.index import GLOBAL_OWNER, ChunkRecord, KnowledgeIndex
from rag.parsing import parse_document
from rag.retrieval import Retriever

ROOT = Path(__file__).resolve().parent.parent
K = 5


def corpus_chunks(embedder: Embedder) -> tuple[list[ChunkRecord], np.ndarray]:
    chunker = Chunker(embedder.tokenizer, 200, 32)
    records, texts = [], []
    for doc_id, path in enumerate(sorted((ROOT / "docs_corpus").glob("*.md"))):
        parsed = parse_document(path.read_bytes(), path.name)
        for chunk in chunker.chunk(parsed.text, parsed.title):
            records.append(
                ChunkRecord(len(records), doc_id, GLOBAL_OWNER, parsed.title, chunk.heading_path, chunk.text)
            )
            texts.append(chunk.embedding_text)
    return records, embedder.encode(texts)


def scale_up(
    records: list[ChunkRecord], vectors: np.ndarray, total: int
) -> tuple[list[ChunkRecord], np.ndarray]:
    rng = np.random.default_rng(7)
    picks = np.arange(total) % len(records)
    jitter = rng.normal(0, 0.02, size=(total, vectors.shape[1])).astype(np.float32)
    jitter[: len(records)] = 0  # the originals stay exact
    scaled = vectors[picks] + jitter
    scaled /= np.linalg.norm(scaled, axis=1, keepdims=True)
    out = []
    for i, base in enumerate(picks):
        r = records[base]
        owner = GLOBAL_OWNER if i % 10 else 1 + i % 50  # a tenth belongs to 50 users
        out.append(
            ChunkRecord(
                i,
                r.document_id + 1000 * (i // len(records)),
                owner,
                r.title,
                r.heading_path,
                f"{r.text} tag{i % 997}",
            )
        )
    return out, scaled.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    args = parser.parse_args()

    faiss.omp_set_num_threads(1)  # as the engine sets it, for both sides (see rag/engine.py)
    embedder = Embedder(threads=2)
    base_records, base_vectors = corpus_chunks(embedder)
    records, vectors = scale_up(base_records, base_vectors, args.chunks)
    started = time.perf_counter()
    index = KnowledgeIndex(embedder.model_id, embedder.dimension)
    index.add(records, vectors)
    build_s = time.perf_counter() - started
    retriever = Retriever(embedder, lambda: index)
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "docs_corpus/eval/questions.jsonl").read_text().splitlines()
    ]
    queries = (questions * 3)[:200]
    flat = faiss.IndexFlatIP(embedder.dimension)
    flat.add(vectors)

    for q in queries[:10]:  # warm-up
        retriever.search(q, K, owner_id=3)
    ours = [x for q in queries for x in latencies_ms(lambda q=q: retriever.search(q, K, owner_id=3), 1)]
    raw = [
        x
        for q in queries
        for x in latencies_ms(lambda q=q: flat.search(embedder.encode_query(q).reshape(1, -1), K), 1)
    ]
    embed_only = [x for q in queries for x in latencies_ms(lambda q=q: embedder.encode_query(q), 1)]

    # Exact vs HNSW on the same vectors.
    query_vectors = embedder.encode(queries)
    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(embedder.dimension, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    hnsw.add(vectors)
    hnsw.hnsw.efSearch = 128
    hnsw_build_s = time.perf_counter() - started
    _, exact_ids = flat.search(query_vectors, 10)
    exact_ms = latencies_ms(lambda: [flat.search(v.reshape(1, -1), 10) for v in query_vectors], 1)[0] / len(
        queries
    )
    hnsw_ms = latencies_ms(lambda: [hnsw.search(v.reshape(1, -1), 10) for v in query_vectors], 1)[0] / len(
        queries
    )
    _, hnsw_ids = hnsw.search(query_vectors, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_ids, hnsw_ids, strict=True)])

    ours_p, raw_p, embed_p = percentiles(ours), percentiles(raw), percentiles(embed_only)
    print_table(
        f"Query latency at {len(index):,} chunks, top-{K}, {len(queries)} queries (ms)",
        ["path", "p50", "p95", "p99"],
        [
            ["query embedding alone", embed_p["p50"], embed_p["p95"], embed_p["p99"]],
            ["raw: encode + FAISS exact search", raw_p["p50"], raw_p["p95"], raw_p["p99"]],
            ["ours: encode + dense + BM25 + fusion + records", ours_p["p50"], ours_p["p95"], ours_p["p99"]],
            ["ratio p50 (ours / raw)", round(ours_p["p50"] / raw_p["p50"], 2), "", ""],
        ],
    )
    print_table(
        f"Exact vs HNSW (M=32, efSearch=128) at {len(index):,} vectors",
        ["index", "ms/query", "recall@10 vs exact", "build s"],
        [
            ["exact (IndexFlatIP)", round(exact_ms, 2), 1.0, 0.0],
            ["HNSW", round(hnsw_ms, 2), round(float(recall), 4), round(hnsw_build_s, 1)],
        ],
    )
    write_results(
        "query_latency",
        {
            "chunks": len(index),
            "index_build_s": round(build_s, 1),
            "ours_ms": ours_p,
            "raw_encode_plus_faiss_ms": raw_p,
            "embedding_only_ms": embed_p,
            "ratio_p50": round(ours_p["p50"] / raw_p["p50"], 3),
            "exact_ms_per_query": round(exact_ms, 3),
            "hnsw_ms_per_query": round(hnsw_ms, 3),
            "hnsw_recall_at_10": round(float(recall), 4),
            "hnsw_build_s": round(hnsw_build_s, 1),
        },
    )


if __name__ == "__main__":
    main()
