"""User-visible task records (chat, ingest): the API reads them, workers move them along."""

from __future__ import annotations

import uuid
from typing import Any

from api.errors import not_found
from api.extensions.database import db
from api.models import Task, utcnow


def create_task(user_id: int, kind: str, task_id: str | None = None) -> Task:
    task = Task(id=task_id or str(uuid.uuid4()), user_id=user_id, kind=kind, state="queued")
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


def mark_running(task_id: str) -> Task:
    task = db.session.get(Task, task_id)
    task.state = "running"
    task.started_at = task.started_at or utcnow()
    db.session.commit()
    return task


def mark_succeeded(task_id: str, result: dict[str, Any]) -> Task:
    return _finish(task_id, "succeeded", result=result)


def mark_failed(task_id: str, code: str, message: str) -> Task:
    return _finish(task_id, "failed", error={"code": code, "message": message})


def _finish(task_id: str, state: str, **fields: Any) -> Task:
    task = db.session.get(Task, task_id)
    task.state = state
    task.finished_at = utcnow()
    for name, value in fields.items():
        setattr(task, name, value)
    db.session.commit()
    return task
