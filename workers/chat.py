"""`chat` queue: answer a user's question with retrieval and the LLM, streaming tokens."""

from __future__ import annotations

from celery import shared_task

from workers.failures import ends_failed_on_error
from workers.knowledge import answers


@shared_task
@ends_failed_on_error
def generate_answer_task(task_id: str, message_id: int) -> None:
    answers.answer_question(task_id, message_id)
