"""Ingestion: chunks per second through our pipeline vs raw `model.encode` on the same chunk texts.

Our pipeline = parse + token-aware chunking + embedding + FAISS/BM25 index + atomic save,
over the shipped corpus (docs_corpus/), batched as `workers.knowledge.ingestion.ingest_files` batches it.
The database write is left out.

    python -m bench.ingest_throughput
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import print_table, write_results
from rag.chunking import Chunker
from rag.embeddings import Embedder
from rag.index import GLOBAL_OWNER, ChunkRecord, IndexStore, KnowledgeIndex
from rag.parsing import parse_document
from workers.knowledge.ingestion import ENCODE_GROUP

CORPUS = Path(__file__).resolve().parent.parent / "docs_corpus"


def main() -> None:
    embedder = Embedder(threads=2)
    chunker = Chunker(embedder.tokenizer, 200, 32)
    files = sorted(CORPUS.glob("*.md"))
    embedder.encode(["warm up"] * 8)

    started = time.perf_counter()
    records, texts = [], []
    for doc_id, path in enumerate(files):
        parsed = parse_document(path.read_bytes(), path.name)
        for chunk in chunker.chunk(parsed.text, parsed.title):
            records.append(
                ChunkRecord(len(records), doc_id, GLOBAL_OWNER, parsed.title, chunk.heading_path, chunk.text)
            )
            texts.append(chunk.embedding_text)
    # As the service does: chunks of several documents embedded together, one index update.
    vectors = np.vstack(
        [embedder.encode(texts[i : i + ENCODE_GROUP]) for i in range(0, len(texts), ENCODE_GROUP)]
    )
    index = KnowledgeIndex(embedder.model_id, embedder.dimension)
    index.add(records, vectors)
    with tempfile.TemporaryDirectory() as directory:
        IndexStore(directory).save(index)
    ours = time.perf_counter() - started

    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=32, normalize_embeddings=True)
    raw = time.perf_counter() - started

    n = len(texts)
    rows = [
        ["raw model.encode (same chunk texts)", n, round(raw, 1), round(n / raw, 1)],
        ["our ingest pipeline", n, round(ours, 1), round(n / ours, 1)],
        ["ratio (ours / raw)", "", "", round(raw / ours, 3)],
    ]
    print_table(
        f"Ingestion of {len(files)} documents, MiniLM on CPU", ["path", "chunks", "seconds", "chunks/s"], rows
    )
    write_results(
        "ingest_throughput",
        {
            "documents": len(files),
            "chunks": n,
            "raw_chunks_per_s": round(n / raw, 2),
            "ours_chunks_per_s": round(n / ours, 2),
            "ratio": round(raw / ours, 3),
        },
    )


if __name__ == "__main__":
    main()
