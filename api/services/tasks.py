"""User-visible task records (chat, ingest): the API reads them, workers move them along.

Every record ends: a worker marks it succeeded or failed, and `fail_stale_tasks`
(on beat) fails whatever no worker finished in time (lost messages, dead workers).
Finishing a task also tells the clients waiting on it or streaming it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa

from api.errors import not_found
from api.extensions.database import db
from api.models import Document, Task, utcnow
from api.services.task_events import publish_finished

log = logging.getLogger(__name__)

KINDS = ("chat", "ingest")
STATES = ("queued", "running", "succeeded", "failed")
UNFINISHED = ("queued", "running")
LOST_MESSAGE = "The task did not finish in time (its worker stopped or its message was lost); try again."


def create_task(user_id: int, kind: str, task_id: str | None = None, session_id: int | None = None) -> Task:
    task = Task(id=task_id or str(uuid.uuid4()), user_id=user_id, kind=kind, session_id=session_id)
    db.session.add(task)
    db.session.commit()
    return task


def get_task(task_id: str) -> Task | None:
    return db.session.get(Task, task_id)


def get_user_task(task_id: str, user_id: int) -> Task:
    """The caller's task; 404 for an unknown id and for another user's alike."""
    task = db.session.get(Task, task_id)
    if task is None or task.user_id != user_id:
        raise not_found("Task")
    return task


def count_by_kind_and_state() -> dict[tuple[str, str], int]:
    """{(kind, state): tasks}, in one grouped query; combinations with no task are absent."""
    rows = db.session.execute(
        sa.select(Task.kind, Task.state, sa.func.count()).group_by(Task.kind, Task.state)
    )
    return {(kind, state): count for kind, state, count in rows}


def mark_running(task_id: str) -> Task:
    task = db.session.get(Task, task_id)
    task.state = "running"
    task.started_at = task.started_at or utcnow()
    db.session.commit()
    return task


def mark_succeeded(task_id: str, result: dict[str, Any]) -> Task | None:
    return _finish(task_id, "succeeded", result=result)


def mark_failed(task_id: str, code: str, message: str) -> Task | None:
    """Fail the task with a code and a message fit for users; a succeeded task stays succeeded."""
    return _finish(task_id, "failed", error={"code": code, "message": message})


def fail_stale_tasks(older_than: timedelta) -> dict[str, int]:
    """Fail tasks and documents still unfinished `older_than` after they were queued or last moved."""
    cutoff = utcnow() - older_than
    stale = list(
        db.session.scalars(sa.select(Task.id).where(Task.state.in_(UNFINISHED), Task.created_at < cutoff))
    )
    for task_id in stale:
        mark_failed(task_id, "lost", LOST_MESSAGE)
    documents = db.session.execute(
        sa.update(Document)
        .where(Document.status.in_(("queued", "indexing")), Document.updated_at < cutoff)
        .values(status="failed", error="Indexing did not finish in time; upload the document again.")
    ).rowcount
    db.session.commit()
    return {"tasks": len(stale), "documents": documents}


def _finish(task_id: str, state: str, **fields: Any) -> Task | None:
    task = db.session.get(Task, task_id)
    if task is None or task.state == "succeeded":
        return task
    task.state = state
    task.finished_at = utcnow()
    for name, value in fields.items():
        setattr(task, name, value)
    db.session.commit()
    try:
        publish_finished(task_id, state)
    except redis.RedisError as error:  # clients still see the state on their next database read
        log.warning("could not publish the end of task %s: %s", task_id, error)
    return task
