"""`ingest` queue: index an uploaded document, or take a deleted one out of the index."""

from __future__ import annotations

from celery import shared_task


@shared_task
def index_document_task(task_id: str, document_id: int) -> None:
    # Imported here: the API imports this module to queue tasks and must not load the retrieval stack.
    from api.services import knowledge

    knowledge.index_uploaded_document(task_id, document_id)


@shared_task
def remove_document_task(document_id: int) -> None:
    from api.services import knowledge

    knowledge.remove_from_index([document_id])
