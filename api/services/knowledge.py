"""The knowledge base: documents and chunks in PostgreSQL, the derived hybrid index on disk.

Used by workers and the `flask rag` CLI. The API process never imports it, so
it never loads a model.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from flask import current_app

from api.extensions.database import db
from api.models import Chunk, Document
from api.services import tasks
from rag.answering import Answer, AnswerSettings
from rag.chunking import Chunk as TextChunk
from rag.chunking import embedding_text
from rag.engine import Engine, EngineSettings
from rag.index import GLOBAL_OWNER, ChunkRecord, KnowledgeIndex
from rag.parsing import SUPPORTED_EXTENSIONS, UnreadableDocument, media_type_for, parse_document
from rag.prompting import Turn
from rag.retrieval import Hit, Retriever

log = logging.getLogger(__name__)

REBUILD_BATCH = 256
ENCODE_GROUP = 512  # chunks embedded together while ingesting files


_engines: dict[EngineSettings, Engine] = {}


def engine() -> Engine:
    """This process's engine for the app's settings, built on first use (models load lazily, once)."""
    settings = _engine_settings(current_app.config)
    if settings not in _engines:
        _engines[settings] = Engine(settings)
    return _engines[settings]


def _engine_settings(config: dict) -> EngineSettings:
    return EngineSettings(
        index_dir=Path(config["INDEX_DIR"]),
        embedding_threads=config["EMBEDDING_THREADS"],
        chunk_tokens=config["CHUNK_TOKENS"],
        chunk_overlap=config["CHUNK_OVERLAP"],
        fusion=config["RETRIEVAL_FUSION"],
        llm_backend=config["LLM_BACKEND"],
        llm_model_path=config["LLM_MODEL_PATH"],
        llm_context=config["LLM_CONTEXT"],
        llm_threads=config["LLM_THREADS"],
        ollama_host=config["OLLAMA_HOST"],
        ollama_model=config["OLLAMA_MODEL"],
        ollama_timeout=config["OLLAMA_TIMEOUT"],
        answer=AnswerSettings(
            top_k=config["RETRIEVAL_TOP_K"],
            relevance_threshold=config["RELEVANCE_THRESHOLD"],
            max_tokens=config["MAX_ANSWER_TOKENS"],
            history_turns=config["HISTORY_TURNS"],
        ),
    )


@dataclass(frozen=True)
class IngestOutcome:
    path: Path
    status: str  # "added" | "updated" | "unchanged" | "failed"
    document_id: int | None = None
    chunks: int = 0
    error: str | None = None


def files_under(paths: Iterable[Path]) -> list[Path]:
    """The supported files named, or found below the folders named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        found += [p for p in candidates if p.suffix.lower() in SUPPORTED_EXTENSIONS]
    return found


def ingest_files(files: list[Path], on_file: Callable[[Path], None] | None = None) -> list[IngestOutcome]:
    """Load files into the global knowledge base; unchanged files (same content hash) are skipped.

    Chunks of several documents are embedded together (ENCODE_GROUP at a time): one
    large batch sorts by length and pads less than many small ones.
    """
    outcomes: list[IngestOutcome] = []
    additions: list[tuple[list[ChunkRecord], np.ndarray]] = []
    replaced: list[int] = []
    pending: list[tuple[Path, Document, list[TextChunk]]] = []

    def flush() -> None:
        stored = _store_chunks([(document, chunks) for _, document, chunks in pending])
        for (path, document, _), (records, vectors) in zip(pending, stored, strict=True):
            outcomes.append(
                IngestOutcome(
                    path, "updated" if document.id in replaced else "added", document.id, len(records)
                )
            )
            additions.append((records, vectors))
            if on_file:
                on_file(path)
        pending.clear()

    for path in files:
        outcome = _prepare_file(path, pending, replaced)
        if outcome is not None:
            outcomes.append(outcome)
            if on_file:
                on_file(path)
        if sum(len(chunks) for _, _, chunks in pending) >= ENCODE_GROUP:
            flush()
    flush()
    if additions or replaced:
        _update_index(additions, replaced)
    return sorted(outcomes, key=lambda o: files.index(o.path))


def _prepare_file(
    path: Path, pending: list[tuple[Path, Document, list[TextChunk]]], replaced: list[int]
) -> IngestOutcome | None:
    """Parse and chunk a file into `pending`; an outcome now only when it is unchanged or unreadable."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    source = str(path.resolve())
    existing = db.session.scalar(
        sa.select(Document).where(Document.scope == "global", Document.source_name == source)
    )
    if existing is not None and existing.content_hash == digest and existing.status == "ready":
        return IngestOutcome(path, "unchanged", existing.id, existing.chunk_count)
    document = existing or Document(scope="global", source_name=source, title=path.stem)
    document.content_hash = digest
    document.media_type = media_type_for(path.name)
    document.storage_path = source
    db.session.add(document)
    db.session.flush()
    try:
        chunks = _chunk_document(document, data, path.name)
    except UnreadableDocument as error:
        document.status, document.error = "failed", str(error)
        db.session.commit()
        return IngestOutcome(path, "failed", document.id, error=str(error))
    if existing is not None:
        replaced.append(document.id)
    pending.append((path, document, chunks))
    return None


def index_uploaded_document(task_id: str, document_id: int) -> None:
    """The `ingest` task: parse, chunk, embed and index an uploaded document, tracking its state."""
    task = tasks.get_task(task_id)
    document = db.session.get(Document, document_id)
    if task is None or task.state == "succeeded":
        return
    if document is None:  # deleted before its turn came
        tasks.mark_failed(task_id, "gone", "The document was deleted before it was indexed.")
        return
    tasks.mark_running(task_id)
    document.status = "indexing"
    db.session.commit()
    try:
        data = Path(document.storage_path).read_bytes()
        [(records, vectors)] = _store_chunks(
            [(document, _chunk_document(document, data, document.source_name))]
        )
    except (UnreadableDocument, OSError) as error:
        db.session.rollback()
        document.status, document.error = "failed", str(error)
        db.session.commit()
        tasks.mark_failed(task_id, "unreadable_document", str(error))
        return
    _update_index([(records, vectors)], [document.id])
    tasks.mark_succeeded(task_id, {"document_id": document.id, "chunk_count": len(records)})


def remove_from_index(document_ids: list[int]) -> None:
    _update_index([], document_ids)


def _chunk_document(document: Document, data: bytes, filename: str) -> list[TextChunk]:
    parsed = parse_document(data, filename)
    chunks = engine().chunker.chunk(parsed.text, parsed.title)
    if not chunks:
        raise UnreadableDocument(f"{filename}: no text to index")
    if not document.title or document.title == Path(filename).stem:
        document.title = parsed.title
    return chunks


def _store_chunks(
    documents: list[tuple[Document, list[TextChunk]]],
) -> list[tuple[list[ChunkRecord], np.ndarray]]:
    """Embed the documents' chunks in one batch and replace their rows; returns them ready for the index."""
    eng = engine()
    vectors = eng.embedder.encode([c.embedding_text for _, chunks in documents for c in chunks])
    stored = []
    offset = 0
    for document, chunks in documents:
        own = vectors[offset : offset + len(chunks)]
        offset += len(chunks)
        db.session.execute(sa.delete(Chunk).where(Chunk.document_id == document.id))
        rows = [
            Chunk(
                document_id=document.id,
                position=c.position,
                heading_path=c.heading_path,
                text=c.text,
                token_count=c.token_count,
                embedding=vector.tobytes(),
                embedding_model=eng.embedder.model_id,
            )
            for c, vector in zip(chunks, own, strict=True)
        ]
        db.session.add_all(rows)
        document.status, document.error, document.chunk_count = "ready", None, len(rows)
        stored.append((rows, own))
    db.session.commit()
    return [
        ([_record(document, row) for row in rows], own)
        for (document, _), (rows, own) in zip(documents, stored, strict=True)
    ]


def delete_document(document: Document) -> None:
    """Remove a document and its chunks from the database and from both indexes."""
    document_id = document.id
    db.session.delete(document)
    db.session.commit()
    _update_index([], [document_id])


def rebuild_index() -> int:
    """Rebuild the index from the database, re-embedding chunks made by another model; returns the count."""
    eng = engine()
    model_id = eng.embedder.model_id
    query = (
        sa.select(Chunk, Document)
        .join(Document, Chunk.document_id == Document.id)
        .where(Document.status == "ready")
        .order_by(Chunk.id)
        .execution_options(yield_per=REBUILD_BATCH)
    )
    records: list[ChunkRecord] = []
    vectors: list[np.ndarray] = []
    stale: list[Chunk] = []
    for chunk, document in db.session.execute(query):
        records.append(_record(document, chunk))
        if chunk.embedding is None or chunk.embedding_model != model_id:
            stale.append(chunk)
            vectors.append(np.zeros(eng.embedder.dimension, dtype=np.float32))
        else:
            vectors.append(np.frombuffer(chunk.embedding, dtype=np.float32))
    if stale:
        log.info("re-embedding %d chunks with %s", len(stale), model_id)
        fresh = eng.embedder.encode([_embedding_text(c) for c in stale])
        position = {r.chunk_id: i for i, r in enumerate(records)}
        for chunk, vector in zip(stale, fresh, strict=True):
            chunk.embedding, chunk.embedding_model = vector.tobytes(), model_id
            vectors[position[chunk.id]] = vector
        db.session.commit()
    index = KnowledgeIndex(model_id, eng.embedder.dimension)  # saved as the next version
    if records:
        index.add(records, np.vstack(vectors))
    with eng.store.write_lock():
        eng.store.save(index)
    return len(records)


def ensure_index_current() -> bool:
    """Rebuild when the index is missing or was built by another embedding model; True if rebuilt."""
    eng = engine()
    manifest = eng.store.read_manifest()
    if manifest is not None and manifest.model_id == eng.embedder.model_id:
        return False
    if manifest is None and not db.session.scalar(sa.select(sa.func.count(Chunk.id))):
        return False
    log.info("index missing or built by another model: rebuilding from the database")
    rebuild_index()
    return True


def drop_deleted_documents() -> int:
    """Remove from the index the documents that no longer exist in the database; returns how many."""
    eng = engine()
    if eng.store.read_manifest() is None:
        return 0
    indexed = {r.document_id for r in eng.live_index().records}
    existing = set(db.session.scalars(sa.select(Document.id).where(Document.id.in_(indexed))))
    gone = sorted(indexed - existing)
    if gone:
        _update_index([], gone)
    return len(gone)


def search(query: str, owner_id: int | None = None, k: int = 5, mode: str = "hybrid") -> list[Hit]:
    """Ranked chunks the caller may see, from documents that still exist."""
    return _live_documents_only(engine().retriever.search(query, 2 * k, owner_id, mode))[:k]


def retriever_with(fusion: str) -> Retriever:
    """The live index behind another fusion method (for comparisons in `flask rag eval`)."""
    eng = engine()
    return Retriever(eng.embedder, eng.live_index, fusion=fusion)


def ask(
    question: str,
    owner_id: int | None = None,
    history: list[Turn] | None = None,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    return engine().answerer.answer(question, owner_id, history, on_token, keep=_live_documents_only)


def _live_documents_only(hits: list[Hit]) -> list[Hit]:
    """Drop hits from documents deleted since the index was last published (the database decides)."""
    ids = {h.record.document_id for h in hits}
    live = set(
        db.session.scalars(sa.select(Document.id).where(Document.id.in_(ids), Document.status == "ready"))
    )
    return [h for h in hits if h.record.document_id in live]


def _update_index(
    additions: list[tuple[list[ChunkRecord], np.ndarray]], removed_documents: list[int]
) -> None:
    eng = engine()
    with eng.store.write_lock():
        # Load under the lock: another process may have published a newer version.
        index = eng.store.load(eng.embedder.model_id, eng.embedder.dimension)
        index.update(
            [r for records, _ in additions for r in records],
            np.vstack([vectors for _, vectors in additions]) if additions else None,
            remove_documents=removed_documents,
        )
        eng.store.save(index)


def _record(document: Document, chunk: Chunk) -> ChunkRecord:
    owner = GLOBAL_OWNER if document.scope == "global" else document.owner_id
    return ChunkRecord(chunk.id, document.id, owner, document.title, chunk.heading_path, chunk.text)


def _embedding_text(chunk: Chunk) -> str:
    return embedding_text(chunk.heading_path, chunk.text)
