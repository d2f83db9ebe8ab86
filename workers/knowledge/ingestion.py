"""Documents into the knowledge base: parse, chunk, embed, store the chunks, publish to the index."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from api.extensions.database import db
from api.models import Chunk, Document
from api.services import tasks
from rag.chunking import Chunk as TextChunk
from rag.parsing import (
    SUPPORTED_EXTENSIONS,
    ParseLimits,
    UnreadableDocument,
    media_type_for,
    parse_document,
)
from workers.failures import failure_of
from workers.knowledge.engine import engine
from workers.knowledge.index_sync import Addition, chunk_record, update_index

ENCODE_GROUP = 512  # chunks embedded together while ingesting files


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


@dataclass(frozen=True)
class SourceText:
    """A document to ingest: its bytes, where it came from, and how to parse and name it."""

    path: Path  # the file, or a name for text that is not a file (outcomes are reported by it)
    data: bytes
    filename: str  # its extension picks the parser
    title: str | None = None  # None: the parsed title


def ingest_files(files: list[Path], on_file: Callable[[Path], None] | None = None) -> list[IngestOutcome]:
    """Load files into the global knowledge base; unchanged files (same content hash) are skipped."""
    return ingest_sources([SourceText(p, p.read_bytes(), p.name) for p in files], on_file)


def ingest_sources(
    sources: list[SourceText], on_file: Callable[[Path], None] | None = None
) -> list[IngestOutcome]:
    """Load documents into the global knowledge base; unchanged ones (same content hash) are skipped.

    Chunks of several documents are embedded together (ENCODE_GROUP at a time): one
    large batch sorts by length and pads less than many small ones.
    """
    outcomes: list[IngestOutcome] = []
    additions: list[Addition] = []
    replaced: list[int] = []
    pending: list[tuple[Path, Document, list[TextChunk]]] = []
    stored: list[Document] = []

    def flush() -> None:
        batch = _store_chunks([(document, chunks) for _, document, chunks in pending])
        for (path, document, _), (records, vectors) in zip(pending, batch, strict=True):
            outcomes.append(
                IngestOutcome(
                    path, "updated" if document.id in replaced else "added", document.id, len(records)
                )
            )
            additions.append((records, vectors))
            stored.append(document)
            if on_file:
                on_file(path)
        pending.clear()

    for source in sources:
        outcome = _prepare_source(source, pending, replaced)
        if outcome is not None:
            outcomes.append(outcome)
            if on_file:
                on_file(source.path)
        if sum(len(chunks) for _, _, chunks in pending) >= ENCODE_GROUP:
            flush()
    flush()
    if additions or replaced:
        update_index(additions, replaced)
    _mark_ready(stored)
    order = {source.path: i for i, source in enumerate(sources)}
    return sorted(outcomes, key=lambda o: order[o.path])


def _prepare_source(
    source: SourceText, pending: list[tuple[Path, Document, list[TextChunk]]], replaced: list[int]
) -> IngestOutcome | None:
    """Parse and chunk a document into `pending`; an outcome now only when it is unchanged or unreadable."""
    digest = hashlib.sha256(source.data).hexdigest()
    # The full path identifies the file across runs; users see only its name (source_name).
    name = str(source.path.resolve()) if source.path.exists() else str(source.path)
    existing = db.session.scalar(
        sa.select(Document).where(Document.scope == "global", Document.storage_path == name)
    )
    unchanged = existing is not None and (existing.content_hash, existing.chunking) == (
        digest,
        engine().chunker.signature,
    )
    if unchanged and existing.status == "ready":
        return IngestOutcome(source.path, "unchanged", existing.id, existing.chunk_count)
    document = existing or Document(
        scope="global", source_name=Path(name).name, title=source.title or Path(source.filename).stem
    )
    document.content_hash = digest
    document.media_type = media_type_for(source.filename)
    document.storage_path = name
    db.session.add(document)
    db.session.flush()
    try:
        chunks = _chunk_document(document, source.data, source.filename)
    except UnreadableDocument as error:
        document.status, document.error = "failed", str(error)
        db.session.commit()
        return IngestOutcome(source.path, "failed", document.id, error=str(error))
    if existing is not None:
        replaced.append(document.id)
    pending.append((source.path, document, chunks))
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
        update_index([(records, vectors)], [document.id])
    except Exception as error:
        db.session.rollback()
        document.status, document.error = "failed", failure_of(error)[1]
        db.session.commit()
        raise  # the task's record is failed by `ends_failed_on_error`
    _mark_ready([document], commit=False)  # in the same commit as the task's success
    tasks.mark_succeeded(task_id, {"document_id": document.id, "chunk_count": len(records)})


def _mark_ready(documents: list[Document], commit: bool = True) -> None:
    """Ready only once searchable: after the index that holds the chunks is published."""
    for document in documents:
        document.status = "ready"
    if commit:
        db.session.commit()


def _chunk_document(document: Document, data: bytes, filename: str) -> list[TextChunk]:
    parsed = parse_document(data, filename, limits=parse_limits())
    chunker = engine().chunker
    chunks = chunker.chunk(parsed.text, parsed.title)
    document.chunking = chunker.signature
    if not chunks:
        raise UnreadableDocument(f"{filename}: no text to index")
    if not document.title or document.title == Path(filename).stem:
        document.title = parsed.title
    return chunks


def parse_limits() -> ParseLimits:
    config = current_app.config
    return ParseLimits(
        max_unzipped_bytes=config["MAX_DOCX_UNZIPPED_MB"] * 1024 * 1024, max_pdf_pages=config["MAX_PDF_PAGES"]
    )


def _store_chunks(documents: list[tuple[Document, list[TextChunk]]]) -> list[Addition]:
    """Embed the documents' chunks in one batch and replace their rows; returns them for the index."""
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
        document.error, document.chunk_count = None, len(rows)
        stored.append((rows, own))
    db.session.commit()
    records: list[Addition] = []
    for (document, _), (rows, own) in zip(documents, stored, strict=True):
        records.append(([chunk_record(document, row) for row in rows], own))
    return records
