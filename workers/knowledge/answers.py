"""The `chat` worker's job: answer a stored question, stream the tokens, store the answer once.

Idempotent: a redelivered task (its worker died) finds the stored answer and
does not write a second one; the unique `messages.task_id` guarantees it even
when two runs race.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from api.extensions.database import db
from api.models import ChatSession, Message, Task, utcnow
from api.services import chat_sessions, tasks
from api.services.task_events import TokenPublisher
from rag.answering import Answer, snippet
from rag.prompting import Turn
from rag.retrieval import Hit
from workers.knowledge.engine import engine
from workers.knowledge.queries import ask


def answer_question(task_id: str, message_id: int) -> None:
    task = tasks.get_task(task_id)
    if task is None or task.state in ("succeeded", "failed"):
        return
    question = db.session.get(Message, message_id)
    if question is None:  # the user deleted the session meanwhile
        tasks.mark_failed(task_id, "gone", "The question was deleted before it was answered.")
        return
    stored, answer = _stored_answer(task_id), None
    if stored is None:
        tasks.mark_running(task_id)
        answer = ask(
            question.content,
            owner_id=question.user_id,
            history=_history_before(question),
            on_token=TokenPublisher(task_id).token,
        )
        stored = _store_answer(task_id, question, answer)
    tasks.mark_succeeded(task_id, _result(tasks.get_task(task_id), question, stored, answer))


def _history_before(question: Message) -> list[Turn]:
    turns = db.session.scalars(
        sa.select(Message)
        .where(Message.session_id == question.session_id, Message.id < question.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(engine().settings.answer.history_turns)
    )
    return [Turn(m.role, m.content) for m in reversed(list(turns))]


def _stored_answer(task_id: str) -> Message | None:
    return db.session.scalar(sa.select(Message).where(Message.task_id == task_id))


def _passage(hit: Hit) -> dict[str, Any]:
    record = hit.record
    return {
        "document_id": record.document_id,
        "title": record.title,
        "chunk_id": record.chunk_id,
        "snippet": snippet(hit),
        "score": round(hit.similarity, 4),
    }


def _store_answer(task_id: str, question: Message, answer: Answer) -> Message:
    sources = [{"n": s.n, **_passage(s.hit)} for s in answer.sources]
    related = [_passage(h) for h in answer.related]
    session = db.session.get(ChatSession, question.session_id)
    try:
        return chat_sessions.add_message(
            session, "assistant", answer.text, sources=sources, related=related, task_id=task_id
        )
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
        "related": message.related,
        "session_id": question.session_id,
        "message_id": message.id,
        "model": answer.model if answer else engine().llm.model,
        "usage": vars(answer.usage) if answer else {"prompt_tokens": None, "completion_tokens": None},
        "timings": timings,
    }
