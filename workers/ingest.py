"""`ingest` queue: index an uploaded document, or take a deleted one out of the index."""

from __future__ import annotations

from celery import shared_task

from workers.failures import ends_failed_on_error
from workers.knowledge.index_sync import remove_from_index
from workers.knowledge.ingestion import index_uploaded_document


@shared_task
@ends_failed_on_error
def index_document_task(task_id: str, document_id: int) -> None:
    index_uploaded_document(task_id, document_id)


@shared_task
@ends_failed_on_error
def remove_document_task(document_id: int) -> None:
    remove_from_index([document_id])
