"""Retrieval and answers over the live index, restricted to documents that still exist."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from api.extensions.database import db
from api.models import Document
from rag.answering import Answer
from rag.prompting import Turn
from rag.retrieval import Hit, Retriever
from workers.knowledge.engine import engine


def search(query: str, owner_id: int | None = None, k: int = 5, mode: str = "hybrid") -> list[Hit]:
    """Ranked chunks the caller may see, from documents that still exist."""
    return live_documents_only(engine().retriever.search(query, 2 * k, owner_id, mode))[:k]


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
    return engine().answerer.answer(question, owner_id, history, on_token, keep=live_documents_only)


def live_documents_only(hits: list[Hit]) -> list[Hit]:
    """Drop hits from documents deleted since the index was last published (the database decides)."""
    ids = {h.record.document_id for h in hits}
    live = set(
        db.session.scalars(sa.select(Document.id).where(Document.id.in_(ids), Document.status == "ready"))
    )
    return [h for h in hits if h.record.document_id in live]
