"""The `chat` worker's job: answer a stored question, stream the tokens, store the answer once.

Idempotent: a redelivered task (its worker died) finds the stored answer and
does not write a second one; the unique `messages.task_id` guarantees it even
when two runs race.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from api.extensions.database import db
from api.models import ChatSession, Message, Task, utcnow
from api.services import chat_sessions, knowledge, tasks
from api.services.task_events import TokenPublisher, publish_finished
from rag.answering import Answer
from rag.llm.base import LLMUnavailable
from rag.prompting import Turn

log = logging.getLogger(__name__)


def answer_question(task_id: str, message_id: int) -> None:
    task = tasks.get_task(task_id)
    if task is None or task.state in ("succeeded", "failed"):
        return
    question = db.session.get(Message, message_id)
    if question is None:  # the user deleted the session meanwhile
        fail(task_id, "gone", "The question was deleted before it was answered.")
        return
    stored, answer = _stored_answer(task_id), None
    if stored is None:
        tasks.mark_running(task_id)
        try:
            answer = knowledge.ask(
                question.content,
                owner_id=question.user_id,
                history=_history_before(question),
                on_token=TokenPublisher(task_id).token,
            )
        except LLMUnavailable as error:
            fail(task_id, "llm_unavailable", str(error))
            return
        stored = _store_answer(task_id, question, answer)
    tasks.mark_succeeded(task_id, _result(tasks.get_task(task_id), question, stored, answer))
    publish_finished(task_id, "succeeded")


def fail(task_id: str, code: str, message: str) -> None:
    """Record the failure and tell waiting and streaming clients."""
    log.error("chat task %s failed: %s", task_id, message)
    tasks.mark_failed(task_id, code, message)
    publish_finished(task_id, "failed")


def _history_before(question: Message) -> list[Turn]:
    turns = db.session.scalars(
        sa.select(Message)
        .where(Message.session_id == question.session_id, Message.id < question.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(knowledge.engine().settings.answer.history_turns)
    )
    return [Turn(m.role, m.content) for m in reversed(list(turns))]


def _stored_answer(task_id: str) -> Message | None:
    return db.session.scalar(sa.select(Message).where(Message.task_id == task_id))


def _store_answer(task_id: str, question: Message, answer: Answer) -> Message:
    sources = [
        {
            "n": s.n,
            "document_id": s.hit.record.document_id,
            "title": s.hit.record.title,
            "chunk_id": s.hit.record.chunk_id,
            "snippet": s.snippet,
            "score": round(s.hit.similarity, 4),
        }
        for s in answer.sources
    ]
    session = db.session.get(ChatSession, question.session_id)
    try:
        return chat_sessions.add_message(session, "assistant", answer.text, sources=sources, task_id=task_id)
    except sa.exc.IntegrityError:  # another run of this task stored first
        db.session.rollback()
        return _stored_answer(task_id)


def _result(task: Task, question: Message, message: Message, answer: Answer | None) -> dict[str, Any]:
    """The task body's result. `answer` is None when an earlier run stored the message."""
    timings = dict(answer.timings) if answer else {}
    timings["queue_ms"] = round(((task.started_at or utcnow()) - task.created_at).total_seconds() * 1000, 1)
    timings["total_ms"] = round((utcnow() - task.created_at).total_seconds() * 1000, 1)
    return {
        "answer": message.content,
        "grounded": bool(message.sources),  # an answer from the knowledge base always has sources
        "sources": message.sources,
        "session_id": question.session_id,
        "message_id": message.id,
        "model": answer.model if answer else knowledge.engine().llm.model,
        "usage": vars(answer.usage) if answer else {"prompt_tokens": None, "completion_tokens": None},
        "timings": timings,
    }
