"""The API's one way into the workers: tasks sent by name; and how many wait in each queue.

Sending by name keeps every worker module out of the API process's imports, so
nothing here can load a model by accident (tests/test_layout.py checks). The
names are the tasks' import paths in `workers/`; `celery_config.task_routes`
puts each on its queue.
"""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult
from flask import current_app

from api.extensions.redis import get_broker_redis

GENERATE_ANSWER = "workers.chat.generate_answer_task"
SEARCH = "workers.search.search_task"
INDEX_DOCUMENT = "workers.ingest.index_document_task"
REMOVE_DOCUMENT = "workers.ingest.remove_document_task"
SEND_VERIFICATION_EMAIL = "workers.email.send_verification_email"
SEND_PASSWORD_RESET_EMAIL = "workers.email.send_password_reset_email"
SEND_ACTIVITY_REPORT = "workers.email.send_activity_report"


def send(name: str, *args: Any, task_id: str | None = None) -> AsyncResult:
    """Queue task `name` with `args`; raises when the broker cannot be reached."""
    return current_app.extensions["celery"].send_task(name, args=list(args), task_id=task_id)


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue: on the Redis broker, each queue is a list."""
    names = [q.name for q in current_app.extensions["celery"].conf.task_queues]
    pipe = get_broker_redis().pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    return dict(zip(names, pipe.execute(), strict=True))
