"""Keep the on-disk hybrid index in step with PostgreSQL, the source of truth."""

from __future__ import annotations

import logging

import numpy as np
import sqlalchemy as sa

from api.extensions.database import db
from api.models import Chunk, Document
from rag.chunking import embedding_text
from rag.index import GLOBAL_OWNER, ChunkRecord, DamagedIndexError, KnowledgeIndex
from workers.knowledge.engine import engine

log = logging.getLogger(__name__)

REBUILD_BATCH = 256

Addition = tuple[list[ChunkRecord], np.ndarray]


def update_index(additions: list[Addition], removed_documents: list[int]) -> None:
    """Publish a new index version with these chunks added and these documents gone."""
    eng = engine()
    with eng.store.write_lock():
        # Load under the lock: another process may have published a newer version.
        index = _load_healed_locked()
        index.update(
            [r for records, _ in additions for r in records],
            np.vstack([vectors for _, vectors in additions]) if additions else None,
            remove_documents=removed_documents,
        )
        eng.store.save(index)


def remove_from_index(document_ids: list[int]) -> None:
    update_index([], document_ids)


def delete_document(document: Document) -> None:
    """Remove a document and its chunks from the database and from both indexes."""
    document_id = document.id
    db.session.delete(document)
    db.session.commit()
    remove_from_index([document_id])


def rebuild_index() -> int:
    """Rebuild the index from the database, re-embedding chunks made by another model; returns the count."""
    with engine().store.write_lock():
        return _rebuild_locked()


def ensure_index_current() -> bool:
    """Rebuild when the index is missing, unreadable or built by another embedding model; True if rebuilt.

    Every worker process calls this as it starts: the first one rebuilds, under the lock;
    the others find the fresh index when they get the lock and leave it alone.
    """
    if _index_current():
        return False
    with engine().store.write_lock():
        if _index_current():
            return False
        log.info("index missing, unreadable or built by another model: rebuilding from the database")
        _rebuild_locked()
        return True


def heal_index() -> None:
    """The index files can't be read: rebuild them from the database, unless another process just did."""
    with engine().store.write_lock():
        _load_healed_locked()


def _load_healed_locked() -> KnowledgeIndex:
    """The published index, rebuilt from the database first when its files can't be read."""
    eng = engine()
    try:
        return eng.store.load(eng.embedder.model_id, eng.embedder.dimension)
    except DamagedIndexError as damage:
        log.warning("rebuilding the index from the database: %s", damage)
    _rebuild_locked()
    return eng.store.load(eng.embedder.model_id, eng.embedder.dimension)


def _index_current() -> bool:
    eng = engine()
    try:
        manifest = eng.store.read_manifest()
    except DamagedIndexError:
        return False
    if manifest is not None:
        return manifest.model_id == eng.embedder.model_id
    return not db.session.scalar(sa.select(sa.func.count(Chunk.id)))  # nothing to index yet


def _rebuild_locked() -> int:
    """The rebuild itself. The caller holds the write lock, so the database read and the publish
    happen with no ingest in between (which the new version would otherwise drop)."""
    eng = engine()
    model_id = eng.embedder.model_id
    query = (
        sa.select(Chunk, Document)
        .join(Document, Chunk.document_id == Document.id)
        .where(Document.status == "ready")
        .order_by(Chunk.id)
        .execution_options(yield_per=REBUILD_BATCH)
    )
    db.session.commit()  # a fresh snapshot: what committed while we waited for the lock
    records: list[ChunkRecord] = []
    vectors: list[np.ndarray] = []
    stale: list[Chunk] = []
    for chunk, document in db.session.execute(query):
        records.append(chunk_record(document, chunk))
        if chunk.embedding is None or chunk.embedding_model != model_id:
            stale.append(chunk)
            vectors.append(np.zeros(eng.embedder.dimension, dtype=np.float32))
        else:
            vectors.append(np.frombuffer(chunk.embedding, dtype=np.float32))
    if stale:
        log.info("re-embedding %d chunks with %s", len(stale), model_id)
        fresh = eng.embedder.encode([embedding_text(c.heading_path, c.text) for c in stale])
        position = {r.chunk_id: i for i, r in enumerate(records)}
        for chunk, vector in zip(stale, fresh, strict=True):
            chunk.embedding, chunk.embedding_model = vector.tobytes(), model_id
            vectors[position[chunk.id]] = vector
        db.session.commit()
    index = KnowledgeIndex(model_id, eng.embedder.dimension)  # saved as the next version
    if records:
        index.add(records, np.vstack(vectors))
    eng.store.save(index)
    return len(records)


def drop_deleted_documents() -> int:
    """Remove from the index the documents that no longer exist in the database; returns how many."""
    eng = engine()
    if eng.store.read_manifest() is None:
        return 0
    indexed = {r.document_id for r in eng.live_index().records}
    existing = set(db.session.scalars(sa.select(Document.id).where(Document.id.in_(indexed))))
    gone = sorted(indexed - existing)
    if gone:
        remove_from_index(gone)
    return len(gone)


def chunk_record(document: Document, chunk: Chunk) -> ChunkRecord:
    owner = GLOBAL_OWNER if document.scope == "global" else document.owner_id
    return ChunkRecord(chunk.id, document.id, owner, document.title, chunk.heading_path, chunk.text)
