"""The API's one way into the workers: tasks sent by name; and how many wait in each queue.

Sending by name keeps every worker module out of the API process's imports, so
nothing here can load a model by accident (tests/test_layout.py checks). The
names are the tasks' import paths in `workers/`; `celery_config.task_routes`
puts each on its queue.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from flask import current_app

from api.extensions.redis import get_broker_redis, get_redis

GENERATE_ANSWER = "workers.chat.generate_answer_task"
SEARCH = "workers.search.search_task"
INDEX_DOCUMENT = "workers.ingest.index_document_task"
REMOVE_DOCUMENT = "workers.ingest.remove_document_task"
SEND_VERIFICATION_EMAIL = "workers.email.send_verification_email"
SEND_PASSWORD_RESET_EMAIL = "workers.email.send_password_reset_email"
SEND_ACTIVITY_REPORT = "workers.email.send_activity_report"
REPLY_POLL_SECONDS = 2.0


def send(name: str, *args: Any, task_id: str | None = None) -> None:
    """Queue task `name` with `args`; raises when the broker cannot be reached.

    Its outcome is read from PostgreSQL (the `tasks` row), never from Celery's result backend,
    so the result is not stored and nothing here listens for it: an API that listened would
    break for good on a Redis outage (Celery then asks for a restart).
    """
    current_app.extensions["celery"].send_task(name, args=list(args), task_id=task_id, ignore_result=True)


def ask(name: str, *args: Any, timeout: float) -> Any:
    """Run task `name` with `args` on a worker and wait up to `timeout` seconds for its reply.

    The task gets one more argument, a Redis list to push its reply to (`workers.replies`):
    the reply, or None when none came in time.
    """
    reply_to = f"reply:{uuid.uuid4()}"
    send(name, *args, reply_to)
    client, deadline = get_redis(), time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        # In slices shorter than the client's socket timeout, which a long block would trip.
        popped = client.blpop([reply_to], timeout=min(remaining, REPLY_POLL_SECONDS))
        if popped:
            return json.loads(popped[1])
    return None


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue: on the Redis broker, each queue is a list."""
    names = [q.name for q in current_app.extensions["celery"].conf.task_queues]
    pipe = get_broker_redis().pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    return dict(zip(names, pipe.execute(), strict=True))
