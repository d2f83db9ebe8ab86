"""`search` queue: ranked chunks for POST /api/v1/search, on its own queue so a search never
waits behind long generations."""

from __future__ import annotations

from celery import shared_task

from workers.failures import ends_failed_on_error
from workers.knowledge.queries import search


@shared_task
@ends_failed_on_error
def search_task(query: str, owner_id: int, k: int) -> list[dict]:
    return [
        {
            "document_id": hit.record.document_id,
            "title": hit.record.title,
            "chunk_id": hit.record.chunk_id,
            "snippet": hit.record.text[:300],
            "score": round(hit.similarity, 4),
        }
        for hit in search(query, owner_id=owner_id, k=k)
    ]
