"""Worker and beat logs in the app's format.

With LOG_FORMAT=json, Celery's own handlers (it replaces the root logger's when it starts)
write JSON lines that name the running task, and each task ends with one line: task name,
task id, Celery state, duration and the user it ran for, where known. That line replaces
Celery's "Task ... succeeded" line, which prints the return value (search results carry
document text). In text mode Celery's format and lines stay as they are.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

import sqlalchemy.exc
from celery import Task, current_task
from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun
from flask import Flask

from api.logs import JsonFormatter, log_finished
from api.services import tasks

task_log = logging.getLogger("workers.tasks")
USER_ARGUMENTS = ("user_id", "owner_id")  # how the tasks' signatures name the user they work for


class TaskJsonFormatter(JsonFormatter):
    def context(self) -> dict[str, Any]:
        if current_task and current_task.request.id:
            return {"task_id": current_task.request.id, "task_name": current_task.name}
        return {}


def use_json_logs(flask_app: Flask) -> None:
    """Connect the signal handlers that make this worker's (or beat's) logs JSON lines."""
    if flask_app.config["LOG_FORMAT"] != "json":
        return
    started: dict[str, float] = {}

    def format_as_json(logger: logging.Logger, **_: Any) -> None:
        for handler in logger.handlers:
            handler.setFormatter(TaskJsonFormatter())
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # failures still show

    def start_clock(task_id: str, **_: Any) -> None:
        started[task_id] = time.perf_counter()

    def log_task_end(task_id: str, task: Task, args: tuple, kwargs: dict, state: str, **_: Any) -> None:
        seconds = time.perf_counter() - started.pop(task_id, time.perf_counter())
        log_finished(
            task_log,
            "task",
            seconds,
            task_name=task.name,
            task_id=task_id,
            state=state,
            user_id=_user_of(flask_app, task, task_id, args, kwargs),
        )

    after_setup_logger.connect(format_as_json, weak=False)
    after_setup_task_logger.connect(format_as_json, weak=False)
    task_prerun.connect(start_clock, weak=False)
    task_postrun.connect(log_task_end, weak=False)


def _user_of(flask_app: Flask, task: Task, task_id: str, args: tuple, kwargs: dict) -> int | None:
    """The user named in the task's arguments, else the owner of its task record (chat, ingest)."""
    try:
        named = inspect.signature(task.run).bind_partial(*args, **kwargs).arguments
    except TypeError:  # arguments that do not fit: the task itself has failed on them
        named = {}
    for name in USER_ARGUMENTS:
        if isinstance(named.get(name), int):
            return named[name]
    try:
        with flask_app.app_context():
            record = tasks.get_task(task_id)
            return record.user_id if record else None
    except sqlalchemy.exc.SQLAlchemyError:  # the line matters more than its user id
        return None
