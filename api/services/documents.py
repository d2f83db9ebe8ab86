"""Documents on the API side: accept an upload, store the file, queue its indexing; list and delete.

Parsing, embedding and indexing run in the `ingest` worker (`workers/ingest.py`).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from api.errors import ApiError, not_found, validation_error
from api.extensions.database import db
from api.models import Document, Task, User
from api.services import queue, tasks
from api.services.pagination import newest_first_page

# Mirrors rag.parsing.SUPPORTED_EXTENSIONS; kept here so the API never imports the parsers.
UPLOAD_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_FILENAME_CHARS = 255  # what file systems allow; the name picks the parser, so it is never cut
# A file part whose name says nothing (a blob, "upload") is read by its declared media type.
EXTENSION_BY_MEDIA_TYPE = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


def upload(
    user: User, filename: str, data: bytes, title: str | None, scope: str, media_type: str | None = None
) -> tuple[Document, Task]:
    if len(Path(filename).name) > MAX_FILENAME_CHARS:
        raise validation_error("file", f"The file name is longer than {MAX_FILENAME_CHARS} characters.")
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_EXTENSIONS and media_type in EXTENSION_BY_MEDIA_TYPE:
        suffix = EXTENSION_BY_MEDIA_TYPE[media_type]
        filename = f"{filename}{suffix}"  # the parser reads the type from the name
    if suffix not in UPLOAD_EXTENSIONS:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Files of type {suffix or '(none)'} cannot be indexed; use {', '.join(UPLOAD_EXTENSIONS)}.",
        )
    if not data.strip():
        raise validation_error("file", "The document is empty.")
    if scope == "global" and not user.is_admin:
        raise ApiError(403, "forbidden", "Only administrators add documents to the global knowledge base.")
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    document = Document(
        # Global documents belong to no one: they outlive the admin account that added them.
        owner_id=user.id if scope == "private" else None,
        scope=scope,
        title=(title or "").strip() or Path(filename).stem,
        status="queued",
        source_name=Path(filename).name,
        storage_path=str(path),
        content_hash=hashlib.sha256(data).hexdigest(),
    )
    db.session.add(document)
    db.session.commit()
    task = tasks.create_task(user.id, "ingest")
    try:
        queue.send(queue.INDEX_DOCUMENT, task.id, document.id, task_id=task.id)
    except Exception:  # broker down: fail visibly instead of leaving "queued" forever
        tasks.mark_failed(task.id, "queue_unavailable", "The task queue is unavailable; try again.")
        document.status, document.error = "failed", "The task queue was unavailable."
        db.session.commit()
        raise
    return document, task


def visible_to(user: User) -> sa.ColumnElement[bool]:
    return sa.or_(Document.scope == "global", Document.owner_id == user.id)


def get_document(user: User, document_id: int) -> Document:
    document = db.session.scalar(sa.select(Document).where(Document.id == document_id, visible_to(user)))
    if document is None:
        raise not_found("Document")
    return document


def list_documents(user: User, limit: int, cursor: str | None) -> tuple[list[Document], str | None]:
    return newest_first_page(
        sa.select(Document).where(visible_to(user)), Document.created_at, Document.id, limit, cursor
    )


def delete_document(user: User, document_id: int) -> None:
    """Delete the document, its file and chunks; its index entries are removed by the worker."""
    document = get_document(user, document_id)
    if document.scope == "global" and not user.is_admin:
        raise ApiError(403, "forbidden", "Only administrators delete global documents.")
    path = Path(document.storage_path) if document.storage_path else None
    db.session.delete(document)
    db.session.commit()
    if path is not None and path.parent == Path(current_app.config["UPLOAD_DIR"]):
        path.unlink(missing_ok=True)
    queue.send(queue.REMOVE_DOCUMENT, document_id)


def search(user_id: int, query: str, k: int) -> list[dict]:
    """The top `k` chunks for `query` among the global documents and the user's own, from a worker."""
    reply = queue.ask(queue.SEARCH, query, user_id, k, timeout=current_app.config["SEARCH_TIMEOUT"])
    if reply is None:
        raise ApiError(503, "service_unavailable", "No search worker answered in time.")
    if not reply["ok"]:  # the worker raised; it logged the details
        raise ApiError(503, "service_unavailable", "The search could not be run; try again later.")
    return reply["results"]
