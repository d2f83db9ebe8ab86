"""`chat` queue: answer a user's question with retrieval and the LLM, streaming tokens."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded


@shared_task
def generate_answer_task(task_id: str, message_id: int) -> None:
    # Imported here, not at the top: the API imports this module to queue the task,
    # and must not import the retrieval stack.
    from api.services import chat_generation

    try:
        chat_generation.answer_question(task_id, message_id)
    except SoftTimeLimitExceeded:
        chat_generation.fail(task_id, "timeout", "Generating the answer took too long.")


@shared_task
def search_task(query: str, owner_id: int, k: int) -> list[dict]:
    """Ranked chunks for POST /api/v1/search: retrieval runs where the models are loaded."""
    from api.services import knowledge

    return [
        {
            "document_id": hit.record.document_id,
            "title": hit.record.title,
            "chunk_id": hit.record.chunk_id,
            "snippet": hit.record.text[:300],
            "score": round(hit.similarity, 4),
        }
        for hit in knowledge.search(query, owner_id=owner_id, k=k)
    ]
